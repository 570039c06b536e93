"""The Orchestration construct: every ASL file becomes a Standard state machine with every placeholder substituted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from infra_helpers import Synthesized, actions_of_role, as_list, flat, role_of_function, statements_of_role

ROOT = Path(__file__).resolve().parents[2]
ASL_FILES = sorted((ROOT / "statemachines").glob("*.asl.json"))
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
CELL_STEP_MARGIN_S = 60  # the result's upload and the step's own bookkeeping after a cell that used all its time
LAMBDA_MAX_TIMEOUT_S = 900


def state_machine_of(synth: Synthesized, asl: Path) -> dict[str, Any]:
    workflows = [synth.resources[synth.logical_id(m)] for m in synth.stack.orchestration.state_machines.values()]
    found = [
        resource
        for resource in workflows
        if json.loads(resource["Properties"]["DefinitionString"]) == json.loads(asl.read_text())
    ]
    assert len(found) == 1, f"{asl.name} is not the definition of exactly one state machine"
    return found[0]


def test_there_are_workflows_to_check() -> None:
    assert ASL_FILES, "statemachines/*.asl.json is empty"


@pytest.mark.parametrize("asl", ASL_FILES, ids=lambda p: p.name)
def test_every_placeholder_has_a_substitution(synth: Synthesized, asl: Path) -> None:
    wanted = set(PLACEHOLDER.findall(asl.read_text()))
    substitutions = state_machine_of(synth, asl)["Properties"]["DefinitionSubstitutions"]
    assert wanted, f"{asl.name} has no placeholders: nothing would reach the step functions"
    assert wanted <= set(substitutions), f"not substituted: {sorted(wanted - set(substitutions))}"


@pytest.mark.parametrize("asl", ASL_FILES, ids=lambda p: p.name)
def test_function_placeholders_name_the_function_built_from_that_folder(synth: Synthesized, asl: Path) -> None:
    from agentlab.local.functions import placeholder_for

    substitutions = state_machine_of(synth, asl)["Properties"]["DefinitionSubstitutions"]
    for name, function in synth.stack.orchestration.steps.items():
        placeholder = placeholder_for(name)
        if placeholder in substitutions:
            assert substitutions[placeholder] == {"Fn::GetAtt": [synth.logical_id(function), "Arn"]}
            assert (ROOT / "functions" / name / "handler.py").is_file()


@pytest.mark.parametrize("asl", ASL_FILES, ids=lambda p: p.name)
def test_state_machine_is_standard_logs_everything_and_traces(synth: Synthesized, asl: Path) -> None:
    props = state_machine_of(synth, asl)["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True
    group = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert synth.resources[group]["Type"] == "AWS::Logs::LogGroup"


@pytest.mark.parametrize("asl", ASL_FILES, ids=lambda p: p.name)
def test_state_machine_may_invoke_its_steps_and_nothing_else(synth: Synthesized, asl: Path) -> None:
    from agentlab_cdk.orchestration import function_of

    orchestration = synth.stack.orchestration
    machine = orchestration.state_machines[asl.name.removesuffix(".asl.json")]
    role = synth.resources[synth.logical_id(machine)]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    invoked = {
        flat(resource)
        for statement in statements_of_role(synth.resources, role)
        if "lambda:InvokeFunction" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }
    names = {function_of(p) for p in PLACEHOLDER.findall(asl.read_text())} - {None}
    steps = {synth.logical_id(orchestration.steps[name]) for name in names if name is not None}
    assert {name for name in invoked if not name.endswith(":*")} == {f"<{s}.Arn>" for s in steps}


def test_step_functions_are_python313_arm64_traced_with_the_layer(synth: Synthesized) -> None:
    layer = {"Ref": synth.logical_id(synth.stack.functions.layer)}
    for name, function in synth.stack.orchestration.steps.items():
        props = synth.resources[synth.logical_id(function)]["Properties"]
        assert props["Runtime"] == "python3.13", name
        assert props["Architectures"] == ["arm64"], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert props["Layers"] == [layer], name
        assert props["Handler"] == "handler.handler", name
        assert props["Environment"]["Variables"]["AGENTLAB_ENVIRONMENT"] == "aws", name


def test_only_the_model_steps_may_call_bedrock_and_only_the_configured_models(synth: Synthesized) -> None:
    configured = synth.stack.config.bedrock_model_ids
    callers = set()
    for name, function in synth.stack.orchestration.steps.items():
        role = role_of_function(synth.resources[synth.logical_id(function)])
        statements = [
            s
            for s in statements_of_role(synth.resources, role)
            if any(a.startswith("bedrock:") for a in as_list(s["Action"]))
        ]
        if not statements:
            continue
        callers.add(name)
        resources = [flat(r) for s in statements for r in as_list(s["Resource"])]
        for resource in resources:
            model = resource.rsplit("/", 1)[1]
            assert any(model in (m, m.split(".", 1)[1]) for m in configured), resource
        assert set(actions_of_role(synth.resources, role)) >= {"bedrock:InvokeModel"}
    assert callers == {"think", "evaluate"}


def test_every_step_gets_the_fargate_settings(synth: Synthesized) -> None:
    # Every step builds its sandbox backend from the same settings, even those that never start a task.
    for name, function in synth.stack.orchestration.steps.items():
        variables = synth.resources[synth.logical_id(function)]["Properties"]["Environment"]["Variables"]
        assert variables["AGENTLAB_SANDBOX_BACKEND"] == "fargate", name
        for key in (
            "AGENTLAB_CLUSTER_ARN",
            "AGENTLAB_TASK_DEFINITION_ARN",
            "AGENTLAB_CONTAINER_NAME",
            "AGENTLAB_SUBNETS",
            "AGENTLAB_SECURITY_GROUPS",
            "AGENTLAB_TABLE_NAME",
        ):
            assert key in variables, (name, key)


def test_steps_that_run_cells_outlive_the_longest_cell_a_task_start_and_a_margin(synth: Synthesized) -> None:
    from agentlab.models.agent import MAX_CELL_TIMEOUT_S
    from agentlab.sandbox.fargate import SANDBOX_START_TIMEOUT_S

    for name in ("execute", "check_goal"):
        timeout = synth.resources[synth.logical_id(synth.stack.orchestration.steps[name])]["Properties"]["Timeout"]
        assert MAX_CELL_TIMEOUT_S + SANDBOX_START_TIMEOUT_S + CELL_STEP_MARGIN_S <= timeout <= LAMBDA_MAX_TIMEOUT_S, (
            name
        )


def test_kernel_steps_run_tasks_and_the_others_only_stop_them(synth: Synthesized) -> None:
    run = {"ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource", "iam:PassRole"}
    for name, function in synth.stack.orchestration.steps.items():
        actions = actions_of_role(synth.resources, role_of_function(synth.resources[synth.logical_id(function)]))
        ecs_actions = {a for a in actions if a.startswith(("ecs:", "iam:"))}
        if name in ("execute", "check_goal", "repo_baseline"):
            assert run <= ecs_actions, name
        elif name in ("finalize", "record_failure"):
            # They also pass the schedules' role to Scheduler when a run's end pauses its schedule.
            assert ecs_actions == {"ecs:DescribeTasks", "ecs:StopTask", "ecs:ListTasks", "iam:PassRole"}, name
        else:
            assert not ecs_actions, name
    passed = {
        flat(r)
        for function in synth.stack.orchestration.steps.values()
        for s in statements_of_role(synth.resources, role_of_function(synth.resources[synth.logical_id(function)]))
        if "iam:PassRole" in as_list(s["Action"])
        for r in as_list(s["Resource"])
    }
    execution_role = synth.logical_id(synth.stack.sandbox.task_definition.execution_role)
    scheduler_role = synth.logical_id(synth.stack.schedules.scheduler_role)
    assert passed == {f"<{execution_role}.Arn>", f"<{scheduler_role}.Arn>"}, "the task has no task role to pass"


def test_no_function_reaches_a_sandbox_exchange_in_the_bucket(synth: Synthesized) -> None:
    for function in synth.stack.functions.functions.values():
        role = role_of_function(synth.resources[synth.logical_id(function)])
        for statement in statements_of_role(synth.resources, role):
            assert not any("sandbox/" in flat(r) for r in as_list(statement["Resource"])), statement
            assert "s3:prefix" not in json.dumps(statement.get("Condition", {})), statement


def test_model_steps_may_subscribe_to_a_model_only_through_bedrock(synth: Synthesized) -> None:
    for name, function in synth.stack.orchestration.steps.items():
        role = role_of_function(synth.resources[synth.logical_id(function)])
        marketplace = [
            s
            for s in statements_of_role(synth.resources, role)
            if any(a.startswith("aws-marketplace:") for a in as_list(s["Action"]))
        ]
        if name not in ("think", "evaluate"):
            assert not marketplace, name
            continue
        (statement,) = marketplace
        assert sorted(as_list(statement["Action"])) == [
            "aws-marketplace:Subscribe",
            "aws-marketplace:ViewSubscriptions",
        ]
        assert statement["Condition"] == {"StringEquals": {"aws:CalledViaLast": "bedrock.amazonaws.com"}}


@pytest.mark.parametrize(
    ("model_id", "region"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-west-2"),
        ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-west-1"),
        ("apac.anthropic.claude-sonnet-4-5-20250929-v1:0", "ap-southeast-1"),
        ("jp.anthropic.claude-sonnet-4-5-20250929-v1:0", "ap-northeast-1"),
        ("au.anthropic.claude-sonnet-4-5-20250929-v1:0", "ap-southeast-2"),
        ("ca.anthropic.claude-sonnet-4-5-20250929-v1:0", "ca-central-1"),
        ("us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-gov-west-1"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-central-1"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "sa-east-1"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "eu-west-1"),
    ],
)
def test_a_profile_of_the_stacks_geography_is_accepted(model_id: str, region: str) -> None:
    from agentlab_cdk.orchestration import check_profile_region, profile_prefix, profile_serves

    prefix = profile_prefix(model_id)
    assert prefix is None or profile_serves(prefix, region)
    check_profile_region(model_id, region)  # raises ProfileRegionMismatch otherwise


@pytest.mark.parametrize(
    ("model_id", "region", "suggested"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-west-1", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("eu.amazon.nova-pro-v1:0", "us-east-1", "us.amazon.nova-pro-v1:0"),
        ("us.amazon.nova-pro-v1:0", "us-gov-west-1", "us-gov.amazon.nova-pro-v1:0"),
        ("jp.amazon.nova-pro-v1:0", "ap-south-1", "apac.amazon.nova-pro-v1:0"),
        ("global.amazon.nova-pro-v1:0", "us-gov-east-1", "us-gov.amazon.nova-pro-v1:0"),
    ],
)
def test_a_profile_the_stacks_region_cannot_call_fails_synth_with_what_would_fit(
    model_id: str, region: str, suggested: str
) -> None:
    from agentlab_cdk.config import ProfileRegionMismatch
    from agentlab_cdk.orchestration import check_profile_region

    with pytest.raises(ProfileRegionMismatch, match=re.escape(region)) as raised:
        check_profile_region(model_id, region)
    assert suggested in str(raised.value)
    assert model_id in str(raised.value)


def test_every_profile_prefix_has_its_regions() -> None:
    from agentlab_cdk.orchestration import GLOBAL_PROFILE, PROFILE_SOURCE_REGIONS

    from agentlab.llm.pricing import INFERENCE_PROFILE_PREFIXES

    assert set(INFERENCE_PROFILE_PREFIXES) == {*PROFILE_SOURCE_REGIONS, GLOBAL_PROFILE}


def test_the_stacks_region_is_checked_at_synth_when_it_is_known() -> None:
    from agentlab_cdk.config import ProfileRegionMismatch
    from agentlab_cdk.orchestration import check_model_regions
    from aws_cdk import App, Environment, Stack

    in_ireland = Stack(App(), "Ireland", env=Environment(account="111122223333", region="eu-west-1"))
    with pytest.raises(ProfileRegionMismatch, match="eu-west-1"):
        check_model_regions(in_ireland, ("us.anthropic.claude-sonnet-4-5-20250929-v1:0",))
    check_model_regions(in_ireland, ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0",))


def test_an_unresolved_region_is_reported_as_a_warning_at_synth(synth: Synthesized) -> None:
    from agentlab_cdk.orchestration import PROFILE_REGION_WARNING

    # The session's stack is environment-agnostic (no CDK_DEFAULT_REGION), as `make synth` makes it.
    artifact = synth.app.synth().get_stack_by_name(synth.stack.stack_name)
    warnings = [m.entry.data for m in artifact.messages if m.entry.type == "aws:cdk:warning"]
    profile_warnings = [w for w in warnings if PROFILE_REGION_WARNING in str(w)]
    assert len(profile_warnings) == 1
    assert synth.stack.config.bedrock_model_ids[0] in str(profile_warnings[0])
