"""cdk-nag acknowledgements: every one names the rule, the exact finding where it is granular, and why."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Token, Validations
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


def region_and_account(scope: IConstruct) -> tuple[str, str]:
    """How cdk-nag spells the stack's Region and account in a finding: the pseudo parameters of an
    environment-agnostic stack (<AWS::Region>, <AWS::AccountId>), the literal values of one synthesized for an
    environment (as `cdk deploy` does)."""
    stack = Stack.of(scope)
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    return region, account


def arn(scope: IConstruct, service: str, resource: str) -> str:
    """An ARN of this stack's Region and account as cdk-nag spells it in a granular finding."""
    region, account = region_and_account(scope)
    return f"arn:<AWS::Partition>:{service}:{region}:{account}:{resource}"
