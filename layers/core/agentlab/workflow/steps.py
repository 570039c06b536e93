"""The logic of each agent_run state. Every function takes the run's ids and returns them with `next`, the name of
the branch the state machine takes. Everything else lives in DynamoDB and S3."""

from __future__ import annotations

import json
import mimetypes
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from agentlab import metrics
from agentlab.errors import AgentlabError
from agentlab.ids import new_ulid
from agentlab.llm.base import complete_with_fallback
from agentlab.llm.types import Message, ToolCall, ToolResult
from agentlab.models import TERMINAL_STATUSES, Agent, AgentVersion, Artifact, Run, utc_now
from agentlab.store.blobs import artifact_key, file_key
from agentlab.store.transcript import TranscriptStore
from agentlab.workflow.conversation import (
    message_to_stored,
    prompt_text,
    stored_to_message,
    system_prompt,
    thread_history,
)
from agentlab.workflow.deps import StepDeps
from agentlab.workflow.tools import tool_specs

GOAL_FEEDBACK_PREFIX = "Goal not met:"
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class StepRef(BaseModel):
    org_id: str
    run_id: str


class SandboxStartError(AgentlabError):
    """The sandbox could not be started; transient, retried by the state machine."""

    code = "sandbox_start_failed"


def step_output(ref: StepRef, next_state: str) -> dict[str, str]:
    return {"org_id": ref.org_id, "run_id": ref.run_id, "next": next_state}


def _load(deps: StepDeps, ref: StepRef) -> tuple[Run, AgentVersion]:
    run = deps.runs.get(ref.org_id, ref.run_id)
    return run, deps.agents.get_version(ref.org_id, run.agent_id, run.agent_version)


def _resolve_ref(deps: StepDeps, ref: str) -> str:
    return deps.settings.default_model_ref if ref == "default" else ref


# prepare ----------------------------------------------------------------------------------------------------------
def prepare(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    """Load the run and its pinned agent version, write the first message, mark the run running."""
    run, _agent = _load(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    if not deps.transcript.messages(ref.org_id, ref.run_id):
        files = [deps.files.get(ref.org_id, file_id) for file_id in run.file_ids]
        images = [
            {"s3_key": file_key(ref.org_id, f.id), "media_type": f.content_type}
            for f in files
            if f.content_type in _IMAGE_TYPES
        ]
        deps.transcript.append(
            ref.org_id,
            ref.run_id,
            {"role": "user", "text": prompt_text(run, files), "images": images, "tool_calls": [], "tool_results": []},
        )
    if run.status == "queued":
        deps.runs.transition(ref.org_id, ref.run_id, "running")
        metrics.count("RunsStarted")
    return step_output(ref, "think")


# think ------------------------------------------------------------------------------------------------------------
def _budget_exceeded(run: Run, agent: Agent) -> str | None:
    budget, limits = run.budget, agent.limits
    max_steps = budget.max_steps or limits.max_steps
    max_tokens = budget.max_tokens or limits.max_tokens
    max_cost = budget.max_cost_usd if budget.max_cost_usd is not None else limits.max_cost_usd
    max_wall = budget.max_wall_s or limits.max_wall_s
    usage = run.usage
    if usage.steps >= max_steps:
        return f"the step budget of {max_steps} is spent"
    if usage.input_tokens + usage.output_tokens >= max_tokens:
        return f"the token budget of {max_tokens} is spent"
    if usage.cost_usd >= max_cost:
        return f"the cost budget of ${max_cost} is spent"
    started = run.started_at or run.created_at
    if (datetime.now(UTC) - started).total_seconds() >= max_wall:
        return f"the wall-clock budget of {max_wall} s is spent"
    return None


def _conversation(deps: StepDeps, run: Run) -> list[Message]:
    earlier: list[Run] = []
    if run.thread_id != run.id:
        page = deps.runs.list(run.org_id, limit=50, cursor=None, thread_id=run.thread_id)
        earlier = sorted((r for r in page.items if r.id < run.id), key=lambda r: r.id)
    own = [stored_to_message(item, deps.blobs) for item in deps.transcript.messages(run.org_id, run.id)]
    return thread_history(earlier) + own


def think(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    run, agent = _load(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    exceeded = _budget_exceeded(run, agent)
    if exceeded:
        deps.runs.transition(
            ref.org_id, ref.run_id, "budget_exceeded", error={"code": "budget_exceeded", "message": exceeded}
        )
        return step_output(ref, "end")
    messages = _conversation(deps, run)
    has_images = any(m.images or any(r.images for r in m.tool_results) for m in messages)
    role_models = agent.models.vision if has_images and agent.models.vision else agent.models.reasoning
    script = [a.model_dump(exclude_none=True) for a in run.script] if run.script is not None else None
    started = time.monotonic()
    response = complete_with_fallback(
        lambda model_ref: deps.models.resolve(_resolve_ref(deps, model_ref), script=script),
        list(role_models),
        system=system_prompt(agent, run),
        messages=messages,
        tools=tool_specs(list(agent.tools)),
        max_tokens=4_096,
    )
    calls = response.tool_calls
    if not calls:
        # A plain answer is the model's way of finishing.
        calls = [ToolCall(id=f"finish-{new_ulid()}", name="finish", arguments={"answer": response.text})]
    deps.transcript.append(
        ref.org_id,
        ref.run_id,
        message_to_stored(Message(role="assistant", text=response.text or None, tool_calls=calls)),
    )
    deps.runs.append_step(
        ref.org_id,
        ref.run_id,
        "think",
        duration_ms=int((time.monotonic() - started) * 1000),
        model_id=response.model_id,
        provider=response.provider,
        input_tokens=response.usage.input_tokens,
        output_tokens=response.usage.output_tokens,
        cost_usd=response.cost_usd,
        detail={
            "text": response.text,
            "stop_reason": response.stop_reason,
            "latency_ms": response.latency_ms,
            "tool_calls": [c.model_dump(mode="json") for c in calls],
            "fallback_attempts": response.attempts,
            "scripted": response.provider == "scripted",
        },
    )
    metrics.model_usage(response.usage.input_tokens, response.usage.output_tokens, response.cost_usd)
    first = calls[0]
    if first.name not in agent.tools:
        reply(deps.transcript, ref, calls, f"the tool '{first.name}' is not enabled for this agent", is_error=True)
        return step_output(ref, "think")
    return step_output(
        ref,
        {
            "python": "critique",
            "list_files": "execute",
            "read_file": "execute",
            "request_approval": "approval",
            "finish": "evaluate",
        }.get(first.name, "think"),
    )


def _pending_calls(deps: StepDeps, ref: StepRef) -> list[ToolCall]:
    messages = deps.transcript.messages(ref.org_id, ref.run_id)
    last = messages[-1]
    if last["role"] != "assistant":
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
    results += [
        ToolResult(tool_call_id=c.id, content="not run: one tool call is handled per turn", is_error=True)
        for c in calls[1:]
    ]
    message = message_to_stored(Message(role="user", tool_results=results))
    if images:
        message["images"] = images
    transcript.append(ref.org_id, ref.run_id, message)


# critique ---------------------------------------------------------------------------------------------------------
def critique(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    from agentlab.critic import critique as run_critic
    from agentlab.critic.models import CriticPolicy

    run, agent = _load(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    messages = deps.transcript.messages(ref.org_id, ref.run_id)
    calls = _pending_calls(deps, ref)
    code = str(calls[0].arguments.get("code", ""))
    policy = CriticPolicy().with_imports(allow=agent.critic.allow_imports, forbid=agent.critic.forbid_imports)
    # Earlier cells of the session define names (aliases of modules) this cell may use.
    prior_cells = [
        str(c["arguments"].get("code", ""))
        for m in messages[:-1]
        if m["role"] == "assistant"
        for c in m.get("tool_calls", [])
        if c["name"] == "python"
    ]
    result = run_critic(code, policy, prior_cells=prior_cells)
    deps.runs.append_step(
        ref.org_id,
        ref.run_id,
        "critique",
        duration_ms=result.duration_ms,
        detail={"verdict": result.verdict, "findings": [f.model_dump(mode="json") for f in result.findings]},
    )
    if result.verdict == "block":
        reply(deps.transcript, ref, calls, "The code was not run. " + result.as_feedback(), is_error=True)
        return step_output(ref, "think")
    return step_output(ref, "execute")


# execute ----------------------------------------------------------------------------------------------------------
def _session(deps: StepDeps, run: Run, agent: Agent) -> Any:
    from agentlab.sandbox.errors import SandboxUnavailable
    from agentlab.sandbox.models import SandboxLimits

    limits = SandboxLimits(
        cell_timeout_s=agent.limits.cell_timeout_s,
        memory_mb=agent.limits.sandbox_memory_mb,
        cpu_s=max(agent.limits.cell_timeout_s, 60),
    )
    try:
        session = deps.sandbox.session(run.id, limits, {k: v.rendered() for k, v in run.env.items()})
    except SandboxUnavailable as exc:
        metrics.count("SandboxFailures")
        raise SandboxStartError(str(exc)) from exc
    present = {f.path for f in session.list_files()}
    for file_id in run.file_ids:
        record = deps.files.get(run.org_id, file_id)
        if f"inputs/{record.name}" not in present:
            session.put_file(f"inputs/{record.name}", deps.blobs.read(file_key(run.org_id, file_id)))
    if run.isolation != session.isolation:

        def record_isolation(current: Run) -> Run:
            current.isolation = session.isolation
            return current

        deps.runs.update(run.org_id, run.id, record_isolation)
    return session


def _store_artifacts(deps: StepDeps, run: Run, session: Any, files: list[Any], step_seq: int) -> list[dict[str, Any]]:
    stored = []
    for workspace_file in files:
        data = session.read_file(workspace_file.path)
        artifact = Artifact(
            id=new_ulid(),
            run_id=run.id,
            org_id=run.org_id,
            name=workspace_file.path,
            content_type=workspace_file.content_type
            or mimetypes.guess_type(workspace_file.path)[0]
            or "application/octet-stream",
            size=len(data),
            sha256=workspace_file.sha256,
            step_seq=step_seq,
            created_at=utc_now(),
        )
        deps.blobs.put(
            artifact_key(run.org_id, run.id, artifact.id, artifact.name), data, content_type=artifact.content_type
        )
        deps.runs.add_artifact(artifact)
        stored.append(
            {"id": artifact.id, "name": artifact.name, "content_type": artifact.content_type, "size": artifact.size}
        )
    return stored


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[clipped: {len(text) - limit} more characters]"


def execute(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    run, agent = _load(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    calls = _pending_calls(deps, ref)
    call = calls[0]
    session = _session(deps, run, agent)
    limit_chars = deps.settings.max_tool_output_chars
    if call.name == "list_files":
        listing = [f.model_dump(mode="json") for f in session.list_files()]
        deps.runs.append_step(ref.org_id, ref.run_id, "execute", detail={"tool": "list_files", "files": listing})
        reply(deps.transcript, ref, calls, json.dumps(listing))
        return step_output(ref, "think")
    if call.name == "read_file":
        return _read_file(deps, ref, run, session, calls, limit_chars)
    code = str(call.arguments.get("code", ""))
    result = session.execute(code)
    metrics.record("SandboxSeconds", result.duration_ms / 1000)
    seq_hint = run.step_count + 1
    artifacts = _store_artifacts(deps, run, session, result.files, seq_hint)
    deps.runs.append_step(
        ref.org_id,
        ref.run_id,
        "execute",
        duration_ms=result.duration_ms,
        sandbox_s=round(result.duration_ms / 1000, 3),
        detail={
            "tool": "python",
            "code": code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "exit_code": result.exit_code,
            "limit": result.limit,
            "artifacts": artifacts,
            "kernel_restarted": result.kernel_restarted,
            "isolation": session.isolation,
        },
    )
    parts = [f"exit_code: {result.exit_code}"]
    if result.limit:
        parts.append(f"limit hit: {result.limit}")
    if result.kernel_restarted:
        parts.append("the kernel was restarted: variables from earlier cells are gone")
    if result.stdout:
        parts.append("stdout:\n" + _clip(result.stdout, limit_chars))
    if result.stderr:
        parts.append("stderr:\n" + _clip(result.stderr, limit_chars))
    if artifacts:
        parts.append("files written: " + ", ".join(a["name"] for a in artifacts))
    reply(deps.transcript, ref, calls, "\n".join(parts), is_error=result.exit_code != 0)
    return step_output(ref, "think")


def _read_file(
    deps: StepDeps, ref: StepRef, run: Run, session: Any, calls: list[ToolCall], limit_chars: int
) -> dict[str, str]:
    path = str(calls[0].arguments.get("path", ""))
    try:
        data = session.read_file(path)
    except (ValueError, FileNotFoundError, OSError) as exc:
        deps.runs.append_step(
            ref.org_id, ref.run_id, "execute", detail={"tool": "read_file", "path": path, "error": str(exc)}
        )
        reply(deps.transcript, ref, calls, f"cannot read {path}: {exc}", is_error=True)
        return step_output(ref, "think")
    media_type = mimetypes.guess_type(path)[0] or ""
    deps.runs.append_step(
        ref.org_id, ref.run_id, "execute", detail={"tool": "read_file", "path": path, "size": len(data)}
    )
    if media_type in _IMAGE_TYPES:
        key = f"orgs/{run.org_id}/runs/{run.id}/reads/{new_ulid()}"
        deps.blobs.put(key, data, content_type=media_type)
        reply(
            deps.transcript,
            ref,
            calls,
            f"{path}: image ({len(data)} bytes) attached",
            images=[{"s3_key": key, "media_type": media_type}],
        )
    else:
        reply(deps.transcript, ref, calls, _clip(data.decode("utf-8", errors="replace"), limit_chars))
    return step_output(ref, "think")


# approval ---------------------------------------------------------------------------------------------------------
def request_approval(deps: StepDeps, ref: StepRef, task_token: str) -> dict[str, str]:
    """Park the run: keep the task token for the API's approve/reject and mark the run waiting."""
    run = deps.runs.get(ref.org_id, ref.run_id)
    if run.status in TERMINAL_STATUSES:
        deps.clients.stepfunctions.send_task_success(taskToken=task_token, output=json.dumps(step_output(ref, "end")))
        return step_output(ref, "end")
    deps.transcript.put_approval_token(ref.org_id, ref.run_id, task_token)
    deps.runs.transition(ref.org_id, ref.run_id, "waiting_approval")
    return step_output(ref, "waiting")


# evaluate ---------------------------------------------------------------------------------------------------------
def evaluate(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    run, agent = _load(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    calls = _pending_calls(deps, ref)
    answer = str(calls[0].arguments.get("answer", ""))
    started = time.monotonic()
    met, reasons, detail = True, [], {}
    goal = run.goal
    if goal and goal.check:
        session = _session(deps, run, agent)
        result = session.execute(goal.check)
        metrics.record("SandboxSeconds", result.duration_ms / 1000)
        check_ok = result.exit_code == 0
        detail["check"] = {
            "exit_code": result.exit_code,
            "stdout": result.stdout[-2_000:],
            "stderr": result.stderr[-2_000:],
            "limit": result.limit,
        }
        if not check_ok:
            met = False
            reasons.append(f"the goal check failed: {(result.stderr or result.stdout).strip()[-500:]}")
    if goal and goal.criterion and met:
        judged_met, judged_reason, judge_detail = _judge(deps, run, agent, answer)
        detail["judge"] = judge_detail
        metrics.model_usage(
            judge_detail.get("input_tokens", 0), judge_detail.get("output_tokens", 0), judge_detail.get("cost_usd", 0.0)
        )
        if not judged_met:
            met = False
            reasons.append(judged_reason)
    reason = "; ".join(reasons) if reasons else ("the goal holds" if goal else "no goal set: the answer is final")
    deps.runs.append_step(
        ref.org_id,
        ref.run_id,
        "evaluate",
        duration_ms=int((time.monotonic() - started) * 1000),
        model_id=detail.get("judge", {}).get("model_id"),
        provider=detail.get("judge", {}).get("provider"),
        input_tokens=detail.get("judge", {}).get("input_tokens", 0),
        output_tokens=detail.get("judge", {}).get("output_tokens", 0),
        cost_usd=detail.get("judge", {}).get("cost_usd", 0.0),
        detail={"met": met, "reason": reason, "answer": answer, **detail},
    )
    if met:
        deps.runs.transition(ref.org_id, ref.run_id, "succeeded", result=answer)
        return step_output(ref, "end")
    reply(
        deps.transcript,
        ref,
        calls,
        f"{GOAL_FEEDBACK_PREFIX} {reason}. Keep working, then call finish again.",
        is_error=True,
    )
    return step_output(ref, "think")


def _judge(deps: StepDeps, run: Run, agent: Agent, answer: str) -> tuple[bool, str, dict[str, Any]]:
    """Ask the reasoning model whether the criterion holds, given the answer and the workspace's files."""
    from agentlab.llm.types import ToolSpec

    assert run.goal and run.goal.criterion
    session = _session(deps, run, agent)
    files = ", ".join(f.path for f in session.list_files()) or "(none)"
    question = (
        f"Criterion: {run.goal.criterion}\n\nThe agent's final answer:\n{answer}\n\nFiles in the workspace: "
        f"{files}\n\nDoes the work meet the criterion? Call the `verdict` tool."
    )
    verdict_tool = ToolSpec(
        name="verdict",
        description="Whether the criterion is met, and why.",
        input_schema={
            "type": "object",
            "properties": {"met": {"type": "boolean"}, "reason": {"type": "string"}},
            "required": ["met", "reason"],
        },
    )
    first_ref = _resolve_ref(deps, agent.models.reasoning[0])
    if first_ref == "scripted":
        # The stand-in model cannot judge prose; it holds the criterion met when every file the criterion names
        # exists in the workspace. Labelled as such in the step.
        names = [word.strip(".,;:'\"()") for word in run.goal.criterion.split()]
        wanted = [n for n in names if "." in n and not n.endswith(".") and len(n) > 2]
        missing = [n for n in wanted if n not in files.split(", ")]
        met = bool(answer.strip()) and not missing
        reason = "scripted judge: " + (f"missing {', '.join(missing)}" if missing else "named files present")
        return met, reason, {"provider": "scripted", "model_id": "scripted", "met": met, "reason": reason}
    response = complete_with_fallback(
        lambda model_ref: deps.models.resolve(_resolve_ref(deps, model_ref)),
        list(agent.models.reasoning),
        system="You judge whether an AI agent's work meets a criterion. Be strict and brief.",
        messages=[Message(role="user", text=question)],
        tools=[verdict_tool],
        max_tokens=512,
    )
    verdict = next((c.arguments for c in response.tool_calls if c.name == "verdict"), None)
    met = bool(verdict and verdict.get("met") is True)
    reason = str((verdict or {}).get("reason") or response.text or "the judge gave no verdict")
    return (
        met,
        reason,
        {
            "provider": response.provider,
            "model_id": response.model_id,
            "met": met,
            "reason": reason,
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
            "cost_usd": response.cost_usd,
        },
    )


# the end ----------------------------------------------------------------------------------------------------------
def finalize(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    """Every path ends here or in record_failure: the run gets a terminal status and its sandbox ends."""
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
    message = message[:2_000] or name
    deps.runs.append_step(ref.org_id, ref.run_id, "error", detail={"code": name, "message": message})
    run = deps.runs.get(ref.org_id, ref.run_id)
    if run.status not in TERMINAL_STATUSES:
        ended = deps.runs.transition(ref.org_id, ref.run_id, "failed", error={"code": name, "message": message})
        metrics.run_ended(ended.status)
    deps.sandbox.end(ref.run_id)
    return step_output(ref, "failed")
