"""The janitor: a scheduled sweep that ends what the workflow could not.

- Sandbox tasks are stopped when their run has ended (a cancelled run's execution is stopped before `finalize` can
  end its session) or when nobody used them for `sandbox_idle_s` (the task's own idle timeout failed, or it hangs).
  A task's last use is the `last_used_at` of its run's sandbox session record (agentlab.store.sandbox_sessions);
  a task the record does not name (a start that lost a race, an invocation that died before writing it) counts from
  its own start. A stopped task's record goes with it.
- The warm pool of sandbox tasks (agentlab.sandbox.pool) is refilled to `sandbox_pool_size` after the sweep of
  tasks: records of stopped tasks dropped, warm tasks past the pool's max age stopped, missing ones started. A pool
  task is known by its `startedBy` label: while warm it is the pool's to keep, once claimed it is its run's and
  goes through the same checks as any run's task; one the pool has no record of is stopped once past a grace.
- Runs still active past their wall-clock budget (plus a grace for a cell in flight) are failed with reason `stuck`,
  and so are active runs whose execution ended without ending them (a step that failed beyond every retry and
  catch). Runs waiting for approval are left alone: the approval wait has its own timeout in the state machine.

Runs are found through their executions, which are named after them and carry their org id: the table keeps runs per
org, so asking Step Functions what is running is far cheaper than scanning every org's runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field

from agentlab import metrics
from agentlab.errors import Conflict, NotFound
from agentlab.models import TERMINAL_STATUSES, Run
from agentlab.settings import CoreSettings
from agentlab.store.agents import AgentStore
from agentlab.store.runs import RunStore
from agentlab.store.sandbox_pool import is_pool_label
from agentlab.store.sandbox_sessions import SandboxSessionStore
from agentlab.store.table import deserialize
from agentlab.workflow.executions import execution_arn, run_id_of
from agentlab.workflow.run_events import RunEvents

if TYPE_CHECKING:  # the pool (and the Fargate backend and httpx it loads) is imported where a pool is kept
    from agentlab.sandbox.pool import RefillReport, SandboxPool

logger = logging.getLogger(__name__)

STUCK = "stuck"
ACTIVE_STATUSES = frozenset({"queued", "running"})
ENDED_EXECUTION_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
ORPHAN_SCAN_PK, ORPHAN_SCAN_SK = "JANITOR", "ORPHAN_SCAN"
# A repo run without a wall-clock budget of its own: installs, builds, tests and k benchmark runs.
REPO_RUN_WALL_S = 6 * 3_600
DESCRIBE_BATCH = 100  # ecs:DescribeTasks takes at most 100 tasks


class JanitorSettings(CoreSettings):
    cluster_arn: str = ""
    # Longer than the sandbox's own idle timeout (900 s by default): the task normally ends itself first.
    sandbox_idle_s: float = 1_200
    # A step checks the wall-clock budget before it starts; a cell may then run for up to 900 s.
    stuck_grace_s: float = 900
    # How far back to look for executions that ended without ending their run.
    ended_lookback_s: float = 3_600
    # How often the table is scanned for active runs without an execution: a scan reads (and is billed for) the
    # whole table, and such runs are rare (a create that died between its write and StartExecution).
    orphan_scan_interval_s: float = 3_600
    # The warm pool: what RunTask needs (the same values the functions that run cells get), its size and max age.
    task_definition_arn: str = ""
    subnets: str = ""
    security_groups: str = ""
    container_name: str = "sandbox"
    sandbox_pool_size: int = Field(default=0, ge=0)
    sandbox_pool_max_age_s: float = Field(default=3_600, gt=0)


@dataclass
class SweepReport:
    tasks_stopped: list[str] = field(default_factory=list)
    runs_failed: list[str] = field(default_factory=list)
    pool: RefillReport | None = None  # None where no pool is configured

    def as_dict(self) -> dict[str, Any]:
        return {
            "tasks_stopped": self.tasks_stopped,
            "runs_failed": self.runs_failed,
            "pool": self.pool.as_dict() if self.pool is not None else None,
        }


class Janitor:
    def __init__(
        self,
        settings: JanitorSettings,
        *,
        runs: RunStore,
        agents: AgentStore,
        ecs: Callable[[], Any],
        sessions: SandboxSessionStore,
        stepfunctions: Callable[[], Any],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        events: RunEvents | None = None,
        reconcile_schedules: Callable[[], Any] | None = None,
        pool: SandboxPool | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self._reconcile_schedules = reconcile_schedules
        self.events = events
        self.runs = runs
        self.agents = agents
        self._ecs = ecs
        self.sessions = sessions
        self._sfn = stepfunctions
        self._clock = clock
        self._org_of_run: dict[str, str | None] = {}
        self._missing: set[tuple[str, str]] = set()

    def sweep(self) -> SweepReport:
        report = SweepReport()
        # Runs first: failing a stuck run also stops its task, which the task pass then no longer sees.
        report.runs_failed = self.fail_stuck_runs()
        report.tasks_stopped = self.stop_idle_tasks()
        report.pool = self.refill_pool()
        if self._reconcile_schedules is not None:
            try:
                self._reconcile_schedules()
            except Exception:  # drift is put right on the next sweep; the runs and tasks above are done
                logger.exception("reconciling the Scheduler schedules failed")
        return report

    # runs -----------------------------------------------------------------------------------------------------------
    def fail_stuck_runs(self) -> list[str]:
        if not self.settings.agent_run_state_machine_arn:
            return []
        failed: list[str] = []
        now = self._clock()
        driven: set[str] = set()
        for execution in self._executions("RUNNING"):
            run = self._run_of(execution["executionArn"], run_id_of(execution["name"]))
            if run is not None:
                driven.add(run.id)
            if run is None or run.status not in ACTIVE_STATUSES:
                continue
            budget_s = self._wall_budget_s(run)
            started = run.started_at or run.created_at
            if now - started > timedelta(seconds=budget_s + self.settings.stuck_grace_s):
                elapsed = int((now - started).total_seconds())
                message = f"still {run.status} {elapsed} s after it started; its wall-clock budget is {budget_s} s"
                if self._fail(run, message):
                    self._stop_execution(execution["executionArn"], message)
                    failed.append(run.id)
        oldest = now - timedelta(seconds=self.settings.ended_lookback_s)
        for status in ENDED_EXECUTION_STATUSES:
            for execution in self._executions(status):
                stopped = execution.get("stopDate")
                if stopped is not None and stopped < oldest:
                    break  # newest first: everything after this ended earlier still
                run = self._run_of(execution["executionArn"], run_id_of(execution["name"]))
                # A run resumed by a new execution (agentlab/workflow/executions.py) is not ended by its old one.
                if run is None or run.status not in ACTIVE_STATUSES or run.id in driven:
                    continue
                if self._fail(run, f"its workflow ended ({status}) without ending the run"):
                    failed.append(run.id)
                driven.add(run.id)
        failed += self._fail_runs_without_execution(driven, now)
        return failed

    def _fail_runs_without_execution(self, seen: set[str], now: datetime) -> list[str]:
        """Active runs whose execution is gone (never started, or deleted) are found in the table, not through
        Step Functions: a run quiet for longer than the grace whose current execution does not exist is failed with
        that reason. Failed rather than resumed: nothing here knows whether the lost execution had begun a cell, and
        the local stack, which does know that its executions died with it, resumes its runs itself on start."""
        from agentlab.workflow.prepare import resumes_of

        table = self.runs.table
        if not self._orphan_scan_due(now):
            return []
        pages = table.client.get_paginator("scan").paginate(
            TableName=table.name,
            FilterExpression="#t = :run AND #s IN (:q, :r)",
            ProjectionExpression="org_id, id, updated_at, workflow",
            ExpressionAttributeNames={"#t": "entity", "#s": "status"},
            ExpressionAttributeValues={":run": {"S": "run"}, ":q": {"S": "queued"}, ":r": {"S": "running"}},
        )
        quiet_since = now - timedelta(seconds=self.settings.stuck_grace_s)
        failed: list[str] = []
        client = self._sfn()
        for item in (deserialize(raw) for page in pages for raw in page.get("Items", [])):
            if item["id"] in seen or datetime.fromisoformat(item["updated_at"]) > quiet_since:
                continue
            resume = resumes_of(self.runs, item["org_id"], item["id"])
            machine = self._machine_of(str(item.get("workflow") or "agent_run"))
            if not machine:
                continue
            arn = execution_arn(machine, item["id"], resume)
            try:
                client.describe_execution(executionArn=arn)
                continue
            except client.exceptions.ExecutionDoesNotExist:
                pass
            run = self.runs.get(item["org_id"], item["id"])
            if self._fail(run, "its workflow execution no longer exists"):
                failed.append(run.id)
        return failed

    def _orphan_scan_due(self, now: datetime) -> bool:
        """At most one scan per `orphan_scan_interval_s`, whichever janitor invocation comes first; the last scan's
        time is kept in the table, as the janitor keeps nothing between invocations."""
        marker = self.runs.table.get(ORPHAN_SCAN_PK, ORPHAN_SCAN_SK)
        if marker is not None:
            last = datetime.fromisoformat(str(marker["scanned_at"]))
            if (now - last).total_seconds() < self.settings.orphan_scan_interval_s:
                return False
        self.runs.table.set_fields(
            ORPHAN_SCAN_PK, ORPHAN_SCAN_SK, {"entity": "janitor_mark", "scanned_at": now.isoformat()}, must_exist=False
        )
        return True

    def _wall_budget_s(self, run: Run) -> int:
        if run.budget.max_wall_s:
            return run.budget.max_wall_s
        if run.workflow == "repo_optimize":
            return REPO_RUN_WALL_S
        try:
            return self.agents.get_version(run.org_id, run.agent_id, run.agent_version).limits.max_wall_s
        except NotFound:
            from agentlab.models.agent import AgentLimits

            return AgentLimits().max_wall_s

    def _fail(self, run: Run, message: str) -> bool:
        try:
            ended = self.runs.transition(
                run.org_id, run.id, "failed", error={"code": STUCK, "message": message}, only_from=ACTIVE_STATUSES
            )
        except Conflict:
            return False  # it moved on meanwhile (ended, or parked for approval)
        self.runs.append_step(run.org_id, run.id, "error", detail={"code": STUCK, "message": message})
        logger.warning("failed a stuck run", extra={"run_id": run.id, "org_id": run.org_id, "reason": message})
        metrics.count("RunsStuck")
        metrics.run_ended("failed")
        if self.events is not None:
            self.events.ended(ended)
        return True

    def _stop_execution(self, arn: str, cause: str) -> None:
        client = self._sfn()
        try:
            client.stop_execution(executionArn=arn, error="RunStuck", cause=cause[:32_000])
        except client.exceptions.ExecutionDoesNotExist:
            return

    def _machines(self) -> list[str]:
        """Every workflow's state machine: agent runs', and repo runs' where the deployment has them."""
        arns = [self.settings.agent_run_state_machine_arn, self.settings.repo_optimize_state_machine_arn]
        return [arn for arn in arns if arn]

    def _machine_of(self, workflow: str) -> str:
        if workflow == "repo_optimize":
            return self.settings.repo_optimize_state_machine_arn
        return self.settings.agent_run_state_machine_arn

    def _executions(self, status: str) -> Iterator[dict[str, Any]]:
        paginator = self._sfn().get_paginator("list_executions")
        for machine in self._machines():
            for page in paginator.paginate(stateMachineArn=machine, statusFilter=status):
                yield from page.get("executions", [])

    def _run_of(self, arn: str, run_id: str) -> Run | None:
        """The run an execution drives; its org comes from the execution's input."""
        org_id = self._org_of_run.get(run_id)
        if org_id is None and (run_id, arn) not in self._missing:
            client = self._sfn()
            try:
                described = client.describe_execution(executionArn=arn)
                org_id = str(json.loads(described.get("input") or "{}").get("org_id") or "") or None
            except client.exceptions.ExecutionDoesNotExist:
                org_id = None
            if org_id is None:
                self._missing.add((run_id, arn))  # perhaps another workflow's execution drives the run
            else:
                self._org_of_run[run_id] = org_id
        if org_id is None:
            return None
        try:
            return self.runs.get(org_id, run_id)
        except NotFound:
            return None

    # sandbox tasks --------------------------------------------------------------------------------------------------
    def stop_idle_tasks(self) -> list[str]:
        if not self.settings.cluster_arn:
            return []
        stopped: list[str] = []
        now = self._clock()
        for task in self._running_tasks():
            started_by = task.get("startedBy") or ""
            if not started_by:
                continue  # not started by the sandbox backend
            run_id: str | None = started_by
            reason: str | None = None
            if is_pool_label(started_by):
                run_id, reason = self._pool_task_owner(task, started_by, now)
            if run_id is not None:
                reason = self._why_stop(task, run_id, now)
            if reason is None:
                continue
            self._ecs().stop_task(cluster=self.settings.cluster_arn, task=task["taskArn"], reason=reason[:255])
            if run_id is not None:
                self.sessions.forget(run_id, task["taskArn"])
            logger.info("stopped a sandbox task", extra={"run_id": run_id, "task": task["taskArn"], "reason": reason})
            metrics.count("SandboxTasksStopped")
            stopped.append(task["taskArn"])
        return stopped

    def _pool_task_owner(self, task: dict[str, Any], label: str, now: datetime) -> tuple[str | None, str | None]:
        """The run a pool task serves (None while it is warm: the refill keeps those), or why it is stopped now."""
        if self.pool is None:
            return None, None  # another deployment's janitor keeps its pool; nothing here knows the label
        from agentlab.sandbox.pool import UNRECORDED_GRACE_S

        known, run_id = self.pool.owner(label)
        if known:
            return run_id, None
        started = task.get("startedAt") or task.get("createdAt")
        if started is not None and (now - started).total_seconds() > UNRECORDED_GRACE_S:
            return None, "agentlab janitor: a pool task without a pool record"
        return None, None

    def refill_pool(self) -> RefillReport | None:
        if self.pool is None:
            return None
        report = self.pool.refill(self.settings.sandbox_pool_size)
        for failure in report.failures:
            logger.warning("the sandbox pool could not be refilled: %s", failure)
        logger.info("sandbox pool", extra={"pool": report.as_dict()})
        return report

    def _why_stop(self, task: dict[str, Any], run_id: str, now: datetime) -> str | None:
        for machine in self._machines():
            run = self._run_of(execution_arn(machine, run_id), run_id)
            if run is not None and run.status in TERMINAL_STATUSES:
                return f"agentlab janitor: run {run_id} has ended ({run.status})"
            if run is not None:
                break
        last_used = self._last_used(run_id, task["taskArn"]) or task.get("startedAt") or task.get("createdAt")
        if last_used is None:
            return None
        idle = (now - last_used).total_seconds()
        if idle > self.settings.sandbox_idle_s:
            return f"agentlab janitor: idle for {int(idle)} s"
        return None

    def _last_used(self, run_id: str, task_arn: str) -> datetime | None:
        """When a step last used the run's session, if that session is this task's."""
        record = self.sessions.get(run_id)
        return record.last_used_at if record is not None and record.task_arn == task_arn else None

    def _running_tasks(self) -> Iterator[dict[str, Any]]:
        ecs = self._ecs()
        cluster = self.settings.cluster_arn
        arns: list[str] = []
        for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, desiredStatus="RUNNING"):
            arns += page.get("taskArns", [])
        for start in range(0, len(arns), DESCRIBE_BATCH):
            described = ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + DESCRIBE_BATCH])
            yield from (t for t in described.get("tasks", []) if t.get("lastStatus") != "STOPPED")


def build_janitor(settings: JanitorSettings) -> Janitor:
    from agentlab.aws import AwsClients
    from agentlab.sandbox.fargate import client_factory
    from agentlab.schedules.scheduler import SchedulerSync, reconcile
    from agentlab.store.schedules import ScheduleStore
    from agentlab.store.table import Table

    clients = AwsClients(settings)
    table = Table(lambda: clients.dynamodb, settings.table_name)
    ecs = client_factory("ecs", settings.region)
    return Janitor(
        settings,
        runs=RunStore(table),
        agents=AgentStore(table),
        ecs=ecs,
        sessions=SandboxSessionStore(table),
        stepfunctions=lambda: clients.stepfunctions,
        events=RunEvents(table, settings, clients),
        reconcile_schedules=lambda: reconcile(ScheduleStore(table), SchedulerSync(settings, clients)),
        pool=build_pool(settings, ecs, table),
    )


def build_pool(settings: JanitorSettings, ecs: Callable[[], Any], table: Any) -> SandboxPool | None:
    """The pool the janitor keeps, where the deployment gave it a cluster and a task definition to start from."""
    from agentlab.sandbox.fargate import FargateSandboxSettings
    from agentlab.store.sandbox_pool import SandboxPoolStore

    if not (settings.cluster_arn and settings.task_definition_arn):
        return None
    task_settings = FargateSandboxSettings(
        cluster_arn=settings.cluster_arn,
        task_definition_arn=settings.task_definition_arn,
        # The settings' validator splits CloudFormation's joined lists.
        subnets=settings.subnets,
        security_groups=settings.security_groups,
        container_name=settings.container_name,
        table_name=settings.table_name,
    )
    return SandboxPool(ecs, SandboxPoolStore(table), task_settings, max_age_s=settings.sandbox_pool_max_age_s)
