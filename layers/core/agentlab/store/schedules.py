"""Schedules and their fires. The schedule records are the truth (EventBridge mirrors them); every write is
conditional on the revision read, and a fire is recorded once per scheduled time."""

from __future__ import annotations

import builtins
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
# A run's outcome counted once: a marker per run beside the schedule's fires.
OUTCOME_SK = "OUTCOME#{run_id}"
# Every schedule of every org, one index item each, written in the same transaction as the schedule: the local ticker
# and the Scheduler reconciliation walk it instead of scanning the table.
INDEX_PK = "SCHEDULES#INDEX"
INDEX_SK = "{org_id}#{schedule_id}"
# Fires are kept to the second, in UTC, so that keys sort in time order.
_FIRE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Computed when read, never stored.
_COMPUTED_FIELDS = {"status", "next_fires", "description"}
_MAX_WRITE_ATTEMPTS = 12


class IndexEntry(NamedTuple):
    org_id: str
    schedule_id: str
    active: bool
    # When the schedule last became active, or its expression changed: fires before it are not owed.
    active_since: datetime


class CountedOutcome(NamedTuple):
    schedule: Schedule
    # False when this run's outcome was counted before: nothing changed.
    counted: bool
    # True when this outcome paused the schedule.
    paused: bool


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


def _index_item(schedule: Schedule, active_since: datetime) -> dict[str, Any]:
    return {
        "PK": INDEX_PK,
        "SK": INDEX_SK.format(org_id=schedule.org_id, schedule_id=schedule.id),
        "entity": "schedule_index",
        "org_id": schedule.org_id,
        "schedule_id": schedule.id,
        "active": schedule.status == "active",
        "active_since": active_since.astimezone(UTC).isoformat(),
    }


def _active_since(before: Schedule, after: Schedule, previous: datetime, now: datetime) -> datetime:
    becomes_active = after.status == "active" and before.status != "active"
    moved = (before.expression, before.timezone) != (after.expression, after.timezone)
    return now if becomes_active or moved else previous


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
        self.table.transact(
            [
                self.table.op_put(_schedule_item(schedule), condition="attribute_not_exists(PK)"),
                self.table.op_put(_index_item(schedule, now)),
            ]
        )
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
        self.table.transact(
            [
                self._op_delete_at_revision(pk, sk, current.revision),
                self.table.op_delete(INDEX_PK, INDEX_SK.format(org_id=org_id, schedule_id=schedule_id)),
            ]
        )
        # The whole partition: fires and the markers of counted run outcomes.
        fires = self.table.iterate(partition=("PK", FIRES_PK.format(org_id=org_id, schedule_id=schedule_id)))
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

    def count_run_outcome(self, org_id: str, schedule_id: str, run_id: str, succeeded: bool) -> CountedOutcome:
        """`record_run_outcome` once per run: a marker for the run is written in the same transaction as the count,
        so a retried end of the same run counts nothing."""
        marker_pk = FIRES_PK.format(org_id=org_id, schedule_id=schedule_id)
        marker_sk = OUTCOME_SK.format(run_id=run_id)
        for attempt in range(_MAX_WRITE_ATTEMPTS):
            current = self._read(org_id, schedule_id)
            if self.table.get(marker_pk, marker_sk) is not None:
                return CountedOutcome(current.forecast(self._clock()), counted=False, paused=False)
            failures = 0 if succeeded else current.consecutive_failures + 1
            update: dict[str, Any] = {"consecutive_failures": failures}
            pauses = not succeeded and failures >= current.auto_pause_after and current.paused_reason is None
            if pauses:
                update["paused_reason"] = f"{failures} consecutive failed runs"
            marker = {
                "PK": marker_pk,
                "SK": marker_sk,
                "entity": "schedule_outcome",
                "run_id": run_id,
                "succeeded": succeeded,
                "recorded_at": self._clock().isoformat(),
            }
            try:
                updated = self._write_once(current, current.model_copy(update=update), marker=marker)
            except ConcurrentUpdate:
                pause_before_retry(attempt)
                continue
            return CountedOutcome(updated, counted=True, paused=pauses)
        raise ConcurrentUpdate(f"schedule {schedule_id} is being updated by too many writers; retry")

    # the cross-org index --------------------------------------------------------------------------------------

    def index(self) -> builtins.list[IndexEntry]:
        """Every schedule of every org, active or not."""
        return [
            IndexEntry(
                org_id=str(item["org_id"]),
                schedule_id=str(item["schedule_id"]),
                active=bool(item.get("active")),
                active_since=datetime.fromisoformat(str(item["active_since"])),
            )
            for item in self.table.iterate(partition=("PK", INDEX_PK))
        ]

    def latest_fire(self, org_id: str, schedule_id: str) -> ScheduleFire | None:
        page = self.table.query(
            partition=("PK", FIRES_PK.format(org_id=org_id, schedule_id=schedule_id)),
            sort_prefix=FIRE_SK_PREFIX,
            limit=1,
            cursor=None,
            newest_first=True,
        )
        return ScheduleFire.model_validate(entity_fields(page.items[0])) if page.items else None

    def get_fire(self, org_id: str, schedule_id: str, scheduled_time: datetime) -> ScheduleFire | None:
        item = self.table.get(*_fire_key(org_id, schedule_id, scheduled_time))
        return ScheduleFire.model_validate(entity_fields(item)) if item else None

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
        return sum(1 for fire in self.fires_on(org_id, schedule_id, day) if fire.outcome == "started")

    def fires_on(self, org_id: str, schedule_id: str, day: date) -> builtins.list[ScheduleFire]:
        """The fires of `day`, a calendar day in the schedule's timezone, oldest first."""
        schedule = self._read(org_id, schedule_id)
        zone = ZoneInfo(schedule.timezone)
        start = datetime.combine(day, time(), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone) - timedelta(seconds=1)
        bounds = (FIRE_SK.format(time=_fire_time(start)), FIRE_SK.format(time=_fire_time(end)))
        fires: builtins.list[ScheduleFire] = []
        cursor: str | None = None
        while True:
            page = self.table.query(
                partition=("PK", FIRES_PK.format(org_id=org_id, schedule_id=schedule_id)),
                sort_after=bounds,
                limit=100,
                cursor=cursor,
            )
            fires.extend(ScheduleFire.model_validate(entity_fields(item)) for item in page.items)
            if not page.next_cursor:
                return fires
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
            try:
                return self._write_once(current, change(current))
            except ConcurrentUpdate:
                if not retry:
                    raise
                pause_before_retry(attempt)
                continue
        raise ConcurrentUpdate(f"schedule {schedule_id} is being updated by too many writers; retry")

    def _write_once(
        self,
        current: Schedule,
        changed: Schedule,
        *,
        marker: dict[str, Any] | None = None,
    ) -> Schedule:
        """One conditional write of the schedule at the revision read, with its index item (and a new `marker`)."""
        now = self._clock()
        updated = Schedule.model_validate({**changed.model_dump(), "revision": current.revision + 1, "updated_at": now})
        index = self.table.get(INDEX_PK, INDEX_SK.format(org_id=current.org_id, schedule_id=current.id))
        previous = datetime.fromisoformat(str(index["active_since"])) if index else current.created_at
        operations = [
            self.table.op_put(
                _schedule_item(updated), condition="revision = :expected", values={":expected": current.revision}
            ),
            self.table.op_put(_index_item(updated, _active_since(current, updated, previous, now))),
        ]
        if marker is not None:
            operations.append(self.table.op_put(marker, condition="attribute_not_exists(PK)"))
        self.table.transact(operations)
        return updated.forecast(now)

    def _op_delete_at_revision(self, pk: str, sk: str, revision: int) -> dict[str, Any]:
        operation = self.table.op_delete(pk, sk, condition="revision = :expected")
        operation["Delete"]["ExpressionAttributeValues"] = serialize({":expected": revision})
        return operation
