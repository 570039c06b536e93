"""The Fargate sandbox backend: one ECS task per run, cells and files exchanged through S3.

Everything of a run lives under sandbox/<run_id>/ in the bucket:
  env.json            the run's environment variables (kept out of the RunTask request, which CloudTrail records)
  cells/<n>.json      written by the host: {"code", "timeout_s"}
  results/<n>.json    written by the task: a CellResult
  inputs/<path>       written by the host (put_file), copied by the task into its workspace before the next cell
  workspace/<path>    written by the task: every file a cell created or changed, uploaded before the cell's result
  files.json          written by the task: the listing of its whole workspace after each cell
  stop                written by the host when the run ends; the task exits when it sees it

The task (agentlab.sandbox.task_entrypoint) runs the same kernel as the local backend, inside the container.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agentlab.sandbox.errors import SandboxUnavailable
from agentlab.sandbox.local import check_env
from agentlab.sandbox.models import CellResult, SandboxLimits, WorkspaceFile
from agentlab.sandbox.workspace import split_workspace_path

logger = logging.getLogger(__name__)

ISOLATION = "fargate"
TASK_PORT = 8700  # the task's kernel server; only the functions that run cells may reach it
SANDBOX_START_TIMEOUT_S = 180.0
STARTED_BY_CHARS = 36  # ECS refuses a longer startedBy
RESULT_MARGIN_S = 30.0  # the task's own upload of files and result after the kernel's cell timeout
TASK_OVERHEAD_MB = 512  # the entrypoint, boto3 and the page cache beside the kernel's own memory limit
STOPPED = "STOPPED"
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
# Fargate's valid task sizes: CPU units and the memory (MiB) each accepts.
FARGATE_SIZES: tuple[tuple[int, tuple[int, ...]], ...] = (
    (256, (512, 1024, 2048)),
    (512, tuple(range(1024, 4097, 1024))),
    (1024, tuple(range(2048, 8193, 1024))),
    (2048, tuple(range(4096, 16385, 1024))),
    (4096, tuple(range(8192, 30721, 1024))),
)

ENV_RUN_ID = "AGENTLAB_SANDBOX_RUN_ID"
ENV_BUCKET = "AGENTLAB_SANDBOX_BUCKET"
ENV_LIMITS = "AGENTLAB_SANDBOX_LIMITS"
WORKSPACE_FILES = TypeAdapter(list[WorkspaceFile])


class FargateSandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTLAB_", extra="ignore")

    cluster_arn: str
    task_definition_arn: str
    subnets: Annotated[list[str], NoDecode]
    security_groups: Annotated[list[str], NoDecode]
    bucket_name: str
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    container_name: str = "sandbox"
    task_cpu: int = Field(default=1024, description="CPU units of a sandbox task; raised if the memory needs it")
    poll_interval_s: float = Field(default=0.5, gt=0)
    start_timeout_s: float = Field(default=SANDBOX_START_TIMEOUT_S, gt=0)

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


def run_prefix(run_id: str) -> str:
    return f"sandbox/{run_id}/"


def workspace_key(path: str) -> str:
    """The path as it is kept under workspace/ or inputs/; absolute paths and .. are refused as locally."""
    return "/".join(split_workspace_path(path))


def task_size(task_cpu: int, memory_mb: int) -> tuple[int, int]:
    """The smallest valid Fargate (cpu, memory) with at least task_cpu units and room for the kernel's memory."""
    needed = memory_mb + TASK_OVERHEAD_MB
    for cpu, memories in FARGATE_SIZES:
        if cpu < task_cpu:
            continue
        for memory in memories:
            if memory >= needed:
                return cpu, memory
    raise SandboxUnavailable(f"no Fargate task size holds {memory_mb} MB for the kernel")


def is_not_found(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES


class RunObjects:
    """The S3 objects of one run."""

    def __init__(self, s3: Any, bucket: str, run_id: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = run_prefix(run_id)

    def put(self, name: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=body)

    def get(self, name: str) -> bytes | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        body: bytes = response["Body"].read()
        return body

    def delete(self, name: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    def names(self, under: str) -> list[str]:
        """Names (relative to the run's prefix) of the objects under a folder of the run."""
        found: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + under):
            found += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        return found


def cell_number(name: str) -> int | None:
    stem = PurePosixPath(name).stem
    return int(stem) if stem.isdigit() else None


class FargateSandboxSession:
    """A run's Fargate task seen from the host. Holds no state of its own: any process can pick the run up."""

    def __init__(
        self,
        run_id: str,
        task_arn: str,
        limits: SandboxLimits,
        objects: RunObjects,
        poll_interval_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.run_id = run_id
        self.task_arn = task_arn
        self.limits = limits
        self.isolation = ISOLATION
        self.workspace = PurePosixPath(objects.prefix + "workspace")
        self._objects = objects
        self._poll_interval_s = poll_interval_s
        self._clock = clock
        self._sleep = sleep

    def execute(self, code: str, timeout_s: float | None = None) -> CellResult:
        timeout = timeout_s or self.limits.cell_timeout_s
        number = self._next_cell_number()
        self._objects.put(f"cells/{number}.json", json.dumps({"code": code, "timeout_s": timeout}).encode())
        deadline = self._clock() + timeout + RESULT_MARGIN_S
        while True:
            body = self._objects.get(f"results/{number}.json")
            if body is not None:
                return CellResult.model_validate_json(body)
            if self._clock() >= deadline:
                return self._lost_cell(timeout)
            self._sleep(self._poll_interval_s)

    def put_file(self, path: str, data: bytes) -> None:
        self._objects.put(f"inputs/{workspace_key(path)}", data)

    def read_file(self, path: str) -> bytes:
        key = workspace_key(path)
        for name in (f"workspace/{key}", f"inputs/{key}"):
            body = self._objects.get(name)
            if body is not None:
                return body
        raise FileNotFoundError(f"{path} is not in the workspace of run {self.run_id}")

    def list_files(self) -> list[WorkspaceFile]:
        body = self._objects.get("files.json")
        return WORKSPACE_FILES.validate_json(body) if body is not None else []

    def close(self) -> None:
        """Nothing is held on the host side; the task lives until end() or its idle timeout."""

    def _next_cell_number(self) -> int:
        numbers = [n for n in map(cell_number, self._objects.names("cells/")) if n is not None]
        return max(numbers, default=0) + 1

    def _lost_cell(self, timeout: float) -> CellResult:
        return CellResult(
            stdout="",
            stderr=f"[no result from the sandbox task within {timeout + RESULT_MARGIN_S:.0f}s; its state may be lost]",
            exit_code=137,
            duration_ms=round((timeout + RESULT_MARGIN_S) * 1000),
            limit="timeout",
        )


class FargateSandboxBackend:
    def __init__(
        self,
        ecs_client_factory: Callable[[], Any],
        s3_client_factory: Callable[[], Any],
        settings: FargateSandboxSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ecs_factory = ecs_client_factory
        self._s3_factory = s3_client_factory
        self.settings = settings
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def from_env(cls) -> FargateSandboxBackend:
        settings = FargateSandboxSettings()  # required fields come from the environment
        ecs_client, s3_client = client_factory("ecs", settings.region), client_factory("s3", settings.region)
        return cls(ecs_client, s3_client, settings)

    def session(self, run_id: str, limits: SandboxLimits, env: dict[str, str]) -> FargateSandboxSession:
        objects = self._objects(run_id)
        task = self._running_task(run_id)
        if task is None:
            objects.put("env.json", json.dumps(check_env(env)).encode())
            # A run ended earlier and started again must not see its old stop marker.
            objects.delete("stop")
            task = self._start_task(run_id, limits)
        task_arn = self._wait_until_running(task)
        return FargateSandboxSession(
            run_id, task_arn, limits, objects, self.settings.poll_interval_s, clock=self._clock, sleep=self._sleep
        )

    def end(self, run_id: str) -> None:
        self._objects(run_id).put("stop", b"")
        ecs = self._ecs_factory()
        for task in self._tasks_of(run_id):
            ecs.stop_task(cluster=self.settings.cluster_arn, task=task["taskArn"], reason="agentlab run ended")

    def reap_idle(self) -> list[str]:
        """Tasks end themselves after their idle timeout; there is nothing to reap from here."""
        return []

    def _objects(self, run_id: str) -> RunObjects:
        return RunObjects(self._s3_factory(), self.settings.bucket_name, run_id)

    def _tasks_of(self, run_id: str) -> list[dict[str, Any]]:
        ecs = self._ecs_factory()
        cluster = self.settings.cluster_arn
        arns = ecs.list_tasks(cluster=cluster, startedBy=run_id[:STARTED_BY_CHARS], desiredStatus="RUNNING")
        if not arns.get("taskArns"):
            return []
        tasks: list[dict[str, Any]] = ecs.describe_tasks(cluster=cluster, tasks=arns["taskArns"]).get("tasks", [])
        return [task for task in tasks if task.get("lastStatus") != STOPPED]

    def _running_task(self, run_id: str) -> dict[str, Any] | None:
        tasks = self._tasks_of(run_id)
        return tasks[0] if tasks else None

    def _start_task(self, run_id: str, limits: SandboxLimits) -> dict[str, Any]:
        settings = self.settings
        cpu, memory = task_size(settings.task_cpu, limits.memory_mb)
        response = self._ecs_factory().run_task(
            cluster=settings.cluster_arn,
            taskDefinition=settings.task_definition_arn,
            launchType="FARGATE",
            count=1,
            startedBy=run_id[:STARTED_BY_CHARS],
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
                        "environment": [
                            {"name": ENV_RUN_ID, "value": run_id},
                            {"name": ENV_BUCKET, "value": settings.bucket_name},
                            {"name": ENV_LIMITS, "value": limits.model_dump_json()},
                        ],
                    }
                ],
                "cpu": str(cpu),
                "memory": str(memory),
            },
            propagateTags="TASK_DEFINITION",
            tags=[{"key": "agentlab:run_id", "value": run_id}],
            enableExecuteCommand=False,
        )
        tasks = response.get("tasks") or []
        if not tasks:
            reasons = "; ".join(
                f"{f.get('arn', '')} {f.get('reason', '')}".strip() for f in response.get("failures", [])
            )
            raise SandboxUnavailable(
                f"no sandbox task could be placed for run {run_id}: {reasons or 'no reason given'}"
            )
        task: dict[str, Any] = tasks[0]
        return task

    def _wait_until_running(self, task: dict[str, Any]) -> str:
        task_arn: str = task["taskArn"]
        deadline = self._clock() + self.settings.start_timeout_s
        ecs = self._ecs_factory()
        while True:
            status = task.get("lastStatus")
            if status == "RUNNING":
                return task_arn
            if status == STOPPED:
                raise SandboxUnavailable(f"sandbox task stopped while starting: {task.get('stoppedReason', '')}")
            if self._clock() >= deadline:
                ecs.stop_task(cluster=self.settings.cluster_arn, task=task_arn, reason="sandbox start timed out")
                raise SandboxUnavailable(f"sandbox task not running after {self.settings.start_timeout_s:.0f}s")
            self._sleep(self.settings.poll_interval_s)
            described = ecs.describe_tasks(cluster=self.settings.cluster_arn, tasks=[task_arn]).get("tasks", [])
            task = described[0] if described else {"taskArn": task_arn, "lastStatus": STOPPED}


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
