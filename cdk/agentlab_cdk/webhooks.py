"""Webhook delivery: the queue every event goes through, its dead-letter queue, and the function that signs and sends
each delivery to the customer's endpoint.

The delivery function calls public https URLs that customers give, so it runs outside the VPC (the stack's VPC has no
internet route) and is granted nothing of AWS beyond the table, the webhook secrets and its two queues.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from agentlab_cdk.config import (
    DEAD_LETTER_RETENTION,
    WEBHOOK_BATCH_SIZE,
    WEBHOOK_DELIVERY_MEMORY_MB,
    WEBHOOK_DELIVERY_TIMEOUT,
    WEBHOOK_MAX_RECEIVE_COUNT,
    WEBHOOK_VISIBILITY_TIMEOUT_FACTOR,
)
from agentlab_cdk.functions import LambdaFunctions
from agentlab_cdk.grants import grant_table
from agentlab_cdk.nag import acknowledge, arn

# Each endpoint's signing secret is named agentlab/<org id>/webhooks/<webhook id>.
WEBHOOK_SECRETS = "agentlab/*/webhooks/*"
SECRET_READ_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
# Create a webhook, rotate its secret (a new value), delete it.
SECRET_MANAGE_ACTIONS = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:DeleteSecret",
)
QUEUE_URL_SETTING = "AGENTLAB_WEBHOOK_QUEUE_URL"
DEAD_LETTER_QUEUE_URL_SETTING = "AGENTLAB_WEBHOOK_DEAD_LETTER_QUEUE_URL"


@dataclass(frozen=True)
class WebhooksInputs:
    table: dynamodb.ITable


class Webhooks(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, functions: LambdaFunctions, inputs: WebhooksInputs
    ) -> None:
        super().__init__(scope, construct_id)
        self._inputs = inputs
        self.dead_letter_queue = self._add_dead_letter_queue()
        self.queue = self._add_queue()
        self.delivery = self._add_delivery(functions)

    @property
    def secrets_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=WEBHOOK_SECRETS,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _add_dead_letter_queue(self) -> sqs.Queue:
        """Deliveries that used up their retries, and messages the function failed on too often."""
        return sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
        )

    def _add_queue(self) -> sqs.Queue:
        return sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(
                WEBHOOK_DELIVERY_TIMEOUT.to_seconds() * WEBHOOK_VISIBILITY_TIMEOUT_FACTOR
            ),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=WEBHOOK_MAX_RECEIVE_COUNT
            ),
        )

    def _add_delivery(self, functions: LambdaFunctions) -> lambda_.Function:
        inputs = self._inputs
        function = functions.add(
            self,
            "webhook_delivery",
            description="agentlab webhooks: signs and delivers events to customers' endpoints",
            environment={
                "AGENTLAB_TABLE_NAME": inputs.table.table_name,
                QUEUE_URL_SETTING: self.queue.queue_url,
                DEAD_LETTER_QUEUE_URL_SETTING: self.dead_letter_queue.queue_url,
            },
            timeout=WEBHOOK_DELIVERY_TIMEOUT,
            memory_mb=WEBHOOK_DELIVERY_MEMORY_MB,
        )
        role = function.role
        assert role is not None
        # The delivery log and the endpoint's failure count are in the table.
        grant_table(role, inputs.table)
        self._grant_secrets(role, SECRET_READ_ACTIONS)
        # A retry is the same delivery sent again with a delay; a delivery out of retries goes to the dead letters.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"], resources=[self.queue.queue_arn, self.dead_letter_queue.queue_arn]
            )
        )
        function.add_event_source(
            event_sources.SqsEventSource(self.queue, batch_size=WEBHOOK_BATCH_SIZE, report_batch_item_failures=True)
        )
        return function

    def _grant_secrets(self, role: iam.IRole, actions: tuple[str, ...]) -> None:
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(actions), resources=[self.secrets_arn]))
        acknowledge(
            role,
            "IAM5",
            "Each webhook's signing secret is made when the webhook is created and named after its org and id; the "
            "grant covers the webhook secrets' path only, not the stack's other secrets.",
            f"Resource::{arn(self, 'secretsmanager', f'secret:{WEBHOOK_SECRETS}')}",
        )

    def grant_manage_secrets(self, role: iam.IRole) -> None:
        """Create, rotate, delete and read the webhooks' signing secrets (the API)."""
        self._grant_secrets(role, (*SECRET_MANAGE_ACTIONS, *SECRET_READ_ACTIONS))

    def connect_publisher(self, function: lambda_.Function) -> None:
        """A function that publishes events: it is told the queue and may send to it, nothing else."""
        function.add_environment(QUEUE_URL_SETTING, self.queue.queue_url)
        role = function.role
        assert role is not None
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn]))
