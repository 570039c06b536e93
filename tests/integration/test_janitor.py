"""The janitor against moto: real ECS, Step Functions and DynamoDB calls; time moves through its clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from agentlab import metrics
from agentlab.ids import new_ulid
from agentlab.models import Run, utc_now
from agentlab.models.agent import AgentCreate, AgentLimits
from agentlab.sandbox.fargate import FargateSandboxSettings
from agentlab.sandbox.pool import SandboxPool
from agentlab.store.agents import AgentStore
from agentlab.store.runs import RunStore
from agentlab.store.sandbox_pool import SandboxPoolStore, is_pool_label
from agentlab.store.sandbox_sessions import SandboxSessionRecord, SandboxSessionStore
from agentlab.store.schema import create_table_request
from agentlab.store.table import Table
from agentlab.workflow.janitor import Janitor, JanitorSettings

REGION = "us-east-1"
TABLE = "agentlab-janitor"
WALL_S = 60
POOL_MAX_AGE_S = 3_600


@dataclass
class World:
    ecs: Any
    sfn: Any
    runs: RunStore
    sessions: SandboxSessionStore
    agents: AgentStore
    cluster: str
    task_definition: str
    state_machine: str
    org_id: str
    agent_id: str

    def janitor(self, now: datetime, *, pool_size: int | None = None) -> Janitor:
        """The janitor at `now`; with a pool_size it also keeps a warm pool of that size (max age an hour)."""
        settings = JanitorSettings(
            table_name=TABLE,
            agent_run_state_machine_arn=self.state_machine,
            # This world has agent runs only (an earlier test's environment may name another machine).
            repo_optimize_state_machine_arn="",
            cluster_arn=self.cluster,
            sandbox_idle_s=1_200,
            stuck_grace_s=300,
            sandbox_pool_size=pool_size or 0,
        )
        pool = None
        if pool_size is not None:
            task_settings = FargateSandboxSettings(
                cluster_arn=self.cluster,
                task_definition_arn=self.task_definition,
                subnets=["subnet-a"],
                security_groups=["sg-task"],
            )
            pool = SandboxPool(
                lambda: self.ecs, self.pool_store, task_settings, max_age_s=POOL_MAX_AGE_S, clock=lambda: now
            )
        return Janitor(
            settings,
            runs=self.runs,
            agents=self.agents,
            ecs=lambda: self.ecs,
            sessions=self.sessions,
            stepfunctions=lambda: self.sfn,
            clock=lambda: now,
            pool=pool,
        )

    @property
    def pool_store(self) -> SandboxPoolStore:
        return SandboxPoolStore(self.sessions.table)

    def started_by(self, task_arn: str) -> str:
        return str(self.ecs.describe_tasks(cluster=self.cluster, tasks=[task_arn])["tasks"][0]["startedBy"])

    def new_run(self, status: str = "running", *, max_wall_s: int | None = WALL_S) -> Run:
        now = utc_now()
        run_id = new_ulid()
        run = Run.model_validate(
            {
                "id": run_id,
                "org_id": self.org_id,
                "agent_id": self.agent_id,
                "agent_version": 1,
                "thread_id": run_id,
                "prompt": "plot a sine wave",
                "status": "queued",
                "budget": {"max_wall_s": max_wall_s} if max_wall_s else {},
                "created_at": now,
                "updated_at": now,
            }
        )
        self.runs.create(run)
        self.sfn.start_execution(
            stateMachineArn=self.state_machine, name=run_id, input=json.dumps({"org_id": self.org_id, "run_id": run_id})
        )
        if status != "queued":
            self.runs.transition(self.org_id, run_id, "running")
        if status not in ("queued", "running"):
            self.runs.transition(self.org_id, run_id, status)
        return self.runs.get(self.org_id, run_id)

    def start_task(self, run_id: str, *, recorded: bool = True) -> str:
        task = self.ecs.run_task(
            cluster=self.cluster, taskDefinition=self.task_definition, launchType="FARGATE", startedBy=run_id
        )
        arn: str = task["tasks"][0]["taskArn"]
        if recorded:
            # The run's session record, as the backend writes it: the task was used just now.
            now = datetime.now(UTC)
            record = SandboxSessionRecord(run_id=run_id, task_arn=arn, token="t", started_at=now, last_used_at=now)
            self.sessions.claim(record, replacing=None)
        return arn

    def running_tasks(self) -> set[str]:
        return set(self.ecs.list_tasks(cluster=self.cluster, desiredStatus="RUNNING")["taskArns"])

    def execution_status(self, run_id: str) -> str:
        arn = self.state_machine.replace(":stateMachine:", ":execution:") + f":{run_id}"
        return str(self.sfn.describe_execution(executionArn=arn)["status"])


@pytest.fixture
def world() -> Iterator[World]:
    from moto import mock_aws
    from moto.moto_api import state_manager

    with mock_aws():
        # Tasks stay RUNNING however often they are described (moto advances them by default).
        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10_000})
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(**create_table_request(TABLE))
        ecs = boto3.client("ecs", region_name=REGION)
        cluster = ecs.create_cluster(clusterName="sandbox")["cluster"]["clusterArn"]
        task_definition = ecs.register_task_definition(
            family="sandbox",
            networkMode="bridge",  # moto cannot place awsvpc tasks; the janitor never starts any
            containerDefinitions=[{"name": "sandbox", "image": "sandbox", "cpu": 1024, "memory": 2048}],
        )["taskDefinition"]["taskDefinitionArn"]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        state_machine = sfn.create_state_machine(
            name="agent-run",
            definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/agent-run",
        )["stateMachineArn"]
        table = Table(lambda: dynamodb, TABLE)
        agents = AgentStore(table)
        org_id = new_ulid()
        agent = agents.create(org_id, AgentCreate(name="analyst", limits=AgentLimits(max_wall_s=600)))
        metrics.flush()
        try:
            yield World(
                ecs,
                sfn,
                RunStore(table),
                SandboxSessionStore(table),
                agents,
                cluster,
                task_definition,
                state_machine,
                org_id,
                agent.id,
            )
        finally:
            metrics.flush()
            state_manager.unset_transition("ecs::task")


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_run_past_its_wall_clock_budget_is_failed_as_stuck(world: World) -> None:
    stuck = world.new_run()
    task = world.start_task(stuck.id)

    report = world.janitor(later(WALL_S + 300 + 5)).sweep()

    assert report.runs_failed == [stuck.id]
    run = world.runs.get(world.org_id, stuck.id)
    assert run.status == "failed"
    assert run.error is not None and run.error.code == "stuck"
    steps = world.runs.list_steps(world.org_id, stuck.id).items
    assert [(s.type, s.detail["code"]) for s in steps] == [("error", "stuck")]
    assert world.execution_status(stuck.id) == "ABORTED"
    # Its sandbox task goes too: the run has ended.
    assert report.tasks_stopped == [task]
    assert task not in world.running_tasks()
    assert {"RunsStuck", "RunsFailed", "SandboxTasksStopped"} <= {d.name for d in metrics.pending()}


def test_runs_within_budget_or_waiting_for_approval_are_left_alone(world: World) -> None:
    young = world.new_run()
    parked = world.new_run("waiting_approval")
    # No run budget: the agent's (600 s) applies, not the default.
    agent_budget = world.new_run(max_wall_s=None)

    report = world.janitor(later(WALL_S + 300 - 30)).sweep()
    assert report.runs_failed == []

    report = world.janitor(later(600 + 300 - 30)).sweep()
    assert young.id in report.runs_failed
    assert parked.id not in report.runs_failed and agent_budget.id not in report.runs_failed
    assert world.runs.get(world.org_id, parked.id).status == "waiting_approval"
    assert world.runs.get(world.org_id, agent_budget.id).status == "running"
    assert world.execution_status(parked.id) == "RUNNING"


def test_an_active_run_whose_execution_ended_is_failed(world: World) -> None:
    orphan = world.new_run()
    finished = world.new_run("succeeded")
    for run in (orphan, finished):
        arn = world.state_machine.replace(":stateMachine:", ":execution:") + f":{run.id}"
        world.sfn.stop_execution(executionArn=arn, error="Lost", cause="the step died")

    report = world.janitor(later(5)).sweep()

    assert report.runs_failed == [orphan.id]
    run = world.runs.get(world.org_id, orphan.id)
    assert run.status == "failed" and run.error is not None and "ABORTED" in run.error.message
    assert world.runs.get(world.org_id, finished.id).status == "succeeded"


def test_idle_sandbox_tasks_are_stopped_and_busy_ones_kept(world: World) -> None:
    run = world.new_run(max_wall_s=3_600)
    task = world.start_task(run.id)

    assert world.janitor(later(600)).sweep().tasks_stopped == []
    assert task in world.running_tasks()

    report = world.janitor(later(1_200 + 60)).sweep()

    assert report.tasks_stopped == [task]
    assert task not in world.running_tasks()
    assert world.runs.get(world.org_id, run.id).status == "running"
    assert world.sessions.get(run.id) is None, "the stopped task's session record goes with it"


def test_a_task_is_idle_from_the_last_use_its_session_record_holds(world: World) -> None:
    run = world.new_run(max_wall_s=7_200)
    task = world.start_task(run.id)

    # Fifty minutes on, a step used the run's session again (the task itself has no say: it holds no credential).
    record = world.sessions.get(run.id)
    assert record is not None
    world.sessions.claim(record.model_copy(update={"last_used_at": later(3_000)}), replacing=task)

    assert world.janitor(later(3_000 + 600)).sweep().tasks_stopped == []
    assert world.janitor(later(3_000 + 1_200 + 60)).sweep().tasks_stopped == [task]
    assert world.sessions.get(run.id) is None


def test_tasks_of_ended_runs_are_stopped_at_once_and_foreign_tasks_are_ignored(world: World) -> None:
    ended = world.new_run("cancelled")
    task = world.start_task(ended.id)
    foreign = world.ecs.run_task(cluster=world.cluster, taskDefinition=world.task_definition, launchType="FARGATE")
    foreign_arn = foreign["tasks"][0]["taskArn"]

    report = world.janitor(later(1)).sweep()

    assert report.tasks_stopped == [task]
    assert world.running_tasks() == {foreign_arn}


def test_the_sweep_refills_the_warm_pool_and_leaves_warm_tasks_alone(world: World) -> None:
    # Given a deployment whose pool holds two tasks
    first = world.janitor(later(0), pool_size=2).sweep()

    assert first.pool is not None and len(first.pool.started) == 2 and first.pool.warm == 2
    assert set(first.pool.started) <= world.running_tasks()
    assert all(is_pool_label(world.started_by(arn)) for arn in first.pool.started)
    assert first.as_dict()["pool"]["warm"] == 2

    # When the janitor comes back past the idle timeout of run tasks (warm tasks are idle by design)
    later_sweep = world.janitor(later(1_200 + 60), pool_size=2).sweep()

    # Then nothing was stopped and nothing more started
    assert later_sweep.tasks_stopped == []
    assert later_sweep.pool is not None and later_sweep.pool.started == [] and later_sweep.pool.warm == 2


def test_a_pool_of_size_zero_starts_nothing_and_no_pool_reports_none(world: World) -> None:
    report = world.janitor(later(0), pool_size=0).sweep()

    assert report.pool is not None and report.pool.started == [] and report.pool.warm == 0
    assert world.running_tasks() == set()
    assert world.janitor(later(0)).sweep().pool is None


def test_warm_tasks_past_the_max_age_are_replaced(world: World) -> None:
    (old,) = world.janitor(later(0), pool_size=1).sweep().pool.started  # type: ignore[union-attr]

    report = world.janitor(later(POOL_MAX_AGE_S + 60), pool_size=1).sweep()

    assert report.pool is not None and report.pool.retired == [old]
    assert old not in world.running_tasks()
    assert len(report.pool.started) == 1 and report.pool.started[0] in world.running_tasks()


def test_a_claimed_pool_task_is_its_runs_and_stopped_when_the_run_ends(world: World) -> None:
    (task,) = world.janitor(later(0), pool_size=1).sweep().pool.started  # type: ignore[union-attr]
    run = world.new_run("succeeded")
    # The run claimed the warm task and recorded it as its session, as the backend does.
    label = world.started_by(task)
    claimed = world.pool_store.claim(label, run.id)
    assert claimed is not None and claimed.token
    now = datetime.now(UTC)
    world.sessions.claim(
        SandboxSessionRecord(
            run_id=run.id, task_arn=task, token=claimed.token, task_label=label, started_at=now, last_used_at=now
        ),
        replacing=None,
    )

    report = world.janitor(later(1), pool_size=1).sweep()

    assert report.tasks_stopped == [task]
    assert world.sessions.get(run.id) is None
    # The refill after it drops the stopped task's pool record; the claimed task never counted as warm, and a new
    # one was started in its place.
    assert report.pool is not None and report.pool.dropped == [task]
    assert world.pool_store.get(label) is None
    assert len(report.pool.started) == 1 and task not in report.pool.started


class StartTimes:
    """moto's ECS with the startedAt that moto leaves out of DescribeTasks."""

    def __init__(self, ecs: Any, started_at: datetime) -> None:
        self._ecs = ecs
        self._started_at = started_at

    def describe_tasks(self, **kwargs: Any) -> dict[str, Any]:
        described = self._ecs.describe_tasks(**kwargs)
        return {**described, "tasks": [{**t, "startedAt": self._started_at} for t in described.get("tasks", [])]}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ecs, name)


def test_a_pool_task_without_a_record_is_stopped_after_a_grace(world: World) -> None:
    # A pool task whose record was never written (the janitor that started it died before the write)
    stray = world.ecs.run_task(
        cluster=world.cluster, taskDefinition=world.task_definition, launchType="FARGATE", startedBy="pool-0123abcd"
    )["tasks"][0]["taskArn"]
    world.ecs = StartTimes(world.ecs, datetime.now(UTC))

    assert world.janitor(later(60), pool_size=0).sweep().tasks_stopped == []
    assert world.janitor(later(600), pool_size=0).sweep().tasks_stopped == [stray]
    assert stray not in world.running_tasks()


def test_an_active_run_whose_execution_vanished_is_failed_with_the_reason(world: World) -> None:
    # Given a running run whose execution never existed, and one whose execution is running
    now = utc_now()
    run_id = new_ulid()
    orphan = Run.model_validate(
        {
            "id": run_id,
            "org_id": world.org_id,
            "agent_id": world.agent_id,
            "agent_version": 1,
            "thread_id": run_id,
            "prompt": "plot a sine wave",
            "budget": {"max_wall_s": 3_600},
            "created_at": now,
            "updated_at": now,
        }
    )
    world.runs.create(orphan)
    world.runs.transition(world.org_id, run_id, "running")
    driven = world.new_run(max_wall_s=3_600)
    # When the janitor sweeps within the grace, after it but before the next scan of the table is due, then after
    assert world.janitor(later(60)).sweep().runs_failed == []
    assert world.janitor(later(300 + 60)).sweep().runs_failed == []
    report = world.janitor(later(60 + 3_600)).sweep()
    # Then the orphan is failed once the scan is due, saying why, and the driven run is left alone
    assert report.runs_failed == [run_id]
    failed = world.runs.get(world.org_id, run_id)
    assert failed.status == "failed" and failed.error is not None
    assert (failed.error.code, failed.error.message) == ("stuck", "its workflow execution no longer exists")
    assert world.runs.get(world.org_id, driven.id).status == "running"
