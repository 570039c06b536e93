"""Usage through the HTTP API, from real local runs: each run's cost by component, the roll-ups per day, agent, model,
schedule and user that sum to the runs, the range checks, tenancy and roles, and the monthly budget's alerts at 50, 80
and 100 % (audit record, webhook delivery, metric), each sent once however often a run's end is reported."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apiclient import EventClient
from moto_platform import Platform
from run_checks import IDLE_WEBHOOK_URL, error_of, table_items, wait_for

from agentlab import metrics
from agentlab.store.runs import RunStore
from agentlab.usage.rollup import THRESHOLD_ACTION, check_budget, record_run_usage
from agentlab.workflow.run_events import RunEvents

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
CELL_AND_FINISH = [{"tool": "python", "code": "x = sum(range(1000))\nprint(x)"}, {"tool": "finish", "answer": "done"}]
FINISH = [{"tool": "finish", "answer": "done"}]
COMPONENTS = ("model", "sandbox", "orchestration", "lambda", "storage")
GROUPINGS = ("day", "agent", "model", "schedule", "user")


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def new_agent(api: EventClient, name: str) -> str:
    response = api.post("/v1/agents", {"name": name, "models": {"reasoning": ["scripted"]}})
    assert response.status == 201, response.text
    return str(response.json()["id"])


def rolled_up_run(api: EventClient, run_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """The run once its end is rolled up: the status is written before Finalize records the usage."""
    wait_for(api, run_id, TERMINAL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = dict(api.get(f"/v1/runs/{run_id}").json())
        if run.get("cost") is not None:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} ended but its usage was not rolled up")


def run_script(api: EventClient, agent_id: str, script: list[dict[str, Any]] = FINISH) -> dict[str, Any]:
    created = api.post("/v1/runs", {"agent_id": agent_id, "prompt": "go", "script": script})
    assert created.status == 201, created.text
    return rolled_up_run(api, created.json()["id"])


def usage(api: EventClient, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/usage", params=params)
    assert response.status == 200, response.text
    return dict(response.json())


def sum_of(groups: list[dict[str, Any]], *path: str) -> float:
    total = 0.0
    for group in groups:
        value: Any = group
        for part in path:
            value = value[part]
        total += value
    return total


def events_for(platform: Platform) -> RunEvents:
    return RunEvents(platform.table, platform.settings, platform.clients)


# a run's breakdown ----------------------------------------------------------------------------------------------
def test_a_run_shows_its_cost_by_component(platform: Platform, api: EventClient) -> None:
    agent = new_agent(api, "costed")

    # When a run executes a cell and finishes through the real workflow
    run = run_script(api, agent, CELL_AND_FINISH)

    # Then its breakdown has every platform component, the scripted model costing nothing, and sums to its total
    cost = run["cost"]
    assert run["status"] == "succeeded" and run["usage"]["sandbox_s"] > 0
    assert cost["model"] == 0 and run["usage"]["cost_usd"] == 0  # the scripted stand-in is free
    assert all(cost[part] > 0 for part in ("sandbox", "orchestration", "lambda", "storage")), cost
    assert cost["total"] == pytest.approx(sum(cost[part] for part in COMPONENTS), abs=1e-9)
    # And the usage stays the model's alone, as the budgets read it
    assert run["usage"]["cost_usd"] == cost["model"]


# roll-ups --------------------------------------------------------------------------------------------------------
def test_totals_equal_the_sum_of_the_runs_and_every_grouping_sums_to_them(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    # Given runs of two agents, by the admin's key and by a member's key, one started by a schedule
    first, second = new_agent(api, "first"), new_agent(api, "second")
    member_key = api.post("/v1/api-keys", {"name": "ci bot", "role": "member"}).json()["key"]
    member = platform.api(member_key)
    schedule = api.post(
        "/v1/schedules",
        {"name": "nightly", "agent_id": second, "prompt": "go", "expression": "rate(1 hour)"},
    ).json()
    runs = [run_script(api, first, CELL_AND_FINISH), run_script(api, first), run_script(member, second)]
    fired = api.post(f"/v1/schedules/{schedule['id']}/run-now")
    assert fired.status == 201, fired.text
    runs.append(rolled_up_run(api, fired.json()["id"]))

    # When the usage is asked for, grouped each way
    reports = {group_by: usage(api, group_by=group_by) for group_by in GROUPINGS}

    # Then the total is the sum of the runs, whatever the grouping, and so is the sum of each grouping's groups
    total = reports["day"]["total"]
    assert total["runs"]["succeeded"] == len(runs) == 4
    assert total["cost"]["total"] == pytest.approx(sum(run["cost"]["total"] for run in runs), abs=1e-9)
    for part in COMPONENTS:
        assert total["cost"][part] == pytest.approx(sum(run["cost"][part] for run in runs), abs=1e-9), part
    assert total["input_tokens"] == sum(run["usage"]["input_tokens"] for run in runs)
    assert total["sandbox_seconds"] == pytest.approx(sum(run["usage"]["sandbox_s"] for run in runs), abs=1e-3)
    assert total["state_transitions"] > 0 and total["cost_known"] is True
    for group_by, report in reports.items():
        assert report["total"] == total and report["group_by"] == group_by and report["currency"] == "USD"
        groups = report["groups"]
        assert sum_of(groups, "cost", "total") == pytest.approx(total["cost"]["total"], abs=1e-9), group_by
        assert sum_of(groups, "runs", "succeeded") == 4, group_by
        assert sum_of(groups, "state_transitions") == total["state_transitions"], group_by

    # And each group is labelled with what people know it by
    def by_label(group_by: str) -> dict[str, dict[str, Any]]:
        return {group["label"]: group for group in reports[group_by]["groups"]}

    agents = by_label("agent")
    assert set(agents) == {"first", "second"}
    assert agents["first"]["key"] == first and agents["first"]["runs"]["succeeded"] == 2
    assert agents["second"]["runs"]["succeeded"] == 2
    assert agents["first"]["sandbox_seconds"] > agents["second"]["sandbox_seconds"]
    schedules = by_label("schedule")
    assert set(schedules) == {"nightly", "not scheduled"}
    assert schedules["nightly"]["key"] == schedule["id"] and schedules["nightly"]["runs"]["succeeded"] == 1
    users = by_label("user")
    assert set(users) == {"test", "ci bot"}  # the names of the admin's and the member's keys
    assert users["ci bot"]["runs"]["succeeded"] == 1 and users["test"]["runs"]["succeeded"] == 3
    models = reports["model"]["groups"]
    steps = api.get(f"/v1/runs/{runs[0]['id']}/steps").json()["items"]
    model_ids = {step["model_id"] for step in steps if step["model_id"]}
    assert [group["key"] for group in models] == sorted(model_ids) and models[0]["runs"]["succeeded"] == 4
    days = reports["day"]["groups"]
    assert days[-1]["key"] == today() and days[-1]["runs"]["succeeded"] == 4
    assert days[-1]["cost"] == total["cost"]


def test_day_groups_list_every_day_of_the_range_with_zeros(platform: Platform, api: EventClient) -> None:
    run_script(api, new_agent(api, "daily"))
    end = datetime.now(UTC).date()
    start = end - timedelta(days=6)

    report = usage(api, **{"from": start.isoformat(), "to": end.isoformat()})

    assert report["from"] == start.isoformat() and report["to"] == end.isoformat()
    assert [group["key"] for group in report["groups"]] == [(start + timedelta(days=n)).isoformat() for n in range(7)]
    assert [group["runs"]["succeeded"] for group in report["groups"]] == [0, 0, 0, 0, 0, 0, 1]
    assert all(group["cost"]["total"] == 0 for group in report["groups"][:-1])
    # And by default the range is the last 30 days, by day
    default = usage(api)
    assert default["group_by"] == "day" and len(default["groups"]) == 30 and default["to"] == today()
    # And a range that ended before the run holds nothing
    earlier = usage(api, **{"from": start.isoformat(), "to": (end - timedelta(days=1)).isoformat()})
    assert earlier["total"]["runs"]["succeeded"] == 0 and len(earlier["groups"]) == 6


def test_bad_queries_answer_422_and_write_nothing(platform: Platform, api: EventClient) -> None:
    run_script(api, new_agent(api, "checked"))
    before = table_items(platform)
    year_ago = (datetime.now(UTC).date() - timedelta(days=366)).isoformat()

    error_of(api.get("/v1/usage", params={"from": "2026-12-02", "to": "2026-12-01"}), 422, "invalid_range")
    long = error_of(api.get("/v1/usage", params={"from": year_ago}), 422, "invalid_range")
    assert "367 days" in long["message"] and "366" in long["message"]
    impossible = error_of(api.get("/v1/usage", params={"from": "2026-02-30"}), 422, "invalid_date")
    assert "from" in impossible["message"]
    error_of(api.get("/v1/usage", params={"to": "yesterday"}), 422, "validation_error")
    error_of(api.get("/v1/usage", params={"group_by": "week"}), 422, "validation_error")
    error_of(api.put("/v1/usage/budget", {"monthly_usd": -1}), 422, "validation_error")
    error_of(api.put("/v1/usage/budget", {"monthly_usd": 5, "extra": 1}), 422, "validation_error")

    assert table_items(platform) == before
    # A range of exactly 366 days is allowed
    assert usage(api, **{"from": (datetime.now(UTC).date() - timedelta(days=365)).isoformat()})["total"]


def test_another_org_sees_none_of_it_and_only_an_admin_sets_the_budget(platform: Platform, api: EventClient) -> None:
    run_script(api, new_agent(api, "private"))
    assert api.put("/v1/usage/budget", {"monthly_usd": 10}).status == 200

    # Another org sees no runs, no cost and no budget
    _, other_key = platform.new_org("globex")
    other = platform.api(other_key)
    for group_by in GROUPINGS:
        report = usage(other, group_by=group_by)
        assert report["total"]["cost"]["total"] == 0 and report["total"]["runs"]["succeeded"] == 0
        assert all(group["cost"]["total"] == 0 for group in report["groups"]), group_by
    assert other.get("/v1/usage/budget").json()["monthly_usd"] is None

    # A viewer reads the usage and the budget, and may not set it; nor may a member or an operator
    for role in ("viewer", "member", "operator"):
        lower = platform.api(api.post("/v1/api-keys", {"name": role, "role": role}).json()["key"])
        assert usage(lower)["total"]["runs"]["succeeded"] == 1, role
        shown = lower.get("/v1/usage/budget")
        assert shown.status == 200 and shown.json()["monthly_usd"] == 10, role
        error_of(lower.put("/v1/usage/budget", {"monthly_usd": 1_000}), 403, "forbidden")
    assert api.get("/v1/usage/budget").json()["monthly_usd"] == 10

    # The admin removes it with null, and the change is audited
    removed = api.put("/v1/usage/budget", {"monthly_usd": None})
    assert removed.status == 200 and removed.json()["monthly_usd"] is None
    audit = api.get("/v1/audit").json()["items"]
    assert [record["action"] for record in audit[:2]] == ["usage.budget", "usage.budget"]


# the budget ------------------------------------------------------------------------------------------------------
@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Endpoints on this machine are allowed (read by the API at cold start), as in the local stack."""
    monkeypatch.setenv("AGENTLAB_WEBHOOKS_ALLOW_LOOPBACK", "1")


def threshold_audits(api: EventClient) -> list[str]:
    items = api.get("/v1/audit", params={"limit": 200}).json()["items"]
    return sorted(record["target"] for record in items if record["action"] == THRESHOLD_ACTION)


def test_budget_thresholds_each_alert_once(
    platform: Platform, api: EventClient, org: tuple[str, str], loopback: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an endpoint subscribed to usage.threshold, the metric watched, and a first run
    hook = api.post("/v1/webhooks", {"url": IDLE_WEBHOOK_URL, "events": ["usage.threshold"]})
    assert hook.status == 201, hook.text
    counted: list[int] = []
    original = metrics.usage_threshold

    def watched(percent: int) -> None:
        counted.append(percent)
        original(percent)

    monkeypatch.setattr(metrics, "usage_threshold", watched)
    agent = new_agent(api, "spender")
    first = run_script(api, agent)
    month = datetime.now(UTC).strftime("%Y-%m")
    assert api.get("/v1/usage/budget").json() == {
        "monthly_usd": None,
        "month": month,
        "spent_usd": pytest.approx(first["cost"]["total"], abs=1e-9),
        "alerts_sent": [],
    }

    # When a tiny budget is set, about four and a half such runs, and runs end one after another until it is spent
    budget = round(first["cost"]["total"] * 4.5, 10)
    assert api.put("/v1/usage/budget", {"monthly_usd": budget}).status == 200
    spent, seen = first["cost"]["total"], []
    while spent < budget:
        spent += run_script(api, agent)["cost"]["total"]
        shown = api.get("/v1/usage/budget").json()
        # Then after each run the alerts sent are exactly the thresholds the month's spend has reached
        assert shown["spent_usd"] == pytest.approx(spent, abs=1e-9)
        assert shown["alerts_sent"] == [p for p in (50, 80, 100) if spent * 100 >= budget * p], (spent, budget)
        seen.append(shown["alerts_sent"])
    assert seen[-1] == [50, 80, 100] and len({tuple(s) for s in seen}) >= 3  # reached over several runs

    # And each was sent once: one audit record, one recorded delivery and one metric each
    expected_audit = [f"month={month},percent={percent}" for percent in (100, 50, 80)]
    assert threshold_audits(api) == expected_audit
    deliveries = api.get(f"/v1/webhooks/{hook.json()['id']}/deliveries").json()["items"]
    assert sorted(d["event_type"] for d in deliveries) == ["usage.threshold"] * 3
    assert sorted(counted) == [50, 80, 100]

    # When another run ends and a run's end is reported again, nothing more is sent
    run_script(api, agent)
    record_run_usage(events_for(platform), RunStore(platform.table).get(org[0], first["id"]))
    assert check_budget(events_for(platform), org[0], month) == []
    assert threshold_audits(api) == expected_audit and sorted(counted) == [50, 80, 100]
    assert len(api.get(f"/v1/webhooks/{hook.json()['id']}/deliveries").json()["items"]) == 3


def test_a_budget_set_below_the_spend_alerts_at_the_next_runs_end(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    agent = new_agent(api, "late")
    first = run_script(api, agent)
    assert api.put("/v1/usage/budget", {"monthly_usd": round(first["cost"]["total"] / 2, 10)}).status == 200
    assert api.get("/v1/usage/budget").json()["alerts_sent"] == []

    run_script(api, agent)

    assert api.get("/v1/usage/budget").json()["alerts_sent"] == [50, 80, 100]
    assert len(threshold_audits(api)) == 3


def test_a_retried_end_counts_once(platform: Platform, api: EventClient, org: tuple[str, str]) -> None:
    run = run_script(api, new_agent(api, "retried"), CELL_AND_FINISH)
    before = {group_by: usage(api, group_by=group_by) for group_by in GROUPINGS}
    stored = RunStore(platform.table).get(org[0], run["id"])

    # When the run's end is reported twice more (a step's retry, the janitor)
    record_run_usage(events_for(platform), stored)
    record_run_usage(events_for(platform), stored)

    # Then every roll-up and the run's breakdown are as they were
    assert {group_by: usage(api, group_by=group_by) for group_by in GROUPINGS} == before
    assert before["day"]["total"]["runs"]["succeeded"] == 1
    assert api.get(f"/v1/runs/{run['id']}").json()["cost"] == run["cost"]


def test_the_document_describes_the_usage_routes(api: EventClient) -> None:
    document = api.get("/v1/openapi.json").json()
    report = document["paths"]["/v1/usage"]["get"]
    assert report["summary"] == "Show usage and cost" and "Requires the viewer role" in report["description"]
    assert {p["name"] for p in report["parameters"]} == {"from", "to", "group_by"}
    assert all(p.get("description") for p in report["parameters"])
    # A calendar date, as the server reads it (`0862-49-35` has the digits and is no date).
    assert all(p["schema"]["format"] == "date" for p in report["parameters"] if p["name"] in {"from", "to"})
    assert "`invalid_range`" in report["responses"]["422"]["description"]
    assert report["responses"]["200"]["content"]["application/json"]["example"]["group_by"] == "day"
    put = document["paths"]["/v1/usage/budget"]["put"]
    assert "Requires the admin role" in put["description"] and "403" in put["responses"]
    assert put["requestBody"]["content"]["application/json"]["example"] == {"monthly_usd": 50.0}
    assert "Requires the viewer role" in document["paths"]["/v1/usage/budget"]["get"]["description"]


def test_runs_ending_together_each_count_once(platform: Platform, api: EventClient) -> None:
    # Given runs started at once, whose ends add to the same day's items together
    agent = new_agent(api, "parallel")
    started = [api.post("/v1/runs", {"agent_id": agent, "prompt": "go", "script": FINISH}).json() for _ in range(4)]

    runs = [rolled_up_run(api, run["id"]) for run in started]

    total = usage(api)["total"]
    assert total["runs"]["succeeded"] == 4
    assert total["cost"]["total"] == pytest.approx(sum(run["cost"]["total"] for run in runs), abs=1e-9)


def test_deleting_the_org_removes_its_usage(platform: Platform, api: EventClient, org: tuple[str, str]) -> None:
    run_script(api, new_agent(api, "gone"))
    assert api.put("/v1/usage/budget", {"monthly_usd": 0.000001}).status == 200
    run_script(api, new_agent(api, "alerting"))
    assert api.get("/v1/usage/budget").json()["alerts_sent"] == [50, 80, 100]

    deleted = api.delete(f"/v1/orgs/{org[0]}", params={"confirm": "acme"})

    assert deleted.status == 200, deleted.text
    left = [key for key in table_items(platform, bookkeeping=True) if org[0] in key[0]]
    assert left == []


def test_an_end_reported_while_the_org_is_deleted_leaves_nothing_behind(
    platform: Platform, api: EventClient, org: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run whose end is still being reported (its Lambda meter, a budget alert) while the deletion lists the
    # org's items, which is what a deletion right after a run's end meets
    from agentlab import tenancy
    from agentlab.store.usage import UsageStore

    run = run_script(api, new_agent(api, "late"))
    stored = RunStore(platform.table).get(org[0], run["id"])
    listed = tenancy.org_items

    def listing_then_late_writes(table: Any, org_id: str) -> list[dict[str, Any]]:
        items = listed(table, org_id)
        UsageStore(table).meter_invocation(org_id, run["id"], 12.5)
        table.put_new({"PK": f"ORG#{org_id}", "SK": "USAGEALERT#2026-12#050", "entity": "usage_alert"})
        return items

    monkeypatch.setattr(tenancy, "org_items", listing_then_late_writes)

    # When the org is deleted, and the run's end is reported once more afterwards
    assert api.delete(f"/v1/orgs/{org[0]}", params={"confirm": "acme"}).status == 200
    monkeypatch.setattr(tenancy, "org_items", listed)
    record_run_usage(events_for(platform), stored)
    assert stored.cost is not None
    recorded = UsageStore(platform.table).record_run(org[0], run["id"], today(), stored.cost, {})
    with pytest.raises(Exception):  # noqa: B017 - the meter's condition (the run exists) fails, whatever its class
        UsageStore(platform.table).meter_invocation(org[0], run["id"], 1.0)

    # Then neither the writes made meanwhile nor the later report left anything of the org
    assert recorded is False
    assert [key for key in table_items(platform, bookkeeping=True) if org[0] in key[0]] == []


def test_a_members_runs_are_labelled_with_their_email(platform: Platform, api: EventClient) -> None:
    agent = new_agent(api, "personal")
    platform.new_user(api, "mia@example.com", "member")
    person = platform.api(platform.login("mia@example.com")["access_token"])

    run = run_script(person, agent)

    users = usage(api, group_by="user")["groups"]
    assert [(group["key"], group["label"]) for group in users] == [(run["created_by"], "mia@example.com")]
    assert run["created_by"].startswith("user:")
