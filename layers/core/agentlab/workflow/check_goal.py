"""The CheckGoal state: run the goal's Python check after a `finish`, in a fresh process over the run's workspace
(read-only where the backend allows), never in the agent's kernel: whatever the agent's cells did to their kernel
(patched `os.path.exists`, replaced builtins, processes left running) cannot make the check pass. A failed check
goes back to the agent; a passed one ends the run, or goes on to the model judge when the goal also has a
criterion."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from agentlab import metrics
from agentlab.models import TERMINAL_STATUSES
from agentlab.workflow.base import StepRef, load_run, pending_calls, step_output
from agentlab.workflow.evaluate import conclude
from agentlab.workflow.sandbox_session import open_session

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps

CHECK_OUTPUT_CHARS = 2_000
REASON_CHARS = 500


def check_goal(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    run, agent = load_run(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    calls = pending_calls(deps, ref)
    if not (run.goal and run.goal.check):
        return step_output(ref, "evaluate")
    started = time.monotonic()
    session = open_session(deps, run, agent)
    result = session.check(run.goal.check)
    metrics.record("SandboxSeconds", result.duration_ms / 1000)
    check = {
        "exit_code": result.exit_code,
        "stdout": result.stdout[-CHECK_OUTPUT_CHARS:],
        "stderr": result.stderr[-CHECK_OUTPUT_CHARS:],
        "limit": result.limit,
        "duration_ms": result.duration_ms,
        "fresh_process": True,
    }
    duration_ms = int((time.monotonic() - started) * 1000)
    if result.exit_code != 0:
        output = (result.stderr or result.stdout).strip()[-REASON_CHARS:]
        reason = f"the goal check failed: {output or f'exit code {result.exit_code}'}"
        return conclude(
            deps,
            ref,
            run,
            calls,
            met=False,
            reason=reason,
            detail={"check": check},
            duration_ms=duration_ms,
            sandbox_s=result.duration_ms / 1000,
        )
    if run.goal.criterion:
        deps.transcript.put_goal_check(ref.org_id, ref.run_id, {"call_id": calls[0].id, "check": check})
        return step_output(ref, "evaluate")
    return conclude(
        deps,
        ref,
        run,
        calls,
        met=True,
        reason="the goal holds",
        detail={"check": check},
        duration_ms=duration_ms,
        sandbox_s=result.duration_ms / 1000,
    )
