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


def state_machine_of(synth: Synthesized, asl: Path) -> dict[str, Any]:
    found = [
        resource
        for resource in synth.of_type("AWS::StepFunctions::StateMachine").values()
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


def test_state_machine_may_invoke_its_steps_and_nothing_else(synth: Synthesized) -> None:
    machine = synth.stack.orchestration.state_machines["agent_run"]
    role = synth.resources[synth.logical_id(machine)]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    invoked = {
        flat(resource)
        for statement in statements_of_role(synth.resources, role)
        if "lambda:InvokeFunction" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }
    steps = {synth.logical_id(f) for f in synth.stack.orchestration.steps.values()}
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


def test_sandbox_steps_get_the_fargate_settings(synth: Synthesized) -> None:
    for name in ("execute", "evaluate", "finalize", "record_failure"):
        env = synth.resources[synth.logical_id(synth.stack.orchestration.steps[name])]["Properties"]["Environment"]
        variables = env["Variables"]
        assert variables["AGENTLAB_SANDBOX_BACKEND"] == "fargate"
        for key in (
            "AGENTLAB_CLUSTER_ARN",
            "AGENTLAB_TASK_DEFINITION_ARN",
            "AGENTLAB_SUBNETS",
            "AGENTLAB_SECURITY_GROUPS",
        ):
            assert key in variables, (name, key)
