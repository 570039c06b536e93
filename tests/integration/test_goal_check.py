"""The goal cannot be faked: the goal's Python check runs in a fresh process over the workspace, never in the agent's
kernel, so whatever the agent's cells did to their kernel does not reach it."""

from __future__ import annotations

from typing import Any

import pytest
from apiclient import EventClient
from run_checks import wait_for

pytestmark = pytest.mark.timeout(180)

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}

CHECK = (
    "import os\n"
    "assert os.path.exists('report.txt'), 'report.txt is missing'\n"
    "assert open('report.txt').read() == 'ok', 'report.txt does not say ok'\n"
)

# Everything a cell could do to make `assert os.path.exists(...)` pass in its own kernel.
FAKE_IT = """
import builtins, os, os.path, sys
os.path.exists = lambda path: True
real_open = builtins.open
class Lying:
    def read(self, *args): return 'ok'
    def __enter__(self): return self
    def __exit__(self, *args): return False
builtins.open = lambda *args, **kwargs: Lying()
builtins.AssertionError = type('Swallowed', (Exception,), {})
sys.modules['os'] = type(sys)('os')
sys.modules['os'].path = type('path', (), {'exists': staticmethod(lambda p: True)})
# Modules planted in the workspace, where a process started there might import them.
for name in ('os.py', 'sitecustomize.py', 'usercustomize.py'):
    with real_open(name, 'w') as planted:
        planted.write('import builtins\\nbuiltins.__dict__["AssertionError"] = Warning\\n')
print('faked', os.path.exists('report.txt'))
"""


def steps_of(api: EventClient, run_id: str) -> list[dict[str, Any]]:
    return api.get(f"/v1/runs/{run_id}/steps", params={"limit": 200}).json()["items"]


@pytest.fixture
def scripted_agent(api: EventClient) -> str:
    # The critic would block these cells; with it off the sandbox and the fresh check process are what stands.
    response = api.post(
        "/v1/agents", {"name": "faker", "models": {"reasoning": ["scripted"]}, "critic": {"mode": "off"}}
    )
    assert response.status == 201, response.text
    return str(response.json()["id"])


def test_a_patched_kernel_does_not_make_the_goal_check_pass(api: EventClient, scripted_agent: str) -> None:
    # Given an agent that patches os.path.exists, open and builtins in its kernel, then claims to be done
    script = [
        {"tool": "python", "code": FAKE_IT},
        {"tool": "finish", "answer": "report.txt is written"},
        {"tool": "python", "code": "with real_open('report.txt', 'w') as f:\n    f.write('ok')"},
        {"tool": "finish", "answer": "report.txt is written, really"},
    ]
    run = api.post(
        "/v1/runs",
        {"agent_id": scripted_agent, "prompt": "write report.txt", "script": script, "goal": {"check": CHECK}},
    ).json()
    final = wait_for(api, run["id"], TERMINAL)
    steps = steps_of(api, run["id"])
    # The patches took effect in the agent's own kernel
    first_cell = next(s for s in steps if s["type"] == "execute")
    assert first_cell["detail"]["stdout"] == "faked True\n", first_cell["detail"]
    # Then the first finish was judged by a fresh process that found no report.txt
    evaluations = [s["detail"] for s in steps if s["type"] == "evaluate"]
    assert [e["met"] for e in evaluations] == [False, True], evaluations
    assert "report.txt is missing" in evaluations[0]["reason"]
    assert evaluations[0]["check"]["fresh_process"] is True and evaluations[0]["check"]["exit_code"] == 1
    # And once the file really exists the check passes and the run succeeds
    assert final["status"] == "succeeded" and final["result"] == "report.txt is written, really"


def test_a_check_that_still_fails_keeps_the_run_going_until_the_budget(api: EventClient, scripted_agent: str) -> None:
    script = [{"tool": "python", "code": "import os\nos.path.exists = lambda p: True"}] + [
        {"tool": "finish", "answer": "done"}
    ] * 3
    run = api.post(
        "/v1/runs",
        {
            "agent_id": scripted_agent,
            "prompt": "write report.txt",
            "script": script,
            "goal": {"check": CHECK},
            "budget": {"max_steps": 4},
        },
    ).json()
    final = wait_for(api, run["id"], TERMINAL)
    assert final["status"] == "budget_exceeded", final
    evaluations = [s["detail"] for s in steps_of(api, run["id"]) if s["type"] == "evaluate"]
    assert evaluations and not any(e["met"] for e in evaluations)
