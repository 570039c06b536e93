"""The Evaluate state: judge the goal's criterion with the model, given the answer and the files the run produced,
after CheckGoal ran the goal's Python check (if any). An unmet goal goes back to the agent; a met one ends the run
with its answer."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from agentlab import metrics
from agentlab.llm.base import complete_with_fallback
from agentlab.llm.types import GOAL_FEEDBACK_PREFIX, Message, ToolCall, ToolSpec
from agentlab.models import TERMINAL_STATUSES, Agent, Run
from agentlab.workflow.base import StepRef, load_run, pending_calls, reply, resolve_ref, step_output
from agentlab.workflow.outputs import Outputs

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps

JUDGE_MAX_TOKENS = 1_024
JUDGE_SYSTEM_PROMPT = "You judge whether an AI agent's work meets a criterion. Be strict and brief."
VERDICT_TOOL = ToolSpec(
    name="verdict",
    description="Whether the criterion is met, and why.",
    input_schema={
        "type": "object",
        "properties": {"met": {"type": "boolean"}, "reason": {"type": "string"}},
        "required": ["met", "reason"],
    },
)


def evaluate(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    run, agent = load_run(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    calls = pending_calls(deps, ref)
    answer = str(calls[0].arguments.get("answer", ""))
    started = time.monotonic()
    detail: dict[str, Any] = {}
    checked = deps.transcript.goal_check(ref.org_id, ref.run_id)
    if checked and checked.get("call_id") == calls[0].id:
        detail["check"] = checked.get("check")
    goal = run.goal
    met, reason = True, ("the goal holds" if goal else "no goal set: the answer is final")
    judge: dict[str, Any] = {}
    if goal and goal.criterion:
        met, reason, judge = _judge(deps, run, agent, answer)
        detail["judge"] = judge
    return conclude(
        deps,
        ref,
        run,
        calls,
        met=met,
        reason=reason,
        detail=detail,
        duration_ms=int((time.monotonic() - started) * 1000),
        judge=judge,
    )


def conclude(
    deps: StepDeps,
    ref: StepRef,
    run: Run,
    calls: list[ToolCall],
    *,
    met: bool,
    reason: str,
    detail: dict[str, Any],
    duration_ms: int,
    judge: dict[str, Any] | None = None,
    sandbox_s: float = 0.0,
) -> dict[str, str]:
    """Record the evaluate step, then end the run with its answer or send the agent back to work."""
    answer = str(calls[0].arguments.get("answer", ""))
    judge = judge or {}
    outputs = Outputs(deps.blobs, ref.org_id, ref.run_id)
    deps.runs.append_step(
        ref.org_id,
        ref.run_id,
        "evaluate",
        duration_ms=duration_ms,
        sandbox_s=round(sandbox_s, 3),
        model_id=judge.get("model_id"),
        provider=judge.get("provider"),
        input_tokens=judge.get("input_tokens", 0),
        output_tokens=judge.get("output_tokens", 0),
        cost_usd=judge.get("cost_usd", 0.0),
        cost_known=judge.get("cost_known", True),
        detail={"met": met, "reason": reason, "answer": outputs.text("answer", answer), **detail},
        full_output=outputs.refs,
    )
    if met:
        result = Outputs(deps.blobs, ref.org_id, ref.run_id)
        preview = result.text("result", answer)
        deps.runs.transition(ref.org_id, ref.run_id, "succeeded", result=preview, result_full=result.refs.get("result"))
        return step_output(ref, "end")
    reply(
        deps.transcript,
        ref,
        calls,
        f"{GOAL_FEEDBACK_PREFIX} {reason}. Keep working, then call finish again.",
        is_error=True,
    )
    return step_output(ref, "think")


def produced_files(deps: StepDeps, run: Run) -> list[str]:
    """What the run has to show: its input files and every file a cell wrote (kept as artifacts)."""
    inputs = [f"inputs/{deps.files.get(run.org_id, file_id).name}" for file_id in run.file_ids]
    written = sorted({artifact.name for artifact in deps.runs.list_artifacts(run.org_id, run.id)})
    return inputs + written


def _judge(deps: StepDeps, run: Run, agent: Agent, answer: str) -> tuple[bool, str, dict[str, Any]]:
    """Ask the reasoning model whether the criterion holds, given the answer and the run's files."""
    assert run.goal and run.goal.criterion
    names = produced_files(deps, run)
    files = ", ".join(names) or "(none)"
    first_ref = resolve_ref(deps, agent.models.reasoning[0])
    if first_ref == "scripted":
        # The stand-in model cannot judge prose; it holds the criterion met when every file the criterion names
        # exists in the workspace. Labelled as such in the step.
        words = [word.strip(".,;:'\"()") for word in run.goal.criterion.split()]
        wanted = [n for n in words if "." in n and not n.endswith(".") and len(n) > 2]
        missing = [n for n in wanted if n not in names]
        met = bool(answer.strip()) and not missing
        reason = "scripted judge: " + (f"missing {', '.join(missing)}" if missing else "named files present")
        return met, reason, {"provider": "scripted", "model_id": "scripted", "met": met, "reason": reason}
    question = (
        f"Criterion: {run.goal.criterion}\n\nThe agent's final answer:\n{answer[:20_000]}\n\nFiles in the workspace: "
        f"{files[:10_000]}\n\nDoes the work meet the criterion? Call the `verdict` tool."
    )
    response = complete_with_fallback(
        lambda model_ref: deps.models.resolve(resolve_ref(deps, model_ref)),
        list(agent.models.reasoning),
        system=JUDGE_SYSTEM_PROMPT,
        messages=[Message(role="user", text=question)],
        tools=[VERDICT_TOOL],
        max_tokens=JUDGE_MAX_TOKENS,
    )
    cost, known = deps.prices.cost(response.provider, response.model_id, response.usage)
    metrics.model_usage(response.usage.input_tokens, response.usage.output_tokens, cost)
    verdict = next((c.arguments for c in response.tool_calls if c.name == "verdict"), None)
    met = bool(verdict and verdict.get("met") is True)
    if verdict is not None:
        reason = str(verdict.get("reason") or ("the criterion is met" if met else "the criterion is not met"))
    else:
        # A judge cut off or silent gave no verdict: that is no proof the criterion holds.
        reason = f"the judge gave no verdict (stop reason: {response.stop_reason})"
    return (
        met,
        reason,
        {
            "provider": response.provider,
            "model_id": response.model_id,
            "met": met,
            "reason": reason,
            "stop_reason": response.stop_reason,
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
            "cost_usd": round(cost, 8),
            "cost_known": known,
        },
    )
