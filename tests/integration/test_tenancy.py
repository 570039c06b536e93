"""Tenancy and hardening, after the OWASP API Security Top 10 (2023): object- and function-level authorization
walked over every route of the OpenAPI document, resource limits, security headers, CORS, audit, data rights."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from apiclient import ApiResponse, EventClient
from moto_platform import Platform
from repo_helpers import make_repo
from run_checks import IDLE_WEBHOOK_URL, error_of, wait_for, webhook_with_delivery

from agentlab.api.permissions import PUBLIC, ROLE_ACTIONS, ROUTES

FINISH = [{"tool": "finish", "answer": "done"}]
CHART = [
    {
        "tool": "python",
        "code": "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3])\nplt.savefig('chart.png')\nprint('saved')",
    },
    {"tool": "finish", "answer": "charted"},
]
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
LOWER_ROLES = ("viewer", "member", "operator")


def openapi_routes(api: EventClient) -> set[tuple[str, str]]:
    document = api.get("/v1/openapi.json").json()
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


class Tenant:
    """One org with one object of every kind, created through the API by its admin."""

    def __init__(self, platform: Platform, name: str, repos_dir: Path) -> None:
        self.org_id, self.key = platform.new_org(name)
        self.admin = platform.api(self.key)
        agent = self.admin.post("/v1/agents", {"name": f"{name}-agent", "models": {"reasoning": ["scripted"]}})
        self.agent_id = agent.json()["id"]
        run = self.admin.post("/v1/runs", {"agent_id": self.agent_id, "prompt": "go", "script": FINISH}).json()
        self.run_id = run["id"]
        wait_for(self.admin, self.run_id, TERMINAL)
        created = self.admin.post("/v1/files", {"name": "a.csv", "content_type": "text/csv", "size": 4}).json()
        self.file_id = created["file"]["id"]
        self.member_id = platform.new_user(self.admin, f"person@{name}.example.com", "viewer")["id"]
        self.key_id = self.admin.post("/v1/api-keys", {"name": "spare", "role": "viewer"}).json()["id"]
        schedule = {"name": "digest", "agent_id": self.agent_id, "prompt": "go", "expression": "rate(1 hour)"}
        self.schedule_id = self.admin.post("/v1/schedules", schedule).json()["id"]
        self.webhook_id, self.delivery_id = webhook_with_delivery(platform, self.admin, self.org_id)
        self.repo_path = make_repo(repos_dir / name, {"README.md": f"{name}\n"})
        self.repo_id = self.admin.post("/v1/repos", {"url": f"file://{self.repo_path}"}).json()["id"]
        self.org_name = name

    def ids(self) -> dict[str, str]:
        return {
            "agent_id": self.agent_id,
            "run_id": self.run_id,
            "file_id": self.file_id,
            "member_id": self.member_id,
            "key_id": self.key_id,
            "org_id": self.org_id,
            "schedule_id": self.schedule_id,
            "webhook_id": self.webhook_id,
            "delivery_id": self.delivery_id,
            "repo_id": self.repo_id,
        }


def valid_body(method: str, template: str, tenant: Tenant) -> dict[str, Any] | None:
    """A body each route accepts, so a refusal below is about who asks, not about what they sent."""
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/v1/agents"): {"name": "intruder-agent"},
        ("PUT", "/v1/agents/{agent_id}"): {"description": "changed by an intruder"},
        ("POST", "/v1/runs"): {"agent_id": tenant.agent_id, "prompt": "go", "script": FINISH},
        ("POST", "/v1/files"): {"name": "b.csv", "content_type": "text/csv", "size": 4},
        ("POST", "/v1/members"): {"email": "intruder@example.com", "role": "viewer", "password": "Long-enough-pw-1"},
        ("PATCH", "/v1/members/{member_id}"): {"role": "admin"},
        ("POST", "/v1/api-keys"): {"name": "intruder", "role": "admin"},
        ("POST", "/v1/orgs"): {"name": "intruder-org"},
        ("POST", "/v1/runs/{run_id}/approve"): {"comment": "sure"},
        ("POST", "/v1/runs/{run_id}/reject"): {"comment": "no"},
        ("POST", "/v1/auth/login"): {"email": "a@example.com", "password": "x"},
        ("POST", "/v1/auth/refresh"): {"refresh_token": "x"},
        ("POST", "/v1/schedules"): {
            "name": "intruder",
            "agent_id": tenant.agent_id,
            "prompt": "go",
            "expression": "rate(1 hour)",
        },
        ("PATCH", "/v1/schedules/{schedule_id}"): {"name": "changed by an intruder"},
        ("POST", "/v1/schedules/preview"): {"expression": "rate(1 hour)"},
        ("POST", "/v1/webhooks"): {"url": IDLE_WEBHOOK_URL, "events": ["run.succeeded"]},
        ("PATCH", "/v1/webhooks/{webhook_id}"): {"description": "changed by an intruder"},
        ("PUT", "/v1/usage/budget"): {"monthly_usd": 1.0},
        ("POST", "/v1/repos"): {"url": f"file://{tenant.repo_path}"},
        ("PATCH", "/v1/repos/{repo_id}"): {"name": "changed-by-an-intruder"},
        ("PUT", "/v1/repos/{repo_id}/config"): {"overrides": {"test": "echo intruder"}},
    }
    return bodies.get((method, template))


def call(client: EventClient, method: str, template: str, tenant: Tenant) -> ApiResponse:
    path = re.sub(r"\{(\w+)\}", lambda m: tenant.ids()[m.group(1)], template)
    params = {"confirm": tenant.org_name} if template == "/v1/orgs/{org_id}" else None
    return client.request(method, path, valid_body(method, template, tenant), params=params)


@pytest.fixture(autouse=True)
def loopback_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhook endpoints on this machine are allowed, as on the local stack (read by the API at its cold start), and
    so are repositories by path."""
    monkeypatch.setenv("AGENTLAB_WEBHOOKS_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("AGENTLAB_ALLOW_LOCAL_REPOS", "1")


@pytest.fixture
def tenants(platform: Platform, tmp_path: Path) -> tuple[Tenant, Tenant]:
    return Tenant(platform, "acme", tmp_path / "repos"), Tenant(platform, "globex", tmp_path / "repos")


def test_the_matrix_covers_exactly_the_routes_of_the_openapi_document(platform: Platform, api: EventClient) -> None:
    documented = openapi_routes(api)
    # The docs page and the document itself are served outside the schema.
    assert documented == set(ROUTES) - {("GET", "/v1/openapi.json"), ("GET", "/v1/docs")}


def test_every_route_refuses_lower_roles_exactly_where_the_matrix_says(
    platform: Platform, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, _ = tenants
    clients = {}
    for role in LOWER_ROLES:
        clients[role] = platform.api(acme.admin.post("/v1/api-keys", {"name": role, "role": role}).json()["key"])
    checked = 0
    for (method, template), action in sorted(ROUTES.items()):
        if action is PUBLIC or (method, template) in {("DELETE", "/v1/orgs/{org_id}")}:
            continue
        for role in LOWER_ROLES:
            response = call(clients[role], method, template, acme)
            if action in ROLE_ACTIONS[role]:
                assert response.status != 403, (role, method, template, response.text)
            else:
                error = error_of(response, 403, "forbidden")
                assert action in error["message"] or "platform admin" in error["message"], (role, method, template)
                checked += 1
    assert checked > 30
    # The org deletion route, last, because it succeeds for the admin: lower roles are refused too.
    for role in LOWER_ROLES:
        error_of(call(clients[role], "DELETE", "/v1/orgs/{org_id}", acme), 403, "forbidden")


def test_every_route_with_another_orgs_id_answers_404_and_lists_show_nothing_of_it(
    platform: Platform, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = tenants
    intruder = globex.admin  # an admin, but of the other org
    seen = 0
    for (method, template), action in sorted(ROUTES.items()):
        if action is PUBLIC or action == "orgs.create":
            continue
        response = call(intruder, method, template, acme)
        if "{" in template:
            error_of(response, 404)
            seen += 1
        elif (method, template) in {("POST", "/v1/runs"), ("POST", "/v1/schedules")}:
            error_of(response, 404)  # acme's agent, named in the body, does not exist for globex
        elif template == "/v1/audit":
            # The intruder's own trail records the ids it sent; it holds nothing of acme's own records.
            assert {record["org_id"] for record in response.json()["items"]} == {globex.org_id}
        else:
            assert response.status < 500, (method, template, response.text)
            text = response.text
            for value in acme.ids().values():
                assert value not in text, (method, template)
    assert seen >= 15
    # acme is untouched: the intruder's writes went nowhere.
    assert acme.admin.get(f"/v1/agents/{acme.agent_id}").json()["version"] == 1
    assert acme.admin.get(f"/v1/runs/{acme.run_id}").json()["status"] == "succeeded"
    assert [m["role"] for m in acme.admin.get("/v1/members").json()["items"]] == ["viewer"]
    assert acme.admin.get(f"/v1/orgs/{acme.org_id}/export").status == 200


def test_only_a_platform_admin_creates_orgs_and_gets_a_first_admin_key(platform: Platform, api: EventClient) -> None:
    error_of(api.post("/v1/orgs", {"name": "nope"}), 403, "forbidden")
    _, key = platform.orgs.create_api_key("platform", name="platform", role="admin", platform_admin=True)
    platform.orgs.create_org("Platform", org_id="platform")
    created = platform.api(key).post("/v1/orgs", {"name": "Initech", "quotas": {"runs_per_day": 5}})
    assert created.status == 201, created.text
    body = created.json()
    assert body["org"]["name"] == "Initech" and body["org"]["quotas"]["runs_per_day"] == 5
    first_admin = platform.api(body["api_key"]["key"])
    me = first_admin.get("/v1/me").json()
    assert me["org_id"] == body["org"]["id"] and me["role"] == "admin" and me["platform_admin"] is False
    error_of(platform.api(key).post("/v1/orgs", {"name": ""}), 422)


# resource limits ------------------------------------------------------------------------------------------------
def test_run_creation_and_requests_are_rate_limited_per_identity(
    platform: Platform, org: Any, monkeypatch: pytest.MonkeyPatch, one_rate_window: float
) -> None:
    monkeypatch.setitem(os.environ, "AGENTLAB_RATE_LIMIT_RUNS_PER_MINUTE", "2")
    monkeypatch.setitem(os.environ, "AGENTLAB_RATE_LIMIT_REQUESTS_PER_MINUTE", "8")
    api = platform.api(org[1])
    agent = api.post("/v1/agents", {"name": "limited", "models": {"reasoning": ["scripted"]}}).json()["id"]
    body = {"agent_id": agent, "prompt": "go", "script": FINISH}
    assert [api.post("/v1/runs", body).status for _ in range(2)] == [201, 201]
    limited = api.post("/v1/runs", body)
    error = error_of(limited, 429, "rate_limited")
    assert "2 run creations per minute" in error["message"]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Another identity of the same org has its own budget.
    other = platform.api(api.post("/v1/api-keys", {"name": "other", "role": "member"}).json()["key"])
    assert other.post("/v1/runs", body).status == 201
    statuses = [api.get("/v1/agents").status for _ in range(4)]
    assert statuses[-1] == 429 and "retry-after" in api.get("/v1/agents").headers


def test_sign_in_attempts_are_limited_per_source_address(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, one_rate_window: float
) -> None:
    monkeypatch.setitem(os.environ, "AGENTLAB_RATE_LIMIT_LOGINS_PER_MINUTE", "3")
    anonymous = platform.api()
    answers = [
        anonymous.post("/v1/auth/login", {"email": "a@example.com", "password": f"guess-{i}"}).status for i in range(4)
    ]
    assert answers == [401, 401, 401, 429]


def test_org_quotas_answer_429_with_a_clear_reason(platform: Platform, api: EventClient, org: Any) -> None:
    platform.orgs.table.set_fields(f"ORG#{org[0]}", "META", {"quotas": {"runs_per_day": 1, "tokens_per_month": None}})
    agent = api.post("/v1/agents", {"name": "quota", "models": {"reasoning": ["scripted"]}}).json()["id"]
    body = {"agent_id": agent, "prompt": "go", "script": FINISH}
    first = api.post("/v1/runs", body)
    assert first.status == 201
    refused = api.post("/v1/runs", body)
    error = error_of(refused, 429, "quota_exceeded")
    assert "1 runs per day" in error["message"] and int(refused.headers["retry-after"]) > 0
    # A replay of a created run is not a new run: it is answered, not counted.
    replay = api.post("/v1/runs", body, headers={"idempotency-key": "same"})
    assert replay.status == 429
    wait_for(api, first.json()["id"], TERMINAL)


def test_the_monthly_token_quota_counts_the_tokens_of_steps(platform: Platform, api: EventClient, org: Any) -> None:
    from agentlab.store.limits import Limits

    platform.orgs.table.set_fields(f"ORG#{org[0]}", "META", {"quotas": {"runs_per_day": None, "tokens_per_month": 1}})
    agent = api.post("/v1/agents", {"name": "tokens", "models": {"reasoning": ["scripted"]}}).json()["id"]
    run = api.post("/v1/runs", {"agent_id": agent, "prompt": "go", "script": FINISH}).json()
    final = wait_for(api, run["id"], TERMINAL)
    used = final["usage"]["input_tokens"] + final["usage"]["output_tokens"]
    assert used > 0 and Limits(platform.table).tokens_this_month(org[0]) == used
    error = error_of(api.post("/v1/runs", {"agent_id": agent, "prompt": "go", "script": FINISH}), 429, "quota_exceeded")
    assert "tokens per month" in error["message"]


def test_bodies_and_prompts_over_their_caps_are_refused(api: EventClient) -> None:
    error_of(api.post("/v1/agents", raw="{" + " " * 1_100_000 + "}"), 413, "payload_too_large")
    agent = api.post("/v1/agents", {"name": "caps", "models": {"reasoning": ["scripted"]}}).json()["id"]
    error_of(api.post("/v1/runs", {"agent_id": agent, "prompt": "x" * 50_001}), 422, "validation_error")
    error_of(api.post("/v1/files", {"name": "big.csv", "content_type": "text/csv", "size": 10**10}), 422)


# hardening ------------------------------------------------------------------------------------------------------
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy", "strict-transport-security")


@pytest.mark.parametrize(
    ("method", "path", "authorized", "status"),
    [
        ("GET", "/v1/health", False, 200),
        ("GET", "/v1/agents", True, 200),
        ("GET", "/v1/agents", False, 401),
        ("GET", "/v1/nothing-here", True, 404),
        ("POST", "/v1/agents", True, 422),
        ("GET", "/v1/docs", False, 200),
    ],
)
def test_every_response_carries_the_security_headers_and_a_request_id(
    platform: Platform, api: EventClient, method: str, path: str, authorized: bool, status: int
) -> None:
    client = api if authorized else platform.api()
    response = client.request(method, path, {} if method == "POST" else None)
    assert response.status == status
    assert response.headers["x-content-type-options"] == "nosniff" and response.headers["x-frame-options"] == "DENY"
    assert all(name in response.headers for name in SECURITY_HEADERS)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert len(response.headers["x-request-id"]) >= 1


def test_cors_is_granted_only_to_the_configured_dashboard_origins(
    platform: Platform, org: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(os.environ, "AGENTLAB_CORS_ORIGINS", "https://dash.example.com, https://other.example.com/")
    api = platform.api(org[1])
    allowed = api.request("OPTIONS", "/v1/runs", headers={"origin": "https://dash.example.com"})
    assert allowed.status == 204
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example.com"
    assert "Authorization" in allowed.headers["access-control-allow-headers"]
    assert (
        api.get("/v1/agents", headers={"origin": "https://other.example.com"}).headers["access-control-allow-origin"]
        == "https://other.example.com"
    )
    denied = api.request("OPTIONS", "/v1/runs", headers={"origin": "https://evil.example.com"})
    error_of(denied, 403, "cors_denied")
    assert (
        "access-control-allow-origin"
        not in api.get("/v1/agents", headers={"origin": "https://evil.example.com"}).headers
    )


def test_an_internal_error_answers_without_internals(
    platform: Platform, api: EventClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentlab.store.agents import AgentStore

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("db password=hunter22 at /srv/internal/path.py")

    monkeypatch.setattr(AgentStore, "list", explode)
    response = api.get("/v1/agents")
    error = error_of(response, 500, "internal_error")
    assert "hunter22" not in response.text and "/srv/internal" not in response.text and "Traceback" not in response.text
    assert error["message"] == "an internal error occurred"
    logged = capsys.readouterr()
    assert "hunter22" not in logged.out + logged.err


# audit ----------------------------------------------------------------------------------------------------------
def test_every_mutation_leaves_an_audit_record_admins_can_filter_and_page(
    platform: Platform, api: EventClient, org: Any
) -> None:
    viewer = platform.api(api.post("/v1/api-keys", {"name": "viewer", "role": "viewer"}).json()["key"])
    created = api.post("/v1/agents", {"name": "audited"}, headers={"x-request-id": "req-audit-1"}).json()
    api.put(f"/v1/agents/{created['id']}", {"description": "v2"})
    error_of(viewer.post("/v1/agents", {"name": "denied"}), 403)
    viewer.get("/v1/agents")  # a read: not audited
    error_of(viewer.get("/v1/audit"), 403, "forbidden")

    records = api.get("/v1/audit").json()["items"]
    assert [r["action"] for r in records] == ["agents.write", "agents.write", "agents.write", "api_keys.write"]
    denied, updated, made = records[0], records[1], records[2]
    assert denied["outcome"] == "denied" and denied["status"] == 403 and denied["role"] == "viewer"
    assert updated["target"] == f"agent_id={created['id']}" and updated["outcome"] == "success"
    assert made["request_id"] == "req-audit-1" and made["target"] == f"id={created['id']}"
    assert made["actor"].startswith("apikey:") and made["org_id"] == org[0] and made["source_ip"] == "127.0.0.1"
    assert made["method"] == "POST" and made["path"] == "/v1/agents" and made["time"]

    only_denied = api.get("/v1/audit", params={"outcome": "denied"}).json()["items"]
    assert [r["id"] for r in only_denied] == [denied["id"]]
    by_actor = api.get("/v1/audit", params={"actor": denied["actor"]}).json()["items"]
    assert [r["id"] for r in by_actor] == [denied["id"]]
    first = api.get("/v1/audit", params={"limit": 2}).json()
    second = api.get("/v1/audit", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [r["id"] for r in first["items"] + second["items"]] == [r["id"] for r in records]
    assert api.get("/v1/audit", params={"until": "2001-01-01T00:00:00Z"}).json()["items"] == []
    _, other_key = platform.new_org("globex")
    assert platform.api(other_key).get("/v1/audit").json()["items"] == []


# data rights ----------------------------------------------------------------------------------------------------
def test_an_org_exports_its_data_and_deleting_it_leaves_nothing_behind(platform: Platform, tmp_path: Path) -> None:
    acme, globex = Tenant(platform, "acme", tmp_path), Tenant(platform, "globex", tmp_path)
    charted = acme.admin.post("/v1/runs", {"agent_id": acme.agent_id, "prompt": "chart", "script": CHART}).json()
    assert wait_for(acme.admin, charted["id"], TERMINAL)["status"] == "succeeded"

    export = acme.admin.get(f"/v1/orgs/{acme.org_id}/export")
    assert export.status == 200 and "attachment" in export.headers["content-disposition"]
    document = export.json()
    assert document["org"]["id"] == acme.org_id
    assert {a["id"] for a in document["agents"]} == {acme.agent_id}
    assert {r["id"] for r in document["runs"]} == {acme.run_id, charted["id"]}
    assert any(s["run_id"] == charted["id"] for s in document["steps"])
    assert [a["name"] for a in document["artifacts"]] == ["chart.png"]
    assert {f["id"] for f in document["files"]} == {acme.file_id}
    assert [m["email"] for m in document["members"]] == ["person@acme.example.com"]
    assert "key_hash" not in export.text and acme.key not in export.text
    assert globex.org_id not in export.text
    error_of(globex.admin.get(f"/v1/orgs/{acme.org_id}/export"), 404)

    # A run's Fargate sandbox session record (kept per run, outside the org's partitions) goes with the org too.
    from agentlab.models import utc_now
    from agentlab.store.sandbox_sessions import SandboxSessionRecord, SandboxSessionStore

    SandboxSessionStore(platform.table).claim(
        SandboxSessionRecord(
            run_id=charted["id"], task_arn="arn:task", token="t", started_at=utc_now(), last_used_at=utc_now()
        ),
        replacing=None,
    )

    error_of(acme.admin.delete(f"/v1/orgs/{acme.org_id}", params={"confirm": "ACME"}), 400, "confirmation_required")
    error_of(globex.admin.delete(f"/v1/orgs/{acme.org_id}", params={"confirm": "acme"}), 404)
    deleted = acme.admin.delete(f"/v1/orgs/{acme.org_id}", params={"confirm": "acme"})
    assert deleted.status == 200, deleted.text
    assert deleted.json()["runs"] == 2 and deleted.json()["objects"] >= 1

    acme_ids = [acme.org_id, acme.run_id, charted["id"], acme.agent_id, acme.file_id, acme.member_id, acme.key_id]
    paginator = platform.clients.dynamodb.get_paginator("scan")
    leftovers = [
        item
        for page in paginator.paginate(TableName=platform.settings.table_name)
        for item in page["Items"]
        if any(value in json.dumps(item) for value in acme_ids)
    ]
    # Two records stay on purpose: the platform's audit record that the org was deleted (and by whom), and the
    # other tenant's own record of its refused attempt, which is the other tenant's data.
    assert sorted((i["PK"]["S"], i["action"]["S"], i["outcome"]["S"]) for i in leftovers) == sorted(
        [("AUDIT#_platform", "org.delete", "success"), (f"AUDIT#{globex.org_id}", "org.delete", "denied")]
    )
    objects = platform.clients.s3.list_objects_v2(Bucket=platform.settings.bucket_name).get("Contents", [])
    assert not [o["Key"] for o in objects if any(value in o["Key"] for value in acme_ids)]
    error_of(platform.api().post("/v1/auth/login", {"email": "person@acme.example.com", "password": "x"}), 401)
    error_of(acme.admin.get("/v1/agents"), 401)  # its keys went with it
    # The other tenant is whole.
    assert globex.admin.get(f"/v1/runs/{globex.run_id}").json()["status"] == "succeeded"
    assert globex.admin.get("/v1/members").json()["items"][0]["email"] == "person@globex.example.com"


def test_the_export_holds_every_exported_item_the_org_owns_and_no_other(platform: Platform, tmp_path: Path) -> None:
    from agentlab.tenancy import exported_items, org_items

    acme, globex = Tenant(platform, "acme", tmp_path), Tenant(platform, "globex", tmp_path)
    charted = acme.admin.post("/v1/runs", {"agent_id": acme.agent_id, "prompt": "chart", "script": CHART}).json()
    wait_for(acme.admin, charted["id"], TERMINAL)
    kinds = {"agent", "agent_version", "run", "step", "artifact", "file", "member", "api_key"}

    def keys(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(str(i["PK"]), str(i["SK"])) for i in items}

    owned = org_items(platform.table, acme.org_id)
    exported = exported_items(platform.table, acme.org_id)
    assert keys(exported) == keys([i for i in owned if i.get("entity") in kinds])
    assert {i["entity"] for i in exported} == kinds
    assert not keys(exported) & keys(org_items(platform.table, globex.org_id))
    document = acme.admin.get(f"/v1/orgs/{acme.org_id}/export").json()
    counted = {kind: sum(1 for i in exported if i["entity"] == kind) for kind in kinds}
    assert {kind: len(document[kind + "s"]) for kind in kinds} == counted


def test_a_filter_that_matches_little_pages_on_instead_of_reading_everything(platform: Platform) -> None:
    for index in range(10):
        platform.table.put_new({"PK": "AUDIT#paging", "SK": f"{index:02d}", "n": index})
    found, cursor, pages = [], None, 0
    while True:
        page = platform.table.query(
            partition=("PK", "AUDIT#paging"), keep=lambda item: item["n"] == 9, limit=5, cursor=cursor, max_examined=4
        )
        pages += 1
        found.extend(item["n"] for item in page.items)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert found == [9] and pages >= 3


def test_an_audit_range_before_the_epoch_is_simply_empty(api: EventClient) -> None:
    api.post("/v1/agents", {"name": "before-epoch"})
    assert api.get("/v1/audit", params={"until": "0092-08-04T10:05:01-02:05"}).json()["items"] == []
    assert len(api.get("/v1/audit", params={"since": "0092-08-04T10:05:01Z"}).json()["items"]) == 1
