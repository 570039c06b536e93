"""The OpenAPI document tells the whole truth: it is valid OpenAPI 3, every operation says what it does, who may
call it and every status it can answer, its examples and links hold, and a walk over every route of the document
through the real handler provokes each generic status it lists and meets no status it does not list."""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from apiclient import ApiResponse, EventClient
from jsonschema import Draft202012Validator
from moto_platform import Platform
from openapi_spec_validator import validate
from repo_helpers import make_repo
from run_checks import IDLE_WEBHOOK_URL, wait_for, webhook_with_delivery

from agentlab.api.openapi import OPERATIONS
from agentlab.api.permissions import PLATFORM_ACTIONS, PUBLIC, ROLE_ACTIONS, ROUTES

METHODS = ("get", "post", "put", "patch", "delete")
ROLES_LOWEST_FIRST = ("viewer", "member", "operator", "admin")
UNKNOWN_ID = "01JD3ZZZZZZZZZZZZZZZZZZZZZ"
FINISH = [{"tool": "finish", "answer": "done"}]
AWAIT_APPROVAL = [{"tool": "request_approval", "reason": "check with a person"}, {"tool": "finish", "answer": "done"}]
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
PASSWORD = "Correct-Horse-9-Battery"


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def shape(operation: dict[str, Any]) -> dict[str, bool]:
    parameters = operation.get("parameters", [])
    return {
        "body": "requestBody" in operation,
        "path_ids": any(p["in"] == "path" for p in parameters),
        "cursor": any(p["in"] == "query" and p["name"] == "cursor" for p in parameters),
        "parameters": bool(parameters),
    }


def lowest_role(action: str) -> str | None:
    return next((role for role in ROLES_LOWEST_FIRST if action in ROLE_ACTIONS[role]), None)  # type: ignore[index]


def generic_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """What every route of this shape answers, worked out here from the matrix and the route's parameters."""
    action = ROUTES[(method, path)]
    found = shape(operation)
    statuses = {405}
    if action is not PUBLIC:
        statuses |= {401, 429}
        if action in PLATFORM_ACTIONS or lowest_role(action) != "viewer":
            statuses.add(403)
    if found["path_ids"]:
        statuses.add(404)
    if found["cursor"]:
        statuses.add(400)
    if found["parameters"]:
        statuses.add(422)
    if found["body"]:
        statuses |= {400, 413, 415, 422}
    return statuses


def schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    # The document's components sit beside the schema, so its `#/components/...` references resolve.
    return Draft202012Validator(
        {**schema, "components": document["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def body_schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The object schema of a body, also through `anyOf: [$ref, null]`."""
    schema = resolve(document, schema)
    for option in schema.get("anyOf", []):
        if "$ref" in option:
            return resolve(document, option)
    return schema


@pytest.fixture(autouse=True)
def loopback_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhook endpoints on this machine are allowed, as on the local stack (read by the API at its cold start)."""
    monkeypatch.setenv("AGENTLAB_WEBHOOKS_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("AGENTLAB_ALLOW_LOCAL_REPOS", "1")


@pytest.fixture
def document(api: EventClient) -> dict[str, Any]:
    response = api.get("/v1/openapi.json")
    assert response.status == 200
    return dict(response.json())


# the document --------------------------------------------------------------------------------------------------
def test_the_document_is_valid_openapi_3_and_declares_its_security(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")
    schemes = document["components"]["securitySchemes"]
    assert {name: (s["type"], s["scheme"]) for name, s in schemes.items()} == {
        "ApiKey": ("http", "bearer"),
        "CognitoAccessToken": ("http", "bearer"),
    }
    assert "al_" in schemes["ApiKey"]["description"] and "Cognito" in schemes["CognitoAccessToken"]["description"]
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "request_id"]
    # Powertools' validation-error shapes describe answers this API never gives.
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])


def test_every_operation_says_what_it_does_and_who_may_call_it(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        assert (method, path) in OPERATIONS, f"{where} has no entry in api/openapi.py's OPERATIONS"
        assert operation["summary"] and operation["summary"] != where, where
        description = operation["description"]
        action = ROUTES[(method, path)]
        if action is PUBLIC:
            assert "no credentials" in description, where
        elif action in PLATFORM_ACTIONS:
            assert "platform admin" in description, where
        else:
            assert f"Requires the {lowest_role(action)} role or higher" in description, where
        assert len(description.split("\n\n")[0]) > 20, where


def test_every_operation_lists_its_generic_statuses_with_the_error_body_and_its_security(
    document: dict[str, Any],
) -> None:
    every_security = [{"ApiKey": []}, {"CognitoAccessToken": []}]
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        responses = operation["responses"]
        documented = {int(status) for status in responses}
        assert documented >= generic_statuses(method, path, operation), where
        assert any(200 <= status < 300 for status in documented), where
        public = ROUTES[(method, path)] is PUBLIC
        assert operation["security"] == ([] if public else every_security), where
        for status, response in responses.items():
            assert "X-Request-ID" in response["headers"], (where, status)
            if int(status) < 400:
                continue
            assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            codes = re.findall(r"`([a-z_]+)`:", response["description"])
            assert codes and sorted(codes) == sorted(response["content"]["application/json"]["examples"]), where
        headers = {status: set(responses.get(status, {}).get("headers", {})) for status in ("401", "405", "429")}
        assert "Allow" in headers["405"], where
        if not public:
            assert "WWW-Authenticate" in headers["401"] and "Retry-After" in headers["429"], where
        shape_of = shape(operation)
        if shape_of["body"]:
            assert "`invalid_json`" in responses["400"]["description"], where
        if shape_of["cursor"]:
            assert "`invalid_cursor`" in responses["400"]["description"], where


def test_conflicts_the_stores_raise_are_documented(document: dict[str, Any]) -> None:
    def codes(method: str, path: str, status: str) -> str:
        return str(document["paths"][path][method]["responses"][status]["description"])

    assert "`agent_name_taken`" in codes("post", "/v1/agents", "409")
    assert "`concurrent_update`" in codes("put", "/v1/agents/{agent_id}", "409")
    assert "`idempotency_key_reused`" in codes("post", "/v1/runs", "409")
    assert "`invalid_state`" in codes("post", "/v1/runs/{run_id}/cancel", "409")
    assert "`member_exists`" in codes("post", "/v1/members", "409")
    assert "`upload_missing`" in codes("post", "/v1/files/{file_id}/complete", "409")
    assert "200" in document["paths"]["/v1/runs"]["post"]["responses"]  # an idempotent replay


def media_objects(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for method, path, operation in operations(document):
        if "requestBody" in operation:
            yield f"{method} {path} request", operation["requestBody"]["content"]["application/json"]
        for status, response in operation["responses"].items():
            if "application/json" in response.get("content", {}):
                yield f"{method} {path} {status}", response["content"]["application/json"]


def test_every_body_has_an_example_and_every_example_validates_against_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for where, media in media_objects(document):
        examples = [media["example"]] if "example" in media else []
        examples += [named["value"] for named in media.get("examples", {}).values()]
        assert examples, f"{where} has no example"
        validator = schema_validator(document, media["schema"])
        for example in examples:
            errors = [error.message for error in validator.iter_errors(example)]
            assert not errors, (where, errors)
            checked += 1
    assert checked > 150


def pointer_schema(document: dict[str, Any], schema: dict[str, Any], pointer: str) -> dict[str, Any]:
    for part in pointer.strip("/").split("/"):
        schema = resolve(document, schema)
        assert part in schema.get("properties", {}), (pointer, part)
        schema = schema["properties"][part]
    return schema


def test_links_point_at_existing_operations_parameters_and_response_fields(document: dict[str, Any]) -> None:
    by_id = {operation["operationId"]: (method, path, operation) for method, path, operation in operations(document)}
    found: set[tuple[str, str, str, str]] = set()
    for method, path, operation in operations(document):
        for response in operation["responses"].values():
            for name, link in response.get("links", {}).items():
                assert re.fullmatch(r"[A-Za-z0-9.\-_]+", name)
                target_method, target_path, target = by_id[link["operationId"]]
                declared = {(p["in"], p["name"]) for p in target.get("parameters", [])}
                source = response["content"]["application/json"]["schema"]
                for parameter, expression in link.get("parameters", {}).items():
                    location, _, parameter_name = parameter.partition(".")
                    assert (location, parameter_name) in declared, (name, parameter)
                    pointer_schema(document, source, expression.removeprefix("$response.body#"))
                for property_name, expression in link.get("requestBody", {}).items():
                    target_body = body_schema(document, target["requestBody"]["content"]["application/json"]["schema"])
                    assert property_name in target_body["properties"], (name, property_name)
                    if isinstance(expression, str) and expression.startswith("$response.body#"):
                        pointer_schema(document, source, expression.removeprefix("$response.body#"))
                    else:  # a literal the link sends as it is
                        assert schema_validator(document, target_body["properties"][property_name]).is_valid(
                            expression
                        ), (name, property_name)
                required_path = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
                assert required_path <= {p.partition(".")[2] for p in link.get("parameters", {})}, name
                found.add((method, path, target_method, target_path))
    for create, reads in {
        "/v1/agents": ["GET /v1/agents/{agent_id}", "PUT /v1/agents/{agent_id}", "GET /v1/agents/{agent_id}/versions"],
        "/v1/runs": [
            "GET /v1/runs/{run_id}",
            "GET /v1/runs/{run_id}/steps",
            "GET /v1/runs/{run_id}/artifacts",
            "POST /v1/runs/{run_id}/cancel",
        ],
        "/v1/files": ["GET /v1/files/{file_id}", "POST /v1/files/{file_id}/complete"],
        "/v1/members": ["PATCH /v1/members/{member_id}", "DELETE /v1/members/{member_id}"],
        "/v1/api-keys": ["POST /v1/api-keys/{key_id}/rotate", "DELETE /v1/api-keys/{key_id}"],
        "/v1/orgs": ["GET /v1/orgs/{org_id}/export"],
    }.items():
        for read in reads:
            target_method, target_path = read.split(" ")
            assert ("POST", create, target_method, target_path) in found, (create, read)
    assert ("POST", "/v1/agents", "POST", "/v1/runs") in found


def test_an_org_link_followed_by_its_creator_reaches_the_new_org_and_no_one_else(
    platform: Platform, document: dict[str, Any]
) -> None:
    # Given the links the document gives an org's creation
    links = document["paths"]["/v1/orgs"]["post"]["responses"]["201"]["links"]
    export = next(
        link
        for link in links.values()
        if link["operationId"] == operation_id(document, "GET", "/v1/orgs/{org_id}/export")
    )
    assert export["parameters"] == {"path.org_id": "$response.body#/org/id"}
    org_id, _ = platform.new_org("home")
    _, key = platform.orgs.create_api_key(org_id, name="operator of the platform", role="admin", platform_admin=True)
    creator = platform.api(key)
    _, other_admin = platform.new_org("elsewhere")

    # When the platform admin creates an org and follows the link
    created = creator.post("/v1/orgs", {"name": "linked"})
    assert created.status == 201, created.text
    new_id = created.json()["org"]["id"]

    # Then it reaches the new org's export; another org's admin is told no such org; the new org's admin reaches it
    assert creator.get(f"/v1/orgs/{new_id}/export").status == 200
    assert platform.api(other_admin).get(f"/v1/orgs/{new_id}/export").status == 404
    assert platform.api(created.json()["api_key"]["key"]).get(f"/v1/orgs/{new_id}/export").status == 200


def operation_id(document: dict[str, Any], method: str, path: str) -> str:
    return str(document["paths"][path][method.lower()]["operationId"])


def test_the_docs_page_shows_the_served_document(platform: Platform, document: dict[str, Any]) -> None:
    anyone = platform.api()
    page = anyone.get("/v1/docs")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text and "</script>" in page.text
    assert '"securitySchemes"' in page.text and '"Start a run"' in page.text
    assert anyone.get("/v1/docs", params={"format": "json"}).json() == document


# the walk ------------------------------------------------------------------------------------------------------
@dataclass
class Probe:
    label: str
    method: str
    path: str
    client: EventClient
    body: Any = None
    raw: str | None = None
    headers: dict[str, str] | None = None
    params: dict[str, Any] | None = None
    expect: int | None = None


@dataclass
class World:
    """One org with an object of every kind, its admin (also a platform admin) and a viewer; a second org to
    delete; and the requests each route accepts."""

    platform: Platform
    ids: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        platform = self.platform
        org = platform.orgs.create_org("walk")
        _, key = platform.orgs.create_api_key(org.id, name="walker", role="admin", platform_admin=True)
        _, viewer = platform.orgs.create_api_key(org.id, name="viewer", role="viewer")
        self.org_id, self.admin, self.viewer, self.anonymous = (
            org.id,
            platform.api(key),
            platform.api(viewer),
            platform.api(),
        )
        admin = self.admin

        def created(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = admin.post(path, body)
            assert response.status == 201, response.text
            return dict(response.json())

        agent = created("/v1/agents", {"name": "walker", "models": {"reasoning": ["scripted"]}})["id"]
        spare_agent = created("/v1/agents", {"name": "spare", "models": {"reasoning": ["scripted"]}})["id"]
        run = created("/v1/runs", {"agent_id": agent, "prompt": "go", "script": FINISH})["id"]
        wait_for(admin, run, TERMINAL)
        for purpose in ("cancel", "approve", "reject"):
            waiting = created("/v1/runs", {"agent_id": agent, "prompt": purpose, "script": AWAIT_APPROVAL})["id"]
            self.waiting[purpose] = waiting
        for waiting in self.waiting.values():
            wait_for(admin, waiting, {"waiting_approval"})
        announced = created("/v1/files", {"name": "a.csv", "content_type": "text/csv", "size": 8})
        fields = announced["upload"]["fields"]
        platform.clients.s3.put_object(
            Bucket=platform.settings.bucket_name, Key=fields["key"], Body=b"a,b\n1,2\n", ContentType="text/csv"
        )
        member = platform.new_user(admin, "person@walk.example.com", "viewer", PASSWORD)["id"]
        spare_member = platform.new_user(admin, "spare@walk.example.com", "viewer", PASSWORD)["id"]
        self.tokens = platform.login("person@walk.example.com", PASSWORD)
        spare_key = created("/v1/api-keys", {"name": "spare", "role": "viewer"})["id"]
        doomed = created("/v1/orgs", {"name": "doomed"})["org"]["id"]
        schedule_body = {"name": "walk", "agent_id": agent, "prompt": "go", "expression": "rate(1 hour)"}
        schedule = created("/v1/schedules", schedule_body)["id"]
        spare_schedule = created("/v1/schedules", {**schedule_body, "name": "spare"})["id"]
        self.ids = {
            "agent_id": agent,
            "run_id": run,
            "file_id": announced["file"]["id"],
            "member_id": member,
            "key_id": spare_key,
            "org_id": org.id,
            "schedule_id": schedule,
        }
        # Deletions take objects of their own, so the routes after them still find theirs.
        self.deleted = {"agent_id": spare_agent, "member_id": spare_member, "key_id": spare_key, "org_id": doomed}
        self.deleted["schedule_id"] = spare_schedule
        self.ids["webhook_id"], self.ids["delivery_id"] = webhook_with_delivery(platform, admin, org.id)
        self.deleted["webhook_id"], _ = webhook_with_delivery(platform, admin, org.id)
        self.repo_path = make_repo(Path(tempfile.mkdtemp(prefix="walk-repo-")) / "walked", {"README.md": "walk\n"})
        self.ids["repo_id"] = created("/v1/repos", {"url": f"file://{self.repo_path}"})["id"]
        self.deleted["repo_id"] = created("/v1/repos", {"url": f"file://{self.repo_path}", "name": "spare"})["id"]
        # A repo run with its baseline (a repository with no tests: it fails `no_tests_found`, baseline written).
        self.repo_run = created(f"/v1/repos/{self.ids['repo_id']}/runs", {})["id"]
        wait_for(admin, self.repo_run, TERMINAL)

    def path(self, method: str, template: str, ids: dict[str, str] | None = None) -> str:
        if ids is not None:
            chosen = ids
        else:
            # Deletions and the decisions on a waiting run take objects of their own.
            chosen = {**self.ids, **(self.deleted if method == "DELETE" else {})}
            action = template.rsplit("/", 1)[-1]
            if template.startswith("/v1/runs/{run_id}/") and action in self.waiting:
                chosen["run_id"] = self.waiting[action]
            if template == "/v1/runs/{run_id}/baseline":
                chosen["run_id"] = self.repo_run
        return re.sub(r"\{(\w+)\}", lambda m: chosen[m.group(1)], template)

    def valid_body(self, method: str, template: str) -> Any:
        return {
            ("POST", "/v1/auth/login"): {"email": "person@walk.example.com", "password": PASSWORD},
            ("POST", "/v1/auth/refresh"): {"refresh_token": self.tokens["refresh_token"]},
            ("POST", "/v1/agents"): {"name": "fresh", "models": {"reasoning": ["scripted"]}},
            ("PUT", "/v1/agents/{agent_id}"): {"description": "walked"},
            ("POST", "/v1/runs"): {"agent_id": self.ids["agent_id"], "prompt": "go", "script": FINISH},
            ("POST", "/v1/runs/{run_id}/approve"): {"comment": "fine"},
            ("POST", "/v1/runs/{run_id}/reject"): {"comment": "no"},
            ("POST", "/v1/files"): {"name": "b.csv", "content_type": "text/csv", "size": 4},
            ("POST", "/v1/members"): {"email": "fresh@walk.example.com", "role": "viewer", "password": PASSWORD},
            ("PATCH", "/v1/members/{member_id}"): {"role": "operator"},
            ("POST", "/v1/api-keys"): {"name": "fresh", "role": "viewer"},
            ("POST", "/v1/orgs"): {"name": "fresh-org"},
            ("POST", "/v1/schedules"): {
                "name": "fresh",
                "agent_id": self.ids["agent_id"],
                "prompt": "go",
                "expression": "cron(0 9 * * ? *)",
            },
            ("PATCH", "/v1/schedules/{schedule_id}"): {"name": "walked"},
            ("POST", "/v1/schedules/{schedule_id}/pause"): {"reason": "walked"},
            ("POST", "/v1/schedules/preview"): {"expression": "rate(1 hour)", "timezone": "UTC"},
            ("POST", "/v1/webhooks"): {"url": IDLE_WEBHOOK_URL, "events": ["run.succeeded"]},
            ("PATCH", "/v1/webhooks/{webhook_id}"): {"description": "walked"},
            ("PUT", "/v1/usage/budget"): {"monthly_usd": 25.0},
            ("POST", "/v1/repos"): {"url": f"file://{self.repo_path}"},
            ("PATCH", "/v1/repos/{repo_id}"): {"name": "walked"},
            ("PUT", "/v1/repos/{repo_id}/config"): {"overrides": {"test": "echo walked"}},
            ("POST", "/v1/repos/{repo_id}/runs"): {"branch": "main"},
        }.get((method, template))

    def valid_params(self, method: str, template: str) -> dict[str, Any] | None:
        return {"confirm": "doomed"} if (method, template) == ("DELETE", "/v1/orgs/{org_id}") else None

    def probes(self, method: str, template: str, operation: dict[str, Any]) -> list[Probe]:
        """Requests that provoke each generic status of the route, then one it accepts."""
        action = ROUTES[(method, template)]
        found = shape(operation)
        body, params = self.valid_body(method, template), self.valid_params(method, template)
        path = self.path(method, template)

        def probe(label: str, client: EventClient, expect: int | None, **kwargs: Any) -> Probe:
            request = {"path": path, "body": body, "params": params, **kwargs}
            return Probe(label, method, client=client, expect=expect, **request)

        probes = []
        if action is not PUBLIC:
            probes.append(probe("no credentials", self.anonymous, 401))
            refused = action in PLATFORM_ACTIONS or lowest_role(action) != "viewer"
            probes.append(probe("a viewer", self.viewer, 403 if refused else None))
        if found["path_ids"]:
            unknown = self.path(method, template, {name: UNKNOWN_ID for name in self.ids})
            probes.append(probe("an id that exists nowhere", self.admin, 404, path=unknown))
            malformed = self.path(method, template, {name: "not!an!id" for name in self.ids})
            probes.append(probe("a malformed id", self.admin, 422, path=malformed))
        if found["cursor"]:
            probes.append(probe("a made-up cursor", self.admin, 400, params={**(params or {}), "cursor": "bogus"}))
            probes.append(probe("a limit out of range", self.admin, 422, params={**(params or {}), "limit": 0}))
        constrained = [
            p["name"]
            for p in operation.get("parameters", [])
            if p["in"] == "query" and p["name"] not in {"cursor", "limit"} and {"enum", "pattern"} & set(p["schema"])
        ]
        if constrained and not found["cursor"] and not found["path_ids"]:
            bad = {**(params or {}), constrained[0]: "not a valid value!"}
            probes.append(probe(f"a {constrained[0]} outside its schema", self.admin, 422, params=bad))
        if found["body"]:
            probes.append(probe("a body that is not JSON", self.admin, 400, body=None, raw="{"))
            probes.append(probe("a body with an unknown field", self.admin, 422, body={"no_such_field": 1}))
            probes.append(
                probe("a form body", self.admin, 415, body=None, raw="a=1", headers={"content-type": "text/plain"})
            )
            limit = self.platform.settings.max_body_bytes
            probes.append(probe("a body over the size limit", self.admin, 413, body=None, raw="x" * (limit + 1)))
        if (method, template) == ("DELETE", "/v1/orgs/{org_id}"):
            probes.append(probe("no confirmation", self.admin, 422, params={}))
        probes.append(probe("a request it accepts", self.admin, None))
        return probes


def send(probe: Probe) -> ApiResponse:
    return probe.client.request(
        probe.method, probe.path, probe.body, raw=probe.raw, headers=probe.headers, params=probe.params
    )


def check_against_document(document: dict[str, Any], operation: dict[str, Any], response: ApiResponse) -> list[str]:
    """What about this answer the document does not say: its status, body or headers."""
    documented = operation["responses"].get(str(response.status))
    if documented is None:
        return [f"status {response.status} is not documented ({response.text[:200]})"]
    problems = []
    for name, header in documented.get("headers", {}).items():
        definition = document["components"]["headers"][header["$ref"].rsplit("/", 1)[-1]]
        if definition.get("required") and name.lower() not in response.headers:
            problems.append(f"{response.status} without the {name} header")
    media = documented.get("content", {}).get("application/json")
    if media is not None:
        body = response.json()
        problems += [e.message for e in schema_validator(document, media["schema"]).iter_errors(body)][:3]
        if response.status >= 400 and f"`{body['error']['code']}`" not in documented["description"]:
            problems.append(f"{response.status} with the undocumented code {body['error']['code']}")
    return problems


def order(item: tuple[str, str, dict[str, Any]]) -> tuple[bool, bool, str, str]:
    method, path, _ = item
    # Deletions last, the org's own deletion very last.
    return method == "DELETE", path == "/v1/orgs/{org_id}", path, method


def test_a_walk_over_every_route_meets_only_documented_statuses_and_provokes_every_generic_one(
    platform: Platform, document: dict[str, Any]
) -> None:
    # Given an org with one object of every kind
    world = World(platform)
    problems: list[str] = []
    observed: dict[tuple[str, str], set[int]] = defaultdict(set)
    created: dict[tuple[str, str], dict[str, Any]] = {}

    # When every route of the document gets the requests that provoke its generic statuses, and one it accepts
    for method, path, operation in sorted(operations(document), key=order):
        for probe in world.probes(method, path, operation):
            response = send(probe)
            where = f"{method} {path} with {probe.label}"
            observed[(method, path)].add(response.status)
            if probe.expect is not None and response.status != probe.expect:
                problems.append(f"{where}: {response.status}, expected {probe.expect}: {response.text[:200]}")
            if probe.label == "a request it accepts" and not 200 <= response.status < 300:
                problems.append(f"{where}: {response.status}: {response.text[:200]}")
            if response.status == 401 and not response.headers.get("www-authenticate", "").startswith("Bearer"):
                problems.append(f"{where}: 401 without `WWW-Authenticate: Bearer`")
            problems += [f"{where}: {problem}" for problem in check_against_document(document, operation, response)]
            if probe.label == "a request it accepts" and response.status == 201:
                created[(method, path)] = response.json()

    # Then the answers are all in the document, and every generic status it lists was met
    for method, path, operation in operations(document):
        missing = generic_statuses(method, path, operation) - {405, 429} - observed[(method, path)]
        if missing:
            problems.append(f"{method} {path}: never answered {sorted(missing)}")
    assert not problems, "\n".join(problems)
    assert len(observed) == len(list(operations(document)))
    # And the links of the create routes lead to objects that are there
    follow_links(document, world, created)


def follow_links(document: dict[str, Any], world: World, created: dict[tuple[str, str], dict[str, Any]]) -> None:
    by_id = {operation["operationId"]: (method, path) for method, path, operation in operations(document)}
    followed = 0
    for (method, path), body in created.items():
        links = document["paths"][path][method.lower()]["responses"]["201"].get("links", {})
        for link in links.values():
            target_method, target_path = by_id[link["operationId"]]
            if target_method != "GET" or "{" not in target_path:
                continue
            values = {}
            for parameter, expression in link["parameters"].items():
                value: Any = body
                for part in expression.removeprefix("$response.body#/").split("/"):
                    value = value[part]
                values[parameter.partition(".")[2]] = value
            response = world.admin.get(world.path(target_method, target_path, values))
            assert response.status == 200, (path, target_path, response.text)
            followed += 1
    assert followed >= 6


def test_every_route_with_credentials_answers_429_with_retry_after_as_documented(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, one_rate_window: float
) -> None:
    # Given limits of one request a minute per identity (and one sign-in attempt per address), read at cold start
    monkeypatch.setenv("AGENTLAB_RATE_LIMIT_REQUESTS_PER_MINUTE", "1")
    monkeypatch.setenv("AGENTLAB_RATE_LIMIT_LOGINS_PER_MINUTE", "1")
    document = platform.api().get("/v1/openapi.json").json()
    org = platform.orgs.create_org("limited")
    problems = []
    for method, path, operation in operations(document):
        if "429" not in operation["responses"]:
            continue
        # When a fresh identity calls the route twice
        _, key = platform.orgs.create_api_key(org.id, name="once", role="admin", platform_admin=True)
        client = platform.api(key if ROUTES[(method, path)] is not PUBLIC else None)
        target = re.sub(r"\{\w+\}", UNKNOWN_ID, path)
        body = {"email": "nobody@example.com", "password": "x"} if path == "/v1/auth/login" else None
        client.request(method, target, body)
        second = client.request(method, target, body)
        # Then the second answer is the documented 429 with a Retry-After in seconds
        if second.status != 429 or not second.headers.get("retry-after", "").isdigit():
            problems.append(f"{method} {path}: {second.status} {second.headers.get('retry-after')}")
        problems += [f"{method} {path}: {p}" for p in check_against_document(document, operation, second)]
    assert not problems, "\n".join(problems)


def test_a_method_a_path_does_not_have_answers_405_with_allow_and_every_operation_of_the_path_lists_it(
    platform: Platform, api: EventClient, document: dict[str, Any]
) -> None:
    problems = []
    for path, item in document["paths"].items():
        concrete = re.sub(r"\{\w+\}", UNKNOWN_ID, path)
        other = next(method for method in METHODS if method not in item)
        # When a caller with credentials uses another method, and a caller without credentials does
        response = api.request(other.upper(), concrete, {} if other in ("post", "put", "patch") else None)
        anonymous = platform.api().request(other.upper(), concrete)
        # Then the one hears 405 with the path's methods in Allow, the other 401, and every operation lists 405
        allowed = {method.strip().lower() for method in response.headers.get("allow", "").split(",")}
        if response.status != 405 or not set(item) <= allowed:
            problems.append(f"{other.upper()} {path}: {response.status}, Allow: {response.headers.get('allow')}")
        if anonymous.status != 401:
            problems.append(f"{other.upper()} {path} without credentials: {anonymous.status}")
        for method, operation in item.items():
            problems += [f"{method.upper()} {path}: {p}" for p in check_against_document(document, operation, response)]
    assert not problems, "\n".join(problems)


def test_numbers_the_table_cannot_keep_are_refused_as_documented_not_failed(
    api: EventClient, document: dict[str, Any]
) -> None:
    # Given an agent
    agent = api.post("/v1/agents", {"name": "counter", "models": {"reasoning": ["scripted"]}}).json()["id"]
    refused = []
    # When bodies carry numbers DynamoDB cannot store exactly (too small, too large, too many digits)
    for method, path, body in [
        ("POST", "/v1/runs", {"agent_id": agent, "prompt": "go", "script": FINISH, "env": {"BIG": value}})
        for value in (
            {"type": "float", "value": 1e300},
            {"type": "int", "value": 10**40},
            {"type": "float", "value": 5e-324},
        )
    ]:
        response = api.request(method, path, body)
        refused.append((method, path, response.status, response.json()["error"]["code"]))
        template = re.sub(r"/[0-9A-Z]{26}$", "/{agent_id}", path)
        # Then each is the documented 422, not a 500
        assert not check_against_document(document, document["paths"][template][method.lower()], response)
    assert {(status, code) for *_, status, code in refused} == {(422, "number_out_of_range")}
    # And an amount in USD is kept to the micro-dollar, so one too small to store is no amount at all
    tiny = api.post("/v1/agents", {"name": "tiny", "limits": {"max_cost_usd": 1e-300}})
    assert tiny.status == 201 and tiny.json()["limits"]["max_cost_usd"] == 0
    updated = api.put(f"/v1/agents/{agent}", {"limits": {"max_cost_usd": 5e-324}})
    assert updated.status == 200 and updated.json()["limits"]["max_cost_usd"] == 0


def test_objects_with_an_empty_key_are_refused_as_documented_and_nothing_unreadable_is_stored(
    api: EventClient, document: dict[str, Any]
) -> None:
    # Given an agent and a run that others on its thread will follow
    agent = api.post("/v1/agents", {"name": "keys", "models": {"reasoning": ["scripted"]}}).json()["id"]
    first = api.post("/v1/runs", {"agent_id": agent, "prompt": "go", "script": FINISH}).json()
    # When a run on the thread carries a json env value with an empty key, at the top or nested
    for value in ({"": True}, {"a": [{"b": {"": 1}}]}):
        env = {"DOC": {"type": "json", "value": value}}
        response = api.post(
            "/v1/runs", {"agent_id": agent, "prompt": "go", "thread_id": first["thread_id"], "env": env}
        )
        # Then it is the documented 422 naming the problem
        assert response.status == 422, response.text
        assert "empty object key" in response.text
        assert not check_against_document(document, document["paths"]["/v1/runs"]["post"], response)
    # And the thread and its runs are still readable (DynamoDB refuses such a key; moto would keep it unreadably)
    assert api.get("/v1/runs", params={"thread_id": first["thread_id"]}).status == 200
    assert api.get(f"/v1/runs/{first['id']}").status == 200
