"""The run's sandbox session as the steps that use it see it: started with the agent's limits, the run's inputs in
place, the isolation it got recorded on the run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentlab import metrics
from agentlab.models import Agent, Run
from agentlab.store.blobs import file_key
from agentlab.workflow.base import SandboxStartError

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps


def sandbox_limits(agent: Agent) -> Any:
    from agentlab.sandbox.models import SandboxLimits

    limits = agent.limits
    return SandboxLimits(
        cell_timeout_s=limits.cell_timeout_s,
        memory_mb=limits.sandbox_memory_mb,
        cpu=limits.sandbox_cpu,
        cpu_s=max(limits.cell_timeout_s, 60),
    )


def open_session(deps: StepDeps, run: Run, agent: Agent) -> Any:
    """The run's session with its input files in place. A sandbox that cannot be started, or that is lost while the
    inputs go in, is a transient failure the state machine retries."""
    from agentlab.sandbox.errors import SandboxUnavailable

    try:
        session = deps.sandbox.session(run.id, sandbox_limits(agent), {k: v.rendered() for k, v in run.env.items()})
        present = {f.path for f in session.list_files()}
        for file_id in run.file_ids:
            record = deps.files.get(run.org_id, file_id)
            if f"inputs/{record.name}" not in present:
                session.put_file(f"inputs/{record.name}", deps.blobs.read(file_key(run.org_id, file_id)))
    except SandboxUnavailable as exc:
        metrics.count("SandboxFailures")
        raise SandboxStartError(str(exc)) from exc
    if run.isolation != session.isolation:

        def record_isolation(current: Run) -> Run:
            current.isolation = session.isolation
            return current

        deps.runs.update(run.org_id, run.id, record_isolation)
    return session
