"""Helpers to read a synthesized template: statements of IAM policies, flattened intrinsic strings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def flat(value: Any) -> str:
    """An intrinsic value as one string: literal parts kept, references spelled <LogicalId> / <LogicalId.Attr>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return f"<{'.'.join(value['Fn::GetAtt'])}>"
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(flat(part) for part in parts)
        if "Fn::Sub" in value:
            return flat(value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0])
    return json.dumps(value, sort_keys=True)


def policy_statements(resources: dict[str, dict[str, Any]]) -> Iterator[tuple[str, list[str], dict[str, Any]]]:
    """(logical id of the role or policy, the role logical ids it is attached to, statement) for every statement."""
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy":
            roles = [r["Ref"] for r in props.get("Roles", []) if isinstance(r, dict) and "Ref" in r]
            for statement in as_list(props["PolicyDocument"]["Statement"]):
                yield logical_id, roles, statement
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in as_list(policy["PolicyDocument"]["Statement"]):
                    yield logical_id, [logical_id], statement


def statements_of_role(resources: dict[str, dict[str, Any]], role_id: str) -> list[dict[str, Any]]:
    return [statement for _, roles, statement in policy_statements(resources) if role_id in roles]


def actions_of_role(resources: dict[str, dict[str, Any]], role_id: str) -> set[str]:
    return {a for s in statements_of_role(resources, role_id) if s["Effect"] == "Allow" for a in as_list(s["Action"])}


def role_of_function(function: dict[str, Any]) -> str:
    return str(function["Properties"]["Role"]["Fn::GetAtt"][0])


@dataclass
class Synthesized:
    template: dict[str, Any]
    outdir: Path
    stack: Any
    app: Any

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def one(self, resource_type: str) -> dict[str, Any]:
        found = self.of_type(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.values()))

    def logical_id(self, construct: Any) -> str:
        from aws_cdk import CfnResource, Stack

        child = construct if isinstance(construct, CfnResource) else construct.node.default_child
        stack = Stack.of(child)
        return str(stack.resolve(stack.get_logical_id(child)))


def queue_tls_policies(synth: Any, queue: Any) -> tuple[list[Any], list[Any]]:
    """The queue's policies as synthesized, beside the one every queue must have: plain http refused."""
    queue_id = synth.logical_id(queue)
    found = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synth.of_type("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    expected = [
        [
            {
                "Action": "sqs:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Resource": {"Fn::GetAtt": [queue_id, "Arn"]},
            }
        ]
    ]
    return found, expected


def stand_in_builds(base: Path) -> tuple[Path, Path]:
    layer = base / "layer"
    (layer / "python" / "agentlab").mkdir(parents=True)
    (layer / "python" / "agentlab" / "__init__.py").write_text('"""stand-in layer for synth tests"""\n')
    dist = base / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>agentlab</title>\n")
    return layer, dist


def synthesize(base: Path, **context: Any) -> Synthesized:
    from app import STACK_NAME, build_app

    layer, dist = stand_in_builds(base)
    outdir = base / "cdk.out"
    app, stack = build_app({"layerDir": str(layer), "frontendDist": str(dist), **context}, outdir=str(outdir))
    assembly = app.synth()
    template = assembly.get_stack_by_name(STACK_NAME).template
    (outdir / "synthesized.template.json").write_text(json.dumps(template))
    return Synthesized(template=template, outdir=outdir, stack=stack, app=app)
