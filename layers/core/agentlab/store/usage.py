"""Usage in the table: each run's Lambda meter, the org's roll-ups, its monthly budget and the alerts it sent.

- The meter of a run, `ORG#<org>#RUN#<run>` / `METER`: what its step invocations took, added by each invocation (one
  transaction that also checks the run still exists, so a step finishing after its org was deleted leaves nothing).
- The roll-ups, in the org's partition, one item per (dimension, day, key): `USAGE#<dimension>#<day>#<key>`, counters
  only, written with ADD. An item never grows with the number of runs or keys, so none nears the 400 KB limit however
  many agents, models, schedules or people an org has; a report reads one dimension's items over its range.
- `USAGERUN#<run>`: the marker of a run already rolled up, with its breakdown, written in the same transaction as its
  counters, so a retried end adds nothing.
- `USAGE_BUDGET`: the monthly budget; `USAGEALERT#<month>#<percent>`: a threshold alert sent that month.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from agentlab.errors import ConcurrentUpdate
from agentlab.models import utc_now
from agentlab.models.usage import CostBreakdown, RunsByStatus, UsageTotals, summed
from agentlab.store.table import Table, pause_before_retry, serialize

METER_SK = "METER"
BUDGET_SK = "USAGE_BUDGET"
_ROLLUP_PREFIX = "USAGE#"
_MARKER_PREFIX = "USAGERUN#"
_ALERT_PREFIX = "USAGEALERT#"
# Above every character a key holds (ids, days, model references), so a range ends after a day's last key.
_AFTER_KEYS = "\U0010ffff"
# DynamoDB's bound on a transaction: the marker and every (dimension, key) of one run.
MAX_TRANSACTION_ITEMS = 100
_PAGE = 200
_MAX_WRITE_ATTEMPTS = 12

# UsageTotals <-> the counters of an item.
_COST_PARTS = ("model", "sandbox", "orchestration", "lambda_", "storage")
_STATUSES = ("succeeded", "failed", "cancelled", "budget_exceeded")


def _org_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def rollup_sk(dimension: str, day: str, key: str) -> str:
    return f"{_ROLLUP_PREFIX}{dimension}#{day}#{key}"


def counters(totals: UsageTotals) -> dict[str, int | float]:
    """The counters an item adds for these totals (a cost_known of False counts one unpriced run)."""
    values: dict[str, int | float] = {
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
        "sandbox_seconds": totals.sandbox_seconds,
        "state_transitions": totals.state_transitions,
        "unpriced_runs": 0 if totals.cost_known else 1,
    }
    for part in _COST_PARTS:
        values[f"cost_{part.rstrip('_')}"] = getattr(totals.cost, part)
    for status in _STATUSES:
        values[f"runs_{status}"] = getattr(totals.runs, status)
    return values


def totals_of(item: dict[str, Any]) -> UsageTotals:
    """The totals an item's counters hold."""

    def number(name: str) -> float:
        return float(item.get(name, 0) or 0)

    return UsageTotals(
        input_tokens=int(number("input_tokens")),
        output_tokens=int(number("output_tokens")),
        cost=summed(*(number(f"cost_{part.rstrip('_')}") for part in _COST_PARTS)),
        cost_known=number("unpriced_runs") == 0,
        runs=RunsByStatus(**{status: int(number(f"runs_{status}")) for status in _STATUSES}),
        sandbox_seconds=round(number("sandbox_seconds"), 3),
        state_transitions=int(number("state_transitions")),
    )


@dataclass(frozen=True)
class LambdaMeter:
    """What a run's step invocations took: billed milliseconds (each rounded up) and their number."""

    lambda_ms: int = 0
    invocations: int = 0


@dataclass(frozen=True)
class RolledUp:
    """One roll-up item's totals: its day and its key within the dimension."""

    day: str
    key: str
    totals: UsageTotals


class UsageStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    # the meter ----------------------------------------------------------------------------------------------------
    def meter_invocation(
        self, org_id: str, run_id: str, elapsed_ms: float, *, also: Sequence[dict[str, Any]] = ()
    ) -> None:
        """Add one step invocation of `elapsed_ms` (billed rounded up to the millisecond) to the run's meter, with
        `also` (other writes of the invocation's end) in the same transaction, all only while the run exists."""
        run_key = serialize({"PK": _org_pk(org_id), "SK": f"RUN#{run_id}"})
        self.table.transact(
            [
                {
                    "ConditionCheck": {
                        "TableName": self.table.name,
                        "Key": run_key,
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
                {
                    "Update": {
                        "TableName": self.table.name,
                        "Key": serialize({"PK": f"ORG#{org_id}#RUN#{run_id}", "SK": METER_SK}),
                        "UpdateExpression": "ADD lambda_ms :ms, invocations :one SET entity = :entity",
                        "ExpressionAttributeValues": serialize(
                            {":ms": max(math.ceil(elapsed_ms), 0), ":one": 1, ":entity": "run_meter"}
                        ),
                    }
                },
                *also,
            ]
        )

    def meter(self, org_id: str, run_id: str) -> LambdaMeter:
        item = self.table.get(f"ORG#{org_id}#RUN#{run_id}", METER_SK)
        if item is None:
            return LambdaMeter()
        return LambdaMeter(lambda_ms=int(item.get("lambda_ms", 0)), invocations=int(item.get("invocations", 0)))

    # roll-ups -----------------------------------------------------------------------------------------------------
    def recorded_cost(self, org_id: str, run_id: str) -> CostBreakdown | None:
        """The breakdown a run was rolled up with, or None when it has not been."""
        marker = self.table.get(_org_pk(org_id), f"{_MARKER_PREFIX}{run_id}")
        return CostBreakdown.model_validate(marker["cost"]) if marker else None

    def record_run(
        self,
        org_id: str,
        run_id: str,
        day: str,
        cost: CostBreakdown,
        contributions: dict[tuple[str, str], UsageTotals],
    ) -> bool:
        """Add a run's contributions, keyed by (dimension, key), to its day's items, once: False when the run was
        already rolled up (its marker exists)."""
        if len(contributions) + 2 > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"a run adds to at most {MAX_TRANSACTION_ITEMS - 2} roll-up items")
        marker = {
            "PK": _org_pk(org_id),
            "SK": f"{_MARKER_PREFIX}{run_id}",
            "entity": "usage_run",
            "run_id": run_id,
            "day": day,
            "cost": cost.model_dump(mode="json"),
            "recorded_at": utc_now().isoformat(),
        }
        run_key = {"PK": _org_pk(org_id), "SK": f"RUN#{run_id}"}
        # The run must still exist: a run whose org was deleted while its end was reported adds nothing that the
        # deletion would leave behind.
        operations = [
            self.table.op_put(marker, condition="attribute_not_exists(PK)"),
            {
                "ConditionCheck": {
                    "TableName": self.table.name,
                    "Key": serialize(run_key),
                    "ConditionExpression": "attribute_exists(PK)",
                }
            },
        ]
        for (dimension, key), totals in contributions.items():
            operations.append(self._op_add(org_id, dimension, day, key, totals))
        # Runs of an org that end together add to the same day's items: a transaction that lost to another is tried
        # again, unless the loser was this run's own earlier report.
        for attempt in range(_MAX_WRITE_ATTEMPTS):
            try:
                self.table.transact(operations)
            except ConcurrentUpdate:
                if (
                    self.recorded_cost(org_id, run_id) is not None
                    or self.table.get(run_key["PK"], run_key["SK"]) is None
                ):
                    return False
                pause_before_retry(attempt)
                continue
            return True
        raise ConcurrentUpdate(f"the usage of run {run_id} could not be rolled up; retry")

    def _op_add(self, org_id: str, dimension: str, day: str, key: str, totals: UsageTotals) -> dict[str, Any]:
        added = {name: value for name, value in counters(totals).items() if value}
        names = {f"#c{i}": name for i, name in enumerate(added)}
        values: dict[str, Any] = {f":c{i}": value for i, value in enumerate(added.values())}
        values.update({":entity": "usage", ":dimension": dimension, ":day": day, ":key": key})
        names.update({"#dimension": "dimension", "#day": "day", "#key": "key"})
        expression = "SET entity = :entity, #dimension = :dimension, #day = :day, #key = :key"
        if added:
            expression = "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(added))) + " " + expression
        return {
            "Update": {
                "TableName": self.table.name,
                "Key": serialize({"PK": _org_pk(org_id), "SK": rollup_sk(dimension, day, key)}),
                "UpdateExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": serialize(values),
            }
        }

    def rolled_up(self, org_id: str, dimension: str, first_day: str, last_day: str) -> Iterator[RolledUp]:
        """Every item of `dimension` from `first_day` to `last_day` (inclusive), by day then key."""
        low = rollup_sk(dimension, first_day, "")
        high = rollup_sk(dimension, last_day, _AFTER_KEYS)
        cursor: str | None = None
        while True:
            page = self.table.query(
                partition=("PK", _org_pk(org_id)), sort_after=(low, high), limit=_PAGE, cursor=cursor
            )
            for item in page.items:
                yield RolledUp(day=str(item["day"]), key=str(item["key"]), totals=totals_of(item))
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    # the budget ---------------------------------------------------------------------------------------------------
    def budget(self, org_id: str) -> float | None:
        item = self.table.get(_org_pk(org_id), BUDGET_SK)
        return float(item["monthly_usd"]) if item and item.get("monthly_usd") is not None else None

    def set_budget(self, org_id: str, monthly_usd: float | None, *, updated_by: str) -> None:
        """Set the monthly budget, or remove it (None). The alerts already sent this month stay sent."""
        if monthly_usd is None:
            self.table.delete(_org_pk(org_id), BUDGET_SK)
            return
        self.table.client.put_item(
            TableName=self.table.name,
            Item=serialize(
                {
                    "PK": _org_pk(org_id),
                    "SK": BUDGET_SK,
                    "entity": "usage_budget",
                    "monthly_usd": monthly_usd,
                    "updated_by": updated_by,
                    "updated_at": utc_now().isoformat(),
                }
            ),
        )

    def alerts_sent(self, org_id: str, month: str) -> list[int]:
        items = self.table.iterate(partition=("PK", _org_pk(org_id)), sort_prefix=f"{_ALERT_PREFIX}{month}#")
        return sorted(int(item["percent"]) for item in items)

    def claim_alert(self, org_id: str, month: str, percent: int, *, spent_usd: float, budget_usd: float) -> bool:
        """Mark the `percent` alert of `month` as sent; False when it already was (another writer sent it)."""
        try:
            self.table.put_new(
                {
                    "PK": _org_pk(org_id),
                    "SK": f"{_ALERT_PREFIX}{month}#{percent:03d}",
                    "entity": "usage_alert",
                    "month": month,
                    "percent": percent,
                    "spent_usd": spent_usd,
                    "budget_usd": budget_usd,
                    "sent_at": utc_now().isoformat(),
                }
            )
        except ConcurrentUpdate:
            return False
        return True

    def release_alert(self, org_id: str, month: str, percent: int) -> None:
        """Forget a claimed alert whose sending failed, so the next run's end sends it again."""
        self.table.delete(_org_pk(org_id), f"{_ALERT_PREFIX}{month}#{percent:03d}")
