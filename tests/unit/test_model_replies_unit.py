"""How a model's reply is judged, prices and output limits are found, and outputs are bounded: pure functions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentlab.llm.output_limits import DEFAULT_OUTPUT_TOKENS, output_tokens_for
from agentlab.llm.pricing import Price, PriceTable, unpriced_refs
from agentlab.llm.types import INVALID_ARGUMENTS_KEY, ModelResponse, ToolCall, Usage
from agentlab.store.runs import STEP_ITEM_BUDGET_BYTES, fit_detail
from agentlab.workflow.code_model import extract_code
from agentlab.workflow.outputs import Outputs, head_and_tail
from agentlab.workflow.replies import classify, invalid_arguments, trailing_notices
from agentlab.workflow.tools import FinishInput, PythonInput, PythonTaskInput, tool_input, tool_specs


def response(text: str = "", calls: list[ToolCall] | None = None, stop: str = "end_turn") -> ModelResponse:
    return ModelResponse(
        text=text,
        tool_calls=calls or [],
        usage=Usage(),
        stop_reason=stop,
        latency_ms=1,
        model_id="m",
        provider="openai",
        cost_usd=0.0,
    )


CALL = ToolCall(id="c1", name="python", arguments={"code": "print(1)"})


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (response("Half a sent", stop="max_tokens"), "truncated"),
        (response(calls=[CALL], stop="max_tokens"), "truncated"),
        (response("", stop="end_turn"), "empty"),
        (response("  \n", stop="stop_sequence"), "empty"),
        (response("The answer is 4.", stop="end_turn"), "answer"),
        (response("thinking", calls=[CALL], stop="tool_use"), "calls"),
        (response("", stop="content_filtered"), "refused"),
        (response("no", stop="guardrail_intervened"), "refused"),
        (response("", stop="model_context_window_exceeded"), "refused"),
    ],
)
def test_replies_are_classified_by_stop_reason_then_content(reply: ModelResponse, kind: str) -> None:
    assert classify(reply).kind == kind


def test_refusals_carry_their_own_codes() -> None:
    assert classify(response(stop="content_filtered")).code == "model_content_filtered"
    assert classify(response(stop="guardrail_intervened")).code == "model_guardrail_intervened"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({INVALID_ARGUMENTS_KEY: '{"code": "pri'}, "not a JSON object"),
        ({"code": 7}, "code: Input should be a valid string"),
        ({}, "code: Field required"),
        ({"code": "\n  \t"}, "must not be empty"),
        ({"code": "print(1)", "shell": True}, "shell: Extra inputs are not permitted"),
    ],
)
def test_invalid_arguments_name_the_problem_and_the_schema(arguments: dict[str, Any], expected: str) -> None:
    problem = invalid_arguments(ToolCall(id="c", name="python", arguments=arguments), PythonInput)
    assert problem is not None and expected in problem
    schema = json.loads(problem.split("schema: ", 1)[1])
    assert schema["required"] == ["code"]


def test_valid_arguments_pass() -> None:
    assert invalid_arguments(CALL, PythonInput) is None
    assert invalid_arguments(ToolCall(id="c", name="finish", arguments={"answer": "4"}), FinishInput) is None


def test_with_a_code_model_the_python_tool_takes_a_task() -> None:
    assert tool_input("python", code_model=True) is PythonTaskInput
    spec = next(s for s in tool_specs(["python", "finish"], code_model=True) if s.name == "python")
    assert spec.input_schema["required"] == ["task"] and "code model" in spec.description
    plain = next(s for s in tool_specs(["python"]) if s.name == "python")
    assert plain.input_schema["properties"]["code"]["minLength"] == 1


def test_trailing_notices_count_only_the_last_run_of_one_kind() -> None:
    messages = [
        {"role": "user", "notice": "truncated"},
        {"role": "assistant"},
        {"role": "user", "notice": "truncated"},
        {"role": "user", "notice": "truncated"},
    ]
    assert trailing_notices(messages, "truncated") == 2
    assert trailing_notices(messages, "empty") == 0
    assert trailing_notices([], "truncated") == 0


def test_head_and_tail_keep_both_ends_within_the_limit() -> None:
    text = "HEAD" + "x" * 10_000 + "TAIL"
    bounded = head_and_tail(text, 1_000)
    assert len(bounded) <= 1_000
    assert bounded.startswith("HEAD") and bounded.endswith("TAIL") and "characters omitted" in bounded
    assert head_and_tail("short", 1_000) == "short"


class FakeBlobs:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.objects[key] = data


def test_outputs_spill_long_fields_once_and_keep_previews() -> None:
    blobs = FakeBlobs()
    outputs = Outputs(blobs, "org1", "run1", preview_chars=100)  # type: ignore[arg-type]
    assert outputs.text("stdout", "small") == "small" and not outputs.refs
    preview = outputs.text("stdout", "a" * 500)
    assert preview is not None and len(preview) <= 100
    ref = outputs.refs["stdout"]
    assert ref.key.startswith("orgs/org1/runs/run1/outputs/") and ref.chars == 500
    assert blobs.objects[ref.key] == b"a" * 500
    calls = outputs.tool_calls("tool_calls", [{"id": "1", "name": "python", "arguments": {"code": "b" * 300, "n": 1}}])
    assert len(calls[0]["arguments"]["code"]) <= 100 and calls[0]["arguments"]["n"] == 1
    assert json.loads(blobs.objects[outputs.refs["tool_calls"].key])[0]["arguments"]["code"] == "b" * 300


def test_a_detail_too_large_for_an_item_is_cut_down_not_lost() -> None:
    detail = {"stdout": "x" * 500_000, "findings": [{"message": "m" * 100}] * 5_000, "exit_code": 0}
    fitted = fit_detail(detail)
    assert len(json.dumps(fitted).encode()) <= STEP_ITEM_BUDGET_BYTES
    assert fitted["shrunk"] is True and fitted["exit_code"] == 0 and fitted["stdout"].startswith("xxx")
    small = {"stdout": "ok"}
    assert fit_detail(small) is small


def test_prices_come_from_the_table_and_the_deployments_overrides() -> None:
    table = PriceTable({"openai:llama3.1:8b": Price(0.0, 0.0), "anthropic.claude-3-haiku-20240307-v1:0": Price(1, 2)})
    assert table.lookup("scripted", "scripted") == Price(0.0, 0.0)
    assert table.lookup("openai", "llama3.1:8b") == Price(0.0, 0.0)
    assert table.lookup("openai", "gpt-unknown") is None
    assert table.lookup("bedrock", "us.anthropic.claude-3-haiku-20240307-v1:0") == Price(1, 2)
    assert table.lookup("bedrock", "amazon.nova-lite-v1:0") == Price(0.06, 0.24)
    assert table.cost("openai", "gpt-unknown", Usage(input_tokens=10)) == (0.0, False)
    cost, known = table.cost("bedrock", "amazon.nova-lite-v1:0", Usage(input_tokens=1_000_000))
    assert known and cost == pytest.approx(0.06)
    assert unpriced_refs(["default", "openai:gpt-unknown", "scripted"], table, "openai:gpt-unknown") == [
        "openai:gpt-unknown"
    ]


def test_output_limits_default_per_model_and_hold_to_the_maximum() -> None:
    sonnet = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert output_tokens_for("bedrock", sonnet, None) == 8_192
    assert output_tokens_for("bedrock", sonnet, 100_000) == 64_000
    assert output_tokens_for("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", 10_000) == 4_096
    assert output_tokens_for("bedrock", "meta.llama3-1-70b-instruct-v1:0", None) == 2_048
    assert output_tokens_for("openai", "llama3.1:8b", None) == DEFAULT_OUTPUT_TOKENS
    assert output_tokens_for("openai", "llama3.1:8b", 20_000) == 20_000


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("```python\nprint(1)\n```", "print(1)"),
        ("Here:\n```py\nx = 1\nprint(x)\n```\nThat is all.", "x = 1\nprint(x)"),
        ("```\nprint(2)\n```", "print(2)"),
        ("print(3)", "print(3)"),
        ("```python\nprint(4)", "print(4)"),
    ],
)
def test_the_code_models_cell_is_taken_from_its_fence(text: str, code: str) -> None:
    assert extract_code(text) == code
