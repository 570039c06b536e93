"""The Think state: check budgets and cancellation, ask the model for the next action, and route to the state that
answers it. What the model replies is judged here, the same for every provider: tool arguments are validated before
anything runs, a reply cut off by the output limit or an empty one is never taken as an answer, and a filtered one
ends the run with its own reason."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agentlab import metrics
from agentlab.ids import new_ulid
from agentlab.llm.base import complete_with_fallback
from agentlab.llm.output_limits import output_tokens_for
from agentlab.llm.types import Message, ModelResponse, ToolCall
from agentlab.models import TERMINAL_STATUSES, Agent, Run
from agentlab.models.agent import DEFAULT_MAX_COST_USD
from agentlab.workflow.base import StepRef, fail_run, load_run, reply, resolve_ref, step_output
from agentlab.workflow.code_model import CodeWritten, write_cell
from agentlab.workflow.conversation import message_to_stored, stored_to_message, system_prompt, thread_history
from agentlab.workflow.outputs import Outputs
from agentlab.workflow.replies import (
    EMPTY_NOTICE,
    EMPTY_RETRIES,
    NOTICE_EMPTY,
    NOTICE_TRUNCATED,
    TRUNCATED_RETRIES,
    classify,
    invalid_arguments,
    trailing_notices,
    truncated_notice,
)
from agentlab.workflow.tools import tool_input, tool_specs

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps

# The state each tool's call goes to once its arguments are valid.
NEXT_STATE = {
    "python": "execute",  # which critiques the cell first (agentlab/workflow/critique.py)
    "list_files": "execute",
    "read_file": "execute",
    "request_approval": "approval",
    "finish": "evaluate",
}


def budget_exceeded(run: Run, agent: Agent) -> str | None:
    budget, limits = run.budget, agent.limits
    max_steps = budget.max_steps or limits.max_steps
    max_tokens = budget.max_tokens or limits.max_tokens
    max_cost = next(
        (cost for cost in (budget.max_cost_usd, limits.max_cost_usd) if cost is not None), DEFAULT_MAX_COST_USD
    )
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


def conversation(deps: StepDeps, run: Run, stored: list[dict[str, Any]]) -> list[Message]:
    earlier: list[Run] = []
    if run.thread_id != run.id:
        page = deps.runs.list(run.org_id, limit=50, cursor=None, thread_id=run.thread_id)
        earlier = sorted((r for r in page.items if r.id < run.id), key=lambda r: r.id)
    own = [stored_to_message(item, deps.blobs) for item in stored]
    return thread_history(earlier) + own


@dataclass
class Usage:
    """What the turn's model calls add to the step: the reasoning model's, and the code model's if it wrote a cell."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True

    def add(self, deps: StepDeps, response: ModelResponse) -> dict[str, Any]:
        cost, known = deps.prices.cost(response.provider, response.model_id, response.usage)
        self.input_tokens += response.usage.input_tokens
        self.output_tokens += response.usage.output_tokens
        self.cost_usd += cost
        self.cost_known = self.cost_known and known
        metrics.model_usage(response.usage.input_tokens, response.usage.output_tokens, cost)
        return {
            "provider": response.provider,
            "model_id": response.model_id,
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
            "cost_usd": round(cost, 8),
            "cost_known": known,
            "stop_reason": response.stop_reason,
            "latency_ms": response.latency_ms,
        }


def think(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    run, agent = load_run(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    exceeded = budget_exceeded(run, agent)
    if exceeded:
        deps.runs.transition(
            ref.org_id, ref.run_id, "budget_exceeded", error={"code": "budget_exceeded", "message": exceeded}
        )
        return step_output(ref, "end")
    stored = deps.transcript.messages(ref.org_id, ref.run_id)
    messages = conversation(deps, run, stored)
    has_images = any(m.images or any(r.images for r in m.tool_results) for m in messages)
    role_models = agent.models.vision if has_images and agent.models.vision else agent.models.reasoning
    code_model = bool(agent.models.code)
    script = [a.model_dump(exclude_none=True) for a in run.script] if run.script is not None else None
    requested = agent.limits.max_output_tokens
    started = time.monotonic()
    response = complete_with_fallback(
        lambda model_ref: deps.models.resolve(resolve_ref(deps, model_ref), script=script),
        list(role_models),
        system=system_prompt(agent, run),
        messages=messages,
        tools=tool_specs(list(agent.tools), code_model=code_model),
        max_tokens=lambda provider, model_id: output_tokens_for(provider, model_id, requested),
    )
    usage = Usage()
    reasoning = usage.add(deps, response)
    verdict = classify(response)
    calls = response.tool_calls
    if verdict.kind == "answer":
        # A plain answer that ended normally is the model's way of finishing.
        calls = [ToolCall(id=f"finish-{new_ulid()}", name="finish", arguments={"answer": response.text})]
    outputs = Outputs(deps.blobs, ref.org_id, ref.run_id)
    detail: dict[str, Any] = {
        "text": outputs.text("text", response.text),
        "stop_reason": response.stop_reason,
        "max_tokens": response.max_tokens,
        "latency_ms": response.latency_ms,
        "reply": verdict.kind,
        "fallback_attempts": response.attempts,
        "scripted": response.provider == "scripted",
    }
    written: CodeWritten | None = None
    next_state, problem = "think", None
    if verdict.kind in ("calls", "answer"):
        first = calls[0]
        problem = _call_problem(first, agent, code_model)
        if problem is None and first.name == "python" and code_model:
            written = write_cell(deps, run, agent, str(first.arguments["task"]), stored)
            detail["code_model"] = usage.add(deps, written.response) if written.response else None
            if written.code is not None:
                calls = [first.model_copy(update={"arguments": {**first.arguments, "code": written.code}}), *calls[1:]]
            else:
                problem = written.problem
        if problem is None:
            next_state = _next_state(first.name, run)
    detail["tool_calls"] = outputs.tool_calls("tool_calls", [c.model_dump(mode="json") for c in calls])
    if problem:
        detail["problem"] = problem
    if verdict.kind in ("calls", "answer"):
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
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=round(usage.cost_usd, 8),
        cost_known=usage.cost_known,
        detail={**detail, "reasoning_model": reasoning} if written else detail,
        full_output=outputs.refs,
    )
    if verdict.kind == "refused":
        return fail_run(deps, ref, verdict.code, f"{verdict.message} (stop reason: {response.stop_reason})")
    if verdict.kind == "truncated":
        return _ask_again(deps, ref, stored, NOTICE_TRUNCATED, TRUNCATED_RETRIES, truncated_notice(response.max_tokens))
    if verdict.kind == "empty":
        return _ask_again(deps, ref, stored, NOTICE_EMPTY, EMPTY_RETRIES, EMPTY_NOTICE)
    if problem:
        reply(deps.transcript, ref, calls, problem, is_error=True)
    return step_output(ref, next_state)


def _call_problem(call: ToolCall, agent: Agent, code_model: bool) -> str | None:
    """Why the call cannot be answered by a tool: unknown or not enabled, or arguments that do not validate."""
    if call.name not in agent.tools:
        return f"the tool '{call.name}' is not enabled for this agent"
    return invalid_arguments(call, tool_input(call.name, code_model=code_model))


def _next_state(tool: str, run: Run) -> str:
    if tool == "finish" and run.goal and run.goal.check:
        return "check_goal"
    return NEXT_STATE[tool]


def _ask_again(
    deps: StepDeps, ref: StepRef, stored: list[dict[str, Any]], kind: str, retries: int, notice: str
) -> dict[str, str]:
    """Ask the model again with a notice, or fail the run once the notices of this kind have been used up."""
    asked = trailing_notices(stored, kind)
    if asked >= retries:
        if kind == NOTICE_TRUNCATED:
            message = f"the model's reply was cut off by its output limit {asked + 1} times in a row"
            return fail_run(deps, ref, "model_output_truncated", message)
        return fail_run(deps, ref, "empty_model_reply", f"the model replied with nothing {asked + 1} times in a row")
    deps.transcript.append(
        ref.org_id,
        ref.run_id,
        {"role": "user", "text": notice, "notice": kind, "tool_calls": [], "tool_results": []},
    )
    return step_output(ref, "think")
