"""BedrockProvider against botocore's Stubber on a real bedrock-runtime client: request shape, parsing, errors."""

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import ANY, Stubber
from PIL import Image

from agentlab.llm.base import complete_with_fallback
from agentlab.llm.bedrock import OPENING_USER_TEXT, BedrockProvider, bedrock_client_factory
from agentlab.llm.errors import AllModelsFailed, ModelError, ModelThrottled, ModelUnavailable
from agentlab.llm.types import ImageBlock, Message, ToolCall, ToolResult, ToolSpec

SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def image_bytes(pil_format: str) -> bytes:
    """A small real image: providers fit images to their limits, and bytes that are not an image are left out."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buffer, format=pil_format)
    return buffer.getvalue()


PNG_BYTES = image_bytes("PNG")
JPEG_BYTES = image_bytes("JPEG")
PYTHON_TOOL = ToolSpec(
    name="python",
    description="Run Python code in the sandbox.",
    input_schema={"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
)


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def provider(client: Any) -> BedrockProvider:
    return BedrockProvider(lambda: client)


def converse_response(content: list[dict[str, Any]], stop_reason: str = "end_turn", usage: tuple[int, int] = (10, 5)):
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)},
        "metrics": {"latencyMs": 42},
    }


def complete(provider: BedrockProvider, messages: list[Message], model_id: str = SONNET, **kwargs: Any):
    return provider.complete(
        model_id=model_id, system="You are careful.", messages=messages, tools=[PYTHON_TOOL], **kwargs
    )


def test_tool_use_response_becomes_a_tool_call(provider: BedrockProvider, stubber: Stubber) -> None:
    stubber.add_response(
        "converse",
        converse_response(
            [
                {"text": "I will compute it."},
                {"toolUse": {"toolUseId": "tooluse_abc", "name": "python", "input": {"code": "print(1 + 1)"}}},
            ],
            stop_reason="tool_use",
        ),
    )

    response = complete(provider, [Message(role="user", text="What is 1 + 1?")])

    assert response.text == "I will compute it."
    assert response.tool_calls == [ToolCall(id="tooluse_abc", name="python", arguments={"code": "print(1 + 1)"})]
    assert response.stop_reason == "tool_use"
    assert response.provider == "bedrock"
    assert response.model_id == SONNET
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 5)
    assert response.attempts == []


def test_request_carries_system_tools_image_and_tool_result(provider: BedrockProvider, stubber: Stubber) -> None:
    image = ImageBlock(media_type="image/png", data=PNG_BYTES)
    chart = ImageBlock(media_type="image/jpeg", data=JPEG_BYTES)
    messages = [
        Message(role="user", text="Describe this picture.", images=[image]),
        Message(role="assistant", text="Let me look.", tool_calls=[ToolCall(id="t1", name="python", arguments={})]),
        Message(
            role="user",
            tool_results=[ToolResult(tool_call_id="t1", content="NameError: x", is_error=True, images=[chart])],
        ),
    ]
    expected = {
        "modelId": SONNET,
        "system": [{"text": "You are careful."}],
        "inferenceConfig": {"maxTokens": 1000, "temperature": 0.5},
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "python",
                        "description": "Run Python code in the sandbox.",
                        "inputSchema": {"json": PYTHON_TOOL.input_schema},
                    }
                }
            ]
        },
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "Describe this picture."},
                    {"image": {"format": "png", "source": {"bytes": PNG_BYTES}}},
                ],
            },
            {
                "role": "assistant",
                "content": [{"text": "Let me look."}, {"toolUse": {"toolUseId": "t1", "name": "python", "input": {}}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": "t1",
                            "content": [
                                {"text": "NameError: x"},
                                {"image": {"format": "jpeg", "source": {"bytes": JPEG_BYTES}}},
                            ],
                            "status": "error",
                        }
                    }
                ],
            },
        ],
    }
    stubber.add_response("converse", converse_response([{"text": "Done."}]), expected_params=expected)

    response = complete(provider, messages, max_tokens=1000, temperature=0.5)

    assert response.text == "Done."
    assert response.tool_calls == []


def test_conversation_is_made_valid_for_bedrock(provider: BedrockProvider, stubber: Stubber) -> None:
    # Given a history that opens with an assistant turn, has two user turns in a row and an empty tool output
    messages = [
        Message(role="assistant", tool_calls=[ToolCall(id="t1", name="python", arguments={"code": "pass"})]),
        Message(role="user", text="Also, be brief."),
        Message(role="user", tool_results=[ToolResult(tool_call_id="t1", content="")]),
        Message(role="assistant", text="   "),
    ]
    expected_messages = [
        {"role": "user", "content": [{"text": OPENING_USER_TEXT}]},
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "t1", "name": "python", "input": {"code": "pass"}}}],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"text": "(no output)"}]}},
                {"text": "Also, be brief."},
            ],
        },
    ]
    stubber.add_response(
        "converse",
        converse_response([{"text": "ok"}]),
        expected_params={
            "modelId": SONNET,
            "system": [{"text": "You are careful."}],
            "inferenceConfig": {"maxTokens": 4096, "temperature": 0.0},
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": "python",
                            "description": PYTHON_TOOL.description,
                            "inputSchema": {"json": PYTHON_TOOL.input_schema},
                        }
                    }
                ]
            },
            "messages": expected_messages,
        },
    )

    assert complete(provider, messages).text == "ok"


def test_models_without_status_support_see_errors_in_the_text(provider: BedrockProvider, stubber: Stubber) -> None:
    llama = "meta.llama3-1-70b-instruct-v1:0"
    messages = [
        Message(role="user", text="Go."),
        Message(role="assistant", tool_calls=[ToolCall(id="t1", name="python", arguments={})]),
        Message(role="user", tool_results=[ToolResult(tool_call_id="t1", content="boom", is_error=True)]),
    ]
    stubber.add_response(
        "converse",
        converse_response([{"text": "ok"}]),
        expected_params={
            "modelId": llama,
            "system": [{"text": "You are careful."}],
            "inferenceConfig": {"maxTokens": 4096, "temperature": 0.0},
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": "python",
                            "description": PYTHON_TOOL.description,
                            "inputSchema": {"json": PYTHON_TOOL.input_schema},
                        }
                    }
                ]
            },
            "messages": [
                {"role": "user", "content": [{"text": "Go."}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "python", "input": {}}}]},
                {
                    "role": "user",
                    "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "[error] boom"}]}}],
                },
            ],
        },
    )

    assert complete(provider, messages, model_id=llama).text == "ok"


def test_throttled_model_falls_back_to_the_next_one(provider: BedrockProvider, stubber: Stubber) -> None:
    stubber.add_client_error(
        "converse",
        service_error_code="ThrottlingException",
        service_message="Too many requests, please wait before trying again.",
        http_status_code=429,
        expected_params={"modelId": SONNET, "messages": ANY, "inferenceConfig": ANY, "system": ANY, "toolConfig": ANY},
    )
    stubber.add_response("converse", converse_response([{"text": "from haiku"}]))
    resolve = {"bedrock:" + SONNET: (provider, SONNET), "bedrock:" + HAIKU: (provider, HAIKU)}.__getitem__

    response = complete_with_fallback(
        resolve,
        ["bedrock:" + SONNET, "bedrock:" + HAIKU],
        system="s",
        messages=[Message(role="user", text="hi")],
        tools=[PYTHON_TOOL],
    )

    assert response.text == "from haiku"
    assert response.model_id == HAIKU
    assert response.attempts == [SONNET]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ResourceNotFoundException", "Model not found."),
        ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
        ("ValidationException", "The provided model identifier is invalid."),
        ("ValidationException", "This model doesn't support tool use."),
    ],
)
def test_unavailable_model_falls_back(provider: BedrockProvider, stubber: Stubber, code: str, message: str) -> None:
    stubber.add_client_error("converse", service_error_code=code, service_message=message, http_status_code=400)
    stubber.add_response("converse", converse_response([{"text": "second"}]))

    response = complete_with_fallback(
        lambda ref: (provider, ref.removeprefix("bedrock:")),
        ["bedrock:" + SONNET, "bedrock:" + HAIKU],
        system="",
        messages=[Message(role="user", text="hi")],
        tools=[],
    )

    assert response.model_id == HAIKU
    assert response.attempts == [SONNET]


def test_invalid_request_stops_without_trying_other_models(provider: BedrockProvider, stubber: Stubber) -> None:
    stubber.add_client_error(
        "converse",
        service_error_code="ValidationException",
        service_message="messages.0.content: text field is blank",
        http_status_code=400,
    )

    with pytest.raises(ModelError) as raised:
        complete_with_fallback(
            lambda ref: (provider, ref.removeprefix("bedrock:")),
            ["bedrock:" + SONNET, "bedrock:" + HAIKU],
            system="",
            messages=[Message(role="user", text="hi")],
            tools=[],
        )

    assert type(raised.value) is ModelError
    assert "text field is blank" in str(raised.value)


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ServiceUnavailableException", "ModelNotReadyException", "ModelTimeoutException"]
)
def test_transient_errors_are_throttling(provider: BedrockProvider, stubber: Stubber, code: str) -> None:
    stubber.add_client_error("converse", service_error_code=code, service_message="later", http_status_code=503)

    with pytest.raises(ModelThrottled, match=code):
        complete(provider, [Message(role="user", text="hi")])


def test_every_model_throttled_raises_throttling_for_the_state_machine(
    provider: BedrockProvider, stubber: Stubber
) -> None:
    stubber.add_client_error("converse", service_error_code="ResourceNotFoundException", http_status_code=404)
    stubber.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)

    with pytest.raises(ModelThrottled):
        complete_with_fallback(
            lambda ref: (provider, ref.removeprefix("bedrock:")),
            ["bedrock:" + SONNET, "bedrock:" + HAIKU],
            system="",
            messages=[Message(role="user", text="hi")],
            tools=[],
        )


def test_every_model_unavailable_raises_all_models_failed(provider: BedrockProvider, stubber: Stubber) -> None:
    stubber.add_client_error("converse", service_error_code="ResourceNotFoundException", http_status_code=404)
    stubber.add_client_error("converse", service_error_code="AccessDeniedException", http_status_code=403)

    with pytest.raises(AllModelsFailed, match="AccessDeniedException"):
        complete_with_fallback(
            lambda ref: (provider, ref.removeprefix("bedrock:")),
            ["bedrock:" + SONNET, "bedrock:" + HAIKU],
            system="",
            messages=[Message(role="user", text="hi")],
            tools=[],
        )


def test_cost_comes_from_the_price_table(provider: BedrockProvider, stubber: Stubber) -> None:
    stubber.add_response("converse", converse_response([{"text": "ok"}], usage=(1000, 500)))

    response = complete(provider, [Message(role="user", text="hi")], model_id="us." + SONNET)

    # Claude 3.5 Sonnet: $3 per million input tokens, $15 per million output tokens.
    assert response.cost_usd == pytest.approx(1000 * 3 / 1e6 + 500 * 15 / 1e6)
    assert response.cost_known is True


def test_unpriced_model_costs_nothing_and_is_flagged(provider: BedrockProvider, stubber: Stubber) -> None:
    stubber.add_response("converse", converse_response([{"text": "ok"}], usage=(1000, 500)))

    response = complete(provider, [Message(role="user", text="hi")], model_id="acme.unknown-model-v1:0")

    assert response.cost_usd == 0.0
    assert response.cost_known is False


class TimingOutClient:
    def converse(self, **_: Any) -> Any:
        raise ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")


def test_read_timeout_is_throttling() -> None:
    provider = BedrockProvider(TimingOutClient)

    with pytest.raises(ModelThrottled, match="ReadTimeoutError"):
        complete(provider, [Message(role="user", text="hi")])


def test_client_is_built_lazily_and_once(client: Any, stubber: Stubber) -> None:
    built: list[Any] = []

    def factory() -> Any:
        built.append(client)
        return client

    provider = BedrockProvider(factory)
    assert built == []

    stubber.add_response("converse", converse_response([{"text": "one"}]))
    stubber.add_response("converse", converse_response([{"text": "two"}]))
    complete(provider, [Message(role="user", text="hi")])
    complete(provider, [Message(role="user", text="hi")])

    assert len(built) == 1


def test_default_client_uses_standard_retries_and_timeouts() -> None:
    client = bedrock_client_factory("eu-west-1", read_timeout_s=30.0, connect_timeout_s=2.0)()

    config = client.meta.config
    assert client.meta.region_name == "eu-west-1"
    # botocore counts max_attempts as retries: one call plus four retries.
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert (config.read_timeout, config.connect_timeout) == (30.0, 2.0)
    assert client.meta.service_model.service_name == "bedrock-runtime"


def test_model_without_access_is_unavailable(provider: BedrockProvider, stubber: Stubber) -> None:
    stubber.add_client_error(
        "converse",
        service_error_code="AccessDeniedException",
        service_message="You don't have access to the model with the specified model ID.",
        http_status_code=403,
    )

    with pytest.raises(ModelUnavailable, match=SONNET):
        complete(provider, [Message(role="user", text="hi")])
