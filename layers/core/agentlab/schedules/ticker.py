"""The local stack's stand-in for EventBridge Scheduler, whose moto double never fires: every few seconds it looks over
the active schedules of every org and invokes the trigger handler with the payload Scheduler would send.

What is due is worked out from the records alone, so a restart loses nothing: a schedule owes the fires after its
latest recorded fire (or after it became active, whichever is later) up to now. Of those, the latest inside the grace
window fires, once; the others are recorded as skipped (`missed`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agentlab.errors import NotFound
from agentlab.models.common import utc_now
from agentlab.models.schedule import Schedule
from agentlab.schedules.expressions import ExpressionError, parse_expression
from agentlab.settings import CoreSettings
from agentlab.store.schedules import IndexEntry, ScheduleStore

logger = logging.getLogger(__name__)

# At most this many owed fires of one schedule are looked at per tick (a stack stopped for weeks catches up in turns).
MAX_OWED_FIRES = 100

Invoke = Callable[[dict[str, Any]], Any]


class TickerSettings(CoreSettings):
    # AGENTLAB_SCHEDULER_TICK_S: how often the ticker looks for due fires.
    scheduler_tick_s: float = 15.0
    # AGENTLAB_SCHEDULER_GRACE_S: how late a fire may still be made (after a restart, say) instead of being missed.
    scheduler_grace_s: float = 300.0


@dataclass
class TickReport:
    fired: list[tuple[str, datetime]] = field(default_factory=list)
    missed: list[tuple[str, datetime]] = field(default_factory=list)


def trigger_payload(schedule: Schedule, scheduled_time: datetime) -> dict[str, Any]:
    """The payload Scheduler sends (schedules/scheduler.py, `trigger_input`), with the time filled in as it does."""
    return {
        "org_id": schedule.org_id,
        "schedule_id": schedule.id,
        "scheduled_time": scheduled_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class ScheduleTicker:
    def __init__(
        self,
        store: ScheduleStore,
        invoke: Invoke,
        settings: TickerSettings,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.invoke = invoke
        self.settings = settings
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> TickReport:
        """One look over every active schedule: due fires made, missed ones recorded."""
        report = TickReport()
        now = self._clock()
        for entry in self.store.index():
            if not entry.active:
                continue
            try:
                self._tick_one(entry, now, report)
            except Exception:  # one schedule's trouble must not stop the others'
                logger.exception("a schedule's tick failed", extra={"schedule_id": entry.schedule_id})
        return report

    def _tick_one(self, entry: IndexEntry, now: datetime, report: TickReport) -> None:
        try:
            schedule = self.store.get(entry.org_id, entry.schedule_id)
        except NotFound:
            return
        owed = self._owed_fires(schedule, entry, now)
        if not owed:
            return
        grace_start = now - timedelta(seconds=self.settings.scheduler_grace_s)
        in_grace = [moment for moment in owed if moment >= grace_start]
        due = in_grace[-1] if in_grace else None
        for moment in owed:
            if moment == due:
                continue
            self.store.record_fire(schedule.org_id, schedule.id, moment, outcome="skipped", reason="missed")
            report.missed.append((schedule.id, moment))
        if due is not None:
            self.invoke(trigger_payload(schedule, due))
            report.fired.append((schedule.id, due))

    def _owed_fires(self, schedule: Schedule, entry: IndexEntry, now: datetime) -> list[datetime]:
        """The fires after the latest recorded one (or the moment the schedule became active) up to `now`."""
        latest = self.store.latest_fire(schedule.org_id, schedule.id)
        since = entry.active_since
        if latest is not None:
            # Fires are recorded to the second: the recorded one's own moment lies within the second after it.
            since = max(since, latest.scheduled_time + timedelta(seconds=1))
        try:
            # Read as of its creation, as its forecast is: a rate counts from there.
            parsed = parse_expression(schedule.expression, schedule.timezone, min_interval_s=0, now=schedule.created_at)
        except ExpressionError:
            return []
        return [moment for moment in parsed.next_fires(since, MAX_OWED_FIRES) if moment <= now]

    # the loop ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.settings.scheduler_tick_s):
                try:
                    self.tick()
                except Exception:
                    logger.exception("the schedule ticker's tick failed")

        self._thread = threading.Thread(target=loop, name="schedule-ticker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def start_ticker(store: ScheduleStore, invoke: Invoke, settings: TickerSettings | None = None) -> ScheduleTicker:
    ticker = ScheduleTicker(store, invoke, settings or TickerSettings())
    ticker.start()
    return ticker
