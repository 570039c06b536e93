"""The warm pool in the template: its size per deployment, what the janitor is told, and the rights it gets — RunTask
(and what RunTask needs) only where a pool is kept, on the sandbox task definition alone."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_helpers import Synthesized, actions_of_role, as_list, role_of_function, statements_of_role, synthesize

from agentlab.workflow.janitor import JanitorSettings


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A deployment that keeps two warm tasks (what prod gets by default)."""
    return synthesize(tmp_path_factory.mktemp("pooled"), alarmEmail="ops@example.com", sandboxPoolSize="2")


def janitor_of(synth: Synthesized) -> dict[str, Any]:
    return synth.resources[synth.logical_id(synth.stack.schedules.janitor)]


def janitor_variables(synth: Synthesized) -> dict[str, Any]:
    return dict(janitor_of(synth)["Properties"]["Environment"]["Variables"])


def run_task_statements(synth: Synthesized) -> list[dict[str, Any]]:
    statements = statements_of_role(synth.resources, role_of_function(janitor_of(synth)))
    return [s for s in statements if "ecs:RunTask" in as_list(s["Action"])]


def test_pool_size_defaults_to_none_in_dev_and_two_in_prod_and_follows_the_context() -> None:
    from agentlab_cdk.config import DeployConfig, InvalidPoolSize

    class Node:
        def __init__(self, **context: Any) -> None:
            self.context = context

        def try_get_context(self, name: str) -> Any:
            return self.context.get(name)

    assert DeployConfig.from_context(Node()).pool_size == 0
    assert DeployConfig.from_context(Node(stage="prod")).pool_size == 2
    assert DeployConfig.from_context(Node(stage="prod", sandboxPoolSize="0")).pool_size == 0
    assert DeployConfig.from_context(Node(sandboxPoolSize=3)).pool_size == 3
    for wrong in ("two", "-1", "1000"):
        with pytest.raises(InvalidPoolSize):
            DeployConfig.from_context(Node(sandboxPoolSize=wrong))


def test_the_janitor_is_told_the_pool_and_how_to_start_its_tasks(pooled: Synthesized) -> None:
    sandbox = pooled.stack.sandbox
    variables = janitor_variables(pooled)
    assert variables["AGENTLAB_SANDBOX_POOL_SIZE"] == "2"
    assert variables["AGENTLAB_TASK_DEFINITION_ARN"] == {"Ref": pooled.logical_id(sandbox.task_definition)}
    assert variables["AGENTLAB_CLUSTER_ARN"] == {"Fn::GetAtt": [pooled.logical_id(sandbox.cluster), "Arn"]}
    assert variables["AGENTLAB_SECURITY_GROUPS"] == {
        "Fn::GetAtt": [pooled.logical_id(sandbox.security_group), "GroupId"]
    }
    assert "AGENTLAB_SUBNETS" in variables and variables["AGENTLAB_CONTAINER_NAME"] == "sandbox"
    # The names are the ones the janitor's settings read.
    settings = JanitorSettings.model_config.get("env_prefix", "")
    for field in ("sandbox_pool_size", "task_definition_arn", "subnets", "security_groups", "sandbox_pool_max_age_s"):
        assert f"{settings}{field}".upper() in variables, field
    # The functions that run cells look for a warm task first.
    steps = pooled.stack.orchestration.steps
    execute = pooled.resources[pooled.logical_id(steps["execute"])]["Properties"]["Environment"]["Variables"]
    assert execute["AGENTLAB_SANDBOX_POOL"] == "true"
    assert float(execute["AGENTLAB_SANDBOX_POOL_MAX_AGE_S"]) == float(variables["AGENTLAB_SANDBOX_POOL_MAX_AGE_S"])


def test_the_janitor_of_a_pool_may_start_only_sandbox_tasks_and_pass_only_their_execution_role(
    pooled: Synthesized,
) -> None:
    sandbox = pooled.stack.sandbox
    (run_task,) = run_task_statements(pooled)
    assert as_list(run_task["Action"]) == ["ecs:RunTask"]
    assert run_task["Resource"] == {"Ref": pooled.logical_id(sandbox.task_definition)}
    assert run_task["Condition"] == {
        "ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [pooled.logical_id(sandbox.cluster), "Arn"]}}
    }
    statements = statements_of_role(pooled.resources, role_of_function(janitor_of(pooled)))
    # Besides the Scheduler role it passes to schedules, the janitor may pass the tasks' execution role, to ECS only.
    to_ecs = [
        s
        for s in statements
        if "iam:PassRole" in as_list(s["Action"])
        and s.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService") == "ecs-tasks.amazonaws.com"
    ]
    execution_role = pooled.logical_id(sandbox.task_definition.obtain_execution_role())
    assert [s["Resource"] for s in to_ecs] == [{"Fn::GetAtt": [execution_role, "Arn"]}]
    (tagging,) = [s for s in statements if "ecs:TagResource" in as_list(s["Action"])]
    assert tagging["Condition"] == {"StringEquals": {"ecs:CreateAction": "RunTask"}}
    actions = actions_of_role(pooled.resources, role_of_function(janitor_of(pooled)))
    assert {a for a in actions if a.startswith("ecs:")} == {
        "ecs:RunTask",
        "ecs:TagResource",
        "ecs:DescribeTasks",
        "ecs:StopTask",
        "ecs:ListTasks",
    }


def test_without_a_pool_the_janitor_may_stop_tasks_but_not_start_any(synth: Synthesized) -> None:
    variables = janitor_variables(synth)
    assert variables["AGENTLAB_SANDBOX_POOL_SIZE"] == "0"
    assert run_task_statements(synth) == []
    statements = statements_of_role(synth.resources, role_of_function(janitor_of(synth)))
    assert not [s for s in statements if "ecs-tasks.amazonaws.com" in json.dumps(s.get("Condition", {}))]
    assert "ecs:StopTask" in actions_of_role(synth.resources, role_of_function(janitor_of(synth)))
    steps = synth.stack.orchestration.steps
    execute = synth.resources[synth.logical_id(steps["execute"])]["Properties"]["Environment"]["Variables"]
    assert execute["AGENTLAB_SANDBOX_POOL"] == "false"


def test_a_pooled_deployment_is_cdk_nag_clean(pooled: Synthesized) -> None:
    # cdk-nag runs at synth (a finding fails it); its report says every rule passed with the janitor's new rights.
    report = json.loads((pooled.outdir / "validation-report.json").read_text())
    assert report["pluginReports"]
    assert all(r["conclusion"] == "success" and not r["violations"] for r in report["pluginReports"])


def test_start_cost_settings_of_the_task_definition(synth: Synthesized) -> None:
    props = synth.one("AWS::ECS::TaskDefinition")["Properties"]
    # The image is built for arm64, and Fargate runs it on Graviton; storage stays at the default 20 GiB.
    assert props["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert "EphemeralStorage" not in props
    # Pulled by digest from the stack's own repository (same account and Region), through the VPC's ECR endpoints.
    image = json.dumps(props["ContainerDefinitions"][0]["Image"])
    assert synth.logical_id(synth.stack.sandbox.image.repository) in image and "@" in image
