"""The warm pool of sandbox tasks against moto's ECS and DynamoDB: tasks never really run, so each task's kernel
server is a fake reached through httpx's MockTransport at the address moto gave the task, answering to the token
whose digest (and as the id) the task was started with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from agentlab.sandbox import channel
from agentlab.sandbox.fargate import TASK_PORT, FargateSandboxBackend, FargateSandboxSettings
from agentlab.sandbox.models import SandboxLimits
from agentlab.sandbox.pool import SandboxPool, fits, new_pool_label, pool_limits
from agentlab.store.sandbox_pool import SandboxPoolStore, is_pool_label
from agentlab.store.sandbox_sessions import SandboxSessionStore
from agentlab.store.schema import create_table_request
from agentlab.store.table import Table

REGION = "us-east-1"
TABLE = "agentlab-pool"
MAX_AGE_S = 3_600.0
RUN_A = "01JRUNAAAAAAAAAAAAAAAAAAAA"
RUN_B = "01JRUNBBBBBBBBBBBBBBBBBBBB"


@dataclass
class KernelServer:
    """One task's kernel server as the host sees it: the token check, health, start and cells."""

    answers_as: str
    token_sha256: str
    started_with: dict[str, str] | None = None
    cells: list[str] = field(default_factory=list)

    def answer(self, request: httpx.Request) -> httpx.Response:
        if not channel.authorized(request.headers.get("Authorization"), self.token_sha256):
            return httpx.Response(401, json={"error": channel.UNAUTHORIZED, "message": "no"})
        health = {"run_id": self.answers_as, "started": self.started_with is not None, "kernel_id": "k1"}
        route = (request.method, request.url.path)
        if route == ("GET", channel.HEALTH):
            return httpx.Response(200, json=health)
        if route == ("POST", channel.SESSION):
            self.started_with = self.started_with or json.loads(request.content)["env"]
            return httpx.Response(200, json={**health, "started": True, "workspace": "/scratch/sandbox/ws"})
        if route == ("POST", channel.EXECUTE) and self.started_with is not None:
            code = json.loads(request.content)["code"]
            self.cells.append(code)
            return httpx.Response(
                200, json={"stdout": f"ran {code}\n", "stderr": "", "exit_code": 0, "duration_ms": 1, "kernel_id": "k1"}
            )
        return httpx.Response(409, json={"error": channel.NOT_STARTED, "message": "not started"})


@dataclass
class World:
    ecs: Any
    table: Table
    settings: FargateSandboxSettings
    servers: dict[str, KernelServer] = field(default_factory=dict)  # by task ARN
    silent: set[str] = field(default_factory=set)  # task ARNs whose server no longer answers

    def pool(self, now: datetime | None = None) -> SandboxPool:
        return SandboxPool(
            lambda: self.ecs,
            SandboxPoolStore(self.table),
            self.settings,
            max_age_s=MAX_AGE_S,
            clock=(lambda: now) if now is not None else (lambda: datetime.now(UTC)),
        )

    def backend(self) -> FargateSandboxBackend:
        return FargateSandboxBackend(
            lambda: self.ecs,
            SandboxSessionStore(self.table),
            self.settings,
            http=httpx.Client(transport=httpx.MockTransport(self._route)),
            sleep=lambda _: None,
            pool=self.pool(),
        )

    def running(self) -> set[str]:
        return set(self.ecs.list_tasks(cluster=self.settings.cluster_arn, desiredStatus="RUNNING")["taskArns"])

    def started_by(self, task_arn: str) -> str:
        task = self.ecs.describe_tasks(cluster=self.settings.cluster_arn, tasks=[task_arn])["tasks"][0]
        return str(task["startedBy"])

    def _route(self, request: httpx.Request) -> httpx.Response:
        assert request.url.port == TASK_PORT
        task = self._task_at(request.url.host)
        if task is None or task["taskArn"] in self.silent:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        arn = task["taskArn"]
        if arn not in self.servers:
            override = task["overrides"]["containerOverrides"][0]["environment"]
            environment = {item["name"]: item["value"] for item in override}
            self.servers[arn] = KernelServer(environment[channel.ENV_RUN_ID], environment[channel.ENV_TOKEN_SHA256])
        return self.servers[arn].answer(request)

    def _task_at(self, address: str) -> dict[str, Any] | None:
        arns = list(self.running())
        if not arns:
            return None
        for task in self.ecs.describe_tasks(cluster=self.settings.cluster_arn, tasks=arns)["tasks"]:
            details = {d["name"]: d["value"] for a in task.get("attachments", []) for d in a["details"]}
            if details.get("privateIPv4Address") == address and task["lastStatus"] == "RUNNING":
                return dict(task)
        return None


@pytest.fixture
def world() -> Iterator[World]:
    from moto import mock_aws
    from moto.moto_api import state_manager

    with mock_aws():
        # Tasks are RUNNING from their start and stay so however often they are described.
        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10_000})
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        # moto names an awsvpc task's network interface from its DNS hostname: without one it cannot place the task.
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="task", Description="task", VpcId=vpc)["GroupId"]
        ecs = boto3.client("ecs", region_name=REGION)
        cluster = ecs.create_cluster(clusterName="sandbox")["cluster"]["clusterArn"]
        task_definition = ecs.register_task_definition(
            family="sandbox",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="1024",
            memory="2048",
            containerDefinitions=[{"name": "sandbox", "image": "sandbox", "cpu": 1024, "memory": 2048}],
        )["taskDefinition"]["taskDefinitionArn"]
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(**create_table_request(TABLE))
        settings = FargateSandboxSettings(
            cluster_arn=cluster,
            task_definition_arn=task_definition,
            subnets=[subnet],
            security_groups=[group],
            table_name=TABLE,
        )
        try:
            yield World(ecs, Table(lambda: dynamodb, TABLE), settings)
        finally:
            state_manager.unset_transition("ecs::task")


def test_labels_are_as_long_as_ecs_allows_and_never_a_run_id() -> None:
    labels = {new_pool_label() for _ in range(20)}
    assert len(labels) == 20
    assert all(len(label) == 36 and is_pool_label(label) for label in labels)
    assert not is_pool_label(RUN_A)


def test_a_run_fits_a_warm_task_only_with_the_pools_limits() -> None:
    task = pool_limits(MAX_AGE_S)
    assert task.idle_timeout_s > MAX_AGE_S
    assert fits(SandboxLimits(), task)
    assert fits(SandboxLimits(idle_timeout_s=60), task)
    assert not fits(SandboxLimits(memory_mb=4096), task)
    assert not fits(SandboxLimits(cpu=2), task)


def test_refill_starts_tasks_up_to_the_size_and_records_them_without_handing_tokens_out(world: World) -> None:
    pool = world.pool()

    report = pool.refill(2)

    assert len(report.started) == 2 and report.warm == 2
    assert set(report.started) <= world.running()
    assert all(is_pool_label(world.started_by(arn)) for arn in report.started)
    records = pool.store.list()
    assert {record.task_arn for record in records} == set(report.started)
    # Listing the pool never carries a token: only a claim takes one out.
    assert all(record.token is None and not record.claimed for record in records)
    # A second refill finds the pool full.
    again = pool.refill(2)
    assert again.started == [] and again.warm == 2


def test_a_pool_of_size_zero_starts_nothing(world: World) -> None:
    report = world.pool().refill(0)

    assert report.started == [] and report.warm == 0
    assert world.running() == set()


def test_a_warm_task_goes_to_exactly_one_of_two_racing_runs(world: World) -> None:
    (task,) = world.pool().refill(1).started
    label = world.started_by(task)
    # Given two runs that both saw the task as free
    store_a, store_b = SandboxPoolStore(world.table), SandboxPoolStore(world.table)

    # When both claim it
    first = store_a.claim(label, RUN_A)
    second = store_b.claim(label, RUN_B)

    # Then the first has it, with its token, and the second has nothing
    assert first is not None and first.token and first.claimed_by == RUN_A
    assert second is None
    record = SandboxPoolStore(world.table).get(label)
    assert record is not None and record.claimed_by == RUN_A


def test_a_session_claims_a_warm_task_and_hands_it_the_runs_environment(world: World) -> None:
    (task,) = world.pool().refill(1).started
    backend = world.backend()

    session = backend.session(RUN_A, SandboxLimits(), {"TARGET": "sine"})

    assert session.task_arn == task
    server = world.servers[task]
    assert server.started_with == {"TARGET": "sine"}
    assert session.execute("1 + 1").stdout == "ran 1 + 1\n"
    record = SandboxSessionStore(world.table).get(RUN_A)
    assert record is not None and record.task_arn == task and record.answers_as == world.started_by(task)
    assert set(backend.last_start_phases) == {"total", "claim", "health", "start"}
    # The run's next step picks the same task up from its session record.
    again = world.backend().session(RUN_A, SandboxLimits(), {"TARGET": "sine"})
    assert again.task_arn == task and again.execute("2").stdout == "ran 2\n"


def test_a_claimed_task_is_never_offered_again(world: World) -> None:
    (task,) = world.pool().refill(1).started
    first = world.backend().session(RUN_A, SandboxLimits(), {})

    second = world.backend().session(RUN_B, SandboxLimits(), {})

    assert first.task_arn == task
    assert second.task_arn != task
    assert world.started_by(second.task_arn) == RUN_B  # a cold start
    assert world.pool().claim("01JRUNCCCCCCCCCCCCCCCCCCCC", SandboxLimits()) is None


def test_an_empty_pool_still_starts_a_cold_task(world: World) -> None:
    backend = world.backend()

    session = backend.session(RUN_A, SandboxLimits(), {"K": "v"})

    assert world.started_by(session.task_arn) == RUN_A
    assert world.servers[session.task_arn].started_with == {"K": "v"}
    assert set(backend.last_start_phases) == {"total", "run_task", "running", "health", "start"}


def test_a_run_with_other_limits_starts_cold_and_leaves_the_warm_task(world: World) -> None:
    (task,) = world.pool().refill(1).started

    session = world.backend().session(RUN_A, SandboxLimits(memory_mb=4096), {})

    assert session.task_arn != task
    assert task in world.running()
    assert world.pool().refill(1).warm == 1


def test_a_stopped_warm_task_is_skipped_and_dropped(world: World) -> None:
    dead, alive = world.pool().refill(2).started
    world.ecs.stop_task(cluster=world.settings.cluster_arn, task=dead, reason="test: the task died")

    session = world.backend().session(RUN_A, SandboxLimits(), {})

    assert session.task_arn == alive
    assert SandboxPoolStore(world.table).get(world.started_by(dead)) is None


def test_a_warm_task_that_does_not_answer_is_stopped_and_the_run_goes_on(world: World) -> None:
    (silent,) = world.pool().refill(1).started
    label = world.started_by(silent)
    world.silent.add(silent)

    session = world.backend().session(RUN_A, SandboxLimits(), {})

    # The silent task was stopped and forgotten; the run got a cold task of its own.
    assert silent not in world.running()
    assert SandboxPoolStore(world.table).get(label) is None
    assert world.started_by(session.task_arn) == RUN_A
    record = SandboxSessionStore(world.table).get(RUN_A)
    assert record is not None and record.task_arn == session.task_arn and record.task_label is None


def test_end_stops_a_claimed_task_and_the_refill_drops_its_record(world: World) -> None:
    (task,) = world.pool().refill(1).started
    backend = world.backend()
    backend.session(RUN_A, SandboxLimits(), {})

    backend.end(RUN_A)

    assert task not in world.running()
    assert SandboxSessionStore(world.table).get(RUN_A) is None
    report = world.pool().refill(1)
    assert report.dropped == [task]
    assert len(report.started) == 1 and report.started[0] != task


def test_refill_replaces_warm_tasks_older_than_the_max_age(world: World) -> None:
    (old,) = world.pool().refill(1).started

    report = world.pool(now=datetime.now(UTC) + timedelta(seconds=MAX_AGE_S + 60)).refill(1)

    assert report.retired == [old]
    assert old not in world.running()
    assert len(report.started) == 1 and report.warm == 1


def test_refill_keeps_claimed_tasks_out_of_the_count(world: World) -> None:
    (task,) = world.pool().refill(1).started
    world.backend().session(RUN_A, SandboxLimits(), {})

    report = world.pool().refill(1)

    assert task in world.running()
    assert len(report.started) == 1 and report.warm == 1


class NoCapacity:
    """moto's ECS, but Fargate has no capacity to place a task."""

    def __init__(self, ecs: Any) -> None:
        self._ecs = ecs

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        return {"tasks": [], "failures": [{"arn": "", "reason": "RESOURCE:CAPACITY"}]}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ecs, name)


def test_refill_reports_a_task_that_could_not_be_placed_and_records_nothing(world: World) -> None:
    ecs = NoCapacity(world.ecs)
    pool = SandboxPool(lambda: ecs, SandboxPoolStore(world.table), world.settings)

    report = pool.refill(2)

    assert report.started == [] and report.warm == 0
    assert len(report.failures) == 1 and "RESOURCE:CAPACITY" in report.failures[0]
    assert pool.store.list() == []
