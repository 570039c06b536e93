"""What a scheduled run's end does to its schedule: a success resets the failures in a row, a failure counts one, and
the `auto_pause_after`-th failure in a row pauses the schedule, disables its Scheduler schedule and is audited.

Called from `RunEvents.ended` (agentlab/workflow/run_events.py), which may run more than once for a run (a step's
retry, the janitor): the count is kept once per run by a marker written with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from agentlab.errors import NotFound
from agentlab.models import Run
from agentlab.models.schedule import Schedule
from agentlab.schedules.scheduler import SchedulerSync
from agentlab.store.audit import AuditStore
from agentlab.store.schedules import ScheduleStore

if TYPE_CHECKING:
    from agentlab.workflow.run_events import RunEvents

logger = Logger(service="agentlab")

# A cancellation is a person's decision, not a failure of the schedule: it moves nothing.
_SUCCEEDED = frozenset({"succeeded"})
_FAILED = frozenset({"failed", "budget_exceeded"})
PAUSE_ACTION = "schedules.auto_pause"


def record_schedule_outcome(events: RunEvents, run: Run) -> None:
    """The consequence of a scheduled run's end on its schedule (see the module's description)."""
    if run.schedule_id is None or run.status not in _SUCCEEDED | _FAILED:
        return
    store = ScheduleStore(events.table)
    try:
        counted = store.count_run_outcome(run.org_id, run.schedule_id, run.id, succeeded=run.status in _SUCCEEDED)
    except NotFound:
        return  # the schedule was deleted while its run ran
    if not counted.paused:
        return
    schedule = counted.schedule
    SchedulerSync(events.settings, events.clients).apply(schedule)
    AuditStore(events.table).record_platform_event(
        schedule.org_id,
        actor=f"schedule:{schedule.id}",
        action=PAUSE_ACTION,
        path=f"/v1/schedules/{schedule.id}",
        target=f"schedule_id={schedule.id},run_id={run.id}",
        request_id=run.id,
    )
    logger.warning(
        "a schedule paused after failed runs",
        extra={"org_id": schedule.org_id, "schedule_id": schedule.id, "reason": schedule.paused_reason},
    )
    schedule_paused(events, schedule, run)


def schedule_paused(events: RunEvents, schedule: Schedule, run: Run) -> None:
    """The `schedule.paused` webhook event, once per pause (its id names the schedule's revision at the pause)."""
    from agentlab.webhooks.events import event_id_for, publish

    publish(
        events.table,
        events.settings,
        events.clients,
        schedule.org_id,
        "schedule.paused",
        {
            "schedule": {
                "id": schedule.id,
                "name": schedule.name,
                "paused_reason": schedule.paused_reason,
                "consecutive_failures": schedule.consecutive_failures,
            },
            "run_id": run.id,
        },
        event_id_for("schedule", schedule.id, "schedule.paused", str(schedule.revision)),
    )
