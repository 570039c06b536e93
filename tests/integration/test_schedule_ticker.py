"""The local ticker on moto: it fires due schedules through the trigger handler with Scheduler's payload, once per
fire; after a pause in ticking a missed fire inside the grace window fires once and older ones are recorded missed."""

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
from agentlab.schedules.ticker import ScheduleTicker, TickerSettings
from agentlab.store.schedules import ScheduleStore

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def one_minute_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The minimum interval lowered, so that a rate(1 minute) schedule is allowed."""
    monkeypatch.setenv("AGENTLAB_SCHEDULE_MIN_INTERVAL_S", "60")


def invoke_trigger(platform: Platform, calls: list[dict[str, Any]]) -> Callable[[dict[str, Any]], Any]:
    def invoke(payload: dict[str, Any]) -> Any:
        calls.append(payload)
        return platform.registry.handler("schedule_trigger")(payload, LambdaContext("schedule_trigger", new_ulid()))

    return invoke


def new_schedule(api: EventClient, expression: str = "rate(1 minute)") -> dict[str, Any]:
    agent = api.post("/v1/agents", {"name": "ticking", "models": {"reasoning": ["scripted"]}}).json()["id"]
    response = api.post(
        "/v1/schedules", {"name": "every minute", "agent_id": agent, "prompt": "tick", "expression": expression}
    )
    assert response.status == 201, response.text
    return dict(response.json())


def created_at(schedule: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(schedule["created_at"])


def fires_of(api: EventClient, schedule_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/v1/schedules/{schedule_id}/fires", params={"limit": 200}).json()["items"])


def test_a_rate_schedule_fires_through_the_ticker_once_per_fire(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    # Given a rate(1 minute) schedule and a ticker on a clock the test moves
    schedule = new_schedule(api)
    clock = Clock(created_at(schedule) + timedelta(seconds=30))
    calls: list[dict[str, Any]] = []
    ticker = ScheduleTicker(
        ScheduleStore(platform.table), invoke_trigger(platform, calls), TickerSettings(), clock=clock
    )

    # When it ticks before the first fire, nothing happens
    assert ticker.tick().fired == []

    # When it ticks after the first fire, the trigger gets Scheduler's payload and a run starts
    clock.now = created_at(schedule) + timedelta(seconds=61)
    report = ticker.tick()
    assert len(report.fired) == 1 and report.missed == []
    first_fire = schedule["next_fires"][0]
    assert calls == [
        {
            "org_id": org[0],
            "schedule_id": schedule["id"],
            "scheduled_time": datetime.fromisoformat(first_fire).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ]
    fires = fires_of(api, schedule["id"])
    assert [f["outcome"] for f in fires] == ["started"]
    run = wait_for(api, fires[0]["run_id"], TERMINAL)
    assert run["schedule_id"] == schedule["id"]

    # And ticking again at the same moment fires nothing more
    assert ticker.tick().fired == []
    assert len(calls) == 1 and len(fires_of(api, schedule["id"])) == 1


def test_after_a_restart_the_latest_missed_fire_in_the_grace_window_fires_once(
    platform: Platform, api: EventClient
) -> None:
    # Given a rate(1 minute) schedule whose ticker was down for ten and a half minutes, with five minutes of grace
    schedule = new_schedule(api)
    clock = Clock(created_at(schedule) + timedelta(minutes=10, seconds=30))
    calls: list[dict[str, Any]] = []
    settings = TickerSettings(scheduler_grace_s=300)
    ticker = ScheduleTicker(ScheduleStore(platform.table), invoke_trigger(platform, calls), settings, clock=clock)

    # When it ticks
    report = ticker.tick()

    # Then the tenth minute's fire starts a run and the nine before it are recorded missed
    assert len(report.fired) == 1 and len(report.missed) == 9
    fires = fires_of(api, schedule["id"])
    assert [f["outcome"] for f in fires] == ["started"] + ["skipped"] * 9
    assert {f["reason"] for f in fires[1:]} == {"missed"}
    wait_for(api, fires[0]["run_id"], TERMINAL)
    # And a second tick owes nothing
    again = ticker.tick()
    assert (again.fired, again.missed) == ([], [])


def test_paused_schedules_are_not_ticked(platform: Platform, api: EventClient) -> None:
    schedule = new_schedule(api)
    api.post(f"/v1/schedules/{schedule['id']}/pause")
    clock = Clock(created_at(schedule) + timedelta(minutes=3))
    calls: list[dict[str, Any]] = []
    ticker = ScheduleTicker(
        ScheduleStore(platform.table), invoke_trigger(platform, calls), TickerSettings(), clock=clock
    )

    report = ticker.tick()

    assert (report.fired, report.missed, calls) == ([], [], [])
    assert fires_of(api, schedule["id"]) == []


def test_a_resumed_schedule_owes_no_fires_from_its_pause(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    # Given a rate(1 minute) schedule paused at once and resumed ten minutes later
    schedule = new_schedule(api)
    api.post(f"/v1/schedules/{schedule['id']}/pause")
    resumed_at = Clock(created_at(schedule) + timedelta(minutes=10))
    ScheduleStore(platform.table, clock=resumed_at).resume(org[0], schedule["id"])
    calls: list[dict[str, Any]] = []
    clock = Clock(created_at(schedule) + timedelta(minutes=11, seconds=1))
    ticker = ScheduleTicker(
        ScheduleStore(platform.table), invoke_trigger(platform, calls), TickerSettings(), clock=clock
    )

    # When it ticks a minute after the resume
    report = ticker.tick()

    # Then only the fire since the resume is made, and none of the pause's is recorded missed
    assert len(report.fired) == 1 and report.missed == []
    fires = fires_of(api, schedule["id"])
    assert len(fires) == 1
    wait_for(api, fires[0]["run_id"], TERMINAL)


def test_the_running_ticker_fires_a_one_time_schedule(platform: Platform, api: EventClient) -> None:
    # Given a schedule due in two seconds and a ticker running on the real clock
    due = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    schedule = new_schedule(api, expression=f"at({due:%Y-%m-%dT%H:%M:%S})")
    calls: list[dict[str, Any]] = []
    ticker = ScheduleTicker(
        ScheduleStore(platform.table), invoke_trigger(platform, calls), TickerSettings(scheduler_tick_s=0.1)
    )
    ticker.start()
    try:
        # When the time comes, the fire is made once
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not fires_of(api, schedule["id"]):
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        ticker.stop()

    fires = fires_of(api, schedule["id"])
    assert [f["outcome"] for f in fires] == ["started"] and len(calls) == 1
    assert fires[0]["scheduled_time"].startswith(f"{due:%Y-%m-%dT%H:%M:%S}")
    wait_for(api, fires[0]["run_id"], TERMINAL)
