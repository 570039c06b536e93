"""A run's end in the org's usage: its cost by component, its share of the day's roll-ups per agent, model, schedule
and user, and the monthly budget's alerts.

`record_run_usage` is a consequence of a run's end (workflow/run_events.py), which may be called more than once for
a run (a step's retry, the janitor): the roll-up is written once, with a marker in the same transaction
(store/usage.py), and each alert is claimed before it is sent.

What is measured and what is estimated:
- model: the run's own `usage.cost_usd` (tokens times the model's price), unchanged.
- sandbox: the run's sandbox seconds on the stack's default Fargate task (usage/sizes.py); locally the same seconds,
  priced as they would be in AWS.
- orchestration: the Step Functions transitions of the functions the run's steps show were invoked (a think step is
  one Think invocation, ...), with Prepare and the Finalize or RecordFailure that ends every execution.
- Lambda: the GB-seconds and requests each step invocation metered (workflow/lambda_entry.py). The invocation that
  ends the run meters itself after the end is recorded, so it is not in the run's figure.
- storage: estimated from the step count with the factors below; the platform does not count its requests.

Budget alerts: after each roll-up, the month-to-date cost of the org (every component) is compared with its monthly
budget; each threshold of BUDGET_THRESHOLDS reached for the first time that month sends an audit record, a metric and
the `usage.threshold` webhook event, once. A budget set below what the month already spent sends the thresholds it
crosses at the next run's end, not when it is set.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from agentlab import metrics
from agentlab.errors import NotFound
from agentlab.models import Run
from agentlab.models.run import Step
from agentlab.models.usage import BUDGET_THRESHOLDS, CostBreakdown, RunsByStatus, UsageTotals, summed
from agentlab.store.audit import AuditStore
from agentlab.store.runs import RunStore
from agentlab.store.usage import LambdaMeter, UsageStore
from agentlab.usage.costs import MeasuredUsage, cost_breakdown, lambda_gb_seconds, sandbox_seconds
from agentlab.usage.prices import PlatformPrices, configured_prices
from agentlab.usage.sizes import SANDBOX_TASK_MEMORY_MB, SANDBOX_TASK_VCPUS, STEP_MEMORY_MB
from agentlab.usage.transitions import AGENT_RUN_TRANSITIONS

if TYPE_CHECKING:
    from agentlab.workflow.run_events import RunEvents

logger = Logger(service="agentlab")

DIMENSIONS = ("day", "agent", "model", "schedule", "user")
# The key of a run that has no value in a dimension (no model step, not started by a schedule, no known creator).
NONE_KEY = "none"
THRESHOLD_ACTION = "usage.threshold"

# The function that a step of each type shows was invoked; an error step is written by RecordFailure (or the
# janitor), which the end of the execution counts. A critique step is written by the Execute invocation that runs the
# cell after it (its own execute step), or that stopped there because the critic blocked the cell.
STEP_FUNCTIONS: dict[str, str] = {
    "think": "think",
    "execute": "execute",
    "evaluate": "evaluate",
    "approval": "request_approval",
}
# Storage requests, estimated per step: appending a step is a transaction of the run and the step items (2 items, 2
# write units each) beside a transcript message (2 more), after strongly consistent reads of the run and the
# transcript (2 read units); an execute or think step writes or reads about one S3 object. Per run: its creation
# (the run and an idempotency marker, transactional) and the end's writes.
DYNAMODB_WRITE_UNITS_PER_STEP = 6
DYNAMODB_READ_UNITS_PER_STEP = 2
S3_PUTS_PER_STEP = 1
S3_GETS_PER_STEP = 1
DYNAMODB_WRITE_UNITS_PER_RUN = 8
DYNAMODB_READ_UNITS_PER_RUN = 4
_DIGITS = 10


def usage_day(run: Run) -> str:
    """The UTC day a run's usage counts on: the day it ended."""
    moment: datetime = run.ended_at or run.updated_at
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()


def usage_month(day: str) -> str:
    return day[:7]


def state_transitions(run: Run, steps: list[Step]) -> int:
    """The transitions of the functions the run's steps show were invoked, with Prepare and the end (Finalize, or
    RecordFailure after an error)."""
    if run.started_at is None and not steps:
        return 0  # never started: no execution ran
    kinds = Counter(step.type for step in steps)
    ordered = sorted(steps, key=lambda step: step.seq)
    # A critique the next step does not follow with an execute step ended its Execute invocation (a blocked cell).
    blocked = sum(
        1
        for i, step in enumerate(ordered)
        if step.type == "critique" and (i + 1 == len(ordered) or ordered[i + 1].type != "execute")
    )
    invoked = AGENT_RUN_TRANSITIONS["execute"] * blocked + sum(
        AGENT_RUN_TRANSITIONS[STEP_FUNCTIONS[kind]] * n for kind, n in kinds.items() if kind in STEP_FUNCTIONS
    )
    end = "record_failure" if kinds.get("error") or run.status == "failed" else "finalize"
    return AGENT_RUN_TRANSITIONS["prepare"] + invoked + AGENT_RUN_TRANSITIONS[end]


def measured_usage(run: Run, steps: list[Step], meter: LambdaMeter) -> MeasuredUsage:
    vcpu_s, gb_s = sandbox_seconds(run.usage.sandbox_s, SANDBOX_TASK_VCPUS, SANDBOX_TASK_MEMORY_MB)
    count = len(steps)
    started = run.started_at is not None or bool(steps)
    return MeasuredUsage(
        model_usd=run.usage.cost_usd,
        sandbox_vcpu_s=vcpu_s,
        sandbox_gb_s=gb_s,
        state_transitions=state_transitions(run, steps),
        lambda_gb_s=lambda_gb_seconds(meter.lambda_ms, STEP_MEMORY_MB),
        lambda_requests=meter.invocations,
        dynamodb_read_units=count * DYNAMODB_READ_UNITS_PER_STEP + (DYNAMODB_READ_UNITS_PER_RUN if started else 0),
        dynamodb_write_units=count * DYNAMODB_WRITE_UNITS_PER_STEP + DYNAMODB_WRITE_UNITS_PER_RUN,
        s3_puts=count * S3_PUTS_PER_STEP,
        s3_gets=count * S3_GETS_PER_STEP,
    )


def run_cost(run: Run, steps: list[Step], meter: LambdaMeter, prices: PlatformPrices) -> CostBreakdown:
    return cost_breakdown(measured_usage(run, steps, meter), prices)


def _runs_by_status(status: str) -> RunsByStatus:
    runs = RunsByStatus()
    if status in RunsByStatus.model_fields:
        setattr(runs, status, 1)
    return runs


def run_totals(run: Run, cost: CostBreakdown, transitions: int) -> UsageTotals:
    """What one run adds to every dimension's totals."""
    return UsageTotals(
        input_tokens=run.usage.input_tokens,
        output_tokens=run.usage.output_tokens,
        cost=cost,
        cost_known=run.usage.cost_known,
        runs=_runs_by_status(run.status),
        sandbox_seconds=run.usage.sandbox_s,
        state_transitions=transitions,
    )


def _model_shares(run: Run, steps: list[Step], whole: UsageTotals) -> dict[str, UsageTotals]:
    """The run's totals split by model: each model its own steps' tokens and model cost; the run itself (its count,
    sandbox, transitions and platform cost) goes to the model of most of its steps (the first of those, on a tie),
    which also takes what the steps do not account for, so the shares always sum to the run's totals."""
    by_model: dict[str, list[Step]] = {}
    for step in steps:
        if step.model_id:
            by_model.setdefault(step.model_id, []).append(step)
    if not by_model:
        return {NONE_KEY: whole}
    primary = max(by_model, key=lambda model: len(by_model[model]))
    shares: dict[str, UsageTotals] = {}
    for model, used in by_model.items():
        if model == primary:
            continue
        shares[model] = UsageTotals(
            input_tokens=sum(s.input_tokens for s in used),
            output_tokens=sum(s.output_tokens for s in used),
            cost=summed(sum(s.cost_usd for s in used), 0, 0, 0, 0),
            cost_known=all(s.cost_known for s in used),
            runs=RunsByStatus(),
        )
    others = list(shares.values())
    shares[primary] = whole.model_copy(
        update={
            "input_tokens": whole.input_tokens - sum(s.input_tokens for s in others),
            "output_tokens": whole.output_tokens - sum(s.output_tokens for s in others),
            "cost": whole.cost.with_model(round(whole.cost.model - sum(s.cost.model for s in others), _DIGITS)),
        }
    )
    return shares


def contributions(run: Run, steps: list[Step], cost: CostBreakdown) -> dict[tuple[str, str], UsageTotals]:
    """What the run adds, keyed by (dimension, key): its day's total, its agent, its models, its schedule and its
    creator. Every dimension's shares sum to the run's totals."""
    whole = run_totals(run, cost, state_transitions(run, steps))
    added: dict[tuple[str, str], UsageTotals] = {
        ("day", usage_day(run)): whole,
        ("agent", run.agent_id): whole,
        ("schedule", run.schedule_id or NONE_KEY): whole,
        ("user", run.created_by or NONE_KEY): whole,
    }
    for model, share in _model_shares(run, steps, whole).items():
        added[("model", model)] = share
    return added


def add_totals(a: UsageTotals, b: UsageTotals) -> UsageTotals:
    return UsageTotals(
        input_tokens=a.input_tokens + b.input_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        cost=a.cost.plus(b.cost),
        cost_known=a.cost_known and b.cost_known,
        runs=RunsByStatus(
            **{name: getattr(a.runs, name) + getattr(b.runs, name) for name in RunsByStatus.model_fields}
        ),
        sandbox_seconds=round(a.sandbox_seconds + b.sandbox_seconds, 3),
        state_transitions=a.state_transitions + b.state_transitions,
    )


def crossed_thresholds(spent_usd: float, budget_usd: float | None, sent: list[int]) -> list[int]:
    """The thresholds (percent of the budget) the spend has reached that were not sent yet, lowest first."""
    if budget_usd is None or budget_usd <= 0:
        return []
    return [percent for percent in BUDGET_THRESHOLDS if percent not in sent and spent_usd * 100 >= budget_usd * percent]


def month_days(month: str, last: date | None = None) -> tuple[str, str]:
    """The first day of `month` (YYYY-MM) and `last` (or the month's last day)."""
    first = date.fromisoformat(f"{month}-01")
    if last is None:
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        last = date.fromordinal(following.toordinal() - 1)
    return first.isoformat(), last.isoformat()


def month_spent(store: UsageStore, org_id: str, month: str) -> float:
    """The org's cost (every component) in `month` so far, from its day totals."""
    first, last = month_days(month)
    return round(sum(item.totals.cost.total for item in store.rolled_up(org_id, "day", first, last)), _DIGITS)


# the consequence -----------------------------------------------------------------------------------------------
def _steps(runs: RunStore, run: Run) -> list[Step]:
    steps: list[Step] = []
    after = 0
    while True:
        page = runs.list_steps(run.org_id, run.id, after=after, limit=100)
        steps.extend(page.items)
        if len(page.items) < 100:
            return steps
        after = page.items[-1].seq


def record_run_usage(events: RunEvents, run: Run) -> None:
    """A run's end in the org's usage (see the module's description)."""
    runs = RunStore(events.table)
    store = UsageStore(events.table)
    try:
        current = runs.get(run.org_id, run.id)
    except NotFound:
        return  # the run went with its org while its end was reported: nothing to count
    if not current.is_terminal:
        return
    cost = store.recorded_cost(current.org_id, current.id)
    if cost is None:
        steps = _steps(runs, current)
        cost = run_cost(
            current, steps, store.meter(current.org_id, current.id), configured_prices(events.settings.region)
        )
        added = contributions(current, steps, cost)
        if not store.record_run(current.org_id, current.id, usage_day(current), cost, added):
            # Another report of this end rolled the run up meanwhile: its figures are the run's.
            cost = store.recorded_cost(current.org_id, current.id) or cost
    try:
        check_budget(events, current.org_id, usage_month(usage_day(current)))
    finally:
        # Last, so a run that shows its breakdown has had its budget checked too.
        _show_cost(runs, current, run, cost)


def _show_cost(runs: RunStore, run: Run, held: Run, cost: CostBreakdown) -> None:
    """Store the breakdown on the run; the run its caller holds (`held`, which the cancel route answers with) is
    brought up to date with the write, so it shows what is stored."""

    def with_cost(stored: Run) -> Run | None:
        if stored.cost == cost:
            return None
        stored.cost = cost
        return stored

    stored = runs.update(run.org_id, run.id, with_cost) if run.cost != cost else run
    held.cost, held.revision, held.updated_at = stored.cost, stored.revision, stored.updated_at


def check_budget(events: RunEvents, org_id: str, month: str) -> list[int]:
    """Send each threshold alert `month`'s spend has reached for the first time; the percents sent."""
    store = UsageStore(events.table)
    budget = store.budget(org_id)
    if budget is None:
        return []
    spent = month_spent(store, org_id, month)
    sent: list[int] = []
    for percent in crossed_thresholds(spent, budget, store.alerts_sent(org_id, month)):
        if not store.claim_alert(org_id, month, percent, spent_usd=spent, budget_usd=budget):
            continue
        try:
            _send_alert(events, org_id, month, percent, spent, budget)
        except Exception:
            store.release_alert(org_id, month, percent)
            raise
        sent.append(percent)
    return sent


def _send_alert(events: RunEvents, org_id: str, month: str, percent: int, spent: float, budget: float) -> None:
    """The webhook event first (publishing it again sends nothing new), the metric, and the audit record last."""
    from agentlab.webhooks.events import event_id_for, publish

    event_id = event_id_for("usage", org_id, month, str(percent))
    publish(
        events.table,
        events.settings,
        events.clients,
        org_id,
        "usage.threshold",
        {"month": month, "percent": percent, "spent_usd": spent, "monthly_usd": budget},
        event_id,
    )
    metrics.usage_threshold(percent)
    AuditStore(events.table).record_platform_event(
        org_id,
        actor="usage:budget",
        action=THRESHOLD_ACTION,
        path="/v1/usage/budget",
        target=f"month={month},percent={percent}",
        request_id=event_id,
    )
    logger.warning(
        "the org's monthly budget reached a threshold",
        extra={"org_id": org_id, "month": month, "percent": percent, "spent_usd": spent, "monthly_usd": budget},
    )
