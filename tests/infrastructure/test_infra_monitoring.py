"""The Monitoring construct: the operators' dashboard and alarms, over the metrics the code publishes."""

from __future__ import annotations

import json
from typing import get_args

from infra_helpers import Synthesized, flat

from agentlab.metrics import NAMESPACE, Metric


def dashboard_widgets(synth: Synthesized) -> list[dict[str, object]]:
    body = flat(synth.one("AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"])
    widgets: list[dict[str, object]] = json.loads(body)["widgets"]
    return widgets


def test_dashboard_graphs_every_metric_the_code_publishes(synth: Synthesized) -> None:
    text = json.dumps(dashboard_widgets(synth))
    for name in get_args(Metric):
        assert json.dumps([NAMESPACE, name])[1:-1] in text, name


def test_dashboard_graphs_api_lambda_and_execution_metrics(synth: Synthesized) -> None:
    titles = {w["properties"]["title"] for w in dashboard_widgets(synth)}  # type: ignore[index]
    assert {
        "Runs",
        "Step latency (p90, ms)",
        "Model tokens and cost (USD)",
        "Sandbox seconds and failures",
        "API requests and errors",
        "API latency (ms)",
        "Lambda errors",
        "Lambda throttles",
        "Executions",
    } <= titles
    text = json.dumps(dashboard_widgets(synth))
    for metric in ('"4xx"', '"5xx"', '"Latency"', '"Errors"', '"Throttles"', '"ExecutionsFailed"'):
        assert metric in text, metric


def test_alarms_cover_failures_errors_and_the_sandbox_and_notify_the_topic(synth: Synthesized) -> None:
    alarms = synth.of_type("AWS::CloudWatch::Alarm")
    topic = synth.logical_id(synth.stack.monitoring.topic)
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic}] for a in alarms.values())
    names = set(alarms)
    for prefix in ("FailedExecutionsAlarm", "ApiServerErrorRateAlarm", "SandboxTaskFailuresAlarm", "StuckRunsAlarm"):
        assert any(name.startswith(f"Monitoring{prefix}") for name in names), prefix
    functions = synth.stack.functions.functions
    errors = [a for a in alarms.values() if a["Properties"].get("MetricName") == "Errors"]
    assert len(errors) == len(functions)
    synth.one("AWS::SNS::Subscription")


def test_server_error_alarm_is_a_rate(synth: Synthesized) -> None:
    alarm = next(
        a["Properties"] for k, a in synth.of_type("AWS::CloudWatch::Alarm").items() if "ApiServerErrorRate" in k
    )
    expression = next(m["Expression"] for m in alarm["Metrics"] if "Expression" in m)
    assert "100 * errors / requests" in expression


def test_a_message_in_either_dead_letter_queue_raises_an_alarm(synth: Synthesized) -> None:
    stack = synth.stack
    topic = synth.logical_id(stack.monitoring.topic)
    alarmed = {}
    for alarm in synth.of_type("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("MetricName") != "ApproximateNumberOfMessagesVisible":
            continue
        assert props["Namespace"] == "AWS/SQS"
        assert props["Statistic"] == "Maximum"
        assert props["Threshold"] == 1
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["AlarmActions"] == [{"Ref": topic}]
        [dimension] = props["Dimensions"]
        alarmed[dimension["Value"]["Fn::GetAtt"][0]] = dimension["Name"]
    queues = (stack.schedules.dead_letter_queue, stack.webhooks.dead_letter_queue)
    assert alarmed == {synth.logical_id(queue): "QueueName" for queue in queues}


def test_dashboard_graphs_the_dead_letter_queues(synth: Synthesized) -> None:
    [widget] = [w for w in dashboard_widgets(synth) if w["properties"]["title"] == "Dead-letter queues (messages)"]  # type: ignore[index]
    text = json.dumps(widget)
    assert "ApproximateNumberOfMessagesVisible" in text
    for label in ("schedules", "webhooks"):
        assert f'"label": "{label}"' in text, label
