"""Nothing is lost under faults: the real agent_run ASL on moto with faults injected by agentlab/local/faults.py into
the step invocations and the model calls, a race of two people on one waiting run, and a run whose execution is gone."""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

import pytest
from apiclient import EventClient
from fake_models import chat_reply, chat_server
from moto_platform import Platform, executions_end
from run_checks import wait_for

from agentlab.local.faults import Faults
from agentlab.store.runs import RunStore
from agentlab.store.transcript import TranscriptStore

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
# A cell that leaves a trace of every time it ran, and one that reads it: a cell run twice shows as "xx".
COUNTING_SCRIPT = [
    {"tool": "python", "code": "with open('ran.txt', 'a') as f:\n    f.write('x')"},
    {"tool": "python", "code": "print(open('ran.txt').read())"},
    {"tool": "finish", "answer": "done"},
]


@pytest.fixture
def faults() -> Faults:
    return Faults(seed=7)


@pytest.fixture
def scripted_agent(api: EventClient) -> str:
    response = api.post(
        "/v1/agents",
        {"name": "scripted-agent", "models": {"reasoning": ["scripted"]}, "limits": {"max_steps": 8}},
    )
    assert response.status == 201, response.text
    return str(response.json()["id"])


def steps_of(api: EventClient, run_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/v1/runs/{run_id}/steps", params={"limit": 200}).json()["items"])


def messages_of(platform: Platform, org_id: str, run_id: str) -> list[dict[str, Any]]:
    return TranscriptStore(platform.table).messages(org_id, run_id)


def run_script(api: EventClient, agent_id: str, script: list[dict[str, Any]]) -> dict[str, Any]:
    created = api.post("/v1/runs", {"agent_id": agent_id, "prompt": "count", "script": script})
    assert created.status == 201, created.text
    return wait_for(api, created.json()["id"], TERMINAL, timeout_s=60)


def shape(steps: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(s["seq"], s["type"]) for s in steps]


def test_a_throttling_burst_is_retried_with_backoff_then_the_fallback_model_answers(
    api: EventClient, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    with chat_server(monkeypatch) as server:
        # Given an agent with a primary and a fallback model, both throttled at the first turn, the primary once more
        agent = api.post(
            "/v1/agents", {"name": "fallback", "models": {"reasoning": ["openai:primary", "openai:fallback"]}}
        ).json()
        server.script("fallback", chat_reply(tool_calls=[("finish", {"answer": "from the fallback"})]))
        faults.throttle_next("openai:primary", 2)
        faults.throttle_next("openai:fallback", 1)
        # When a run starts
        created = api.post("/v1/runs", {"agent_id": agent["id"], "prompt": "answer"}).json()
        final = wait_for(api, created["id"], TERMINAL, timeout_s=60)
        # Then the turn was retried by the state machine (every model was throttled) and the fallback answered it
        assert final["status"] == "succeeded", final
        assert final["result"] == "from the fallback"
        assert faults.injected["throttle"] == 3
        think = [s for s in steps_of(api, created["id"]) if s["type"] == "think"]
        assert len(think) == 1
        assert think[0]["model_id"] == "fallback" and think[0]["detail"]["fallback_attempts"] == ["primary"]
        assert server.requests_for("primary") == []


def test_a_step_that_fails_once_is_retried_without_a_duplicated_step(
    platform: Platform, api: EventClient, org: tuple[str, str], scripted_agent: str, faults: Faults
) -> None:
    # Given the steps of the script without faults
    baseline = run_script(api, scripted_agent, COUNTING_SCRIPT)
    expected = shape(steps_of(api, baseline["id"]))
    executions_end(platform)  # its Finalize returns after the run is terminal: it must not meet the faults below
    # When every state of a second run fails once before it runs
    for function in ("prepare", "think", "execute", "evaluate", "finalize"):
        faults.fail_next(function, 1)
    final = run_script(api, scripted_agent, COUNTING_SCRIPT)
    # Then each was retried, the run succeeded and its steps are the same, none twice
    assert faults.injected["step_error"] == 5
    assert final["status"] == "succeeded", final
    steps = steps_of(api, final["id"])
    assert shape(steps) == expected
    assert [s["detail"]["stdout"].strip() for s in steps if s["type"] == "execute"][-1] == "x"
    assert len(messages_of(platform, org[0], final["id"])) == len(messages_of(platform, org[0], baseline["id"]))


def test_a_step_invocation_delivered_twice_writes_no_step_message_or_cell_twice(
    platform: Platform, api: EventClient, org: tuple[str, str], scripted_agent: str, faults: Faults
) -> None:
    # Given the steps and messages of the script without faults
    baseline = run_script(api, scripted_agent, COUNTING_SCRIPT)
    expected_steps = shape(steps_of(api, baseline["id"]))
    expected_messages = [
        (m["role"], len(m.get("tool_calls", []))) for m in messages_of(platform, org[0], baseline["id"])
    ]
    # When every invocation of a second run is delivered twice
    for function in ("prepare", "think", "execute", "evaluate", "finalize"):
        faults.duplicate_next(function, 10)
    final = run_script(api, scripted_agent, COUNTING_SCRIPT)
    # Then the second deliveries answered as the first ones did: no step, message or cell twice
    assert final["status"] == "succeeded" and final["result"] == "done", final
    assert faults.injected["duplicate"] >= 8
    steps = steps_of(api, final["id"])
    assert shape(steps) == expected_steps
    messages = messages_of(platform, org[0], final["id"])
    assert [(m["role"], len(m.get("tool_calls", []))) for m in messages] == expected_messages
    assert [s["detail"]["stdout"].strip() for s in steps if s["type"] == "execute"][-1] == "x"
    assert final["usage"]["steps"] == baseline["usage"]["steps"]


def second_api_environment(platform: Platform, key: str) -> EventClient:
    """Another load of the API function, as a second Lambda execution environment serving a concurrent request."""
    spec = importlib.util.spec_from_file_location("agentlab_functions.api_race", platform.registry.paths["api"])
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return EventClient(module.handler, key)


def test_concurrent_cancel_and_approve_of_a_waiting_run_one_wins_the_other_is_a_conflict(
    platform: Platform, api: EventClient, org: tuple[str, str], scripted_agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = second_api_environment(platform, org[1])
    script = [{"tool": "request_approval", "reason": "delete the old data"}, {"tool": "finish", "answer": "done"}]
    created = api.post("/v1/runs", {"agent_id": scripted_agent, "prompt": "x", "script": script}).json()
    wait_for(api, created["id"], {"waiting_approval"})
    # Given both requests have read the run waiting before either writes
    both_read = threading.Barrier(2, timeout=10)
    racers = {"cancel", "approve"}
    seen: set[str] = set()
    original_get = RunStore.get

    def get_then_wait(self: RunStore, org_id: str, run_id: str) -> Any:
        run = original_get(self, org_id, run_id)
        name = threading.current_thread().name
        if name in racers and name not in seen:
            seen.add(name)
            both_read.wait()
        return run

    monkeypatch.setattr(RunStore, "get", get_then_wait)
    answers: dict[str, int] = {}

    def send(client: EventClient, action: str) -> None:
        answers[action] = client.post(f"/v1/runs/{created['id']}/{action}").status

    # When a cancel and an approval arrive together
    threads = [
        threading.Thread(target=send, args=(api, "cancel"), name="cancel"),
        threading.Thread(target=send, args=(other, "approve"), name="approve"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    monkeypatch.setattr(RunStore, "get", original_get)
    # Then exactly one took effect and the other was told it conflicts, and the run ended as the winner decided
    assert sorted(answers.values()) == [200, 409], answers
    winner = next(action for action, status in answers.items() if status == 200)
    final = wait_for(api, created["id"], TERMINAL, timeout_s=30)
    approvals = [s for s in steps_of(api, created["id"]) if s["type"] == "approval"]
    if winner == "cancel":
        assert final["status"] == "cancelled" and approvals == []
    else:
        assert final["status"] == "succeeded" and [a["detail"]["decision"] for a in approvals] == ["approved"]
