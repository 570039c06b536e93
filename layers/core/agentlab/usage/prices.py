"""AWS prices of what a run uses besides its model, as data: each figure with its unit, its source and the date it was
read. The stack runs Lambda and Fargate on arm64 (Graviton), Linux; Step Functions Standard; DynamoDB on demand; S3
Standard. A deployment replaces any figure with AGENTLAB_PLATFORM_PRICES (JSON: {"lambda_gb_second": 0.0000166667}).

AWS changes prices: re-check the pages below and override where they differ.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
# When the figures were entered; they are the list prices as published then, not fetched by the platform.
READ_ON = "2026-12-02"
FARGATE_PAGE = "https://aws.amazon.com/fargate/pricing/"
STEP_FUNCTIONS_PAGE = "https://aws.amazon.com/step-functions/pricing/"
LAMBDA_PAGE = "https://aws.amazon.com/lambda/pricing/"
DYNAMODB_PAGE = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
S3_PAGE = "https://aws.amazon.com/s3/pricing/"


class PriceSource(NamedTuple):
    usd: float
    unit: str
    source: str
    read_on: str


# The list prices of the US regions, which share these figures.
_US_PRICES: dict[str, PriceSource] = {
    "fargate_vcpu_hour": PriceSource(0.03238, "vCPU-hour, Linux/ARM", FARGATE_PAGE, READ_ON),
    "fargate_gb_hour": PriceSource(0.00356, "GB-hour, Linux/ARM", FARGATE_PAGE, READ_ON),
    "state_transition": PriceSource(
        0.000025, "Standard workflow state transition ($0.025 per 1,000)", STEP_FUNCTIONS_PAGE, READ_ON
    ),
    "lambda_gb_second": PriceSource(0.0000133334, "GB-second of duration, arm64", LAMBDA_PAGE, READ_ON),
    "lambda_request": PriceSource(0.0000002, "request ($0.20 per million)", LAMBDA_PAGE, READ_ON),
    "dynamodb_read_unit": PriceSource(
        0.000000125, "on-demand read request unit ($0.125 per million)", DYNAMODB_PAGE, READ_ON
    ),
    "dynamodb_write_unit": PriceSource(
        0.000000625, "on-demand write request unit ($0.625 per million)", DYNAMODB_PAGE, READ_ON
    ),
    "s3_put_1000": PriceSource(0.005, "1,000 PUT, COPY, POST or LIST requests, S3 Standard", S3_PAGE, READ_ON),
    "s3_get_1000": PriceSource(0.0004, "1,000 GET and other requests, S3 Standard", S3_PAGE, READ_ON),
}

PRICE_DATA: dict[str, dict[str, PriceSource]] = {
    "us-east-1": _US_PRICES,
    "us-east-2": _US_PRICES,
    "us-west-2": _US_PRICES,
}


class PlatformPrices(BaseModel):
    """USD per unit of what a run uses, for one region."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str = DEFAULT_REGION
    fargate_vcpu_hour: NonNegativeFloat
    fargate_gb_hour: NonNegativeFloat
    state_transition: NonNegativeFloat
    lambda_gb_second: NonNegativeFloat
    lambda_request: NonNegativeFloat
    dynamodb_read_unit: NonNegativeFloat
    dynamodb_write_unit: NonNegativeFloat
    s3_put_1000: NonNegativeFloat
    s3_get_1000: NonNegativeFloat


class PlatformPriceSettings(BaseSettings):
    """The deployment's own figures (AGENTLAB_PLATFORM_PRICES, JSON), replacing the built-in ones by name."""

    model_config = SettingsConfigDict(env_prefix="AGENTLAB_", extra="ignore")

    platform_prices: dict[str, NonNegativeFloat] = Field(default_factory=dict)


def prices_for(region: str, overrides: dict[str, float] | None = None) -> PlatformPrices:
    """The prices of `region` (those of us-east-1 for a region the table lacks), with `overrides` on top."""
    data = PRICE_DATA.get(region)
    if data is None:
        logger.warning("no platform prices for region %s; the figures of %s are used", region, DEFAULT_REGION)
        data = PRICE_DATA[DEFAULT_REGION]
    figures: dict[str, Any] = {name: source.usd for name, source in data.items()}
    figures.update(overrides or {})
    return PlatformPrices(region=region, **figures)


@cache
def configured_prices(region: str) -> PlatformPrices:
    """The prices of the process's region with the deployment's overrides, read once per process."""
    return prices_for(region, PlatformPriceSettings().platform_prices)
