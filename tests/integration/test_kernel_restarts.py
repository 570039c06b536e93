"""A kernel that is gone is never hidden from the model: a run that waited for approval longer than the sandbox's idle
timeout (its session reaped) gets a fresh kernel, and its next cell says that the earlier state is gone. No earlier
cell is replayed."""

from __future__ import annotations

from typing import Any

import pytest
from apiclient import EventClient
from moto_platform import Platform
from run_checks import wait_for

from agentlab.store.transcript import TranscriptStore
from agentlab.workflow.execute import KERNEL_REPLACED

pytestmark = pytest.mark.timeout(120)

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}


def steps_of(api: EventClient, run_id: str) -> list[dict[str, Any]]:
    return api.get(f"/v1/runs/{run_id}/steps", params={"limit": 200}).json()["items"]


def test_a_session_reaped_during_an_approval_gives_a_fresh_kernel_and_says_so(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    from agentlab.workflow import deps as workflow_deps

    agent = api.post("/v1/agents", {"name": "patient", "models": {"reasoning": ["scripted"]}}).json()
    script = [
        {"tool": "python", "code": "answer = 41\nprint('set')"},
        {"tool": "request_approval", "reason": "go on?"},
        {"tool": "python", "code": "print(answer + 1)"},
        {"tool": "finish", "answer": "done"},
    ]
    run = api.post("/v1/runs", {"agent_id": agent["id"], "prompt": "wait", "script": script}).json()
    wait_for(api, run["id"], {"waiting_approval"})
    # While the run waits, its idle session is reaped (as the local reaper or the task's idle timeout would)
    for backend in list(workflow_deps._backends.values()):
        backend.end(run["id"])
    assert api.post(f"/v1/runs/{run['id']}/approve", {}).status == 200
    final = wait_for(api, run["id"], TERMINAL)

    assert final["status"] == "succeeded", final
    first, second = [s["detail"] for s in steps_of(api, run["id"]) if s["type"] == "execute"]
    assert first["kernel_id"] and second["kernel_id"] and first["kernel_id"] != second["kernel_id"]
    assert second["kernel_replaced"] is True and "NameError" in second["stderr"]
    answers = [
        r["content"]
        for m in TranscriptStore(platform.table).messages(org[0], run["id"])
        for r in m.get("tool_results", [])
    ]
    assert KERNEL_REPLACED in answers[-1] and "NameError" in answers[-1]
    assert answers[-1].count("exit_code") == 1 and "set" not in answers[-1]


def test_a_kernel_that_died_is_reported_once(api: EventClient, platform: Platform, org: tuple[str, str]) -> None:
    agent = api.post(
        "/v1/agents", {"name": "crashy", "models": {"reasoning": ["scripted"]}, "critic": {"mode": "off"}}
    ).json()
    script = [
        {"tool": "python", "code": "import ctypes\nctypes.string_at(0)"},
        {"tool": "python", "code": "print('next')"},
        {"tool": "finish", "answer": "done"},
    ]
    run = api.post("/v1/runs", {"agent_id": agent["id"], "prompt": "crash", "script": script}).json()
    final = wait_for(api, run["id"], TERMINAL)
    assert final["status"] == "succeeded", final
    crashed, after = [s["detail"] for s in steps_of(api, run["id"]) if s["type"] == "execute"]
    assert crashed["kernel_restarted"] is True and crashed["kernel_replaced"] is False
    # The model was told when the kernel died; the next cell in the new kernel does not say it again
    assert after["kernel_replaced"] is False and after["stdout"] == "next\n"
