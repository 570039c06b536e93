"""People on the local stack as a user runs it: `agentlab users create`, sign-in verified against the pool's key set
fetched over HTTP, the dashboard's runtime config and headers, users kept across a restart; and a bounded
schemathesis run over the whole OpenAPI document: every check, positive and negative data, stateful sequences along
the document's links."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from stack_process import AGENTLAB, LocalStackProcess, free_port

ROOT = Path(__file__).resolve().parents[2]


def cli(stack: LocalStackProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AGENTLAB), "--url", stack.url, "--api-key", stack.admin_key, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sign_in(stack: LocalStackProcess, email: str, password: str) -> httpx.Response:
    return httpx.post(f"{stack.url}/v1/auth/login", json={"email": email, "password": password}, timeout=30)


def test_a_user_created_with_the_cli_signs_in_and_stays_after_a_restart(local_stack: LocalStackProcess) -> None:
    assert any("agentlab users create" in line for line in local_stack.output)  # the stack says how to sign in
    created = cli(local_stack, "users", "create", "--email", "dana@example.com", "--role", "member")
    assert created.returncode == 0, created.stderr
    password = next(line.split(": ", 1)[1] for line in created.stdout.splitlines() if "password (shown once)" in line)

    signed_in = sign_in(local_stack, "dana@example.com", password)
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    me = httpx.get(f"{local_stack.url}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    assert me["email"] == "dana@example.com" and me["role"] == "member" and me["org_id"] == "default"

    config = httpx.get(f"{local_stack.url}/config.json", timeout=30)
    assert config.json()["userPoolId"] and config.json()["userPoolClientId"] and config.json()["apiUrl"] == ""
    page = httpx.get(f"{local_stack.url}/", timeout=30)
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"

    local_stack.stop()
    users_file = local_stack.data_dir / "users.json"
    assert users_file.stat().st_mode & 0o777 == 0o600
    local_stack.start()
    again = sign_in(local_stack, "dana@example.com", password)
    assert again.status_code == 200, again.text
    fresh = again.json()["access_token"]
    after = httpx.get(f"{local_stack.url}/v1/me", headers={"Authorization": f"Bearer {fresh}"}, timeout=30).json()
    assert after["identity"] == me["identity"] and after["role"] == "member"
    # A token issued before the restart is still valid: the pool and its keys are the same.
    old_token = httpx.get(f"{local_stack.url}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert old_token.status_code == 200
    listed = cli(local_stack, "--json", "users", "list", "--all")
    assert [m["email"] for m in json.loads(listed.stdout)["items"]] == ["dana@example.com"]


# The run's keys make every request: their per-identity limits and their orgs' quotas are raised so that 429s do not
# drown the signal (the limits themselves are tested in tests/integration).
ROOMY_LIMITS = {
    "AGENTLAB_RATE_LIMIT_REQUESTS_PER_MINUTE": "1000000",
    "AGENTLAB_RATE_LIMIT_RUNS_PER_MINUTE": "1000000",
    "AGENTLAB_RATE_LIMIT_LOGINS_PER_MINUTE": "1000000",
    "AGENTLAB_QUOTA_RUNS_PER_DAY": "1000000000",
    "AGENTLAB_QUOTA_TOKENS_PER_MONTH": "1000000000000",
}
# Operations that would revoke the run's own keys (rotation, revocation) or delete their orgs mid-run; and an org's
# export, which the run would call as an org admin after creating the org as the platform admin (only the platform
# admin creates orgs), so that its rightful 404 reads as a created resource gone missing. Both are walked by role in
# tests/integration/test_openapi_document.py, the export by the org's creator and by another org's admin too.
EXCLUDED = r"rotate|^/v1/orgs/\{org_id\}(/export)?$|^/v1/api-keys/\{key_id\}$"
# Checks the server makes that no JSON Schema can state, so schema-valid data may meet them; the server answers 422
# with the code the operation documents. `positive_data_acceptance` accepts that 422 on these operations only.
SEMANTIC_REFUSALS = {
    ("POST", "/v1/agents"): "unpriced_model: a cost budget needs a price for every model, from the deployment's table",
    ("PUT", "/v1/agents/{agent_id}"): "unpriced_model, as on creation, for the agent as it would become",
    ("POST", "/v1/runs"): "script_not_allowed (the agent's model), file_not_ready (the file's state), unpriced_model, "
    "and a json env value with an empty object key at any depth (the table cannot store one)",
    ("POST", "/v1/api-keys"): "an `expires_at` in the past: 'the future' depends on when the request arrives",
    # A pattern could state the character classes only with lookaheads, which no data generator satisfies; the field's
    # description states the policy and the server refuses with what the password lacks.
    ("POST", "/v1/members"): "a chosen password without a lowercase or uppercase letter, a digit or a symbol",
    # EventBridge Scheduler's grammar (each cron field's range, `?` in exactly one day field, the minimum interval) is
    # checked by its rules, beyond what a pattern can state; an agent's versions are those that exist.
    ("POST", "/v1/schedules"): "invalid_expression, agent_version_not_found, file_not_ready, unpriced_model",
    ("PATCH", "/v1/schedules/{schedule_id}"): "invalid_expression, agent_version_not_found, as on creation",
    ("POST", "/v1/schedules/preview"): "invalid_expression: EventBridge Scheduler's rules",
    ("GET", "/v1/usage"): "invalid_range: `from` after `to`, or a range longer than 366 days (two dates apart)",
    # netguard resolves an endpoint's host and refuses private addresses: no schema can say which names resolve.
    ("POST", "/v1/webhooks"): "url_not_allowed: the endpoint's host does not resolve, or resolves to a private address",
    ("PATCH", "/v1/webhooks/{webhook_id}"): "url_not_allowed, as on creation",
    # A repository URL passes netguard as a webhook's does, and the repository must answer before it is stored.
    ("POST", "/v1/repos"): "url_not_allowed (netguard, as for webhooks), repo_unreachable: the repository must answer",
    ("PATCH", "/v1/repos/{repo_id}"): "repo_unreachable: a new token is tried against the repository",
}
# schemathesis' own default for positive_data_acceptance, which the exceptions extend.
POSITIVE_DEFAULT = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
# Every check schemathesis 4.32.5 has, but `max_response_time` (what `--checks all` adds beyond these): a time limit
# on a loaded two-core machine is no contract, and timings belong in benchmarks, not in assertions.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
)
SEED = 20261122
# The whole run's budget; with the stack's start it stays near five minutes on two cores.
MAX_TIME_S = 270


# Who the run calls as: the admins of two orgs, which must not see each other's objects (object_level_authorization
# replays one's reads as the other), and the platform admin, for what only it may do (creating orgs).
PEERS = ("north", "south")


def identities(stack: LocalStackProcess, path: Path) -> Path:
    """A Web Fuzzing Commons auth file: each peer the first admin of an org of its own, then the platform admin."""
    keys = {}
    with stack.client() as platform_admin:
        for name in PEERS:
            created = platform_admin.post("/v1/orgs", json={"name": f"fuzz-{name}"})
            assert created.status_code == 201, created.text
            keys[name] = created.json()["api_key"]["key"]
    keys["platform"] = stack.admin_key
    auth = [
        {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}]}
        for name, key in keys.items()
    ]
    path.write_text(json.dumps({"auth": auth}))
    return path


def schemathesis_config(document: dict[str, Any], auth_file: Path) -> str:
    """The identities, and where schema-valid data may be refused as the document says: SEMANTIC_REFUSALS (422), and
    every listing's `cursor` (400 invalid_cursor): a cursor is opaque, only one the listing returned is valid, as
    only an id that exists is found."""
    accepting = {route: (reason, "422") for route, reason in SEMANTIC_REFUSALS.items()}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if any(p["name"] == "cursor" for p in operation.get("parameters", [])):
                accepting[(method.upper(), path)] = ("invalid_cursor: only a cursor the listing returned", "400")
    # Each operation keeps the first identity it admits, in this order; the peers' objects are compared.
    lines = ["[auth.wfc]", f"path = {json.dumps(str(auth_file))}", f"peers = {json.dumps(list(PEERS))}", ""]
    # The stateful phase follows the document's links (and Location headers), not links guessed from field names: a
    # guess from a nullable reference (a run's `schedule_id`, null when no schedule started it) calls `/None`.
    lines += ["[phases.stateful.inference]", 'algorithms = ["location-headers"]', ""]
    for (method, path), (reason, status) in sorted(accepting.items()):
        lines += [
            f"# {reason}",
            "[[operations]]",
            # One name, "METHOD /path": separate path and method filters would match either.
            f"include-name = {json.dumps(f'{method} {path}')}",
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps([*POSITIVE_DEFAULT, status])}",
            "",
        ]
    return "\n".join(lines)


@pytest.fixture
def roomy_stack(tmp_path: Path) -> LocalStackProcess:
    stack = LocalStackProcess(tmp_path / "data", free_port(), extra_env=ROOMY_LIMITS)
    stack.start()
    yield stack  # type: ignore[misc]
    stack.stop()


def test_a_bounded_schemathesis_run_finds_no_failure_of_any_check(
    roomy_stack: LocalStackProcess, tmp_path: Path
) -> None:
    # Given the document, and the operations the run may call
    document = httpx.get(f"{roomy_stack.url}/v1/openapi.json", timeout=30).json()
    operations = [path for path, item in document["paths"].items() for _ in item]
    selected = sum(1 for path in operations if not re.search(EXCLUDED, path))
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(document, identities(roomy_stack, tmp_path / "identities.json")))

    # When schemathesis runs every check on positive and negative data, in every phase, the links' sequences included
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [
            str(schemathesis),
            "--config-file",
            str(config),
            "run",
            f"{roomy_stack.url}/v1/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--mode",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            "5",
            "--max-time",
            str(MAX_TIME_S),
            "--seed",
            str(SEED),
            "--exclude-path-regex",
            EXCLUDED,
            "--request-timeout",
            "30",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=MAX_TIME_S + 300,
        cwd=tmp_path,
        check=False,
    )

    # Then it finds nothing, having tested every selected operation and followed the document's links
    output = result.stdout
    summary = output[output.rfind("SUMMARY") :]
    failures = output[output.find("FAILURES") :][:12_000] if "FAILURES" in output else ""
    server_log = [line[:4_000] for line in roomy_stack.output if '"level":"ERROR"' in line][:3]
    assert result.returncode == 0, "\n".join([failures, summary, result.stderr[-2_000:], *server_log])
    assert "will not run" not in output, output[:2_000]  # every check ran, object-level authorization included
    assert f"Tested: {selected}" in " ".join(summary.split()), summary
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in summary, summary
    covered = re.search(r"API Links:\s+(\d+) covered", output)
    assert covered and int(covered.group(1)) > 0, output[-4_000:]
