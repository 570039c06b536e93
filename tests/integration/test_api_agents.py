"""The HTTP API through API Gateway v2 events: health, authentication, the error shape, and agents with versions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from apiclient import EventClient
from moto_platform import Platform
from run_checks import error_of, table_items

from agentlab.ids import new_ulid
from agentlab.models import utc_now

UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

PROTECTED_ROUTES = [
    ("GET", "/v1/agents"),
    ("POST", "/v1/agents"),
    ("GET", f"/v1/agents/{UNKNOWN_ID}"),
    ("PUT", f"/v1/agents/{UNKNOWN_ID}"),
    ("DELETE", f"/v1/agents/{UNKNOWN_ID}"),
    ("GET", f"/v1/agents/{UNKNOWN_ID}/versions"),
    ("GET", "/v1/runs"),
    ("POST", "/v1/runs"),
    ("GET", f"/v1/runs/{UNKNOWN_ID}"),
    ("GET", f"/v1/runs/{UNKNOWN_ID}/steps"),
    ("POST", f"/v1/runs/{UNKNOWN_ID}/cancel"),
    ("POST", f"/v1/runs/{UNKNOWN_ID}/approve"),
    ("POST", f"/v1/runs/{UNKNOWN_ID}/reject"),
    ("GET", f"/v1/runs/{UNKNOWN_ID}/artifacts"),
    ("POST", "/v1/files"),
    ("POST", f"/v1/files/{UNKNOWN_ID}/complete"),
    ("GET", f"/v1/files/{UNKNOWN_ID}"),
    ("GET", "/v1/no-such-route"),
]


def agent_body(name: str = "analyst", **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


def create_agent(api: EventClient, name: str = "analyst", **fields: Any) -> dict[str, Any]:
    response = api.post("/v1/agents", agent_body(name, **fields))
    assert response.status == 201, response.text
    return response.json()


# health, request ids, authentication ----------------------------------------------------------------------------
def test_health_needs_no_credentials(platform: Platform) -> None:
    response = platform.api().get("/v1/health")
    assert response.status == 200
    assert response.json()["status"] == "ok" and response.json()["version"]
    assert response.headers["x-request-id"]


def test_a_valid_request_id_is_echoed_and_an_unsafe_one_replaced(api: EventClient) -> None:
    assert api.get("/v1/agents", headers={"x-request-id": "trace-123.a:b"}).headers["x-request-id"] == "trace-123.a:b"
    replaced = api.get("/v1/agents", headers={"x-request-id": "bad id\nInjected: yes"}).headers["x-request-id"]
    assert replaced != "bad id\nInjected: yes" and "\n" not in replaced and len(replaced) == 26


def test_every_protected_route_refuses_a_missing_key(platform: Platform) -> None:
    for method, path in PROTECTED_ROUTES:
        response = platform.api().request(method, path, {})
        error = error_of(response, 401, "unauthorized")
        assert "missing credentials" in error["message"], (method, path)
        # no credential was sent, so the challenge names no error (RFC 6750 3.1)
        assert response.headers["www-authenticate"] == 'Bearer realm="agentlab"', (method, path)


def test_every_protected_route_refuses_a_wrong_key(platform: Platform, org: Any) -> None:
    before = table_items(platform)
    wrong = platform.api("al_" + "x" * 43)
    for method, path in PROTECTED_ROUTES:
        response = wrong.request(method, path, {"name": "sneaky", "agent_id": UNKNOWN_ID})
        assert error_of(response, 401, "unauthorized")["message"] == "invalid credentials", (method, path)
        assert response.headers["www-authenticate"] == 'Bearer realm="agentlab", error="invalid_token"'
    assert table_items(platform) == before


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer sk-not-ours",
        "Bearer al_" + "y" * 300,
        "al_only-the-key",
    ],
)
def test_malformed_credentials_are_refused(platform: Platform, org: Any, authorization: str) -> None:
    error_of(platform.api().get("/v1/agents", headers={"authorization": authorization}), 401, "unauthorized")


def test_an_expired_key_is_refused(platform: Platform, org: tuple[str, str]) -> None:
    _, key = platform.orgs.create_api_key(org[0], name="old", role="admin", expires_at=utc_now() - timedelta(seconds=1))
    assert "expired" in error_of(platform.api(key).get("/v1/agents"), 401)["message"]


def test_a_key_works_until_it_expires(platform: Platform, org: tuple[str, str]) -> None:
    expires_at = utc_now() + timedelta(hours=1)
    record, key = platform.orgs.create_api_key(org[0], name="temp", role="viewer", expires_at=expires_at)
    assert platform.api(key).get("/v1/agents").status == 200
    found = platform.orgs.find_api_key(key)
    assert found is not None and found.expires_at is not None
    assert abs((found.expires_at - expires_at).total_seconds()) < 1
    # stored as the table's TTL attribute (epoch seconds), so DynamoDB also removes the key once it has expired
    raw = platform.clients.dynamodb.get_item(
        TableName=platform.settings.table_name, Key={"PK": {"S": f"APIKEY#{record.key_hash}"}, "SK": {"S": "META"}}
    )["Item"]
    assert raw["expires_at"] == {"N": str(int(expires_at.timestamp()))}


def test_unknown_routes_are_404_in_the_error_shape(api: EventClient) -> None:
    error_of(api.get("/v1/no-such-route"), 404, "route_not_found")
    refused = api.request("PATCH", "/v1/agents")
    error_of(refused, 405, "method_not_allowed")
    assert refused.headers["allow"] == "GET, HEAD, POST, OPTIONS"


# agents CRUD and versions ---------------------------------------------------------------------------------------
def test_agent_create_get_list(api: EventClient, org: tuple[str, str]) -> None:
    created = create_agent(api, "analyst", tools=["python"], limits={"max_steps": 7})
    assert created["version"] == 1 and created["org_id"] == org[0]
    assert created["tools"] == ["python", "finish"] and created["limits"]["max_steps"] == 7
    assert api.get(f"/v1/agents/{created['id']}").json() == created
    assert api.get("/v1/agents").json()["items"] == [created]
    assert api.get("/v1/agents", params={"name": "analyst"}).json()["items"] == [created]
    assert api.get("/v1/agents", params={"name": "nobody"}).json()["items"] == []


def test_update_makes_a_new_version_and_keeps_the_old_one(api: EventClient) -> None:
    agent = create_agent(api, "analyst", description="first")

    response = api.put(f"/v1/agents/{agent['id']}", {"description": "second", "tools": ["read_file"]})

    assert response.status == 200, response.text
    updated = response.json()
    assert updated["version"] == 2 and updated["description"] == "second"
    assert updated["tools"] == ["read_file", "finish"]
    assert updated["created_at"] == agent["created_at"]
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(agent["updated_at"])
    assert api.get(f"/v1/agents/{agent['id']}").json() == updated
    versions = api.get(f"/v1/agents/{agent['id']}/versions").json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert [v["description"] for v in versions] == ["second", "first"]


def test_an_update_keeps_what_it_leaves_out_and_the_document_offers_no_null(api: EventClient) -> None:
    agent = create_agent(api, "keeper", description="kept", limits={"max_steps": 7})

    updated = api.put(f"/v1/agents/{agent['id']}", {"system_prompt": "new"}).json()

    assert updated["system_prompt"] == "new" and updated["description"] == "kept"
    assert updated["limits"]["max_steps"] == 7 and updated["version"] == 2
    # null is refused (test_bad_agent_updates_are_refused_and_change_nothing), and the document does not offer it
    properties = api.get("/v1/openapi.json").json()["components"]["schemas"]["AgentUpdate"]["properties"]
    assert [name for name, schema in properties.items() if "'null'" in str(schema)] == ["expected_version"]


def test_versions_page_newest_first(api: EventClient) -> None:
    agent = create_agent(api)
    for n in range(4):
        assert api.put(f"/v1/agents/{agent['id']}", {"description": f"v{n + 2}"}).status == 200
    seen: list[int] = []
    cursor = None
    while True:
        page = api.get(f"/v1/agents/{agent['id']}/versions", params={"limit": 2, "cursor": cursor}).json()
        seen += [v["version"] for v in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [5, 4, 3, 2, 1]


def test_expected_version_guards_against_lost_updates(platform: Platform, api: EventClient) -> None:
    agent = create_agent(api)
    assert api.put(f"/v1/agents/{agent['id']}", {"description": "a", "expected_version": 1}).json()["version"] == 2
    before = table_items(platform)

    stale = api.put(f"/v1/agents/{agent['id']}", {"description": "b", "expected_version": 1})

    assert "version 2" in error_of(stale, 409, "concurrent_update")["message"]
    assert table_items(platform) == before
    assert api.get(f"/v1/agents/{agent['id']}").json()["description"] == "a"


def test_duplicate_names_are_a_conflict(platform: Platform, api: EventClient) -> None:
    create_agent(api, "analyst")
    other = create_agent(api, "writer")
    before = table_items(platform)

    error_of(api.post("/v1/agents", agent_body("analyst", description="again")), 409, "agent_name_taken")
    error_of(api.put(f"/v1/agents/{other['id']}", {"name": "analyst"}), 409, "agent_name_taken")

    assert table_items(platform) == before


def test_rename_frees_the_old_name(api: EventClient) -> None:
    agent = create_agent(api, "old-name")
    renamed = api.put(f"/v1/agents/{agent['id']}", {"name": "new-name"}).json()
    assert renamed["name"] == "new-name" and renamed["version"] == 2
    assert api.get("/v1/agents", params={"name": "old-name"}).json()["items"] == []
    assert api.get("/v1/agents", params={"name": "new-name"}).json()["items"][0]["id"] == agent["id"]
    assert create_agent(api, "old-name")["id"] != agent["id"]


def test_delete_hides_the_agent_and_frees_its_name(api: EventClient) -> None:
    agent = create_agent(api, "analyst")

    response = api.delete(f"/v1/agents/{agent['id']}")

    assert response.status == 200 and response.json() == {"id": agent["id"], "deleted": True}
    error_of(api.get(f"/v1/agents/{agent['id']}"), 404, "not_found")
    error_of(api.put(f"/v1/agents/{agent['id']}", {"description": "x"}), 404, "not_found")
    error_of(api.delete(f"/v1/agents/{agent['id']}"), 404, "not_found")
    assert api.get("/v1/agents").json()["items"] == []
    again = create_agent(api, "analyst")
    assert again["id"] != agent["id"] and again["version"] == 1


def test_agent_list_pages_without_duplicates_and_skips_deleted(api: EventClient) -> None:
    ids = [create_agent(api, f"agent-{n}")["id"] for n in range(7)]
    api.delete(f"/v1/agents/{ids[3]}")
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = api.get("/v1/agents", params={"limit": 2, "cursor": cursor}).json()
        assert len(page["items"]) <= 2
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [i for i in ids if i != ids[3]]


# roles and tenancy ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["viewer", "member"])
def test_roles_below_operator_cannot_change_agents(platform: Platform, api: EventClient, role: str) -> None:
    agent = create_agent(api)
    org_id = agent["org_id"]
    _, key = platform.orgs.create_api_key(org_id, name=role, role=role)  # type: ignore[arg-type]
    reader = platform.api(key)
    before = table_items(platform)

    error_of(reader.post("/v1/agents", agent_body("other")), 403, "forbidden")
    error_of(reader.put(f"/v1/agents/{agent['id']}", {"description": "x"}), 403, "forbidden")
    assert role in error_of(reader.delete(f"/v1/agents/{agent['id']}"), 403)["message"]

    assert table_items(platform) == before
    assert reader.get(f"/v1/agents/{agent['id']}").status == 200
    assert reader.get("/v1/agents").json()["items"][0]["id"] == agent["id"]
    assert reader.get(f"/v1/agents/{agent['id']}/versions").status == 200


def test_operators_can_manage_agents(platform: Platform, org: tuple[str, str]) -> None:
    _, key = platform.orgs.create_api_key(org[0], name="ops", role="operator")
    operator = platform.api(key)
    agent = create_agent(operator)
    assert operator.put(f"/v1/agents/{agent['id']}", {"description": "x"}).status == 200
    assert operator.delete(f"/v1/agents/{agent['id']}").status == 200


def test_another_orgs_agents_are_not_found(platform: Platform, api: EventClient) -> None:
    agent = create_agent(api, "analyst")
    _, other_key = platform.new_org("other")
    other = platform.api(other_key)
    before = table_items(platform)

    for response in (
        other.get(f"/v1/agents/{agent['id']}"),
        other.get(f"/v1/agents/{agent['id']}/versions"),
        other.put(f"/v1/agents/{agent['id']}", {"description": "mine now"}),
        other.delete(f"/v1/agents/{agent['id']}"),
    ):
        assert agent["id"] in error_of(response, 404, "not_found")["message"]
    assert other.get("/v1/agents").json()["items"] == []
    assert other.get("/v1/agents", params={"name": "analyst"}).json()["items"] == []
    assert table_items(platform) == before
    # names are unique per org, not globally
    assert create_agent(other, "analyst")["org_id"] != agent["org_id"]


def test_a_cursor_from_another_org_is_refused(platform: Platform, api: EventClient) -> None:
    for n in range(3):
        create_agent(api, f"agent-{n}")
    cursor = api.get("/v1/agents", params={"limit": 1}).json()["next_cursor"]
    _, other_key = platform.new_org("other")
    error_of(platform.api(other_key).get("/v1/agents", params={"cursor": cursor}), 400, "invalid_cursor")


# bad input is refused and changes nothing -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ('{"name": "analyst"', 400, "invalid_json"),
        ("not json", 400, "invalid_json"),
        ('{"name": "analyst", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}', 422, "validation_error"),
        ('{"name": "analyst", "version": 9}', 422, "validation_error"),
        ('{"name": "Analyst"}', 422, "validation_error"),
        ('{"name": 5}', 422, "validation_error"),
        ('{"name": "analyst", "models": {"reasoning": ["gpt-4"]}}', 422, "validation_error"),
        ('{"name": "analyst", "models": {"reasoning": []}}', 422, "validation_error"),
        ('{"name": "analyst", "tools": ["shell"]}', 422, "validation_error"),
        ('{"name": "analyst", "limits": {"max_steps": 1000}}', 422, "validation_error"),
        ('{"name": "analyst", "limits": {"sandbox_memory_mb": 1}}', 422, "validation_error"),
        # no coercion: true is not a number, a numeric string is not a number
        ('{"name": "analyst", "limits": {"max_steps": true}}', 422, "validation_error"),
        ('{"name": "analyst", "limits": {"max_steps": "7"}}', 422, "validation_error"),
        ('{"name": "analyst", "limits": {"sandbox_cpu": "1.5"}}', 422, "validation_error"),
        ('{"name": "analyst", "limits": {"max_cost_usd": false}}', 422, "validation_error"),
        ('{"name": "analyst", "system_prompt": "' + "x" * 20_001 + '"}', 422, "validation_error"),
        ('{"name": "analyst", "description": "' + "x" * 1_100_000 + '"}', 413, "payload_too_large"),
        ("[]", 422, "validation_error"),
        ('[{"name": "analyst"}]', 422, "validation_error"),
        ("", 422, "validation_error"),
    ],
)
def test_bad_agent_bodies_are_refused_and_change_nothing(
    platform: Platform, api: EventClient, body: str, status: int, code: str
) -> None:
    before = table_items(platform)
    error_of(api.post("/v1/agents", raw=body), status, code)
    assert table_items(platform) == before


@pytest.mark.parametrize(
    "change",
    [
        {"name": None},
        {"models": None},
        {"tools": None},
        {"name": "Bad Name"},
        {"limits": {"max_steps": 0}},
        {"expected_version": 0},
        {"version": 5},
        {"org_id": new_ulid()},
    ],
)
def test_bad_agent_updates_are_refused_and_change_nothing(
    platform: Platform, api: EventClient, change: dict[str, Any]
) -> None:
    agent = create_agent(api)
    before = table_items(platform)
    error_of(api.put(f"/v1/agents/{agent['id']}", change), 422, "validation_error")
    assert table_items(platform) == before


def test_malformed_ids_and_queries_are_refused(api: EventClient) -> None:
    error_of(api.get("/v1/agents/not-an-id"), 422, "validation_error")
    error_of(api.get("/v1/agents", params={"limit": 0}), 422)
    error_of(api.get("/v1/agents", params={"limit": 201}), 422)
    # a cursor not in the documented form is refused as malformed; one in the form but not from this listing, as
    # not this listing's
    error_of(api.get("/v1/agents", params={"cursor": "garbage!"}), 422, "validation_error")
    error_of(api.get("/v1/agents", params={"cursor": "x" * 3_000}), 422)
    error_of(api.get("/v1/agents", params={"cursor": "Z2FyYmFnZQ"}), 400, "invalid_cursor")
    error_of(api.get("/v1/agents", params={"cursor": "e30"}), 400, "invalid_cursor")


def test_non_json_bodies_are_refused(platform: Platform, api: EventClient) -> None:
    before = table_items(platform)
    error_of(api.post("/v1/agents", raw=b"\xff\xfe\x00\x01"), 400, "invalid_json")
    error_of(
        api.post("/v1/agents", raw='{"name": "analyst"}', headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert table_items(platform) == before
