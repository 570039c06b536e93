"""Across the stack: least-privilege IAM, one role and log group per function, cdk-nag and cfn-lint clean, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from infra_helpers import Synthesized, as_list, flat, policy_statements, role_of_function

DATA_SERVICES = ("dynamodb:", "s3:", "secretsmanager:")
# aws-cdk-lib's own deployment helpers (dashboard upload, prefix list lookups, the custom resource Provider framework
# around the image build); their grants are fixed by aws-cdk-lib.
FRAMEWORK_PREFIXES = ("CustomCDKBucketDeployment", "AWS679f53fac002430cb0da5b7982bd2287", "SandboxImageProvider")


def platform_statements(synth: Synthesized) -> list[tuple[str, dict[str, object]]]:
    return [
        (logical_id, statement)
        for logical_id, roles, statement in policy_statements(synth.resources)
        if not any(r.startswith(FRAMEWORK_PREFIXES) for r in [logical_id, *roles])
    ]


def test_no_wildcard_actions_on_data_services(synth: Synthesized) -> None:
    statements = platform_statements(synth)
    assert statements
    for logical_id, statement in statements:
        for action in as_list(statement["Action"]):
            assert action != "*", logical_id
            if action.startswith(DATA_SERVICES):
                assert "*" not in action, (logical_id, action)


def test_no_data_service_grant_on_every_resource(synth: Synthesized) -> None:
    for logical_id, statement in platform_statements(synth):
        actions = as_list(statement["Action"])
        if any(a.startswith(DATA_SERVICES) for a in actions):
            assert "*" not in as_list(statement["Resource"]), (logical_id, actions)


def test_every_function_has_its_own_role_and_log_group(synth: Synthesized) -> None:
    functions = {
        k: v for k, v in synth.of_type("AWS::Lambda::Function").items() if not k.startswith(FRAMEWORK_PREFIXES)
    }
    assert len(functions) == len(synth.stack.functions.functions)
    roles = [role_of_function(f) for f in functions.values()]
    log_groups = [flat(f["Properties"]["LoggingConfig"]["LogGroup"]) for f in functions.values()]
    assert len(set(roles)) == len(roles)
    assert len(set(log_groups)) == len(log_groups)
    for role in roles:
        assert not synth.resources[role]["Properties"].get("ManagedPolicyArns"), role


def test_outputs_have_fixed_names(synth: Synthesized) -> None:
    from agentlab_cdk.stack import OUTPUT_NAMES

    outputs = synth.template["Outputs"]
    assert set(outputs) == set(OUTPUT_NAMES)
    assert {"ApiUrl", "DashboardUrl", "UserPoolId", "UserPoolClientId", "TableName", "BucketName"} <= set(outputs)
    assert outputs["ApiUrl"]["Value"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.api.http_api), "ApiEndpoint"]}
    machine = synth.logical_id(synth.stack.orchestration.state_machines["agent_run"])
    assert outputs["AgentRunStateMachineArn"]["Value"] == {"Ref": machine}


def test_cdk_nag_ran_at_synth_and_passed(synth: Synthesized) -> None:
    assert "AwsSolutions" in [plugin.name for plugin in synth.app.policy_validation_beta1]
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    assert all(r["conclusion"] == "success" and not r["violations"] for r in report["pluginReports"])


def test_cdk_nag_fails_synth_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    from app import attach_checks
    from aws_cdk import App, Stack
    from aws_cdk import aws_sqs as sqs

    app = App(outdir=str(tmp_path))
    sqs.Queue(Stack(app, "Canary"), "PlainQueue")
    attach_checks(app)
    with pytest.raises(RuntimeError, match="AwsSolutions-SQS3"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for r in report["pluginReports"] for v in r["violations"]}
    assert "AwsSolutions-SQS3" in rules


def test_every_acknowledged_finding_has_a_written_reason(synth: Synthesized) -> None:
    metadata = json.loads((synth.outdir / "Agentlab.metadata.json").read_text())
    acknowledged = {
        rule: reason
        for entries in metadata.values()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for rule, reason in entry["data"].items()
        if "AwsSolutions-" in rule
    }
    assert acknowledged
    for rule, reason in acknowledged.items():
        assert len(reason.split()) >= 8, f"{rule}: '{reason}' does not say why"


def test_cfn_lint_finds_no_errors(synth: Synthesized) -> None:
    template = synth.outdir / "synthesized.template.json"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 4, 8, 12), result.stderr  # bit 2: errors; 1: cfn-lint itself failed
    findings = json.loads(result.stdout or "[]")
    assert [f for f in findings if f["Level"] == "Error"] == []


def test_granular_acknowledgements_match_a_stack_synthesized_for_an_environment() -> None:
    # `make deploy` lets the CDK CLI synthesize for the credentials' account and Region, where cdk-nag spells them
    # literally; the session's stack is environment-agnostic and spells them as pseudo parameters.
    from agentlab_cdk.nag import arn
    from aws_cdk import App, Environment, Stack

    agnostic = Stack(App(), "Agnostic")
    placed = Stack(App(), "Placed", env=Environment(account="111122223333", region="eu-west-1"))
    assert arn(agnostic, "ecs", "task/x/*") == "arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/x/*"
    assert arn(placed, "ecs", "task/x/*") == "arn:<AWS::Partition>:ecs:eu-west-1:111122223333:task/x/*"
