"""What operators watch in the AWS console: one CloudWatch dashboard and the alarms that need a person."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from agentlab.metrics import METRIC_DIMENSIONS, NAMESPACE, RUN_OUTCOMES, STEP_DIMENSION, Metric
from agentlab_cdk.functions import construct_name
from agentlab_cdk.nag import acknowledge

PERIOD = Duration.minutes(5)
SERVER_ERROR_RATE_PERCENT = 5
MIN_REQUESTS_FOR_RATE = 20
WIDTH = 12


@dataclass(frozen=True)
class MonitoringInputs:
    http_api: apigw.HttpApi
    state_machine: sfn.StateMachine
    functions: dict[str, lambda_.Function]
    step_names: tuple[str, ...]
    alarm_email: str | None
    # What each dead-letter queue holds (e.g. "webhooks") -> the queue; a message in one needs a person.
    dead_letter_queues: dict[str, sqs.IQueue]


def dead_letter_metric(queue: sqs.IQueue, label: str | None = None) -> cloudwatch.Metric:
    return queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum", label=label)


def app_metric(name: Metric, statistic: str = "Sum", **extra: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={**METRIC_DIMENSIONS, **extra},
        statistic=statistic,
        period=PERIOD,
    )


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, inputs: MonitoringInputs) -> None:
        super().__init__(scope, construct_id)
        self._inputs = inputs
        self.topic = self._add_topic()
        self.dashboard_name = f"{Stack.of(self).stack_name}-operations"
        self.dashboard = self._add_dashboard()
        self.alarms = self._add_alarms()

    @property
    def dashboard_url(self) -> str:
        stack = Stack.of(self)
        return (
            f"https://console.aws.amazon.com/cloudwatch/home?region={stack.region}"
            f"#dashboards:name={self.dashboard_name}"
        )

    def _add_topic(self) -> sns.Topic:
        topic = sns.Topic(self, "AlarmTopic", display_name="agentlab alarms", enforce_ssl=True)
        if self._inputs.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self._inputs.alarm_email))
        acknowledge(
            topic,
            "SNS2",
            "CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key, and a customer key costs "
            "money when idle; alarm messages carry no data beyond metric names.",
        )
        return topic

    # dashboard ------------------------------------------------------------------------------------------------------
    def _add_dashboard(self) -> cloudwatch.Dashboard:
        inputs = self._inputs
        api = inputs.http_api
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=self.dashboard_name)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Runs",
                left=[app_metric("RunsStarted"), *(app_metric(name) for name in RUN_OUTCOMES.values())],
                width=WIDTH,
            ),
            cloudwatch.GraphWidget(
                title="Step latency (p90, ms)",
                left=[app_metric("StepLatency", "p90", **{STEP_DIMENSION: step}) for step in inputs.step_names],
                width=WIDTH,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Model tokens and cost (USD)",
                left=[app_metric("ModelTokens")],
                right=[app_metric("ModelCost"), app_metric("UsageThresholds")],
                width=WIDTH,
            ),
            cloudwatch.GraphWidget(
                title="Sandbox seconds and failures",
                left=[app_metric("SandboxSeconds")],
                right=[app_metric("SandboxFailures"), app_metric("SandboxTasksStopped"), app_metric("RunsStuck")],
                width=WIDTH,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[api.metric_count(period=PERIOD)],
                right=[api.metric_client_error(period=PERIOD), api.metric_server_error(period=PERIOD)],
                width=WIDTH,
            ),
            cloudwatch.GraphWidget(
                title="API latency (ms)",
                left=[
                    api.metric_latency(period=PERIOD, statistic="p50"),
                    api.metric_latency(period=PERIOD, statistic="p90"),
                ],
                width=WIDTH,
            ),
        )
        functions = sorted(inputs.functions.items())
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Lambda errors",
                left=[f.metric_errors(period=PERIOD, label=name) for name, f in functions],
                width=WIDTH,
            ),
            cloudwatch.GraphWidget(
                title="Lambda throttles",
                left=[f.metric_throttles(period=PERIOD, label=name) for name, f in functions],
                width=WIDTH,
            ),
        )
        machine = inputs.state_machine
        dead_letters = sorted(inputs.dead_letter_queues.items())
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Dead-letter queues (messages)",
                left=[dead_letter_metric(queue, name) for name, queue in dead_letters],
                width=WIDTH,
            ),
            cloudwatch.GraphWidget(
                title="Executions",
                left=[
                    machine.metric_started(period=PERIOD),
                    machine.metric_succeeded(period=PERIOD),
                    machine.metric_failed(period=PERIOD),
                    machine.metric_timed_out(period=PERIOD),
                    machine.metric_aborted(period=PERIOD),
                ],
                width=WIDTH,
            ),
        )
        return dashboard

    # alarms ---------------------------------------------------------------------------------------------------------
    def _add_alarms(self) -> list[cloudwatch.Alarm]:
        inputs = self._inputs
        api = inputs.http_api
        alarms = [
            inputs.state_machine.metric_failed(period=PERIOD).create_alarm(
                self,
                "FailedExecutionsAlarm",
                alarm_description="agent_run executions failed (each failed run records why)",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.MathExpression(
                expression=f"IF(requests >= {MIN_REQUESTS_FOR_RATE}, 100 * errors / requests, 0)",
                using_metrics={
                    "errors": api.metric_server_error(period=PERIOD, statistic="Sum"),
                    "requests": api.metric_count(period=PERIOD, statistic="Sum"),
                },
                period=PERIOD,
                label="API 5xx rate (%)",
            ).create_alarm(
                self,
                "ApiServerErrorRateAlarm",
                alarm_description=f"More than {SERVER_ERROR_RATE_PERCENT}% of API requests answered 5xx",
                threshold=SERVER_ERROR_RATE_PERCENT,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            app_metric("SandboxFailures").create_alarm(
                self,
                "SandboxTaskFailuresAlarm",
                alarm_description="Sandbox tasks could not be started (placement, image pull or networking)",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            app_metric("RunsStuck").create_alarm(
                self,
                "StuckRunsAlarm",
                alarm_description="The janitor failed runs stuck beyond their wall-clock budget",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        for name, function in sorted(inputs.functions.items()):
            alarms.append(
                function.metric_errors(period=PERIOD, statistic="Sum").create_alarm(
                    self,
                    f"{construct_name(name)}ErrorsAlarm",
                    alarm_description=f"The {name} function raised errors",
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        for name, queue in sorted(inputs.dead_letter_queues.items()):
            alarms.append(
                dead_letter_metric(queue).create_alarm(
                    self,
                    f"{construct_name(name)}DeadLettersAlarm",
                    alarm_description=f"Messages are waiting in the {name} dead-letter queue",
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        action = actions.SnsAction(self.topic)
        for alarm in alarms:
            alarm.add_alarm_action(action)
        return alarms
