"""Schedules: a run to start on a cron, rate or at expression, under a daily budget, paused after failures in a row."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from annotated_types import MaxLen
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from agentlab.errors import Unprocessable
from agentlab.models.common import MICRO_DOLLARS, StrictInput, omittable
from agentlab.models.run import ENV_NAMES_SCHEMA, MAX_ENV_CHARS, Budget, EnvVar, Goal, RunCreate, Ulid
from agentlab.schedules.expressions import (
    MAX_EXPRESSION_LENGTH,
    MAX_TIMEZONE_LENGTH,
    ExpressionError,
    ScheduleExpression,
    parse_expression,
    timezones,
)

ScheduleStatus = Literal["active", "paused", "disabled"]
FireOutcome = Literal["started", "skipped"]
FireReason = Literal["paused", "disabled", "daily_budget", "org_quota", "missed", "duplicate", "start_failed"]

# How many upcoming fires a schedule shows.
FORECAST_FIRES = 5
DEFAULT_AUTO_PAUSE_AFTER = 3
MAX_FILE_IDS = 20
# A valid expression in every timezone, used to check a timezone apart from the expression it comes with.
_TIMEZONE_PROBE = "rate(1 day)"

# One line of text without control characters: the document states it as a pattern, and the server checks the same.
SINGLE_LINE = r"^[^\x00-\x1f\x7f]+$"
ScheduleName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=SINGLE_LINE)]
PauseReason = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=SINGLE_LINE)]
Prompt = Annotated[str, StringConstraints(min_length=1, max_length=50_000)]
Expression = Annotated[str, StringConstraints(min_length=1, max_length=MAX_EXPRESSION_LENGTH)]


def _timezone_names(schema: dict[str, Any]) -> None:
    schema["enum"] = list(timezones())


# An IANA name of the pinned tz database (listed in the document, and checked by check_expression).
Timezone = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TIMEZONE_LENGTH), Field(json_schema_extra=_timezone_names)
]
AutoPauseAfter = Annotated[int, Field(ge=1, le=100)]
# The same names, limits and document as a run's env: a fire hands them to create_run unchanged.
_ENV_FIELD = RunCreate.model_fields["env"]
_MAX_ENV_VARS = next(m.max_length for m in _ENV_FIELD.metadata if isinstance(m, MaxLen))


def _checked_env(env: dict[str, EnvVar] | None) -> dict[str, EnvVar] | None:
    if env is None:
        return None
    RunCreate._env_names(env)
    env_chars = sum(len(name) + len(var.rendered()) for name, var in env.items())
    if env_chars > MAX_ENV_CHARS:
        raise ValueError(f"env values total {env_chars} characters; at most {MAX_ENV_CHARS} are allowed")
    return env


def _unique_file_ids(file_ids: list[str] | None) -> list[str] | None:
    if file_ids is not None and len(set(file_ids)) != len(file_ids):
        raise ValueError("file_ids must be unique")
    return file_ids


class DailyBudget(StrictInput):
    """Limits per calendar day (in the schedule's timezone) over the runs the schedule starts; a fire beyond them is
    skipped. Unset, a limit does not apply."""

    max_runs: int | None = Field(default=None, ge=1, le=10_000)
    max_cost_usd: Annotated[float, Field(ge=0, le=100_000), MICRO_DOLLARS] | None = None
    max_sandbox_minutes: int | None = Field(default=None, ge=1, le=1_440 * 100)


class ScheduleCreate(StrictInput):
    """A schedule to create. The expression and timezone are checked by `check_expression`, which knows the
    platform's minimum interval; the schema alone cannot."""

    name: ScheduleName
    agent_id: Ulid
    # Unset, each fire runs the agent's latest version.
    agent_version: int | None = Field(default=None, ge=1)
    prompt: Prompt
    file_ids: list[Ulid] = Field(default_factory=list, max_length=MAX_FILE_IDS, json_schema_extra={"uniqueItems": True})
    env: dict[str, EnvVar] = Field(default_factory=dict, max_length=_MAX_ENV_VARS, json_schema_extra=ENV_NAMES_SCHEMA)
    goal: Goal | None = None
    # Per run.
    budget: Budget = Field(default_factory=Budget)
    expression: Expression
    timezone: Timezone = "UTC"
    enabled: bool = True
    daily_budget: DailyBudget = Field(default_factory=DailyBudget)
    auto_pause_after: AutoPauseAfter = DEFAULT_AUTO_PAUSE_AFTER

    _env_is_valid = field_validator("env")(_checked_env)
    _file_ids_are_unique = field_validator("file_ids")(_unique_file_ids)


class ScheduleUpdate(StrictInput):
    """A partial update: a field left out keeps its value; null is refused (null `expected_revision`: no guard)."""

    name: ScheduleName | None = omittable()
    agent_id: Ulid | None = omittable()
    agent_version: int | None = omittable(ge=1)
    prompt: Prompt | None = omittable()
    file_ids: list[Ulid] | None = omittable(max_length=MAX_FILE_IDS, schema_extra={"uniqueItems": True})
    env: dict[str, EnvVar] | None = omittable(max_length=_MAX_ENV_VARS, schema_extra=ENV_NAMES_SCHEMA)
    goal: Goal | None = omittable()
    budget: Budget | None = omittable()
    expression: Expression | None = omittable()
    timezone: Timezone | None = omittable()
    enabled: bool | None = omittable()
    daily_budget: DailyBudget | None = omittable()
    auto_pause_after: int | None = omittable(ge=1, le=100)
    expected_revision: int | None = Field(default=None, ge=1)

    _env_is_valid = field_validator("env")(_checked_env)
    _file_ids_are_unique = field_validator("file_ids")(_unique_file_ids)


class Schedule(BaseModel):
    """A schedule as stored and shown. `status` follows from `enabled` and `paused_reason`; `next_fires` and
    `description` are computed from the expression when read (see `forecast`), never stored."""

    # A stored record read back from the table (times as text), not a request body.
    model_config = ConfigDict(strict=False)

    id: str
    org_id: str
    created_by: str = ""
    created_at: AwareDatetime
    updated_at: AwareDatetime
    revision: int = 1
    name: str
    agent_id: str
    agent_version: int | None = None
    prompt: str
    file_ids: list[str] = Field(default_factory=list)
    env: dict[str, EnvVar] = Field(default_factory=dict)
    goal: Goal | None = None
    budget: Budget = Field(default_factory=Budget)
    expression: str
    timezone: str = "UTC"
    enabled: bool = True
    daily_budget: DailyBudget = Field(default_factory=DailyBudget)
    auto_pause_after: int = DEFAULT_AUTO_PAUSE_AFTER
    status: ScheduleStatus = "active"
    paused_reason: str | None = None
    consecutive_failures: int = 0
    last_fire_at: AwareDatetime | None = None
    next_fires: list[AwareDatetime] = Field(default_factory=list)
    description: str = ""

    @model_validator(mode="after")
    def _status_follows_state(self) -> Schedule:
        status: ScheduleStatus = "disabled" if not self.enabled else "paused" if self.paused_reason else "active"
        # Set without assignment validation: this validator would run again.
        object.__setattr__(self, "status", status)
        return self

    def forecast(self, now: datetime) -> Schedule:
        """This schedule with its next fires after `now` and its description.

        The expression is read as of `created_at`: it was checked then (an `at` lay ahead of it), and a rate counts
        from it. A stored expression this version cannot read shows no fires rather than failing the read."""
        try:
            parsed = parse_expression(self.expression, self.timezone, min_interval_s=0, now=self.created_at)
        except ExpressionError:
            return self.model_copy(update={"next_fires": [], "description": ""})
        return self.model_copy(
            update={"next_fires": parsed.next_fires(now, FORECAST_FIRES), "description": parsed.describe()}
        )


class ScheduleFire(BaseModel):
    """One fire of a schedule: a run started, or skipped and why. One per (schedule, scheduled time)."""

    model_config = ConfigDict(strict=False)

    schedule_id: str
    scheduled_time: AwareDatetime
    recorded_at: AwareDatetime
    outcome: FireOutcome
    reason: FireReason | None = None
    run_id: str | None = None


class SchedulePreview(StrictInput):
    """An expression to check and describe before a schedule is saved."""

    expression: Expression
    timezone: Timezone = "UTC"


class SchedulePreviewResult(BaseModel):
    description: str
    next_fires: list[AwareDatetime]


class SchedulePause(StrictInput):
    reason: PauseReason | None = omittable()


def check_expression(
    body: ScheduleCreate | Schedule | SchedulePreview, min_interval_s: int, now: datetime
) -> ScheduleExpression:
    """The body's expression, checked in its timezone against the platform's minimum interval; raises Unprocessable
    (`invalid_timezone` or `invalid_expression`) with the reason."""
    try:
        parse_expression(_TIMEZONE_PROBE, body.timezone, min_interval_s=0, now=now)
    except ExpressionError as error:
        raise Unprocessable(str(error), code="invalid_timezone") from error
    try:
        return parse_expression(body.expression, body.timezone, min_interval_s=min_interval_s, now=now)
    except ExpressionError as error:
        raise Unprocessable(str(error), code="invalid_expression") from error
