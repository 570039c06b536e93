"""Schedules and their fires. The schedule records are the truth (EventBridge mirrors them); every write is
conditional on the revision read, and a fire is recorded once per scheduled time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from agentlab.errors import ConcurrentUpdate, NotFound
from agentlab.ids import new_ulid
from agentlab.models.common import utc_now
from agentlab.models.schedule import FireOutcome, FireReason, Schedule, ScheduleCreate, ScheduleFire, ScheduleUpdate
from agentlab.store.table import QueryPage, Table, entity_fields, pause_before_retry, serialize

# Item keys: the schedule beside the org's other records, its fires in a partition of their own (newest last).
SCHEDULE_PK = "ORG#{org_id}"
SCHEDULE_SK = "SCHEDULE#{schedule_id}"
SCHEDULE_SK_PREFIX = "SCHEDULE#"
FIRES_PK = "ORG#{org_id}#SCHEDULE#{schedule_id}"
FIRE_SK = "FIRE#{time}"
FIRE_SK_PREFIX = "FIRE#"
# Fires are kept to the second, in UTC, so that keys sort in time order.
_FIRE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Computed when read, never stored.
_COMPUTED_FIELDS = {"status", "next_fires", "description"}
_MAX_WRITE_ATTEMPTS = 12


class RecordedFire(NamedTuple):
    fire: ScheduleFire
    # True when this scheduled time was recorded before: `fire` is that first record.
    duplicate: bool


def _schedule_key(org_id: str, schedule_id: str) -> tuple[str, str]:
    return SCHEDULE_PK.format(org_id=org_id), SCHEDULE_SK.format(schedule_id=schedule_id)


def _fire_key(org_id: str, schedule_id: str, scheduled_time: datetime) -> tuple[str, str]:
    return FIRES_PK.format(org_id=org_id, schedule_id=schedule_id), FIRE_SK.format(time=_fire_time(scheduled_time))


def _fire_time(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a fire time must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC).strftime(_FIRE_TIME_FORMAT)


def _schedule_item(schedule: Schedule) -> dict[str, Any]:
    pk, sk = _schedule_key(schedule.org_id, schedule.id)
    return {"PK": pk, "SK": sk, "entity": "schedule", **schedule.model_dump(mode="json", exclude=_COMPUTED_FIELDS)}


class ScheduleStore:
    def __init__(self, table: Table, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.table = table
        self._clock = clock

    # schedules ------------------------------------------------------------------------------------------------

    def create(self, org_id: str, spec: ScheduleCreate, *, created_by: str = "") -> Schedule:
        now = self._clock()
        schedule = Schedule(
            id=new_ulid(), org_id=org_id, created_by=created_by, created_at=now, updated_at=now, **spec.model_dump()
        )
        self.table.put_new(_schedule_item(schedule))
        return schedule.forecast(now)

    def get(self, org_id: str, schedule_id: str) -> Schedule:
        return self._read(org_id, schedule_id).forecast(self._clock())

    def list(self, org_id: str, *, limit: int, cursor: str | None) -> QueryPage[Schedule]:
        """Newest first (ids are ULIDs)."""
        now = self._clock()
        page = self.table.query(
            partition=("PK", SCHEDULE_PK.format(org_id=org_id)),
            sort_prefix=SCHEDULE_SK_PREFIX,
            limit=limit,
            cursor=cursor,
            newest_first=True,
        )
        return page.map(lambda item: Schedule.model_validate(entity_fields(item)).forecast(now))

    def update(
        self,
        org_id: str,
        schedule_id: str,
        change: ScheduleUpdate,
        *,
        check: Callable[[Schedule], None] | None = None,
    ) -> Schedule:
        """Apply a partial update. With `expected_revision`, a schedule at another revision is a ConcurrentUpdate;
        without, a lost race is retried on the fresh record. `check` may refuse the schedule as it would become
        (the API checks its expression there), before anything is written."""
        fields = change.model_dump(exclude_unset=True, exclude={"expected_revision"})

        def apply(current: Schedule) -> Schedule:
            if change.expected_revision is not None and change.expected_revision != current.revision:
                raise ConcurrentUpdate(
                    f"schedule is at revision {current.revision}, not {change.expected_revision}; reload and retry"
                )
            updated = Schedule.model_validate(
                {**current.model_dump(), **{name: getattr(change, name) for name in fields}}
            )
            if check is not None:
                check(updated)
            return updated

        return self._write(org_id, schedule_id, apply, retry=change.expected_revision is None)

    def delete(self, org_id: str, schedule_id: str) -> None:
        """Delete the schedule, then its fires (a fire recorded in between finds no schedule and is refused)."""
        current = self._read(org_id, schedule_id)
        pk, sk = _schedule_key(org_id, schedule_id)
        # Conditional on the revision read: a fire or an update in between is not silently lost with it.
        self.table.transact([self._op_delete_at_revision(pk, sk, current.revision)])
        fires = self.table.iterate(
            partition=("PK", FIRES_PK.format(org_id=org_id, schedule_id=schedule_id)), sort_prefix=FIRE_SK_PREFIX
        )
        self.table.delete_many([(item["PK"], item["SK"]) for item in fires])

    def pause(self, org_id: str, schedule_id: str, reason: str) -> Schedule:
        if not reason:
            raise ValueError("a pause needs a reason")
        return self._write(org_id, schedule_id, lambda current: current.model_copy(update={"paused_reason": reason}))

    def resume(self, org_id: str, schedule_id: str) -> Schedule:
        """Lift a pause and start counting failures afresh."""
        return self._write(
            org_id,
            schedule_id,
            lambda current: current.model_copy(update={"paused_reason": None, "consecutive_failures": 0}),
        )

    def record_run_outcome(self, org_id: str, schedule_id: str, succeeded: bool) -> Schedule:
        """Count a finished run: a success resets the failures in a row; the `auto_pause_after`-th failure in a row
        pauses the schedule, in the same conditional write."""

        def count(current: Schedule) -> Schedule:
            if succeeded:
                return current.model_copy(update={"consecutive_failures": 0})
            failures = current.consecutive_failures + 1
            update: dict[str, Any] = {"consecutive_failures": failures}
            if failures >= current.auto_pause_after and current.paused_reason is None:
                update["paused_reason"] = f"{failures} consecutive failed runs"
            return current.model_copy(update=update)

        return self._write(org_id, schedule_id, count)

    # fires ----------------------------------------------------------------------------------------------------

    def record_fire(
        self,
        org_id: str,
        schedule_id: str,
        scheduled_time: datetime,
        *,
        outcome: FireOutcome,
        reason: FireReason | None = None,
        run_id: str | None = None,
    ) -> RecordedFire:
        """Record a fire once per scheduled time: a second record of the same time writes nothing and returns the
        first, as a duplicate. A started fire also sets the schedule's `last_fire_at`, in the same transaction."""
        fire = ScheduleFire(
            schedule_id=schedule_id,
            scheduled_time=scheduled_time.astimezone(UTC).replace(microsecond=0),
            recorded_at=self._clock(),
            outcome=outcome,
            reason=reason,
            run_id=run_id,
        )
        fire_pk, fire_sk = _fire_key(org_id, schedule_id, scheduled_time)
        pk, sk = _schedule_key(org_id, schedule_id)
        schedule_key = serialize({"PK": pk, "SK": sk})
        schedule_op: dict[str, Any]
        if outcome == "started":
            # The revision moves too, so that a writer holding the record from before cannot put the old time back.
            schedule_op = {
                "Update": {
                    "TableName": self.table.name,
                    "Key": schedule_key,
                    "UpdateExpression": "SET last_fire_at = :t, revision = revision + :one",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": serialize(
                        {":t": fire.scheduled_time.isoformat().replace("+00:00", "Z"), ":one": 1}
                    ),
                }
            }
        else:
            schedule_op = {
                "ConditionCheck": {
                    "TableName": self.table.name,
                    "Key": schedule_key,
                    "ConditionExpression": "attribute_exists(PK)",
                }
            }
        try:
            self.table.transact(
                [
                    self.table.op_put(
                        {"PK": fire_pk, "SK": fire_sk, "entity": "schedule_fire", **fire.model_dump(mode="json")},
                        condition="attribute_not_exists(PK)",
                    ),
                    schedule_op,
                ]
            )
        except ConcurrentUpdate:
            first = self.table.get(fire_pk, fire_sk)
            if first is not None:
                return RecordedFire(ScheduleFire.model_validate(entity_fields(first)), duplicate=True)
            raise NotFound(f"schedule {schedule_id} not found") from None
        return RecordedFire(fire, duplicate=False)

    def list_fires(self, org_id: str, schedule_id: str, *, limit: int, cursor: str | None) -> QueryPage[ScheduleFire]:
        """Newest scheduled time first."""
        self._read(org_id, schedule_id)
        page = self.table.query(
            partition=("PK", FIRES_PK.format(org_id=org_id, schedule_id=schedule_id)),
            sort_prefix=FIRE_SK_PREFIX,
            limit=limit,
            cursor=cursor,
            newest_first=True,
        )
        return page.map(lambda item: ScheduleFire.model_validate(entity_fields(item)))

    def fires_today(self, org_id: str, schedule_id: str, day: date) -> int:
        """How many fires started a run on `day`, a calendar day in the schedule's timezone (its daily budget's)."""
        schedule = self._read(org_id, schedule_id)
        zone = ZoneInfo(schedule.timezone)
        start = datetime.combine(day, time(), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone) - timedelta(seconds=1)
        bounds = (FIRE_SK.format(time=_fire_time(start)), FIRE_SK.format(time=_fire_time(end)))
        started = 0
        cursor: str | None = None
        while True:
            page = self.table.query(
                partition=("PK", FIRES_PK.format(org_id=org_id, schedule_id=schedule_id)),
                sort_after=bounds,
                limit=100,
                cursor=cursor,
            )
            started += sum(1 for item in page.items if item["outcome"] == "started")
            if not page.next_cursor:
                return started
            cursor = page.next_cursor

    # internals ------------------------------------------------------------------------------------------------

    def _read(self, org_id: str, schedule_id: str) -> Schedule:
        item = self.table.get(*_schedule_key(org_id, schedule_id))
        if not item:
            raise NotFound(f"schedule {schedule_id} not found")
        return Schedule.model_validate(entity_fields(item))

    def _write(
        self, org_id: str, schedule_id: str, change: Callable[[Schedule], Schedule], *, retry: bool = True
    ) -> Schedule:
        """Read, apply `change`, write conditionally on the revision read; a lost race re-reads and re-applies."""
        for attempt in range(_MAX_WRITE_ATTEMPTS):
            current = self._read(org_id, schedule_id)
            updated = Schedule.model_validate(
                {**change(current).model_dump(), "revision": current.revision + 1, "updated_at": self._clock()}
            )
            try:
                self.table.put_if_revision(_schedule_item(updated), attribute="revision", expected=current.revision)
            except ConcurrentUpdate:
                if not retry:
                    raise
                pause_before_retry(attempt)
                continue
            return updated.forecast(self._clock())
        raise ConcurrentUpdate(f"schedule {schedule_id} is being updated by too many writers; retry")

    def _op_delete_at_revision(self, pk: str, sk: str, revision: int) -> dict[str, Any]:
        operation = self.table.op_delete(pk, sk, condition="revision = :expected")
        operation["Delete"]["ExpressionAttributeValues"] = serialize({":expected": revision})
        return operation
