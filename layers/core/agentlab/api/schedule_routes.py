"""The schedule routes of the API: schedules, their fires, pausing and running now, and the expression preview.

The record is written first and then mirrored to EventBridge Scheduler (agentlab/schedules/scheduler.py); a mirror
that fails is put right by the janitor's reconciliation. Annotations are evaluated where the routes are defined, as
in api/routes.py."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from agentlab.api.common import Cursor, Deleted, Id, Limit, current_caller, json_response, page_size
from agentlab.api.deps import ApiDeps
from agentlab.api.docs import CONCURRENT, UNSTORABLE, FeatureDocs, Operation
from agentlab.errors import NotFound, Unprocessable
from agentlab.llm.pricing import require_priced
from agentlab.models import Caller, Page, Run, utc_now
from agentlab.models.run import Budget
from agentlab.models.schedule import (
    FORECAST_FIRES,
    Schedule,
    ScheduleCreate,
    ScheduleFire,
    SchedulePause,
    SchedulePreview,
    SchedulePreviewResult,
    ScheduleUpdate,
    check_expression,
)
from agentlab.schedules.scheduler import SchedulerSync
from agentlab.schedules.trigger import start_fire

_BASE = "/v1/schedules"
_ONE = "/v1/schedules/{schedule_id}"

_INVALID = {
    "invalid_expression": "the expression is not valid EventBridge Scheduler syntax, fires more often than the "
    "minimum interval, or (`at`) is in the past",
    "invalid_timezone": "the timezone is not an IANA timezone name",
}
_REFERENCES = {
    "agent_version_not_found": "the pinned `agent_version` does not exist for the agent",
    "unpriced_model": "a per-run `max_cost_usd` is set but a model of the agent has no price",
}
_NOT_FOUND_REFS = {
    "not_found": "the schedule does not exist in the caller's org; or (create, update) the agent or a file does not"
}

DOCS = FeatureDocs(
    operations={
        ("POST", _BASE): Operation(
            "Create a schedule",
            "Creates a schedule that starts a run of the agent at each fire of its `expression` (EventBridge "
            "Scheduler syntax: `cron(min hour dom month dow year)`, `rate(n unit)` or `at(yyyy-mm-ddThh:mm:ss)`) in "
            "its `timezone`. Unset, `agent_version` runs the agent's latest version. The answer shows the next five "
            "fire times and a description of the expression.",
            errors={404: _NOT_FOUND_REFS, 422: {**_INVALID, **_REFERENCES, **UNSTORABLE}},
        ),
        ("GET", _BASE): Operation("List schedules", "The org's schedules, newest first, each with its next fires."),
        ("GET", _ONE): Operation(
            "Show a schedule",
            "The schedule with its status (`active`, `paused` with `paused_reason`, `disabled`), consecutive failed "
            "runs, next five fire times and description.",
        ),
        ("PATCH", _ONE): Operation(
            "Update a schedule",
            "Changes the fields given; the others keep their values. With `expected_revision`, a schedule at "
            "another revision answers 409.",
            errors={404: _NOT_FOUND_REFS, 409: CONCURRENT, 422: {**_INVALID, **_REFERENCES, **UNSTORABLE}},
        ),
        ("DELETE", _ONE): Operation(
            "Delete a schedule",
            "Deletes the schedule and its fire history; runs it started stay.",
            errors={409: CONCURRENT},
        ),
        ("POST", f"{_ONE}/pause"): Operation(
            "Pause a schedule",
            "Stops the schedule's fires until it is resumed, with an optional reason shown as `paused_reason`.",
            errors={409: CONCURRENT},
        ),
        ("POST", f"{_ONE}/resume"): Operation(
            "Resume a schedule",
            "Lifts a pause (by a person or after failed runs in a row) and starts counting failures afresh.",
            errors={409: CONCURRENT},
        ),
        ("POST", f"{_ONE}/run-now"): Operation(
            "Run a schedule now",
            "Starts the schedule's run at once, as the caller, whatever its state and daily budget (org quotas "
            "apply), and records the fire.",
            errors={
                404: {"not_found": "the schedule, or its agent, version or a file, does not exist"},
                422: {"file_not_ready": "a file of the schedule is not ready", **_REFERENCES},
            },
        ),
        ("GET", f"{_ONE}/fires"): Operation(
            "List a schedule's fires",
            "Each fire of the schedule, newest first: `started` with its run, or `skipped` with the reason "
            "(`paused`, `disabled`, `daily_budget`, `org_quota`, `missed`, `start_failed`).",
        ),
        ("POST", f"{_BASE}/preview"): Operation(
            "Preview an expression",
            "Checks an expression in a timezone as a schedule would, and answers its description and next five fire "
            "times. Nothing is stored.",
            errors={422: _INVALID},
        ),
    },
    examples={
        "ScheduleCreate": {
            "name": "nightly digest",
            "agent_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1D2",
            "prompt": "Summarise yesterday's sales.",
            "expression": "cron(0 6 ? * MON-FRI *)",
            "timezone": "Europe/Paris",
            "daily_budget": {"max_runs": 2, "max_cost_usd": 1.0},
            "auto_pause_after": 3,
        },
        "ScheduleUpdate": {"expression": "cron(30 6 ? * MON-FRI *)", "expected_revision": 1},
        "SchedulePreview": {"expression": "rate(15 minutes)", "timezone": "UTC"},
        "SchedulePause": {"reason": "the source system is down for maintenance"},
        "Schedule": {
            "id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1S1",
            "org_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1O1",
            "created_by": "apikey:01J9Z8Q3V4W5X6Y7Z8A9B0C1K1",
            "created_at": "2026-12-01T10:00:00Z",
            "updated_at": "2026-12-01T10:00:00Z",
            "revision": 1,
            "name": "nightly digest",
            "agent_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1D2",
            "agent_version": None,
            "prompt": "Summarise yesterday's sales.",
            "file_ids": [],
            "env": {},
            "goal": None,
            "budget": {"max_steps": None, "max_tokens": None, "max_cost_usd": None, "max_wall_s": None},
            "expression": "cron(0 6 ? * MON-FRI *)",
            "timezone": "Europe/Paris",
            "enabled": True,
            "daily_budget": {"max_runs": 2, "max_cost_usd": 1.0, "max_sandbox_minutes": None},
            "auto_pause_after": 3,
            "status": "active",
            "paused_reason": None,
            "consecutive_failures": 0,
            "last_fire_at": None,
            "next_fires": [
                "2026-12-02T05:00:00Z",
                "2026-12-03T05:00:00Z",
                "2026-12-04T05:00:00Z",
                "2026-12-07T05:00:00Z",
                "2026-12-08T05:00:00Z",
            ],
            "description": "At 06:00, Monday through Friday (Europe/Paris)",
        },
        "ScheduleFire": {
            "schedule_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1S1",
            "scheduled_time": "2026-12-02T05:00:00Z",
            "recorded_at": "2026-12-02T05:00:01Z",
            "outcome": "started",
            "reason": None,
            "run_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1R1",
        },
        "SchedulePreviewResult": {
            "description": "every 15 minutes",
            "next_fires": [
                "2026-12-02T10:15:00Z",
                "2026-12-02T10:30:00Z",
                "2026-12-02T10:45:00Z",
                "2026-12-02T11:00:00Z",
                "2026-12-02T11:15:00Z",
            ],
        },
    },
    tags={"schedules": "Schedules: runs started on cron, rate or one-time expressions, under daily budgets."},
)


def check_references(
    deps: ApiDeps, org_id: str, agent_id: str, agent_version: int | None, file_ids: list[str], budget: Budget
) -> None:
    """The agent (and a pinned version) and the files exist in the org; a per-run cost budget has priced models."""
    agent = deps.agents.get(org_id, agent_id)
    if agent_version is not None:
        try:
            agent = deps.agents.get_version(org_id, agent_id, agent_version)
        except NotFound as exc:
            raise Unprocessable(
                f"agent {agent_id} has no version {agent_version}", code="agent_version_not_found"
            ) from exc
    for file_id in file_ids:
        deps.files.get(org_id, file_id)
    if budget.max_cost_usd is not None:
        settings = deps.settings
        require_priced(
            agent.model_refs(), settings.price_table(), settings.default_model_ref, budget="budget.max_cost_usd"
        )


def register(app: APIGatewayHttpResolver, deps: ApiDeps) -> None:
    sync = SchedulerSync(deps.settings, deps.clients)
    min_interval_s = deps.settings.schedule_min_interval_s

    def caller() -> Caller:
        return current_caller(app)

    @app.post(_BASE, tags=["schedules"], responses={201: {"description": "Created"}})
    def create_schedule(body: ScheduleCreate) -> Response[Schedule]:
        who = caller()
        check_expression(body, min_interval_s, utc_now())
        check_references(deps, who.org_id, body.agent_id, body.agent_version, body.file_ids, body.budget)
        schedule = deps.schedules.create(who.org_id, body, created_by=who.identity)
        sync.mirror(schedule)
        return json_response(schedule, 201)

    @app.get(_BASE, tags=["schedules"])
    def list_schedules(limit: Limit = None, cursor: Cursor = None) -> Page[Schedule]:
        page = deps.schedules.list(caller().org_id, limit=page_size(deps, limit), cursor=cursor)
        return Page[Schedule](items=page.items, next_cursor=page.next_cursor)

    @app.post(f"{_BASE}/preview", tags=["schedules"])
    def preview_schedule(body: SchedulePreview) -> SchedulePreviewResult:
        now = utc_now()
        parsed = check_expression(body, min_interval_s, now)
        return SchedulePreviewResult(description=parsed.describe(), next_fires=parsed.next_fires(now, FORECAST_FIRES))

    @app.get("/v1/schedules/<schedule_id>", tags=["schedules"])
    def get_schedule(schedule_id: Id) -> Schedule:
        return deps.schedules.get(caller().org_id, schedule_id)

    @app.patch("/v1/schedules/<schedule_id>", tags=["schedules"])
    def update_schedule(schedule_id: Id, body: ScheduleUpdate) -> Schedule:
        org_id = caller().org_id
        changed = body.model_fields_set

        def check(updated: Schedule) -> None:
            if changed & {"expression", "timezone"}:
                check_expression(updated, min_interval_s, utc_now())
            if changed & {"agent_id", "agent_version", "file_ids", "budget"}:
                check_references(
                    deps, org_id, updated.agent_id, updated.agent_version, updated.file_ids, updated.budget
                )

        schedule = deps.schedules.update(org_id, schedule_id, body, check=check)
        sync.mirror(schedule)
        return schedule

    @app.delete("/v1/schedules/<schedule_id>", tags=["schedules"])
    def delete_schedule(schedule_id: Id) -> Deleted:
        org_id = caller().org_id
        deps.schedules.delete(org_id, schedule_id)
        sync.forget(org_id, schedule_id)
        return Deleted(id=schedule_id)

    @app.post("/v1/schedules/<schedule_id>/pause", tags=["schedules"])
    def pause_schedule(schedule_id: Id, body: SchedulePause | None = None) -> Schedule:
        who = caller()
        reason = body.reason if body is not None and body.reason else f"paused by {who.identity}"
        schedule = deps.schedules.pause(who.org_id, schedule_id, reason)
        sync.mirror(schedule)
        return schedule

    @app.post("/v1/schedules/<schedule_id>/resume", tags=["schedules"])
    def resume_schedule(schedule_id: Id) -> Schedule:
        schedule = deps.schedules.resume(caller().org_id, schedule_id)
        sync.mirror(schedule)
        return schedule

    @app.post("/v1/schedules/<schedule_id>/run-now", tags=["schedules"], responses={201: {"description": "Created"}})
    def run_schedule_now(schedule_id: Id) -> Response[Run]:
        who = caller()
        schedule = deps.schedules.get(who.org_id, schedule_id)
        run, _ = start_fire(deps, schedule, utc_now(), caller=who)
        return json_response(run, 201)

    @app.get("/v1/schedules/<schedule_id>/fires", tags=["schedules"])
    def list_schedule_fires(schedule_id: Id, limit: Limit = None, cursor: Cursor = None) -> Page[ScheduleFire]:
        page = deps.schedules.list_fires(caller().org_id, schedule_id, limit=page_size(deps, limit), cursor=cursor)
        return Page[ScheduleFire](items=page.items, next_cursor=page.next_cursor)
