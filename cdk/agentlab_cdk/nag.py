"""cdk-nag acknowledgements: every one names the rule, the exact finding where it is granular, and why."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct

PACK = "AwsSolutions"


def acknowledge(scope: IConstruct, rule: str, reason: str, *findings: str) -> None:
    """Acknowledge `rule` (e.g. "IAM5") on `scope` and everything under it; with findings, only those (e.g.
    "Resource::*"), so any other wildcard under the same scope still fails synth."""
    ids = [f"{PACK}-{rule}[{finding}]" for finding in findings] or [f"{PACK}-{rule}"]
    for rule_id in ids:
        Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def ref(resource: IConstruct, attribute: str = "Arn") -> str:
    """How cdk-nag spells a reference to `resource` in a granular finding: <LogicalId.Attribute>, or <LogicalId> for
    its Ref (attribute="")."""
    child = resource if isinstance(resource, CfnResource) else resource.node.default_child
    assert isinstance(child, CfnResource), f"{resource.node.path} has no CloudFormation resource"
    stack = Stack.of(child)
    logical_id = stack.resolve(stack.get_logical_id(child))
    return f"<{logical_id}.{attribute}>" if attribute else f"<{logical_id}>"
