from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from agentlab.models.common import MICRO_DOLLARS, StrictInput
from agentlab.models.repo import RepoTarget
from agentlab.models.usage import CostBreakdown

RunStatus = Literal["queued", "running", "waiting_approval", "succeeded", "failed", "cancelled", "budget_exceeded"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "budget_exceeded"})
StepType = Literal[
    "think", "critique", "execute", "evaluate", "approval", "error", "checkout", "detect", "phase", "discover"
]
Workflow = Literal["agent_run", "repo_optimize"]
EnvType = Literal["str", "int", "float", "bool", "json"]

# Which status may follow which: every write checks this and the stored revision.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "failed", "cancelled"}),
    "running": frozenset({"waiting_approval", "succeeded", "failed", "cancelled", "budget_exceeded"}),
    "waiting_approval": frozenset({"running", "failed", "cancelled", "budget_exceeded"}),
}

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
_RESERVED_ENV = re.compile(r"^(PATH|HOME|PWD|SHELL|USER|TMPDIR|LANG|LC_.*|LD_.*|PYTHON.*|AWS_.*|MPL.*|AGENTLAB_.*)$")
# What the document says of an env's names (checked by RunCreate._env_names).
ENV_NAMES_SCHEMA: dict[str, Any] = {
    "propertyNames": {"pattern": _ENV_NAME.pattern, "not": {"pattern": _RESERVED_ENV.pattern}}
}
MAX_ENV_VALUE_CHARS = 32_768
MAX_ENV_CHARS = 65_536
MAX_SCRIPT_CHARS = 200_000
# What the schema of each declared type says of `value`, as EnvVar checks it (JSON Schema's `integer` holds 3.0 too).
_ENV_VALUE_SCHEMAS: dict[str, dict[str, Any]] = {
    "str": {"type": "string", "maxLength": MAX_ENV_VALUE_CHARS},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
}


def _is_finite_double(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _has_empty_key(value: Any) -> bool:
    if isinstance(value, dict):
        return "" in value or any(_has_empty_key(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_empty_key(v) for v in value)
    return False


def _is_strict_json(value: Any) -> bool:
    """JSON as the sandbox will parse it: Python's encoder would otherwise write NaN/Infinity, which JSON has not."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


class EnvVar(StrictInput):
    """A typed environment variable for the sandbox; the value must match the declared type exactly."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {"if": {"properties": {"type": {"const": declared}}}, "then": {"properties": {"value": schema}}}
                for declared, schema in _ENV_VALUE_SCHEMAS.items()
            ]
        }
    )

    type: EnvType
    value: Any

    @model_validator(mode="after")
    def _value_matches_type(self) -> EnvVar:
        if self.type == "int" and isinstance(self.value, float) and self.value.is_integer():
            self.value = int(self.value)  # a JSON number without a fraction is an integer
        value, declared = self.value, self.type
        ok = {
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "json": True,
        }[declared]
        if not ok:
            raise ValueError(f"value {value!r} is not of declared type {declared}")
        if declared == "float" and not _is_finite_double(value):
            raise ValueError("float values must be finite numbers within the range of a double")
        if declared == "json" and not _is_strict_json(value):
            raise ValueError("json values must be plain JSON (no NaN or Infinity)")
        if declared == "json" and _has_empty_key(value):
            raise ValueError("json values cannot have an empty object key (the run is stored where keys need a name)")
        if len(self.rendered()) > MAX_ENV_VALUE_CHARS:
            raise ValueError(f"value is longer than {MAX_ENV_VALUE_CHARS} characters")
        return self

    def rendered(self) -> str:
        """The string the sandbox sees."""
        if self.type == "str":
            return str(self.value)
        if self.type == "bool":
            return "true" if self.value else "false"
        if self.type == "json":
            return json.dumps(self.value, separators=(",", ":"), allow_nan=False)
        return repr(self.value) if self.type == "float" else str(self.value)


class Goal(StrictInput):
    """When the work is done: a criterion judged by the model and/or a Python check run in the sandbox."""

    criterion: Annotated[str, StringConstraints(min_length=1, max_length=4_000)] | None = None
    check: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] | None = None


class Budget(StrictInput):
    """Overrides of the agent's limits for one run."""

    max_steps: int | None = Field(default=None, ge=1, le=200)
    max_tokens: int | None = Field(default=None, ge=1_000, le=10_000_000)
    max_cost_usd: Annotated[float, Field(ge=0, le=1_000), MICRO_DOLLARS] | None = None
    max_wall_s: int | None = Field(default=None, ge=10, le=86_400)


# The argument each scripted tool needs (a text, never null).
_SCRIPT_ARGUMENTS = {"python": "code", "request_approval": "reason", "finish": "answer"}


class ScriptAction(StrictInput):
    """One action of the scripted stand-in model."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"tool": {"const": tool}}},
                    "then": {"required": [needed], "properties": {needed: {"type": "string"}}},
                }
                for tool, needed in _SCRIPT_ARGUMENTS.items()
            ]
        }
    )

    tool: Literal["python", "request_approval", "finish"]
    code: Annotated[str, StringConstraints(max_length=50_000)] | None = None
    reason: Annotated[str, StringConstraints(max_length=2_000)] | None = None
    answer: Annotated[str, StringConstraints(max_length=20_000)] | None = None

    @model_validator(mode="after")
    def _has_its_argument(self) -> ScriptAction:
        needed = _SCRIPT_ARGUMENTS[self.tool]
        if getattr(self, needed) is None:
            raise ValueError(f"a {self.tool} action needs '{needed}'")
        return self


Ulid = Annotated[str, StringConstraints(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]


class RunCreate(StrictInput):
    """A run to start. Beyond its schema, the script's texts total at most MAX_SCRIPT_CHARS characters and the env's
    names and rendered values at most MAX_ENV_CHARS (a run is one DynamoDB item)."""

    agent_id: Ulid
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=50_000)]
    thread_id: Ulid | None = None
    file_ids: list[Ulid] = Field(default_factory=list, max_length=20, json_schema_extra={"uniqueItems": True})
    env: dict[str, EnvVar] = Field(
        default_factory=dict,
        max_length=50,
        json_schema_extra=ENV_NAMES_SCHEMA,
    )
    goal: Goal | None = None
    budget: Budget = Field(default_factory=Budget)
    script: list[ScriptAction] | None = Field(default=None, max_length=200)

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, EnvVar]) -> dict[str, EnvVar]:
        for name in env:
            # fullmatch: `$` alone would also let a trailing newline through
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"env name {name!r} must match {_ENV_NAME.pattern}")
            if _RESERVED_ENV.fullmatch(name):
                raise ValueError(f"env name {name!r} is reserved by the platform")
        return env

    @model_validator(mode="after")
    def _fits_in_a_record(self) -> RunCreate:
        # A run is one DynamoDB item (400 KB at most); the script and env travel with it.
        script_chars = sum(len(a.code or "") + len(a.reason or "") + len(a.answer or "") for a in self.script or [])
        if script_chars > MAX_SCRIPT_CHARS:
            raise ValueError(f"the script is {script_chars} characters; at most {MAX_SCRIPT_CHARS} are allowed")
        env_chars = sum(len(name) + len(var.rendered()) for name, var in self.env.items())
        if env_chars > MAX_ENV_CHARS:
            raise ValueError(f"env values total {env_chars} characters; at most {MAX_ENV_CHARS} are allowed")
        return self

    @field_validator("file_ids")
    @classmethod
    def _unique_files(cls, file_ids: list[str]) -> list[str]:
        if len(set(file_ids)) != len(file_ids):
            raise ValueError("file_ids must be unique")
        return file_ids


class Decision(StrictInput):
    """An approval or a rejection of a run that waits for one."""

    comment: Annotated[str, StringConstraints(max_length=4_000)] | None = None


class Usage(BaseModel):
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    # False once a step used a model without a price: cost_usd then only counts the priced steps.
    cost_known: bool = True
    sandbox_s: float = 0.0


class OutputRef(BaseModel):
    """Where the full text of a field lives when its record keeps only a preview (items hold at most 400 KB)."""

    key: str
    chars: int
    bytes: int
    # A presigned GET, filled in by the API; stored records have none.
    url: str | None = None


class RunError(BaseModel):
    code: str
    message: str


class Run(BaseModel):
    id: str
    org_id: str
    agent_id: str
    agent_version: int
    thread_id: str
    prompt: str
    file_ids: list[str] = Field(default_factory=list)
    env: dict[str, EnvVar] = Field(default_factory=dict)
    goal: Goal | None = None
    budget: Budget = Field(default_factory=Budget)
    script: list[ScriptAction] | None = None
    status: RunStatus = "queued"
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    usage: Usage = Field(default_factory=Usage)
    error: RunError | None = None
    result: str | None = None
    # Set when `result` is a preview of a longer answer.
    result_full: OutputRef | None = None
    isolation: str | None = None
    # The sandbox kernel that ran the run's last cell: a cell run by another kernel finds the earlier state gone.
    kernel_id: str | None = None
    created_by: str = ""
    revision: int = 1
    step_count: int = 0
    # The schedule whose fire started the run, if one did.
    schedule_id: str | None = None
    # The run's cost by component, set once it ended and was rolled up (agentlab/usage/rollup.py); usage.cost_usd
    # stays the model's part alone, which the budgets check.
    cost: CostBreakdown | None = None
    # Which state machine drives the run. A repo_optimize run has no agent (agent_id is empty) and works on `repo`;
    # its thread is the repository's, so that the repository's runs are listed by the thread index.
    workflow: Workflow = "agent_run"
    repo: RepoTarget | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class Step(BaseModel):
    run_id: str
    seq: int
    type: StepType
    created_at: datetime
    duration_ms: int = 0
    model_id: str | None = None
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    sandbox_s: float = 0.0
    detail: dict[str, Any] = Field(default_factory=dict)
    # Fields of `detail` that hold a preview, and where their full text is.
    full_output: dict[str, OutputRef] = Field(default_factory=dict)


class Artifact(BaseModel):
    id: str
    run_id: str
    org_id: str
    name: str
    content_type: str
    size: int
    sha256: str
    step_seq: int | None = None
    created_at: datetime
    url: str | None = None
