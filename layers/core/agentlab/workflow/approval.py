"""The WaitForApproval state: park the run until a person decides (the API's approve/reject, in approvals.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from agentlab.models import TERMINAL_STATUSES
from agentlab.workflow.base import StepRef, step_output

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps


def request_approval(deps: StepDeps, ref: StepRef, task_token: str) -> dict[str, str]:
    """Keep the task token for the API's approve/reject and mark the run waiting."""
    run = deps.runs.get(ref.org_id, ref.run_id)
    if run.status in TERMINAL_STATUSES:
        deps.clients.stepfunctions.send_task_success(taskToken=task_token, output=json.dumps(step_output(ref, "end")))
        return step_output(ref, "end")
    deps.transcript.put_approval_token(ref.org_id, ref.run_id, task_token)
    waiting = deps.runs.transition(ref.org_id, ref.run_id, "waiting_approval")
    deps.events.waiting_approval(waiting)
    return step_output(ref, "waiting")
