"""The platform cost of a run from the price data, and the transitions per step from the ASL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentlab.models.usage import CostBreakdown
from agentlab.usage.costs import MeasuredUsage, cost_breakdown, lambda_gb_seconds, sandbox_seconds
from agentlab.usage.prices import PRICE_DATA, prices_for
from agentlab.usage.transitions import AGENT_RUN_TRANSITIONS, transitions_per_step

ROOT = Path(__file__).resolve().parents[2]


def test_every_price_has_a_source_and_a_date() -> None:
    for region, figures in PRICE_DATA.items():
        for name, figure in figures.items():
            assert figure.source.startswith("https://aws.amazon.com/"), (region, name)
            assert figure.read_on and figure.usd >= 0, (region, name)


def test_the_breakdown_is_the_quantities_times_the_prices() -> None:
    # Given one hour of a 1 vCPU, 2 GB task, 1,000 transitions, 1,000 GB-s and 1,000 invocations, and storage requests
    prices = prices_for("us-east-1")
    vcpu_s, gb_s = sandbox_seconds(3_600, 1.0, 2_048)
    used = MeasuredUsage(
        model_usd=0.5,
        sandbox_vcpu_s=vcpu_s,
        sandbox_gb_s=gb_s,
        state_transitions=1_000,
        lambda_gb_s=1_000,
        lambda_requests=1_000,
        dynamodb_read_units=1_000_000,
        dynamodb_write_units=1_000_000,
        s3_puts=1_000,
        s3_gets=1_000,
    )
    # When it is priced
    cost = cost_breakdown(used, prices)
    # Then each component is its quantities at the published figures, and the total is their sum
    assert cost.sandbox == pytest.approx(0.03238 + 2 * 0.00356)
    assert cost.orchestration == pytest.approx(0.025)
    assert cost.lambda_ == pytest.approx(1_000 * 0.0000133334 + 1_000 * 0.0000002)
    assert cost.storage == pytest.approx(0.125 + 0.625 + 0.005 + 0.0004)
    assert cost.model == 0.5
    assert cost.total == pytest.approx(cost.model + cost.sandbox + cost.orchestration + cost.lambda_ + cost.storage)


def test_overrides_replace_a_figure_and_an_unknown_region_takes_us_east_1() -> None:
    assert prices_for("us-east-1", {"lambda_gb_second": 0.0000166667}).lambda_gb_second == 0.0000166667
    assert prices_for("xx-nowhere-1").state_transition == prices_for("us-east-1").state_transition


def test_lambda_duration_is_billed_by_the_millisecond_times_memory() -> None:
    assert lambda_gb_seconds(1_500.2, 1_024) == pytest.approx(1.501)
    assert lambda_gb_seconds(100, 512) == pytest.approx(0.05)


def test_the_breakdown_is_answered_with_lambda_as_its_json_name() -> None:
    cost = CostBreakdown(lambda_=0.25).with_model(0.5)
    dumped = cost.model_dump(mode="json")
    assert dumped["lambda"] == 0.25 and dumped["total"] == 0.75 and "lambda_" not in dumped
    assert CostBreakdown.model_validate(dumped) == cost
    assert cost.plus(cost).total == 1.5


def test_the_transitions_per_step_match_the_agent_run_asl() -> None:
    definition = json.loads((ROOT / "statemachines" / "agent_run.asl.json").read_text())
    assert transitions_per_step(definition) == AGENT_RUN_TRANSITIONS


def test_the_meter_prices_the_memory_the_stack_gives_its_functions() -> None:
    # The CDK app keeps its own constants; the layer's copy must not drift from them.
    import sys

    sys.path.insert(0, str(ROOT / "cdk"))
    config = pytest.importorskip("agentlab_cdk.config")
    from agentlab.usage.sizes import API_MEMORY_MB, STEP_MEMORY_MB

    assert (config.STEP_MEMORY_MB, config.API_MEMORY_MB) == (STEP_MEMORY_MB, API_MEMORY_MB)
    assert config.ARCHITECTURE.name == "arm64"
