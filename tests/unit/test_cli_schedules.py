"""`agentlab schedules ...` against a fake API served by httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cli_harness import CliResult, FakeApi, error_response, ok

from agentlab.cli.errors import EXIT_API_ERROR, EXIT_AUTH, EXIT_OK, EXIT_USAGE

AGENT_ID = "01J0AGENT00000000000000000"
SCHEDULE_ID = "01J0SCHED00000000000000000"
RUN_ID = "01J0RUN0000000000000000000"
FILE_ID = "01J0F1LE000000000000000000"
SCHEDULE_PATH = f"/v1/schedules/{SCHEDULE_ID}"

Handler = Callable[[httpx.Request], httpx.Response]


pytestmark = pytest.mark.usefixtures("isolated_environment")


def agent(name: str = "analyst") -> dict[str, Any]:
    return {"id": AGENT_ID, "org_id": "org", "name": name, "version": 3}


def schedule(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": SCHEDULE_ID,
        "org_id": "org",
        "created_by": "user-1",
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:04:05Z",
        "revision": 4,
        "name": "nightly-report",
        "agent_id": AGENT_ID,
        "agent_version": None,
        "prompt": "summarise yesterday's sales",
        "file_ids": [],
        "env": {},
        "goal": None,
        "budget": {"max_steps": 10, "max_tokens": None, "max_cost_usd": None, "max_wall_s": None},
        "expression": "cron(0 6 * * ? *)",
        "timezone": "Europe/Paris",
        "enabled": True,
        "daily_budget": {"max_runs": 2, "max_cost_usd": 1.5, "max_sandbox_minutes": None},
        "auto_pause_after": 3,
        "status": "active",
        "paused_reason": None,
        "consecutive_failures": 0,
        "last_fire_at": None,
        "next_fires": [
            "2026-01-03T05:00:00Z",
            "2026-01-04T05:00:00Z",
            "2026-01-05T05:00:00Z",
            "2026-01-06T05:00:00Z",
            "2026-01-07T05:00:00Z",
        ],
        "description": "At 06:00 AM",
    }
    payload.update(overrides)
    return payload


def fire(outcome: str, scheduled: str, reason: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    return {
        "schedule_id": SCHEDULE_ID,
        "scheduled_time": scheduled,
        "recorded_at": scheduled,
        "outcome": outcome,
        "reason": reason,
        "run_id": run_id,
    }


# --- create ----------------------------------------------------------------------------------------------------


def test_create_sends_every_given_field_and_resolves_the_agent_name(cli: Callable[..., CliResult]) -> None:
    # Given an agent known by name
    api = FakeApi()
    api.on("GET", "/v1/agents", ok({"items": [agent()], "next_cursor": None}))
    api.on("POST", "/v1/schedules", ok(schedule(), 201))

    # When a schedule is created with every option
    result = cli(
        [
            "schedules",
            "create",
            "nightly-report",
            "--agent",
            "analyst",
            "--version",
            "3",
            "--prompt",
            "summarise yesterday's sales",
            "--expression",
            "cron(0 6 * * ? *)",
            "--timezone",
            "Europe/Paris",
            "--file",
            FILE_ID,
            "--env",
            "RATE=float:0.25",
            "--goal",
            "a table exists",
            "--goal-check",
            "assert True",
            "--disabled",
            "--max-runs-per-day",
            "2",
            "--max-cost-per-day",
            "1.5",
            "--max-sandbox-minutes-per-day",
            "30",
            "--auto-pause-after",
            "5",
            "--max-steps",
            "10",
            "--max-cost-usd",
            "0.5",
        ],
        api,
    )

    # Then the API gets exactly these fields
    assert result.exit_code == EXIT_OK, result.stderr
    assert api.paths() == ["GET /v1/agents", "POST /v1/schedules"]
    assert api.body() == {
        "name": "nightly-report",
        "agent_id": AGENT_ID,
        "agent_version": 3,
        "prompt": "summarise yesterday's sales",
        "expression": "cron(0 6 * * ? *)",
        "timezone": "Europe/Paris",
        "file_ids": [FILE_ID],
        "env": {"RATE": {"type": "float", "value": 0.25}},
        "goal": {"criterion": "a table exists", "check": "assert True"},
        "budget": {"max_steps": 10, "max_cost_usd": 0.5},
        "enabled": False,
        "daily_budget": {"max_runs": 2, "max_cost_usd": 1.5, "max_sandbox_minutes": 30},
        "auto_pause_after": 5,
    }
    assert f"created schedule nightly-report ({SCHEDULE_ID}), active" in result.stdout
    assert "next fire: 2026-01-03 05:00:00Z (At 06:00 AM)" in result.stdout


def test_create_sends_only_the_required_fields_when_nothing_else_is_given(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", "/v1/schedules", ok(schedule(), 201))

    result = cli(
        ["schedules", "create", "hourly", "--agent", AGENT_ID, "--prompt", "go", "--expression", "rate(1 hour)"], api
    )

    assert result.exit_code == EXIT_OK, result.stderr
    assert api.paths() == ["POST /v1/schedules"]
    assert api.body() == {"name": "hourly", "agent_id": AGENT_ID, "prompt": "go", "expression": "rate(1 hour)"}


def test_an_invalid_expression_shows_the_servers_reason(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on(
        "POST",
        "/v1/schedules",
        error_response(422, "invalid_expression", "rate(1 minute) fires more often than every 300 s", "req-7"),
    )

    result = cli(
        ["schedules", "create", "fast", "--agent", AGENT_ID, "--prompt", "go", "--expression", "rate(1 minute)"], api
    )

    assert result.exit_code == EXIT_API_ERROR
    assert result.stderr.strip() == (
        "error invalid_expression: rate(1 minute) fires more often than every 300 s (request req-7)"
    )


def test_bad_env_syntax_is_a_usage_error_before_any_request(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()

    argv = ["schedules", "create", "x", "--agent", "analyst", "--prompt", "go", "--expression", "rate(1 day)"]

    result = cli([*argv, "--env", "RATE=0.5"], api)

    assert result.exit_code == EXIT_USAGE
    assert "invalid --env 'RATE=0.5'" in result.stderr
    assert api.requests == []


def test_create_without_an_expression_is_a_usage_error(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()

    result = cli(["schedules", "create", "x", "--agent", AGENT_ID, "--prompt", "go"], api)

    assert result.exit_code == EXIT_USAGE
    assert api.requests == []


def test_a_viewer_creating_a_schedule_gets_a_permission_message(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", "/v1/schedules", error_response(403, "forbidden", "viewers cannot write schedules"))

    result = cli(
        ["schedules", "create", "x", "--agent", AGENT_ID, "--prompt", "go", "--expression", "rate(1 day)"], api
    )

    assert result.exit_code == EXIT_AUTH
    assert "permission denied: viewers cannot write schedules" in result.stderr


# --- list / show / fires ---------------------------------------------------------------------------------------


def test_list_is_a_table_with_status_and_next_fire(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", "/v1/schedules", ok({"items": [schedule()], "next_cursor": "c1"}))

    result = cli(["schedules", "list", "--limit", "1"], api)

    lines = result.stdout.splitlines()
    assert result.exit_code == EXIT_OK
    assert lines[0].split() == ["ID", "NAME", "STATUS", "EXPRESSION", "TIMEZONE", "NEXT", "FIRE", "FAILURES", "AGENT"]
    assert lines[1].split()[:3] == [SCHEDULE_ID, "nightly-report", "active"]
    assert "2026-01-03 05:00:00Z" in lines[1]
    assert api.requests[0].url.params["limit"] == "1"
    assert "--cursor c1" in result.stderr


def test_list_all_follows_cursors(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on(
        "GET",
        "/v1/schedules",
        ok({"items": [schedule(id="01J0SCHED0000000000000000A")], "next_cursor": "c1"}),
        ok({"items": [schedule(id="01J0SCHED0000000000000000B")], "next_cursor": None}),
    )

    result = cli(["schedules", "list", "--all"], api)

    assert [request.url.params.get("cursor") for request in api.requests] == [None, "c1"]
    assert "01J0SCHED0000000000000000A" in result.stdout
    assert "01J0SCHED0000000000000000B" in result.stdout


def test_list_json_is_the_api_payload(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", "/v1/schedules", ok({"items": [schedule()], "next_cursor": None}))

    result = cli(["schedules", "list", "--json"], api)

    assert json.loads(result.stdout) == {"items": [schedule()], "next_cursor": None}


def test_show_prints_status_reason_failures_description_and_next_fires(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    paused = schedule(
        status="paused",
        paused_reason="3 failed runs in a row",
        consecutive_failures=3,
        agent_version=2,
        env={"RATE": {"type": "float", "value": 0.25}},
    )
    api.on("GET", SCHEDULE_PATH, ok(paused))

    result = cli(["schedules", "show", SCHEDULE_ID], api)

    assert result.exit_code == EXIT_OK
    lines = result.stdout.splitlines()
    assert any(line.split() == ["status:", "paused"] for line in lines)
    assert "paused because:    3 failed runs in a row" in result.stdout
    assert "failures in a row: 3 (pauses at 3)" in result.stdout
    assert f"{AGENT_ID} (version 2)" in result.stdout
    assert "cron(0 6 * * ? *) in Europe/Paris" in result.stdout
    assert "At 06:00 AM" in result.stdout
    assert all(f"2026-01-0{day} 05:00:00Z" in result.stdout for day in range(3, 8))
    assert "max_runs=2, max_cost_usd=1.5" in result.stdout
    assert "RATE (float)" in result.stdout
    assert "0.25" not in result.stdout


def test_show_of_another_orgs_schedule_is_not_found(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", SCHEDULE_PATH, error_response(404, "not_found", "schedule not found", "req-3"))

    result = cli(["schedules", "show", SCHEDULE_ID], api)

    assert result.exit_code == EXIT_API_ERROR
    assert result.stderr.strip() == "error not_found: schedule not found (request req-3)"


def test_fires_lists_started_and_skipped_fires_page_by_page(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on(
        "GET",
        f"{SCHEDULE_PATH}/fires",
        ok({"items": [fire("started", "2026-01-03T05:00:00Z", run_id=RUN_ID)], "next_cursor": "f1"}),
        ok({"items": [fire("skipped", "2026-01-02T05:00:00Z", reason="daily_budget")], "next_cursor": None}),
    )

    result = cli(["schedules", "fires", SCHEDULE_ID, "--all", "--limit", "1"], api)

    assert result.exit_code == EXIT_OK
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SCHEDULED", "OUTCOME", "REASON", "RUN", "RECORDED"]
    assert lines[1].split()[2:4] == ["started", RUN_ID]
    assert lines[2].split()[2:4] == ["skipped", "daily_budget"]
    assert [request.url.params.get("cursor") for request in api.requests] == [None, "f1"]


def test_fires_of_a_schedule_that_never_fired(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", f"{SCHEDULE_PATH}/fires", ok({"items": [], "next_cursor": None}))

    assert cli(["schedules", "fires", SCHEDULE_ID], api).stdout.strip() == "no fires yet"


# --- update ----------------------------------------------------------------------------------------------------


def test_update_merges_the_given_limits_into_the_current_ones_at_its_revision(cli: Callable[..., CliResult]) -> None:
    # Given a schedule with a daily run limit and a daily cost limit
    api = FakeApi()
    api.on("GET", SCHEDULE_PATH, ok(schedule()))
    api.on("PATCH", SCHEDULE_PATH, ok(schedule(revision=5, expression="rate(2 hours)")))

    # When the cost limit is cleared, the sandbox limit set and the expression changed
    result = cli(
        [
            "schedules",
            "update",
            SCHEDULE_ID,
            "--expression",
            "rate(2 hours)",
            "--max-cost-per-day",
            "none",
            "--max-sandbox-minutes-per-day",
            "60",
            "--max-wall-s",
            "600",
            "--disabled",
        ],
        api,
    )

    # Then the run limit stays, the cleared one is gone, and the read revision guards the write
    assert result.exit_code == EXIT_OK, result.stderr
    assert api.paths() == [f"GET {SCHEDULE_PATH}", f"PATCH {SCHEDULE_PATH}"]
    assert api.body() == {
        "expected_revision": 4,
        "expression": "rate(2 hours)",
        "enabled": False,
        "budget": {"max_steps": 10, "max_wall_s": 600},
        "daily_budget": {"max_runs": 2, "max_sandbox_minutes": 60},
    }
    assert f"updated: schedule {SCHEDULE_ID} is active" in result.stdout


def test_update_resolves_a_new_agent_and_replaces_files_and_env(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", SCHEDULE_PATH, ok(schedule(file_ids=[FILE_ID], env={"A": {"type": "str", "value": "x"}})))
    api.on("GET", "/v1/agents", ok({"items": [agent("coder")], "next_cursor": None}))
    api.on("PATCH", SCHEDULE_PATH, ok(schedule()))

    result = cli(["schedules", "update", SCHEDULE_ID, "--agent", "coder", "--no-files", "--env", "B=int:2"], api)

    assert result.exit_code == EXIT_OK, result.stderr
    assert api.body() == {
        "expected_revision": 4,
        "agent_id": AGENT_ID,
        "file_ids": [],
        "env": {"B": {"type": "int", "value": 2}},
    }


def test_update_without_changes_is_a_usage_error_and_writes_nothing(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", SCHEDULE_PATH, ok(schedule()))

    result = cli(["schedules", "update", SCHEDULE_ID], api)

    assert result.exit_code == EXIT_USAGE
    assert "nothing to change" in result.stderr
    assert "PATCH" not in " ".join(api.paths())


def test_update_refuses_files_and_no_files_together(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()

    result = cli(["schedules", "update", SCHEDULE_ID, "--file", FILE_ID, "--no-files"], api)

    assert result.exit_code == EXIT_USAGE
    assert api.requests == []


def test_update_conflict_shows_the_servers_answer(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("GET", SCHEDULE_PATH, ok(schedule()))
    api.on("PATCH", SCHEDULE_PATH, error_response(409, "conflict", "the schedule changed meanwhile (revision 5)"))

    result = cli(["schedules", "update", SCHEDULE_ID, "--name", "renamed"], api)

    assert result.exit_code == EXIT_API_ERROR
    assert "the schedule changed meanwhile" in result.stderr


# --- pause / resume / run-now / delete -------------------------------------------------------------------------


def test_pause_sends_the_reason_and_prints_the_status(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", f"{SCHEDULE_PATH}/pause", ok(schedule(status="paused", paused_reason="holiday")))

    result = cli(["schedules", "pause", SCHEDULE_ID, "--reason", "holiday"], api)

    assert result.exit_code == EXIT_OK
    assert api.body() == {"reason": "holiday"}
    assert result.stdout.strip() == f"paused: schedule {SCHEDULE_ID} is paused (holiday)"


def test_pause_without_a_reason_sends_no_body(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", f"{SCHEDULE_PATH}/pause", ok(schedule(status="paused", paused_reason="paused by user-1")))

    result = cli(["schedules", "pause", SCHEDULE_ID], api)

    assert result.exit_code == EXIT_OK
    assert api.requests[0].content == b""


def test_resume_prints_the_next_fire(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", f"{SCHEDULE_PATH}/resume", ok(schedule()))

    result = cli(["schedules", "resume", SCHEDULE_ID], api)

    assert result.exit_code == EXIT_OK
    assert result.stdout.splitlines() == [
        f"resumed: schedule {SCHEDULE_ID} is active",
        "next fire: 2026-01-03 05:00:00Z (At 06:00 AM)",
    ]


def test_run_now_prints_the_started_run(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", f"{SCHEDULE_PATH}/run-now", ok({"id": RUN_ID, "status": "queued"}, 201))

    result = cli(["schedules", "run-now", SCHEDULE_ID], api)

    assert result.exit_code == EXIT_OK
    assert result.stdout.strip() == f"started run {RUN_ID} (queued)"


def test_run_now_json_is_the_run(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("POST", f"{SCHEDULE_PATH}/run-now", ok({"id": RUN_ID, "status": "queued"}, 201))

    result = cli(["--json", "schedules", "run-now", SCHEDULE_ID], api)

    assert json.loads(result.stdout) == {"id": RUN_ID, "status": "queued"}


def test_delete_answers_204_and_says_so(cli: Callable[..., CliResult]) -> None:
    api = FakeApi()
    api.on("DELETE", SCHEDULE_PATH, httpx.Response(204))

    result = cli(["schedules", "delete", SCHEDULE_ID], api)

    assert result.exit_code == EXIT_OK
    assert api.paths() == [f"DELETE {SCHEDULE_PATH}"]
    assert result.stdout.strip() == f"deleted schedule {SCHEDULE_ID}"
