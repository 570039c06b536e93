"""Usage and cost: a run's cost by component, the org's roll-ups as the API answers them, its monthly budget."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentlab.models.common import MICRO_DOLLARS, USD_DIGITS, StrictInput

UsageGroupBy = Literal["day", "agent", "model", "schedule", "user"]
BUDGET_THRESHOLDS: tuple[int, ...] = (50, 80, 100)
_DIGITS = 10


class CostBreakdown(BaseModel):
    """USD by component: the model's tokens, the sandbox (Fargate vCPU- and GB-seconds), orchestration (Step
    Functions state transitions), Lambda (GB-seconds and requests), storage (DynamoDB and S3 requests)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    model: float = 0.0
    sandbox: float = 0.0
    orchestration: float = 0.0
    lambda_: float = Field(default=0.0, alias="lambda")
    storage: float = 0.0
    total: float = 0.0

    def with_model(self, model_usd: float) -> CostBreakdown:
        """The same platform figures with the model's part replaced, and the total summed again."""
        return summed(model_usd, self.sandbox, self.orchestration, self.lambda_, self.storage)

    def plus(self, other: CostBreakdown) -> CostBreakdown:
        return summed(
            self.model + other.model,
            self.sandbox + other.sandbox,
            self.orchestration + other.orchestration,
            self.lambda_ + other.lambda_,
            self.storage + other.storage,
        )


def summed(model: float, sandbox: float, orchestration: float, lambda_: float, storage: float) -> CostBreakdown:
    parts = [round(value, _DIGITS) for value in (model, sandbox, orchestration, lambda_, storage)]
    return CostBreakdown(
        model=parts[0],
        sandbox=parts[1],
        orchestration=parts[2],
        lambda_=parts[3],
        storage=parts[4],
        total=round(sum(parts), _DIGITS),
    )


class RunsByStatus(BaseModel):
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    budget_exceeded: int = 0


class UsageTotals(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost: CostBreakdown = Field(default_factory=CostBreakdown)
    # False when a run in these totals used a model without a price: the model cost counts the priced steps only.
    cost_known: bool = True
    runs: RunsByStatus = Field(default_factory=RunsByStatus)
    sandbox_seconds: float = 0.0
    state_transitions: int = 0


class UsageGroup(UsageTotals):
    key: str
    label: str


class UsageBudget(BaseModel):
    """The org's monthly budget (null: none), this month's spend so far and the alerts already sent this month."""

    monthly_usd: float | None = None
    month: str
    spent_usd: float = 0.0
    alerts_sent: list[int] = Field(default_factory=list)


class UsageReport(BaseModel):
    from_: str = Field(alias="from")
    to: str
    group_by: UsageGroupBy
    currency: Literal["USD"] = "USD"
    total: UsageTotals
    groups: list[UsageGroup]
    budget: UsageBudget

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)


class UsageBudgetUpdate(StrictInput):
    """The org's monthly budget in USD; null removes it."""

    monthly_usd: Annotated[float, Field(ge=10**-USD_DIGITS, le=10_000_000), MICRO_DOLLARS] | None = Field(...)
