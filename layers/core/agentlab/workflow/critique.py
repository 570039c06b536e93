"""The critique phase of the Execute state: judge the proposed cell statically before it ever runs. Under the agent's
critic mode `enforce` blocked code never runs; under `warn` the findings are recorded and the cell runs anyway; `off`
skips the phase.

It runs in the Execute state's invocation (not a state of its own), so a think → critique → execute iteration costs
four state transitions (Think, its Choice, Execute, its Choice) instead of six; the step it records is the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentlab.llm.types import ToolCall
from agentlab.models import AgentVersion
from agentlab.workflow.base import StepRef, reply

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps

# A 200 KB cell can draw thousands of findings; the step keeps the first ones and the count.
MAX_RECORDED_FINDINGS = 200


def critique_cell(
    deps: StepDeps, ref: StepRef, agent: AgentVersion, messages: list[dict[str, Any]], calls: list[ToolCall]
) -> bool:
    """Record the critique step of the pending cell; False when the cell must not run (the model has been told)."""
    from agentlab.critic import critique as run_critic
    from agentlab.critic.models import CriticPolicy

    code = str(calls[0].arguments.get("code", ""))
    settings = agent.critic
    policy = CriticPolicy().with_imports(allow=settings.allow_imports, forbid=settings.forbid_imports)
    policy = policy.with_calls(allow=settings.allow_calls)
    # Earlier cells of the session define names (aliases of modules) this cell may use.
    prior_cells = [
        str(c["arguments"].get("code", ""))
        for m in messages[:-1]
        if m["role"] == "assistant"
        for c in m.get("tool_calls", [])
        if c["name"] == "python"
    ]
    result = run_critic(code, policy, prior_cells=prior_cells)
    findings = [f.model_dump(mode="json") for f in result.findings]
    deps.runs.append_step(
        ref.org_id,
        ref.run_id,
        "critique",
        duration_ms=result.duration_ms,
        detail={
            "verdict": result.verdict,
            "mode": settings.mode,
            "findings": findings[:MAX_RECORDED_FINDINGS],
            "findings_total": len(findings),
        },
    )
    if result.verdict == "block" and settings.mode == "enforce":
        reply(deps.transcript, ref, calls, "The code was not run. " + result.as_feedback(), is_error=True)
        return False
    return True
