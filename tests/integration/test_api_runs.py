"""Runs through the HTTP API: creation starts an execution, replays are idempotent, listings page and filter, runs
cancel, tenants are isolated, and bad input is refused without changing anything."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import pytest
from apiclient import EventClient
from moto_platform import Platform
from run_checks import error_of, table_items, wait_for

from agentlab.workflow.executions import execution_arn

UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
FINISH = [{"tool": "finish", "answer": "done"}]
AWAIT_APPROVAL = [{"tool": "request_approval", "reason": "check with a person"}, {"tool": "finish", "answer": "done"}]
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}


def settle(api: EventClient, run_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Wait until the runs' workflows have ended, so nothing changes the table behind a test's back."""
    return [wait_for(api, run_id, TERMINAL) for run_id in run_ids]


def executions_ended(platform: Platform, run_ids: Iterable[str], timeout_s: float = 60) -> None:
    """Wait until the runs' executions have ended: a run is terminal before its last invocation returns (its end's
    consequences and its Lambda meter are written after the status)."""
    deadline = time.monotonic() + timeout_s
    for run_id in run_ids:
        arn = execution_arn(platform.state_machines["agent_run"], run_id)
        while platform.clients.stepfunctions.describe_execution(executionArn=arn)["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise AssertionError(f"the execution of run {run_id} did not end")
            time.sleep(0.05)


def create_agent(api: EventClient, name: str, reasoning: str = "scripted") -> str:
    response = api.post("/v1/agents", {"name": name, "models": {"reasoning": [reasoning]}})
    assert response.status == 201, response.text
    return str(response.json()["id"])


def start_run(api: EventClient, agent_id: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/v1/runs", {"agent_id": agent_id, "prompt": "go", "script": FINISH, **fields})
    assert response.status == 201, response.text
    return response.json()


def all_run_ids(api: EventClient, **filters: Any) -> list[str]:
    page = api.get("/v1/runs", params={"limit": 200, **filters}).json()
    assert page["next_cursor"] is None
    return [run["id"] for run in page["items"]]


@pytest.fixture
def agent(api: EventClient) -> str:
    return create_agent(api, "scripted-agent")


# creating runs --------------------------------------------------------------------------------------------------
def test_a_new_run_is_queued_and_its_execution_is_named_after_it(
    platform: Platform, api: EventClient, org: tuple[str, str], agent: str
) -> None:
    response = api.post("/v1/runs", {"agent_id": agent, "prompt": "say done", "script": FINISH})

    assert response.status == 201, response.text
    run = response.json()
    assert run["status"] in {"queued", "running"}
    assert run["org_id"] == org[0] and run["agent_id"] == agent and run["agent_version"] == 1
    assert run["thread_id"] == run["id"] and run["created_by"].startswith("apikey:")
    arn = execution_arn(platform.state_machines["agent_run"], run["id"])
    execution = platform.clients.stepfunctions.describe_execution(executionArn=arn)
    assert execution["name"] == run["id"]
    assert execution["stateMachineArn"] == platform.state_machines["agent_run"]
    assert json.loads(execution["input"]) == {"org_id": org[0], "run_id": run["id"]}
    final = wait_for(api, run["id"], TERMINAL)
    assert final["status"] == "succeeded" and final["result"] == "done"


def test_an_idempotent_replay_returns_the_first_run(platform: Platform, api: EventClient, agent: str) -> None:
    body = {"agent_id": agent, "prompt": "once", "script": FINISH}
    first = api.post("/v1/runs", body, headers={"idempotency-key": "order-42"})
    assert first.status == 201
    settle(api, [first.json()["id"]])
    executions_ended(platform, [first.json()["id"]])
    before = table_items(platform)

    replay = api.post("/v1/runs", body, headers={"idempotency-key": "order-42"})
    changed = api.post("/v1/runs", {**body, "prompt": "twice"}, headers={"idempotency-key": "order-42"})

    assert replay.status == 200 and replay.json()["id"] == first.json()["id"]
    assert replay.json()["status"] == "succeeded"
    error_of(changed, 409, "idempotency_key_reused")
    assert table_items(platform) == before
    assert all_run_ids(api) == [first.json()["id"]]
    executions = platform.clients.stepfunctions.list_executions(stateMachineArn=platform.state_machines["agent_run"])
    assert [e["name"] for e in executions["executions"]] == [first.json()["id"]]


def test_idempotency_keys_are_per_org(platform: Platform, api: EventClient, agent: str) -> None:
    first = api.post("/v1/runs", {"agent_id": agent, "prompt": "p", "script": FINISH}, headers={"idempotency-key": "k"})
    _, other_key = platform.new_org("other")
    other = platform.api(other_key)
    other_agent = create_agent(other, "scripted-agent")
    second = other.post(
        "/v1/runs", {"agent_id": other_agent, "prompt": "p", "script": FINISH}, headers={"idempotency-key": "k"}
    )
    assert first.status == 201 and second.status == 201 and first.json()["id"] != second.json()["id"]
    settle(api, [first.json()["id"]])
    settle(other, [second.json()["id"]])


def test_a_run_pins_the_agent_version_it_started_with(api: EventClient, agent: str) -> None:
    first = start_run(api, agent)
    assert api.put(f"/v1/agents/{agent}", {"description": "changed"}).json()["version"] == 2
    second = start_run(api, agent)
    settle(api, [first["id"], second["id"]])

    assert api.get(f"/v1/runs/{first['id']}").json()["agent_version"] == 1
    assert api.get(f"/v1/runs/{second['id']}").json()["agent_version"] == 2
    assert api.delete(f"/v1/agents/{agent}").status == 200
    assert api.get(f"/v1/runs/{first['id']}").json()["agent_version"] == 1


def test_a_run_continues_a_thread(api: EventClient, agent: str) -> None:
    first = start_run(api, agent)
    follow_up = start_run(api, agent, thread_id=first["thread_id"])
    settle(api, [first["id"], follow_up["id"]])
    assert follow_up["thread_id"] == first["id"]
    assert all_run_ids(api, thread_id=first["id"]) == [follow_up["id"], first["id"]]


def test_a_script_is_allowed_when_the_default_model_is_scripted(api: EventClient) -> None:
    default_agent = create_agent(api, "default-agent", reasoning="default")
    settle(api, [start_run(api, default_agent)["id"]])


# listing --------------------------------------------------------------------------------------------------------
def test_runs_page_newest_first_without_duplicates(api: EventClient, agent: str) -> None:
    created = [start_run(api, agent)["id"] for _ in range(7)]
    settle(api, created)

    pages: list[list[str]] = []
    cursor = None
    for _ in range(10):
        page = api.get("/v1/runs", params={"limit": 3, "cursor": cursor}).json()
        pages.append([run["id"] for run in page["items"]])
        cursor = page["next_cursor"]
        if not cursor:
            break

    seen = [run_id for page in pages for run_id in page]
    assert all(len(page) <= 3 for page in pages) and [len(p) for p in pages[:2]] == [3, 3]
    assert len(seen) == len(set(seen)) == 7
    assert seen == list(reversed(created))


def test_runs_filter_by_status_agent_and_thread(api: EventClient, agent: str) -> None:
    other_agent = create_agent(api, "other-agent")
    mine = [start_run(api, agent)["id"] for _ in range(3)]
    theirs = [start_run(api, other_agent)["id"] for _ in range(2)]
    in_thread = start_run(api, other_agent, thread_id=mine[0])["id"]
    waiting = start_run(api, agent, script=AWAIT_APPROVAL)["id"]
    wait_for(api, waiting, {"waiting_approval"})
    assert all_run_ids(api, status="waiting_approval") == [waiting]
    assert api.post(f"/v1/runs/{waiting}/cancel").status == 200
    settle(api, [*mine, *theirs, in_thread, waiting])

    assert all_run_ids(api, agent_id=agent) == [waiting, *reversed(mine)]
    assert all_run_ids(api, agent_id=other_agent) == [in_thread, *reversed(theirs)]
    assert all_run_ids(api, thread_id=mine[0]) == [in_thread, mine[0]]
    assert all_run_ids(api, status="cancelled") == [waiting]
    assert all_run_ids(api, status="succeeded") == [in_thread, *reversed(theirs), *reversed(mine)]
    assert all_run_ids(api, status="succeeded", agent_id=agent) == list(reversed(mine))
    assert all_run_ids(api, status="cancelled", agent_id=other_agent) == []
    assert all_run_ids(api, status="running") == []
    assert all_run_ids(api, thread_id=theirs[0], agent_id=agent) == []
    # a filtered listing pages too, and its cursor is refused by a listing with another filter
    page = api.get("/v1/runs", params={"agent_id": agent, "status": "succeeded", "limit": 2}).json()
    assert [r["id"] for r in page["items"]] == [mine[2], mine[1]]
    rest = api.get(
        "/v1/runs", params={"agent_id": agent, "status": "succeeded", "limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [r["id"] for r in rest["items"]] == [mine[0]] and rest["next_cursor"] is None
    error_of(api.get("/v1/runs", params={"thread_id": mine[0], "cursor": page["next_cursor"]}), 400, "invalid_cursor")


def test_list_filters_are_validated(api: EventClient) -> None:
    error_of(api.get("/v1/runs", params={"status": "done"}), 422, "validation_error")
    error_of(api.get("/v1/runs", params={"agent_id": "nope"}), 422, "validation_error")
    error_of(api.get("/v1/runs", params={"thread_id": "x" * 26}), 422, "validation_error")
    error_of(api.get("/v1/runs", params={"limit": 500}), 422, "validation_error")
    error_of(api.get("/v1/runs", params={"limit": "5.0"}), 422, "validation_error")
    error_of(api.get("/v1/runs", params={"cursor": "%%%"}), 422, "validation_error")
    error_of(api.get("/v1/runs", params={"cursor": "e30"}), 400, "invalid_cursor")


def test_steps_are_listed_after_a_sequence_number(api: EventClient, agent: str) -> None:
    run = start_run(api, agent, script=AWAIT_APPROVAL)
    wait_for(api, run["id"], {"waiting_approval"})
    assert api.post(f"/v1/runs/{run['id']}/approve", {"comment": "fine"}).status == 200
    settle(api, [run["id"]])
    everything = api.get(f"/v1/runs/{run['id']}/steps").json()["items"]
    seqs = [step["seq"] for step in everything]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 4

    first = api.get(f"/v1/runs/{run['id']}/steps", params={"limit": 2}).json()
    assert [s["seq"] for s in first["items"]] == [1, 2] and first["next_cursor"] == "2"
    rest = api.get(f"/v1/runs/{run['id']}/steps", params={"after": first["next_cursor"]}).json()
    assert [s["seq"] for s in rest["items"]] == seqs[2:]
    assert rest["items"] == everything[2:]
    tail = api.get(f"/v1/runs/{run['id']}/steps", params={"after": seqs[-1]}).json()
    assert tail["items"] == [] and tail["next_cursor"] == str(seqs[-1])


# cancelling -----------------------------------------------------------------------------------------------------
def test_cancel_ends_a_run_once(platform: Platform, api: EventClient, agent: str) -> None:
    run = start_run(api, agent, script=AWAIT_APPROVAL)
    wait_for(api, run["id"], {"waiting_approval"})

    response = api.post(f"/v1/runs/{run['id']}/cancel")

    assert response.status == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled" and cancelled["ended_at"]
    assert cancelled["error"]["code"] == "cancelled"
    assert api.get(f"/v1/runs/{run['id']}").json() == cancelled
    before = table_items(platform)
    assert "already ended" in error_of(api.post(f"/v1/runs/{run['id']}/cancel"), 409, "invalid_state")["message"]
    error_of(api.post(f"/v1/runs/{run['id']}/approve", {}), 409)
    assert table_items(platform) == before


def test_a_cancel_holds_when_stopping_the_execution_fails(
    platform: Platform, api: EventClient, agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentlab.workflow.executions import Executions

    def refuse(self: Executions, run_id: str, *, cause: str) -> None:
        raise RuntimeError("StopExecution failed (throttled, or the execution has only just started)")

    run = start_run(api, agent, script=AWAIT_APPROVAL)
    monkeypatch.setattr(Executions, "stop", refuse)

    response = api.post(f"/v1/runs/{run['id']}/cancel")

    assert response.status == 200, response.text
    assert response.json()["status"] == "cancelled"
    # The table is the truth: the run stays cancelled and cannot be resumed by an approval.
    monkeypatch.undo()
    error_of(api.post(f"/v1/runs/{run['id']}/approve", {}), 409)
    assert api.get(f"/v1/runs/{run['id']}").json()["error"]["code"] == "cancelled"


def test_a_cancel_holds_when_reporting_its_end_loses_races(
    platform: Platform, api: EventClient, agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentlab.errors import ConcurrentUpdate
    from agentlab.workflow.run_events import RunEvents

    real_ended = RunEvents.ended
    attempts: list[str] = []

    def contended(self: RunEvents, run: Any) -> None:
        attempts.append(run.status)
        if len(attempts) <= 2:
            raise ConcurrentUpdate("the usage of the run could not be rolled up; retry")
        real_ended(self, run)

    run = start_run(api, agent, script=AWAIT_APPROVAL)
    wait_for(api, run["id"], {"waiting_approval"})
    monkeypatch.setattr(RunEvents, "ended", contended)

    response = api.post(f"/v1/runs/{run['id']}/cancel")

    assert response.status == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert attempts == ["cancelled", "cancelled", "cancelled"]  # tried again until it was reported
    assert api.get(f"/v1/runs/{run['id']}").json()["cost"] is not None  # and the roll-up it holds was made


def test_a_finished_run_cannot_be_cancelled(platform: Platform, api: EventClient, agent: str) -> None:
    run = settle(api, [start_run(api, agent)["id"]])[0]
    executions_ended(platform, [run["id"]])
    before = table_items(platform)
    error_of(api.post(f"/v1/runs/{run['id']}/cancel"), 409, "invalid_state")
    assert table_items(platform) == before
    assert api.get(f"/v1/runs/{run['id']}").json()["status"] == "succeeded"


# not found, other tenants, roles --------------------------------------------------------------------------------
def test_unknown_ids_are_not_found(platform: Platform, api: EventClient, agent: str) -> None:
    before = table_items(platform)
    for response in (
        api.get(f"/v1/runs/{UNKNOWN_ID}"),
        api.get(f"/v1/runs/{UNKNOWN_ID}/steps"),
        api.get(f"/v1/runs/{UNKNOWN_ID}/artifacts"),
        api.post(f"/v1/runs/{UNKNOWN_ID}/cancel"),
        api.post(f"/v1/runs/{UNKNOWN_ID}/approve", {}),
        api.post(f"/v1/runs/{UNKNOWN_ID}/reject", {}),
        api.post("/v1/runs", {"agent_id": UNKNOWN_ID, "prompt": "p"}),
        api.post("/v1/runs", {"agent_id": agent, "prompt": "p", "thread_id": UNKNOWN_ID}),
        api.post("/v1/runs", {"agent_id": agent, "prompt": "p", "file_ids": [UNKNOWN_ID]}),
    ):
        assert UNKNOWN_ID in error_of(response, 404, "not_found")["message"]
    assert table_items(platform) == before


def test_another_orgs_runs_are_not_found(platform: Platform, api: EventClient, agent: str) -> None:
    run = settle(api, [start_run(api, agent)["id"]])
    executions_ended(platform, [run[0]["id"]])
    mine = api.get(f"/v1/runs/{run[0]['id']}").json()
    waiting = start_run(api, agent, script=AWAIT_APPROVAL)
    wait_for(api, waiting["id"], {"waiting_approval"})
    _, other_key = platform.new_org("other")
    other = platform.api(other_key)
    before = table_items(platform)

    for run_id in (mine["id"], waiting["id"]):
        for response in (
            other.get(f"/v1/runs/{run_id}"),
            other.get(f"/v1/runs/{run_id}/steps"),
            other.get(f"/v1/runs/{run_id}/artifacts"),
            other.post(f"/v1/runs/{run_id}/cancel"),
            other.post(f"/v1/runs/{run_id}/approve", {}),
            other.post(f"/v1/runs/{run_id}/reject", {}),
        ):
            error_of(response, 404, "not_found")
    error_of(other.post("/v1/runs", {"agent_id": agent, "prompt": "p"}), 404, "not_found")
    other_agent = create_agent(other, "theirs")
    error_of(other.post("/v1/runs", {"agent_id": other_agent, "prompt": "p", "thread_id": mine["id"]}), 404)
    assert other.get("/v1/runs").json()["items"] == []
    assert other.get("/v1/runs", params={"agent_id": agent}).json()["items"] == []
    assert other.get("/v1/runs", params={"thread_id": mine["id"]}).json()["items"] == []

    after = table_items(platform)
    assert {k: v for k, v in after.items() if k in before} == before
    assert api.get(f"/v1/runs/{waiting['id']}").json()["status"] == "waiting_approval"
    assert api.post(f"/v1/runs/{waiting['id']}/cancel").status == 200


def test_a_viewer_can_read_but_not_write(
    platform: Platform, api: EventClient, org: tuple[str, str], agent: str
) -> None:
    run = settle(api, [start_run(api, agent)["id"]])[0]
    executions_ended(platform, [run["id"]])
    _, viewer_key = platform.orgs.create_api_key(org[0], name="viewer", role="viewer")
    viewer = platform.api(viewer_key)
    before = table_items(platform)

    for response in (
        viewer.post("/v1/runs", {"agent_id": agent, "prompt": "p", "script": FINISH}),
        viewer.post("/v1/runs", {"agent_id": agent, "prompt": "p"}, headers={"idempotency-key": "v"}),
        viewer.post(f"/v1/runs/{run['id']}/cancel"),
        viewer.post(f"/v1/runs/{run['id']}/approve", {}),
        viewer.post(f"/v1/runs/{run['id']}/reject", {}),
        viewer.post("/v1/files", {"name": "a.csv", "content_type": "text/csv", "size": 10}),
        viewer.post(f"/v1/files/{UNKNOWN_ID}/complete"),
    ):
        assert "viewer" in error_of(response, 403, "forbidden")["message"]
    assert table_items(platform) == before
    assert viewer.get("/v1/runs").json()["items"][0]["id"] == run["id"]
    assert viewer.get(f"/v1/runs/{run['id']}/steps").status == 200


def test_a_member_can_run_but_not_approve(
    platform: Platform, api: EventClient, org: tuple[str, str], agent: str
) -> None:
    _, member_key = platform.orgs.create_api_key(org[0], name="member", role="member")
    member = platform.api(member_key)
    run = start_run(member, agent, script=AWAIT_APPROVAL)
    wait_for(api, run["id"], {"waiting_approval"})
    error_of(member.post(f"/v1/runs/{run['id']}/approve", {}), 403, "forbidden")
    assert member.post(f"/v1/runs/{run['id']}/cancel").json()["status"] == "cancelled"


# bad input changes nothing --------------------------------------------------------------------------------------
def bad_run_bodies(agent: str, plain_agent: str) -> list[tuple[str, Any, int, str | None]]:
    """(label, body, status, code); a str body is sent as it is."""
    ok = {"agent_id": agent, "prompt": "p"}
    return [
        ("truncated json", '{"agent_id": "' + agent + '", "prompt": "p"', 400, "invalid_json"),
        ("not json", "agent_id=1&prompt=2", 400, "invalid_json"),
        ("trailing comma", '{"agent_id": "' + agent + '", "prompt": "p",}', 400, "invalid_json"),
        ("unknown field", {**ok, "priority": "high"}, 422, "validation_error"),
        ("status smuggled in", {**ok, "status": "succeeded"}, 422, "validation_error"),
        ("org smuggled in", {**ok, "org_id": UNKNOWN_ID}, 422, "validation_error"),
        ("prompt is a number", {**ok, "prompt": 5}, 422, "validation_error"),
        ("prompt missing", {"agent_id": agent}, 422, "validation_error"),
        ("prompt empty", {**ok, "prompt": ""}, 422, "validation_error"),
        ("prompt too long", {**ok, "prompt": "x" * 50_001}, 422, "validation_error"),
        ("agent id malformed", {**ok, "agent_id": "agent-1"}, 422, "validation_error"),
        ("file ids not a list", {**ok, "file_ids": UNKNOWN_ID}, 422, "validation_error"),
        ("duplicate file ids", {**ok, "file_ids": [UNKNOWN_ID, UNKNOWN_ID]}, 422, "validation_error"),
        ("too many files", {**ok, "file_ids": [UNKNOWN_ID[:-2] + f"{n:02d}" for n in range(21)]}, 422, None),
        ("env int given a string", {**ok, "env": {"N": {"type": "int", "value": "3"}}}, 422, "validation_error"),
        ("env int given a bool", {**ok, "env": {"N": {"type": "int", "value": True}}}, 422, "validation_error"),
        ("env bool given 1", {**ok, "env": {"FLAG": {"type": "bool", "value": 1}}}, 422, "validation_error"),
        (
            "env float NaN",
            '{"agent_id": "' + agent + '", "prompt": "p", "env": {"X": {"type": "float", "value": NaN}}}',
            422,
            "validation_error",
        ),
        (
            "env json Infinity",
            '{"agent_id": "' + agent + '", "prompt": "p", "env": {"X": {"type": "json", "value": [Infinity]}}}',
            422,
            "validation_error",
        ),
        (
            "env float huge",
            '{"agent_id": "' + agent + '", "prompt": "p", "env": {"X": {"type": "float", "value": ' + "9" * 400 + "}}}",
            422,
            "validation_error",
        ),
        ("env reserved name", {**ok, "env": {"AWS_SECRET_ACCESS_KEY": {"type": "str", "value": "x"}}}, 422, None),
        ("env PATH", {**ok, "env": {"PATH": {"type": "str", "value": "/tmp"}}}, 422, "validation_error"),
        ("env unknown type", {**ok, "env": {"A": {"type": "bytes", "value": "x"}}}, 422, "validation_error"),
        ("budget too small", {**ok, "budget": {"max_tokens": 1}}, 422, "validation_error"),
        ("script action without code", {**ok, "script": [{"tool": "python"}]}, 422, "validation_error"),
        ("script with unknown tool", {**ok, "script": [{"tool": "shell", "code": "ls"}]}, 422, "validation_error"),
        ("script on a model agent", {**ok, "agent_id": plain_agent, "script": FINISH}, 422, "script_not_allowed"),
        ("body too large", {**ok, "goal": {"criterion": "x" * 1_100_000}}, 413, "payload_too_large"),
        ("body is a list", [ok], 422, "validation_error"),
        ("no body", None, 422, "validation_error"),
    ]


def test_bad_run_requests_are_refused_and_change_nothing(platform: Platform, api: EventClient, agent: str) -> None:
    plain_agent = create_agent(api, "bedrock-agent", reasoning="bedrock:anthropic.claude-3-haiku-20240307-v1:0")
    before = table_items(platform)

    for label, body, status, code in bad_run_bodies(agent, plain_agent):
        for headers in ({}, {"idempotency-key": "key-" + label.replace(" ", "-")}):
            if isinstance(body, str):
                response = api.post("/v1/runs", raw=body, headers=headers)
            else:
                response = api.post("/v1/runs", body, headers=headers)
            assert response.status == status, (label, response.text)
            error_of(response, status, code)
            assert table_items(platform) == before, label

    assert all_run_ids(api) == []
    executions = platform.clients.stepfunctions.list_executions(stateMachineArn=platform.state_machines["agent_run"])
    assert executions["executions"] == []


def test_env_values_that_match_their_types_are_stored_as_given(api: EventClient, agent: str) -> None:
    env = {
        "NAME": {"type": "str", "value": "Ann"},
        "COUNT": {"type": "int", "value": 3},
        "RATE": {"type": "float", "value": 0.25},
        "DRY_RUN": {"type": "bool", "value": False},
        "CONFIG": {"type": "json", "value": {"a": [1, 2]}},
    }
    run = start_run(api, agent, env=env)
    settle(api, [run["id"]])
    assert api.get(f"/v1/runs/{run['id']}").json()["env"] == env


@pytest.mark.parametrize("key", ["", "   ", "order 42", "k" * 256, "caf\u00e9", "tab\tkey"])
def test_an_idempotency_key_outside_its_documented_form_is_refused(
    platform: Platform, api: EventClient, agent: str, key: str
) -> None:
    # Printable ASCII without spaces, 1 to 255 characters, as the document says
    before = table_items(platform)
    response = api.post("/v1/runs", {"agent_id": agent, "prompt": "p"}, headers={"idempotency-key": key})
    error_of(response, 422, "validation_error")
    assert table_items(platform) == before
