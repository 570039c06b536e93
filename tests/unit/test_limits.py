"""Rate-limit windows and quota periods, with a fake table and clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agentlab.errors import RateLimited
from agentlab.store.limits import Limits


class CounterTable:
    """The two table calls Limits makes, over a dict."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, pk: str, sk: str, attribute: str, amount: int, *, expires_at: int | None = None) -> int:
        item = self.items.setdefault((pk, sk), {attribute: 0, "expires_at": expires_at})
        item[attribute] += amount
        return int(item[attribute])

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.items.get((pk, sk))


def test_a_window_allows_the_limit_then_refuses_until_the_next_minute() -> None:
    now = [1_000_040.0]  # 20 s into a minute (1_000_020 is a minute boundary)
    limits = Limits(CounterTable(), clock=lambda: now[0])  # type: ignore[arg-type]
    for _ in range(3):
        limits.hit("apikey:a", "runs", limit=3, what="runs")
    with pytest.raises(RateLimited) as refused:
        limits.hit("apikey:a", "runs", limit=3, what="runs")
    assert refused.value.retry_after_s == 40
    limits.hit("apikey:b", "runs", limit=3, what="runs")  # another identity
    now[0] += 40
    limits.hit("apikey:a", "runs", limit=3, what="runs")  # a new window


def test_counters_expire_after_their_window() -> None:
    table = CounterTable()
    Limits(table, clock=lambda: 120.0).hit("x", "requests", limit=5, what="requests")  # type: ignore[arg-type]
    assert table.items[("RATE#x", "requests#120")]["expires_at"] == 240


def test_the_daily_run_quota_resets_at_midnight_utc() -> None:
    moment = datetime(2026, 3, 31, 23, 0, tzinfo=UTC).timestamp()
    limits = Limits(CounterTable(), clock=lambda: moment)  # type: ignore[arg-type]
    limits.count_run("org")
    with pytest.raises(RateLimited) as refused:
        limits.check_run_quotas("org", runs_per_day=1, tokens_per_month=10)
    assert refused.value.code == "quota_exceeded" and refused.value.retry_after_s == 3600
    limits.check_run_quotas("org", runs_per_day=2, tokens_per_month=10)


def test_the_monthly_token_quota_resets_on_the_first() -> None:
    table = CounterTable()
    moment = datetime(2026, 12, 31, 12, 0, tzinfo=UTC).timestamp()
    table.add("QUOTA#org", "tokens#2026-12", "count", 500)
    limits = Limits(table, clock=lambda: moment)  # type: ignore[arg-type]
    with pytest.raises(RateLimited, match="tokens per month") as refused:
        limits.check_run_quotas("org", runs_per_day=5, tokens_per_month=500)
    assert refused.value.retry_after_s == 12 * 3600
