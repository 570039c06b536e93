"""The schedule trigger handler on moto: a fire starts a run that records its schedule, a duplicate delivery makes no
second run, skips are recorded with their reason (paused, disabled, daily budget, org quota), and failed runs in a
row pause the schedule, disable its Scheduler schedule and are audited."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apiclient import EventClient
from moto_platform import Platform
from run_checks import wait_for

from agentlab.ids import new_ulid
from agentlab.local.functions import LambdaContext
from agentlab.models.org import OrgQuotas
from agentlab.schedules.outcomes import PAUSE_ACTION, record_schedule_outcome
from agentlab.schedules.scheduler import schedule_name
from agentlab.store.runs import RunStore
from agentlab.workflow.run_events import RunEvents

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
GROUP = "agentlab-schedules"
# A moment of today's afternoon (UTC), so fires an hour apart fall on the same day.
DAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)

Trigger = Callable[[datetime], dict[str, Any]]


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def wait_until(check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("the condition did not hold in time")


def new_schedule(api: EventClient, **fields: Any) -> dict[str, Any]:
    agent = api.post("/v1/agents", {"name": "scheduled", "models": {"reasoning": ["scripted"]}}).json()["id"]
    body = {"name": "digest", "agent_id": agent, "prompt": "summarise", "expression": "rate(1 hour)", **fields}
    response = api.post("/v1/schedules", body)
    assert response.status == 201, response.text
    return dict(response.json())


def trigger_for(platform: Platform, org_id: str, schedule_id: str) -> Trigger:
    """The trigger handler invoked with the payload Scheduler sends for `scheduled_time`."""

    def fire(scheduled_time: datetime) -> dict[str, Any]:
        payload = {
            "org_id": org_id,
            "schedule_id": schedule_id,
            "scheduled_time": scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        result: dict[str, Any] = platform.registry.handler("schedule_trigger")(
            payload, LambdaContext("schedule_trigger", new_ulid())
        )
        return result

    return fire


def fires_of(api: EventClient, schedule_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/v1/schedules/{schedule_id}/fires", params={"limit": 200}).json()["items"])


def schedule_runs(api: EventClient) -> list[dict[str, Any]]:
    return [run for run in api.get("/v1/runs", params={"limit": 200}).json()["items"] if run["schedule_id"]]


def test_a_fire_starts_a_run_that_records_its_schedule(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    schedule = new_schedule(api)
    fire = trigger_for(platform, org[0], schedule["id"])

    result = fire(at(1))

    assert result["outcome"] == "started" and result["duplicate"] is False
    run = wait_for(api, result["run_id"], TERMINAL)
    assert run["schedule_id"] == schedule["id"] and run["prompt"] == "summarise"
    assert run["created_by"] == schedule["created_by"]
    assert [(f["outcome"], f["run_id"]) for f in fires_of(api, schedule["id"])] == [("started", run["id"])]


def test_a_duplicate_delivery_makes_no_second_run(platform: Platform, api: EventClient, org: tuple[str, str]) -> None:
    schedule = new_schedule(api)
    fire = trigger_for(platform, org[0], schedule["id"])

    first = fire(at(1))
    second = fire(at(1))

    assert second["duplicate"] is True and second["run_id"] == first["run_id"]
    wait_for(api, first["run_id"], TERMINAL)
    assert [run["id"] for run in schedule_runs(api)] == [first["run_id"]]
    assert len(fires_of(api, schedule["id"])) == 1


def test_a_delivery_whose_fire_record_was_lost_finds_the_run_under_its_key(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    # Given a fire whose run started but whose fire record is gone (as if the first delivery died in between)
    schedule = new_schedule(api)
    fire = trigger_for(platform, org[0], schedule["id"])
    first = fire(at(1))
    wait_for(api, first["run_id"], TERMINAL)
    fire_pk = f"ORG#{org[0]}#SCHEDULE#{schedule['id']}"
    platform.table.delete(fire_pk, f"FIRE#{at(1):%Y-%m-%dT%H:%M:%SZ}")

    # When the delivery comes again, the idempotency key returns the same run
    again = fire(at(1))

    assert again["outcome"] == "started" and again["run_id"] == first["run_id"]
    assert len(schedule_runs(api)) == 1


def test_paused_and_disabled_schedules_record_skipped_fires(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    schedule = new_schedule(api)
    fire = trigger_for(platform, org[0], schedule["id"])

    api.post(f"/v1/schedules/{schedule['id']}/pause", {"reason": "maintenance"})
    paused = fire(at(1))
    api.post(f"/v1/schedules/{schedule['id']}/resume")
    api.request("PATCH", f"/v1/schedules/{schedule['id']}", {"enabled": False})
    disabled = fire(at(2))

    assert (paused["outcome"], paused["reason"]) == ("skipped", "paused")
    assert (disabled["outcome"], disabled["reason"]) == ("skipped", "disabled")
    assert [(f["outcome"], f["reason"]) for f in fires_of(api, schedule["id"])] == [
        ("skipped", "disabled"),
        ("skipped", "paused"),
    ]
    assert schedule_runs(api) == []


def test_the_daily_run_budget_skips_fires(platform: Platform, api: EventClient, org: tuple[str, str]) -> None:
    schedule = new_schedule(api, daily_budget={"max_runs": 2})
    fire = trigger_for(platform, org[0], schedule["id"])

    results = [fire(at(hours)) for hours in (1, 2, 3)]

    assert [r["outcome"] for r in results] == ["started", "started", "skipped"]
    assert results[2]["reason"] == "daily_budget" and "daily budget of 2" in results[2]["detail"]
    for result in results[:2]:
        wait_for(api, result["run_id"], TERMINAL)
    assert fires_of(api, schedule["id"])[0]["reason"] == "daily_budget"
    # The next day has a budget of its own
    assert fire(at(24))["outcome"] == "started"


def test_the_daily_cost_budget_counts_the_runs_of_the_day(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    # Given a schedule whose first run of the day cost more than its daily budget
    schedule = new_schedule(api, daily_budget={"max_cost_usd": 0.5})
    fire = trigger_for(platform, org[0], schedule["id"])
    first = fire(at(1))
    wait_for(api, first["run_id"], TERMINAL)
    platform.table.set_fields(
        f"ORG#{org[0]}",
        f"RUN#{first['run_id']}",
        {"usage": {"steps": 1, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.75, "cost_known": True}},
    )

    # When it fires again that day
    second = fire(at(2))

    # Then the fire is skipped, with the reason
    assert (second["outcome"], second["reason"]) == ("skipped", "daily_budget")
    assert "0.5 USD" in second["detail"]


def test_the_org_quota_skips_fires(platform: Platform, api: EventClient) -> None:
    org = platform.orgs.create_org("small", quotas=OrgQuotas(runs_per_day=1))
    _, key = platform.orgs.create_api_key(org.id, name="admin", role="admin")
    admin = platform.api(key)
    schedule = new_schedule(admin)
    fire = trigger_for(platform, org.id, schedule["id"])

    first, second = fire(at(1)), fire(at(2))

    assert first["outcome"] == "started"
    assert (second["outcome"], second["reason"]) == ("skipped", "org_quota")
    wait_for(admin, first["run_id"], TERMINAL)


def test_a_fire_of_a_deleted_schedule_records_nothing(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    schedule = new_schedule(api)
    api.delete(f"/v1/schedules/{schedule['id']}")

    result = trigger_for(platform, org[0], schedule["id"])(at(1))

    assert result["outcome"] is None and result["detail"] == "schedule not found"
    assert schedule_runs(api) == []


def test_a_malformed_event_is_refused(platform: Platform) -> None:
    handler = platform.registry.handler("schedule_trigger")

    with pytest.raises(ValueError, match="scheduled_time"):
        handler({"org_id": "o", "schedule_id": new_ulid()}, LambdaContext("schedule_trigger", new_ulid()))


def test_three_failing_runs_pause_the_schedule(
    platform: Platform, api: EventClient, org: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a schedule mirrored to Scheduler, and a model step that always fails
    monkeypatch.setenv("AGENTLAB_SCHEDULER_GROUP_NAME", GROUP)
    monkeypatch.setenv("AGENTLAB_SCHEDULE_TRIGGER_ARN", "arn:aws:lambda:us-east-1:123456789012:function:trigger")
    monkeypatch.setenv("AGENTLAB_SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/scheduler")
    platform.clients.scheduler.create_schedule_group(Name=GROUP)
    schedule = new_schedule(api)

    def broken_think(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("the model is down")

    platform.registry._handlers["think"] = broken_think
    fire = trigger_for(platform, org[0], schedule["id"])

    # When three fires in a row end in failed runs
    for n in range(1, 4):
        result = fire(at(n))
        assert result["outcome"] == "started", result
        assert wait_for(api, result["run_id"], TERMINAL)["status"] == "failed"
        wait_until(lambda n=n: api.get(f"/v1/schedules/{schedule['id']}").json()["consecutive_failures"] == n)

    # Then the schedule is paused with the reason, its Scheduler schedule disabled, and the pause audited
    paused = api.get(f"/v1/schedules/{schedule['id']}").json()
    assert paused["status"] == "paused" and paused["paused_reason"] == "3 consecutive failed runs"
    # (the record is written first, then its mirror and the audit, as the run's end is reported)
    name = schedule_name(org[0], schedule["id"])
    wait_until(lambda: platform.clients.scheduler.get_schedule(Name=name, GroupName=GROUP)["State"] == "DISABLED")
    wait_until(lambda: len(api.get("/v1/audit", params={"action": PAUSE_ACTION}).json()["items"]) == 1)
    audit = api.get("/v1/audit", params={"action": PAUSE_ACTION}).json()["items"]
    assert len(audit) == 1 and schedule["id"] in audit[0]["target"]
    # And the next fire is skipped
    assert fire(at(4))["reason"] == "paused"


def test_a_runs_outcome_counts_once_however_often_its_end_is_reported(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    # Given a scheduled run that failed, counted once
    schedule = new_schedule(api, auto_pause_after=2)

    def broken_think(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("the model is down")

    platform.registry._handlers["think"] = broken_think
    result = trigger_for(platform, org[0], schedule["id"])(at(1))
    assert wait_for(api, result["run_id"], TERMINAL)["status"] == "failed"
    wait_until(lambda: api.get(f"/v1/schedules/{schedule['id']}").json()["consecutive_failures"] == 1)
    failed = RunStore(platform.table).get(org[0], result["run_id"])
    events = RunEvents(platform.table, platform.settings, platform.clients)

    # When its end is reported again and again (a retried step, the janitor)
    for _ in range(3):
        record_schedule_outcome(events, failed)

    # Then it still counts once: one failure in a row, below the pause at two
    after = api.get(f"/v1/schedules/{schedule['id']}").json()
    assert after["consecutive_failures"] == 1 and after["status"] == "active"
