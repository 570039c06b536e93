"""Schedules and their fires on DynamoDB (moto): org-scoped, conditional on revisions, one fire per scheduled time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agentlab.errors import ConcurrentUpdate, InvalidRequest, NotFound, Unprocessable
from agentlab.models.schedule import Schedule, ScheduleCreate, ScheduleUpdate, check_expression
from agentlab.store.schedules import ScheduleStore
from agentlab.store.schema import create_table_request
from agentlab.store.table import Table

TABLE = "agentlab-schedules"
ORG = "01JORGAAAAAAAAAAAAAAAAAAAA"
OTHER_ORG = "01JORGBBBBBBBBBBBBBBBBBBBB"
AGENT_ID = "01JSCHEDAGENTAAAAAAAAAAAAA"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def table() -> Iterator[Table]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**create_table_request(TABLE))
        yield Table(lambda: dynamodb, TABLE)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def store(table: Table, clock: Clock) -> ScheduleStore:
    return ScheduleStore(table, clock=clock)


def spec(**overrides: Any) -> ScheduleCreate:
    fields = {"name": "daily digest", "agent_id": AGENT_ID, "prompt": "summarise", "expression": "cron(0 9 * * ? *)"}
    return ScheduleCreate.model_validate(fields | overrides)


def test_a_created_schedule_reads_back_with_its_forecast(store: ScheduleStore) -> None:
    created = store.create(ORG, spec(timezone="Europe/Paris", daily_budget={"max_runs": 3}), created_by="user-1")

    read = store.get(ORG, created.id)

    assert read == created
    assert (read.org_id, read.created_by, read.revision, read.status) == (ORG, "user-1", 1, "active")
    assert read.daily_budget.max_runs == 3
    # 09:00 in Paris is 08:00 UTC in winter.
    assert read.next_fires == [datetime(2026, 12, day, 8, 0, tzinfo=UTC) for day in range(3, 8)]
    assert "09:00" in read.description and "Europe/Paris" in read.description


def test_the_forecast_is_computed_when_read_not_stored(store: ScheduleStore, table: Table, clock: Clock) -> None:
    created = store.create(ORG, spec())

    clock.now = NOW + timedelta(days=10)
    read = store.get(ORG, created.id)

    assert read.next_fires[0] == datetime(2026, 12, 13, 9, 0, tzinfo=UTC)
    item = table.get(f"ORG#{ORG}", f"SCHEDULE#{created.id}")
    assert item is not None and not {"next_fires", "description", "status"} & set(item)


def test_another_orgs_schedule_is_not_found(store: ScheduleStore) -> None:
    created = store.create(ORG, spec())

    with pytest.raises(NotFound):
        store.get(OTHER_ORG, created.id)
    with pytest.raises(NotFound):
        store.update(OTHER_ORG, created.id, ScheduleUpdate(prompt="mine now"))
    with pytest.raises(NotFound):
        store.delete(OTHER_ORG, created.id)
    with pytest.raises(NotFound):
        store.pause(OTHER_ORG, created.id, "no")
    with pytest.raises(NotFound):
        store.record_fire(OTHER_ORG, created.id, NOW, outcome="started")
    with pytest.raises(NotFound):
        store.list_fires(OTHER_ORG, created.id, limit=10, cursor=None)
    assert store.list(OTHER_ORG, limit=10, cursor=None).items == []
    assert store.get(ORG, created.id).revision == 1


def test_list_pages_newest_first(store: ScheduleStore) -> None:
    ids = [store.create(ORG, spec(name=f"s{i}")).id for i in range(5)]
    store.create(OTHER_ORG, spec(name="elsewhere"))

    first = store.list(ORG, limit=2, cursor=None)
    second = store.list(ORG, limit=2, cursor=first.next_cursor)
    third = store.list(ORG, limit=2, cursor=second.next_cursor)

    assert [s.id for s in first.items + second.items + third.items] == ids[::-1]
    assert third.next_cursor is None
    assert all(s.next_fires for s in first.items)


def test_a_cursor_from_another_org_is_refused(store: ScheduleStore) -> None:
    for i in range(3):
        store.create(ORG, spec(name=f"s{i}"))
    cursor = store.list(ORG, limit=1, cursor=None).next_cursor
    assert cursor is not None

    with pytest.raises(InvalidRequest):
        store.list(OTHER_ORG, limit=1, cursor=cursor)


def test_an_update_changes_only_the_fields_given(store: ScheduleStore) -> None:
    created = store.create(ORG, spec(env={"REGION": {"type": "str", "value": "eu"}}))

    updated = store.update(
        ORG, created.id, ScheduleUpdate.model_validate({"expression": "rate(2 hours)", "expected_revision": 1})
    )

    assert (updated.expression, updated.revision, updated.prompt) == ("rate(2 hours)", 2, "summarise")
    assert updated.env["REGION"].value == "eu"
    assert updated.description != created.description
    assert store.get(ORG, created.id) == updated


def test_an_update_at_a_stale_revision_is_a_concurrent_update(store: ScheduleStore) -> None:
    created = store.create(ORG, spec())
    store.update(ORG, created.id, ScheduleUpdate(prompt="first"))

    with pytest.raises(ConcurrentUpdate):
        store.update(ORG, created.id, ScheduleUpdate(prompt="second", expected_revision=1))

    assert store.get(ORG, created.id).prompt == "first"


def test_an_update_that_loses_a_race_is_applied_again_to_the_fresh_record(store: ScheduleStore) -> None:
    # Given another writer that counts a failed run between this update's read and its write
    created = store.create(ORG, spec())
    races = iter([True])

    def race(_: Schedule) -> None:
        if next(races, False):
            store.record_run_outcome(ORG, created.id, succeeded=False)

    # When the update writes, then it loses once, re-reads, and neither change is lost
    updated = store.update(ORG, created.id, ScheduleUpdate(prompt="new prompt"), check=race)

    assert (updated.prompt, updated.consecutive_failures, updated.revision) == ("new prompt", 1, 3)
    assert store.get(ORG, created.id) == updated


def test_an_update_guarded_by_its_revision_that_loses_a_race_is_refused(store: ScheduleStore) -> None:
    created = store.create(ORG, spec())

    def race(_: Schedule) -> None:
        store.record_run_outcome(ORG, created.id, succeeded=False)

    with pytest.raises(ConcurrentUpdate):
        store.update(ORG, created.id, ScheduleUpdate(prompt="lost", expected_revision=1), check=race)

    read = store.get(ORG, created.id)
    assert (read.prompt, read.consecutive_failures, read.revision) == ("summarise", 1, 2)


def test_an_update_may_be_refused_by_its_check_before_anything_is_written(store: ScheduleStore) -> None:
    created = store.create(ORG, spec())

    def check(schedule: Schedule) -> None:
        check_expression(schedule, 300, NOW)

    with pytest.raises(Unprocessable) as raised:
        store.update(ORG, created.id, ScheduleUpdate(expression="rate(1 minute)"), check=check)

    assert raised.value.code == "invalid_expression"
    assert store.get(ORG, created.id).expression == "cron(0 9 * * ? *)"


def test_disabling_shows_as_disabled(store: ScheduleStore) -> None:
    created = store.create(ORG, spec())

    assert store.update(ORG, created.id, ScheduleUpdate(enabled=False)).status == "disabled"


def test_delete_removes_the_schedule_and_its_fires(store: ScheduleStore, table: Table) -> None:
    created = store.create(ORG, spec())
    for hour in range(3):
        store.record_fire(ORG, created.id, NOW + timedelta(hours=hour), outcome="started", run_id=f"run-{hour}")

    store.delete(ORG, created.id)

    with pytest.raises(NotFound):
        store.get(ORG, created.id)
    assert list(table.iterate(partition=("PK", f"ORG#{ORG}#SCHEDULE#{created.id}"))) == []
    with pytest.raises(NotFound):
        store.record_fire(ORG, created.id, NOW + timedelta(days=1), outcome="started")


def test_a_fire_is_recorded_once_per_scheduled_time(store: ScheduleStore, clock: Clock) -> None:
    created = store.create(ORG, spec())

    first = store.record_fire(ORG, created.id, NOW, outcome="started", run_id="run-1")
    clock.now = NOW + timedelta(seconds=30)
    again = store.record_fire(ORG, created.id, NOW, outcome="started", run_id="run-2")

    assert not first.duplicate
    assert again.duplicate
    assert again.fire == first.fire
    assert again.fire.run_id == "run-1"
    assert [f.run_id for f in store.list_fires(ORG, created.id, limit=10, cursor=None).items] == ["run-1"]


def test_the_same_instant_in_another_offset_is_the_same_fire(store: ScheduleStore) -> None:
    created = store.create(ORG, spec())
    store.record_fire(ORG, created.id, NOW, outcome="started", run_id="run-1")

    again = store.record_fire(
        ORG, created.id, NOW.astimezone(timezone(timedelta(hours=5))), outcome="skipped", reason="daily_budget"
    )

    assert again.duplicate and again.fire.outcome == "started"


def test_a_started_fire_sets_last_fire_at_and_a_skipped_one_does_not(store: ScheduleStore) -> None:
    created = store.create(ORG, spec())

    store.record_fire(ORG, created.id, NOW, outcome="started", run_id="run-1")
    store.record_fire(ORG, created.id, NOW + timedelta(hours=1), outcome="skipped", reason="paused")

    read = store.get(ORG, created.id)
    assert read.last_fire_at == NOW
    assert read.revision == 2


def test_list_fires_pages_newest_first(store: ScheduleStore) -> None:
    created = store.create(ORG, spec())
    times = [NOW + timedelta(hours=hour) for hour in range(5)]
    for moment in times:
        store.record_fire(ORG, created.id, moment, outcome="skipped", reason="missed")

    first = store.list_fires(ORG, created.id, limit=3, cursor=None)
    second = store.list_fires(ORG, created.id, limit=3, cursor=first.next_cursor)

    assert [f.scheduled_time for f in first.items + second.items] == times[::-1]
    assert second.next_cursor is None
    assert {f.reason for f in first.items} == {"missed"}


def test_fires_today_counts_started_fires_of_the_schedules_day(store: ScheduleStore) -> None:
    # Given a schedule in Tokyo (UTC+9): its 3 December runs from 2 December 15:00 UTC to 3 December 15:00 UTC
    created = store.create(ORG, spec(timezone="Asia/Tokyo"))
    day_start = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    store.record_fire(ORG, created.id, day_start - timedelta(minutes=1), outcome="started")
    store.record_fire(ORG, created.id, day_start, outcome="started")
    store.record_fire(ORG, created.id, day_start + timedelta(hours=5), outcome="started")
    store.record_fire(ORG, created.id, day_start + timedelta(hours=6), outcome="skipped", reason="daily_budget")
    store.record_fire(ORG, created.id, day_start + timedelta(hours=24), outcome="started")

    assert store.fires_today(ORG, created.id, date(2026, 12, 3)) == 2
    assert store.fires_today(ORG, created.id, date(2026, 12, 2)) == 1


def test_the_nth_failure_in_a_row_pauses_the_schedule(store: ScheduleStore) -> None:
    created = store.create(ORG, spec(auto_pause_after=3))

    after_two = [store.record_run_outcome(ORG, created.id, succeeded=False) for _ in range(2)][-1]
    after_three = store.record_run_outcome(ORG, created.id, succeeded=False)

    assert (after_two.status, after_two.consecutive_failures) == ("active", 2)
    assert (after_three.status, after_three.consecutive_failures) == ("paused", 3)
    assert after_three.paused_reason == "3 consecutive failed runs"
    assert store.get(ORG, created.id).status == "paused"


def test_a_success_resets_the_failures_in_a_row(store: ScheduleStore) -> None:
    created = store.create(ORG, spec(auto_pause_after=3))
    store.record_run_outcome(ORG, created.id, succeeded=False)
    store.record_run_outcome(ORG, created.id, succeeded=False)

    reset = store.record_run_outcome(ORG, created.id, succeeded=True)
    store.record_run_outcome(ORG, created.id, succeeded=False)
    store.record_run_outcome(ORG, created.id, succeeded=False)

    assert reset.consecutive_failures == 0
    assert store.get(ORG, created.id).status == "active"


def test_a_pause_by_hand_keeps_its_reason_through_failures(store: ScheduleStore) -> None:
    created = store.create(ORG, spec(auto_pause_after=1))
    store.pause(ORG, created.id, "maintenance")

    after = store.record_run_outcome(ORG, created.id, succeeded=False)

    assert (after.status, after.paused_reason) == ("paused", "maintenance")


def test_resume_lifts_the_pause_and_resets_failures(store: ScheduleStore) -> None:
    created = store.create(ORG, spec(auto_pause_after=2))
    store.record_run_outcome(ORG, created.id, succeeded=False)
    store.record_run_outcome(ORG, created.id, succeeded=False)

    resumed = store.resume(ORG, created.id)

    assert (resumed.status, resumed.paused_reason, resumed.consecutive_failures) == ("active", None, 0)
    assert store.record_run_outcome(ORG, created.id, succeeded=False).status == "active"


def test_an_invalid_expression_or_timezone_is_unprocessable_with_its_code() -> None:
    with pytest.raises(Unprocessable) as expression:
        check_expression(spec(expression="cron(61 * * * ? *)"), 60, NOW)
    with pytest.raises(Unprocessable) as zone:
        check_expression(spec(timezone="Europe/Atlantis"), 60, NOW)

    assert expression.value.code == "invalid_expression" and "minutes" in expression.value.message
    assert zone.value.code == "invalid_timezone" and "Europe/Atlantis" in zone.value.message
