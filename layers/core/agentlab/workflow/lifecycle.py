"""Creating and cancelling runs: the parts of the lifecycle that the API drives."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from agentlab import metrics
from agentlab.errors import AgentlabError, ConcurrentUpdate, Conflict, NotFound, Unprocessable
from agentlab.ids import new_ulid
from agentlab.llm.pricing import PriceTable, require_priced
from agentlab.models import Caller, Run, RunCreate, utc_now
from agentlab.models.repo import Repo, RepoRunCreate, RepoTarget
from agentlab.models.run import TERMINAL_STATUSES, Budget
from agentlab.store.agents import AgentStore
from agentlab.store.files import FileStore
from agentlab.store.runs import RunStore, fingerprint
from agentlab.workflow.executions import Executions
from agentlab.workflow.run_events import RunEvents

logger = Logger(service="agentlab-api")


@dataclass
class RunServices:
    runs: RunStore
    agents: AgentStore
    files: FileStore
    executions: Executions
    default_model_ref: str
    prices: PriceTable = field(default_factory=PriceTable)
    # What follows a run's end (schedules, webhooks, usage); None where nothing follows (unit tests of the lifecycle).
    events: RunEvents | None = None


def _uses_scripted_model(reasoning: list[str], default_model_ref: str) -> bool:
    first = reasoning[0]
    return first == "scripted" or (first == "default" and default_model_ref == "scripted")


def create_run(
    caller: Caller,
    body: RunCreate,
    services: RunServices,
    idempotency_key: str | None = None,
    *,
    agent_version: int | None = None,
    schedule_id: str | None = None,
) -> tuple[Run, bool]:
    """Store the run `queued` and start its execution. Returns (run, created); created is False on a replay.
    Unset, `agent_version` is the agent's current version (a schedule may pin another); `schedule_id` names the
    schedule whose fire starts the run."""
    agent = services.agents.get(caller.org_id, body.agent_id)
    if agent_version is not None:
        agent = services.agents.get_version(caller.org_id, body.agent_id, agent_version)
    if body.script is not None and not _uses_scripted_model(agent.models.reasoning, services.default_model_ref):
        raise Unprocessable(
            "a script can only be given when the agent's reasoning model is 'scripted'", code="script_not_allowed"
        )
    if body.budget.max_cost_usd is not None:
        require_priced(agent.model_refs(), services.prices, services.default_model_ref, budget="budget.max_cost_usd")
    for file_id in body.file_ids:
        record = services.files.get(caller.org_id, file_id)
        if record.status != "ready":
            raise Unprocessable(f"file {file_id} is {record.status}, not ready", code="file_not_ready")
    if body.thread_id is not None:
        earlier = services.runs.list(caller.org_id, limit=1, cursor=None, thread_id=body.thread_id)
        if not earlier.items:
            raise NotFound(f"thread {body.thread_id} not found")
    now = utc_now()
    run_id = new_ulid()
    run = Run(
        id=run_id,
        org_id=caller.org_id,
        agent_id=agent.id,
        agent_version=agent.version,
        thread_id=body.thread_id or run_id,
        prompt=body.prompt,
        file_ids=body.file_ids,
        env=body.env,
        goal=body.goal,
        budget=body.budget,
        script=body.script,
        status="queued",
        created_at=now,
        updated_at=now,
        created_by=caller.identity,
        schedule_id=schedule_id,
    )
    body_fingerprint = fingerprint(json.dumps(body.model_dump(mode="json"), sort_keys=True))
    stored, created = services.runs.create(run, idempotency_key=idempotency_key, body_fingerprint=body_fingerprint)
    if stored.status == "queued":
        # Also on a replay: if the first attempt died between the write and the start, this completes it.
        _start_or_fail(caller, stored, services)
    return stored, created


def create_repo_run(
    caller: Caller,
    repo: Repo,
    body: RepoRunCreate,
    services: RunServices,
    idempotency_key: str | None = None,
) -> tuple[Run, bool]:
    """Store a repo_optimize run `queued` and start its execution. It has no agent; its thread is the repository's
    (so the thread index lists the repository's runs), and it works on the head of `branch` or on `sha`."""
    now = utc_now()
    run_id = new_ulid()
    branch = body.branch or repo.default_branch
    target = RepoTarget(repo_id=repo.id, url=repo.url, branch=branch, sha=body.sha)
    at = body.sha[:12] if body.sha else branch
    run = Run(
        id=run_id,
        org_id=caller.org_id,
        agent_id="",
        agent_version=0,
        thread_id=repo.id,
        prompt=f"baseline of {repo.name} at {at}",
        budget=Budget(max_wall_s=body.budget.max_wall_s if body.budget else None),
        status="queued",
        created_at=now,
        updated_at=now,
        created_by=caller.identity,
        workflow="repo_optimize",
        repo=target,
    )
    body_fingerprint = fingerprint(json.dumps({"repo": repo.id, **body.model_dump(mode="json")}, sort_keys=True))
    stored, created = services.runs.create(run, idempotency_key=idempotency_key, body_fingerprint=body_fingerprint)
    if stored.status == "queued":
        _start_or_fail(caller, stored, services)
    return stored, created


def cancel_run(caller: Caller, run_id: str, services: RunServices) -> Run:
    run = services.runs.get(caller.org_id, run_id)
    if run.status in TERMINAL_STATUSES:
        raise Conflict(f"run {run_id} has already ended ({run.status})", code="invalid_state")
    # Conditional on the status read: a decision on a waiting run that lands first (an approval) makes this a
    # conflict rather than a cancellation of a run the caller never saw running.
    cancelled = services.runs.transition(
        caller.org_id,
        run_id,
        "cancelled",
        error={"code": "cancelled", "message": f"cancelled by {caller.identity}"},
        only_from=frozenset({run.status}),
    )
    try:
        from agentlab.workflow.prepare import resumes_of

        resume = resumes_of(services.runs, caller.org_id, run_id)
        services.executions.stop(run_id, cause=f"cancelled by {caller.identity}", resume=resume, workflow=run.workflow)
    except Exception:
        # The run is cancelled in the table, which is the truth: every step checks it first and ends the workflow.
        # Stopping the execution only saves those steps, so a failed stop (throttled, or an execution that has only
        # just started) is logged, not turned into an error for a cancellation that took effect.
        logger.warning("stopping the execution failed; the next step will end it", extra={"run_id": run_id})
    # Stopping the execution means no finalize step counts this run's end, so it is counted here.
    metrics.run_ended("cancelled")
    if services.events is not None:
        _report_cancelled(services.events, cancelled)
    return cancelled


_REPORT_ATTEMPTS = 4


def _report_cancelled(events: RunEvents, cancelled: Run) -> None:
    """What follows the run's end (its usage roll-up, webhooks, its schedule), tried again when it loses a race: the
    run's steps may still be writing while it is cancelled, and no Finalize will report this end. Each consequence
    is idempotent. A cancellation that took effect is never answered as an error; one that could not be reported is
    logged."""
    for attempt in range(1, _REPORT_ATTEMPTS + 1):
        try:
            events.ended(cancelled)
            return
        except ConcurrentUpdate:
            if attempt == _REPORT_ATTEMPTS:
                logger.warning("the end of a cancelled run could not be reported", extra={"run_id": cancelled.id})
                return
            time.sleep(0.25 * attempt)


_START_ATTEMPTS = 3


def _start_or_fail(caller: Caller, run: Run, services: RunServices) -> None:
    """Start the execution, retrying transient failures; a run that cannot be started is marked failed, not left
    queued."""
    for attempt in range(1, _START_ATTEMPTS + 1):
        try:
            services.executions.start(caller.org_id, run.id, workflow=run.workflow)
            return
        except Exception as exc:
            logger.warning(
                "starting the workflow failed",
                extra={"run_id": run.id, "attempt": attempt, "error": type(exc).__name__},
            )
            if attempt < _START_ATTEMPTS:
                time.sleep(0.2 * attempt)
                continue
            failed = services.runs.transition(
                caller.org_id,
                run.id,
                "failed",
                error={"code": "start_failed", "message": f"the workflow could not be started: {type(exc).__name__}"},
            )
            if services.events is not None:
                services.events.ended(failed)
            raise AgentlabError(
                f"run {failed.id} could not be started; it is marked failed", code="start_failed"
            ) from exc
