"""The roll-up arithmetic: a run's measured quantities and transitions, its shares per dimension that always sum to the
run, the counters an item keeps, the budget's thresholds, and the report's range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from agentlab.api.usage_routes import MAX_DAYS, report_range
from agentlab.errors import Unprocessable
from agentlab.models import Run
from agentlab.models.run import Step, Usage
from agentlab.models.usage import CostBreakdown, RunsByStatus, UsageTotals
from agentlab.sandbox.fargate import cpu_units, task_size
from agentlab.sandbox.models import SandboxLimits
from agentlab.store.usage import LambdaMeter, counters, totals_of
from agentlab.usage.costs import cost_breakdown
from agentlab.usage.prices import prices_for
from agentlab.usage.rollup import (
    DYNAMODB_WRITE_UNITS_PER_RUN,
    DYNAMODB_WRITE_UNITS_PER_STEP,
    NONE_KEY,
    add_totals,
    contributions,
    crossed_thresholds,
    measured_usage,
    month_days,
    run_cost,
    state_transitions,
    usage_day,
)
from agentlab.usage.sizes import SANDBOX_TASK_MEMORY_MB, SANDBOX_TASK_VCPUS
from agentlab.usage.transitions import AGENT_RUN_TRANSITIONS

ENDED = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
PRICES = prices_for("us-east-1")


def a_run(**fields: Any) -> Run:
    values: dict[str, Any] = {
        "id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1R1",
        "org_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1O1",
        "agent_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1D2",
        "agent_version": 1,
        "thread_id": "01J9Z8Q3V4W5X6Y7Z8A9B0C1T1",
        "prompt": "go",
        "status": "succeeded",
        "created_at": ENDED - timedelta(minutes=5),
        "updated_at": ENDED,
        "started_at": ENDED - timedelta(minutes=5),
        "ended_at": ENDED,
        "created_by": "apikey:01J9Z8Q3V4W5X6Y7Z8A9B0C1K1",
        "usage": Usage(steps=2, input_tokens=300, output_tokens=60, cost_usd=0.004, sandbox_s=12.5),
    }
    values.update(fields)
    return Run(**values)


def a_step(seq: int, kind: str, model: str | None = None, tokens: tuple[int, int] = (0, 0), cost: float = 0) -> Step:
    return Step(
        run_id="01J9Z8Q3V4W5X6Y7Z8A9B0C1R1",
        seq=seq,
        type=kind,
        created_at=ENDED,
        model_id=model,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=cost,
    )


STEPS = [
    a_step(1, "think", "bedrock:big", (200, 40), 0.003),
    a_step(2, "critique"),
    a_step(3, "execute"),
    a_step(4, "think", "bedrock:small", (100, 20), 0.001),
    a_step(5, "evaluate"),
]


def test_the_sandbox_task_size_is_the_stacks_default_task() -> None:
    limits = SandboxLimits()
    cpu, memory = task_size(cpu_units(limits.cpu), limits.memory_mb)
    assert (cpu, memory) == (SANDBOX_TASK_VCPUS * 1_024, SANDBOX_TASK_MEMORY_MB)


def test_transitions_count_the_functions_the_steps_show_with_prepare_and_the_end() -> None:
    per = AGENT_RUN_TRANSITIONS
    # The critique and the cell it let run are one Execute invocation
    assert state_transitions(a_run(), STEPS) == (
        per["prepare"] + 2 * per["think"] + per["execute"] + per["evaluate"] + per["finalize"]
    )
    failed = [*STEPS[:3], a_step(4, "error")]
    assert state_transitions(a_run(status="failed"), failed) == (
        per["prepare"] + per["think"] + per["execute"] + per["record_failure"]
    )
    # A critique that blocked its cell ended its Execute invocation there, as one at the very end of the steps does
    blocked = [STEPS[0], a_step(2, "critique"), a_step(3, "think"), a_step(4, "critique")]
    assert state_transitions(a_run(status="failed"), blocked) == (
        per["prepare"] + 2 * per["think"] + 2 * per["execute"] + per["record_failure"]
    )
    # A run that never started ran no execution
    assert state_transitions(a_run(status="failed", started_at=None), []) == 0


def test_the_measured_usage_prices_the_sandbox_on_the_task_and_lambda_from_the_meter() -> None:
    used = measured_usage(a_run(), STEPS, LambdaMeter(lambda_ms=2_500, invocations=7))
    assert used.model_usd == 0.004
    assert used.sandbox_vcpu_s == pytest.approx(12.5 * SANDBOX_TASK_VCPUS)
    assert used.sandbox_gb_s == pytest.approx(12.5 * SANDBOX_TASK_MEMORY_MB / 1_024)
    assert used.lambda_gb_s == pytest.approx(2.5)  # 2.5 s at 1,024 MB
    assert used.lambda_requests == 7
    assert used.dynamodb_write_units == 5 * DYNAMODB_WRITE_UNITS_PER_STEP + DYNAMODB_WRITE_UNITS_PER_RUN
    cost = run_cost(a_run(), STEPS, LambdaMeter(lambda_ms=2_500, invocations=7), PRICES)
    assert cost == cost_breakdown(used, PRICES)
    assert cost.model == 0.004 and min(cost.sandbox, cost.orchestration, cost.lambda_, cost.storage) > 0


def test_every_dimension_of_a_run_sums_to_the_run() -> None:
    run = a_run(schedule_id="01J9Z8Q3V4W5X6Y7Z8A9B0C1S1")
    cost = run_cost(run, STEPS, LambdaMeter(lambda_ms=900, invocations=6), PRICES)

    added = contributions(run, STEPS, cost)

    assert {key for key in added if key[0] != "model"} == {
        ("day", "2026-12-02"),
        ("agent", run.agent_id),
        ("schedule", "01J9Z8Q3V4W5X6Y7Z8A9B0C1S1"),
        ("user", run.created_by),
    }
    for dimension in ("day", "agent", "model", "schedule", "user"):
        shares = [totals for (dim, _), totals in added.items() if dim == dimension]
        summed = shares[0]
        for share in shares[1:]:
            summed = add_totals(summed, share)
        assert summed.cost.total == pytest.approx(cost.total), dimension
        assert (summed.input_tokens, summed.output_tokens) == (300, 60), dimension
        assert summed.runs == RunsByStatus(succeeded=1), dimension
        assert summed.sandbox_seconds == 12.5 and summed.state_transitions == state_transitions(run, STEPS)
    # The run and its platform cost go to the model of most steps (the first, on a tie); the other has its own part
    big, small = added[("model", "bedrock:big")], added[("model", "bedrock:small")]
    assert small.cost == CostBreakdown(model=0.001, total=0.001) and small.runs == RunsByStatus()
    assert (small.input_tokens, small.output_tokens) == (100, 20)
    assert big.cost.model == pytest.approx(0.003) and big.cost.sandbox == cost.sandbox and big.runs.succeeded == 1


def test_a_run_without_a_model_step_schedule_or_creator_counts_under_none() -> None:
    run = a_run(status="cancelled", created_by="")
    added = contributions(run, [], run_cost(run, [], LambdaMeter(), PRICES))
    assert ("model", NONE_KEY) in added and ("schedule", NONE_KEY) in added and ("user", NONE_KEY) in added
    assert added[("day", "2026-12-02")].runs == RunsByStatus(cancelled=1)


def test_the_day_is_the_utc_day_of_the_end() -> None:
    paris = timezone(timedelta(hours=1))
    assert usage_day(a_run(ended_at=datetime(2026, 12, 3, 0, 30, tzinfo=paris))) == "2026-12-02"
    assert usage_day(a_run(ended_at=None, updated_at=datetime(2026, 12, 5, 8, tzinfo=UTC))) == "2026-12-05"


def test_an_items_counters_hold_its_totals() -> None:
    totals = UsageTotals(
        input_tokens=5,
        output_tokens=7,
        cost=CostBreakdown(model=0.1, sandbox=0.2, orchestration=0.3, lambda_=0.4, storage=0.5, total=1.5),
        cost_known=False,
        runs=RunsByStatus(failed=1),
        sandbox_seconds=1.25,
        state_transitions=9,
    )
    stored = counters(totals)
    assert stored["cost_lambda"] == 0.4 and stored["unpriced_runs"] == 1 and stored["runs_failed"] == 1
    assert totals_of(stored) == totals
    assert totals_of({}) == UsageTotals()
    # Two priced runs and one unpriced: the sum knows the cost of none of it for sure
    twice = add_totals(totals, totals_of(counters(totals.model_copy(update={"cost_known": True}))))
    assert twice.cost.total == pytest.approx(3.0) and twice.cost_known is False and twice.runs.failed == 2


def test_thresholds_are_sent_once_each_as_the_spend_reaches_them() -> None:
    assert crossed_thresholds(4.99, 10, []) == []
    assert crossed_thresholds(5.0, 10, []) == [50]
    assert crossed_thresholds(8.5, 10, [50]) == [80]
    assert crossed_thresholds(12, 10, [50]) == [80, 100]
    assert crossed_thresholds(12, 10, [50, 80, 100]) == []
    assert crossed_thresholds(12, None, []) == []


def test_a_month_runs_from_its_first_to_its_last_day() -> None:
    assert month_days("2026-12") == ("2026-12-01", "2026-12-31")
    assert month_days("2028-02") == ("2028-02-01", "2028-02-29")
    assert month_days("2026-12", date(2026, 12, 3)) == ("2026-12-01", "2026-12-03")


def test_a_reports_range_defaults_to_thirty_days_and_is_checked() -> None:
    today = date(2026, 12, 3)
    assert report_range(None, None, today) == (date(2026, 11, 4), today)
    assert report_range("2026-12-01", None, today) == (date(2026, 12, 1), today)
    assert report_range(None, "2026-11-30", today) == (date(2026, 11, 1), date(2026, 11, 30))
    assert report_range("2025-12-04", "2026-12-04", today)[0] == date(2025, 12, 4)  # 366 days
    with pytest.raises(Unprocessable, match=f"at most {MAX_DAYS}") as longer:
        report_range("2025-12-03", "2026-12-04", today)
    assert longer.value.code == "invalid_range"
    with pytest.raises(Unprocessable, match="after") as reversed_range:
        report_range("2026-12-02", "2026-12-01", today)
    assert reversed_range.value.code == "invalid_range"
    with pytest.raises(Unprocessable, match="calendar date") as impossible:
        report_range("2026-02-30", None, today)
    assert impossible.value.code == "invalid_date"
