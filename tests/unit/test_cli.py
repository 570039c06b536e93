"""The `agentlab` CLI against a fake API served by httpx.MockTransport."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_harness import CliResult, FakeApi, error_response, ok
from pydantic import SecretStr

from agentlab.cli.config import CliEnvironment, resolve_config
from agentlab.cli.env_vars import parse_env_assignment
from agentlab.cli.errors import EXIT_API_ERROR, EXIT_AUTH, EXIT_CONNECTION, EXIT_OK, EXIT_USAGE
from agentlab.cli.steps import format_step

AGENT_ID = "01J0AGENT00000000000000000"
RUN_ID = "01J0RUN0000000000000000000"
FILE_ID = "01J0F1LE000000000000000000"
UPLOAD_URL = "https://uploads.example.test/bucket"

pytestmark = pytest.mark.usefixtures("isolated_environment")


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def agent(name: str = "analyst") -> dict[str, Any]:
    return {
        "id": AGENT_ID,
        "org_id": "org",
        "name": name,
        "description": "crunches numbers",
        "system_prompt": "",
        "models": {"reasoning": ["scripted"], "code": [], "vision": []},
        "tools": ["python", "finish"],
        "limits": {"max_steps": 20},
        "version": 3,
        "created_at": "2025-01-02T03:04:05Z",
        "updated_at": "2025-01-02T03:04:05Z",
    }


def run_payload(status: str = "queued", **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": RUN_ID,
        "org_id": "org",
        "agent_id": AGENT_ID,
        "agent_version": 3,
        "thread_id": "01J0THREAD0000000000000000",
        "prompt": "summarise sales.csv",
        "file_ids": [],
        "env": {},
        "goal": None,
        "budget": {},
        "status": status,
        "created_at": "2025-01-02T03:04:05Z",
        "updated_at": "2025-01-02T03:04:05Z",
        "started_at": None,
        "ended_at": None,
        "usage": {"steps": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "sandbox_s": 0.0},
        "error": None,
        "result": None,
        "isolation": None,
    }
    payload.update(overrides)
    return payload


def step(seq: int, step_type: str, detail: dict[str, Any], **metering: Any) -> dict[str, Any]:
    return {
        "run_id": RUN_ID,
        "seq": seq,
        "type": step_type,
        "created_at": "2025-01-02T03:04:05Z",
        "duration_ms": 1200,
        "model_id": None,
        "provider": None,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "detail": detail,
        **metering,
    }


def resolve(tmp_path: Path, *, url_flag: str | None = None, api_key_flag: str | None = None) -> Any:
    return resolve_config(
        url_flag=url_flag,
        api_key_flag=api_key_flag,
        environment=CliEnvironment(),
        home=tmp_path / "home",
        cwd=tmp_path / "cwd",
    )


def write_config(tmp_path: Path, content: dict[str, Any]) -> None:
    path = tmp_path / "xdg" / "agentlab" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


# --- configuration ---------------------------------------------------------------------------------------------


def test_flags_win_over_environment_which_wins_over_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, {"url": "http://file:1", "api_key": "al_file"})
    monkeypatch.setenv("AGENTLAB_URL", "http://env:2/")
    monkeypatch.setenv("AGENTLAB_API_KEY", "al_env")

    from_flags = resolve(tmp_path, url_flag="http://flag:3", api_key_flag="al_flag")
    from_env = resolve(tmp_path)
    monkeypatch.delenv("AGENTLAB_URL")
    monkeypatch.delenv("AGENTLAB_API_KEY")
    from_file = resolve(tmp_path)

    assert (from_flags.url, from_flags.api_key, from_flags.key_source) == (
        "http://flag:3",
        SecretStr("al_flag"),
        "--api-key",
    )
    assert (from_env.url, from_env.api_key, from_env.key_source) == (
        "http://env:2",
        SecretStr("al_env"),
        "AGENTLAB_API_KEY",
    )
    assert (from_file.url, from_file.api_key, from_file.key_source) == (
        "http://file:1",
        SecretStr("al_file"),
        "config file",
    )


def test_the_local_admin_key_is_used_only_for_the_local_default_url(tmp_path: Path) -> None:
    admin_key = tmp_path / "cwd" / ".agentlab" / "admin-key"
    admin_key.parent.mkdir()
    admin_key.write_text("al_local_admin\n")

    local = resolve(tmp_path)
    remote = resolve(tmp_path, url_flag="https://agentlab.example.com")

    assert local.url == "http://127.0.0.1:8000"
    assert local.api_key == SecretStr("al_local_admin")
    assert local.key_source == "local admin key"
    assert remote.api_key is None


def test_an_explicit_key_beats_the_local_admin_key(tmp_path: Path) -> None:
    admin_key = tmp_path / "cwd" / ".agentlab" / "admin-key"
    admin_key.parent.mkdir()
    admin_key.write_text("al_local_admin")
    write_config(tmp_path, {"api_key": "al_file"})

    assert resolve(tmp_path).api_key == SecretStr("al_file")


def test_the_resolved_key_is_sent_as_a_bearer_token(
    cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, {"api_key": "al_file"})
    monkeypatch.setenv("AGENTLAB_API_KEY", "al_env")
    api = FakeApi()
    api.on("GET", "/v1/agents", ok({"items": [], "next_cursor": None}))

    result = cli(["agents", "list"], api)

    assert result.exit_code == EXIT_OK
    assert api.requests[0].headers["Authorization"] == "Bearer al_env"


def test_a_relative_xdg_config_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")

    assert resolve(tmp_path).config_path == tmp_path / "home" / ".config" / "agentlab" / "config.json"


def test_configure_writes_a_private_config_file_without_printing_the_key(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    result = cli(["configure", "--url", "https://agentlab.example.com/", "--api-key", "al_secret_value"])

    path = tmp_path / "xdg" / "agentlab" / "config.json"
    assert result.exit_code == EXIT_OK
    assert json.loads(path.read_text()) == {"url": "https://agentlab.example.com", "api_key": "al_secret_value"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "al_secret_value" not in result.stdout + result.stderr


def test_configure_keeps_the_settings_it_is_not_given(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    write_config(tmp_path, {"url": "https://old.example.com", "api_key": "al_old"})

    cli(["configure", "--api-key", "al_new"])

    content = json.loads((tmp_path / "xdg" / "agentlab" / "config.json").read_text())
    assert content == {"url": "https://old.example.com", "api_key": "al_new"}


def test_configure_without_flags_shows_the_key_source_but_not_the_key(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLAB_API_KEY", "al_hidden")

    result = cli(["configure"])

    assert "set (from AGENTLAB_API_KEY)" in result.stdout
    assert "al_hidden" not in result.stdout


def test_a_malformed_config_file_is_a_usage_error(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    path = tmp_path / "xdg" / "agentlab" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")

    result = cli(["agents", "list"])

    assert result.exit_code == EXIT_USAGE
    assert "is not valid JSON" in result.stderr


# --- agents ----------------------------------------------------------------------------------------------------


def test_an_agent_name_resolves_through_the_name_filter(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", "/v1/agents", ok({"items": [agent("analyst")], "next_cursor": None}))

    result = cli(["agents", "show", "analyst"], api)

    assert result.exit_code == EXIT_OK
    assert api.requests[0].url.params["name"] == "analyst"
    assert AGENT_ID in result.stdout
    assert "crunches numbers" in result.stdout


def test_an_agent_id_is_fetched_directly(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", f"/v1/agents/{AGENT_ID}", ok(agent()))

    result = cli(["agents", "show", AGENT_ID], api)

    assert result.exit_code == EXIT_OK
    assert api.paths() == [f"GET /v1/agents/{AGENT_ID}"]


def test_an_unknown_agent_name_is_an_api_error(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", "/v1/agents", ok({"items": [], "next_cursor": None}))

    result = cli(["runs", "create", "--agent", "nobody", "hello"], api)

    assert result.exit_code == EXIT_API_ERROR
    assert "no agent named 'nobody'" in result.stderr
    assert api.paths() == ["GET /v1/agents"]


def test_agents_create_sends_only_the_given_fields(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", "/v1/agents", ok(agent("coder"), 201))

    result = cli(
        [
            "agents",
            "create",
            "coder",
            "--model-reasoning",
            "bedrock:model-a",
            "bedrock:model-b",
            "--tools",
            "python",
            "finish",
            "--max-steps",
            "7",
            "--sandbox-memory-mb",
            "2048",
        ],
        api,
    )

    assert result.exit_code == EXIT_OK
    assert json.loads(api.requests[0].content) == {
        "name": "coder",
        "models": {"reasoning": ["bedrock:model-a", "bedrock:model-b"]},
        "tools": ["python", "finish"],
        "limits": {"max_steps": 7, "sandbox_memory_mb": 2048},
    }


# --- runs create -----------------------------------------------------------------------------------------------


def test_runs_create_uploads_files_then_starts_the_run(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    csv_path = tmp_path / "sales.csv"
    csv_path.write_text("region,amount\nnorth,10\n")
    api = FakeApi()
    api.on("GET", "/v1/agents", ok({"items": [agent("analyst")], "next_cursor": None}))
    api.on(
        "POST",
        "/v1/files",
        ok(
            {
                "file": {"id": FILE_ID, "name": "sales.csv", "status": "pending"},
                "upload": {"url": UPLOAD_URL, "fields": {"key": "uploads/sales.csv", "policy": "p0l1cy"}},
            },
            201,
        ),
    )
    api.on("POST", "/bucket", httpx.Response(204))
    api.on("POST", f"/v1/files/{FILE_ID}/complete", ok({"id": FILE_ID, "name": "sales.csv", "status": "ready"}))
    api.on("POST", "/v1/runs", ok(run_payload(file_ids=[FILE_ID]), 201))

    result = cli(
        [
            "--api-key",
            "al_key",
            "runs",
            "create",
            "--agent",
            "analyst",
            "summarise sales.csv",
            "--file",
            str(csv_path),
            "--env",
            "RATE=float:0.25",
            "--env",
            "VERBOSE=bool:true",
            "--goal",
            "a summary table exists",
            "--max-steps",
            "5",
            "--idempotency-key",
            "retry-1",
        ],
        api,
    )

    assert result.exit_code == EXIT_OK, result.stderr
    assert api.paths() == [
        "GET /v1/agents",
        "POST /v1/files",
        "POST /bucket",
        f"POST /v1/files/{FILE_ID}/complete",
        "POST /v1/runs",
    ]
    register, upload, _, create = api.requests[1], api.requests[2], api.requests[3], api.requests[4]
    assert json.loads(register.content) == {"name": "sales.csv", "content_type": "text/csv", "size": 23}
    assert upload.url == httpx.URL(UPLOAD_URL)
    assert "Authorization" not in upload.headers
    body = upload.content.decode()
    assert body.index('name="key"') < body.index('name="policy"') < body.index('name="file"')
    assert "north,10" in body
    assert json.loads(create.content) == {
        "agent_id": AGENT_ID,
        "prompt": "summarise sales.csv",
        "file_ids": [FILE_ID],
        "env": {"RATE": {"type": "float", "value": 0.25}, "VERBOSE": {"type": "bool", "value": True}},
        "goal": {"criterion": "a summary table exists"},
        "budget": {"max_steps": 5},
    }
    assert create.headers["Idempotency-Key"] == "retry-1"
    assert f"started run {RUN_ID}" in result.stdout


def test_a_rejected_file_type_stops_before_the_run_is_created(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    binary = tmp_path / "tool.exe"
    binary.write_bytes(b"MZ\x00\x00")
    api = FakeApi()
    api.on("POST", "/v1/files", ok({"file": {"id": FILE_ID}, "upload": {"url": UPLOAD_URL, "fields": {}}}, 201))
    api.on("POST", "/bucket", httpx.Response(204))
    api.on(
        "POST", f"/v1/files/{FILE_ID}/complete", error_response(422, "unsupported_file_type", "executables are refused")
    )

    result = cli(["runs", "create", "--agent", AGENT_ID, "go", "--file", str(binary)], api)

    assert result.exit_code == EXIT_API_ERROR
    assert "error unsupported_file_type: executables are refused (request req-1)" in result.stderr
    assert "POST /v1/runs" not in api.paths()


def test_an_idempotent_replay_is_reported_as_such(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", "/v1/runs", ok(run_payload("running"), 200))

    result = cli(["runs", "create", "--agent", AGENT_ID, "go", "--idempotency-key", "k"], api)

    assert result.exit_code == EXIT_OK
    assert "already exists for this idempotency key (running)" in result.stdout


def test_a_script_file_is_sent_as_the_script(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"tool": "finish", "answer": "42"}]))
    api = FakeApi()
    api.on("POST", "/v1/runs", ok(run_payload(), 201))

    cli(["runs", "create", "--agent", AGENT_ID, "go", "--script", str(script), "--goal-check", "assert True"], api)

    body = json.loads(api.requests[0].content)
    assert body["script"] == [{"tool": "finish", "answer": "42"}]
    assert body["goal"] == {"check": "assert True"}


# --- env parsing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("NAME=str:a=b:c", ("NAME", "str", "a=b:c")),
        ("COUNT=int:42", ("COUNT", "int", 42)),
        ("RATE=float:-1.5e3", ("RATE", "float", -1500.0)),
        ("DEBUG=bool:False", ("DEBUG", "bool", False)),
        ('CONFIG=json:{"a": [1, 2]}', ("CONFIG", "json", {"a": [1, 2]})),
        ("EMPTY=str:", ("EMPTY", "str", "")),
    ],
)
def test_env_assignments_become_typed_values(assignment: str, expected: tuple[str, str, Any]) -> None:
    assert parse_env_assignment(assignment) == expected


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("RATE=0.5", "expected NAME=TYPE:VALUE"),
        ("RATE", "expected NAME=TYPE:VALUE"),
        ("rate=float:0.5", "upper-case letters"),
        ("RATE=decimal:0.5", "unknown type 'decimal'"),
        ("COUNT=int:4.5", "'4.5' is not an int"),
        ("RATE=float:nan", "finite"),
        ("DEBUG=bool:maybe", "is not a bool"),
        ("CONFIG=json:{bad", "not valid JSON"),
    ],
)
def test_bad_env_syntax_is_a_usage_error_before_any_request(
    cli: Callable[..., CliResult], assignment: str, message: str
) -> None:
    api = FakeApi()

    result = cli(["runs", "create", "--agent", "analyst", "go", "--env", assignment], api)

    assert result.exit_code == EXIT_USAGE
    assert f"invalid --env {assignment!r}" in result.stderr
    assert message in result.stderr
    assert api.requests == []


def test_a_repeated_env_name_is_a_usage_error(cli: Callable[..., CliResult]) -> None:
    result = cli(["runs", "create", "--agent", AGENT_ID, "go", "--env", "A=int:1", "--env", "A=int:2"])

    assert result.exit_code == EXIT_USAGE
    assert "A is given more than once" in result.stderr


# --- follow ----------------------------------------------------------------------------------------------------


def follow_api(final_status: str = "succeeded", **final: Any) -> FakeApi:
    api = FakeApi()
    usage = {"steps": 3, "input_tokens": 1200, "output_tokens": 300, "cost_usd": 0.0123, "sandbox_s": 1.0}
    api.on(
        "GET",
        f"/v1/runs/{RUN_ID}",
        ok(run_payload("running", usage={**usage, "steps": 1})),
        ok(run_payload("running", usage=usage)),
        ok(run_payload(final_status, usage=usage, **final)),
    )
    think = step(
        1,
        "think",
        {"text": "I will load the CSV.", "tool_calls": [{"name": "python", "arguments": {"code": "print(1)"}}]},
        model_id="scripted",
        input_tokens=1200,
        output_tokens=300,
    )
    critique = step(2, "critique", {"verdict": "pass", "findings": [{"rule": "S101", "message": "assert used"}]})
    execute = step(
        3,
        "execute",
        {
            "code": "import pandas as pd\nprint(pd.read_csv('sales.csv').sum())",
            "stdout": "amount    10\n",
            "stderr": "a warning\n",
            "exit_code": 0,
            "limit": None,
            "artifacts": [{"name": "chart.png"}],
        },
    )
    api.on(
        "GET",
        f"/v1/runs/{RUN_ID}/steps",
        ok({"items": [think], "next_cursor": "1"}),
        ok({"items": [critique, execute], "next_cursor": "3"}),
        ok({"items": [], "next_cursor": "3"}),
    )
    api.on(
        "GET",
        f"/v1/runs/{RUN_ID}/artifacts",
        ok(
            {
                "items": [
                    {
                        "id": "a1",
                        "name": "chart.png",
                        "content_type": "image/png",
                        "size": 2048,
                        "url": "https://x/chart.png",
                    }
                ],
                "next_cursor": None,
            }
        ),
    )
    return api


def test_follow_prints_each_step_once_and_exits_0_when_the_run_succeeds(cli: Callable[..., CliResult]) -> None:
    api = follow_api("succeeded", result="north sold 10")

    result = cli(["runs", "follow", RUN_ID], api)

    assert result.exit_code == EXIT_OK
    out = result.stdout
    assert out.count("#1 think") == 1
    assert "I will load the CSV." in out
    assert '→ python({"code": "print(1)"})' in out
    assert "1,200 in / 300 out tokens" in out
    assert "#2 critique · verdict: pass" in out
    assert "[S101] assert used" in out
    assert "#3 execute · exit 0" in out
    assert "│ import pandas as pd" in out
    assert "│ amount    10" in out
    assert "│ a warning" in out
    assert "artifacts: chart.png" in out
    assert f"run {RUN_ID} succeeded · 3 steps · 1,500 tokens · $0.0123" in out
    assert "north sold 10" in out
    assert "https://x/chart.png" in out
    assert out.index("#1 think") < out.index("#2 critique") < out.index("#3 execute") < out.index("result:")
    step_requests = [request for request in api.requests if request.url.path.endswith("/steps")]
    assert [request.url.params.get("after") for request in step_requests] == [None, "1", "3"]


def test_follow_exits_1_and_prints_the_error_when_the_run_fails(cli: Callable[..., CliResult]) -> None:
    api = follow_api("failed", error={"code": "sandbox_crashed", "message": "the kernel died"})

    result = cli(["runs", "follow", RUN_ID], api)

    assert result.exit_code == EXIT_API_ERROR
    assert "error: sandbox_crashed: the kernel died" in result.stdout


def test_follow_with_json_prints_one_line_per_step_then_the_outcome(cli: Callable[..., CliResult]) -> None:
    result = cli(["runs", "follow", RUN_ID, "--json"], follow_api("budget_exceeded"))

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == EXIT_API_ERROR
    assert [line["seq"] for line in lines[:-1]] == [1, 2, 3]
    assert lines[-1]["run"]["status"] == "budget_exceeded"
    assert lines[-1]["artifacts"][0]["name"] == "chart.png"


def test_follow_draws_a_status_line_on_a_terminal_only(cli: Callable[..., CliResult]) -> None:
    terminal = TerminalStream()

    on_terminal = cli(["runs", "follow", RUN_ID], follow_api(), stderr=terminal)
    piped = cli(["runs", "follow", RUN_ID], follow_api())

    assert on_terminal.exit_code == EXIT_OK
    assert "running · 3 steps · 1,500 tokens · $0.0123" in terminal.getvalue()
    assert "\r\x1b[2K" in terminal.getvalue()
    assert "\x1b[2K" not in piped.stderr
    assert "status: running" in piped.stderr


def test_runs_create_with_follow_starts_then_follows(cli: Callable[..., CliResult]) -> None:
    api = follow_api("succeeded")
    api.on("POST", "/v1/runs", ok(run_payload(), 201))

    result = cli(["runs", "create", "--agent", AGENT_ID, "go", "--follow"], api)

    assert result.exit_code == EXIT_OK
    assert result.stdout.index(f"started run {RUN_ID}") < result.stdout.index("#1 think")


def test_long_output_is_capped_unless_full_is_asked() -> None:
    execute = step(4, "execute", {"stdout": "\n".join(f"line {n}" for n in range(100)), "exit_code": 0})

    capped = format_step(execute, max_lines=10)
    full = format_step(execute, max_lines=None)

    assert "    … 90 more lines (--full shows all)" in capped
    assert "    │ line 99" in full


def test_evaluate_approval_and_error_steps_read_naturally() -> None:
    assert format_step(step(5, "evaluate", {"met": False, "reason": "no chart yet"}))[:2] == [
        "#5 evaluate · goal not met · 1.2 s",
        "    no chart yet",
    ]
    assert format_step(step(6, "approval", {"decision": "approved", "comment": "go"}))[0].startswith(
        "#6 approval · approved"
    )
    assert format_step(step(7, "error", {"code": "model_error", "message": "throttled"}))[1] == "    throttled"


# --- runs list / show / steer ----------------------------------------------------------------------------------


def test_runs_list_all_follows_cursors_and_resolves_the_agent(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", "/v1/agents", ok({"items": [agent("analyst")], "next_cursor": None}))
    first = run_payload("succeeded", id="01J0RUN000000000000000000A")
    second = run_payload("failed", id="01J0RUN000000000000000000B")
    api.on(
        "GET",
        "/v1/runs",
        ok({"items": [first], "next_cursor": "c1"}),
        ok({"items": [second], "next_cursor": None}),
    )

    result = cli(["runs", "list", "--agent", "analyst", "--status", "succeeded", "--all", "--limit", "1"], api)

    run_requests = [request for request in api.requests if request.url.path == "/v1/runs"]
    assert result.exit_code == EXIT_OK
    assert [request.url.params.get("cursor") for request in run_requests] == [None, "c1"]
    assert all(request.url.params["agent_id"] == AGENT_ID for request in run_requests)
    assert all(request.url.params["status"] == "succeeded" for request in run_requests)
    assert "01J0RUN000000000000000000A" in result.stdout
    assert "01J0RUN000000000000000000B" in result.stdout


def test_runs_list_without_all_points_at_the_next_page(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", "/v1/runs", ok({"items": [run_payload()], "next_cursor": "c1"}))

    result = cli(["runs", "list"], api)

    assert len(api.requests) == 1
    assert "--cursor c1" in result.stderr


def test_reject_sends_the_comment(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", f"/v1/runs/{RUN_ID}/reject", ok(run_payload("running")))

    result = cli(["runs", "reject", RUN_ID, "--comment", "too risky"], api)

    assert result.exit_code == EXIT_OK
    assert json.loads(api.requests[0].content) == {"comment": "too risky"}


def test_reject_without_a_comment_is_a_usage_error(cli: Callable[..., CliResult]) -> None:
    assert cli(["runs", "reject", RUN_ID]).exit_code == EXIT_USAGE


# --- output and errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--json", "agents", "list"], ["agents", "list", "--json"]])
def test_json_output_is_the_api_payload(cli: Callable[..., CliResult], argv: list[str]) -> None:
    api = FakeApi()
    api.on("GET", "/v1/agents", ok({"items": [agent()], "next_cursor": None}))

    result = cli(argv, api)

    assert json.loads(result.stdout) == {"items": [agent()], "next_cursor": None}


def test_human_output_is_a_table(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", "/v1/agents", ok({"items": [agent()], "next_cursor": None}))

    lines = cli(["agents", "list"], api).stdout.splitlines()

    assert lines[0].split() == ["ID", "NAME", "VERSION", "REASONING", "MODELS", "TOOLS", "UPDATED"]
    assert lines[1].split()[:3] == [AGENT_ID, "analyst", "3"]


def test_a_refused_connection_exits_3_with_a_hint(cli: Callable[..., CliResult]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    result = cli(["--url", "http://127.0.0.1:9", "runs", "list"], FakeApi(routes={("GET", "/v1/runs"): refuse}))

    assert result.exit_code == EXIT_CONNECTION
    assert result.stderr.strip() == (
        "cannot reach agentlab at http://127.0.0.1:9: [Errno 111] Connection refused (is `make dev` running?)"
    )


def test_a_timeout_is_a_connection_error(cli: Callable[..., CliResult]) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    result = cli(["runs", "show", RUN_ID], FakeApi(routes={("GET", f"/v1/runs/{RUN_ID}"): hang}))

    assert result.exit_code == EXIT_CONNECTION
    assert "timed out" in result.stderr


def test_401_exits_4_with_a_hint_and_never_prints_the_key(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", "/v1/runs", error_response(401, "unauthorized", "invalid API key"))

    result = cli(["--api-key", "al_wrong_key", "runs", "list"], api)

    assert result.exit_code == EXIT_AUTH
    assert result.stderr.strip() == "authentication failed: invalid API key (check --api-key / AGENTLAB_API_KEY)"
    assert "al_wrong_key" not in result.stdout + result.stderr


def test_403_exits_4_with_a_permission_message(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", "/v1/agents", error_response(403, "forbidden", "viewers cannot create agents", "req-9"))

    result = cli(["agents", "create", "x"], api)

    assert result.exit_code == EXIT_AUTH
    assert "permission denied: viewers cannot create agents" in result.stderr
    assert "req-9" in result.stderr


def test_other_api_errors_show_code_message_and_request_id(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", f"/v1/runs/{RUN_ID}", error_response(404, "not_found", "run not found", "req-42"))

    result = cli(["runs", "show", RUN_ID], api)

    assert result.exit_code == EXIT_API_ERROR
    assert result.stderr.strip() == "error not_found: run not found (request req-42)"


def test_a_non_json_error_from_a_proxy_still_reads_clearly(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", f"/v1/runs/{RUN_ID}", httpx.Response(502, text="Bad Gateway", headers={"x-request-id": "gw-1"}))

    result = cli(["runs", "show", RUN_ID], api)

    assert result.exit_code == EXIT_API_ERROR
    assert result.stderr.strip() == "error http_502: Bad Gateway (request gw-1)"


def test_an_unknown_command_is_a_usage_error(cli: Callable[..., CliResult]) -> None:
    assert cli(["launch"]).exit_code == EXIT_USAGE


def test_a_missing_upload_file_is_a_usage_error(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    api = FakeApi()

    result = cli(["files", "upload", str(tmp_path / "absent.csv")], api)

    assert result.exit_code == EXIT_USAGE
    assert "no such file" in result.stderr
    assert api.requests == []


def test_files_upload_guesses_the_content_type(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    image = tmp_path / "plot.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    api = FakeApi()
    api.on("POST", "/v1/files", ok({"file": {"id": FILE_ID}, "upload": {"url": UPLOAD_URL, "fields": {}}}, 201))
    api.on("POST", "/bucket", httpx.Response(204))
    api.on("POST", f"/v1/files/{FILE_ID}/complete", ok({"id": FILE_ID, "name": "plot.png", "status": "ready"}))

    result = cli(["files", "upload", str(image), "--json"], api)

    assert result.exit_code == EXIT_OK
    assert json.loads(api.requests[0].content)["content_type"] == "image/png"
    assert json.loads(result.stdout)["status"] == "ready"


# --- dev -------------------------------------------------------------------------------------------------------


def test_dev_hands_every_following_argument_to_the_local_stack(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[list[str]] = []

    def fake_dev_main(argv: list[str]) -> int:
        received.append(argv)
        return 7

    fake_module = types.ModuleType("agentlab.local.dev")
    fake_module.main = fake_dev_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "agentlab.local.dev", fake_module)

    result = cli(["dev", "--port", "8001", "--json", "--help"])

    assert result.exit_code == 7
    assert received == [["--port", "8001", "--json", "--help"]]


def test_config_file_directory_is_created_private(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    cli(["configure", "--url", "http://127.0.0.1:8000"])

    directory = tmp_path / "xdg" / "agentlab"
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700


# --- steps and full outputs ------------------------------------------------------------------------------------

STORAGE_PATH = "/bucket/orgs/org/runs/run/outputs/01J0OUT/stdout.txt"
OUTPUT_URL = f"https://storage.example.test{STORAGE_PATH}?X-Amz-Signature=abc"
FULL_STDOUT = "".join(f"row {n}\n" for n in range(5_000))
STDOUT_PREVIEW = "row 0\nrow 1\n[... 28880 characters omitted ...]\nrow 4999\n"


def output_ref(chars: int, url: str | None = OUTPUT_URL) -> dict[str, Any]:
    return {"key": "orgs/org/runs/run/outputs/01J0OUT/stdout.txt", "chars": chars, "bytes": chars, "url": url}


def spilled_steps_api() -> FakeApi:
    """A run whose execute step printed more than its record holds: a preview, and the full text in storage."""
    api = FakeApi()
    think = step(1, "think", {"text": "print the frame", "tool_calls": [{"name": "python", "arguments": {}}]})
    execute = step(2, "execute", {"code": "print(df)", "stdout": STDOUT_PREVIEW, "exit_code": 0})
    execute["full_output"] = {"stdout": output_ref(len(FULL_STDOUT))}
    api.on("GET", f"/v1/runs/{RUN_ID}/steps", ok({"items": [think, execute], "next_cursor": "2"}))
    api.on("GET", STORAGE_PATH, httpx.Response(200, text=FULL_STDOUT))
    return api


def test_runs_steps_says_which_fields_are_previews_and_where_their_full_output_is(
    cli: Callable[..., CliResult],
) -> None:
    api = spilled_steps_api()

    result = cli(["runs", "steps", RUN_ID], api)

    assert result.exit_code == EXIT_OK, result.stderr
    out = result.stdout
    assert out.index("#1 think") < out.index("#2 execute · exit 0")
    assert "    │ [... 28880 characters omitted ...]" in out
    assert f"    stdout is a preview of {len(FULL_STDOUT):,} characters; full output: {OUTPUT_URL}" in out
    assert "is a preview" not in out[: out.index("#2 execute")]
    assert all(request.url.host != "storage.example.test" for request in api.requests)


def test_runs_steps_with_full_output_prints_the_whole_text_and_sends_no_key_to_storage(
    cli: Callable[..., CliResult],
) -> None:
    api = spilled_steps_api()

    result = cli(["runs", "steps", RUN_ID, "--full-output", "--api-key", "al_secret"], api)

    assert result.exit_code == EXIT_OK, result.stderr
    assert "    │ row 2500\n" in result.stdout and "    │ row 4999\n" in result.stdout
    assert "characters omitted" not in result.stdout and "is a preview" not in result.stdout
    downloads = [request for request in api.requests if request.url.host == "storage.example.test"]
    assert [str(request.url) for request in downloads] == [OUTPUT_URL]
    assert "authorization" not in downloads[0].headers
    steps_request = next(request for request in api.requests if request.url.path.endswith("/steps"))
    assert steps_request.headers["authorization"] == "Bearer al_secret"


def test_runs_steps_with_full_output_says_which_download_failed(cli: Callable[..., CliResult]) -> None:
    api = spilled_steps_api()
    api.on("GET", STORAGE_PATH, httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>"))

    result = cli(["runs", "steps", RUN_ID, "--full-output"], api)

    assert result.exit_code == EXIT_API_ERROR
    assert "cannot download the full stdout of step 2: the storage URL answered 403" in result.stderr


def test_runs_steps_json_prints_each_step_with_its_full_output_urls(cli: Callable[..., CliResult]) -> None:
    result = cli(["runs", "steps", RUN_ID, "--json"], spilled_steps_api())

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["seq"] for line in lines] == [1, 2]
    assert lines[1]["full_output"]["stdout"]["url"] == OUTPUT_URL


def test_fetched_tool_calls_are_shown_whole_and_unfetched_outputs_without_a_url_say_where_they_are() -> None:
    calls = [{"name": "python", "arguments": {"code": "total = 0\n" * 3}}]
    think = step(3, "think", {"text": "a long cell", "tool_calls": calls})
    think["full_output"] = {"tool_calls": output_ref(9_000), "text": output_ref(20_000, url=None)}

    lines = format_step(think, max_lines=None, full_texts={"tool_calls": json.dumps(calls)})

    start = lines.index("    → python code (full output):")
    assert lines[start + 1 : start + 4] == ["    │ total = 0"] * 3
    assert lines[-1] == "    text is a preview of 20,000 characters; the full output is stored with the run"
    assert not any(line.startswith("    tool_calls is a preview") for line in lines)


def test_runs_show_and_follow_point_to_the_full_result(cli: Callable[..., CliResult]) -> None:
    preview = "The answer begins…\n[... 39000 characters omitted ...]\n…and ends."
    finished = run_payload("succeeded", result=preview, result_full=output_ref(40_000))
    api = FakeApi()
    api.on("GET", f"/v1/runs/{RUN_ID}", ok(finished))
    api.on("GET", f"/v1/runs/{RUN_ID}/steps", ok({"items": [], "next_cursor": None}))
    api.on("GET", f"/v1/runs/{RUN_ID}/artifacts", ok({"items": [], "next_cursor": None}))

    shown = cli(["runs", "show", RUN_ID], api)
    followed = cli(["runs", "follow", RUN_ID], api)

    note = f"result is a preview of 40,000 characters; full output: {OUTPUT_URL}"
    assert f"full result: {note}" in shown.stdout
    assert f"    {note}" in followed.stdout


# --- critic modes, output limits and unknown costs -------------------------------------------------------------

UNPRICED_USAGE = {"steps": 2, "input_tokens": 900, "output_tokens": 100, "cost_usd": 0.0, "cost_known": False}


def test_agents_create_sends_the_output_limit_and_the_critic_mode(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", "/v1/agents", ok(agent("trusted"), 201))

    result = cli(["agents", "create", "trusted", "--max-output-tokens", "2048", "--critic-mode", "warn"], api)

    assert result.exit_code == EXIT_OK, result.stderr
    assert json.loads(api.requests[0].content) == {
        "name": "trusted",
        "limits": {"max_output_tokens": 2048},
        "critic": {"mode": "warn"},
    }


def test_an_unknown_critic_mode_is_a_usage_error_before_any_request(
    cli: Callable[..., CliResult], capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi()

    result = cli(["agents", "create", "trusted", "--critic-mode", "lenient"], api)

    assert result.exit_code == EXIT_USAGE
    # argparse reports usage errors on the process's own stderr.
    assert "invalid choice: 'lenient'" in capsys.readouterr().err
    assert api.requests == []


def test_agents_create_shows_the_servers_refusal_of_a_budget_it_cannot_check(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    message = "limits.max_cost_usd is set, but openai:llama3.1:8b has no price, so the budget could not be checked"
    api.on("POST", "/v1/agents", error_response(422, "unpriced_model", message))

    result = cli(["agents", "create", "local", "--model-reasoning", "openai:llama3.1:8b", "--max-cost-usd", "2"], api)

    assert result.exit_code == EXIT_API_ERROR
    assert "unpriced_model" in result.stderr and message in result.stderr


def test_agents_show_says_which_limits_take_a_default_and_the_critic_mode(cli: Callable[..., CliResult]) -> None:
    shown = {
        **agent(),
        "limits": {"max_steps": 20, "max_cost_usd": None, "max_output_tokens": None},
        "critic": {"mode": "off", "allow_imports": [], "forbid_imports": [], "allow_calls": ["os.system"]},
    }
    api = FakeApi()
    api.on("GET", f"/v1/agents/{AGENT_ID}", ok(shown))

    result = cli(["agents", "show", AGENT_ID], api)

    assert "max_steps=20, max_cost_usd=default, max_output_tokens=default" in result.stdout
    assert "critic:" in result.stdout and "mode=off, allow_calls=os.system" in result.stdout


def test_runs_list_and_show_call_a_cost_with_an_unpriced_model_unknown(cli: Callable[..., CliResult]) -> None:
    local = run_payload("succeeded", id="01J0RUN000000000000000000A", usage=UNPRICED_USAGE)
    mixed = run_payload("succeeded", id="01J0RUN000000000000000000B", usage={**UNPRICED_USAGE, "cost_usd": 0.0012})
    priced = run_payload("succeeded", id="01J0RUN000000000000000000C", usage={**UNPRICED_USAGE, "cost_known": True})
    api = FakeApi()
    api.on("GET", "/v1/runs", ok({"items": [local, mixed, priced], "next_cursor": None}))
    api.on("GET", f"/v1/runs/{RUN_ID}", ok(mixed))

    rows = {line.split()[0]: line for line in cli(["runs", "list"], api).stdout.splitlines()[1:]}
    shown = cli(["runs", "show", RUN_ID], api).stdout

    assert "  unknown  " in rows["01J0RUN000000000000000000A"]
    assert "  unknown (≥ $0.0012)  " in rows["01J0RUN000000000000000000B"]
    assert "  $0.0000  " in rows["01J0RUN000000000000000000C"]
    assert "900 in / 100 out tokens · cost unknown (unpriced model; ≥ $0.0012) · sandbox" in shown


def test_follow_calls_an_unpriced_runs_cost_unknown_in_the_steps_the_status_line_and_the_outcome(
    cli: Callable[..., CliResult],
) -> None:
    api = FakeApi()
    api.on("GET", f"/v1/runs/{RUN_ID}", ok(run_payload("succeeded", usage=UNPRICED_USAGE, result="done")))
    think = step(
        1,
        "think",
        {"text": "", "tool_calls": [{"name": "finish", "arguments": {"answer": "done"}}]},
        model_id="llama3.1:8b",
        input_tokens=900,
        output_tokens=100,
        cost_known=False,
    )
    api.on("GET", f"/v1/runs/{RUN_ID}/steps", ok({"items": [think], "next_cursor": None}))
    api.on("GET", f"/v1/runs/{RUN_ID}/artifacts", ok({"items": [], "next_cursor": None}))
    terminal = TerminalStream()

    result = cli(["runs", "follow", RUN_ID], api, stderr=terminal)

    assert "#1 think · llama3.1:8b · 900 in / 100 out tokens · cost unknown (unpriced model) · 1.2 s" in result.stdout
    assert f"run {RUN_ID} succeeded · 2 steps · 1,000 tokens · cost unknown (unpriced model)" in result.stdout
    assert "succeeded · 2 steps · 1,000 tokens · cost unknown (unpriced model)" in terminal.getvalue()
    assert "$0.0000" not in result.stdout + terminal.getvalue()


def test_think_steps_say_what_became_of_a_reply_that_was_not_run() -> None:
    truncated = step(2, "think", {"text": "Here is", "tool_calls": [], "reply": "truncated", "max_tokens": 4096})
    empty = step(3, "think", {"text": "", "tool_calls": [], "reply": "empty"})
    problem = "The call to `python` was not run: code: Field required. Call it again with arguments that match"
    invalid = step(4, "think", {"text": "", "tool_calls": [{"name": "python", "arguments": {}}], "problem": problem})

    assert format_step(truncated)[0].startswith("#2 think · cut off by the output limit of 4,096 tokens: nothing in it")
    assert format_step(empty)[0].startswith("#3 think · empty reply: nothing to run")
    assert format_step(invalid)[1:] == ["    → python({})", f"    not run: {problem}"]


def test_a_code_model_turn_shows_both_models_with_their_tokens_and_costs() -> None:
    detail = {
        "text": "",
        "tool_calls": [{"name": "python", "arguments": {"task": "sum x", "code": "print(1)"}}],
        "reasoning_model": {
            "provider": "bedrock",
            "model_id": "anthropic.claude",
            "input_tokens": 900,
            "output_tokens": 40,
            "cost_usd": 0.0033,
            "cost_known": True,
        },
        "code_model": {
            "provider": "openai",
            "model_id": "qwen2.5-coder",
            "input_tokens": 300,
            "output_tokens": 20,
            "cost_usd": 0.0,
            "cost_known": False,
        },
    }
    turn = step(5, "think", detail, model_id="anthropic.claude", cost_usd=0.0033, cost_known=False)

    lines = format_step(turn)

    assert "cost unknown (unpriced model; ≥ $0.0033)" in lines[0]
    assert lines[-2:] == [
        "    reasoning model: anthropic.claude (bedrock) · 900 in / 40 out tokens · $0.0033",
        "    code model: qwen2.5-coder (openai) · 300 in / 20 out tokens · cost unknown (unpriced model)",
    ]


def test_critique_and_execute_steps_show_the_critic_mode() -> None:
    finding = {"severity": "error", "code": "forbidden-call", "message": "os.system is forbidden"}
    warned = step(2, "critique", {"verdict": "block", "mode": "warn", "findings": [finding]})
    enforced = step(2, "critique", {"verdict": "block", "mode": "enforce", "findings": [finding]})
    unchecked = step(3, "execute", {"code": "import os", "exit_code": 0, "critic": "off"})

    assert format_step(warned)[0].startswith("#2 critique · verdict: block — ran anyway (critic mode: warn)")
    assert format_step(enforced)[0].startswith("#2 critique · verdict: block — not run (critic mode: enforce)")
    assert format_step(unchecked)[0].startswith("#3 execute · exit 0 · critic off")
