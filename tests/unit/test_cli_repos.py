"""`agentlab repos ...` against a fake API served by httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cli_harness import CliResult, FakeApi, error_response, ok

from agentlab.cli.errors import EXIT_API_ERROR, EXIT_OK, EXIT_USAGE

REPO_ID = "01J0REPO000000000000000000"
RUN_ID = "01J0RUN0000000000000000000"
SHA = "0123456789abcdef0123456789abcdef01234567"
REPO_PATH = f"/v1/repos/{REPO_ID}"
RUN_PATH = f"/v1/runs/{RUN_ID}"

pytestmark = pytest.mark.usefixtures("isolated_environment")


def repo(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": REPO_ID,
        "org_id": "org",
        "name": "fastmath",
        "url": "https://github.com/acme/fastmath.git",
        "default_branch": "main",
        "has_credentials": False,
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:04:05Z",
        "created_by": "user-1",
        "revision": 1,
        "last_run_id": None,
    }
    payload.update(overrides)
    return payload


def evidence(file: str, line: int | None, detail: str) -> dict[str, Any]:
    return {"file": file, "line": line, "detail": detail}


def config(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "repo_id": REPO_ID,
        "detected": {
            "commit_sha": SHA,
            "detected_at": "2026-01-02T03:05:00Z",
            "language": "python",
            "package_manager": "uv",
            "framework": "pytest",
            "commands": {},
            "workspaces": [],
            "notes": ["no lint configuration found"],
            "needs_confirmation": ["bench"],
        },
        "overrides": {"build": "make build"},
        "confirmed": ["typecheck"],
        "effective": {
            "install": {
                "command": "uv sync",
                "origin": "detected",
                "confidence": 0.95,
                "evidence": [evidence("uv.lock", None, "a uv lock file")],
                "needs_confirmation": False,
            },
            "build": {
                "command": "make build",
                "origin": "override",
                "confidence": None,
                "evidence": [],
                "needs_confirmation": False,
            },
            "test": {
                "command": "uv run pytest -q",
                "origin": "detected",
                "confidence": 0.9,
                "evidence": [evidence(".github/workflows/ci.yml", 31, "run: uv run pytest -q")],
                "needs_confirmation": False,
            },
            "bench": {
                "command": "python bench/run.py",
                "origin": "detected",
                "confidence": 0.4,
                "evidence": [evidence("bench/run.py", None, "a script under bench/")],
                "needs_confirmation": True,
            },
        },
        "bench_runs": 5,
        "revision": 7,
    }
    payload.update(overrides)
    return payload


def repo_run(status: str = "queued", commit_sha: str | None = None, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": RUN_ID,
        "org_id": "org",
        "agent_id": "",
        "status": status,
        "workflow": "repo_optimize",
        "repo": {"repo_id": REPO_ID, "branch": "main", "sha": None, "commit_sha": commit_sha},
        "created_at": "2026-01-02T04:00:00Z",
        "started_at": "2026-01-02T04:00:01Z",
        "ended_at": None,
        "error": None,
        "usage": {"steps": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0, "sandbox_s": 0},
    }
    payload.update(overrides)
    return payload


def step(seq: int, step_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": RUN_ID, "seq": seq, "type": step_type, "created_at": "2026-01-02T04:00:02Z", "detail": detail}


def baseline(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "run_id": RUN_ID,
        "repo_id": REPO_ID,
        "commit_sha": SHA,
        "status": "succeeded",
        "failure": None,
        "phases": [
            {
                "phase": "install",
                "command": "uv sync",
                "exit_code": 0,
                "duration_s": 4.25,
                "limit": None,
                "network": True,
                "output_tail": "",
            },
            {
                "phase": "test",
                "command": "uv run pytest -q",
                "exit_code": 1,
                "duration_s": 12.5,
                "limit": None,
                "network": False,
                "output_tail": "1 failed",
            },
        ],
        "tests": {
            "source": "junit",
            "total": 42,
            "passed": 40,
            "failed": 1,
            "errors": 0,
            "skipped": 1,
            "failures": ["tests/test_add.py::test_overflow"],
            "flaky": ["tests/test_clock.py::test_tick"],
            "duration_s": 11.0,
        },
        "benchmark": {
            "source": "pytest-benchmark",
            "runs": 5,
            "series": [
                {
                    "name": "matmul",
                    "samples": [0.11, 0.12, 0.12, 0.13, 0.12],
                    "summary": {
                        "n": 5,
                        "min": 0.11,
                        "max": 0.13,
                        "mean": 0.12,
                        "median": 0.12,
                        "stdev": 0.007,
                        "mad": 0.0,
                        "p05": 0.11,
                        "p95": 0.13,
                        "cv": 0.058,
                        "ci95_median": [0.115, 0.125],
                    },
                }
            ],
        },
        "notes": ["the test phase ran twice to find flaky tests"],
    }
    payload.update(overrides)
    return payload


# --- connect ---------------------------------------------------------------------------------------------------


def test_connect_reads_the_token_from_the_named_variable_and_never_prints_it(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a token in an environment variable
    monkeypatch.setenv("FASTMATH_TOKEN", "ghp_secret_value")
    api = FakeApi()
    api.on("POST", "/v1/repos", ok(repo(has_credentials=True), 201))

    # When the repository is connected with every option
    result = cli(
        [
            "repos",
            "connect",
            "https://github.com/acme/fastmath.git",
            "--branch",
            "develop",
            "--name",
            "fm",
            "--token-env",
            "FASTMATH_TOKEN",
        ],
        api,
    )

    # Then the token goes in the body, and nowhere in the output
    assert result.exit_code == EXIT_OK, result.stderr
    assert api.body() == {
        "url": "https://github.com/acme/fastmath.git",
        "default_branch": "develop",
        "name": "fm",
        "credentials": {"token": "ghp_secret_value"},
    }
    assert f"connected repo {REPO_ID} (fastmath)" in result.stdout
    assert "ghp_secret_value" not in result.stdout + result.stderr
    assert str(api.requests[0].url) == "http://127.0.0.1:8000/v1/repos"


def test_connect_without_options_sends_only_the_url(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", "/v1/repos", ok(repo(), 201))

    result = cli(["repos", "connect", "https://github.com/acme/fastmath.git", "--json"], api)

    assert result.exit_code == EXIT_OK, result.stderr
    assert api.body() == {"url": "https://github.com/acme/fastmath.git"}
    assert json.loads(result.stdout)["id"] == REPO_ID


def test_connect_with_an_unset_token_variable_fails_before_any_request(
    cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MISSING_TOKEN", raising=False)
    api = FakeApi()

    result = cli(["repos", "connect", "https://github.com/acme/fastmath.git", "--token-env", "MISSING_TOKEN"], api)

    assert result.exit_code == EXIT_USAGE
    assert "MISSING_TOKEN is not set" in result.stderr
    assert api.requests == []


def test_connect_has_no_option_that_takes_the_token_itself(cli: Callable[..., CliResult]) -> None:
    result = cli(["repos", "connect", "https://github.com/acme/fastmath.git", "--token", "ghp_x"], FakeApi())

    assert result.exit_code == EXIT_USAGE


def test_an_unreachable_repository_is_an_api_error_with_the_server_message(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", "/v1/repos", error_response(422, "repo_unreachable", "git ls-remote failed: not found"))

    result = cli(["repos", "connect", "https://github.com/acme/missing.git"], api)

    assert result.exit_code == EXIT_API_ERROR
    assert "repo_unreachable: git ls-remote failed: not found" in result.stderr


# --- list, show ------------------------------------------------------------------------------------------------


def test_list_prints_a_table_and_the_next_cursor(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", "/v1/repos", ok({"items": [repo(has_credentials=True, last_run_id=RUN_ID)], "next_cursor": "c2"}))

    result = cli(["repos", "list", "--limit", "1"], api)

    assert result.exit_code == EXIT_OK, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "URL", "BRANCH", "CREDENTIALS", "LAST", "RUN", "CREATED"]
    assert row.split()[:6] == [REPO_ID, "fastmath", "https://github.com/acme/fastmath.git", "main", "yes", RUN_ID]
    assert api.requests[0].url.params["limit"] == "1"
    assert "--cursor c2" in result.stderr


def test_show_prints_the_repository_and_its_latest_runs(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", REPO_PATH, ok(repo(has_credentials=True)))
    api.on("GET", f"{REPO_PATH}/runs", ok({"items": [repo_run("succeeded", SHA)], "next_cursor": None}))

    result = cli(["repos", "show", REPO_ID], api)

    assert result.exit_code == EXIT_OK, result.stderr
    assert "credentials:    a token is stored" in result.stdout
    run_line = next(line for line in result.stdout.splitlines() if line.startswith(RUN_ID))
    assert run_line.split()[:4] == [RUN_ID, "succeeded", "main", SHA[:12]]
    assert api.requests[1].url.params["limit"] == "5"


# --- config ----------------------------------------------------------------------------------------------------


def test_config_prints_each_command_with_origin_confidence_evidence_and_what_needs_confirming(
    cli: Callable[..., CliResult],
) -> None:
    api = FakeApi()
    api.on("GET", f"{REPO_PATH}/config", ok(config()))

    result = cli(["repos", "config", REPO_ID], api)

    assert result.exit_code == EXIT_OK, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"detected at commit {SHA[:12]} on 2026-01-02 03:05:00Z (python · uv · pytest)"
    assert "install  uv sync  (detected, confidence 0.95)" in lines
    assert "    evidence: uv.lock — a uv lock file" in lines
    assert "build    make build  (override)" in lines
    assert "    evidence: .github/workflows/ci.yml:31 — run: uv run pytest -q" in lines
    bench = lines.index("bench    python bench/run.py  (detected, confidence 0.40)")
    assert lines[bench + 1] == "    needs confirmation: the detector is not sure of this command"
    assert "no command for: typecheck, lint" in lines
    assert "note: no lint configuration found" in lines
    assert "bench runs: 5 · revision 7" in lines
    assert f"agentlab repos config {REPO_ID} --confirm bench" in lines[-1]
    assert api.paths() == [f"GET {REPO_PATH}/config"]


def test_config_options_put_the_whole_config_at_the_revision_read(cli: Callable[..., CliResult]) -> None:
    # Given a config with an override of build and typecheck confirmed
    api = FakeApi()
    api.on("GET", f"{REPO_PATH}/config", ok(config()))
    api.on("PUT", f"{REPO_PATH}/config", ok(config(revision=8, bench_runs=9)))

    # When a command is set, another unset, one confirmed and the bench runs changed
    result = cli(
        [
            "repos",
            "config",
            REPO_ID,
            "--set",
            "test=uv run pytest -q -p no:randomly",
            "--set",
            "lint=ruff check .",
            "--unset",
            "build",
            "--confirm",
            "bench",
            "--bench-runs",
            "9",
        ],
        api,
    )

    # Then the overrides not named are kept, the unset one is null, and the confirmations add up
    assert result.exit_code == EXIT_OK, result.stderr
    assert api.paths() == [f"GET {REPO_PATH}/config", f"PUT {REPO_PATH}/config"]
    assert api.body() == {
        "overrides": {"build": None, "test": "uv run pytest -q -p no:randomly", "lint": "ruff check ."},
        "confirmed": ["typecheck", "bench"],
        "bench_runs": 9,
        "expected_revision": 7,
    }
    assert "bench runs: 9 · revision 8" in result.stdout


def test_a_command_keeps_every_equals_sign_after_the_first(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", f"{REPO_PATH}/config", ok(config(overrides={})))
    api.on("PUT", f"{REPO_PATH}/config", ok(config()))

    result = cli(["repos", "config", REPO_ID, "--set", "test=env MODE=ci pytest", "--json"], api)

    assert result.exit_code == EXIT_OK, result.stderr
    assert api.body()["overrides"] == {"test": "env MODE=ci pytest"}
    assert json.loads(result.stdout)["revision"] == 7


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "deploy=make deploy"], "the command is one of install, build, typecheck, test, lint, bench"),
        (["--set", "test"], "expected NAME=COMMAND"),
        (["--set", "test=  "], "the command is empty"),
        (["--confirm", "release"], "--confirm release"),
        (["--set", "test=pytest", "--unset", "test"], "given to both --set and --unset"),
    ],
)
def test_a_bad_config_option_changes_nothing(cli: Callable[..., CliResult], arguments: list[str], message: str) -> None:
    api = FakeApi()
    api.on("GET", f"{REPO_PATH}/config", ok(config()))

    result = cli(["repos", "config", REPO_ID, *arguments], api)

    assert result.exit_code == EXIT_USAGE
    assert message in result.stderr
    assert [request.method for request in api.requests] == ["GET"]


@pytest.mark.parametrize("runs", ["0", "51", "many"])
def test_bench_runs_out_of_range_is_a_usage_error(cli: Callable[..., CliResult], runs: str) -> None:
    api = FakeApi()

    result = cli(["repos", "config", REPO_ID, "--bench-runs", runs], api)

    assert result.exit_code == EXIT_USAGE
    assert api.requests == []


def test_a_config_changed_by_someone_else_is_reported(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", f"{REPO_PATH}/config", ok(config()))
    api.on("PUT", f"{REPO_PATH}/config", error_response(409, "revision_conflict", "the config is at revision 8"))

    result = cli(["repos", "config", REPO_ID, "--confirm", "bench"], api)

    assert result.exit_code == EXIT_API_ERROR
    assert "revision_conflict" in result.stderr


def test_a_repository_not_detected_yet_says_so(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", f"{REPO_PATH}/config", ok(config(detected=None, effective={}, overrides={}, bench_runs=None)))

    result = cli(["repos", "config", REPO_ID], api)

    assert result.exit_code == EXIT_OK
    assert result.stdout.splitlines()[0] == "not detected yet: the first run detects the commands"
    assert "no command for: install, build, typecheck, test, lint, bench" in result.stdout
    assert "bench runs: the deployment's default · revision 7" in result.stdout


# --- run -------------------------------------------------------------------------------------------------------


def test_run_sends_the_branch_and_sha_and_returns_at_once(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", f"{REPO_PATH}/runs", ok(repo_run(), 201))

    result = cli(["repos", "run", REPO_ID, "--branch", "main", "--sha", SHA.upper()], api)

    assert result.exit_code == EXIT_OK, result.stderr
    assert api.body() == {"branch": "main", "sha": SHA}
    assert result.stdout == f"started run {RUN_ID} (queued) on main\n"
    assert api.paths() == [f"POST {REPO_PATH}/runs"]


def test_a_short_sha_is_refused_before_any_request(
    cli: Callable[..., CliResult], capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi()

    result = cli(["repos", "run", REPO_ID, "--sha", "abc123"], api)

    assert result.exit_code == EXIT_USAGE
    assert "40 hex digits" in capsys.readouterr().err
    assert api.requests == []


def follow_api(final_status: str, steps: list[dict[str, Any]], baseline_answer: httpx.Response) -> FakeApi:
    """A run that is running for two polls, then ends; its steps appear one poll at a time."""
    api = FakeApi()
    api.on("POST", f"{REPO_PATH}/runs", ok(repo_run(), 201))
    ended = repo_run(final_status, SHA, ended_at="2026-01-02T04:01:00Z")
    api.on("GET", RUN_PATH, ok(repo_run("running")), ok(repo_run("running", SHA)), ok(ended))
    shown = [0]

    def steps_answer(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params["after"])
        shown[0] += 1
        visible = steps[: shown[0] * 2]
        return ok({"items": [s for s in visible if s["seq"] > after], "next_cursor": None})

    api.on("GET", f"{RUN_PATH}/steps", steps_answer)
    api.on("GET", f"{RUN_PATH}/baseline", lambda _request: baseline_answer)
    artifacts = [
        {"name": "baseline.json", "content_type": "application/json", "size": 2048, "url": "https://s3/baseline"},
        {"name": "logs.txt", "content_type": "text/plain", "size": 4096, "url": "https://s3/logs"},
    ]
    api.on("GET", f"{RUN_PATH}/artifacts", ok({"items": artifacts, "next_cursor": None}))
    return api


REPO_STEPS = [
    step(1, "checkout", {"branch": "main", "commit_sha": SHA}),
    step(
        2,
        "detect",
        {
            "language": "python",
            "package_manager": "uv",
            "commands": {
                "test": {"command": "uv run pytest -q", "origin": "detected", "confidence": 0.9},
                "bench": {
                    "command": "python bench/run.py",
                    "origin": "detected",
                    "confidence": 0.4,
                    "needs_confirmation": True,
                },
                "install": {"command": "uv sync", "origin": "override", "confidence": None},
            },
        },
    ),
    step(3, "phase", {"phase": "install", "command": "uv sync", "exit_code": 0, "duration_s": 4.25}),
    step(
        4,
        "phase",
        {
            "phase": "test",
            "command": "uv run pytest -q",
            "exit_code": 1,
            "duration_s": 12.5,
            "limit": "timeout",
            "output_tail": "FAILED tests/test_add.py::test_overflow\n1 failed, 40 passed",
        },
    ),
]


def test_follow_prints_each_step_once_then_the_baseline_figures(cli: Callable[..., CliResult]) -> None:
    api = follow_api("succeeded", REPO_STEPS, ok(baseline()))

    result = cli(["repos", "run", REPO_ID, "--follow"], api)

    assert result.exit_code == EXIT_OK, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == f"#1 checkout · main · {SHA[:12]}"
    assert lines[2:6] == [
        "#2 detect · python · uv",
        "    install: uv sync (override)",
        "    test: uv run pytest -q (detected, confidence 0.90)",
        "    bench: python bench/run.py (detected, confidence 0.40) · needs confirmation",
    ]
    assert lines[6] == "#3 phase install · exit 0 · 4.25 s"
    assert lines[7] == "    $ uv sync"
    # A phase that failed shows the tail of its output; one that passed does not.
    assert lines[8] == "#4 phase test · exit 1 · 12.50 s · stopped by the timeout limit"
    assert lines[10:12] == ["    │ FAILED tests/test_add.py::test_overflow", "    │ 1 failed, 40 passed"]
    assert sum(line.startswith("#") for line in lines) == 4
    assert f"── run {RUN_ID} succeeded · commit {SHA[:12]}" in lines
    assert "tests: 40 passed, 1 failed, 0 errors, 1 skipped of 42 (junit, 11.00 s)" in lines
    assert "    failed: tests/test_add.py::test_overflow" in lines
    assert "    flaky: tests/test_clock.py::test_tick" in lines
    assert "    matmul: median 120 ms · 95% CI 115 ms to 125 ms · cv 5.8% · n=5" in lines
    table = lines.index("phases:")
    phase_rows = [line.split() for line in lines[table + 2 : table + 4]]
    assert phase_rows[0][:5] == ["install", "0", "4.25", "s", "yes"]
    assert phase_rows[1][:5] == ["test", "1", "12.50", "s", "no"]
    assert "note: the test phase ran twice to find flaky tests" in lines
    assert any("logs.txt" in line and "https://s3/logs" in line for line in lines)
    afters = [request.url.params["after"] for request in api.requests if request.url.path.endswith("/steps")]
    assert afters == ["0", "2", "4"]


def test_follow_exits_1_and_says_there_is_no_baseline_when_the_run_failed_early(
    cli: Callable[..., CliResult],
) -> None:
    api = follow_api(
        "failed",
        [step(1, "checkout", {"ok": False, "code": "branch_not_found", "message": "no branch nope", "branch": "nope"})],
        error_response(404, "no_baseline", "the run wrote no baseline"),
    )

    result = cli(["repos", "run", REPO_ID, "--branch", "nope", "--follow"], api)

    assert result.exit_code == EXIT_API_ERROR
    assert result.stdout.splitlines()[1:3] == ["#1 checkout · nope", "    failed: branch_not_found: no branch nope"]
    assert "no baseline: the run ended before the baseline was written" in result.stdout


def test_follow_with_json_prints_one_line_per_step_then_run_baseline_and_artifacts(
    cli: Callable[..., CliResult],
) -> None:
    api = follow_api("failed", REPO_STEPS, ok(baseline(status="failed")))

    result = cli(["repos", "run", REPO_ID, "--follow", "--json"], api)

    assert result.exit_code == EXIT_API_ERROR
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["id"] == RUN_ID
    assert [record["seq"] for record in records[1:5]] == [1, 2, 3, 4]
    outcome = records[-1]
    assert outcome["run"]["status"] == "failed"
    assert outcome["baseline"]["status"] == "failed"
    assert [artifact["name"] for artifact in outcome["artifacts"]] == ["baseline.json", "logs.txt"]


def test_runs_lists_the_repository_runs_with_their_commits(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", f"{REPO_PATH}/runs", ok({"items": [repo_run("running", SHA)], "next_cursor": None}))

    result = cli(["repos", "runs", REPO_ID, "--json"], api)

    assert result.exit_code == EXIT_OK
    assert json.loads(result.stdout) == {"items": [repo_run("running", SHA)], "next_cursor": None}


def test_the_repository_url_and_the_api_url_are_not_confused(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", "/v1/repos", ok(repo(), 201))

    result = cli(["repos", "connect", "https://github.com/acme/fastmath.git", "--url", "http://api.test:9000"], api)

    assert result.exit_code == EXIT_OK, result.stderr
    assert str(api.requests[0].url) == "http://api.test:9000/v1/repos"
    assert api.body() == {"url": "https://github.com/acme/fastmath.git"}
