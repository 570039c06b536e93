"""The real agent_run ASL, executed by moto's engine, with Lambda tasks dispatched to the real handlers, the scripted
model and the local sandbox."""

from __future__ import annotations

import time
from typing import Any

import pytest
from apiclient import EventClient
from run_checks import wait_for

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}


def steps_of(api: EventClient, run_id: str) -> list[dict[str, Any]]:
    return api.get(f"/v1/runs/{run_id}/steps", params={"limit": 200}).json()["items"]


@pytest.fixture
def scripted_agent(api: EventClient) -> str:
    response = api.post(
        "/v1/agents",
        {
            "name": "scripted-agent",
            "models": {"reasoning": ["scripted"]},
            "limits": {"max_steps": 6, "cell_timeout_s": 20},
        },
    )
    assert response.status == 201, response.text
    return str(response.json()["id"])


def test_sine_demo_succeeds_with_an_artifact(api: EventClient, scripted_agent: str) -> None:
    # Given the built-in behaviour of the scripted model for the demo prompt
    run = api.post(
        "/v1/runs",
        {
            "agent_id": scripted_agent,
            "prompt": "Plot a sine wave and save it as sine.png",
            "goal": {"check": "import os; assert os.path.exists('sine.png')"},
        },
    ).json()
    # When the workflow runs to its end
    final = wait_for(api, run["id"], TERMINAL)
    # Then it succeeded, every step is labelled scripted, and sine.png is an artifact with a download URL
    assert final["status"] == "succeeded", final
    assert "sine.png" in final["result"]
    steps = steps_of(api, run["id"])
    kinds = [s["type"] for s in steps]
    assert kinds[:3] == ["think", "critique", "execute"] and kinds[-1] == "evaluate"
    assert all(s["provider"] == "scripted" for s in steps if s["type"] == "think")
    execute = next(s for s in steps if s["type"] == "execute")
    assert execute["detail"]["exit_code"] == 0 and execute["detail"]["limit"] is None
    assert final["usage"]["steps"] == 2 and final["usage"]["sandbox_s"] > 0
    artifacts = api.get(f"/v1/runs/{run['id']}/artifacts").json()["items"]
    assert [a["name"] for a in artifacts] == ["sine.png"]
    assert artifacts[0]["content_type"] == "image/png" and artifacts[0]["url"].startswith("http")
    assert final["isolation"]


def test_script_plays_in_order_and_blocked_code_never_runs(api: EventClient, scripted_agent: str) -> None:
    script = [
        {"tool": "python", "code": "import subprocess\nsubprocess.run(['id'])"},
        {"tool": "python", "code": "x = 21\nprint(x * 2)"},
        {"tool": "finish", "answer": "42"},
    ]
    run = api.post("/v1/runs", {"agent_id": scripted_agent, "prompt": "compute", "script": script}).json()
    final = wait_for(api, run["id"], TERMINAL)
    assert final["status"] == "succeeded" and final["result"] == "42"
    steps = steps_of(api, run["id"])
    critiques = [s for s in steps if s["type"] == "critique"]
    assert critiques[0]["detail"]["verdict"] == "block"
    executes = [s for s in steps if s["type"] == "execute"]
    assert len(executes) == 1 and executes[0]["detail"]["stdout"].strip() == "42"


def test_unmet_goal_goes_back_to_the_agent_then_is_met(api: EventClient, scripted_agent: str) -> None:
    script = [
        {"tool": "finish", "answer": "done too early"},
        {"tool": "python", "code": "open('result.txt', 'w').write('ok')"},
        {"tool": "finish", "answer": "wrote result.txt"},
    ]
    run = api.post(
        "/v1/runs",
        {
            "agent_id": scripted_agent,
            "prompt": "write result.txt",
            "script": script,
            "goal": {"check": "assert open('result.txt').read() == 'ok'"},
        },
    ).json()
    final = wait_for(api, run["id"], TERMINAL)
    assert final["status"] == "succeeded", final
    evaluations = [s["detail"] for s in steps_of(api, run["id"]) if s["type"] == "evaluate"]
    assert [e["met"] for e in evaluations] == [False, True]
    assert "goal check failed" in evaluations[0]["reason"]


def test_budget_exceeded_keeps_everything_so_far(api: EventClient, scripted_agent: str) -> None:
    script = [{"tool": "python", "code": f"print({n})"} for n in range(10)]
    run = api.post(
        "/v1/runs", {"agent_id": scripted_agent, "prompt": "count", "script": script, "budget": {"max_steps": 2}}
    ).json()
    final = wait_for(api, run["id"], TERMINAL)
    assert final["status"] == "budget_exceeded"
    assert "step budget of 2" in final["error"]["message"]
    executes = [s for s in steps_of(api, run["id"]) if s["type"] == "execute"]
    assert [e["detail"]["stdout"].strip() for e in executes] == ["0", "1"]


def test_approval_approve_and_reject(api: EventClient, scripted_agent: str) -> None:
    script = [{"tool": "request_approval", "reason": "delete the old data"}, {"tool": "finish", "answer": "done"}]
    for decision in ("approve", "reject"):
        run = api.post("/v1/runs", {"agent_id": scripted_agent, "prompt": "clean up", "script": script}).json()
        wait_for(api, run["id"], {"waiting_approval"})
        response = api.post(f"/v1/runs/{run['id']}/{decision}", {"comment": f"{decision}d by test"})
        assert response.status == 200, response.text
        assert api.post(f"/v1/runs/{run['id']}/{decision}", {}).status == 409
        final = wait_for(api, run["id"], TERMINAL)
        assert final["status"] == "succeeded"
        approval = next(s for s in steps_of(api, run["id"]) if s["type"] == "approval")
        assert approval["detail"]["decision"] == {"approve": "approved", "reject": "rejected"}[decision]
        assert approval["detail"]["comment"] == f"{decision}d by test"


def test_cancel_mid_run(api: EventClient, scripted_agent: str) -> None:
    script = [{"tool": "python", "code": "import time\ntime.sleep(3)"}] * 5
    run = api.post("/v1/runs", {"agent_id": scripted_agent, "prompt": "slow", "script": script}).json()
    wait_for(api, run["id"], {"running"})
    response = api.post(f"/v1/runs/{run['id']}/cancel")
    assert response.status == 200 and response.json()["status"] == "cancelled"
    time.sleep(4)
    final = api.get(f"/v1/runs/{run['id']}").json()
    assert final["status"] == "cancelled"
    assert api.post(f"/v1/runs/{run['id']}/cancel").status == 409


class ModelThrottled(Exception):
    """Named like the provider's transient error: the state machine retries on this error name."""


def test_transient_step_errors_are_retried(platform: Any, api: EventClient, scripted_agent: str) -> None:
    real_think = platform.registry.handler("think")
    calls = {"n": 0}

    def flaky_think(event: dict[str, Any], context: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ModelThrottled("throttled by the model service")
        return real_think(event, context)

    platform.registry._handlers["think"] = flaky_think
    run = api.post(
        "/v1/runs",
        {"agent_id": scripted_agent, "prompt": "x", "script": [{"tool": "finish", "answer": "after retries"}]},
    ).json()
    final = wait_for(api, run["id"], TERMINAL, timeout_s=120)
    assert final["status"] == "succeeded" and final["result"] == "after retries"
    assert calls["n"] == 3


def test_a_failing_step_is_caught_and_the_run_records_why(
    platform: Any, api: EventClient, scripted_agent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agentlab.critic

    def broken_critic(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("critic exploded")

    # The critic runs inside the Execute state, before the cell
    monkeypatch.setattr(agentlab.critic, "critique", broken_critic)
    run = api.post(
        "/v1/runs", {"agent_id": scripted_agent, "prompt": "x", "script": [{"tool": "python", "code": "print(1)"}]}
    ).json()
    final = wait_for(api, run["id"], TERMINAL)
    assert final["status"] == "failed"
    assert final["error"] == {"code": "RuntimeError", "message": "critic exploded"}
    error_step = steps_of(api, run["id"])[-1]
    assert error_step["type"] == "error" and error_step["detail"]["message"] == "critic exploded"
