"""Schedules and webhooks on the local stack as a user runs it (`agentlab dev`): the ticker fires a rate(...)
schedule, a daily budget skips a fire, failed runs pause a schedule and a signed `schedule.paused` reaches an
endpoint, bad input is refused and another org sees nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from run_checks import wait_for
from stack_process import LocalStackProcess, free_port
from webhook_receiver import Receiver

pytestmark = pytest.mark.e2e
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
# Short enough to watch: the ticker looks every second, and a schedule may fire every minute.
STACK_ENV = {
    "AGENTLAB_SCHEDULER_TICK_S": "1",
    "AGENTLAB_SCHEDULE_MIN_INTERVAL_S": "60",
    "AGENTLAB_WEBHOOKS_ALLOW_LOOPBACK": "1",
}
# A rate(1 minute) schedule's first fire comes a minute after it is created; the run after it takes seconds.
FIRE_TIMEOUT_S = 150


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStackProcess]:
    stack = LocalStackProcess(tmp_path / "data", free_port(), extra_env=STACK_ENV)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def eventually(check: Callable[[], Any], timeout_s: float = FIRE_TIMEOUT_S, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


def created(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def fires(client: httpx.Client, schedule_id: str) -> list[dict[str, Any]]:
    return list(client.get(f"/v1/schedules/{schedule_id}/fires").json()["items"])


def test_schedules_fire_skip_pause_and_notify_on_the_local_stack(stack: LocalStackProcess, receiver: Receiver) -> None:
    with stack.client() as client:
        # Given an endpoint for schedule pauses, and an agent
        hook = created(client, "/v1/webhooks", {"url": receiver.url, "events": ["schedule.paused"]})
        receiver.secret = hook["secret"]
        agent = created(client, "/v1/agents", {"name": "nightly", "models": {"reasoning": ["scripted"]}})["id"]
        base = {"agent_id": agent, "prompt": "summarise the day", "expression": "rate(1 minute)"}

        # Bad expressions and timezones are refused with the reason, and nothing is stored
        for bad, field in (
            ({"expression": "cron(0 9 * * * *)"}, "expression"),
            ({"expression": "rate(30 seconds)"}, "expression"),
            ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ):
            refused = client.post("/v1/schedules", json={**base, "name": "bad", **bad})
            assert refused.status_code == 422, refused.text
            assert field in refused.text
        assert client.get("/v1/schedules").json()["items"] == []

        # A schedule whose runs fail (a goal check that never passes, two steps at most), paused after two failures
        failing = created(
            client,
            "/v1/schedules",
            {
                **base,
                "name": "failing",
                "goal": {"criterion": "impossible", "check": "assert False, 'never met'"},
                "budget": {"max_steps": 2},
                "auto_pause_after": 2,
            },
        )
        # A schedule that may start one run a day, which a run-now spends at once
        limited = created(client, "/v1/schedules", {**base, "name": "limited", "daily_budget": {"max_runs": 1}})
        assert limited["status"] == "active" and len(limited["next_fires"]) == 5
        assert "minute" in limited["description"].lower()
        spent = client.post(f"/v1/schedules/{limited['id']}/run-now")
        assert spent.status_code == 201, spent.text
        assert wait_for(client, spent.json()["id"], TERMINAL)["schedule_id"] == limited["id"]

        # When the ticker reaches the first fire time, the failing schedule starts a run ...
        started = eventually(
            lambda: [f for f in fires(client, failing["id"]) if f["outcome"] == "started"],
            what="the failing schedule's first fire",
        )
        first = wait_for(client, started[0]["run_id"], TERMINAL, timeout_s=FIRE_TIMEOUT_S)
        assert first["status"] in {"failed", "budget_exceeded"} and first["schedule_id"] == failing["id"]
        # ... and the limited schedule's fire is skipped: its day's budget is spent
        skipped = eventually(
            lambda: [f for f in fires(client, limited["id"]) if f["outcome"] == "skipped"],
            what="the limited schedule's skipped fire",
        )
        assert skipped[0]["reason"] == "daily_budget"
        assert [f["outcome"] for f in fires(client, limited["id"]) if f["outcome"] == "started"] == ["started"]
        eventually(
            lambda: client.get(f"/v1/schedules/{failing['id']}").json()["consecutive_failures"] == 1,
            timeout_s=90,
            what="the first failure being counted",
        )

        # When a second run fails, the schedule pauses with the reason
        second = client.post(f"/v1/schedules/{failing['id']}/run-now")
        assert second.status_code == 201, second.text
        wait_for(client, second.json()["id"], TERMINAL, timeout_s=FIRE_TIMEOUT_S)
        # The failure is counted once the run's last step reports its end; a fresh clone's full run once waited past
        # 30 s for it (cause not yet known), so the wait is generous and a timeout names the schedule and the run.
        paused = eventually(
            lambda: (s := client.get(f"/v1/schedules/{failing['id']}").json())["status"] == "paused" and s,
            timeout_s=90,
            what=f"the pause of {failing['id']} after run {second.json()['id']}",
        )
        assert paused["paused_reason"] == "2 consecutive failed runs"

        # And the endpoint received a schedule.paused event it could verify
        delivery = eventually(lambda: [r for r in receiver.received if r.verified], timeout_s=60, what="the delivery")
        event = json.loads(delivery[0].body)
        assert event["type"] == "schedule.paused"
        assert event["data"]["schedule"]["id"] == failing["id"]
        assert hook["secret"] not in delivery[0].body.decode()
        log = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"]
        assert [(d["event_type"], d["status"]) for d in log] == [("schedule.paused", "succeeded")]

        # Another org sees none of it
        other = created(client, "/v1/orgs", {"name": "Other"})["api_key"]["key"]
        with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {other}"}, timeout=30) as intruder:
            assert intruder.get(f"/v1/schedules/{failing['id']}").status_code == 404
            assert intruder.post(f"/v1/schedules/{failing['id']}/run-now").status_code == 404
            assert intruder.get("/v1/schedules").json()["items"] == []
