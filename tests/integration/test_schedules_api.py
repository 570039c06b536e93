"""Schedules through the HTTP API (the real handler on moto): CRUD, pause and resume, run now, fires, the preview;
bad expressions and timezones are refused without storing anything; other orgs' schedules are not found; roles."""

from __future__ import annotations

from typing import Any

import pytest
from apiclient import ApiResponse, EventClient
from moto_platform import Platform
from run_checks import error_of, table_items, wait_for

UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}


def patch(api: EventClient, path: str, body: Any) -> ApiResponse:
    return api.request("PATCH", path, body)


def create_agent(api: EventClient, name: str = "nightly") -> str:
    response = api.post("/v1/agents", {"name": name, "models": {"reasoning": ["scripted"]}})
    assert response.status == 201, response.text
    return str(response.json()["id"])


def schedule_body(agent_id: str, **fields: Any) -> dict[str, Any]:
    return {"name": "digest", "agent_id": agent_id, "prompt": "summarise", "expression": "cron(0 9 * * ? *)", **fields}


@pytest.fixture
def agent(api: EventClient) -> str:
    return create_agent(api)


@pytest.fixture
def schedule(api: EventClient, agent: str) -> dict[str, Any]:
    response = api.post("/v1/schedules", schedule_body(agent, timezone="Europe/Paris"))
    assert response.status == 201, response.text
    return dict(response.json())


def test_a_schedule_is_created_shown_listed_updated_and_deleted(
    api: EventClient, org: tuple[str, str], agent: str
) -> None:
    # Given a schedule created on weekdays at nine in Paris
    created = api.post(
        "/v1/schedules", schedule_body(agent, expression="cron(0 9 ? * MON-FRI *)", timezone="Europe/Paris")
    )
    assert created.status == 201, created.text
    schedule = created.json()
    assert (
        schedule["org_id"] == org[0] and schedule["status"] == "active" and schedule["created_by"].startswith("apikey:")
    )
    assert len(schedule["next_fires"]) == 5 and "Monday through Friday" in schedule["description"]

    # Then it shows and lists
    assert api.get(f"/v1/schedules/{schedule['id']}").json()["id"] == schedule["id"]
    page = api.get("/v1/schedules").json()
    assert [item["id"] for item in page["items"]] == [schedule["id"]] and page["next_cursor"] is None

    # When it is updated, only the fields given change
    updated = patch(api, f"/v1/schedules/{schedule['id']}", {"name": "renamed", "expected_revision": 1})
    assert updated.status == 200, updated.text
    assert updated.json()["name"] == "renamed" and updated.json()["expression"] == "cron(0 9 ? * MON-FRI *)"
    stale = patch(api, f"/v1/schedules/{schedule['id']}", {"name": "again", "expected_revision": 1})
    error_of(stale, 409, "concurrent_update")

    # And deleted, it is gone
    deleted = api.delete(f"/v1/schedules/{schedule['id']}")
    assert deleted.status == 200 and deleted.json() == {"id": schedule["id"], "deleted": True}
    error_of(api.get(f"/v1/schedules/{schedule['id']}"), 404, "not_found")

    # Every mutation was audited
    actions = [record["action"] for record in api.get("/v1/audit", params={"limit": 200}).json()["items"]]
    assert actions.count("schedules.write") == 4


def test_listing_pages_with_a_cursor(api: EventClient, agent: str) -> None:
    ids = [api.post("/v1/schedules", schedule_body(agent, name=f"s{n}")).json()["id"] for n in range(3)]

    first = api.get("/v1/schedules", params={"limit": 2}).json()
    second = api.get("/v1/schedules", params={"limit": 2, "cursor": first["next_cursor"]}).json()

    assert [s["id"] for s in first["items"] + second["items"]] == list(reversed(ids))
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"expression": "cron(0 9 * * * *)"}, "invalid_expression"),
        ({"expression": "rate(1 minute)"}, "invalid_expression"),
        ({"expression": "every day"}, "invalid_expression"),
        ({"expression": "at(2001-01-01T00:00:00)"}, "invalid_expression"),
        ({"timezone": "Mars/Olympus"}, "invalid_timezone"),
    ],
)
def test_a_bad_expression_or_timezone_is_422_and_stores_nothing(
    platform: Platform, api: EventClient, agent: str, fields: dict[str, Any], code: str
) -> None:
    before = table_items(platform)

    response = api.post("/v1/schedules", schedule_body(agent, **fields))

    error = error_of(response, 422, code)
    assert error["message"]
    assert table_items(platform) == before


def test_an_update_to_a_bad_expression_is_422_and_changes_nothing(api: EventClient, schedule: dict[str, Any]) -> None:
    response = patch(api, f"/v1/schedules/{schedule['id']}", {"expression": "rate(2 minute)"})

    error_of(response, 422, "invalid_expression")
    assert api.get(f"/v1/schedules/{schedule['id']}").json()["revision"] == schedule["revision"]


def test_a_missing_agent_or_pinned_version_is_refused(platform: Platform, api: EventClient, agent: str) -> None:
    before = table_items(platform)

    error_of(api.post("/v1/schedules", schedule_body(UNKNOWN_ID)), 404, "not_found")
    missing_version = api.post("/v1/schedules", schedule_body(agent, agent_version=7))

    assert "no version 7" in error_of(missing_version, 422, "agent_version_not_found")["message"]
    assert table_items(platform) == before


def test_another_orgs_schedule_and_agent_are_not_found(
    platform: Platform, api: EventClient, schedule: dict[str, Any], agent: str
) -> None:
    # Given another org
    _, other_key = platform.new_org("globex")
    other = platform.api(other_key)
    sid = schedule["id"]

    # Then the first org's schedule is not found, whatever is asked of it
    for response in (
        other.get(f"/v1/schedules/{sid}"),
        patch(other, f"/v1/schedules/{sid}", {"name": "mine"}),
        other.delete(f"/v1/schedules/{sid}"),
        other.post(f"/v1/schedules/{sid}/pause"),
        other.post(f"/v1/schedules/{sid}/resume"),
        other.post(f"/v1/schedules/{sid}/run-now"),
        other.get(f"/v1/schedules/{sid}/fires"),
    ):
        error_of(response, 404, "not_found")
    # And its agent cannot be scheduled from the other org
    error_of(other.post("/v1/schedules", schedule_body(agent)), 404, "not_found")
    assert other.get("/v1/schedules").json()["items"] == []
    assert api.get(f"/v1/schedules/{sid}").json()["revision"] == schedule["revision"]


def test_a_viewer_reads_and_a_member_may_not_write(
    platform: Platform, api: EventClient, schedule: dict[str, Any], agent: str
) -> None:
    viewer = platform.api(api.post("/v1/api-keys", {"name": "v", "role": "viewer"}).json()["key"])
    member = platform.api(api.post("/v1/api-keys", {"name": "m", "role": "member"}).json()["key"])

    assert viewer.get(f"/v1/schedules/{schedule['id']}").status == 200
    assert viewer.get(f"/v1/schedules/{schedule['id']}/fires").status == 200
    assert viewer.post("/v1/schedules/preview", {"expression": "rate(1 hour)"}).status == 200
    for response in (
        member.post("/v1/schedules", schedule_body(agent)),
        patch(member, f"/v1/schedules/{schedule['id']}", {"name": "x"}),
        member.post(f"/v1/schedules/{schedule['id']}/pause"),
        member.post(f"/v1/schedules/{schedule['id']}/run-now"),
        member.delete(f"/v1/schedules/{schedule['id']}"),
    ):
        assert "schedules.write" in error_of(response, 403, "forbidden")["message"]


def test_pause_and_resume(api: EventClient, schedule: dict[str, Any]) -> None:
    paused = api.post(f"/v1/schedules/{schedule['id']}/pause", {"reason": "source is down"})
    assert paused.status == 200, paused.text
    assert paused.json()["status"] == "paused" and paused.json()["paused_reason"] == "source is down"

    bare = api.post(f"/v1/schedules/{schedule['id']}/pause").json()
    assert bare["paused_reason"].startswith("paused by apikey:")

    resumed = api.post(f"/v1/schedules/{schedule['id']}/resume").json()
    assert resumed["status"] == "active" and resumed["paused_reason"] is None

    disabled = patch(api, f"/v1/schedules/{schedule['id']}", {"enabled": False}).json()
    assert disabled["status"] == "disabled"


def test_run_now_starts_a_run_of_the_schedule_and_records_the_fire(api: EventClient, schedule: dict[str, Any]) -> None:
    response = api.post(f"/v1/schedules/{schedule['id']}/run-now")

    assert response.status == 201, response.text
    run = response.json()
    assert run["schedule_id"] == schedule["id"] and run["prompt"] == "summarise"
    final = wait_for(api, run["id"], TERMINAL)
    assert final["schedule_id"] == schedule["id"]
    fires = api.get(f"/v1/schedules/{schedule['id']}/fires").json()
    assert [(f["outcome"], f["run_id"]) for f in fires["items"]] == [("started", run["id"])]
    assert api.get(f"/v1/schedules/{schedule['id']}").json()["last_fire_at"] is not None


def test_the_preview_describes_an_expression_and_stores_nothing(platform: Platform, api: EventClient) -> None:
    before = table_items(platform)

    good = api.post("/v1/schedules/preview", {"expression": "cron(30 6 ? * MON *)", "timezone": "Asia/Tokyo"})
    bad = api.post("/v1/schedules/preview", {"expression": "cron(30 6 * * MON *)", "timezone": "UTC"})
    zone = api.post("/v1/schedules/preview", {"expression": "rate(1 hour)", "timezone": "Nowhere/City"})

    assert good.status == 200, good.text
    assert "Monday" in good.json()["description"] and len(good.json()["next_fires"]) == 5
    assert "day-of-week" in error_of(bad, 422, "invalid_expression")["message"]
    error_of(zone, 422, "invalid_timezone")
    assert table_items(platform) == before
