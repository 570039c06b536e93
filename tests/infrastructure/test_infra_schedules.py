"""The Schedules construct: the Scheduler group and its role, the trigger the schedules invoke and its dead-letter
queue, the schedule permissions of the API and the janitor, and the janitor on a rate rule."""

from __future__ import annotations

from typing import Any

from infra_helpers import (
    Synthesized,
    actions_of_role,
    as_list,
    flat,
    queue_tls_policies,
    role_of_function,
    statements_of_role,
)

SCHEDULE_ACTIONS = {
    "scheduler:CreateSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
    "scheduler:GetSchedule",
}
GROUP_SCHEDULES = "arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/Agentlab-runs/*"
MANAGER_SETTINGS = (
    "AGENTLAB_SCHEDULER_GROUP_NAME",
    "AGENTLAB_SCHEDULE_TRIGGER_ARN",
    "AGENTLAB_SCHEDULER_ROLE_ARN",
    "AGENTLAB_SCHEDULE_DEAD_LETTER_QUEUE_ARN",
)


def function_of(synth: Synthesized, construct: Any) -> dict[str, Any]:
    return synth.resources[synth.logical_id(construct)]


def scheduler_statements(synth: Synthesized, role: str) -> list[dict[str, Any]]:
    return [
        s
        for s in statements_of_role(synth.resources, role)
        if any(a.startswith(("scheduler:", "iam:")) for a in as_list(s["Action"]))
    ]


def assert_manages_group_schedules(synth: Synthesized, role: str, *, lists: bool) -> None:
    statements = scheduler_statements(synth, role)
    scoped = [s for s in statements if set(as_list(s["Action"])) == SCHEDULE_ACTIONS]
    assert [[flat(r) for r in as_list(s["Resource"])] for s in scoped] == [[GROUP_SCHEDULES]]
    scheduler_role = synth.logical_id(synth.stack.schedules.scheduler_role)
    pass_role = [s for s in statements if "iam:PassRole" in as_list(s["Action"])]
    assert pass_role == [
        {
            "Action": "iam:PassRole",
            "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [scheduler_role, "Arn"]},
        }
    ]
    listing = [s for s in statements if "scheduler:ListSchedules" in as_list(s["Action"])]
    if lists:
        # ListSchedules has no resource type: "*" is the only resource it can be granted on.
        assert [s["Resource"] for s in listing] == ["*"]
    else:
        assert listing == []
    granted = {a for s in statements for a in as_list(s["Action"]) if a.startswith(("scheduler:", "iam:"))}
    assert granted == SCHEDULE_ACTIONS | {"iam:PassRole"} | ({"scheduler:ListSchedules"} if lists else set())


def test_schedule_group_and_a_role_that_may_only_invoke_the_trigger_and_dead_letter(synth: Synthesized) -> None:
    group = synth.one("AWS::Scheduler::ScheduleGroup")["Properties"]
    assert group["Name"] == "Agentlab-runs"
    role_id = synth.logical_id(synth.stack.schedules.scheduler_role)
    trust = synth.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
    assert trust[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    trigger = synth.logical_id(synth.stack.schedules.trigger)
    queue = synth.logical_id(synth.stack.schedules.dead_letter_queue)
    statements = statements_of_role(synth.resources, role_id)
    # The function itself, not its versions or aliases; no direct start of executions any more.
    assert sorted((as_list(s["Action"]), as_list(s["Resource"])) for s in statements) == [
        (["lambda:InvokeFunction"], [{"Fn::GetAtt": [trigger, "Arn"]}]),
        (["sqs:SendMessage"], [{"Fn::GetAtt": [queue, "Arn"]}]),
    ]
    assert not synth.resources[role_id]["Properties"].get("ManagedPolicyArns")


def test_trigger_dead_letters_failed_fires_after_lambdas_retries(synth: Synthesized) -> None:
    schedules = synth.stack.schedules
    trigger_id = synth.logical_id(schedules.trigger)
    props = synth.resources[trigger_id]["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert "VpcConfig" not in props
    queue_id = synth.logical_id(schedules.dead_letter_queue)
    assert props["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    queue = synth.resources[queue_id]["Properties"]
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] is True
    invoke_configs = [
        c["Properties"]
        for c in synth.of_type("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": trigger_id}
    ]
    assert invoke_configs == [
        {
            "FunctionName": {"Ref": trigger_id},
            "MaximumEventAgeInSeconds": 3600,
            "MaximumRetryAttempts": 2,
            "Qualifier": "$LATEST",
        }
    ]


def test_schedules_dead_letter_queue_refuses_plain_http(synth: Synthesized) -> None:
    found, expected = queue_tls_policies(synth, synth.stack.schedules.dead_letter_queue)
    assert found == expected


def test_trigger_may_start_runs_as_the_api_does_and_nothing_of_schedules(synth: Synthesized) -> None:
    function = function_of(synth, synth.stack.schedules.trigger)
    role = role_of_function(function)
    statements = statements_of_role(synth.resources, role)
    # The state machine by its name (a reference would close a cycle through the steps that pause schedules).
    machine = synth.stack.orchestration.state_machine_names["agent_run"]
    starts = [s for s in statements if "states:StartExecution" in as_list(s["Action"])]
    machine_arn = f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:{machine}"
    assert [(as_list(s["Action"]), flat(s["Resource"])) for s in starts] == [(["states:StartExecution"], machine_arn)]
    table = synth.logical_id(synth.stack.data.table)
    tables = {flat(r) for s in statements if "dynamodb:PutItem" in as_list(s["Action"]) for r in as_list(s["Resource"])}
    assert tables == {f"<{table}.Arn>", f"<{table}.Arn>/index/*"}
    actions = actions_of_role(synth.resources, role)
    assert not any(a.startswith(("scheduler:", "iam:", "s3:", "secretsmanager:", "ecs:")) for a in actions), actions
    assert {a for a in actions if not a.startswith("dynamodb:")} == {
        "states:StartExecution",
        "sqs:SendMessage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    env = function["Properties"]["Environment"]["Variables"]
    assert env["AGENTLAB_TABLE_NAME"] == {"Ref": table}
    arn = f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:{machine}"
    assert flat(env["AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN"]) == arn
    # ... which is the ARN of the agent_run state machine, named so in the template.
    state_machine = synth.resources[synth.logical_id(synth.stack.orchestration.state_machines["agent_run"])]
    assert state_machine["Properties"]["StateMachineName"] == machine
    assert env["AGENTLAB_DEFAULT_MODEL_REF"] == synth.stack.orchestration.default_model_ref
    assert env["AGENTLAB_WEBHOOK_QUEUE_URL"] == {"Ref": synth.logical_id(synth.stack.webhooks.queue)}


def test_trigger_sends_only_to_its_dead_letter_queue_and_the_webhook_queue(synth: Synthesized) -> None:
    role = role_of_function(function_of(synth, synth.stack.schedules.trigger))
    sends = {
        flat(r)
        for s in statements_of_role(synth.resources, role)
        if "sqs:SendMessage" in as_list(s["Action"])
        for r in as_list(s["Resource"])
    }
    dead_letters = synth.logical_id(synth.stack.schedules.dead_letter_queue)
    webhooks = synth.logical_id(synth.stack.webhooks.queue)
    assert sends == {f"<{dead_letters}.Arn>", f"<{webhooks}.Arn>"}


def test_api_manages_the_groups_schedules_and_passes_the_scheduler_role_only(synth: Synthesized) -> None:
    role = role_of_function(function_of(synth, synth.stack.api.function))
    assert_manages_group_schedules(synth, role, lists=False)


def test_janitor_reconciles_the_groups_schedules(synth: Synthesized) -> None:
    role = role_of_function(function_of(synth, synth.stack.schedules.janitor))
    assert_manages_group_schedules(synth, role, lists=True)


def test_api_and_janitor_are_told_the_group_the_target_the_role_and_the_dead_letter_queue(
    synth: Synthesized,
) -> None:
    schedules = synth.stack.schedules
    expected = {
        "AGENTLAB_SCHEDULER_GROUP_NAME": "Agentlab-runs",
        "AGENTLAB_SCHEDULE_TRIGGER_ARN": {"Fn::GetAtt": [synth.logical_id(schedules.trigger), "Arn"]},
        "AGENTLAB_SCHEDULER_ROLE_ARN": {"Fn::GetAtt": [synth.logical_id(schedules.scheduler_role), "Arn"]},
        "AGENTLAB_SCHEDULE_DEAD_LETTER_QUEUE_ARN": {
            "Fn::GetAtt": [synth.logical_id(schedules.dead_letter_queue), "Arn"]
        },
    }
    assert tuple(expected) == MANAGER_SETTINGS
    for construct in (synth.stack.api.function, schedules.janitor):
        env = function_of(synth, construct)["Properties"]["Environment"]["Variables"]
        assert {name: env.get(name) for name in MANAGER_SETTINGS} == expected, construct.node.path


def test_only_the_api_the_janitor_and_the_steps_that_end_runs_touch_schedules(synth: Synthesized) -> None:
    functions = synth.stack.functions.functions
    managers = {
        name
        for name, function in functions.items()
        if any(
            a.startswith("scheduler:")
            for a in actions_of_role(synth.resources, role_of_function(function_of(synth, function)))
        )
    }
    # finalize and record_failure pause a schedule (and disable its Scheduler schedule) after failed runs in a row.
    assert managers == {"api", "janitor", "finalize", "record_failure"}
    for name, function in functions.items():
        env = function_of(synth, function)["Properties"]["Environment"]["Variables"]
        told = {setting for setting in MANAGER_SETTINGS if setting in env}
        assert told == (set(MANAGER_SETTINGS) if name in managers else set()), name


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
