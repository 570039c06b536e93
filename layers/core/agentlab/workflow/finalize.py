"""The Finalize and RecordFailure states: every path ends in one of them, with a terminal status and its sandbox
ended."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agentlab import metrics
from agentlab.models import TERMINAL_STATUSES
from agentlab.workflow.base import StepRef, step_output

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps

MAX_ERROR_CHARS = 2_000


def finalize(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    run = deps.runs.get(ref.org_id, ref.run_id)
    if run.status not in TERMINAL_STATUSES:
        run = deps.runs.transition(
            ref.org_id,
            ref.run_id,
            "failed",
            error={"code": "no_outcome", "message": "the workflow ended without an outcome"},
        )
    # Counted here, once per run that reaches the end of its workflow (record_failure counts the runs it ends).
    metrics.run_ended(run.status)
    deps.sandbox.end(ref.run_id)
    deps.events.ended(run)
    return step_output(ref, "done")


def record_failure(deps: StepDeps, ref: StepRef, error: dict[str, Any]) -> dict[str, str]:
    name = str(error.get("Error") or "Error")
    cause = str(error.get("Cause") or "")
    try:
        parsed = json.loads(cause)
        message = str(parsed.get("errorMessage") or cause)
        name = str(parsed.get("errorType") or name)
    except (ValueError, AttributeError):
        message = cause
    message = message[:MAX_ERROR_CHARS] or name
    deps.runs.append_step(ref.org_id, ref.run_id, "error", detail={"code": name, "message": message})
    run = deps.runs.get(ref.org_id, ref.run_id)
    if run.status not in TERMINAL_STATUSES:
        run = deps.runs.transition(ref.org_id, ref.run_id, "failed", error={"code": name, "message": message})
        metrics.run_ended(run.status)
    deps.sandbox.end(ref.run_id)
    deps.events.ended(run)
    return step_output(ref, "failed")
