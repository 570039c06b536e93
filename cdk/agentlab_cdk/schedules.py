"""Time-driven work: the EventBridge Scheduler group (and the role schedules use to start runs), and the janitor
that every few minutes stops idle sandbox tasks and fails runs stuck beyond their wall-clock budget."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from agentlab_cdk.config import JANITOR_RATE, JANITOR_TIMEOUT
from agentlab_cdk.functions import LambdaFunctions
from agentlab_cdk.grants import grant_table
from agentlab_cdk.nag import acknowledge, arn
from agentlab_cdk.sandbox import Sandbox


@dataclass(frozen=True)
class SchedulesInputs:
    table: dynamodb.ITable
    bucket: s3.IBucket
    sandbox: Sandbox
    state_machine: sfn.IStateMachine
    state_machine_name: str


class Schedules(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, functions: LambdaFunctions, inputs: SchedulesInputs
    ) -> None:
        super().__init__(scope, construct_id)
        self._inputs = inputs
        self.group = scheduler.ScheduleGroup(self, "Group", schedule_group_name=f"{Stack.of(self).stack_name}-runs")
        self.scheduler_role = self._add_scheduler_role()
        self.janitor = self._add_janitor(functions)

    def _add_scheduler_role(self) -> iam.Role:
        """Schedules of this group start runs with this role, and can do nothing else."""
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description="EventBridge Scheduler: start agentlab runs",
        )
        self._inputs.state_machine.grant_start_execution(role)
        return role

    def _executions_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self._inputs.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _add_janitor(self, functions: LambdaFunctions) -> lambda_.Function:
        inputs = self._inputs
        janitor = functions.add(
            self,
            "janitor",
            description="agentlab janitor: stops idle sandbox tasks, fails stuck runs",
            environment={
                "AGENTLAB_TABLE_NAME": inputs.table.table_name,
                "AGENTLAB_BUCKET_NAME": inputs.bucket.bucket_name,
                "AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN": inputs.state_machine.state_machine_arn,
                "AGENTLAB_CLUSTER_ARN": inputs.sandbox.cluster.cluster_arn,
            },
            timeout=JANITOR_TIMEOUT,
            memory_mb=512,
        )
        role = janitor.role
        assert role is not None
        # A task's last use is in its run's sandbox session record, in the table.
        grant_table(role, inputs.table)
        inputs.sandbox.grant_stop_tasks(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:ListExecutions"], resources=[inputs.state_machine.state_machine_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"], resources=[self._executions_arn()]
            )
        )
        acknowledge(
            role,
            "IAM5",
            "The janitor looks at executions named after runs, which are made at run time; the grant stays within "
            "the executions of one state machine.",
            f"Resource::{arn(self, 'states', f'execution:{inputs.state_machine_name}:*')}",
        )
        events.Rule(
            self,
            "JanitorRule",
            description="agentlab janitor",
            schedule=events.Schedule.rate(JANITOR_RATE),
            targets=[targets.LambdaFunction(janitor, retry_attempts=0)],
        )
        return janitor
