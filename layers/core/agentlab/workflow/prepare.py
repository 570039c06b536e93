"""The Prepare state: load the run and its pinned agent version, write the first message, mark the run running.

Prepare also starts a run that is resumed after its execution was lost (`resume_run`: the local stack was stopped
while the run was active): the new execution goes on from the last completed step, as the transcript shows it, and
the model is told that its kernel restarted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentlab import metrics
from agentlab.errors import AgentlabError
from agentlab.llm.types import IMAGE_MEDIA_TYPES, ToolCall
from agentlab.models import TERMINAL_STATUSES, Run
from agentlab.store.blobs import file_key
from agentlab.workflow.base import StepRef, load_run, reply, step_output
from agentlab.workflow.conversation import prompt_text
from agentlab.workflow.executions import execution_name

if TYPE_CHECKING:
    from agentlab.store.runs import RunStore
    from agentlab.store.transcript import TranscriptStore
    from agentlab.workflow.deps import StepDeps
    from agentlab.workflow.executions import Executions

RESUMED = "resumed"
KERNEL_RESTARTED_NOTICE = "kernel_restarted"
# Locally a new session starts from an empty workspace (agentlab/sandbox/local.py), in AWS from a new task: only the
# run's input files are put back.
KERNEL_RESTARTED = (
    "The sandbox kernel restarted (the platform restarted while this run was active): variables and imports from "
    "earlier cells are gone, and so are files that earlier cells wrote; the run's input files are in place again. "
    "Earlier results are in this conversation."
)
CALL_INTERRUPTED = "not completed: the platform restarted while this call was being handled. "
# The calls whose state comes after Think and is resumed as it is: approval, goal check, judgement.
_RESUMED_AS_THEY_ARE = frozenset({"request_approval", "finish"})


def prepare(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    run, _agent = load_run(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    messages = deps.transcript.messages(ref.org_id, ref.run_id)
    if not messages:
        files = [deps.files.get(ref.org_id, file_id) for file_id in run.file_ids]
        images = [
            {"s3_key": file_key(ref.org_id, f.id), "media_type": f.content_type}
            for f in files
            if f.content_type in IMAGE_MEDIA_TYPES
        ]
        deps.transcript.append(
            ref.org_id,
            ref.run_id,
            {"role": "user", "text": prompt_text(run, files), "images": images, "tool_calls": [], "tool_results": []},
        )
    else:
        answer_interrupted_call(deps.transcript, ref, messages)
    if run.status == "queued":
        deps.runs.transition(ref.org_id, ref.run_id, "running")
        metrics.count("RunsStarted")
    return step_output(ref, resume_point(run, messages))


def _pending_calls(messages: list[dict[str, Any]]) -> list[ToolCall]:
    last = messages[-1] if messages else None
    if last is None or last["role"] != "assistant":
        return []
    return [ToolCall.model_validate(c) for c in last.get("tool_calls", [])]


def resume_point(run: Run, messages: list[dict[str, Any]]) -> str:
    """The state after Prepare: Think, unless the model's last call waits for a later state (a resumed run)."""
    calls = _pending_calls(messages)
    if calls and calls[0].name == "request_approval":
        return "approval"
    if calls and calls[0].name == "finish":
        return "check_goal" if run.goal and run.goal.check else "evaluate"
    return "think"


def answer_interrupted_call(transcript: TranscriptStore, ref: StepRef, messages: list[dict[str, Any]]) -> bool:
    """A cell or file call whose answer was lost with the execution is answered as not completed, never run again
    (a cell may have run halfway): the model decides what to do. Returns whether there was one."""
    calls = _pending_calls(messages)
    if not calls or calls[0].name in _RESUMED_AS_THEY_ARE:
        return False
    reply(transcript, ref, calls, CALL_INTERRUPTED + KERNEL_RESTARTED, is_error=True)
    return True


def resumes_of(runs: RunStore, org_id: str, run_id: str) -> int:
    """How many times the run was resumed: its `resumed` records, one per new execution."""
    count, after = 0, 0
    while True:
        page = runs.list_steps(org_id, run_id, after=after, limit=100)
        count += sum(1 for s in page.items if s.type == "error" and s.detail.get("code") == RESUMED)
        if len(page.items) < 100:
            return count
        after = page.items[-1].seq


def resume_run(runs: RunStore, transcript: TranscriptStore, executions: Executions, run: Run) -> str:
    """Drive an active run whose execution was lost with a new execution of its workflow, from its last completed
    step; returns the new execution's ARN. Steps and transcript are kept; a `resumed` record says so on the
    timeline, and the model is told before its next turn that its kernel restarted: as a reply to the call that was
    in flight, or as a notice after the last reply. A pending approval, goal check or judgement is resumed as it is
    (a message cannot come between a call and its answer); its next cell then tells the model that it ran in a new
    kernel (agentlab/workflow/execute.py), for which the run keeps the kernel it knew."""
    if run.workflow != "agent_run":
        # A repo run's phases share one sandbox workspace, which did not survive the restart either.
        raise AgentlabError(f"a {run.workflow} run is not resumed; start a new one", code="not_resumable")
    ref = StepRef(org_id=run.org_id, run_id=run.id)
    number = resumes_of(runs, run.org_id, run.id) + 1
    # The lost execution's task token answers nothing now; until the new execution asks again, a decision is a
    # conflict (no pending approval) rather than a success that resumes nothing.
    transcript.take_approval_token(run.org_id, run.id)
    messages = transcript.messages(run.org_id, run.id)
    told = answer_interrupted_call(transcript, ref, messages)
    had_turns = any(m["role"] == "assistant" for m in messages)
    if had_turns and not told and not _pending_calls(messages):
        transcript.append(
            run.org_id,
            run.id,
            {
                "role": "user",
                "text": KERNEL_RESTARTED,
                "notice": KERNEL_RESTARTED_NOTICE,
                "tool_calls": [],
                "tool_results": [],
            },
        )
        told = True

    def forget_kernel(current: Run) -> None:
        if told:
            current.kernel_id = None

    name = execution_name(run.id, number)
    runs.append_step(
        run.org_id,
        run.id,
        "error",
        detail={
            "code": RESUMED,
            "message": f"the platform restarted while the run was {run.status}; it resumes from its last step",
            "execution": name,
        },
        update_run=forget_kernel,
    )
    return executions.start(run.org_id, run.id, resume=number)
