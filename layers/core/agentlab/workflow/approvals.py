"""A person's decision on a paused run, sent back to the waiting execution."""

from __future__ import annotations

import json

from agentlab.aws import AwsClients
from agentlab.errors import Conflict
from agentlab.llm.types import ToolCall
from agentlab.models import Run
from agentlab.store.runs import RunStore
from agentlab.store.transcript import TranscriptStore
from agentlab.workflow.base import StepRef, reply, step_output


class Approvals:
    def __init__(self, runs: RunStore, transcript: TranscriptStore, clients: AwsClients) -> None:
        self.runs = runs
        self.transcript = transcript
        self.clients = clients

    def decide(self, org_id: str, run_id: str, *, approved: bool, comment: str | None, identity: str) -> Run:
        """Resume the run; the agent sees the decision as the result of its request."""
        run = self.runs.get(org_id, run_id)
        if run.status != "waiting_approval":
            raise Conflict(f"run {run_id} is {run.status}, not waiting for approval", code="invalid_state")
        token = self.transcript.take_approval_token(org_id, run_id)
        if token is None:
            raise Conflict(f"run {run_id} has no pending approval", code="invalid_state")
        decision = "approved" if approved else "rejected"
        updated = self.runs.transition(org_id, run_id, "running", only_from=frozenset({"waiting_approval"}))
        self.runs.append_step(
            org_id, run_id, "approval", detail={"decision": decision, "comment": comment, "by": identity}
        )
        messages = self.transcript.messages(org_id, run_id)
        calls = [ToolCall.model_validate(c) for c in messages[-1].get("tool_calls", [])]
        ref = StepRef(org_id=org_id, run_id=run_id)
        text = f"A person {decision} the request." + (f" Comment: {comment}" if comment else "")
        reply(self.transcript, ref, calls, text, is_error=not approved)
        self.clients.stepfunctions.send_task_success(taskToken=token, output=json.dumps(step_output(ref, "think")))
        return updated
