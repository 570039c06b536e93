"""The Fargate sandbox backend: one ECS task per run, whose kernel server the host reaches directly inside the VPC.

The task (agentlab.sandbox.task_entrypoint) has no task role: user code in it can reach no AWS credential, and no
other run's data. The functions that run cells (execute and check_goal) run in the sandbox subnets and talk to the
task's kernel server over HTTP on TASK_PORT (agentlab.sandbox.channel), a port only their security group may reach;
every request carries the task's own bearer token, of which the task knows only the SHA-256. Inputs and artifacts
move through those functions, which scope every S3 key to the run. The run's environment variables travel in the
start request, never in RunTask's overrides (which CloudTrail records).

Which task serves a run, its private address, its token and its last use are kept in the table
(agentlab.store.sandbox_sessions), so any invocation of any step picks the run's task up. A task that died or was
replaced is noticed by the request that meets it (a refused or reset connection, a stopped task, another token's
401): a cell in flight reports a restarted kernel, the next session() starts a new task whose cells carry a new
kernel id, and no earlier cell is ever replayed. end() stops the task through the ECS API only: finalize and
record_failure run outside the VPC.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from pydantic import Field, TypeAdapter, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agentlab.errors import ConcurrentUpdate, InvalidRequest
from agentlab.models import utc_now
from agentlab.sandbox import channel
from agentlab.sandbox.channel import TASK_PORT, TaskHealth
from agentlab.sandbox.errors import SandboxEnvRefused, SandboxError, SandboxPathRefused, SandboxUnavailable
from agentlab.sandbox.local import check_env
from agentlab.sandbox.models import CellResult, SandboxLimits, WorkspaceFile
from agentlab.sandbox.workspace import split_workspace_path
from agentlab.store.sandbox_sessions import SandboxSessionRecord, SandboxSessionStore

if TYPE_CHECKING:
    from agentlab.sandbox.pool import SandboxPool

logger = logging.getLogger(__name__)

ISOLATION = "fargate"
SANDBOX_START_TIMEOUT_S = 180.0  # RunTask to a kernel server that answers
# The task's own work after the kernel's cell timeout (stopping the kernel, draining its output, hashing its files).
CELL_RESULT_MARGIN_S = 30.0
# What a step does besides its cell and a task start (inputs, artifacts, records): MAX_CELL_TIMEOUT_S, a task start
# and this margin fit the 900 s of the functions that run cells.
STEP_MARGIN_S = 60.0
STARTED_BY_CHARS = 36  # ECS refuses a longer startedBy
TASK_OVERHEAD_MB = 512  # the entrypoint, its server and the page cache beside the kernel's own memory limit
CPU_UNITS_PER_VCPU = 1024
RUNNING = "RUNNING"
STOPPED = "STOPPED"
ENI_ATTACHMENT = "ElasticNetworkInterface"
ENI_ADDRESS = "privateIPv4Address"
CONNECT_TIMEOUT_S = 3.0
HEALTH_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 60.0  # starting the session, files and listings
FILE_TIMEOUT_S = 120.0
HEALTH_POLL_S = 0.2
# last_used_at is written at most this often per session: the janitor counts idleness in tens of minutes.
LAST_USED_RESOLUTION_S = 30.0
LOST_EXIT_CODE = 128 + signal.SIGKILL
MAX_WARM_CLAIMS = 3  # warm tasks tried per session before a cold start
# Fargate's valid task sizes: CPU units and the memory (MiB) each accepts.
FARGATE_SIZES: tuple[tuple[int, tuple[int, ...]], ...] = (
    (256, (512, 1024, 2048)),
    (512, tuple(range(1024, 4097, 1024))),
    (1024, tuple(range(2048, 8193, 1024))),
    (2048, tuple(range(4096, 16385, 1024))),
    (4096, tuple(range(8192, 30721, 1024))),
)
WORKSPACE_FILES = TypeAdapter(list[WorkspaceFile])


class FargateSandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTLAB_", extra="ignore")

    cluster_arn: str
    task_definition_arn: str
    subnets: Annotated[list[str], NoDecode]
    security_groups: Annotated[list[str], NoDecode] = Field(description="the task's security group(s)")
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    container_name: str = "sandbox"
    table_name: str = "agentlab"
    task_port: int = TASK_PORT
    start_timeout_s: float = Field(default=SANDBOX_START_TIMEOUT_S, gt=0)
    start_poll_s: float = Field(default=1.0, gt=0, description="DescribeTasks interval while a task starts")
    # Whether session() first tries a warm task of the pool (agentlab.sandbox.pool); its size is the janitor's.
    sandbox_pool: bool = True
    sandbox_pool_max_age_s: float = Field(default=3_600.0, gt=0)

    @field_validator("subnets", "security_groups", mode="before")
    @classmethod
    def split_list(cls, value: Any) -> Any:
        """Accept a JSON list or a comma-separated string, as CloudFormation joins lists."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value


def cpu_units(vcpus: float) -> int:
    return math.ceil(vcpus * CPU_UNITS_PER_VCPU)


def task_size(task_cpu: int, memory_mb: int) -> tuple[int, int]:
    """The smallest valid Fargate (cpu, memory) with at least task_cpu units and room for the kernel's memory."""
    needed = memory_mb + TASK_OVERHEAD_MB
    for cpu, memories in FARGATE_SIZES:
        if cpu < task_cpu:
            continue
        for memory in memories:
            if memory >= needed:
                return cpu, memory
    raise SandboxUnavailable(f"no Fargate task size holds {task_cpu} CPU units and {memory_mb} MB for the kernel")


def limits_task_size(limits: SandboxLimits) -> tuple[int, int]:
    """The task size of a session: its vCPUs, and its kernel's memory with the task's own beside it."""
    return task_size(cpu_units(limits.cpu), limits.memory_mb)


class TaskGone(Exception):
    """The task cannot be reached, or answered as another task would (foreign: the address is no longer the run's
    task's). cell_sent: a cell may have started there before the connection broke."""

    def __init__(self, reason: str, *, cell_sent: bool = False, timed_out: bool = False, foreign: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cell_sent = cell_sent
        self.timed_out = timed_out
        self.foreign = foreign


class TaskClient:
    """HTTP to one task's kernel server: the token on every request, failures sorted into what they mean."""

    def __init__(self, http: httpx.Client, address: str, port: int, token: str) -> None:
        self._http = http
        self.base_url = f"http://{address}:{port}"
        self._headers = channel.bearer(token)

    def health(self) -> TaskHealth:
        response = self._request("GET", channel.HEALTH, timeout=HEALTH_TIMEOUT_S)
        return TaskHealth.model_validate_json(response.content)

    def start(self, env: dict[str, str]) -> TaskHealth:
        body = channel.StartSession(env=env).model_dump_json().encode()
        response = self._request("POST", channel.SESSION, content=body, timeout=REQUEST_TIMEOUT_S)
        return TaskHealth.model_validate_json(response.content)

    def run(self, endpoint: str, code: str, timeout_s: float) -> CellResult:
        body = channel.RunCode(code=code, timeout_s=timeout_s).model_dump_json().encode()
        response = self._request("POST", endpoint, content=body, timeout=timeout_s + CELL_RESULT_MARGIN_S, cell=True)
        return CellResult.model_validate_json(response.content)

    def put_file(self, path: str, data: bytes) -> None:
        self._request("PUT", channel.FILE, params={"path": path}, content=data, timeout=FILE_TIMEOUT_S)

    def read_file(self, path: str) -> bytes:
        return self._request("GET", channel.FILE, params={"path": path}, timeout=FILE_TIMEOUT_S).content

    def list_files(self) -> list[WorkspaceFile]:
        return WORKSPACE_FILES.validate_json(self._request("GET", channel.FILES, timeout=REQUEST_TIMEOUT_S).content)

    def _request(
        self,
        method: str,
        path: str,
        *,
        timeout: float,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        cell: bool = False,
    ) -> httpx.Response:
        url = self.base_url + path
        limits = httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S)
        try:
            response = self._http.request(
                method, url, content=content, params=params, headers=self._headers, timeout=limits
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TaskGone(f"the task at {self.base_url} cannot be reached ({exc or type(exc).__name__})") from exc
        except httpx.TimeoutException as exc:
            raise TaskGone(
                f"the task at {self.base_url} did not answer within {timeout:.0f}s", cell_sent=cell, timed_out=True
            ) from exc
        except httpx.TransportError as exc:
            raise TaskGone(
                f"the connection to the task at {self.base_url} broke ({exc or type(exc).__name__})", cell_sent=cell
            ) from exc
        if response.status_code == httpx.codes.UNAUTHORIZED:
            # Another task took the address over (the run's task is gone), or the token is not this task's.
            raise TaskGone(f"the task at {self.base_url} refused this run's token", foreign=True)
        if response.is_success:
            return response
        raise answer_error(response)


def answer_error(response: httpx.Response) -> Exception:
    """The error a task's answer stands for: the same ones the local backend raises."""
    try:
        body = response.json()
        code, message = str(body.get("error", "")), str(body.get("message", ""))
    except (ValueError, AttributeError):
        code, message = "", response.text[:500]
    status = response.status_code
    if status == httpx.codes.NOT_FOUND:
        return FileNotFoundError(message)
    if code == SandboxPathRefused.code:
        return SandboxPathRefused(message)
    if code == SandboxEnvRefused.code:
        return SandboxEnvRefused(message)
    if status == httpx.codes.CONFLICT:
        # Not started, or already closed: either way this task no longer holds the run's kernel.
        return TaskGone(f"the task's session is not open ({code or message})")
    if status == httpx.codes.REQUEST_ENTITY_TOO_LARGE:
        return InvalidRequest(message, code="sandbox_file_too_large")
    if status == httpx.codes.SERVICE_UNAVAILABLE:
        return SandboxUnavailable(message)
    return SandboxError(f"the sandbox task answered {status}: {message or code}")


class FargateSandboxSession:
    """A run's Fargate task seen from the host. Everything it needs is in the run's session record: any process can
    pick the run up."""

    def __init__(
        self,
        backend: FargateSandboxBackend,
        record: SandboxSessionRecord,
        limits: SandboxLimits,
        client: TaskClient,
        health: TaskHealth,
    ) -> None:
        self.run_id = record.run_id
        self.task_arn = record.task_arn
        self.limits = limits
        self.isolation = ISOLATION
        self.workspace = PurePosixPath(health.workspace or "/")
        self.kernel_id = health.kernel_id
        self._backend = backend
        self._record = record
        self._client = client
        self._used_at = backend.clock()

    def execute(self, code: str, timeout_s: float | None = None) -> CellResult:
        return self._run(channel.EXECUTE, code, timeout_s)

    def check(self, code: str, timeout_s: float | None = None) -> CellResult:
        return self._run(channel.CHECK, code, timeout_s)

    def run_phase(self, code: str, *, limits: SandboxLimits, network: bool = False) -> CellResult:
        """A phase of a repository's commands, in the task's kernel (a repo run's kernel only ever runs the phases
        the trusted side wrote). The task's network is the same for every phase: no internet route, only the
        package registries behind VPC endpoints, which an install reaches with the token handed in its env; the
        phase's command applies the phase's own limits to itself (agentlab/repo_optimize/phases.py)."""
        return self._run(channel.EXECUTE, code, limits.cell_timeout_s)

    def put_file(self, path: str, data: bytes) -> None:
        split_workspace_path(path)
        cap = self.limits.max_file_mb * channel.MIB
        if len(data) > cap:
            raise InvalidRequest(
                f"{path} is {len(data)} bytes, over the sandbox's file size limit of {self.limits.max_file_mb} MB",
                code="sandbox_file_too_large",
            )
        self._call(lambda: self._client.put_file(path, data))

    def read_file(self, path: str) -> bytes:
        split_workspace_path(path)
        return self._call(lambda: self._client.read_file(path))

    def list_files(self) -> list[WorkspaceFile]:
        return self._call(self._client.list_files)

    def close(self) -> None:
        """Nothing is held on the host side; the task lives until end(), its idle timeout or the janitor."""

    def _run(self, endpoint: str, code: str, timeout_s: float | None) -> CellResult:
        timeout = timeout_s or self.limits.cell_timeout_s
        self._record_use()
        began = self._backend.clock()
        try:
            result = self._client.run(endpoint, code, timeout)
        except TaskGone as gone:
            self._backend.retire(self._record, gone.reason)
            return self._lost_cell(gone, self._backend.clock() - began)
        self.kernel_id = "" if result.kernel_restarted else result.kernel_id
        self._record_use()
        return result

    def _call(self, request: Callable[[], Any]) -> Any:
        try:
            answer = request()
        except TaskGone as gone:
            self._backend.retire(self._record, gone.reason)
            raise SandboxUnavailable(f"the sandbox task of run {self.run_id} is gone: {gone.reason}") from gone
        self._record_use()
        return answer

    def _record_use(self) -> None:
        """Before and after each request: a cell that ran for minutes is a use at its end too."""
        now = self._backend.clock()
        if now - self._used_at >= LAST_USED_RESOLUTION_S:
            self._backend.sessions.record_use(self.run_id, self.task_arn)
            self._used_at = now

    def _lost_cell(self, gone: TaskGone, elapsed_s: float) -> CellResult:
        if gone.timed_out:
            what = "the sandbox task did not answer in time and was stopped"
        elif gone.cell_sent:
            what = "the sandbox task ended while the cell ran"
        else:
            what = "the sandbox task was gone before the cell could run"
        return CellResult(
            stdout="",
            stderr=f"[{what} ({gone.reason}): the kernel's state is lost; a new sandbox starts at the next cell]",
            exit_code=LOST_EXIT_CODE,
            duration_ms=round(elapsed_s * 1000),
            limit="timeout" if gone.timed_out else None,
            kernel_restarted=True,
            kernel_id=self.kernel_id,
        )


class FargateSandboxBackend:
    def __init__(
        self,
        ecs_client_factory: Callable[[], Any],
        sessions: SandboxSessionStore,
        settings: FargateSandboxSettings,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        pool: SandboxPool | None = None,
    ) -> None:
        self._ecs_factory = ecs_client_factory
        self.sessions = sessions
        self.settings = settings
        self.pool = pool
        # How long each phase of the latest session() took (seconds): logged, and read by bench/first_cell.py.
        self.last_start_phases: dict[str, float] = {}
        # What ECS reports of the latest cold start (inside `running`): provisioning, image pull, container start.
        self.last_ecs_phases: dict[str, float] = {}
        # One request per connection: a connection that broke always means the task did, never a stale keep-alive.
        self._http = http or httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), trust_env=False)
        self.clock = clock
        self._sleep = sleep

    @classmethod
    def from_env(cls, sessions: SandboxSessionStore | None = None) -> FargateSandboxBackend:
        from agentlab.sandbox.pool import SandboxPool
        from agentlab.store.sandbox_pool import SandboxPoolStore
        from agentlab.store.table import Table

        settings = FargateSandboxSettings()  # required fields come from the environment
        if sessions is None:
            sessions = SandboxSessionStore(Table(client_factory("dynamodb", settings.region), settings.table_name))
        ecs = client_factory("ecs", settings.region)
        pool = (
            SandboxPool(ecs, SandboxPoolStore(sessions.table), settings, max_age_s=settings.sandbox_pool_max_age_s)
            if settings.sandbox_pool
            else None
        )
        return cls(ecs, sessions, settings, pool=pool)

    def session(self, run_id: str, limits: SandboxLimits, env: dict[str, str]) -> FargateSandboxSession:
        env = check_env(env)
        record = self.sessions.get(run_id)
        if record is not None and record.address:
            client = self._client(record)
            try:
                health = self._probe(client, record)
                if not health.started:
                    health = client.start(env)
            except TaskGone as gone:
                logger.info("sandbox task of run %s is gone (%s): a new one starts", run_id, gone.reason)
                self.retire(record, gone.reason)
            else:
                self.sessions.record_use(run_id, record.task_arn)
                return FargateSandboxSession(self, record, limits, client, health)
        elif record is not None:
            # Its start never finished (the invocation that began it ended): nobody else is waiting on it.
            self.retire(record, "its start did not finish")
        replacing = record.task_arn if record else None
        warm = self._claim_warm(run_id, limits, env, replacing=replacing)
        if warm is not None:
            return warm
        return self._start(run_id, limits, env, replacing=replacing)

    def end(self, run_id: str) -> None:
        record = self.sessions.get(run_id)
        arns = {task["taskArn"] for task in self._tasks_of(run_id)}
        if record is not None:
            arns.add(record.task_arn)
        for arn in sorted(arns):
            self._stop_task(arn, "agentlab run ended")
        if record is not None:
            self.sessions.forget(run_id, record.task_arn)

    def reap_idle(self) -> list[str]:
        """Tasks end themselves after their idle timeout, and the janitor stops the rest: nothing to reap here."""
        return []

    def retire(self, record: SandboxSessionRecord, reason: str) -> None:
        """Stop a task that failed the run and drop its record, so that the next session() starts a new one."""
        self._stop_task(record.task_arn, f"agentlab: {reason}")
        self.sessions.forget(record.run_id, record.task_arn)

    def _probe(self, client: TaskClient, record: SandboxSessionRecord) -> TaskHealth:
        """The recorded task's health. A probe that did not get through is tried once more while ECS still counts the
        task as running: giving a live kernel up for a lost packet would cost the run its state."""
        try:
            health = client.health()
        except TaskGone as gone:
            if gone.foreign or self._describe(record.task_arn).get("lastStatus") != RUNNING:
                raise
            self._sleep(HEALTH_POLL_S)
            health = client.health()
        if health.run_id != record.answers_as:
            raise TaskGone(f"the task at {client.base_url} serves run {health.run_id}", foreign=True)
        return health

    # starting -------------------------------------------------------------------------------------------------------
    def _claim_warm(
        self, run_id: str, limits: SandboxLimits, env: dict[str, str], *, replacing: str | None
    ) -> FargateSandboxSession | None:
        """The run's session on a warm task of the pool, or None (no pool, none free, none that answers)."""
        if self.pool is None:
            return None
        for _ in range(MAX_WARM_CLAIMS):
            began = self.clock()
            warm = self.pool.claim(run_id, limits)
            if warm is None:
                return None
            claimed = self.clock()
            now = utc_now()
            record = SandboxSessionRecord(
                run_id=run_id,
                task_arn=warm.task_arn,
                token=warm.token,
                address=warm.address,
                task_label=warm.label,
                started_at=now,
                last_used_at=now,
            )
            try:
                self.sessions.claim(record, replacing=replacing)
            except ConcurrentUpdate as exc:
                # Claimed for this run, so no other run may have it: it goes.
                self.pool.discard(warm, "another task was started for the run at the same time")
                raise SandboxUnavailable(f"another sandbox task was started for run {run_id} at the same time") from exc
            client = self._client(record)
            try:
                health = self._probe(client, record)
                probed = self.clock()
                if health.started:
                    raise TaskGone(f"the warm task at {client.base_url} was started already")
                health = client.start(env)
            except TaskGone as gone:
                self.retire(record, f"its warm task failed: {gone.reason}")
                self.pool.discard(warm, gone.reason)
                continue
            except BaseException as exc:
                self.retire(record, f"its warm start failed: {type(exc).__name__}")
                self.pool.discard(warm, f"its start failed: {type(exc).__name__}")
                raise
            self._log_phases(
                run_id,
                warm.task_arn,
                "warm",
                claim=claimed - began,
                health=probed - claimed,
                start=self.clock() - probed,
            )
            return FargateSandboxSession(self, record, limits, client, health)
        return None

    def _log_phases(self, run_id: str, task_arn: str, kind: str, **phases: float) -> None:
        self.last_start_phases = {"total": sum(phases.values()), **phases}
        ecs = self.last_ecs_phases if kind == "cold" else {}
        logger.info(
            "sandbox task %s serves run %s (%s start)",
            task_arn,
            run_id,
            kind,
            extra={
                "sandbox_start": kind,
                **{f"{name}_s": round(value, 3) for name, value in self.last_start_phases.items()},
                **{f"ecs_{name}_s": round(value, 3) for name, value in ecs.items()},
            },
        )

    def _start(
        self, run_id: str, limits: SandboxLimits, env: dict[str, str], *, replacing: str | None
    ) -> FargateSandboxSession:
        began = self.clock()
        deadline = began + self.settings.start_timeout_s
        token = channel.new_token()
        task_arn = self._run_task(run_id, limits, channel.token_digest(token))
        placed = self.clock()
        now = utc_now()
        record = SandboxSessionRecord(run_id=run_id, task_arn=task_arn, token=token, started_at=now, last_used_at=now)
        try:
            self.sessions.claim(record, replacing=replacing)
        except ConcurrentUpdate as exc:
            self._stop_task(task_arn, "agentlab: another task was started for the run at the same time")
            raise SandboxUnavailable(f"another sandbox task was started for run {run_id} at the same time") from exc
        try:
            address = self._wait_until_running(task_arn, deadline)
            running = self.clock()
            record = record.model_copy(update={"address": address})
            self.sessions.record_use(run_id, task_arn, address=address)
            client = self._client(record)
            self._wait_for_health(client, run_id, task_arn, deadline)
            healthy = self.clock()
            health = client.start(env)
        except TaskGone as gone:
            self.retire(record, gone.reason)
            raise SandboxUnavailable(f"the sandbox task of run {run_id} failed to start: {gone.reason}") from gone
        except BaseException as exc:
            self.retire(record, f"its start failed: {type(exc).__name__}")
            raise
        # ECS's provisioning, pull and container start are all inside `running`; the entrypoint's own start is in
        # `health`.
        self._log_phases(
            run_id,
            task_arn,
            "cold",
            run_task=placed - began,
            running=running - placed,
            health=healthy - running,
            start=self.clock() - healthy,
        )
        return FargateSandboxSession(self, record, limits, client, health)

    def _run_task(self, run_id: str, limits: SandboxLimits, token_sha256: str) -> str:
        return run_sandbox_task(
            self._ecs(),
            self.settings,
            started_by=run_id,
            answers_as=run_id,
            limits=limits,
            token_sha256=token_sha256,
            tags={"agentlab:run_id": run_id},
        )

    def _wait_until_running(self, task_arn: str, deadline: float) -> str:
        """The task's private IPv4 address once it runs."""
        while True:
            task = self._describe(task_arn)
            status = task.get("lastStatus")
            if status == RUNNING:
                address = task_address(task)
                if address:
                    self.last_ecs_phases = ecs_phases(task)
                    return address
            if status == STOPPED:
                raise TaskGone(f"it stopped while starting: {stopped_reason(task)}")
            if self.clock() >= deadline:
                raise TaskGone(f"it was not running after {self.settings.start_timeout_s:.0f}s (status {status})")
            self._sleep(self.settings.start_poll_s)

    def _wait_for_health(self, client: TaskClient, run_id: str, task_arn: str, deadline: float) -> None:
        """Until the kernel server answers as this run's; a task that stops meanwhile fails at once."""
        described_at = self.clock()
        while True:
            try:
                health = client.health()
            except TaskGone as gone:
                if self.clock() >= deadline:
                    raise TaskGone(f"its server did not answer within {self.settings.start_timeout_s:.0f}s") from gone
                if self.clock() - described_at >= self.settings.start_poll_s:
                    described_at = self.clock()
                    task = self._describe(task_arn)
                    if task.get("lastStatus") == STOPPED:
                        raise TaskGone(f"it stopped while starting: {stopped_reason(task)}") from gone
                self._sleep(HEALTH_POLL_S)
                continue
            if health.run_id != run_id:
                raise TaskGone(f"the task at {client.base_url} serves run {health.run_id}", foreign=True)
            return

    # ECS ------------------------------------------------------------------------------------------------------------
    def _ecs(self) -> Any:
        return self._ecs_factory()

    def _client(self, record: SandboxSessionRecord) -> TaskClient:
        return TaskClient(self._http, record.address or "", self.settings.task_port, record.token)

    def _describe(self, task_arn: str) -> dict[str, Any]:
        described = self._ecs().describe_tasks(cluster=self.settings.cluster_arn, tasks=[task_arn]).get("tasks", [])
        task: dict[str, Any] = described[0] if described else {"taskArn": task_arn, "lastStatus": STOPPED}
        return task

    def _tasks_of(self, run_id: str) -> list[dict[str, Any]]:
        ecs = self._ecs()
        cluster = self.settings.cluster_arn
        arns = ecs.list_tasks(cluster=cluster, startedBy=run_id[:STARTED_BY_CHARS], desiredStatus=RUNNING)
        if not arns.get("taskArns"):
            return []
        tasks: list[dict[str, Any]] = ecs.describe_tasks(cluster=cluster, tasks=arns["taskArns"]).get("tasks", [])
        return [task for task in tasks if task.get("lastStatus") != STOPPED]

    def _stop_task(self, task_arn: str, reason: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._ecs().stop_task(cluster=self.settings.cluster_arn, task=task_arn, reason=reason[:255])
        except ClientError as exc:
            logger.warning("sandbox task %s could not be stopped: %s", task_arn, exc)


def run_sandbox_task(
    ecs: Any,
    settings: FargateSandboxSettings,
    *,
    started_by: str,
    answers_as: str,
    limits: SandboxLimits,
    token_sha256: str,
    tags: dict[str, str],
) -> str:
    """RunTask for one sandbox task (a run's, or a warm one of the pool); its ARN. answers_as is the id the task's
    health reports, started_by the label ECS lists it under."""
    cpu, memory = limits_task_size(limits)
    response = ecs.run_task(
        cluster=settings.cluster_arn,
        taskDefinition=settings.task_definition_arn,
        launchType="FARGATE",
        count=1,
        startedBy=started_by[:STARTED_BY_CHARS],
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(settings.subnets),
                "securityGroups": list(settings.security_groups),
                "assignPublicIp": "DISABLED",
            }
        },
        overrides={
            "containerOverrides": [
                {
                    "name": settings.container_name,
                    # Nothing secret: CloudTrail records these. The run's variables come in the start request.
                    "environment": [
                        {"name": channel.ENV_RUN_ID, "value": answers_as},
                        {"name": channel.ENV_LIMITS, "value": limits.model_dump_json()},
                        {"name": channel.ENV_TOKEN_SHA256, "value": token_sha256},
                    ],
                }
            ],
            "cpu": str(cpu),
            "memory": str(memory),
        },
        propagateTags="TASK_DEFINITION",
        tags=[{"key": key, "value": value} for key, value in tags.items()],
        enableExecuteCommand=False,
    )
    tasks = response.get("tasks") or []
    if not tasks:
        reasons = "; ".join(f"{f.get('arn', '')} {f.get('reason', '')}".strip() for f in response.get("failures", []))
        raise SandboxUnavailable(f"no sandbox task could be placed for {answers_as}: {reasons or 'no reason given'}")
    task_arn: str = tasks[0]["taskArn"]
    return task_arn


def task_address(task: dict[str, Any]) -> str | None:
    """The private IPv4 of an awsvpc task, from its network interface attachment."""
    for attachment in task.get("attachments", []):
        if attachment.get("type") != ENI_ATTACHMENT:
            continue
        for detail in attachment.get("details", []):
            if detail.get("name") == ENI_ADDRESS and detail.get("value"):
                return str(detail["value"])
    for container in task.get("containers", []):
        for interface in container.get("networkInterfaces", []):
            if interface.get("privateIpv4Address"):
                return str(interface["privateIpv4Address"])
    return None


def ecs_phases(task: dict[str, Any]) -> dict[str, float]:
    """A running task's start as ECS timed it (seconds): finding capacity and attaching the network interface
    (provisioning), pulling the image (pull) and starting the container (container_start). Only the phases whose
    timestamps DescribeTasks gave."""
    marks = [task.get(name) for name in ("createdAt", "pullStartedAt", "pullStoppedAt", "startedAt")]
    phases: dict[str, float] = {}
    for name, (begin, end) in zip(("provisioning", "pull", "container_start"), itertools.pairwise(marks), strict=True):
        if isinstance(begin, datetime) and isinstance(end, datetime):
            phases[name] = max((end - begin).total_seconds(), 0.0)
    return phases


def stopped_reason(task: dict[str, Any]) -> str:
    exits = [
        f"{c.get('name', 'container')} exited {c['exitCode']}" for c in task.get("containers", []) if "exitCode" in c
    ]
    return "; ".join([str(task.get("stoppedReason") or "no reason given"), *exits])


def client_factory(service: str, region: str) -> Callable[[], Any]:
    """A factory that builds the boto3 client on first use and returns the same one after."""
    built: list[Any] = []

    def client() -> Any:
        if not built:
            import boto3
            from botocore.config import Config

            built.append(
                boto3.client(
                    service, region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 5})
                )
            )
        return built[0]

    return client
