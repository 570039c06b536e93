"""People on the local stack as a user runs it: `agentlab users create`, sign-in verified against the pool's key set
fetched over HTTP, the dashboard's runtime config and headers, users kept across a restart; and a bounded
schemathesis run over the whole OpenAPI document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


@pytest.fixture
def roomy_stack(tmp_path: Path) -> LocalStackProcess:
    # The fuzzer sends thousands of requests a minute with one key; the limits are tested elsewhere.
    stack = LocalStackProcess(
        tmp_path / "data",
        free_port(),
        extra_env={
            "AGENTLAB_RATE_LIMIT_REQUESTS_PER_MINUTE": "1000000",
            "AGENTLAB_RATE_LIMIT_RUNS_PER_MINUTE": "1000000",
        },
    )
    stack.start()
    yield stack  # type: ignore[misc]
    stack.stop()


def test_a_bounded_schemathesis_run_finds_no_server_error_and_no_schema_mismatch(
    roomy_stack: LocalStackProcess, tmp_path: Path
) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{roomy_stack.url}/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {roomy_stack.admin_key}",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "5",
            "--max-time",
            "480",
            "--seed",
            "20261122",
            # Operations that would revoke the run's own key or delete its org mid-run.
            "--exclude-path-regex",
            r"rotate|^/v1/orgs/\{org_id\}$|^/v1/api-keys/\{key_id\}$",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        check=False,
    )
    summary = result.stdout[-4_000:]
    failures = result.stdout[result.stdout.find("FAILURES") :][:8_000] if "FAILURES" in result.stdout else ""
    server_log = [line for line in roomy_stack.output if '"level":"ERROR"' in line][:3]
    assert result.returncode == 0, "\n".join([failures, summary, *server_log])
    assert "passed" in summary and "Tested: 31" in summary.replace("  ", " ")
