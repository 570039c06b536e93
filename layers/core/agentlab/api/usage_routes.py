"""The usage routes of the API: the org's usage and cost over a range of days, grouped by day, agent, model, schedule
or user, and its monthly budget. The figures are the roll-ups each run's end writes (agentlab/usage/rollup.py).
Annotations are evaluated where the routes are defined, as in api/routes.py."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from agentlab.api.common import current_caller, optional_query
from agentlab.api.deps import ApiDeps
from agentlab.api.docs import FeatureDocs, Operation
from agentlab.errors import NotFound, Unprocessable
from agentlab.models import utc_now
from agentlab.models.usage import UsageBudget, UsageBudgetUpdate, UsageGroup, UsageGroupBy, UsageReport, UsageTotals
from agentlab.store.usage import UsageStore
from agentlab.usage.rollup import NONE_KEY, add_totals, month_spent

DEFAULT_DAYS = 30
MAX_DAYS = 366
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_USAGE = "/v1/usage"
_BUDGET = "/v1/usage/budget"
# What a group without a value in its dimension is called.
_NONE_LABELS = {"model": "no model step", "schedule": "not scheduled", "user": "unknown"}

_RANGE = {
    "invalid_date": "`from` or `to` is not a calendar date (YYYY-MM-DD)",
    "invalid_range": f"`from` is after `to`, or the range is longer than {MAX_DAYS} days",
}

_TOTALS_EXAMPLE = {
    "input_tokens": 12_400,
    "output_tokens": 3_100,
    "cost": {
        "model": 0.0412,
        "sandbox": 0.00081,
        "orchestration": 0.0009,
        "lambda": 0.000052,
        "storage": 0.000041,
        "total": 0.043803,
    },
    "cost_known": True,
    "runs": {"succeeded": 5, "failed": 1, "cancelled": 0, "budget_exceeded": 0},
    "sandbox_seconds": 42.5,
    "state_transitions": 36,
}
_BUDGET_EXAMPLE = {"monthly_usd": 50.0, "month": "2026-12", "spent_usd": 26.3, "alerts_sent": [50]}

DOCS = FeatureDocs(
    operations={
        ("GET", _USAGE): Operation(
            "Show usage and cost",
            "The org's tokens, cost by component (model, sandbox, orchestration, Lambda, storage), runs by status, "
            "sandbox seconds and state transitions from `from` to `to` (UTC days, both included; by default the last "
            f"{DEFAULT_DAYS} days, at most {MAX_DAYS}), in total and grouped by `group_by`: `day` (every day of the "
            "range, zeros included), `agent`, `model`, `schedule` or `user` (who started the run). A run counts on "
            "the day it ended, once its end is recorded. Each group's `label` is the agent's or schedule's name, the "
            "member's email or the API key's name where known, else its key. The answer also shows the monthly "
            "budget. The model's part is the run's model cost; a `cost_known` of false means a model without a price "
            "was used and that part counts the priced steps only. The platform's parts are priced from AWS list "
            "prices (storage requests are estimated from the steps).",
            errors={422: _RANGE},
            parameters={
                "from": f"The first UTC day (YYYY-MM-DD); by default {DEFAULT_DAYS - 1} days before `to`.",
                "to": "The last UTC day (YYYY-MM-DD), included; by default today.",
                "group_by": "What the groups are: `day` (the default), `agent`, `model`, `schedule` or `user`.",
            },
        ),
        ("GET", _BUDGET): Operation(
            "Show the monthly budget",
            "The org's monthly budget in USD (null: none), this UTC month's cost so far (every component) and the "
            "alerts already sent this month (50, 80 and 100 percent).",
        ),
        ("PUT", _BUDGET): Operation(
            "Set the monthly budget",
            "Sets the org's monthly budget in USD, or removes it with null. At the end of each run the month's cost "
            "is compared with it: each of 50, 80 and 100 percent reached for the first time this month sends, once, "
            "an audit record (`usage.threshold`), a metric and the `usage.threshold` webhook event. A budget set "
            "below what the month already spent sends the thresholds it crosses at the next run's end.",
        ),
    },
    examples={
        "UsageBudgetUpdate": {"monthly_usd": 50.0},
        "UsageBudget": _BUDGET_EXAMPLE,
        "UsageReport": {
            "from": "2026-12-01",
            "to": "2026-12-02",
            "group_by": "day",
            "currency": "USD",
            "total": _TOTALS_EXAMPLE,
            "groups": [
                {"key": "2026-12-01", "label": "2026-12-01", **_TOTALS_EXAMPLE},
                {
                    "key": "2026-12-02",
                    "label": "2026-12-02",
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cost": {
                        "model": 0.0,
                        "sandbox": 0.0,
                        "orchestration": 0.0,
                        "lambda": 0.0,
                        "storage": 0.0,
                        "total": 0.0,
                    },
                    "cost_known": True,
                    "runs": {"succeeded": 0, "failed": 0, "cancelled": 0, "budget_exceeded": 0},
                    "sandbox_seconds": 0.0,
                    "state_transitions": 0,
                },
            ],
            "budget": _BUDGET_EXAMPLE,
        },
    },
    tags={"usage": "Usage and cost: tokens and cost by component, rolled up by day, agent, model, schedule and user."},
)


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise Unprocessable(f"`{name}` is not a calendar date (YYYY-MM-DD): {text}", code="invalid_date") from exc


def report_range(first: str | None, last: str | None, today: date) -> tuple[date, date]:
    """The days a report covers: as asked, or `to` today and `from` DEFAULT_DAYS days back to it."""
    end = _day("to", last) if last is not None else today
    start = _day("from", first) if first is not None else end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise Unprocessable(f"`from` ({start}) is after `to` ({end})", code="invalid_range")
    if (end - start).days + 1 > MAX_DAYS:
        raise Unprocessable(
            f"the range from {start} to {end} is {(end - start).days + 1} days; at most {MAX_DAYS} are allowed",
            code="invalid_range",
        )
    return start, end


def _days(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


class _Labels:
    """The names groups are shown with, looked up once per key; an id whose object is gone is shown as it is."""

    def __init__(self, deps: ApiDeps, org_id: str) -> None:
        self.deps, self.org_id = deps, org_id

    def label(self, group_by: UsageGroupBy, key: str) -> str:
        if key == NONE_KEY and group_by in _NONE_LABELS:
            return _NONE_LABELS[group_by]
        try:
            if group_by == "agent":
                return self.deps.agents.get(self.org_id, key).name
            if group_by == "schedule":
                return self.deps.schedules.get(self.org_id, key).name
            if group_by == "user":
                return self._identity(key)
        except NotFound:
            return key
        return key

    def _identity(self, identity: str) -> str:
        kind, _, principal = identity.partition(":")
        if kind == "user":
            return self.deps.members.get(self.org_id, principal).email
        if kind == "apikey":
            return self.deps.orgs.get_api_key(self.org_id, principal).name
        if kind == "schedule":
            return self.deps.schedules.get(self.org_id, principal).name
        return identity


def budget_of(store: UsageStore, org_id: str, now: datetime) -> UsageBudget:
    month = now.astimezone(UTC).strftime("%Y-%m")
    return UsageBudget(
        monthly_usd=store.budget(org_id),
        month=month,
        spent_usd=month_spent(store, org_id, month),
        alerts_sent=store.alerts_sent(org_id, month),
    )


def usage_report(deps: ApiDeps, org_id: str, start: date, end: date, group_by: UsageGroupBy) -> UsageReport:
    store = UsageStore(deps.runs.table)
    first, last = start.isoformat(), end.isoformat()
    by_day = {item.day: item.totals for item in store.rolled_up(org_id, "day", first, last)}
    total = UsageTotals()
    for totals in by_day.values():
        total = add_totals(total, totals)
    if group_by == "day":
        grouped = {day: by_day.get(day, UsageTotals()) for day in _days(start, end)}
    else:
        grouped = {}
        for item in store.rolled_up(org_id, group_by, first, last):
            grouped[item.key] = add_totals(grouped.get(item.key, UsageTotals()), item.totals)
    labels = _Labels(deps, org_id)
    groups = [
        UsageGroup(key=key, label=key if group_by == "day" else labels.label(group_by, key), **totals.model_dump())
        for key, totals in grouped.items()
    ]
    if group_by != "day":
        groups.sort(key=lambda group: (-group.cost.total, group.label, group.key))
    return UsageReport(
        from_=first, to=last, group_by=group_by, total=total, groups=groups, budget=budget_of(store, org_id, utc_now())
    )


def register(app: APIGatewayHttpResolver, deps: ApiDeps) -> None:
    store = UsageStore(deps.runs.table)

    @app.get(_USAGE, tags=["usage"])
    def get_usage(
        from_: Annotated[str | None, optional_query(alias="from", pattern=DATE_PATTERN, schema_format="date")] = None,
        to: Annotated[str | None, optional_query(pattern=DATE_PATTERN, schema_format="date")] = None,
        group_by: Annotated[UsageGroupBy | None, optional_query()] = None,
    ) -> UsageReport:
        org_id = current_caller(app).org_id
        start, end = report_range(from_, to, utc_now().astimezone(UTC).date())
        return usage_report(deps, org_id, start, end, group_by or "day")

    @app.get(_BUDGET, tags=["usage"])
    def get_budget() -> UsageBudget:
        return budget_of(store, current_caller(app).org_id, utc_now())

    @app.put(_BUDGET, tags=["usage"])
    def put_budget(body: UsageBudgetUpdate) -> UsageBudget:
        who = current_caller(app)
        store.set_budget(who.org_id, body.monthly_usd, updated_by=who.identity)
        return budget_of(store, who.org_id, utc_now())
