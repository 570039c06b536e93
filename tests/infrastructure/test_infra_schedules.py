"""The Schedules construct: the Scheduler group and its role, and the janitor on a rate rule."""

from __future__ import annotations

from infra_helpers import Synthesized, actions_of_role, as_list, flat, role_of_function, statements_of_role


def test_schedule_group_and_a_role_that_may_only_start_runs(synth: Synthesized) -> None:
    group = synth.one("AWS::Scheduler::ScheduleGroup")["Properties"]
    assert group["Name"] == "Agentlab-runs"
    role_id = synth.logical_id(synth.stack.schedules.scheduler_role)
    trust = synth.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
    assert trust[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    machine = synth.logical_id(synth.stack.orchestration.state_machines["agent_run"])
    statements = statements_of_role(synth.resources, role_id)
    assert [(as_list(s["Action"]), as_list(s["Resource"])) for s in statements] == [
        (["states:StartExecution"], [{"Ref": machine}])
    ]


def test_janitor_runs_every_five_minutes(synth: Synthesized) -> None:
    janitor = synth.logical_id(synth.stack.schedules.janitor)
    rule = synth.one("AWS::Events::Rule")["Properties"]
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    assert [t["Arn"] for t in rule["Targets"]] == [{"Fn::GetAtt": [janitor, "Arn"]}]
    permissions = [
        p["Properties"]
        for p in synth.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [janitor, "Arn"]}
    ]
    assert [p["Principal"] for p in permissions] == ["events.amazonaws.com"]


def test_janitor_may_stop_tasks_and_executions_and_touches_no_object(synth: Synthesized) -> None:
    function = synth.resources[synth.logical_id(synth.stack.schedules.janitor)]
    role = role_of_function(function)
    actions = actions_of_role(synth.resources, role)
    assert {
        "ecs:ListTasks",
        "ecs:DescribeTasks",
        "ecs:StopTask",
        "states:ListExecutions",
        "states:StopExecution",
    } <= actions
    assert "ecs:RunTask" not in actions
    # A task's last use is in its run's sandbox session record (the table), not in the bucket.
    assert not any(a.startswith("s3:") for a in actions), actions
    table = synth.logical_id(synth.stack.data.table)
    tables = {
        flat(r)
        for s in statements_of_role(synth.resources, role)
        if "dynamodb:Query" in as_list(s["Action"])
        for r in as_list(s["Resource"])
    }
    assert tables == {f"<{table}.Arn>", f"<{table}.Arn>/index/*"}
    env = function["Properties"]["Environment"]["Variables"]
    assert env["AGENTLAB_CLUSTER_ARN"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.sandbox.cluster), "Arn"]}
