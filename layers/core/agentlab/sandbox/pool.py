"""The warm pool: sandbox tasks started ahead of any run, so that a run's first cell does not wait for Fargate.

A warm task is started exactly as a run's task is (agentlab.sandbox.fargate.run_sandbox_task: the same task
definition, no task role, nothing secret in its overrides), under a random label instead of a run id: `startedBy` is
the label, the task answers its health probe as the label, and its bearer token, made on the trusted side, is kept
in the task's pool record (agentlab.store.sandbox_pool) while nobody has it; the task itself knows only its SHA-256.

A run claims a task with one conditional write that takes the token out of the record as it marks the task the
run's: two runs racing for one task cannot both get it, and a claimed task is never offered again. The claiming run
then probes the task and sends the start request that carries its environment (nothing of the run reaches the task
earlier), and records the task as its session; from there on it is the run's task like any other, stopped by end()
and never reused. A warm task that is gone when claimed is stopped, its record dropped, and the next one is tried;
with none left the run starts a cold task as before.

The janitor keeps the pool at its size (refill): it drops the records of tasks that stopped, stops warm tasks older
than the pool's max age (so the pool runs the current image and task definition) and starts what is missing. A warm
task's idle timeout is that max age and a little more, so one the janitor lost track of still ends by itself; a
claimed task's idleness is the janitor's to watch, as for any run's task.

Only runs whose limits are the pool's (the default limits, but for the idle timeout) can claim a warm task: the
limits fix the task's size and the kernel's rlimits at start.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agentlab.models import utc_now
from agentlab.sandbox import channel
from agentlab.sandbox.errors import SandboxUnavailable
from agentlab.sandbox.fargate import (
    RUNNING,
    STARTED_BY_CHARS,
    STOPPED,
    FargateSandboxSettings,
    run_sandbox_task,
    stopped_reason,
    task_address,
)
from agentlab.sandbox.models import SandboxLimits
from agentlab.store.sandbox_pool import POOL_LABEL_PREFIX, PoolTaskRecord, SandboxPoolStore

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE_S = 3_600.0
# A warm task ends itself this long after its max age if no janitor stopped it (one janitor period and some).
SELF_STOP_MARGIN_S = 600.0
# A pool task with no record (the janitor died between RunTask and the write) is stopped once it is this old.
UNRECORDED_GRACE_S = 300.0
DESCRIBE_BATCH = 100  # ecs:DescribeTasks takes at most 100 tasks


def new_pool_label() -> str:
    """`pool-` and random hex, as long as ECS lets startedBy be: unique per task, never a run id."""
    return POOL_LABEL_PREFIX + secrets.token_hex(STARTED_BY_CHARS)[: STARTED_BY_CHARS - len(POOL_LABEL_PREFIX)]


def pool_limits(max_age_s: float = DEFAULT_MAX_AGE_S, base: SandboxLimits | None = None) -> SandboxLimits:
    """The limits a warm task starts with: the defaults, with an idle timeout past the pool's max age."""
    return (base or SandboxLimits()).model_copy(update={"idle_timeout_s": max_age_s + SELF_STOP_MARGIN_S})


def fits(run_limits: SandboxLimits, task_limits: SandboxLimits) -> bool:
    """Whether a task started with task_limits serves a run of run_limits: everything but the idle timeout, which
    the janitor enforces for claimed tasks, must be the same."""
    keep = {"idle_timeout_s"}
    return run_limits.model_dump(exclude=keep) == task_limits.model_dump(exclude=keep)


@dataclass(frozen=True)
class WarmTask:
    """A task claimed for one run: its token went to this claim alone."""

    label: str
    task_arn: str
    token: str
    address: str


@dataclass
class RefillReport:
    started: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # records of tasks that had stopped
    retired: list[str] = field(default_factory=list)  # warm tasks stopped for their age
    warm: int = 0  # unclaimed, running tasks after the refill
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "dropped": self.dropped,
            "retired": self.retired,
            "warm": self.warm,
            "failures": self.failures,
        }


class SandboxPool:
    def __init__(
        self,
        ecs: Callable[[], Any],
        store: SandboxPoolStore,
        settings: FargateSandboxSettings,
        *,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._ecs = ecs
        self.store = store
        self.settings = settings
        self.max_age_s = max_age_s
        self._clock = clock

    @property
    def limits(self) -> SandboxLimits:
        return pool_limits(self.max_age_s)

    # the run's side -------------------------------------------------------------------------------------------------
    def claim(self, run_id: str, limits: SandboxLimits) -> WarmTask | None:
        """A warm task that runs, given to run_id alone; None when the pool has none for these limits. Claimed tasks
        that turn out to be gone are stopped and dropped on the way."""
        for record in self._unclaimed():
            if not fits(limits, SandboxLimits.model_validate_json(record.limits)):
                continue
            claimed = self.store.claim(record.label, run_id)
            if claimed is None or claimed.token is None:
                continue  # another run got it first
            task = self._describe([claimed.task_arn]).get(claimed.task_arn, {"lastStatus": STOPPED})
            address = task_address(task) if task.get("lastStatus") == RUNNING else None
            if address is None:
                self.discard(claimed, f"it was {task.get('lastStatus')} when claimed: {stopped_reason(task)}")
                continue
            logger.info("run %s claimed warm sandbox task %s", run_id, claimed.task_arn)
            return WarmTask(label=claimed.label, task_arn=claimed.task_arn, token=claimed.token, address=address)
        return None

    def discard(self, record: PoolTaskRecord | WarmTask, reason: str) -> None:
        """Stop a pool task and drop its record (a dead claim, or one whose start failed)."""
        logger.info("dropping warm sandbox task %s: %s", record.task_arn, reason)
        self._stop(record.task_arn, f"agentlab pool: {reason}")
        self.store.drop(record.label, record.task_arn)

    # the janitor's side ---------------------------------------------------------------------------------------------
    def refill(self, size: int) -> RefillReport:
        """Bring the pool to `size` unclaimed running tasks younger than the max age."""
        report = RefillReport()
        records = self.store.list()
        tasks = self._describe([record.task_arn for record in records])
        now = self._clock()
        warm = 0
        for record in records:
            task = tasks.get(record.task_arn)
            if task is None or task.get("lastStatus") == STOPPED:
                # Stopped: a claimed one's run is over (its own session record goes with end()); a warm one died.
                self.store.drop(record.label, record.task_arn)
                report.dropped.append(record.task_arn)
                continue
            if record.claimed:
                continue
            if now - record.started_at > timedelta(seconds=self.max_age_s):
                self.discard(record, f"older than the pool's max age of {self.max_age_s:.0f}s")
                report.retired.append(record.task_arn)
                continue
            warm += 1
        for _ in range(max(size - warm, 0)):
            try:
                report.started.append(self.start_one())
            except SandboxUnavailable as exc:
                # No capacity now: the next sweep tries again, and runs start cold meanwhile.
                report.failures.append(str(exc))
                break
            warm += 1
        report.warm = warm
        return report

    def start_one(self) -> str:
        """Start one warm task and record it; its ARN."""
        label = new_pool_label()
        token = channel.new_token()
        limits = self.limits
        task_arn = run_sandbox_task(
            self._ecs(),
            self.settings,
            started_by=label,
            answers_as=label,
            limits=limits,
            token_sha256=channel.token_digest(token),
            tags={"agentlab:pool": label},
        )
        record = PoolTaskRecord(
            label=label, task_arn=task_arn, limits=limits.model_dump_json(), started_at=self._clock(), token=token
        )
        try:
            self.store.add(record)
        except BaseException:
            self._stop(task_arn, "agentlab pool: its record could not be written")
            raise
        logger.info("started warm sandbox task %s (%s)", task_arn, label)
        return task_arn

    def owner(self, label: str) -> tuple[bool, str | None]:
        """Whether the pool knows the task of this label, and the run that claimed it (None while it is warm)."""
        record = self.store.get(label)
        return (record is not None, record.claimed_by if record is not None else None)

    # ECS ------------------------------------------------------------------------------------------------------------
    def _unclaimed(self) -> Iterator[PoolTaskRecord]:
        yield from (record for record in self.store.list() if not record.claimed)

    def _describe(self, arns: list[str]) -> dict[str, dict[str, Any]]:
        described: dict[str, dict[str, Any]] = {}
        for start in range(0, len(arns), DESCRIBE_BATCH):
            answer = self._ecs().describe_tasks(
                cluster=self.settings.cluster_arn, tasks=arns[start : start + DESCRIBE_BATCH]
            )
            described.update({task["taskArn"]: task for task in answer.get("tasks", [])})
        return described

    def _stop(self, task_arn: str, reason: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._ecs().stop_task(cluster=self.settings.cluster_arn, task=task_arn, reason=reason[:255])
        except ClientError as exc:
            logger.warning("warm sandbox task %s could not be stopped: %s", task_arn, exc)
