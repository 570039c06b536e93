"""What follows a run's moments beyond its own record: its schedule's outcome, webhook events, usage roll-ups.

Every path that ends a run calls `RunEvents.ended` once it is terminal (Finalize, RecordFailure, a cancellation, the
janitor, a start that failed), and the approval gate calls `waiting_approval`. A step may be retried, so every
consequence is idempotent per run: a second call changes nothing and sends nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from agentlab.models import Run
from agentlab.store.table import Table

if TYPE_CHECKING:
    from agentlab.settings import CoreSettings

logger = Logger(service="agentlab")

# A consequence of a run's moment: (events, run) -> None. Each feature module appends its own in `_consequences`.
Consequence = Callable[["RunEvents", Run], None]


@dataclass
class RunEvents:
    table: Table
    settings: CoreSettings
    # The AWS clients of the process (agentlab.aws.AwsClients), for consequences that reach SQS or Scheduler.
    clients: Any = None
    # Given explicitly by tests; otherwise every feature's consequences.
    ended_consequences: list[Consequence] | None = None
    waiting_consequences: list[Consequence] | None = None

    def ended(self, run: Run) -> None:
        chosen = self.ended_consequences
        self._run_all(_ended_consequences() if chosen is None else chosen, run, "ended")

    def waiting_approval(self, run: Run) -> None:
        chosen = self.waiting_consequences
        self._run_all(_waiting_consequences() if chosen is None else chosen, run, "waiting_approval")

    def _run_all(self, consequences: list[Consequence], run: Run, moment: str) -> None:
        """Every consequence runs even when one fails; the first failure is raised afterwards so a step's retry (or
        the janitor) tries again, which each consequence survives by being idempotent."""
        first: Exception | None = None
        for consequence in consequences:
            try:
                consequence(self, run)
            except Exception as exc:
                logger.exception(
                    "a consequence of a run's moment failed",
                    extra={"run_id": run.id, "moment": moment, "consequence": consequence.__name__},
                )
                first = first or exc
        if first is not None:
            raise first


def _ended_consequences() -> list[Consequence]:
    """The consequences of a run's end, imported here so a step that never ends a run never loads them."""
    from agentlab.schedules.outcomes import record_schedule_outcome
    from agentlab.usage.rollup import record_run_usage
    from agentlab.webhooks.events import publish_run_ended

    return [record_run_usage, record_schedule_outcome, publish_run_ended]


def _waiting_consequences() -> list[Consequence]:
    from agentlab.webhooks.events import publish_run_waiting_approval

    return [publish_run_waiting_approval]
