"""The Webhooks construct: the delivery queue and its dead-letter queue, the delivery function on an SQS event source,
and what the API and the publishing functions may do with the queue and the webhooks' secrets."""

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

WEBHOOK_SECRETS = "arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:agentlab/*/webhooks/*"
SECRET_READ = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
SECRET_MANAGE = SECRET_READ | {
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:DeleteSecret",
}
PUBLISHERS = {
    "api",
    "schedule_trigger",
    "janitor",
    "finalize",
    "record_failure",
    "request_approval",
    "webhook_delivery",
}
CONSUME = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
}


def delivery_function(synth: Synthesized) -> dict[str, Any]:
    return synth.resources[synth.logical_id(synth.stack.webhooks.delivery)]


def role_of(synth: Synthesized, name: str) -> str:
    function = synth.stack.functions.functions[name]
    return role_of_function(synth.resources[synth.logical_id(function)])


def resources_for(synth: Synthesized, role: str, action: str) -> set[str]:
    return {
        flat(r)
        for s in statements_of_role(synth.resources, role)
        if action in as_list(s["Action"])
        for r in as_list(s["Resource"])
    }


def secret_statements(synth: Synthesized, role: str) -> list[dict[str, Any]]:
    return [
        s
        for s in statements_of_role(synth.resources, role)
        if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))
    ]


def test_queue_is_encrypted_redriven_to_the_dead_letter_queue_and_outlasts_a_batch(synth: Synthesized) -> None:
    webhooks = synth.stack.webhooks
    queue = synth.resources[synth.logical_id(webhooks.queue)]["Properties"]
    dead_letters_id = synth.logical_id(webhooks.dead_letter_queue)
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_letters_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    timeout = delivery_function(synth)["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    dead_letters = synth.resources[dead_letters_id]["Properties"]
    assert dead_letters["SqsManagedSseEnabled"] is True
    assert dead_letters["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert "RedrivePolicy" not in dead_letters


def test_both_queues_refuse_plain_http(synth: Synthesized) -> None:
    for queue in (synth.stack.webhooks.queue, synth.stack.webhooks.dead_letter_queue):
        found, expected = queue_tls_policies(synth, queue)
        assert found == expected, queue


def test_delivery_function_reads_the_queue_in_batches_reporting_partial_failures(synth: Synthesized) -> None:
    function_id = synth.logical_id(synth.stack.webhooks.delivery)
    mapping = synth.one("AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["FunctionName"] == {"Ref": function_id}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.webhooks.queue), "Arn"]}
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_delivery_function_runs_outside_the_vpc_with_its_queues_and_table(synth: Synthesized) -> None:
    # Given the function that calls customers' public https endpoints
    props = delivery_function(synth)["Properties"]
    # Then it has Lambda's own internet egress (the sandbox VPC has no internet route)
    assert "VpcConfig" not in props
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    webhooks = synth.stack.webhooks
    env = props["Environment"]["Variables"]
    assert env["AGENTLAB_TABLE_NAME"] == {"Ref": synth.logical_id(synth.stack.data.table)}
    assert env["AGENTLAB_WEBHOOK_QUEUE_URL"] == {"Ref": synth.logical_id(webhooks.queue)}
    assert env["AGENTLAB_WEBHOOK_DEAD_LETTER_QUEUE_URL"] == {"Ref": synth.logical_id(webhooks.dead_letter_queue)}


def test_delivery_function_grants(synth: Synthesized) -> None:
    role = role_of(synth, "webhook_delivery")
    webhooks = synth.stack.webhooks
    queue = f"<{synth.logical_id(webhooks.queue)}.Arn>"
    dead_letters = f"<{synth.logical_id(webhooks.dead_letter_queue)}.Arn>"
    table = synth.logical_id(synth.stack.data.table)
    # Secrets: read only, and only the webhooks' path.
    assert [
        (set(as_list(s["Action"])), [flat(r) for r in as_list(s["Resource"])]) for s in secret_statements(synth, role)
    ] == [(SECRET_READ, [WEBHOOK_SECRETS])]
    # Queues: consume its own queue, send retries to it and dead deliveries to the dead-letter queue.
    assert resources_for(synth, role, "sqs:SendMessage") == {queue, dead_letters}
    for action in CONSUME:
        assert resources_for(synth, role, action) == {queue}, action
    assert resources_for(synth, role, "dynamodb:UpdateItem") == {f"<{table}.Arn>", f"<{table}.Arn>/index/*"}
    actions = actions_of_role(synth.resources, role)
    assert not any(a.startswith(("s3:", "states:", "scheduler:", "iam:", "ecs:", "ec2:", "bedrock:")) for a in actions)
    assert {a.split(":")[0] for a in actions} == {"dynamodb", "secretsmanager", "sqs", "logs", "xray"}


def test_api_manages_the_webhooks_secrets_and_may_enqueue_deliveries(synth: Synthesized) -> None:
    role = role_of(synth, "api")
    statements = [
        (set(as_list(s["Action"])), [flat(r) for r in as_list(s["Resource"])]) for s in secret_statements(synth, role)
    ]
    # The API also stores repository tokens (agentlab/*/repos/*, checked in test_infra_repo_optimize).
    webhook_statements = [(actions, resources) for actions, resources in statements if "/repos/" not in resources[0]]
    assert webhook_statements == [(SECRET_MANAGE, [WEBHOOK_SECRETS])]
    assert resources_for(synth, role, "sqs:SendMessage") == {f"<{synth.logical_id(synth.stack.webhooks.queue)}.Arn>"}


def test_only_the_api_and_the_delivery_function_touch_webhook_secrets(synth: Synthesized) -> None:
    for name in synth.stack.functions.functions:
        secrets = {
            flat(r)
            for s in secret_statements(synth, role_of(synth, name))
            for r in as_list(s["Resource"])
            if "webhooks" in flat(r)
        }
        assert bool(secrets) == (name in {"api", "webhook_delivery"}), name


def test_publishers_may_send_to_the_queue_and_are_told_its_url(synth: Synthesized) -> None:
    queue_id = synth.logical_id(synth.stack.webhooks.queue)
    functions = synth.stack.functions.functions
    assert set(functions) >= PUBLISHERS
    for name, function in functions.items():
        env = synth.resources[synth.logical_id(function)]["Properties"]["Environment"]["Variables"]
        sends = resources_for(synth, role_of(synth, name), "sqs:SendMessage")
        if name in PUBLISHERS:
            assert env["AGENTLAB_WEBHOOK_QUEUE_URL"] == {"Ref": queue_id}, name
            assert f"<{queue_id}.Arn>" in sends, name
        else:
            assert "AGENTLAB_WEBHOOK_QUEUE_URL" not in env, name
            assert f"<{queue_id}.Arn>" not in sends, name


def test_publishers_may_only_send(synth: Synthesized) -> None:
    queue = f"<{synth.logical_id(synth.stack.webhooks.queue)}.Arn>"
    for name in PUBLISHERS - {"webhook_delivery"}:
        on_queue = {
            a
            for s in statements_of_role(synth.resources, role_of(synth, name))
            if queue in {flat(r) for r in as_list(s["Resource"])}
            for a in as_list(s["Action"])
        }
        assert on_queue == {"sqs:SendMessage"}, name


def test_outputs_name_the_queues_and_functions(synth: Synthesized) -> None:
    outputs = synth.template["Outputs"]
    stack = synth.stack
    assert outputs["WebhookQueueUrl"]["Value"] == {"Ref": synth.logical_id(stack.webhooks.queue)}
    assert outputs["WebhookDeadLetterQueueUrl"]["Value"] == {"Ref": synth.logical_id(stack.webhooks.dead_letter_queue)}
    assert outputs["WebhookDeliveryFunctionName"]["Value"] == {"Ref": synth.logical_id(stack.webhooks.delivery)}
    assert outputs["ScheduleTriggerFunctionName"]["Value"] == {"Ref": synth.logical_id(stack.schedules.trigger)}
    assert outputs["ScheduleDeadLetterQueueUrl"]["Value"] == {
        "Ref": synth.logical_id(stack.schedules.dead_letter_queue)
    }
