"""The one agentlab stack: it composes the constructs and publishes the outputs tests and the CLI read."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from agentlab_cdk.api import Api, ApiInputs
from agentlab_cdk.config import DeployConfig
from agentlab_cdk.data import Data
from agentlab_cdk.functions import LambdaFunctions
from agentlab_cdk.hosting import Hosting
from agentlab_cdk.identity import Identity
from agentlab_cdk.monitoring import Monitoring, MonitoringInputs
from agentlab_cdk.nag import acknowledge, ref, region_and_account
from agentlab_cdk.orchestration import Orchestration, OrchestrationInputs
from agentlab_cdk.registries import PackageRegistries
from agentlab_cdk.sandbox import Sandbox
from agentlab_cdk.schedules import Schedules, SchedulesInputs
from agentlab_cdk.webhooks import Webhooks, WebhooksInputs

MAIN_WORKFLOW = "agent_run"
REPO_WORKFLOW = "repo_optimize"
# The functions that publish webhook events: run ends (the steps that end runs, the API's cancellation, the janitor's
# stuck runs), approvals, paused schedules and usage thresholds.
EVENT_PUBLISHERS = ("api", "schedule_trigger", "janitor", "finalize", "record_failure", "request_approval")
# The steps that end runs: the N-th failed run of a schedule in a row pauses it, and its Scheduler schedule with it.
SCHEDULE_PAUSERS = ("finalize", "record_failure")
BUCKET_DEPLOYMENT_FINDINGS = (
    "Action::s3:GetBucket*",
    "Action::s3:GetObject*",
    "Action::s3:List*",
    "Action::s3:Abort*",
    "Action::s3:DeleteObject*",
    "Resource::*",
)
# The CDK bootstrap's asset bucket, which the bucket deployment copies the dashboard from.
ASSET_BUCKET = "cdk-hnb659fds-assets-{account}-{region}"
# Output names are fixed: tests, the CLI and the README read them.
OUTPUT_NAMES = (
    "ApiUrl",
    "DashboardUrl",
    "OperatorDashboardUrl",
    "UserPoolId",
    "UserPoolClientId",
    "TableName",
    "BucketName",
    "AgentRunStateMachineArn",
    "SandboxClusterArn",
    "ScheduleGroupName",
    "SchedulerRoleArn",
    "AlarmTopicArn",
    "ProviderSecretArn",
    "ScheduleTriggerFunctionName",
    "ScheduleDeadLetterQueueUrl",
    "WebhookQueueUrl",
    "WebhookDeadLetterQueueUrl",
    "WebhookDeliveryFunctionName",
)


class AgentlabStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeployConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        self.data = Data(self, "Data", is_prod=config.is_prod)
        self.identity = Identity(self, "Identity", is_prod=config.is_prod)
        self.hosting = Hosting(
            self,
            "Hosting",
            dist=config.frontend_dist,
            access_logs=self.data.access_logs,
            is_prod=config.is_prod,
        )
        self.data.allow_cors(self.hosting.origin)
        self.functions = LambdaFunctions(self, "Functions", layer_dir=config.layer_dir, is_prod=config.is_prod)
        self.sandbox = Sandbox(
            self,
            "Sandbox",
            functions=self.functions,
            bucket=self.data.bucket,
            table=self.data.table,
            is_prod=config.is_prod,
            pool_size=config.pool_size,
        )
        self.registries = PackageRegistries(self, "PackageRegistries", sandbox=self.sandbox)
        self.webhooks = Webhooks(
            self, "Webhooks", functions=self.functions, inputs=WebhooksInputs(table=self.data.table)
        )
        self.orchestration = Orchestration(
            self,
            "Orchestration",
            functions=self.functions,
            inputs=OrchestrationInputs(
                table=self.data.table,
                bucket=self.data.bucket,
                provider_secret=self.data.provider_secret,
                sandbox=self.sandbox,
                registries=self.registries,
                bedrock_model_ids=config.bedrock_model_ids,
                is_prod=config.is_prod,
            ),
        )
        agent_run = self.orchestration.state_machines[MAIN_WORKFLOW]
        agent_run_name = self.orchestration.state_machine_names[MAIN_WORKFLOW]
        repo_optimize = self.orchestration.state_machines[REPO_WORKFLOW]
        repo_optimize_name = self.orchestration.state_machine_names[REPO_WORKFLOW]
        self.api = Api(
            self,
            "Api",
            functions=self.functions,
            inputs=ApiInputs(
                table=self.data.table,
                bucket=self.data.bucket,
                state_machine=agent_run,
                state_machine_name=agent_run_name,
                repo_optimize_state_machine=repo_optimize,
                repo_optimize_state_machine_name=repo_optimize_name,
                user_pool=self.identity.user_pool,
                user_pool_client=self.identity.client,
                dashboard_origin=self.hosting.origin,
                default_model_ref=self.orchestration.default_model_ref,
                rate_limit=config.api_rate_limit,
                burst_limit=config.api_burst_limit,
                is_prod=config.is_prod,
            ),
        )
        self.hosting.deploy(
            {
                "apiUrl": self.api.url,
                "environment": "aws",
                "region": self.region,
                "userPoolId": self.identity.user_pool.user_pool_id,
                "userPoolClientId": self.identity.client.user_pool_client_id,
            }
        )
        self.schedules = Schedules(
            self,
            "Schedules",
            functions=self.functions,
            inputs=SchedulesInputs(
                table=self.data.table,
                bucket=self.data.bucket,
                sandbox=self.sandbox,
                state_machine=agent_run,
                state_machine_name=agent_run_name,
                repo_optimize_state_machine=repo_optimize,
                repo_optimize_state_machine_name=repo_optimize_name,
                default_model_ref=self.orchestration.default_model_ref,
            ),
        )
        self._connect_schedules_and_webhooks()
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            inputs=MonitoringInputs(
                http_api=self.api.http_api,
                state_machine=agent_run,
                functions=dict(self.functions.functions),
                step_names=tuple(self.orchestration.steps),
                alarm_email=config.alarm_email,
                dead_letter_queues={
                    "schedules": self.schedules.dead_letter_queue,
                    "webhooks": self.webhooks.dead_letter_queue,
                },
            ),
        )
        self._add_outputs()
        self._acknowledge_framework_functions()

    def _connect_schedules_and_webhooks(self) -> None:
        """The API mirrors schedule records to Scheduler and manages the webhooks' secrets; the publishers send
        events to the webhook queue."""
        api = self.api.function
        assert api.role is not None
        self.schedules.connect_manager(api)
        for name in SCHEDULE_PAUSERS:
            self.schedules.connect_manager(self.functions.functions[name])
        self.webhooks.grant_manage_secrets(api.role)
        for name in EVENT_PUBLISHERS:
            self.webhooks.connect_publisher(self.functions.functions[name])

    def _add_outputs(self) -> None:
        values = {
            "ApiUrl": (self.api.url, "The API's base URL; routes are under /v1"),
            "DashboardUrl": (self.hosting.origin, "The web dashboard"),
            "OperatorDashboardUrl": (self.monitoring.dashboard_url, "The CloudWatch dashboard for operators"),
            "UserPoolId": (self.identity.user_pool.user_pool_id, "Cognito user pool"),
            "UserPoolClientId": (self.identity.client.user_pool_client_id, "Cognito app client (no secret)"),
            "TableName": (self.data.table.table_name, "DynamoDB table"),
            "BucketName": (self.data.bucket.bucket_name, "S3 bucket for files, artifacts and full outputs"),
            "AgentRunStateMachineArn": (
                self.orchestration.state_machines[MAIN_WORKFLOW].state_machine_arn,
                "The agent_run state machine",
            ),
            "SandboxClusterArn": (self.sandbox.cluster.cluster_arn, "ECS cluster of the sandbox tasks"),
            "ScheduleGroupName": (self.schedules.group.schedule_group_name, "EventBridge Scheduler group for runs"),
            "SchedulerRoleArn": (self.schedules.scheduler_role.role_arn, "Role the schedules invoke the trigger with"),
            "AlarmTopicArn": (self.monitoring.topic.topic_arn, "SNS topic the alarms notify"),
            "ProviderSecretArn": (self.data.provider_secret.secret_arn, "Model provider credentials (JSON)"),
            "ScheduleTriggerFunctionName": (self.schedules.trigger.function_name, "Function the schedules invoke"),
            "ScheduleDeadLetterQueueUrl": (
                self.schedules.dead_letter_queue.queue_url,
                "Fires that failed: Scheduler's and the trigger's dead-letter queue",
            ),
            "WebhookQueueUrl": (self.webhooks.queue.queue_url, "SQS queue of webhook deliveries"),
            "WebhookDeadLetterQueueUrl": (
                self.webhooks.dead_letter_queue.queue_url,
                "Webhook deliveries that used up their retries",
            ),
            "WebhookDeliveryFunctionName": (self.webhooks.delivery.function_name, "Function that delivers webhooks"),
        }
        assert tuple(values) == OUTPUT_NAMES
        for name, (value, description) in values.items():
            CfnOutput(self, name, value=value, description=description)

    def _acknowledge_framework_functions(self) -> None:
        """Findings on the functions aws-cdk-lib adds for custom resources: the dashboard upload (BucketDeployment)
        and the S3 prefix list lookup (AwsCustomResource). Both run only during deployments."""
        hosting_bucket = ref(self.hosting.bucket)
        region, account = region_and_account(self)
        for child in self.node.children:
            name = child.node.id
            if not name.startswith(("Custom::CDKBucketDeployment", "AWS679f53fac002430cb0da5b7982bd2287")):
                continue
            acknowledge(
                child,
                "IAM4",
                "aws-cdk-lib's custom resource functions log through AWSLambdaBasicExecutionRole; they are created and "
                "configured by aws-cdk-lib and run only while CloudFormation deploys the stack.",
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            )
            if name.startswith("Custom::CDKBucketDeployment"):
                acknowledge(
                    child,
                    "L1",
                    "The bucket deployment function's runtime is chosen by aws-cdk-lib (it bundles the AWS CLI).",
                )
                acknowledge(
                    child,
                    "IAM5",
                    "aws-cdk-lib's bucket deployment function copies the dashboard from the CDK asset bucket into the "
                    "dashboard bucket and invalidates CloudFront (which takes no resource); its grants are fixed by "
                    "aws-cdk-lib.",
                    *BUCKET_DEPLOYMENT_FINDINGS,
                    f"Resource::arn:<AWS::Partition>:s3:::{ASSET_BUCKET.format(account=account, region=region)}/*",
                    f"Resource::{hosting_bucket}/*",
                )
