from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from agentlab.models.common import MICRO_DOLLARS, StrictInput, omittable

ToolName = Literal["python", "list_files", "read_file", "request_approval", "finish"]
ALL_TOOLS: list[ToolName] = ["python", "list_files", "read_file", "request_approval", "finish"]

# "default" is the platform's configured model; otherwise "<provider>:<model id>" or "scripted". ASCII classes only,
# so that every regex engine (the server's, a client's JavaScript) reads the pattern the same way.
MODEL_REF_PATTERN = r"^(default|scripted|(bedrock|openai):[A-Za-z0-9_.:/@-]+)$"
ModelRef = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=MODEL_REF_PATTERN)]
# A cell, the start of a Fargate task (SANDBOX_START_TIMEOUT_S) and a margin fit the 900 s of the step function that
# runs it.
MAX_CELL_TIMEOUT_S = 600
DEFAULT_MAX_COST_USD = 5.0
AgentName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


class AgentModels(StrictInput):
    """Models per role, each an ordered fallback list."""

    reasoning: list[ModelRef] = Field(default_factory=lambda: ["default"], min_length=1, max_length=5)
    code: list[ModelRef] = Field(default_factory=list, max_length=5)
    vision: list[ModelRef] = Field(default_factory=list, max_length=5)


class AgentLimits(StrictInput):
    max_steps: int = Field(default=20, ge=1, le=200)
    max_tokens: int = Field(default=200_000, ge=1_000, le=10_000_000)
    # Unset, the platform's default cost budget applies to priced models; set, every model of the agent must have a
    # price (a budget that cannot be checked is refused rather than silently skipped).
    max_cost_usd: Annotated[float, Field(ge=0, le=1_000), MICRO_DOLLARS] | None = None
    max_wall_s: int = Field(default=1_800, ge=10, le=86_400)
    cell_timeout_s: int = Field(default=120, ge=1, le=MAX_CELL_TIMEOUT_S)
    sandbox_cpu: float = Field(default=1.0, ge=0.25, le=4)
    sandbox_memory_mb: int = Field(default=1_024, ge=256, le=8_192)
    # Tokens the model may write in one reply; unset, each model's own default applies.
    max_output_tokens: int | None = Field(default=None, ge=64, le=128_000)


CriticMode = Literal["enforce", "warn", "off"]


class CriticSettings(StrictInput):
    """Per-agent changes to the platform's import/call policy, and how strictly it applies.

    `enforce` (the default) never runs blocked code; `warn` records the findings and runs the code anyway; `off` skips
    the critic. The sandbox contains hostile code in every mode: the critic is a first line, not the boundary.
    """

    mode: CriticMode = "enforce"
    allow_imports: list[Annotated[str, StringConstraints(max_length=100)]] = Field(default_factory=list, max_length=50)
    forbid_imports: list[Annotated[str, StringConstraints(max_length=100)]] = Field(default_factory=list, max_length=50)
    # Forbidden calls (as the policy names them, e.g. "os.system" or "subprocess.*") this agent may use.
    allow_calls: list[Annotated[str, StringConstraints(max_length=100)]] = Field(default_factory=list, max_length=50)


class AgentSpec(StrictInput):
    name: AgentName
    description: Annotated[str, StringConstraints(max_length=2_000)] = ""
    system_prompt: Annotated[str, StringConstraints(max_length=20_000)] = ""
    models: AgentModels = Field(default_factory=AgentModels)
    tools: list[ToolName] = Field(default_factory=lambda: list(ALL_TOOLS))
    limits: AgentLimits = Field(default_factory=AgentLimits)
    critic: CriticSettings = Field(default_factory=CriticSettings)

    def model_refs(self) -> list[str]:
        """Every model reference of every role."""
        return [*self.models.reasoning, *self.models.code, *self.models.vision]

    @field_validator("tools")
    @classmethod
    def _finish_is_always_available(cls, tools: list[ToolName]) -> list[ToolName]:
        unique = list(dict.fromkeys(tools))
        if "finish" not in unique:
            unique.append("finish")
        return unique


class AgentCreate(AgentSpec):
    pass


class AgentUpdate(StrictInput):
    """A partial update; every update makes a new version. `expected_version` guards against lost updates.

    A field left out keeps its value; null is not a value any agent field can take (null `expected_version`: no
    guard)."""

    name: AgentName | None = omittable()
    description: Annotated[str, StringConstraints(max_length=2_000)] | None = omittable()
    system_prompt: Annotated[str, StringConstraints(max_length=20_000)] | None = omittable()
    models: AgentModels | None = omittable()
    tools: list[ToolName] | None = omittable()
    limits: AgentLimits | None = omittable()
    critic: CriticSettings | None = omittable()
    expected_version: int | None = Field(default=None, ge=1)


class Agent(AgentSpec):
    # A stored record read back from the table (times as text), not a request body.
    model_config = ConfigDict(strict=False)

    id: str
    org_id: str
    version: int
    created_at: datetime
    updated_at: datetime


class AgentVersion(Agent):
    """An immutable snapshot: runs pin the version they started with."""
