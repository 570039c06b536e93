"""A run's measured quantities turned into its cost by component, at the region's prices."""

from __future__ import annotations

from pydantic import BaseModel, NonNegativeFloat, NonNegativeInt

from agentlab.models.usage import CostBreakdown, summed
from agentlab.usage.prices import PlatformPrices

_SECONDS_PER_HOUR = 3_600
_MB_PER_GB = 1_024


class MeasuredUsage(BaseModel):
    """What a run used besides its model's tokens (whose cost the model's price table gives)."""

    model_usd: NonNegativeFloat = 0.0
    sandbox_vcpu_s: NonNegativeFloat = 0.0
    sandbox_gb_s: NonNegativeFloat = 0.0
    state_transitions: NonNegativeInt = 0
    lambda_gb_s: NonNegativeFloat = 0.0
    lambda_requests: NonNegativeInt = 0
    dynamodb_read_units: NonNegativeInt = 0
    dynamodb_write_units: NonNegativeInt = 0
    s3_puts: NonNegativeInt = 0
    s3_gets: NonNegativeInt = 0


def lambda_gb_seconds(duration_ms: float, memory_mb: int) -> float:
    """Lambda bills duration rounded up to the millisecond, times the configured memory."""
    billed_ms = -(-duration_ms // 1)
    return billed_ms / 1_000 * memory_mb / _MB_PER_GB


def sandbox_seconds(seconds: float, vcpus: float, memory_mb: int) -> tuple[float, float]:
    """vCPU-seconds and GB-seconds of `seconds` of a Fargate task of that size."""
    return seconds * vcpus, seconds * memory_mb / _MB_PER_GB


def cost_breakdown(used: MeasuredUsage, prices: PlatformPrices) -> CostBreakdown:
    sandbox = (
        used.sandbox_vcpu_s * prices.fargate_vcpu_hour + used.sandbox_gb_s * prices.fargate_gb_hour
    ) / _SECONDS_PER_HOUR
    orchestration = used.state_transitions * prices.state_transition
    lambda_ = used.lambda_gb_s * prices.lambda_gb_second + used.lambda_requests * prices.lambda_request
    storage = (
        used.dynamodb_read_units * prices.dynamodb_read_unit
        + used.dynamodb_write_units * prices.dynamodb_write_unit
        + (used.s3_puts * prices.s3_put_1000 + used.s3_gets * prices.s3_get_1000) / 1_000
    )
    return summed(used.model_usd, sandbox, orchestration, lambda_, storage)
