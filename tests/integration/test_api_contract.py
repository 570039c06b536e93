"""The API's contract holds both ways, and HTTP means what it says.

For every request body and every query, header and path parameter of the served OpenAPI document, values are made
from the schema itself (the wrong JSON type, null, each bound and one past it, lengths, patterns, enums, times, list
and map sizes, unknown and missing fields). Each is judged against the document's schema with jsonschema and sent to
the real handler with everything else valid: the server must refuse, with nothing changed, exactly what the document
refuses, and must not refuse as malformed anything the document allows (it may still answer that an id does not
exist, a name is taken or a password is too weak: the document lists those answers too).

Then the semantics every route shares: 405 with Allow, 401 with a bearer challenge, HEAD wherever GET is, and OPTIONS
without an Origin as a plain OPTIONS, through the handler and through the local gateway.
"""

from __future__ import annotations

import copy
import http.client
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from apiclient import ApiResponse, EventClient
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from moto_platform import Platform
from repo_helpers import make_repo
from rfc3339_validator import validate_rfc3339
from run_checks import BOOKKEEPING_ATTRIBUTES, BOOKKEEPING_PARTITIONS, IDLE_WEBHOOK_URL, error_of, webhook_with_delivery

from agentlab.api.app import create_app
from agentlab.api.deps import ApiDeps, ApiSettings
from agentlab.api.openapi import served_document
from agentlab.local.functions import HandlerRegistry
from agentlab.store.blobs import file_key

MISSING: Any = object()
UNKNOWN_ID = "01JD3ZZZZZZZZZZZZZZZZZZZZZ"
PASSWORD = "Correct-Horse-9-Battery"
# Refusals of a request's form: what a value the document refuses must get, and a value it allows must not.
# A schedule's timezone outside the document's list (the pinned tz database) is refused with its own code, which the
# dashboard shows on the timezone field; it is a refusal of the form all the same.
FORM_REFUSALS = {(422, "validation_error"), (400, "invalid_json"), (422, "invalid_timezone")}
METHODS = ("get", "put", "post", "delete", "patch")


# judging values against the document ---------------------------------------------------------------------------
def _ecma_pattern(pattern: str) -> str:
    """The pattern as JSON Schema reads it (ECMA-262, as the server's regex engine does): `$` is the end of the text,
    where Python's `$` also matches before a final newline."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "]":
            in_class = False
            out.append(char)
        else:
            out.append(r"\Z" if char == "$" and not in_class else char)
    return "".join(out)


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not re.search(_ecma_pattern(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


FORMATS = FormatChecker()


@FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    # rfc3339_validator anchors with `$`, which lets a final newline through; RFC 3339 does not.
    return not isinstance(value, str) or ("\n" not in value and validate_rfc3339(value))


ContractValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})


def judge(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> bool:
    """Whether the document allows `instance` where `schema` applies (refs resolve against the document)."""
    root = {**schema, "components": document["components"]}
    return ContractValidator(root, format_checker=FORMATS).is_valid(instance)


# making probes from a schema ------------------------------------------------------------------------------------
def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def branches(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a schema (`X | None` is `anyOf: [X, null]`)."""
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return [resolve(document, option) for option in options if option.get("type") != "null"]


WRONG_TYPES: dict[str, list[tuple[str, Any]]] = {
    "integer": [("true", True), ("false", False), ("numeric string", "7"), ("fraction", 2.5), ("text", "seven")],
    "number": [("true", True), ("false", False), ("numeric string", "2.5"), ("integer string", "7")],
    "string": [("integer", 7), ("number", 2.5), ("boolean", True), ("list", ["x"])],
    "boolean": [("one", 1), ("zero", 0), ("text", "true")],
    "array": [("text", "x"), ("object", {})],
    "object": [("list", []), ("text", "x"), ("number", 1)],
}
# For a value of any type (a typed env var's, say): what other parts of the schema, if any, allow.
ANY_VALUES = [
    ("text", "x"),
    ("empty text", ""),
    ("integer", 7),
    ("integral number", 7.0),
    ("fraction", 2.5),
    ("true", True),
    ("list", [1]),
    ("object", {"a": 1}),
]
TIMES = [
    ("utc time", "2099-01-01T00:00:00Z"),
    ("offset and fraction", "2099-06-30T23:59:59.250+02:00"),
    ("a date only", "2099-01-01"),
    ("no offset", "2099-01-01T00:00:00"),
    ("a space for T", "2099-01-01 00:00:00Z"),
    ("lower-case t and z", "2099-01-01t00:00:00z"),
    ("Unix seconds", "4102444800"),
    ("no such day", "2099-02-30T00:00:00Z"),
    ("a final newline", "2099-01-01T00:00:00Z\n"),
]


def sized(base: Any, length: int) -> str:
    """A text of `length` characters from a valid one: shortened from the front, or lengthened with its first
    character (which keeps most patterns, e.g. an id's alphabet, a name's first letter, an email's local part)."""
    text = base if isinstance(base, str) and base else "a"
    if length <= len(text):
        return text[len(text) - length :]
    return text[0] * (length - len(text)) + text


def distinct(base: Any, how_many: int) -> list[Any]:
    """`how_many` different items like `base` (for lists whose items must be unique)."""
    if not isinstance(base, str) or len(base) < 2:
        return [base] * how_many
    alphabet = sorted(set(base))
    pairs = [a + b for a in alphabet for b in alphabet]
    return [base[:-2] + pair for pair in pairs[:how_many]]


def scalar_probes(schema: dict[str, Any], base: Any) -> list[tuple[str, Any]]:
    kind = schema.get("type")
    probes: list[tuple[str, Any]] = list(WRONG_TYPES.get(kind, [])) if isinstance(kind, str) else []
    if not ({"type", "enum", "const", "properties", "anyOf", "oneOf"} & set(schema)):
        probes += ANY_VALUES
    if kind in ("integer", "number"):
        step = 1 if kind == "integer" else 0.01
        for key, inside, outside in (
            ("minimum", 0, -step),
            ("maximum", 0, step),
            ("exclusiveMinimum", step, 0),
            ("exclusiveMaximum", -step, 0),
        ):
            if key in schema:
                bound = schema[key]
                probes += [
                    (f"{key} {bound}", _number(bound + inside, kind)),
                    (f"past {key}", _number(bound + outside, kind)),
                ]
                if kind == "integer":
                    probes.append((f"{key} as a float", float(bound + inside)))
    if kind == "string":
        if "minLength" in schema:
            low = schema["minLength"]
            probes += [(f"minLength {low}", sized(base, low))]
            if low > 0:
                probes.append(("below minLength", sized(base, low - 1)))
        if "maxLength" in schema:
            high = schema["maxLength"]
            probes += [(f"maxLength {high}", sized(base, high)), ("past maxLength", sized(base, high + 1))]
        if "pattern" in schema and isinstance(base, str):
            probes += [
                ("a final newline", base + "\n"),
                ("a leading space", " " + base),
                ("a control character", base + "\x01"),
                ("non-ASCII", base + "é"),
                ("empty", ""),
            ]
        if schema.get("format") == "date-time":
            probes += TIMES
    if "enum" in schema:
        probes += [(f"enum {value!r}", value) for value in schema["enum"]]
        probes += [("not in the enum", "not-a-member")]
        probes += [(f"{value!r} in capitals", value.upper()) for value in schema["enum"][:1] if isinstance(value, str)]
    if "const" in schema:
        probes += [("the const", schema["const"]), ("not the const", "not-the-const")]
    return probes


def _number(value: float, kind: str) -> float:
    return int(value) if kind == "integer" else round(value, 6)


@dataclass
class Probe:
    label: str
    body: Any


def body_probes(document: dict[str, Any], schema: dict[str, Any], base: Any) -> Iterator[Probe]:
    """Whole bodies, each the base with one value changed, for every place of the schema the base reaches."""
    yield Probe("the body: null", None)
    yield from _probes_at(document, schema, base, (), base)


def _set(body: Any, where: tuple[Any, ...], value: Any) -> Any:
    if not where:
        return value
    changed = copy.deepcopy(body)
    target = changed
    for key in where[:-1]:
        target = target[key]
    if value is MISSING:
        target.pop(where[-1], None)
    else:
        target[where[-1]] = value
    return changed


def _probes_at(
    document: dict[str, Any], schema: dict[str, Any], value: Any, where: tuple[Any, ...], body: Any
) -> Iterator[Probe]:
    name = ".".join(str(part) for part in where) or "the body"
    nullable = any(option.get("type") == "null" for option in schema.get("anyOf", []))
    if where:
        yield Probe(f"{name}: null ({'allowed' if nullable else 'refused'})", _set(body, where, None))
    for option in branches(document, schema):
        for label, probe in scalar_probes(option, value):
            yield Probe(f"{name}: {label}", _set(body, where, probe))
        if option.get("type") == "object" or "properties" in option:
            yield from _object_probes(document, option, value, where, body, name)
        if option.get("type") == "array":
            yield from _array_probes(document, option, value, where, body, name)


def _object_probes(
    document: dict[str, Any], schema: dict[str, Any], value: Any, where: tuple[Any, ...], body: Any, name: str
) -> Iterator[Probe]:
    current = value if isinstance(value, dict) else {}
    if value is MISSING or not isinstance(value, dict):
        body = _set(body, where, current)
    properties = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        yield Probe(f"{name}: an unknown field", _set(body, (*where, "unexpected_field"), 1))
    for required in schema.get("required", []):
        yield Probe(f"{name}: without {required}", _set(body, (*where, required), MISSING))
    for key, sub in properties.items():
        yield from _probes_at(document, sub, current.get(key, MISSING), (*where, key), body)
    entries = schema.get("additionalProperties")
    if isinstance(entries, dict) and current:
        for key, entry in current.items():
            yield from _probes_at(document, entries, entry, (*where, key), body)
        first_value = next(iter(current.values()))
        for label, key in [
            ("a valid name", "PROBE_NAME_1"),
            ("lower case", "lower"),
            ("a leading digit", "1ST"),
            ("reserved", "PATH"),
            ("reserved prefix", "AWS_PROBE"),
            ("64 characters", "V" * 64),
            ("65 characters", "V" * 65),
            ("a final newline", "PROBE\n"),
            ("empty", ""),
        ]:
            yield Probe(f"{name}: key {label}", _set(body, (*where, key), first_value))
        for size_key, delta in (
            ("maxProperties", 0),
            ("maxProperties", 1),
            ("minProperties", 0),
            ("minProperties", -1),
        ):
            if size_key in schema and schema[size_key] + delta >= 0:
                size = schema[size_key] + delta
                many = {f"V{n}": first_value for n in range(size)}
                yield Probe(f"{name}: {size} entries ({size_key})", _set(body, where, many))


def _array_probes(
    document: dict[str, Any], schema: dict[str, Any], value: Any, where: tuple[Any, ...], body: Any, name: str
) -> Iterator[Probe]:
    items = schema.get("items", {})
    current = value if isinstance(value, list) else []
    first = current[0] if current else _item_example(document, items)
    yield Probe(f"{name}: empty list", _set(body, where, []))
    make = (lambda n: distinct(first, n)) if schema.get("uniqueItems") else (lambda n: [first] * n)
    for size_key, delta in (("minItems", 0), ("minItems", -1), ("maxItems", 0), ("maxItems", 1)):
        if size_key in schema and schema[size_key] + delta >= 0 and first is not MISSING:
            size = schema[size_key] + delta
            yield Probe(f"{name}: {size} items ({size_key})", _set(body, where, make(size)))
    if schema.get("uniqueItems") and first is not MISSING:
        yield Probe(f"{name}: a repeated item", _set(body, where, [first, first]))
    if first is not MISSING:
        with_first = _set(body, where, [first, *current[1:]])
        yield from _probes_at(document, items, first, (*where, 0), with_first)


def _item_example(document: dict[str, Any], items: dict[str, Any]) -> Any:
    for option in branches(document, items):
        if "enum" in option:
            return option["enum"][0]
    return MISSING


def parameter_probes(schema: dict[str, Any], base: str | None) -> list[tuple[str, str]]:
    """Values for a query, header or path parameter, as the text the request carries."""
    probes: list[tuple[str, str]] = []
    kind = schema.get("type")
    for label, value in scalar_probes(schema, base):
        if isinstance(value, bool):
            probes.append((label, "true" if value else "false"))
        elif isinstance(value, int | float | str):
            probes.append((label, str(value)))
    if kind == "integer":
        probes += [
            ("a fraction", "1.5"),
            ("a point zero", "5.0"),
            ("a leading space", " 5"),
            ("a plus sign", "+5"),
            ("an underscore", "1_0"),
            ("an exponent", "1e2"),
            ("a non-ASCII digit", "\u0663"),
            ("empty", ""),
        ]
    if kind == "string" and base is not None:
        probes.append(("the base value", base))
    return probes


def read_parameter(schema: dict[str, Any], text: str) -> Any:
    """What the document says a parameter's text means: a JSON Schema integer is a decimal numeral."""
    if schema.get("type") == "integer":
        return int(text) if re.fullmatch(r"-?[0-9]+", text) else MISSING
    return text


# the world the probes run in -----------------------------------------------------------------------------------
def document_operations() -> list[tuple[str, str]]:
    """The operations of the document as the API serves it, for test ids (each test fetches the served document)."""
    document = served_document(create_app(ApiDeps.from_settings(ApiSettings())), ApiSettings())
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


# Fields whose values may be taken once (an agent's name in its org, a member's email).
UNIQUE_FIELDS = {"AgentCreate": ("name",), "AgentUpdate": ("name",), "MemberCreate": ("email",)}


@dataclass
class World:
    platform: Platform
    api: EventClient
    document: dict[str, Any]
    ids: dict[str, str]
    names: Iterator[int] = field(default_factory=count)
    repo_url: str = ""

    def base_body(self, schema_name: str | None) -> Any:
        """A valid body that creates something new each time (fresh names, emails), and reaches every field."""
        n = next(self.names)
        bases: dict[str, Callable[[], Any]] = {
            "AgentCreate": lambda: {
                "name": f"probe-{n}",
                "description": "probe",
                "system_prompt": "be brief",
                "models": {"reasoning": ["scripted"], "code": ["scripted"], "vision": ["scripted"]},
                "tools": ["python", "finish"],
                "limits": {"max_steps": 5, "max_cost_usd": 1.0, "sandbox_cpu": 1.0, "max_output_tokens": 256},
                "critic": {"mode": "warn", "allow_imports": ["json"], "forbid_imports": ["os"], "allow_calls": ["x"]},
            },
            "AgentUpdate": lambda: {
                "description": "probe",
                "models": {"reasoning": ["scripted"]},
                "limits": {"max_steps": 5},
                "critic": {"mode": "warn"},
                "tools": ["finish"],
                "name": f"probe-{n}",
                "system_prompt": "s",
                "expected_version": None,
            },
            "RunCreate": lambda: {
                "agent_id": self.ids["agent_id"],
                "prompt": "go",
                "thread_id": None,
                "file_ids": [self.ids["file_id"]],
                "env": {
                    "PROBE": {"type": "str", "value": "x"},
                    "PROBE_INT": {"type": "int", "value": 3},
                    "PROBE_FLOAT": {"type": "float", "value": 0.5},
                    "PROBE_BOOL": {"type": "bool", "value": True},
                    "PROBE_JSON": {"type": "json", "value": {"a": [1]}},
                },
                "goal": {"criterion": "done", "check": "assert True"},
                "budget": {"max_steps": 5, "max_tokens": 10_000, "max_cost_usd": 1.0, "max_wall_s": 60},
                "script": [{"tool": "finish", "answer": "done"}],
            },
            "Decision": lambda: {"comment": "fine"},
            "FileCreate": lambda: {"name": f"probe-{n}.csv", "content_type": "text/csv", "size": 10},
            "MemberCreate": lambda: {"email": f"probe{n}@example.com", "role": "member", "password": PASSWORD},
            "MemberUpdate": lambda: {"role": "operator"},
            "ApiKeyCreate": lambda: {"name": f"probe {n}", "role": "viewer", "expires_at": "2099-01-01T00:00:00Z"},
            "OrgCreate": lambda: {"name": f"probe org {n}", "quotas": {"runs_per_day": 5, "tokens_per_month": 10}},
            "Login": lambda: {"email": f"probe{n}@example.com", "password": PASSWORD},
            "Refresh": lambda: {"refresh_token": "not-a-refresh-token"},
            "ScheduleCreate": lambda: {
                "name": f"probe-{n}",
                "agent_id": self.ids["agent_id"],
                "prompt": "go",
                "expression": "rate(1 hour)",
            },
            "ScheduleUpdate": lambda: {"name": f"probe-{n}", "expected_revision": None},
            "SchedulePause": lambda: {"reason": "probe"},
            "SchedulePreview": lambda: {"expression": "rate(1 hour)", "timezone": "UTC"},
            "UsageBudgetUpdate": lambda: {"monthly_usd": 25.0},
            "WebhookCreate": lambda: {"url": IDLE_WEBHOOK_URL, "events": ["run.succeeded"], "description": "probe"},
            "RepoCreate": lambda: {"url": self.repo_url, "default_branch": "main", "name": f"probe-{n}"},
            "RepoUpdate": lambda: {"name": f"probe-{n}", "default_branch": "main", "expected_revision": None},
            "RepoConfigUpdate": lambda: {
                "overrides": {"test": "echo probe", "bench": None},
                "confirmed": ["test"],
                "bench_runs": 3,
                "expected_revision": None,
            },
            "RepoRunCreate": lambda: {"branch": "main", "budget": {"max_wall_s": 600}},
            "WebhookUpdate": lambda: {
                "url": IDLE_WEBHOOK_URL,
                "events": ["run.failed"],
                "description": "probe",
                "enabled": True,
            },
        }
        if schema_name in bases:
            return bases[schema_name]()
        example = self.document["components"]["schemas"].get(schema_name or "", {}).get("example")
        assert example is not None, f"no valid base body for {schema_name}: add one to World.base_body"
        return example

    def renew(self, schema_name: str | None, template: Any, body: Any) -> Any:
        """A probe made from `template` with the values that must be unique (names, emails) made anew where the
        probe left them as they were, so that an allowed probe creates rather than meets its twin."""
        if not isinstance(body, dict) or not isinstance(template, dict):
            return body
        fresh = self.base_body(schema_name)
        for key in UNIQUE_FIELDS.get(schema_name or "", ()):
            if key in body and body[key] == template.get(key):
                body = {**body, key: fresh[key]}
        return body

    def path_value(self, name: str, method: str) -> str:
        """A real object for a route that reads or changes it; an unknown one where a probe could delete it."""
        if method == "DELETE" or name not in self.ids:
            return UNKNOWN_ID
        return self.ids[name]


@pytest.fixture
def world(platform: Platform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> World:
    from agentlab.workflow.executions import Executions

    # Runs are stored as the API makes them but their workflows are not started: the probes are about the API, and
    # the table stays still between them (the workflow has its own tests).
    monkeypatch.setattr(Executions, "start", lambda self, org_id, run_id, **_: f"arn:aws:states:::execution:{run_id}")
    monkeypatch.setattr(Executions, "stop", lambda self, run_id, *, cause, **_: None)
    monkeypatch.setenv("AGENTLAB_RATE_LIMIT_LOGINS_PER_MINUTE", "100000")
    monkeypatch.setenv("AGENTLAB_WEBHOOKS_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("AGENTLAB_ALLOW_LOCAL_REPOS", "1")
    org = platform.orgs.create_org("contract")
    _, key = platform.orgs.create_api_key(org.id, name="probe", role="admin", platform_admin=True)
    api = platform.api(key)
    agent = api.post("/v1/agents", {"name": "subject", "models": {"reasoning": ["scripted"]}})
    assert agent.status == 201, agent.text
    run = api.post("/v1/runs", {"agent_id": agent.json()["id"], "prompt": "go"})
    file = api.post("/v1/files", {"name": "data.csv", "content_type": "text/csv", "size": 10})
    member = api.post("/v1/members", {"email": "subject@example.com", "role": "member", "password": PASSWORD})
    assert {run.status, file.status, member.status} == {201}, (run.text, file.text, member.text)
    file_id = file.json()["file"]["id"]
    platform.clients.s3.put_object(
        Bucket=platform.settings.bucket_name, Key=file_key(org.id, file_id), Body=b"a,b\n1,2\n3,4\n"
    )
    assert api.post(f"/v1/files/{file_id}/complete").json()["status"] == "ready"
    document = api.get("/v1/openapi.json").json()
    ids = {
        "agent_id": agent.json()["id"],
        "run_id": run.json()["id"],
        "file_id": file_id,
        "member_id": member.json()["id"],
        "org_id": org.id,
    }
    schedule = api.post(
        "/v1/schedules", {"name": "subject", "agent_id": ids["agent_id"], "prompt": "go", "expression": "rate(1 hour)"}
    )
    assert schedule.status == 201, schedule.text
    ids["schedule_id"] = schedule.json()["id"]
    ids["webhook_id"], ids["delivery_id"] = webhook_with_delivery(platform, api, org.id)
    repo_path = make_repo(tmp_path / "subject-repo", {"README.md": "subject\n"})
    repo = api.post("/v1/repos", {"url": f"file://{repo_path}"})
    assert repo.status == 201, repo.text
    ids["repo_id"] = repo.json()["id"]
    world = World(platform, api, document, ids)
    world.repo_url = f"file://{repo_path}"
    return world


def data_items(platform: Platform) -> dict[tuple[str, str], dict[str, Any]]:
    """The table's items without its bookkeeping (as run_checks.table_items gives them), read from moto's memory:
    a scan per probe would take most of the test's time."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][platform.settings.region].get_table(platform.settings.table_name)
    return {
        (pk.value, sk.value): {
            name: value for name, value in item.to_json()["Attributes"].items() if name not in BOOKKEEPING_ATTRIBUTES
        }
        for pk, items in table.items.items()
        if not pk.value.startswith(BOOKKEEPING_PARTITIONS)
        for sk, item in items.items()
    }


@dataclass
class Verdicts:
    """What was sent, what the document said and what the server answered; the disagreements are the findings."""

    sent: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def check(self, world: World, label: str, allowed: bool, send: Callable[[], ApiResponse]) -> ApiResponse:
        before = None if allowed else data_items(world.platform)
        response = send()
        self.sent += 1
        code = (response.json().get("error") or {}).get("code") if response.status >= 400 else None
        refused_as_malformed = (response.status, code) in FORM_REFUSALS
        self.answers[f"{'allowed' if allowed else 'refused'} -> {response.status} {code or ''}".strip()] += 1
        if response.status >= 500:
            self.problems.append(f"{label}: {response.status} {response.text[:200]}")
        elif allowed and refused_as_malformed:
            self.problems.append(f"{label}: the document allows it, the server refused it: {response.text[:300]}")
        elif not allowed and not refused_as_malformed:
            self.problems.append(f"{label}: the document refuses it, the server answered {response.status} {code}")
        elif not allowed and data_items(world.platform) != before:
            self.problems.append(f"{label}: refused, but the table changed")
        return response


def concrete_path(world: World, method: str, path: str, values: dict[str, str] | None = None) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: (values or {}).get(m.group(1)) or world.path_value(m.group(1), method), path)


def body_of(operation: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None, bool]:
    """The body's schema, its component's name and whether a body is required."""
    request_body = operation.get("requestBody")
    if request_body is None:
        return None, None, False
    schema = request_body["content"]["application/json"]["schema"]
    refs = [schema.get("$ref")] + [option.get("$ref") for option in schema.get("anyOf", [])]
    name = next((ref.rsplit("/", 1)[-1] for ref in refs if ref), None)
    return schema, name, bool(request_body.get("required"))


def raw(body: Any) -> str:
    return "" if body is MISSING else json.dumps(body)


# the contract ---------------------------------------------------------------------------------------------------
OPERATIONS = document_operations()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_server_refuses_exactly_what_the_document_refuses(world: World, method: str, path: str) -> None:
    # Given the operation as the served document describes it, and a valid request for it
    document = world.document
    operation = document["paths"][path][method.lower()]
    schema, schema_name, body_required = body_of(operation)
    parameters = [p for p in operation.get("parameters", []) if p["in"] in ("query", "header", "path")]
    if schema is None and not parameters:
        pytest.skip("nothing to probe: no body and no parameters")
    verdicts = Verdicts()
    base_query = {p["name"]: "not-the-name" for p in parameters if p["in"] == "query" and p.get("required")}

    def send(body: Any, *, query: dict[str, str] | None = None, headers: dict[str, str] | None = None, **paths: str):
        target = concrete_path(world, method, path, paths)
        return lambda: world.api.request(method, target, raw=raw(body), params=query, headers=headers)

    # When the valid request is sent, then it is not refused as malformed (and a create creates)
    base = world.base_body(schema_name) if schema is not None else MISSING
    first = verdicts.check(world, "the base request", True, send(base, query=base_query))
    if "201" in operation["responses"]:
        assert first.status == 201, first.text

    # When each body value is changed in turn, the server's answer agrees with the document's verdict
    if schema is not None:
        template = world.base_body(schema_name)
        for probe in body_probes(document, schema, template):
            body = world.renew(schema_name, template, probe.body)
            allowed = judge(document, schema, body) if body is not None else not body_required
            verdicts.check(world, probe.label, allowed, send(body, query=base_query))
        verdicts.check(world, "the body: left out", not body_required, send(MISSING, query=base_query))

    # And so for each parameter, with the body valid
    for parameter in parameters:
        where, name, param_schema = parameter["in"], parameter["name"], parameter["schema"]
        base_value = {
            "query": base_query.get(name),
            "header": "probe-key",
            "path": world.path_value(name, method),
        }[where]
        probes = parameter_probes(param_schema, base_value)
        if where == "path":
            # A path segment carries no slash, space or control character unencoded; those are not path values.
            probes = [(label, text) for label, text in probes if re.fullmatch(r"[A-Za-z0-9._~-]+", text)]
        else:
            probes.append(("left out", MISSING))
        for label, text in probes:
            value = MISSING if text is MISSING else read_parameter(param_schema, text)
            if text is MISSING:
                allowed = not parameter.get("required")
            else:
                allowed = value is not MISSING and judge(document, param_schema, value)
            query = {k: v for k, v in base_query.items() if k != name}
            headers: dict[str, str] = {}
            paths: dict[str, str] = {}
            if text is not MISSING:
                {"query": query, "header": headers, "path": paths}[where][name] = text
            body = world.base_body(schema_name) if schema is not None else MISSING
            verdicts.check(
                world,
                f"{where} {name}: {label}" + ("" if text is MISSING else f" {text!r}"),
                allowed,
                send(body, query=query, headers=headers, **paths),
            )

    # Then the document and the server agree on every probe
    assert verdicts.sent > 5 and any(key.startswith("refused") for key in verdicts.answers), verdicts.answers
    assert not verdicts.problems, "\n".join(verdicts.problems)


def test_every_request_body_of_the_document_is_a_strict_input() -> None:
    # The convention the probes above hold every body to: a new body model inherits it by deriving from StrictInput.
    from agentlab.models import StrictInput

    app = create_app(ApiDeps.from_settings(ApiSettings()))
    bodies = [
        param.field_info.annotation
        for route in app._static_routes + app._dynamic_routes
        for param in (route.dependant.body_params if route.dependant else [])
    ]
    models = {getattr(model, "__name__", str(model)): model for body in bodies for model in _models_in(body)}
    assert {"AgentCreate", "AgentUpdate", "RunCreate", "FileCreate", "Login", "Decision"} <= set(models)
    assert [name for name, model in models.items() if not issubclass(model, StrictInput)] == []


def _models_in(annotation: Any) -> Iterator[type]:
    from typing import get_args

    if isinstance(annotation, type):
        yield annotation
    for argument in get_args(annotation):
        if argument is not type(None):
            yield from _models_in(argument)


# HTTP semantics --------------------------------------------------------------------------------------------------
def test_a_method_a_path_lacks_answers_405_with_the_methods_the_document_gives_the_path(world: World) -> None:
    for path, item in world.document["paths"].items():
        documented = {method.upper() for method in item}
        expected = documented | {"OPTIONS"} | ({"HEAD"} if "GET" in documented else set())
        missing = next(method.upper() for method in METHODS if method.upper() not in documented)
        response = world.api.request(missing, concrete_path(world, missing, path), raw="")
        error_of(response, 405, "method_not_allowed")
        assert {m.strip() for m in response.headers["allow"].split(",")} == expected, path


def test_401_answers_carry_a_bearer_challenge(platform: Platform, world: World) -> None:
    missing = platform.api().get("/v1/agents")
    wrong = platform.api("al_" + "x" * 43).get("/v1/agents")
    not_bearer = platform.api().get("/v1/agents", headers={"authorization": "Basic dXNlcjpwYXNz"})
    login = platform.api().post("/v1/auth/login", {"email": "nobody@example.com", "password": "wrong"})
    for response in (missing, wrong, not_bearer, login):
        error_of(response, 401)
    assert missing.headers["www-authenticate"] == 'Bearer realm="agentlab"'
    assert not_bearer.headers["www-authenticate"] == 'Bearer realm="agentlab"'
    assert wrong.headers["www-authenticate"] == 'Bearer realm="agentlab", error="invalid_token"'
    assert login.headers["www-authenticate"].startswith("Bearer ")


def test_head_answers_as_get_without_the_body_wherever_get_is(platform: Platform, world: World) -> None:
    viewer = platform.api(platform.orgs.create_api_key(world.ids["org_id"], name="v", role="viewer")[1])
    for path, item in world.document["paths"].items():
        if "get" not in item:
            continue
        for client, who in ((world.api, "admin"), (viewer, "viewer"), (platform.api(), "anonymous")):
            for target in {concrete_path(world, "GET", path), re.sub(r"\{\w+\}", UNKNOWN_ID, path)}:
                # Given the same request as GET and as HEAD
                same = {"x-request-id": f"probe-{who}"}
                got = client.request("GET", target, raw="", headers=same)
                head = client.request("HEAD", target, raw="", headers=same)
                # Then HEAD has GET's status and headers and no body (401, 403 and 404 included)
                assert (head.status, head.headers) == (got.status, got.headers), (who, target)
                assert head.text == "" and got.text != "", (who, target)


def fresh_api(root: Path, key: str | None = None) -> EventClient:
    """The API handler loaded anew, so that it reads settings changed after the fixtures first called it."""
    return EventClient(HandlerRegistry(root / "functions").handler("api"), key)


def test_head_is_limited_like_get(
    root: Path, platform: Platform, world: World, monkeypatch: pytest.MonkeyPatch, one_rate_window: float
) -> None:
    # Given a caller whose requests per minute are limited
    monkeypatch.setenv("AGENTLAB_RATE_LIMIT_REQUESTS_PER_MINUTE", "2")
    limited = fresh_api(root, platform.orgs.create_api_key(world.ids["org_id"], name="l", role="viewer")[1])
    # When it sends HEAD requests
    answers = [limited.request("HEAD", "/v1/agents", raw="") for _ in range(3)]
    # Then they count like GETs: the third is refused with Retry-After, without a body
    assert [answer.status for answer in answers] == [200, 200, 429]
    assert answers[2].headers["retry-after"].isdigit() and answers[2].text == ""


def test_options_without_an_origin_is_a_plain_options(platform: Platform, world: World) -> None:
    anonymous = platform.api()
    for path, item in world.document["paths"].items():
        target = concrete_path(world, "GET", path)
        documented = {method.upper() for method in item}
        # When a caller with credentials asks a path which methods it has
        answer = world.api.request("OPTIONS", target, raw="")
        # Then it hears 204 with Allow, not a CORS refusal
        assert answer.status == 204 and answer.text == "", (path, answer.text)
        assert documented | {"OPTIONS"} <= {m.strip() for m in answer.headers["allow"].split(",")}, path
        # And a caller without credentials learns the methods of public paths only
        public = all(operation.get("security") == [] for operation in item.values())
        assert anonymous.request("OPTIONS", target, raw="").status == (204 if public else 401), path
    error_of(world.api.request("OPTIONS", "/v1/no-such-route", raw=""), 404, "route_not_found")
    error_of(anonymous.request("OPTIONS", "/v1/no-such-route", raw=""), 401, "unauthorized")


def test_options_with_an_origin_stays_the_cors_preflight(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLAB_CORS_ORIGINS", "https://dash.example.com")
    browser = fresh_api(root)
    preflight = {"origin": "https://dash.example.com", "access-control-request-method": "POST"}
    allowed = browser.request("OPTIONS", "/v1/runs", raw="", headers=preflight)
    assert allowed.status == 204 and allowed.headers["access-control-allow-origin"] == "https://dash.example.com"
    denied = browser.request("OPTIONS", "/v1/runs", raw="", headers={**preflight, "origin": "https://evil.test"})
    error_of(denied, 403, "cors_denied")


def test_the_local_gateway_passes_head_and_options_through(platform: Platform, world: World) -> None:
    from agentlab.local.gateway import LocalGateway

    gateway = LocalGateway(
        host="127.0.0.1",
        port=0,
        api_handler=platform.registry.handler("api"),
        s3_app=None,
        frontend_dir=None,
        max_api_body=1_048_576,
        max_upload_body=1_048_576,
    )
    gateway.start()
    try:

        def ask(method: str) -> tuple[int, dict[str, str], bytes]:
            connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
            try:
                connection.request(method, "/v1/agents", headers={"Authorization": f"Bearer {world.api.key}"})
                response = connection.getresponse()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            finally:
                connection.close()

        got, head, options = ask("GET"), ask("HEAD"), ask("OPTIONS")
    finally:
        gateway.stop()
    assert got[0] == head[0] == 200 and got[2] and head[2] == b""
    assert head[1]["content-type"] == got[1]["content-type"] == "application/json"
    assert options[0] == 204 and options[1]["allow"] == "GET, HEAD, POST, OPTIONS"
