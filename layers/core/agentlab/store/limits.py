"""Rate limits per identity and quotas per org, as counters in the table (every API instance sees the same counts).

Rate limits use fixed one-minute windows: `RATE#<identity>` / `<bucket>#<window start>`, removed by the TTL.
Quotas count per org and period: `QUOTA#<org>` / `runs#<YYYY-MM-DD>` and `tokens#<YYYY-MM>`.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from agentlab.errors import RateLimited
from agentlab.store.table import Table

WINDOW_S = 60


def _day(now: datetime) -> str:
    return now.strftime("%Y-%m-%d")


def _month(now: datetime) -> str:
    return now.strftime("%Y-%m")


def _seconds_to_next_day(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


def _seconds_to_next_month(now: datetime) -> int:
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    return max(1, math.ceil((following - now).total_seconds()))


def tokens_counter_op(table: Table, org_id: str, tokens: int, now: datetime | None = None) -> dict[str, Any]:
    """A transaction operation that adds a step's tokens to its org's monthly total."""
    moment = now or datetime.now(UTC)
    return table.op_add(
        f"QUOTA#{org_id}",
        f"tokens#{_month(moment)}",
        {"count": tokens},
        expires_at=int(moment.timestamp()) + 40 * 86_400,
    )


def wall_clock() -> float:
    """The time the limits count in (looked up on every call, so a test can hold one window still)."""
    return time.time()


class Limits:
    def __init__(self, table: Table, *, clock: Any = None) -> None:
        self.table = table
        self._clock = clock

    def clock(self) -> float:
        return self._clock() if self._clock is not None else wall_clock()

    def hit(self, identity: str, bucket: str, *, limit: int, what: str) -> None:
        """Count one request against `identity`'s budget in the current minute; 429 once it is spent."""
        now = self.clock()
        window = int(now // WINDOW_S) * WINDOW_S
        count = self.table.add(f"RATE#{identity}", f"{bucket}#{window}", "count", 1, expires_at=window + 2 * WINDOW_S)
        if count > limit:
            retry_after = max(1, math.ceil(window + WINDOW_S - now))
            raise RateLimited(
                f"rate limit reached: {limit} {what} per minute; retry in {retry_after} s", retry_after_s=retry_after
            )

    # quotas ---------------------------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def runs_today(self, org_id: str) -> int:
        item = self.table.get(f"QUOTA#{org_id}", f"runs#{_day(self._now())}")
        return int(item["count"]) if item else 0

    def tokens_this_month(self, org_id: str) -> int:
        item = self.table.get(f"QUOTA#{org_id}", f"tokens#{_month(self._now())}")
        return int(item["count"]) if item else 0

    def check_run_quotas(self, org_id: str, *, runs_per_day: int, tokens_per_month: int) -> None:
        now = self._now()
        if self.runs_today(org_id) >= runs_per_day:
            raise RateLimited(
                f"this org's quota of {runs_per_day} runs per day is used up; it resets at 00:00 UTC",
                retry_after_s=_seconds_to_next_day(now),
                code="quota_exceeded",
            )
        if self.tokens_this_month(org_id) >= tokens_per_month:
            raise RateLimited(
                f"this org's quota of {tokens_per_month} model tokens per month is used up; it resets on the 1st (UTC)",
                retry_after_s=_seconds_to_next_month(now),
                code="quota_exceeded",
            )

    def count_run(self, org_id: str) -> int:
        now = self._now()
        return self.table.add(
            f"QUOTA#{org_id}", f"runs#{_day(now)}", "count", 1, expires_at=int(now.timestamp()) + 3 * 86_400
        )
