"""Time-driven work: the EventBridge Scheduler group, the trigger function its schedules invoke (and the role they
invoke it with), the dead-letter queue of fires that failed, and the janitor that every few minutes stops idle sandbox
tasks, fails runs stuck beyond their wall-clock budget and reconciles the Scheduler schedules with their records.

The records in the table are the truth: the API creates, updates and deletes one Scheduler schedule per record in the
group, and the janitor repairs any drift."""

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
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from agentlab_cdk.config import (
    DEAD_LETTER_RETENTION,
    JANITOR_RATE,
    JANITOR_TIMEOUT,
    SCHEDULE_TRIGGER_MAX_EVENT_AGE,
    SCHEDULE_TRIGGER_MEMORY_MB,
    SCHEDULE_TRIGGER_RETRY_ATTEMPTS,
    SCHEDULE_TRIGGER_TIMEOUT,
)
from agentlab_cdk.functions import LambdaFunctions
from agentlab_cdk.grants import grant_table
from agentlab_cdk.nag import acknowledge, arn
from agentlab_cdk.sandbox import Sandbox

SCHEDULER_SERVICE = "scheduler.amazonaws.com"
# What the API does to the Scheduler schedule of a record (create, update, disable, delete), and the janitor too when
# it repairs drift.
SCHEDULE_ACTIONS = (
    "scheduler:CreateSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
    "scheduler:GetSchedule",
)
# The Service Authorization Reference for EventBridge Scheduler
# (docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridgescheduler.html) lists
# scheduler:ListSchedules with no resource type, so a statement can only name "*"; a statement scoped to the group's
# schedules is denied (Scheduler checks the call against schedule/*/*; see aws/aws-cdk#38201). The janitor's calls
# filter by the group name.
LIST_SCHEDULES = "scheduler:ListSchedules"


@dataclass(frozen=True)
class SchedulesInputs:
    table: dynamodb.ITable
    bucket: s3.IBucket
    sandbox: Sandbox
    state_machine: sfn.IStateMachine
    state_machine_name: str
    repo_optimize_state_machine: sfn.IStateMachine
    repo_optimize_state_machine_name: str
    default_model_ref: str


class Schedules(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, functions: LambdaFunctions, inputs: SchedulesInputs
    ) -> None:
        super().__init__(scope, construct_id)
        self._inputs = inputs
        self.group_name = f"{Stack.of(self).stack_name}-runs"
        self.group = scheduler.ScheduleGroup(self, "Group", schedule_group_name=self.group_name)
        self.dead_letter_queue = self._add_dead_letter_queue()
        self.trigger = self._add_trigger(functions)
        self.scheduler_role = self._add_scheduler_role()
        self.janitor = self._add_janitor(functions)
        self.connect_manager(self.janitor, reconcile=True)

    @property
    def environment(self) -> dict[str, str]:
        """What a function that manages the group's schedules is told."""
        return {
            "AGENTLAB_SCHEDULER_GROUP_NAME": self.group.schedule_group_name,
            "AGENTLAB_SCHEDULE_TRIGGER_ARN": self.trigger.function_arn,
            "AGENTLAB_SCHEDULER_ROLE_ARN": self.scheduler_role.role_arn,
            "AGENTLAB_SCHEDULE_DEAD_LETTER_QUEUE_ARN": self.dead_letter_queue.queue_arn,
        }

    @property
    def schedules_arn(self) -> str:
        """Every schedule of the group (Scheduler has no permissions per schedule)."""
        return Stack.of(self).format_arn(service="scheduler", resource="schedule", resource_name=f"{self.group_name}/*")

    def _add_dead_letter_queue(self) -> sqs.Queue:
        """Fires that never reached the trigger (Scheduler's dead-letter queue: the schedules' role sends to it) and
        fires the trigger still failed on after Lambda's retries (the function's dead-letter queue): one queue, one
        alarm, for every fire that started no run and recorded no skip."""
        queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
        )
        acknowledge(
            queue,
            "SQS3",
            "This queue is itself a dead-letter queue: Scheduler's for the group's schedules and Lambda's for the "
            "trigger's asynchronous invocations; a dead-letter queue behind it would only move the same messages.",
        )
        return queue

    def _add_trigger(self, functions: LambdaFunctions) -> lambda_.Function:
        """Invoked by the group's schedules with {"org_id", "schedule_id", "scheduled_time"}: starts the run (as the
        API does) or records why the fire was skipped."""
        inputs = self._inputs
        trigger = functions.add(
            self,
            "schedule_trigger",
            description="agentlab schedules: starts the run of one fire",
            environment={
                "AGENTLAB_TABLE_NAME": inputs.table.table_name,
                # By name, not by reference: the steps that end runs are told this function's ARN (they pause
                # schedules), and the state machine refers to them, so a reference back would be a cycle.
                "AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN": self._state_machine_arn(),
                "AGENTLAB_DEFAULT_MODEL_REF": inputs.default_model_ref,
            },
            timeout=SCHEDULE_TRIGGER_TIMEOUT,
            memory_mb=SCHEDULE_TRIGGER_MEMORY_MB,
            dead_letter_queue=self.dead_letter_queue,
        )
        trigger.configure_async_invoke(
            retry_attempts=SCHEDULE_TRIGGER_RETRY_ATTEMPTS, max_event_age=SCHEDULE_TRIGGER_MAX_EVENT_AGE
        )
        role = trigger.role
        assert role is not None
        # What the API's run creation uses: the schedule, agent, file, usage and idempotency records, and the start.
        grant_table(role, inputs.table)
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[self._state_machine_arn()])
        )
        return trigger

    def _state_machine_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self._inputs.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _add_scheduler_role(self) -> iam.Role:
        """Schedules of this group invoke the trigger with this role and dead-letter what fails, nothing else."""
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                SCHEDULER_SERVICE,
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description="EventBridge Scheduler: invoke the agentlab schedule trigger",
        )
        # The schedules target the function itself, never a version or an alias.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.trigger.function_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.dead_letter_queue.queue_arn])
        )
        return role

    def connect_manager(self, function: lambda_.Function, *, reconcile: bool = False) -> None:
        """A function that creates, updates and deletes the group's schedules (the API; with `reconcile`, the
        janitor, which also lists them): it is told the group, the target and the role, and may pass that role to
        Scheduler only."""
        for name, value in self.environment.items():
            function.add_environment(name, value)
        role = function.role
        assert role is not None
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(SCHEDULE_ACTIONS), resources=[self.schedules_arn])
        )
        acknowledge(
            role,
            "IAM5",
            "Schedules are made at run time, one per schedule record, and Scheduler has no permissions per schedule; "
            "the grant covers the schedules of the stack's group only.",
            f"Resource::{arn(self, 'scheduler', f'schedule/{self.group_name}/*')}",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.scheduler_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": SCHEDULER_SERVICE}},
            )
        )
        if reconcile:
            role.add_to_principal_policy(iam.PolicyStatement(actions=[LIST_SCHEDULES], resources=["*"]))
            acknowledge(
                role,
                "IAM5",
                "scheduler:ListSchedules has no resource type in the Service Authorization Reference, so it can only "
                "be granted on '*'; X-Ray's PutTraceSegments and PutTelemetryRecords likewise accept no resource.",
                "Resource::*",
            )

    def _executions_arn(self, state_machine_name: str) -> str:
        return Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _grant_watch_executions(self, role: iam.IRole, state_machine: sfn.IStateMachine, name: str) -> None:
        """List one state machine's executions, look at them and stop those of stuck runs."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:ListExecutions"], resources=[state_machine.state_machine_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"], resources=[self._executions_arn(name)]
            )
        )
        acknowledge(
            role,
            "IAM5",
            "The janitor looks at executions named after runs, which are made at run time; the grant stays within "
            "the executions of one state machine.",
            f"Resource::{arn(self, 'states', f'execution:{name}:*')}",
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
                "AGENTLAB_REPO_OPTIMIZE_STATE_MACHINE_ARN": inputs.repo_optimize_state_machine.state_machine_arn,
                **inputs.sandbox.janitor_environment,
            },
            timeout=JANITOR_TIMEOUT,
            memory_mb=512,
        )
        role = janitor.role
        assert role is not None
        # A task's last use is in its run's sandbox session record, in the table.
        grant_table(role, inputs.table)
        inputs.sandbox.grant_keep_pool(role)
        self._grant_watch_executions(role, inputs.state_machine, inputs.state_machine_name)
        self._grant_watch_executions(role, inputs.repo_optimize_state_machine, inputs.repo_optimize_state_machine_name)
        events.Rule(
            self,
            "JanitorRule",
            description="agentlab janitor",
            schedule=events.Schedule.rate(JANITOR_RATE),
            targets=[targets.LambdaFunction(janitor, retry_attempts=0)],
        )
        return janitor
