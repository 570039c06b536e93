"""What every agent_run state shares: the ids it is given, the branch it returns, the run it loads and the way a
pending tool call is answered. Each state's logic lives in its own module (prepare, think, critique, execute,
approval, check_goal, evaluate, finalize); everything else lives in DynamoDB and S3."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from agentlab.errors import AgentlabError
from agentlab.llm.types import Message, ToolCall, ToolResult
from agentlab.models import AgentVersion, Run
from agentlab.store.transcript import TranscriptStore
from agentlab.workflow.conversation import message_to_stored

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps

ONE_CALL_PER_TURN = "not run: one tool call is handled per turn"


class StepRef(BaseModel):
    org_id: str
    run_id: str


class SandboxStartError(AgentlabError):
    """The sandbox could not be started; transient, retried by the state machine."""

    code = "sandbox_start_failed"


def step_output(ref: StepRef, next_state: str) -> dict[str, str]:
    return {"org_id": ref.org_id, "run_id": ref.run_id, "next": next_state}


def load_run(deps: StepDeps, ref: StepRef) -> tuple[Run, AgentVersion]:
    """The run and the agent version it pinned when it was created."""
    run = deps.runs.get(ref.org_id, ref.run_id)
    return run, deps.agents.get_version(ref.org_id, run.agent_id, run.agent_version)


def resolve_ref(deps: StepDeps, ref: str) -> str:
    """An agent's model reference with "default" replaced by the deployment's default model."""
    return deps.settings.default_model_ref if ref == "default" else ref


def pending_calls(deps: StepDeps, ref: StepRef) -> list[ToolCall]:
    """The tool calls of the model's last turn, which the current state answers."""
    return calls_of_last_turn(deps.transcript.messages(ref.org_id, ref.run_id))


def calls_of_last_turn(messages: list[dict[str, Any]]) -> list[ToolCall]:
    """The tool calls of the last message of a transcript already read, which must be the model's."""
    last = messages[-1] if messages else None
    if last is None or last["role"] != "assistant":
        raise AgentlabError("no pending tool call in the transcript", code="no_pending_call")
    return [ToolCall.model_validate(c) for c in last.get("tool_calls", [])]


def reply(
    transcript: TranscriptStore,
    ref: StepRef,
    calls: list[ToolCall],
    content: str,
    *,
    is_error: bool = False,
    images: list[dict[str, str]] | None = None,
) -> None:
    """Answer the pending tool calls: the first gets `content`; further calls in the same turn are declined."""
    results = [ToolResult(tool_call_id=calls[0].id, content=content, is_error=is_error)]
    results += [ToolResult(tool_call_id=c.id, content=ONE_CALL_PER_TURN, is_error=True) for c in calls[1:]]
    message = message_to_stored(Message(role="user", tool_results=results))
    if images:
        message["images"] = images
    transcript.append(ref.org_id, ref.run_id, message)


def fail_run(deps: StepDeps, ref: StepRef, code: str, message: str) -> dict[str, str]:
    """End the run `failed` with a reason a person can act on; the workflow goes on to Finalize."""
    deps.runs.transition(ref.org_id, ref.run_id, "failed", error={"code": code, "message": message})
    return step_output(ref, "end")


def tool_detail(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json") for c in calls]
