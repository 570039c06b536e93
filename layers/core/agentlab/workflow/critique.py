"""The Critique state: judge the proposed cell statically before it ever runs. Under the agent's critic mode
`enforce` blocked code never runs; under `warn` the findings are recorded and the cell runs anyway (`off` skips this
state: Think goes straight to Execute)."""

from __future__ import annotations

from agentlab.models import TERMINAL_STATUSES
from agentlab.workflow.base import StepRef, load_run, pending_calls, reply, step_output
from agentlab.workflow.deps import StepDeps

# A 200 KB cell can draw thousands of findings; the step keeps the first ones and the count.
MAX_RECORDED_FINDINGS = 200


def critique(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    from agentlab.critic import critique as run_critic
    from agentlab.critic.models import CriticPolicy

    run, agent = load_run(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    messages = deps.transcript.messages(ref.org_id, ref.run_id)
    calls = pending_calls(deps, ref)
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
        return step_output(ref, "think")
    return step_output(ref, "execute")
