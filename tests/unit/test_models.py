"""Request and domain models: what they accept, what they refuse and why; ULIDs."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from agentlab import ids
from agentlab.identity.policy import MIN_PASSWORD_LENGTH, cognito_password_policy, policy_problems
from agentlab.ids import is_ulid, new_ulid, ulid_timestamp_ms
from agentlab.models import (
    AgentCreate,
    AgentLimits,
    AgentUpdate,
    ApiKeyCreate,
    Budget,
    EnvVar,
    FileCreate,
    Login,
    MemberCreate,
    OrgQuotas,
    RunCreate,
    StrictInput,
)
from agentlab.models.file import file_create_with_cap
from agentlab.models.run import MAX_ENV_VALUE_CHARS

AGENT_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
FILE_IDS = [f"01ARZ3NDEKTSV4RRFFQ69G5F{a}{b}" for a in "ABCD" for b in "ABCDEFGH"]


def refusal(model: Any, data: dict[str, Any]) -> str:
    """Validate `data`, expect a refusal, and return the messages pydantic gives."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return " | ".join(str(error["msg"]) for error in caught.value.errors())


def run_body(**fields: Any) -> dict[str, Any]:
    return {"agent_id": AGENT_ID, "prompt": "do it", **fields}


# EnvVar --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("declared", "value", "rendered"),
    [
        ("str", "hello world", "hello world"),
        ("str", "", ""),
        ("int", 42, "42"),
        ("int", -7, "-7"),
        # JSON has one number type; JSON Schema's `integer` (the document's) holds a number without a fraction
        ("int", 5.0, "5"),
        ("float", 2.5, "2.5"),
        ("float", 3, "3"),
        ("float", 1e-7, "1e-07"),
        ("bool", True, "true"),
        ("bool", False, "false"),
        ("json", {"b": [1, 2], "a": None}, '{"b":[1,2],"a":null}'),
        ("json", [1, "two", 3.5], '[1,"two",3.5]'),
        ("json", "text", '"text"'),
        ("json", None, "null"),
    ],
)
def test_env_var_accepts_values_of_its_declared_type_and_renders_them(declared: str, value: Any, rendered: str) -> None:
    env = EnvVar(type=declared, value=value)  # type: ignore[arg-type]
    assert env.rendered() == rendered


@pytest.mark.parametrize(
    ("declared", "value"),
    [
        ("str", 5),
        ("str", None),
        ("str", ["a"]),
        ("int", "5"),
        ("int", 5.5),
        ("int", True),
        ("int", False),
        ("float", "2.5"),
        ("float", True),
        ("float", None),
        ("bool", 1),
        ("bool", 0),
        ("bool", "true"),
        ("bool", None),
    ],
)
def test_env_var_refuses_values_of_another_type(declared: str, value: Any) -> None:
    message = refusal(EnvVar, {"type": declared, "value": value})
    assert f"is not of declared type {declared}" in message


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400])
def test_env_var_float_must_be_a_finite_double(value: float) -> None:
    assert "finite" in refusal(EnvVar, {"type": "float", "value": value})


@pytest.mark.parametrize("value", [math.nan, {"x": math.inf}, [1, -math.inf]])
def test_env_var_json_refuses_nan_and_infinity(value: Any) -> None:
    assert "plain JSON" in refusal(EnvVar, {"type": "json", "value": value})


def test_env_var_refuses_unknown_types_and_extra_fields() -> None:
    assert refusal(EnvVar, {"type": "bytes", "value": "x"})
    assert "Extra inputs" in refusal(EnvVar, {"type": "str", "value": "x", "secret": True})


def test_env_var_value_length_is_capped_on_the_rendered_form() -> None:
    EnvVar(type="str", value="x" * MAX_ENV_VALUE_CHARS)
    assert "longer than" in refusal(EnvVar, {"type": "str", "value": "x" * (MAX_ENV_VALUE_CHARS + 1)})
    # a json list that is short as a Python object can be long once rendered
    assert "longer than" in refusal(EnvVar, {"type": "json", "value": ["abcdefgh"] * 4_000})


# RunCreate -----------------------------------------------------------------------------------------------------
def test_run_create_minimal_body_has_safe_defaults() -> None:
    run = RunCreate.model_validate(run_body())
    assert run.file_ids == [] and run.env == {} and run.script is None and run.thread_id is None
    assert run.budget.max_steps is None


def test_run_create_prompt_length_bounds() -> None:
    RunCreate.model_validate(run_body(prompt="x" * 50_000))
    assert "at most 50000" in refusal(RunCreate, run_body(prompt="x" * 50_001))
    assert "at least 1" in refusal(RunCreate, run_body(prompt=""))


@pytest.mark.parametrize(
    "extra",
    [
        {"model": "gpt"},
        {"status": "succeeded"},
        {"org_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
        {"goal": {"criterion": "done", "unknown": 1}},
        {"budget": {"max_dollars": 1}},
    ],
)
def test_run_create_refuses_unknown_fields(extra: dict[str, Any]) -> None:
    assert "Extra inputs are not permitted" in refusal(RunCreate, run_body(**extra))


@pytest.mark.parametrize(
    "fields",
    [
        {"agent_id": "not-a-ulid"},
        {"agent_id": AGENT_ID.lower()},
        {"prompt": 5},
        {"prompt": None},
        {"file_ids": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
        {"env": ["A"]},
        {"budget": {"max_steps": 0}},
        {"budget": {"max_tokens": 999}},
        {"budget": {"max_wall_s": 5}},
        {"thread_id": "x" * 26},
    ],
)
def test_run_create_refuses_wrong_types_and_out_of_range_values(fields: dict[str, Any]) -> None:
    refusal(RunCreate, run_body(**fields))


def test_run_create_file_limits() -> None:
    RunCreate.model_validate(run_body(file_ids=FILE_IDS[:20]))
    assert "at most 20" in refusal(RunCreate, run_body(file_ids=FILE_IDS[:21]))
    assert "unique" in refusal(RunCreate, run_body(file_ids=[FILE_IDS[0], FILE_IDS[1], FILE_IDS[0]]))


@pytest.mark.parametrize("name", ["PATH", "HOME", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "LD_PRELOAD", "PYTHONPATH"])
def test_run_create_refuses_reserved_env_names(name: str) -> None:
    assert "reserved" in refusal(RunCreate, run_body(env={name: {"type": "str", "value": "x"}}))


@pytest.mark.parametrize("name", ["lower", "1STARTS_WITH_DIGIT", "HAS-DASH", "A" * 65, ""])
def test_run_create_refuses_malformed_env_names(name: str) -> None:
    assert "must match" in refusal(RunCreate, run_body(env={name: {"type": "str", "value": "x"}}))


def test_run_create_env_values_are_checked_against_their_types() -> None:
    good = RunCreate.model_validate(
        run_body(env={"RATE": {"type": "float", "value": 0.5}, "DEBUG": {"type": "bool", "value": True}})
    )
    assert good.env["RATE"].rendered() == "0.5" and good.env["DEBUG"].rendered() == "true"
    assert "not of declared type int" in refusal(RunCreate, run_body(env={"N": {"type": "int", "value": "3"}}))
    too_many = {f"V{n}": {"type": "int", "value": n} for n in range(51)}
    assert "at most 50" in refusal(RunCreate, run_body(env=too_many))


@pytest.mark.parametrize(
    ("action", "needed"),
    [({"tool": "python"}, "code"), ({"tool": "request_approval"}, "reason"), ({"tool": "finish"}, "answer")],
)
def test_script_actions_need_their_argument(action: dict[str, Any], needed: str) -> None:
    assert f"needs '{needed}'" in refusal(RunCreate, run_body(script=[action]))


def test_script_actions_are_limited_to_known_tools_and_length() -> None:
    RunCreate.model_validate(run_body(script=[{"tool": "finish", "answer": "ok"}]))
    refusal(RunCreate, run_body(script=[{"tool": "shell", "code": "ls"}]))
    refusal(RunCreate, run_body(script=[{"tool": "finish", "answer": "ok", "extra": 1}]))
    assert "at most 200" in refusal(RunCreate, run_body(script=[{"tool": "finish", "answer": "ok"}] * 201))


# AgentCreate / AgentUpdate -------------------------------------------------------------------------------------
def test_agent_create_defaults() -> None:
    agent = AgentCreate(name="analyst")
    assert agent.models.reasoning == ["default"]
    assert agent.tools[-1] == "finish" and len(agent.tools) == len(set(agent.tools))
    assert agent.limits == AgentLimits()


@pytest.mark.parametrize("name", ["a", "data-analyst", "v1.2_beta", "9lives"])
def test_agent_names_accepted(name: str) -> None:
    assert AgentCreate(name=name).name == name


@pytest.mark.parametrize("name", ["", "Analyst", "-leading-dash", ".hidden", "has space", "a/b", "x" * 65, "é"])
def test_agent_names_refused(name: str) -> None:
    refusal(AgentCreate, {"name": name})


@pytest.mark.parametrize("ref", ["default", "scripted", "bedrock:anthropic.claude-3-haiku-v1:0", "openai:llama3.1:8b"])
def test_model_refs_accepted(ref: str) -> None:
    assert AgentCreate.model_validate({"name": "a", "models": {"reasoning": [ref]}}).models.reasoning == [ref]


@pytest.mark.parametrize("ref", ["", "gpt-4", "bedrock:", "azure:gpt", "openai:has space", "scripted:x"])
def test_model_refs_refused(ref: str) -> None:
    refusal(AgentCreate, {"name": "a", "models": {"reasoning": [ref]}})


def test_reasoning_models_must_not_be_empty_nor_too_many() -> None:
    refusal(AgentCreate, {"name": "a", "models": {"reasoning": []}})
    refusal(AgentCreate, {"name": "a", "models": {"reasoning": ["default"] * 6}})
    refusal(AgentCreate, {"name": "a", "models": {"planning": ["default"]}})


@pytest.mark.parametrize(
    ("limit", "low", "high"),
    [
        ("max_steps", 0, 201),
        ("max_tokens", 999, 10_000_001),
        ("max_cost_usd", -0.01, 1_000.01),
        ("max_wall_s", 9, 86_401),
        ("cell_timeout_s", 0, 901),
        ("sandbox_cpu", 0.2, 4.5),
        ("sandbox_memory_mb", 255, 8_193),
    ],
)
def test_agent_limits_bounds(limit: str, low: float, high: float) -> None:
    for value in (low, high):
        with pytest.raises(ValidationError) as caught:
            AgentCreate.model_validate({"name": "a", "limits": {limit: value}})
        assert caught.value.errors()[0]["loc"] == ("limits", limit)


def test_finish_tool_is_always_present_and_tools_are_deduplicated() -> None:
    assert AgentCreate.model_validate({"name": "a", "tools": ["python"]}).tools == ["python", "finish"]
    assert AgentCreate.model_validate({"name": "a", "tools": []}).tools == ["finish"]
    assert AgentCreate.model_validate({"name": "a", "tools": ["python", "python", "finish"]}).tools == [
        "python",
        "finish",
    ]
    refusal(AgentCreate, {"name": "a", "tools": ["shell"]})


def test_agent_update_is_partial_and_validates_what_it_sets() -> None:
    change = AgentUpdate.model_validate({"description": "new", "expected_version": 3})
    assert change.model_fields_set == {"description", "expected_version"}
    refusal(AgentUpdate, {"name": "Bad Name"})
    refusal(AgentUpdate, {"limits": {"max_steps": 0}})
    refusal(AgentUpdate, {"expected_version": 0})
    refusal(AgentUpdate, {"version": 2})


@pytest.mark.parametrize("field", ["name", "models", "tools", "limits", "description"])
def test_agent_update_refuses_explicit_nulls(field: str) -> None:
    assert "cannot be null" in refusal(AgentUpdate, {field: None})


def test_agent_update_expected_version_may_be_null() -> None:
    assert AgentUpdate.model_validate({"expected_version": None}).expected_version is None


# StrictInput: the convention of every request body ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "data"),
    [
        (AgentLimits, {"max_steps": True}),
        (AgentLimits, {"max_steps": "20"}),
        (AgentLimits, {"max_steps": 20.5}),
        (AgentLimits, {"sandbox_cpu": False}),
        (AgentLimits, {"sandbox_cpu": "1.0"}),
        (AgentLimits, {"sandbox_cpu": math.nan}),
        (AgentLimits, {"sandbox_cpu": math.inf}),
        (OrgQuotas, {"runs_per_day": True}),
        (OrgQuotas, {"tokens_per_month": "1000"}),
        (Budget, {"max_cost_usd": True}),
        (Budget, {"max_cost_usd": "1.5"}),
        (FileCreate, {"name": "a.csv", "content_type": "text/csv", "size": True}),
        (FileCreate, {"name": "a.csv", "content_type": "text/csv", "size": "10"}),
        (FileCreate, {"name": 5, "content_type": "text/csv", "size": 10}),
        (AgentCreate, {"name": 7}),
        (Login, {"email": "dana@example.com", "password": 123456}),
    ],
)
def test_request_bodies_do_not_coerce(model: type[StrictInput], data: dict[str, Any]) -> None:
    refusal(model, data)


def test_numbers_are_json_numbers() -> None:
    # An integer field takes a number without a fraction, as the document's `integer` does; a number field takes an
    # integer, as its `number` does.
    assert AgentLimits.model_validate({"max_steps": 20.0, "sandbox_cpu": 2}).model_dump(
        include={"max_steps", "sandbox_cpu"}
    ) == {"max_steps": 20, "sandbox_cpu": 2}
    assert OrgQuotas.model_validate({"runs_per_day": 1e3}).runs_per_day == 1000
    assert type(OrgQuotas.model_validate({"runs_per_day": 1e3}).runs_per_day) is int


def test_omittable_fields_are_never_null_in_the_schema() -> None:
    properties = AgentUpdate.model_json_schema()["properties"]
    omittable = [name for name in properties if name != "expected_version"]
    assert omittable and all("null" not in str(properties[name]) for name in omittable)
    assert "default" not in properties["name"]
    assert {"type": "null"} in properties["expected_version"]["anyOf"]


@pytest.mark.parametrize("expires_at", ["2099-01-01T00:00:00Z", "2099-01-01T00:00:00.250+02:00"])
def test_times_are_rfc3339_text(expires_at: str) -> None:
    assert ApiKeyCreate.model_validate({"name": "ci", "role": "member", "expires_at": expires_at}).expires_at


@pytest.mark.parametrize(
    "expires_at",
    [
        "2099-01-01",
        "2099-01-01T00:00:00",
        "2099-01-01 00:00:00Z",
        "2099-01-01T00:00:00Z\n",
        "4102444800",
        4102444800,
        "2099-02-30T00:00:00Z",
        "next year",
    ],
)
def test_times_that_are_not_rfc3339_are_refused(expires_at: Any) -> None:
    refusal(ApiKeyCreate, {"name": "ci", "role": "member", "expires_at": expires_at})


def test_a_file_size_is_bounded_by_the_upload_cap() -> None:
    capped = file_create_with_cap(1_000)
    assert capped.model_json_schema()["properties"]["size"]["maximum"] == 1_000
    assert capped.model_validate({"name": "a.csv", "content_type": "text/csv", "size": 1_000}).size == 1_000
    assert "less than or equal to 1000" in refusal(capped, {"name": "a.csv", "content_type": "text/csv", "size": 1_001})


# ULIDs ---------------------------------------------------------------------------------------------------------
def test_ulids_are_valid_and_sort_in_creation_order() -> None:
    made = [new_ulid() for _ in range(2_000)]
    assert all(is_ulid(value) for value in made)
    assert made == sorted(made)
    assert len(set(made)) == len(made)


@pytest.fixture
def fresh_ulid_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generator remembers the last id it made; start from nothing and restore it afterwards."""
    monkeypatch.setattr(ids, "_last_ms", 0)
    monkeypatch.setattr(ids, "_last_random", 0)


@pytest.mark.usefixtures("fresh_ulid_state")
def test_ulids_are_monotonic_within_one_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    fixed_ns = 1_700_000_000_123_000_000
    monkeypatch.setattr(ids.time, "time_ns", lambda: fixed_ns)
    made = [new_ulid() for _ in range(500)]
    assert {ulid_timestamp_ms(value) for value in made} == {fixed_ns // 1_000_000}
    assert made == sorted(made) and len(set(made)) == 500


@pytest.mark.usefixtures("fresh_ulid_state")
def test_ulids_stay_monotonic_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([2_000_000_000_000_000_000, 1_999_999_999_000_000_000, 1_999_999_998_000_000_000])
    monkeypatch.setattr(ids.time, "time_ns", lambda: next(clock))
    first, second, third = new_ulid(), new_ulid(), new_ulid()
    assert first < second < third


def test_ulid_timestamp_round_trips() -> None:
    # The example of the reference implementation's decodeTime.
    assert ulid_timestamp_ms("01ARYZ6S41TSV4RRFFQ69G5FAV") == 1_469_918_176_385
    assert not is_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAI")  # I is not in Crockford's alphabet
    assert not is_ulid("01arz3ndektsv4rrffq69g5fav")


def test_run_create_caps_the_total_size_of_script_and_env() -> None:
    # each piece is within its own limit; together they would not fit in one run record
    long_code = {"tool": "python", "code": "x" * 50_000}
    assert "at most 200000" in refusal(RunCreate, run_body(script=[long_code] * 5))
    RunCreate.model_validate(run_body(script=[long_code] * 3))
    wide_env = {f"V{n}": {"type": "str", "value": "x" * 30_000} for n in range(3)}
    assert "env values total" in refusal(RunCreate, run_body(env=wide_env))


@pytest.mark.parametrize(
    ("password", "lacking"),
    [
        ("correct-horse-9-battery", "an uppercase letter"),
        ("CORRECT-HORSE-9-BATTERY", "a lowercase letter"),
        ("Correct-Horse-Battery", "a digit"),
        ("CorrectHorse9Battery", "a symbol"),
        (" Correct-Horse-9-Battery", "no space at its start or end"),
    ],
)
def test_a_chosen_password_must_meet_the_user_pools_policy(password: str, lacking: str) -> None:
    with pytest.raises(ValidationError, match=f"the password needs {lacking}"):
        MemberCreate.model_validate({"email": "ada@example.com", "role": "member", "password": password})
    assert policy_problems(password) == [lacking]


def test_the_policy_the_api_checks_is_the_pools() -> None:
    policy = cognito_password_policy()
    assert policy["MinimumLength"] == MIN_PASSWORD_LENGTH
    assert all(
        policy[name] is True for name in ("RequireUppercase", "RequireLowercase", "RequireNumbers", "RequireSymbols")
    )
    assert policy_problems("Correct-Horse-9-Battery") == []
    assert MemberCreate.model_validate(
        {"email": "ada@example.com", "role": "member", "password": "Correct-Horse-9-Battery"}
    )


@pytest.mark.parametrize("email", ["ada@example.com", "a_b.c+tag@mail.example.co.uk", "9@x-y.io", "_x%y@a.bc"])
def test_member_emails_the_api_takes_are_user_names_the_directory_takes(email: str) -> None:
    from moto.cognitoidp.utils import validate_username_format

    assert MemberCreate.model_validate({"email": email, "role": "viewer"}).email == email.lower()
    assert validate_username_format(email)


@pytest.mark.parametrize(
    "email", ["-a@example.com", "ádá@example.com", "ada@exámple.com", "ada@-x.com", "ada@example", "a b@example.com"]
)
def test_member_emails_the_directory_would_refuse_are_refused_by_the_schema(email: str) -> None:
    with pytest.raises(ValidationError):
        MemberCreate.model_validate({"email": email, "role": "viewer"})


def test_the_table_refuses_objects_with_an_empty_key_at_any_depth() -> None:
    from agentlab.errors import Unprocessable
    from agentlab.store.table import serialize

    assert serialize({"pk": "a", "doc": {"x": [{"y": 1}]}})["doc"] == {"M": {"x": {"L": [{"M": {"y": {"N": "1"}}}]}}}
    for doc in ({"": 1}, {"x": [{"": 1}]}, [{"a": {"": None}}]):
        with pytest.raises(Unprocessable, match="empty key"):
            serialize({"pk": "a", "doc": doc})
