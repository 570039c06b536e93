"""The code model of an agent (`models.code`): the reasoning model describes each cell as a task and this model
writes it. The cell it writes is critiqued and run like any other; what it replied is judged like the reasoning
model's replies (cut off, empty and filtered replies write no cell)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentlab.llm.base import complete_with_fallback
from agentlab.llm.output_limits import output_tokens_for
from agentlab.llm.types import Message, ModelResponse
from agentlab.models import Agent, Run
from agentlab.workflow.base import resolve_ref
from agentlab.workflow.outputs import head_and_tail
from agentlab.workflow.replies import classify

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps

CODE_SYSTEM_PROMPT = """You write one Python cell for a sandboxed data-analysis kernel (numpy, pandas, matplotlib,
scipy; no network). The kernel keeps the state of earlier cells. The working directory is the run's workspace and
input files are under inputs/. Save charts with matplotlib (plt.savefig) and files into the workspace.
Reply with the code only, in a single ```python block, without explanations."""

EARLIER_CELLS = 5
EARLIER_OUTPUT_CHARS = 1_500
PROMPT_CHARS = 4_000
_FENCED = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class CodeWritten:
    code: str | None
    problem: str | None
    response: ModelResponse | None


def extract_code(text: str) -> str:
    """The code of the first fenced block, or the whole reply when it has no fence."""
    match = _FENCED.search(text)
    code = match.group(1) if match else text
    return code.strip("\n")


def code_request(run: Run, task: str, stored: list[dict[str, Any]]) -> str:
    """The task with what the code model needs to write it: the run's prompt and the latest cells with their output."""
    cells: list[str] = []
    results = {r["tool_call_id"]: r for m in stored if m["role"] == "user" for r in m.get("tool_results", [])}
    for message in stored:
        if message["role"] != "assistant":
            continue
        for call in message.get("tool_calls", []):
            code = call.get("arguments", {}).get("code")
            if call.get("name") != "python" or not isinstance(code, str):
                continue
            output = results.get(call.get("id"), {}).get("content", "(not run)")
            cells.append(f"```python\n{code}\n```\nIts result:\n{head_and_tail(output, EARLIER_OUTPUT_CHARS)}")
    parts = [f"The user's request:\n{head_and_tail(run.prompt, PROMPT_CHARS)}"]
    if cells:
        parts.append("Earlier cells of this session, oldest first:\n\n" + "\n\n".join(cells[-EARLIER_CELLS:]))
    parts.append(f"Write the next cell. Its task:\n{task}")
    return "\n\n".join(parts)


def write_cell(deps: StepDeps, run: Run, agent: Agent, task: str, stored: list[dict[str, Any]]) -> CodeWritten:
    requested = agent.limits.max_output_tokens
    response = complete_with_fallback(
        lambda model_ref: deps.models.resolve(resolve_ref(deps, model_ref)),
        list(agent.models.code),
        system=CODE_SYSTEM_PROMPT,
        messages=[Message(role="user", text=code_request(run, task, stored))],
        tools=[],
        max_tokens=lambda provider, model_id: output_tokens_for(provider, model_id, requested),
    )
    verdict = classify(response)
    if verdict.kind == "truncated":
        problem = (
            f"The code model's cell was cut off at its output limit of {response.max_tokens} tokens, so nothing was "
            "run. Split the work: describe a smaller task for the next cell."
        )
        return CodeWritten(None, problem, response)
    if verdict.kind == "refused":
        return CodeWritten(None, f"The code model wrote no cell: {verdict.message}. Nothing was run.", response)
    code = extract_code(response.text)
    if not code.strip():
        problem = "The code model replied without code, so nothing was run. Describe the task more precisely."
        return CodeWritten(None, problem, response)
    return CodeWritten(code, None, response)
