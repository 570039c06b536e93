"""The schedule models: what a request may say, and what a schedule shows when read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from agentlab.errors import Unprocessable
from agentlab.models.schedule import Schedule, ScheduleCreate, ScheduleUpdate, check_expression

AGENT_ID = "01JSCHEDAGENTAAAAAAAAAAAAA"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def body(**overrides: Any) -> dict[str, Any]:
    return {"name": "nightly report", "agent_id": AGENT_ID, "prompt": "summarise", "expression": "rate(1 hour)"} | (
        overrides
    )


def test_defaults_are_utc_enabled_and_three_failures() -> None:
    spec = ScheduleCreate.model_validate(body())

    assert (spec.timezone, spec.enabled, spec.auto_pause_after, spec.agent_version) == ("UTC", True, 3, None)
    assert spec.daily_budget.max_runs is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "tab\there"),
        ("name", "x" * 101),
        ("agent_id", "not-a-ulid"),
        ("agent_version", 0),
        ("prompt", ""),
        ("file_ids", [AGENT_ID, AGENT_ID]),
        ("file_ids", [f"01JSCHEDFILE{i:014d}" for i in range(21)]),
        ("env", {"AWS_SECRET_ACCESS_KEY": {"type": "str", "value": "x"}}),
        ("env", {"lower": {"type": "str", "value": "x"}}),
        ("env", {"COUNT": {"type": "int", "value": "five"}}),
        ("expression", "x" * 257),
        ("auto_pause_after", 0),
        ("auto_pause_after", 101),
        ("daily_budget", {"max_runs": 0}),
        ("daily_budget", {"max_cost_usd": 100_001}),
        ("daily_budget", {"max_sandbox_minutes": 1_440 * 100 + 1}),
        ("enabled", "yes"),
    ],
)
def test_a_create_refuses_what_its_limits_refuse(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        ScheduleCreate.model_validate(body(**{field: value}))

    assert raised.value.errors()[0]["loc"][0] == field


def test_an_update_may_leave_fields_out_but_not_null_them() -> None:
    change = ScheduleUpdate.model_validate({"prompt": "new"})

    assert change.model_dump(exclude_unset=True) == {"prompt": "new"}
    with pytest.raises(ValidationError, match="cannot be null"):
        ScheduleUpdate.model_validate({"expression": None})


def test_an_update_checks_env_as_a_create_does() -> None:
    with pytest.raises(ValidationError, match="reserved"):
        ScheduleUpdate.model_validate({"env": {"PATH": {"type": "str", "value": "/bin"}}})


@pytest.mark.parametrize(
    ("overrides", "code", "reason"),
    [
        ({"expression": "every day"}, "invalid_expression", "expected cron(...), rate(...) or at(...)"),
        ({"expression": "rate(1 minute)"}, "invalid_expression", "300"),
        ({"timezone": "Mars/Olympus_Mons"}, "invalid_timezone", "unknown timezone"),
        ({"expression": "nonsense", "timezone": "Nowhere"}, "invalid_timezone", "unknown timezone"),
    ],
)
def test_check_expression_refuses_with_the_code_and_the_reason(
    overrides: dict[str, str], code: str, reason: str
) -> None:
    spec = ScheduleCreate.model_validate(body(**overrides))

    with pytest.raises(Unprocessable) as raised:
        check_expression(spec, 300, NOW)

    assert raised.value.code == code
    assert reason in raised.value.message


def test_check_expression_accepts_a_cron_in_a_timezone() -> None:
    spec = ScheduleCreate.model_validate(body(expression="cron(0 9 ? * MON-FRI *)", timezone="Europe/Paris"))

    assert check_expression(spec, 300, NOW).kind == "cron"


def test_status_follows_enabled_and_the_pause() -> None:
    stored = {"id": "s", "org_id": "o", "created_at": NOW, "updated_at": NOW, **body()}

    assert Schedule.model_validate(stored).status == "active"
    assert Schedule.model_validate({**stored, "paused_reason": "by hand"}).status == "paused"
    assert Schedule.model_validate({**stored, "paused_reason": "by hand", "enabled": False}).status == "disabled"


def test_forecast_gives_the_next_five_fires_and_a_description() -> None:
    stored = {"id": "s", "org_id": "o", "created_at": NOW, "updated_at": NOW, **body(expression="cron(30 6 * * ? *)")}

    shown = Schedule.model_validate(stored).forecast(NOW)

    assert shown.next_fires == [datetime(2026, 12, day, 6, 30, tzinfo=UTC) for day in range(3, 8)]
    assert "06:30" in shown.description


def test_the_document_lists_the_timezones_the_check_accepts_and_no_other() -> None:
    listed = ScheduleCreate.model_json_schema()["properties"]["timezone"]["enum"]

    assert listed == sorted(listed) and {"UTC", "Europe/Paris", "America/Argentina/Buenos_Aires"} <= set(listed)
    assert ScheduleUpdate.model_json_schema()["properties"]["timezone"]["enum"] == listed
    for name in listed:
        check_expression(ScheduleCreate.model_validate(body(timezone=name)), 300, NOW)
    # Names a system's tz directory may hold that are no place: the same answer on every machine.
    for name in ("localtime", "posixrules", "Factory", "Europe", "right/UTC"):
        with pytest.raises(Unprocessable) as raised:
            check_expression(ScheduleCreate.model_validate(body(timezone=name)), 300, NOW)
        assert raised.value.code == "invalid_timezone", name


def test_an_update_documents_env_names_and_unique_files_as_a_create_does() -> None:
    create = ScheduleCreate.model_json_schema()["properties"]
    update = ScheduleUpdate.model_json_schema()["properties"]

    assert update["env"]["propertyNames"] == create["env"]["propertyNames"]
    assert update["file_ids"]["uniqueItems"] is True and "anyOf" not in update["env"]
    with pytest.raises(ValidationError, match="unique"):
        ScheduleUpdate.model_validate({"file_ids": [AGENT_ID, AGENT_ID]})


@pytest.mark.parametrize("text", ["line\nbreak", "bell\x07", "del\x7f"])
def test_a_name_or_pause_reason_with_a_control_character_is_refused_by_its_documented_pattern(text: str) -> None:
    from agentlab.models.schedule import SINGLE_LINE, SchedulePause

    assert ScheduleCreate.model_json_schema()["properties"]["name"]["pattern"] == SINGLE_LINE
    with pytest.raises(ValidationError, match="pattern"):
        ScheduleCreate.model_validate(body(name=text))
    with pytest.raises(ValidationError, match="pattern"):
        SchedulePause.model_validate({"reason": text})
    assert SchedulePause.model_validate({"reason": "maintenance — back at 9"}).reason == "maintenance — back at 9"


def test_usd_amounts_are_kept_to_the_micro_dollar() -> None:
    from agentlab.models.usage import UsageBudgetUpdate

    # A number JSON allows and DynamoDB cannot store (below 1e-130) is no cost at all.
    assert ScheduleCreate.model_validate(body(daily_budget={"max_cost_usd": 5e-324})).daily_budget.max_cost_usd == 0
    assert ScheduleCreate.model_validate(body(budget={"max_cost_usd": 0.12345678})).budget.max_cost_usd == 0.123457
    assert UsageBudgetUpdate.model_validate({"monthly_usd": 0.000001}).monthly_usd == 0.000001
    assert UsageBudgetUpdate.model_json_schema()["properties"]["monthly_usd"]["anyOf"][0]["minimum"] == 0.000001
    with pytest.raises(ValidationError):
        UsageBudgetUpdate.model_validate({"monthly_usd": 5e-324})


@pytest.mark.parametrize("field", ["env", "file_ids", "timezone", "name"])
def test_an_update_refuses_null_for_fields_with_further_schema_too(field: str) -> None:
    with pytest.raises(ValidationError, match="cannot be null"):
        ScheduleUpdate.model_validate({field: None})
