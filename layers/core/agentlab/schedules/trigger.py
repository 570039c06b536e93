"""A schedule's fire: EventBridge Scheduler (or the local ticker) names a schedule and a scheduled time; the fire
either starts a run or records why it was skipped.

The run starts through the API's own `start_run` (org quotas checked, the run counted) with the idempotency key
`schedule:<id>:<scheduled time>`, and the fire is recorded once per scheduled time: a duplicate delivery finds the
fire, or the run under the key, and never starts a second run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from aws_lambda_powertools import Logger
from pydantic import AwareDatetime, BaseModel, StringConstraints

from agentlab.errors import Conflict, NotFound, RateLimited, Unprocessable
from agentlab.models import Caller, Run, RunCreate
from agentlab.models.schedule import FireOutcome, FireReason, Schedule
from agentlab.store.schedules import RecordedFire

if TYPE_CHECKING:
    # The API's dependencies are built by the caller; importing them here would load every store at import.
    from agentlab.api.deps import ApiDeps

logger = Logger(service="agentlab-schedule-trigger")

# The role a fire acts with in the schedule's org: enough to start a run, nothing more.
FIRE_ROLE = "member"
_KEY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# The fields of a schedule that make up the runs it starts.
_RUN_FIELDS = {"agent_id", "prompt", "file_ids", "env", "goal", "budget"}

OrgId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ScheduleId = Annotated[str, StringConstraints(min_length=26, max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]


class TriggerEvent(BaseModel):
    """What Scheduler sends (the target's Input with `<aws.scheduler.scheduled-time>` filled in), and the ticker."""

    org_id: OrgId
    schedule_id: ScheduleId
    scheduled_time: AwareDatetime


class FireResult(BaseModel):
    schedule_id: str
    scheduled_time: datetime
    outcome: FireOutcome | None
    reason: FireReason | None = None
    run_id: str | None = None
    # True when this scheduled time had fired before: the result is that first fire.
    duplicate: bool = False
    detail: str | None = None


def idempotency_key(schedule_id: str, scheduled_time: datetime) -> str:
    return f"schedule:{schedule_id}:{scheduled_time.astimezone(UTC).strftime(_KEY_TIME_FORMAT)}"


def run_body(schedule: Schedule) -> RunCreate:
    """The run a fire of the schedule starts."""
    return RunCreate.model_validate(schedule.model_dump(include=_RUN_FIELDS))


def fire_caller(schedule: Schedule) -> Caller:
    """The schedule's creator, in the schedule's org, with the rights to start a run."""
    return Caller(org_id=schedule.org_id, identity=schedule.created_by or f"schedule:{schedule.id}", role=FIRE_ROLE)


def daily_budget_spent(deps: ApiDeps, schedule: Schedule, scheduled_time: datetime) -> str | None:
    """Why the schedule's daily budget allows no more runs on the scheduled time's day (in its timezone), or None."""
    budget = schedule.daily_budget
    if budget.max_runs is None and budget.max_cost_usd is None and budget.max_sandbox_minutes is None:
        return None
    day = scheduled_time.astimezone(ZoneInfo(schedule.timezone)).date()
    started = [f for f in deps.schedules.fires_on(schedule.org_id, schedule.id, day) if f.outcome == "started"]
    if budget.max_runs is not None and len(started) >= budget.max_runs:
        return f"{len(started)} runs on {day} reach the daily budget of {budget.max_runs}"
    if budget.max_cost_usd is None and budget.max_sandbox_minutes is None:
        return None
    runs: list[Run] = []
    for fire in started:
        if fire.run_id is None:
            continue
        try:
            runs.append(deps.runs.get(schedule.org_id, fire.run_id))
        except NotFound:
            continue
    cost = sum(run.usage.cost_usd for run in runs)
    if budget.max_cost_usd is not None and cost >= budget.max_cost_usd:
        return f"runs on {day} cost {cost:.4f} USD, reaching the daily budget of {budget.max_cost_usd} USD"
    minutes = sum(run.usage.sandbox_s for run in runs) / 60
    if budget.max_sandbox_minutes is not None and minutes >= budget.max_sandbox_minutes:
        limit = budget.max_sandbox_minutes
        return f"runs on {day} used {minutes:.1f} sandbox minutes, reaching the daily budget of {limit}"
    return None


def start_fire(
    deps: ApiDeps, schedule: Schedule, scheduled_time: datetime, *, caller: Caller | None = None
) -> tuple[Run, RecordedFire]:
    """Start the schedule's run for `scheduled_time` and record the fire `started`. Raises what `start_run` raises."""
    run, _ = deps.start_run(
        caller or fire_caller(schedule),
        run_body(schedule),
        idempotency_key(schedule.id, scheduled_time),
        agent_version=schedule.agent_version,
        schedule_id=schedule.id,
    )
    recorded = deps.schedules.record_fire(
        schedule.org_id, schedule.id, scheduled_time, outcome="started", run_id=run.id
    )
    return run, recorded


def fire_schedule(deps: ApiDeps, event: TriggerEvent) -> FireResult:
    """One fire: a run started, or a skip recorded with its reason."""
    org_id, schedule_id, at = event.org_id, event.schedule_id, event.scheduled_time
    try:
        schedule = deps.schedules.get(org_id, schedule_id)
    except NotFound:
        # Deleted since the fire was scheduled: nothing to record it on, and nothing a retry would change.
        logger.info("a fire of a deleted schedule", extra={"org_id": org_id, "schedule_id": schedule_id})
        return FireResult(schedule_id=schedule_id, scheduled_time=at, outcome=None, detail="schedule not found")
    earlier = deps.schedules.get_fire(org_id, schedule_id, at)
    if earlier is not None:
        return _result(RecordedFire(earlier, duplicate=True))

    reason: FireReason | None = None
    detail: str | None = None
    if not schedule.enabled:
        reason = "disabled"
    elif schedule.paused_reason is not None:
        reason, detail = "paused", schedule.paused_reason
    else:
        detail = daily_budget_spent(deps, schedule, at)
        reason = "daily_budget" if detail else None
    if reason is None:
        try:
            _, recorded = start_fire(deps, schedule, at)
            return _result(recorded)
        except RateLimited as exc:
            reason, detail = "org_quota", exc.message
        except (NotFound, Unprocessable, Conflict) as exc:
            # The agent, a version or a file is gone, or the schedule changed under the key: no retry helps.
            reason, detail = "start_failed", exc.message
    logger.info("a fire was skipped", extra={"schedule_id": schedule_id, "reason": reason, "detail": detail})
    recorded = deps.schedules.record_fire(org_id, schedule_id, at, outcome="skipped", reason=reason)
    return _result(recorded, detail)


def _result(recorded: RecordedFire, detail: str | None = None) -> FireResult:
    fire = recorded.fire
    return FireResult(
        schedule_id=fire.schedule_id,
        scheduled_time=fire.scheduled_time,
        outcome=fire.outcome,
        reason=fire.reason,
        run_id=fire.run_id,
        duplicate=recorded.duplicate,
        detail=detail,
    )


def handle(deps: ApiDeps, event: dict[str, Any]) -> dict[str, Any]:
    """The trigger function's work: the event parsed, the fire made, its result as JSON."""
    return fire_schedule(deps, TriggerEvent.model_validate(event)).model_dump(mode="json")
