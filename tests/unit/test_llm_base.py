"""Model references, the fallback across a model list, the price table and the conversation types."""

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from agentlab.llm.base import complete_with_fallback, parse_model_ref
from agentlab.llm.errors import AllModelsFailed, InvalidModelRef, ModelError, ModelThrottled, ModelUnavailable
from agentlab.llm.pricing import base_model_id, cost_for, is_priced
from agentlab.llm.types import ImageBlock, Message, ModelResponse, ToolCall, ToolResult, Usage


class FakeProvider:
    """Answers or fails per model id, and remembers which models it was asked."""

    name = "fake"

    def __init__(self, outcomes: dict[str, Exception | str]) -> None:
        self.outcomes = outcomes
        self.asked: list[str] = []

    def complete(self, *, model_id: str, **_: Any) -> ModelResponse:
        self.asked.append(model_id)
        outcome = self.outcomes[model_id]
        if isinstance(outcome, Exception):
            raise outcome
        return ModelResponse(
            text=outcome,
            tool_calls=[],
            usage=Usage(),
            stop_reason="end_turn",
            latency_ms=1,
            model_id=model_id,
            provider=self.name,
            cost_usd=0.0,
        )


def fallback(provider: FakeProvider, refs: list[str]) -> ModelResponse:
    return complete_with_fallback(
        lambda ref: (provider, ref.partition(":")[2]),
        refs,
        system="",
        messages=[Message(role="user", text="hi")],
        tools=[],
    )


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0", ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0")),
        ("bedrock:us.amazon.nova-pro-v1:0", ("bedrock", "us.amazon.nova-pro-v1:0")),
        ("openai:llama3.1:8b", ("openai", "llama3.1:8b")),
        ("scripted", ("scripted", "scripted")),
        (" scripted ", ("scripted", "scripted")),
    ],
)
def test_model_refs_are_parsed(ref: str, expected: tuple[str, str]) -> None:
    assert parse_model_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "bedrock", "bedrock:", "openai:  ", "anthropic.claude-v2", "gemini:pro"])
def test_invalid_model_refs_are_rejected(ref: str) -> None:
    with pytest.raises(InvalidModelRef):
        parse_model_ref(ref)
    assert issubclass(InvalidModelRef, ValueError) and issubclass(InvalidModelRef, ModelError)


def test_first_model_that_answers_wins() -> None:
    provider = FakeProvider({"a": "from a", "b": "from b"})

    response = fallback(provider, ["x:a", "x:b"])

    assert (response.text, response.attempts, provider.asked) == ("from a", [], ["a"])


def test_fallback_records_the_models_that_failed() -> None:
    provider = FakeProvider({"a": ModelThrottled("slow"), "b": ModelUnavailable("gone"), "c": "from c"})

    response = fallback(provider, ["x:a", "x:b", "x:c"])

    assert response.text == "from c"
    assert response.attempts == ["a", "b"]


def test_permanent_error_stops_the_fallback() -> None:
    provider = FakeProvider({"a": ModelError("bad request"), "b": "from b"})

    with pytest.raises(ModelError, match="bad request"):
        fallback(provider, ["x:a", "x:b"])
    assert provider.asked == ["a"]


def test_last_throttling_is_raised_when_any_model_was_throttled() -> None:
    last = ModelThrottled("b is busy")
    provider = FakeProvider({"a": ModelThrottled("a is busy"), "b": last, "c": ModelUnavailable("gone")})

    with pytest.raises(ModelThrottled) as raised:
        fallback(provider, ["x:a", "x:b", "x:c"])
    assert raised.value is last


def test_all_unavailable_raises_all_models_failed_with_each_reason() -> None:
    provider = FakeProvider({"a": ModelUnavailable("not enabled"), "b": ModelUnavailable("no access")})

    with pytest.raises(AllModelsFailed) as raised:
        fallback(provider, ["x:a", "x:b"])
    assert "x:a: ModelUnavailable: not enabled" in str(raised.value)
    assert "x:b: ModelUnavailable: no access" in str(raised.value)


def test_empty_model_list_fails() -> None:
    with pytest.raises(AllModelsFailed, match="no model configured"):
        fallback(FakeProvider({}), [])


@pytest.mark.parametrize(
    "model_id",
    [
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "anthropic.claude-3-5-sonnet-20240620-v1:0:200k",
    ],
)
def test_inference_profiles_are_priced_as_their_model(model_id: str) -> None:
    assert base_model_id(model_id) == "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert cost_for(model_id, Usage(input_tokens=2_000_000, output_tokens=1_000_000)) == pytest.approx(6.0 + 15.0)


@pytest.mark.parametrize(
    ("model_id", "input_price", "output_price"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", 0.25, 1.25),
        ("anthropic.claude-3-opus-20240229-v1:0", 15.0, 75.0),
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", 3.0, 15.0),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", 3.0, 15.0),
        ("amazon.nova-micro-v1:0", 0.035, 0.14),
        ("amazon.nova-lite-v1:0", 0.06, 0.24),
        ("amazon.nova-pro-v1:0", 0.8, 3.2),
        ("meta.llama3-1-70b-instruct-v1:0", 0.72, 0.72),
        ("mistral.mistral-large-2407-v1:0", 2.0, 6.0),
    ],
)
def test_price_table_covers_the_model_families(model_id: str, input_price: float, output_price: float) -> None:
    assert cost_for(model_id, Usage(input_tokens=1_000_000)) == pytest.approx(input_price)
    assert cost_for(model_id, Usage(output_tokens=1_000_000)) == pytest.approx(output_price)


def test_unknown_model_costs_nothing_and_is_flagged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agentlab.llm.pricing"):
        cost = cost_for("acme.mystery-v9:0", Usage(input_tokens=1000, output_tokens=1000))

    assert cost == 0.0
    assert not is_priced("acme.mystery-v9:0")
    assert "no price for model acme.mystery-v9:0" in caplog.text


def test_image_bytes_survive_a_json_round_trip() -> None:
    image = ImageBlock(media_type="image/png", data=b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    message = Message(
        role="user",
        text="look",
        images=[image],
        tool_results=[ToolResult(tool_call_id="c1", content="ok", images=[image])],
    )

    restored = Message.model_validate_json(message.model_dump_json())

    assert restored == message
    assert restored.images[0].data == b"\x89PNG\r\n\x1a\n\x00\xff\xfe"
    assert image.format == "png"


def test_tool_blocks_must_match_the_role() -> None:
    with pytest.raises(ValidationError, match="only assistant messages carry tool calls"):
        Message(role="user", tool_calls=[ToolCall(id="c1", name="python", arguments={})])
    with pytest.raises(ValidationError, match="only user messages carry tool results"):
        Message(role="assistant", tool_results=[ToolResult(tool_call_id="c1", content="")])
