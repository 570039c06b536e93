"""EventBridge Scheduler expressions: what is refused and why, when each kind fires (UTC, across DST), its wording."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from agentlab.schedules.expressions import (
    MAX_EXPRESSION_LENGTH,
    ExpressionError,
    ScheduleExpression,
    parse_expression,
)

# A Friday, two days before Europe/Paris moves its clocks forward (Sunday 29 March 2026, 02:00 -> 03:00).
NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)


def parse(expression: str, timezone: str = "UTC", *, min_interval_s: int = 300) -> ScheduleExpression:
    return parse_expression(expression, timezone, min_interval_s=min_interval_s, now=NOW)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- cron -------------------------------------------------------------------------------------------------------


def test_a_daily_cron_fires_at_its_utc_time_each_day() -> None:
    schedule = parse("cron(0 10 * * ? *)")

    assert (schedule.kind, schedule.expression, schedule.timezone) == ("cron", "cron(0 10 * * ? *)", "UTC")
    assert schedule.next_fires(NOW, 3) == [utc(2026, 3, 28, 10), utc(2026, 3, 29, 10), utc(2026, 3, 30, 10)]


def test_next_fires_are_strictly_after_the_moment_given() -> None:
    schedule = parse("cron(0 10 * * ? *)")

    assert schedule.next_fires(utc(2026, 3, 28, 10), 1) == [utc(2026, 3, 29, 10)]
    assert schedule.next_fires(utc(2026, 3, 28, 9, 59, 59), 1) == [utc(2026, 3, 28, 10)]


def test_a_paris_cron_keeps_its_wall_clock_time_across_the_march_change() -> None:
    # Given 09:00 in Paris: 08:00 UTC in winter time (UTC+1), 07:00 UTC from Sunday on (UTC+2)
    schedule = parse("cron(0 9 * * ? *)", "Europe/Paris")

    assert schedule.next_fires(NOW, 3) == [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)]


def test_a_paris_cron_at_a_time_the_march_change_skips_does_not_fire_that_day() -> None:
    # 02:30 does not exist in Paris on 29 March 2026: EventBridge Scheduler skips that invocation.
    schedule = parse("cron(30 2 * * ? *)", "Europe/Paris")

    assert schedule.next_fires(NOW, 3) == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)]


def test_a_paris_cron_at_a_time_the_october_change_repeats_fires_once() -> None:
    # 02:30 happens twice in Paris on 25 October 2026 (00:30 and 01:30 UTC); it fires at the first only.
    schedule = parse("cron(30 2 * * ? *)", "Europe/Paris")

    fires = schedule.next_fires(utc(2026, 10, 24), 3)

    assert fires == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_an_hourly_paris_cron_fires_once_in_the_repeated_hour() -> None:
    schedule = parse("cron(0 * * * ? *)", "Europe/Paris")

    fires = schedule.next_fires(utc(2026, 10, 24, 22, 30), 4)

    # 01:00 and 02:00 summer time, then 03:00 winter time; the second 02:00 (01:00 UTC) does not fire.
    assert fires == [utc(2026, 10, 24, 23), utc(2026, 10, 25, 0), utc(2026, 10, 25, 2), utc(2026, 10, 25, 3)]


def test_next_fires_asked_from_inside_the_repeated_hour_start_after_it() -> None:
    # Given 01:15 UTC on 25 October 2026, which is 02:15 in Paris for the second time
    schedule = parse("cron(0/30 * * * ? *)", "Europe/Paris", min_interval_s=1800)

    # Then 02:30 (already fired in the first pass, at 00:30 UTC) is not offered again
    assert schedule.next_fires(utc(2026, 10, 25, 1, 15), 2) == [utc(2026, 10, 25, 2), utc(2026, 10, 25, 2, 30)]


@pytest.mark.parametrize(
    ("expression", "fires"),
    [
        # L: the last day of the month
        ("cron(0 9 L * ? *)", [utc(2026, 3, 31, 9), utc(2026, 4, 30, 9), utc(2026, 5, 31, 9)]),
        # L-2: two days before the last day of the month
        ("cron(0 9 L-2 * ? *)", [utc(2026, 3, 29, 9), utc(2026, 4, 28, 9), utc(2026, 5, 29, 9)]),
        # 15W: the weekday nearest the 15th (15 August 2026 is a Saturday: Friday the 14th)
        ("cron(0 9 15W 4,8 ? *)", [utc(2026, 4, 15, 9), utc(2026, 8, 14, 9), utc(2027, 4, 15, 9)]),
        # 6L: the last Friday of the month (27 March at 09:00 is already past at NOW)
        ("cron(0 9 ? * 6L *)", [utc(2026, 4, 24, 9), utc(2026, 5, 29, 9), utc(2026, 6, 26, 9)]),
        # L alone in day-of-week: the last day of the week, Saturday
        ("cron(0 9 ? * L *)", [utc(2026, 3, 28, 9), utc(2026, 4, 4, 9), utc(2026, 4, 11, 9)]),
        # MON#1 (2#1): the first Monday of the month
        ("cron(0 9 ? * MON#1 *)", [utc(2026, 4, 6, 9), utc(2026, 5, 4, 9), utc(2026, 6, 1, 9)]),
        ("cron(0 9 ? * 2#1 *)", [utc(2026, 4, 6, 9), utc(2026, 5, 4, 9), utc(2026, 6, 1, 9)]),
        # 6#5: the fifth Friday, in months that have one
        ("cron(0 9 ? * 6#5 *)", [utc(2026, 5, 29, 9), utc(2026, 7, 31, 9), utc(2026, 10, 30, 9)]),
    ],
)
def test_the_last_weekday_and_nth_forms_fire_on_the_right_days(expression: str, fires: list[datetime]) -> None:
    assert parse(expression).next_fires(NOW, 3) == fires


def test_ranges_lists_increments_and_names_are_read_as_eventbridge_does() -> None:
    # Given every 15 minutes from minute 5, 08:00-09:59, weekdays, in January and February of 2027
    schedule = parse("cron(5/15 8-9 ? JAN,FEB MON-FRI 2027)")

    fires = schedule.next_fires(NOW, 9)

    assert fires[:4] == [utc(2027, 1, 1, 8, 5), utc(2027, 1, 1, 8, 20), utc(2027, 1, 1, 8, 35), utc(2027, 1, 1, 8, 50)]
    assert fires[8] == utc(2027, 1, 4, 8, 5)  # Friday the 1st, then Monday the 4th


def test_a_day_that_short_months_lack_is_skipped_in_them() -> None:
    schedule = parse("cron(0 0 31 * ? *)")

    fires = schedule.next_fires(utc(2026, 1, 31, 1), 3)

    assert fires == [utc(2026, 3, 31), utc(2026, 5, 31), utc(2026, 7, 31)]


def test_29_february_waits_for_the_next_leap_year_even_across_2100() -> None:
    schedule = parse("cron(0 0 29 2 ? *)")

    assert schedule.next_fires(NOW, 1) == [utc(2028, 2, 29)]
    assert schedule.next_fires(utc(2096, 3, 1), 1) == [utc(2104, 2, 29)]  # 2100 is not a leap year


def test_a_cron_whose_year_field_ends_stops_firing() -> None:
    schedule = parse("cron(0 0 1 1 ? 2027)")

    assert schedule.next_fires(NOW, 5) == [utc(2027, 1, 1)]
    assert schedule.next_fires(utc(2027, 1, 1), 5) == []


def test_a_cron_exactly_at_the_minimum_interval_is_accepted() -> None:
    schedule = parse("cron(0/5 * * * ? *)", min_interval_s=300)

    fires = schedule.next_fires(NOW, 3)

    assert [later - earlier for earlier, later in pairwise(fires)] == [timedelta(minutes=5)] * 2


# --- rate -------------------------------------------------------------------------------------------------------


def test_a_rate_fires_every_interval_from_when_it_was_parsed() -> None:
    schedule = parse("rate(5 minutes)")

    assert schedule.kind == "rate"
    assert schedule.start == NOW
    assert schedule.next_fires(NOW, 3) == [NOW + timedelta(minutes=5 * n) for n in (1, 2, 3)]
    assert schedule.next_fires(NOW + timedelta(minutes=7), 1) == [NOW + timedelta(minutes=10)]


def test_a_rate_fires_first_at_its_start_when_asked_from_before_it() -> None:
    schedule = parse("rate(1 hour)")

    assert schedule.next_fires(NOW - timedelta(days=1), 2) == [NOW, NOW + timedelta(hours=1)]


def test_a_daily_rate_counts_24_hours_and_ignores_the_timezone_and_its_dst_change() -> None:
    schedule = parse("rate(1 day)", "Europe/Paris")

    assert schedule.timezone == "Europe/Paris"
    assert schedule.next_fires(NOW, 3) == [utc(2026, 3, 28, 12), utc(2026, 3, 29, 12), utc(2026, 3, 30, 12)]


@pytest.mark.parametrize(
    "expression",
    ["rate(1 minute)", "rate(2 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(7 days)"],
)
def test_a_rate_with_a_singular_unit_for_1_and_a_plural_for_more_is_accepted(expression: str) -> None:
    assert parse(expression, min_interval_s=60).expression == expression


# --- at ---------------------------------------------------------------------------------------------------------


def test_an_at_fires_once_at_its_local_time() -> None:
    schedule = parse("at(2027-01-01T09:00:00)", "Europe/Paris")

    assert schedule.kind == "at"
    assert schedule.next_fires(NOW, 5) == [utc(2027, 1, 1, 8)]
    assert schedule.next_fires(utc(2027, 1, 1, 8), 5) == []


def test_an_at_in_the_repeated_october_hour_fires_at_its_first_occurrence() -> None:
    schedule = parse("at(2026-10-25T02:30:00)", "Europe/Paris")

    assert schedule.next_fires(NOW) == [utc(2026, 10, 25, 0, 30)]


def test_an_at_uses_the_current_time_when_no_now_is_given() -> None:
    schedule = parse_expression("at(2999-01-01T00:00:00)", "UTC", min_interval_s=300)

    assert schedule.next_fires(NOW) == [utc(2999, 1, 1)]
    with pytest.raises(ExpressionError, match="in the past"):
        parse_expression("at(2001-01-01T00:00:00)", "UTC", min_interval_s=300)


# --- descriptions -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "timezone", "description"),
    [
        ("cron(0 10 * * ? *)", "UTC", "At 10:00 (UTC)"),
        ("cron(0 18 ? * MON-FRI *)", "Europe/Paris", "At 18:00, Monday through Friday (Europe/Paris)"),
        (
            "cron(0/5 8-17 ? * MON-FRI *)",
            "America/New_York",
            "Every 5 minutes, between 08:00 and 17:59, Monday through Friday (America/New_York)",
        ),
        ("cron(0 9 L * ? *)", "UTC", "At 09:00, on the last day of the month (UTC)"),
        ("cron(0 9 15W * ? *)", "UTC", "At 09:00, on the weekday nearest day 15 of the month (UTC)"),
        ("cron(0 9 ? * 6L *)", "UTC", "At 09:00, on the last Friday of the month (UTC)"),
        ("cron(0 9 ? * 2#1 *)", "UTC", "At 09:00, on the first Monday of the month (UTC)"),
        ("cron(0 9 ? * 1 *)", "UTC", "At 09:00, only on Sunday (UTC)"),
        ("cron(0 9 ? * L *)", "UTC", "At 09:00, only on Saturday (UTC)"),
        ("rate(5 minutes)", "UTC", "every 5 minutes"),
        ("rate(1 minute)", "UTC", "every minute"),
        ("rate(1 hour)", "Europe/Paris", "every hour"),
        ("rate(2 days)", "UTC", "every 2 days"),
        ("at(2027-01-01T09:00:00)", "Europe/Paris", "once at 2027-01-01 09:00 Europe/Paris"),
        ("at(2027-01-01T09:00:30)", "Asia/Tokyo", "once at 2027-01-01 09:00:30 Asia/Tokyo"),
    ],
)
def test_describe_says_in_words_when_it_fires(expression: str, timezone: str, description: str) -> None:
    assert parse(expression, timezone, min_interval_s=60).describe() == description


# --- refusals ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "timezone", "reason"),
    [
        ("cron(0 10 * * ?)", "UTC", "cron needs 6 fields (minutes hours day-of-month month day-of-week year), got 5"),
        (
            "cron(0 10 * * ? * *)",
            "UTC",
            "cron needs 6 fields (minutes hours day-of-month month day-of-week year), got 7",
        ),
        ("cron(0 10 * * 1 *)", "UTC", "day-of-month and day-of-week cannot both be set: one must be ?"),
        ("cron(0 10 * * * *)", "UTC", "day-of-month and day-of-week cannot both be set: one must be ?"),
        ("cron(0 10 ? * ? *)", "UTC", "day-of-month and day-of-week cannot both be ?: set one of them"),
        ("rate(5 weeks)", "UTC", "rate unit must be minute(s), hour(s) or day(s), got 'weeks'"),
        ("rate(5 seconds)", "UTC", "rate unit must be minute(s), hour(s) or day(s), got 'seconds'"),
        ("rate(0 minutes)", "UTC", "rate value must be a positive whole number, got '0'"),
        ("rate(-5 minutes)", "UTC", "rate value must be a positive whole number, got '-5'"),
        ("rate(1.5 hours)", "UTC", "rate value must be a positive whole number, got '1.5'"),
        (
            "rate(1 minutes)",
            "UTC",
            "rate(1 minutes) is not valid: a value of 1 takes the singular unit, rate(1 minute)",
        ),
        (
            "rate(2 minute)",
            "UTC",
            "rate(2 minute) is not valid: a value above 1 takes the plural unit, rate(2 minutes)",
        ),
        ("rate(5)", "UTC", "rate needs a value and a unit, like rate(5 minutes), got rate(5)"),
        ("cron(0 10 * * ? *)", "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
        ("rate(5 minutes)", "Europe", "unknown timezone 'Europe'"),
        ("at(2027-01-01T09:00:00)", "../../etc/passwd", "unknown timezone '../../etc/passwd'"),
        ("cron(0 10 * * ? *)", "", "unknown timezone ''"),
        ("rate(1 minute)", "UTC", "fires every 60 s, below the minimum interval of 300 s"),
        ("rate(4 minutes)", "UTC", "fires every 240 s, below the minimum interval of 300 s"),
        (
            "cron(* * * * ? *)",
            "UTC",
            "fires every 60 s (at 2026-03-27T12:01Z then 12:02Z), below the minimum interval of 300 s",
        ),
        (
            "cron(0,1 9 * * ? *)",
            "UTC",
            "fires every 60 s (at 2026-03-28T09:00Z then 09:01Z), below the minimum interval of 300 s",
        ),
        (
            "at(2026-03-27T12:59:00)",
            "Europe/Paris",
            "at(2026-03-27T12:59:00) Europe/Paris is in the past (now is 2026-03-27T12:00:00Z)",
        ),
        ("at(2026-03-27T12:00:00)", "UTC", "at(2026-03-27T12:00:00) UTC is in the past (now is 2026-03-27T12:00:00Z)"),
        ("at(2026-03-29T02:30:00)", "Europe/Paris", "at(2026-03-29T02:30:00) does not exist in Europe/Paris"),
        ("at(2027-02-30T09:00:00)", "UTC", "at(2027-02-30T09:00:00) is not a real date and time"),
        ("at(2027-01-01 09:00)", "UTC", "at needs a local date and time as yyyy-mm-ddThh:mm:ss"),
        ("at(2027-01-01T09:00:00Z)", "UTC", "at needs a local date and time as yyyy-mm-ddThh:mm:ss"),
        ("every day at noon", "UTC", "expected cron(...), rate(...) or at(...), got 'every day at noon'"),
        ("CRON(0 10 * * ? *)", "UTC", "expected cron(...), rate(...) or at(...)"),
        ("cron(0 10 * * ? *", "UTC", "expected cron(...), rate(...) or at(...)"),
        ("", "UTC", "schedule expression is empty"),
        ("   ", "UTC", "schedule expression is empty"),
        ("cron(75 10 * * ? *)", "UTC", "minutes must be between 0 and 59, got 75 in '75'"),
        ("cron(0 24 * * ? *)", "UTC", "hours must be between 0 and 23, got 24 in '24'"),
        ("cron(0 10 0 * ? *)", "UTC", "day-of-month must be between 1 and 31, got 0 in '0'"),
        ("cron(0 10 * 13 ? *)", "UTC", "month must be between 1 and 12, got 13 in '13'"),
        ("cron(0 10 ? * 8 *)", "UTC", "day-of-week must be between 1 and 7, got 8 in '8'"),
        ("cron(0 10 * * ? 2300)", "UTC", "year must be between 1970 and 2199, got 2300 in '2300'"),
        ("cron(0 10 * * ? 1969)", "UTC", "year must be between 1970 and 2199, got 1969 in '1969'"),
        ("cron(50-10 10 * * ? *)", "UTC", "minutes field '50-10' selects no value (allowed: 0-59)"),
        ("cron(*/0 10 * * ? *)", "UTC", "minutes field '*/0' needs a positive increment after /"),
        ("cron(5/ 10 * * ? *)", "UTC", "minutes field '5/' needs a positive increment after /"),
        ("cron(0-99999 10 * * ? *)", "UTC", "minutes field '0-99999' has a number that is too large"),
        ("cron(0 10 ? * 1/2 *)", "UTC", "day-of-week field '1/2' cannot contain '/'"),
        ("cron(L 10 * * ? *)", "UTC", "minutes field 'L' cannot contain 'L'"),
        ("cron(0 10 ? * 2W *)", "UTC", "day-of-week field '2W' cannot use W"),
        ("cron(0 10 5L * ? *)", "UTC", "day-of-month field '5L' is not valid: use L or L-n"),
        ("cron(0 10 ? * 2#6 *)", "UTC", "day-of-week field '2#6' is not valid: d#n needs a weekday 1-7 and n from 1"),
        ("cron(0 10 ? * 3#1,6#3 *)", "UTC", "day-of-week field '3#1,6#3' is not valid"),
        ("cron(0 10 ? * FUN *)", "UTC", "day-of-week field 'FUN' is not valid"),
        ("cron(0 10 * SMARCH ? *)", "UTC", "month field 'SMARCH' is not valid"),
        ("cron(0 10 30 2 ? *)", "UTC", "cron(0 10 30 2 ? *) never fires after 2026-03-27T12:00Z"),
        ("cron(0 10 1 1 ? 2020)", "UTC", "cron(0 10 1 1 ? 2020) never fires after 2026-03-27T12:00Z"),
    ],
)
def test_an_invalid_expression_is_refused_with_its_reason(expression: str, timezone: str, reason: str) -> None:
    with pytest.raises(ExpressionError) as refused:
        parse(expression, timezone)

    assert str(refused.value).startswith(reason)


def test_a_huge_input_is_refused_on_its_length_before_any_parsing() -> None:
    huge = "cron(" + "0," * 500_000 + "0 10 * * ? *)"

    with pytest.raises(ExpressionError) as refused:
        parse(huge)

    assert str(refused.value) == (
        f"schedule expression is {len(huge)} characters long, more than the {MAX_EXPRESSION_LENGTH} "
        "EventBridge Scheduler accepts"
    )


def test_a_rate_too_large_to_count_is_refused() -> None:
    with pytest.raises(ExpressionError, match="is too large"):
        parse(f"rate({'9' * 200} days)")


def test_an_expression_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        parse("rate(5 minutes)", "Nowhere/Special")


def test_surrounding_whitespace_is_dropped_from_the_expression() -> None:
    assert parse("  rate(5 minutes)\n").expression == "rate(5 minutes)"


# --- caller mistakes: plain ValueError, not a reason to show a user ------------------------------------------------


def test_a_naive_now_or_after_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="now must be a timezone-aware datetime") as refused:
        parse_expression("rate(5 minutes)", "UTC", min_interval_s=300, now=datetime(2026, 3, 27, 12))
    assert not isinstance(refused.value, ExpressionError)

    with pytest.raises(ValueError, match="after must be a timezone-aware datetime"):
        parse("rate(5 minutes)").next_fires(datetime(2026, 3, 27, 12))


def test_next_fires_takes_a_count_of_zero_but_not_below() -> None:
    schedule = parse("rate(5 minutes)")

    assert schedule.next_fires(NOW, 0) == []
    with pytest.raises(ValueError, match="count must not be negative"):
        schedule.next_fires(NOW, -1)


def test_next_fires_accepts_an_aware_datetime_in_any_zone_and_answers_in_utc() -> None:
    schedule = parse("cron(0 10 * * ? *)")
    after = NOW.astimezone(ZoneInfo("Asia/Tokyo"))  # 21:00 on the 27th in Tokyo

    fires = schedule.next_fires(after, 1)

    assert fires == [utc(2026, 3, 28, 10)]
    assert fires[0].tzinfo is UTC


# --- imports ----------------------------------------------------------------------------------------------------


def test_importing_the_module_leaves_cron_descriptor_unloaded_until_a_description_is_asked_for() -> None:
    probe = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from agentlab.schedules.expressions import parse_expression\n"
        "loaded_at_import = 'cron_descriptor' in sys.modules\n"
        "s = parse_expression('cron(0 10 * * ? *)', 'UTC', min_interval_s=300, now=datetime(2026, 1, 1, tzinfo=UTC))\n"
        "loaded_at_parse = 'cron_descriptor' in sys.modules\n"
        "s.describe()\n"
        "print(loaded_at_import, loaded_at_parse, 'cron_descriptor' in sys.modules)\n"
    )

    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert result.stdout.split() == ["False", "False", "True"]
