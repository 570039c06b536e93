"""Schedule expressions as EventBridge Scheduler reads them: `cron(...)`, `rate(...)` and `at(...)` in a timezone.

Checking an expression here, before it reaches EventBridge, lets the API refuse it with a reason a person can act on
(and enforce the platform's minimum interval, which EventBridge knows nothing of), and show when it will fire.

Cron fields are parsed and stepped through by pyawscron, and described by cron-descriptor; this module only splits
an expression into its parts and checks each field's parsed values against EventBridge's ranges. pyawscron works
in UTC alone, so a cron in another timezone is stepped through on that zone's wall clock and each answer converted
back, skipping wall times that a DST change removes and firing once at wall times it repeats, as EventBridge does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any, Literal, Protocol, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# pyawscron imports in about 15 ms, most of it stdlib modules this one needs anyway; cron-descriptor takes 30-40 ms
# and is only needed by describe(), so it is imported there.
from pyawscron import AWSCron

ScheduleKind = Literal["cron", "rate", "at"]

# CreateSchedule's length limits on ScheduleExpression and ScheduleExpressionTimezone (the botocore service model).
MAX_EXPRESSION_LENGTH = 256
MAX_TIMEZONE_LENGTH = 50
# How many upcoming fires of a cron are compared against the minimum interval.
INTERVAL_SAMPLE_FIRES = 10

_EXPRESSION_RE = re.compile(r"(cron|rate|at)\((.*)\)", re.DOTALL)
_AT_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_CRON_FIELD_NAMES = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
# The wildcards each field accepts, from EventBridge's cron reference; letters stand for month and weekday names.
_CRON_FIELD_CHARACTERS = (
    frozenset("0123456789,-*/"),
    frozenset("0123456789,-*/"),
    frozenset("0123456789,-*?/LW"),
    frozenset("0123456789,-*/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
    frozenset("0123456789,-*?L#ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
    frozenset("0123456789,-*/"),
)
# pyawscron expands a range into a list and loops forever on a step of 0, so both are refused before it sees them.
_OVERSIZED_NUMBER_RE = re.compile(r"\d{5,}")
_ZERO_OR_MISSING_STEP_RE = re.compile(r"/0*(?!\d)")
# A field is parsed inside an otherwise valid expression, so that an error names the field it came from.
_CRON_PROBE = ("0", "0", "*", "*", "?", "*")
_AWSCRON_ATTRIBUTES = ("minutes", "hours", "days_of_month", "months", "days_of_week", "years")
_CRON_INT_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (1970, 2199))
# pyawscron gives up (an exception, or a bad date for day 29-31 in a shorter month) where the next fire is months
# away; the search then resumes at the next month. Eight years of months covers 29 February across 2100.
_MAX_MONTHS_SKIPPED = 8 * 12
# Wall-clock minutes that a DST change removes or repeats in one go: two hours at most (Antarctica/Troll), with room.
_MAX_WALL_TIMES_SKIPPED = 3 * 60

_RATE_UNITS: dict[str, tuple[str, timedelta]] = {
    "minute": ("minute", timedelta(minutes=1)),
    "minutes": ("minute", timedelta(minutes=1)),
    "hour": ("hour", timedelta(hours=1)),
    "hours": ("hour", timedelta(hours=1)),
    "day": ("day", timedelta(days=1)),
    "days": ("day", timedelta(days=1)),
}


class ExpressionError(ValueError):
    """An expression or timezone that EventBridge Scheduler or the platform would refuse; the message says why."""


class _Rule(Protocol):
    def next_fires(self, after: datetime, count: int) -> list[datetime]: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class ScheduleExpression:
    """A checked schedule expression. Build one with `parse_expression`.

    `start` is the `now` it was parsed at: a rate schedule fires at start, start + interval, and so on, as
    EventBridge Scheduler fires a rate schedule given no StartDate from the moment it is created.
    """

    kind: ScheduleKind
    expression: str
    timezone: str
    start: datetime
    _rule: _Rule = field(repr=False, compare=False)

    def next_fires(self, after: datetime, count: int = 5) -> list[datetime]:
        """The next `count` fire times strictly after `after`, as aware UTC datetimes.

        Fewer come back when the schedule runs out: an `at` that has fired, a cron whose year field ends.
        """
        _require_aware(after, "after")
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        if count == 0:
            return []
        return self._rule.next_fires(after.astimezone(UTC), count)

    def describe(self) -> str:
        """The schedule in plain English, e.g. "At 09:00, Monday through Friday (Europe/Paris)"."""
        return self._rule.describe()


def parse_expression(
    expression: str, timezone: str, *, min_interval_s: int, now: datetime | None = None
) -> ScheduleExpression:
    """Checks an EventBridge Scheduler expression in an IANA timezone; raises ExpressionError with the reason.

    A cron or rate whose fires come closer together than `min_interval_s` is refused, and so is an `at` that is not
    after `now` (default: the current time).
    """
    if min_interval_s < 0:
        raise ValueError(f"min_interval_s must not be negative, got {min_interval_s}")
    if now is None:
        now = datetime.now(UTC)
    _require_aware(now, "now")
    now = now.astimezone(UTC)

    text = expression.strip()
    if not text:
        raise ExpressionError("schedule expression is empty")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"schedule expression is {len(text)} characters long, "
            f"more than the {MAX_EXPRESSION_LENGTH} EventBridge Scheduler accepts"
        )
    match = _EXPRESSION_RE.fullmatch(text)
    if match is None:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ExpressionError(f"expected cron(...), rate(...) or at(...), got {shown!r}")
    kind = cast(ScheduleKind, match.group(1))  # the regex allows only the three kinds
    body = match.group(2)
    zone = _zone(timezone)

    rule: _Rule
    if kind == "cron":
        rule = _parse_cron(body, zone, timezone, min_interval_s=min_interval_s, now=now)
    elif kind == "rate":
        rule = _parse_rate(body, start=now, min_interval_s=min_interval_s)
    else:
        rule = _parse_at(body, zone, timezone, now=now)
    return ScheduleExpression(kind=kind, expression=text, timezone=timezone, start=now, _rule=rule)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment.isoformat()}")


@cache
def timezones() -> tuple[str, ...]:
    """The IANA timezone names a schedule may use, from the pinned tz database of the `tzdata` package, so the
    document's list and the server's check are the same on every machine, whatever the system has installed
    (Lambda's runtime may have no tz database at all). `Factory` is a placeholder, not a place."""
    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return tuple(sorted(name for name in names if name != "Factory"))


def _zone(name: str) -> ZoneInfo:
    if not name or len(name) > MAX_TIMEZONE_LENGTH or name not in timezones():
        raise ExpressionError(f"unknown timezone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        # ValueError: a key that is not a relative path; OSError: a key naming a directory of the tz database.
        raise ExpressionError(f"unknown timezone {name!r}") from error


def _utc_of_wall_time(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The instant a naive wall-clock time names in `zone`, or None if the clocks skip it.

    A wall time that occurs twice (clocks going back) is taken at its first occurrence (fold 0), since EventBridge
    Scheduler does not repeat an invocation in the repeated hour.
    """
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


# --- cron -------------------------------------------------------------------------------------------------------


def _parse_cron(body: str, zone: ZoneInfo, timezone: str, *, min_interval_s: int, now: datetime) -> _CronRule:
    fields = body.split()
    if len(fields) != len(_CRON_FIELD_NAMES):
        raise ExpressionError(
            f"cron needs 6 fields (minutes hours day-of-month month day-of-week year), got {len(fields)}"
        )
    day_of_month, day_of_week = fields[2], fields[4]
    if day_of_month != "?" and day_of_week != "?":
        raise ExpressionError("day-of-month and day-of-week cannot both be set: one must be ?")
    if day_of_month == "?" and day_of_week == "?":
        raise ExpressionError("day-of-month and day-of-week cannot both be ?: set one of them")
    if day_of_week == "L":
        # "L" alone is the last day of the week, Saturday; pyawscron only knows the "<day>L" form.
        fields[4] = "7"
    for index, value in enumerate(fields):
        _check_cron_field(index, value)

    cron = AWSCron(" ".join(fields))
    rule = _CronRule(cron=cron, fields=tuple(fields), zone=zone, timezone=timezone)
    fires = rule.next_fires(now, INTERVAL_SAMPLE_FIRES)
    if not fires:
        raise ExpressionError(f"cron({body.strip()}) never fires after {now:%Y-%m-%dT%H:%MZ}")
    for earlier, later in pairwise(fires):
        gap_s = int((later - earlier).total_seconds())
        if gap_s < min_interval_s:
            raise ExpressionError(
                f"fires every {gap_s} s (at {earlier:%Y-%m-%dT%H:%MZ} then {later:%H:%MZ}), "
                f"below the minimum interval of {min_interval_s} s"
            )
    return rule


def _check_cron_field(index: int, value: str) -> None:
    name = _CRON_FIELD_NAMES[index]
    foreign = sorted(set(value) - _CRON_FIELD_CHARACTERS[index])
    if foreign:
        raise ExpressionError(f"{name} field {value!r} cannot contain {''.join(foreign)!r}")
    if _OVERSIZED_NUMBER_RE.search(value):
        raise ExpressionError(f"{name} field {value!r} has a number that is too large")
    if _ZERO_OR_MISSING_STEP_RE.search(value):
        raise ExpressionError(f"{name} field {value!r} needs a positive increment after /")

    probe = list(_CRON_PROBE)
    probe[index] = value
    try:
        parsed = getattr(AWSCron(" ".join(probe)), _AWSCRON_ATTRIBUTES[index])
    except (ValueError, IndexError) as error:
        raise ExpressionError(f"{name} field {value!r} is not valid") from error
    _check_cron_values(index, value, parsed)


def _check_cron_values(index: int, value: str, parsed: list[Any]) -> None:
    """Checks pyawscron's reading of one field against EventBridge's ranges; pyawscron checks none itself.

    pyawscron reads a field as a sorted list of ints, or as a tagged form: ["L", n], ["W", day], ["#", weekday, n].
    """
    if value == "?":  # only day-of-month and day-of-week let it through the character check
        return
    name = _CRON_FIELD_NAMES[index]
    low, high = _CRON_INT_RANGES[index]
    tag = parsed[0] if parsed and isinstance(parsed[0], str) else None
    if index == 2 and tag == "L":
        # Only "L" and "L-n" (n days before the last); pyawscron would also read "5L" as L-5.
        if not (value == "L" or value.startswith("L-")) or not 0 <= parsed[1] <= 30:
            raise ExpressionError(f"{name} field {value!r} is not valid: use L or L-n with n from 0 to 30")
        return
    if index == 2 and tag == "W":
        if not low <= parsed[1] <= high:
            raise ExpressionError(f"{name} field {value!r} is not valid: nW needs a day from 1 to 31")
        return
    if index == 4 and tag == "L":
        if value.startswith("L-") or not low <= parsed[1] <= high:
            raise ExpressionError(f"{name} field {value!r} is not valid: nL needs a weekday from 1 (SUN) to 7 (SAT)")
        return
    if index == 4 and tag == "#":
        if not (low <= parsed[1] <= high and 1 <= parsed[2] <= 5):
            raise ExpressionError(f"{name} field {value!r} is not valid: d#n needs a weekday 1-7 and n from 1 to 5")
        return
    if tag is not None:
        raise ExpressionError(f"{name} field {value!r} cannot use {tag}")
    if not parsed:
        raise ExpressionError(f"{name} field {value!r} selects no value (allowed: {low}-{high})")
    out_of_range = [number for number in parsed if not low <= number <= high]
    if out_of_range:
        raise ExpressionError(f"{name} must be between {low} and {high}, got {out_of_range[0]} in {value!r}")


@dataclass(frozen=True)
class _CronRule:
    cron: Any  # a pyawscron AWSCron
    fields: tuple[str, ...]
    zone: ZoneInfo
    timezone: str

    def next_fires(self, after: datetime, count: int) -> list[datetime]:
        # pyawscron is handed the zone's wall clock dressed as UTC, and its answers are turned back into instants.
        cursor = after.astimezone(self.zone).replace(tzinfo=UTC)
        fires: list[datetime] = []
        skipped = 0
        while len(fires) < count and skipped <= _MAX_WALL_TIMES_SKIPPED:
            wall = self._next_wall_time(cursor)
            if wall is None:
                break
            cursor = wall
            fire = _utc_of_wall_time(wall.replace(tzinfo=None), self.zone)
            # None: a wall time that clocks going forward skip. Not after `after`: `after` fell in the second pass
            # of a repeated hour, whose wall times fired in the first.
            if fire is None or fire <= after:
                skipped += 1
                continue
            fires.append(fire)
        return fires

    def _next_wall_time(self, cursor: datetime) -> datetime | None:
        for _ in range(_MAX_MONTHS_SKIPPED):
            try:
                found: datetime | None = self.cron.occurrence(cursor).next()
                return found
            except Exception:  # pyawscron raises a bare Exception, or ValueError for a bad date, where it gives up
                # Resume at the month after the one searched from; next() moves a minute past its cursor, hence the
                # minute added here and taken off below.
                searched = cursor + timedelta(minutes=1)
                month_start = searched.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                following = (month_start + timedelta(days=32)).replace(day=1)
                cursor = following - timedelta(minutes=1)
        return None

    def describe(self) -> str:
        from cron_descriptor import ExpressionDescriptor, FormatError, Options

        options = Options(locale_code="en_US", use_24hour_time_format=True, day_of_week_start_index_zero=False)
        try:
            # A leading seconds field makes the seven-field form, which cron-descriptor never mistakes for another.
            text = ExpressionDescriptor("0 " + " ".join(self.fields), options).get_description()
        except FormatError:
            text = f"On cron({' '.join(self.fields)})"
        return f"{text} ({self.timezone})"


# --- rate -------------------------------------------------------------------------------------------------------


def _parse_rate(body: str, *, start: datetime, min_interval_s: int) -> _RateRule:
    parts = body.split()
    if len(parts) != 2:
        raise ExpressionError(f"rate needs a value and a unit, like rate(5 minutes), got rate({body.strip()})")
    value_text, unit = parts
    if unit not in _RATE_UNITS:
        raise ExpressionError(f"rate unit must be minute(s), hour(s) or day(s), got {unit!r}")
    if not value_text.isdecimal() or not value_text.isascii() or int(value_text) == 0:
        raise ExpressionError(f"rate value must be a positive whole number, got {value_text!r}")
    value = int(value_text)
    singular, length = _RATE_UNITS[unit]
    # EventBridge's rule: a value of 1 takes the singular unit, any other value the plural.
    if value == 1 and unit != singular:
        raise ExpressionError(f"rate(1 {unit}) is not valid: a value of 1 takes the singular unit, rate(1 {singular})")
    if value > 1 and unit == singular:
        raise ExpressionError(
            f"rate({value} {unit}) is not valid: a value above 1 takes the plural unit, rate({value} {unit}s)"
        )
    try:
        every = length * value
    except OverflowError as error:
        raise ExpressionError(f"rate value {value} is too large") from error
    every_s = int(every.total_seconds())
    if every_s < min_interval_s:
        raise ExpressionError(f"fires every {every_s} s, below the minimum interval of {min_interval_s} s")
    return _RateRule(value=value, unit=singular, every=every, start=start)


@dataclass(frozen=True)
class _RateRule:
    value: int
    unit: str
    every: timedelta
    start: datetime

    def next_fires(self, after: datetime, count: int) -> list[datetime]:
        first = 0 if after < self.start else (after - self.start) // self.every + 1
        fires: list[datetime] = []
        for step in range(first, first + count):
            try:
                fires.append(self.start + self.every * step)
            except OverflowError:  # past year 9999
                break
        return fires

    def describe(self) -> str:
        return f"every {self.unit}" if self.value == 1 else f"every {self.value} {self.unit}s"


# --- at ---------------------------------------------------------------------------------------------------------


def _parse_at(body: str, zone: ZoneInfo, timezone: str, *, now: datetime) -> _AtRule:
    if not _AT_RE.fullmatch(body):
        raise ExpressionError(f"at needs a local date and time as yyyy-mm-ddThh:mm:ss, got at({body})")
    try:
        # Naive on purpose: a wall time in `zone`, placed there by _utc_of_wall_time.
        wall = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")
    except ValueError as error:
        raise ExpressionError(f"at({body}) is not a real date and time") from error
    fire = _utc_of_wall_time(wall, zone)
    if fire is None:
        raise ExpressionError(f"at({body}) does not exist in {timezone}: the clocks skip it")
    if fire <= now:
        raise ExpressionError(f"at({body}) {timezone} is in the past (now is {now:%Y-%m-%dT%H:%M:%SZ})")
    return _AtRule(wall=wall, fire=fire, timezone=timezone)


@dataclass(frozen=True)
class _AtRule:
    wall: datetime
    fire: datetime
    timezone: str

    def next_fires(self, after: datetime, count: int) -> list[datetime]:
        return [self.fire] if self.fire > after else []

    def describe(self) -> str:
        shown = f"{self.wall:%Y-%m-%d %H:%M:%S}" if self.wall.second else f"{self.wall:%Y-%m-%d %H:%M}"
        return f"once at {shown} {self.timezone}"
