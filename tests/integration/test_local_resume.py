"""A run in flight when the local stack is killed resumes after the restart: `agentlab dev` in a subprocess, killed
with SIGKILL (no clean end, no last snapshot) and started again on the same data directory."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from run_checks import wait_for
from stack_process import LocalStackProcess, free_port

from agentlab.workflow.prepare import KERNEL_RESTARTED

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
SNAPSHOT_INTERVAL_S = 1


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStackProcess]:
    process = LocalStackProcess(tmp_path / "data", free_port())
    try:
        yield process
    finally:
        process.stop(signal.SIGKILL)


def steps_of(client: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    return list(client.get(f"/v1/runs/{run_id}/steps", params={"limit": 200}).json()["items"])


def restarted(stack: LocalStackProcess) -> LocalStackProcess:
    """The stack killed at once, then started again on the same data directory and port."""
    stack.stop(signal.SIGKILL)
    again = LocalStackProcess(stack.data_dir, stack.port)
    again.start()
    return again


def test_a_run_in_flight_when_the_stack_is_killed_resumes_after_the_restart(stack: LocalStackProcess) -> None:
    stack.start()
    with stack.client() as client:
        agent = client.post("/v1/agents", json={"name": "resume", "models": {"reasoning": ["scripted"]}}).json()
        script = [
            {"tool": "python", "code": "x = 41\nprint(x)"},
            {"tool": "python", "code": "import time\ntime.sleep(30)"},
            {"tool": "python", "code": "print('after the restart')"},
            {"tool": "finish", "answer": "done"},
        ]
        created = client.post("/v1/runs", json={"agent_id": agent["id"], "prompt": "work", "script": script})
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        # Given the run is in its second, long cell, and a snapshot holds that
        deadline = time.monotonic() + 60
        while sum(1 for s in steps_of(client, run_id) if s["type"] == "think") < 2:
            assert time.monotonic() < deadline, steps_of(client, run_id)
            time.sleep(0.2)
        time.sleep(SNAPSHOT_INTERVAL_S * 3)
    # When the stack is killed and started again
    stack = restarted(stack)
    try:
        with stack.client() as client:
            final = wait_for(client, run_id, TERMINAL, timeout_s=60)
            steps = steps_of(client, run_id)
    finally:
        stack.stop()  # a clean end, which writes the last snapshot
    # Then the run went on from its last completed step and succeeded, every step once, in order
    assert final["status"] == "succeeded" and final["result"] == "done", final
    assert [s["seq"] for s in steps] == list(range(1, len(steps) + 1))
    resumed = [s for s in steps if s["type"] == "error"]
    assert [s["detail"]["code"] for s in resumed] == ["resumed"], steps
    executes = [s for s in steps if s["type"] == "execute"]
    assert [e["detail"]["stdout"].strip() for e in executes] == ["41", "after the restart"]
    thinks = [s for s in steps if s["type"] == "think"]
    assert len(thinks) == 4
    # and the model was told its kernel restarted, in the answer to the cell the restart cut short
    assert any(KERNEL_RESTARTED in str(message) for message in transcript_of(stack.data_dir, run_id))


def test_a_run_waiting_for_approval_when_the_stack_is_killed_waits_again_after_the_restart(
    stack: LocalStackProcess,
) -> None:
    stack.start()
    with stack.client() as client:
        agent = client.post("/v1/agents", json={"name": "resume", "models": {"reasoning": ["scripted"]}}).json()
        script = [
            {"tool": "python", "code": "print(41)"},
            {"tool": "request_approval", "reason": "delete the old data"},
            {"tool": "python", "code": "print('approved after the restart')"},
            {"tool": "finish", "answer": "done"},
        ]
        created = client.post("/v1/runs", json={"agent_id": agent["id"], "prompt": "work", "script": script})
        run_id = created.json()["id"]
        # Given the run waits for a person, and a snapshot holds that
        wait_for(client, run_id, {"waiting_approval"}, timeout_s=60)
        time.sleep(SNAPSHOT_INTERVAL_S * 3)
    # When the stack is killed and started again
    stack = restarted(stack)
    try:
        with stack.client() as client:
            # Then the run waits again, and the approval reaches its new execution
            wait_for(client, run_id, {"waiting_approval"}, timeout_s=30)
            deadline = time.monotonic() + 30
            while True:
                approved = client.post(f"/v1/runs/{run_id}/approve", json={"comment": "go"})
                # the new execution asks for approval again just after the start: until then there is no token
                if approved.status_code != 409 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert approved.status_code == 200, approved.text
            final = wait_for(client, run_id, TERMINAL, timeout_s=60)
            steps = steps_of(client, run_id)
    finally:
        stack.stop(signal.SIGKILL)
    assert final["status"] == "succeeded" and final["result"] == "done", final
    assert [s["seq"] for s in steps] == list(range(1, len(steps) + 1))
    assert [s["detail"]["code"] for s in steps if s["type"] == "error"] == ["resumed"]
    assert [s["detail"]["decision"] for s in steps if s["type"] == "approval"] == ["approved"]
    executes = [s for s in steps if s["type"] == "execute"]
    assert [e["detail"]["stdout"].strip() for e in executes] == ["41", "approved after the restart"]
    # The cell after the restart ran in a new kernel, and its answer says so
    assert executes[1]["detail"]["kernel_replaced"] is True


def test_a_stack_started_with_faults_loses_nothing(tmp_path: Path) -> None:
    # Given a stack whose step invocations fail, arrive twice and whose model is throttled, often
    faults = "step_error=0.2,duplicate=0.3,throttle=0.15,throttle_burst=1,seed=3"
    stack = LocalStackProcess(tmp_path / "data", free_port(), extra_env={"AGENTLAB_LOCAL_FAULTS": faults})
    stack.start()
    try:
        with stack.client() as client:
            agent = client.post("/v1/agents", json={"name": "faults", "models": {"reasoning": ["scripted"]}}).json()
            script = [
                {"tool": "python", "code": "with open('ran.txt', 'a') as f:\n    f.write('x')"},
                {"tool": "python", "code": "print(open('ran.txt').read())"},
                {"tool": "finish", "answer": "done"},
            ]
            # When a few runs go through it
            run_ids = [
                client.post("/v1/runs", json={"agent_id": agent["id"], "prompt": "count", "script": script}).json()[
                    "id"
                ]
                for _ in range(3)
            ]
            finals = [wait_for(client, run_id, TERMINAL, timeout_s=90) for run_id in run_ids]
            all_steps = [steps_of(client, run_id) for run_id in run_ids]
    finally:
        stack.stop(signal.SIGKILL)
    # Then faults were injected, and every run succeeded with its steps once each and every cell run once
    assert "injected fault" in "".join(stack.output)
    assert [f["status"] for f in finals] == ["succeeded"] * 3, finals
    for steps in all_steps:
        assert [s["type"] for s in steps] == [
            "think", "critique", "execute", "think", "critique", "execute", "think", "evaluate"
        ], steps  # fmt: skip
        assert steps[5]["detail"]["stdout"].strip() == "x"


def transcript_of(data_dir: Path, run_id: str) -> list[dict[str, Any]]:
    """The run's messages as the stack's last snapshot holds them (the API serves no transcript)."""
    from agentlab.store.table import deserialize

    items = [json.loads(line) for line in (data_dir / "table.jsonl").read_text().splitlines() if line.strip()]
    return [
        deserialize(item)
        for item in items
        if item["PK"]["S"].endswith(f"#RUN#{run_id}") and item["SK"]["S"].startswith("MSG#")
    ]
