"""Amazon Bedrock through the Converse API of boto3's bedrock-runtime client.

boto3 and botocore are imported only when a client is built or an error is classified: importing this module stays
cheap for a cold Lambda that may never call Bedrock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from agentlab.llm.errors import ModelError, ModelThrottled, ModelUnavailable
from agentlab.llm.images import ImageLimits, fit_images
from agentlab.llm.pricing import base_model_id, cost_for, price_for
from agentlab.llm.types import STOP_END_TURN, ImageBlock, Message, ModelResponse, ToolCall, ToolResult, ToolSpec, Usage

logger = logging.getLogger(__name__)

DEFAULT_READ_TIMEOUT_S = 120.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
CLIENT_MAX_ATTEMPTS = 4

TRANSIENT_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "ModelTimeoutException",
        "ModelErrorException",
        "InternalServerException",
        "ServiceQuotaExceededException",
    }
)
MODEL_UNAVAILABLE_ERROR_CODES = frozenset({"ResourceNotFoundException", "AccessDeniedException"})

# ValidationException covers both malformed requests and requests this particular model cannot serve; only the
# latter are worth handing to the next model in the list.
_UNUSABLE_MODEL_PHRASES = (
    "model identifier is invalid",
    "model not found",
    "model is not found",
    "does not exist",
    "not enabled",
    "end of its life",
    "on-demand throughput",
    "doesn't support",
    "does not support",
    "isn't supported",
    "is not supported",
    "don't have access",
    "do not have access",
)

# Bedrock requires a conversation to open with a user turn and rejects blank text blocks.
OPENING_USER_TEXT = "(The conversation continues.)"
EMPTY_TOOL_OUTPUT_TEXT = "(no output)"
ERROR_TEXT_PREFIX = "[error] "

# The Converse API reference (Message): at most 20 images, each at most 3.75 MB and 8,000 px high and wide.
IMAGE_LIMITS = ImageLimits(max_images=20, max_bytes=3_750_000, max_side_px=8_000)

# Only these model families accept the toolResult "status" field; others are told about errors in the text.
_TOOL_RESULT_STATUS_FAMILIES = ("anthropic.", "amazon.nova")


def bedrock_client_factory(
    region: str | None = None,
    *,
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    profile: str | None = None,
) -> Callable[[], Any]:
    """A factory for a bedrock-runtime client with standard retries (throttling backoff) and explicit timeouts.

    With a named profile the client takes that profile's credentials and ignores credentials in the environment
    (the local stack's in-process AWS replaces those with fakes).
    """

    def build() -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"mode": "standard", "max_attempts": CLIENT_MAX_ATTEMPTS},
            read_timeout=read_timeout_s,
            connect_timeout=connect_timeout_s,
        )
        session = boto3.Session(profile_name=profile) if profile else boto3
        return session.client("bedrock-runtime", region_name=region, config=config)

    return build


class BedrockProvider:
    name: str = "bedrock"

    def __init__(self, client_factory: Callable[[], Any] | None = None) -> None:
        self._client_factory = client_factory or bedrock_client_factory()
        self._client: Any = None
        self._client_lock = threading.Lock()

    def complete(
        self,
        *,
        model_id: str,
        system: str,
        messages: list[Message],
        tools: list[ToolSpec],
        max_tokens: int = 4096,
        temperature: float = 0.0,
    ) -> ModelResponse:
        request = build_converse_request(
            model_id=model_id,
            system=system,
            messages=fit_images(messages, IMAGE_LIMITS),
            tools=tools,
            max_tokens=max_tokens,
            temperature=temperature,
        )
        started = time.perf_counter()
        try:
            raw = self._bedrock_client().converse(**request)
        except Exception as exc:
            error = classify_bedrock_error(exc, model_id)
            if error is None:
                raise
            raise error from exc
        latency_ms = round((time.perf_counter() - started) * 1000)
        return parse_converse_response(raw, model_id=model_id, latency_ms=latency_ms)

    def _bedrock_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client


def build_converse_request(
    *,
    model_id: str,
    system: str,
    messages: list[Message],
    tools: list[ToolSpec],
    max_tokens: int,
    temperature: float,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "modelId": model_id,
        "messages": to_converse_messages(messages, model_id=model_id),
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": temperature},
    }
    if system.strip():
        request["system"] = [{"text": system}]
    if tools:
        request["toolConfig"] = {"tools": [to_tool_spec(tool) for tool in tools]}
    return request


def to_tool_spec(tool: ToolSpec) -> dict[str, Any]:
    return {
        "toolSpec": {"name": tool.name, "description": tool.description, "inputSchema": {"json": tool.input_schema}}
    }


def to_converse_messages(messages: list[Message], *, model_id: str) -> list[dict[str, Any]]:
    """Converse messages that Bedrock accepts: no empty turns, roles alternating, a user turn first."""
    status_supported = base_model_id(model_id).startswith(_TOOL_RESULT_STATUS_FAMILIES)
    merged: list[dict[str, Any]] = []
    for message in messages:
        content = to_content_blocks(message, status_supported=status_supported)
        if not content:
            continue
        if merged and merged[-1]["role"] == message.role:
            merged[-1]["content"] = _tool_results_first(merged[-1]["content"] + content)
        else:
            merged.append({"role": message.role, "content": content})
    if not merged or merged[0]["role"] != "user":
        merged.insert(0, {"role": "user", "content": [{"text": OPENING_USER_TEXT}]})
    return merged


def _tool_results_first(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Claude expects the answers to its tool calls at the start of the next user turn.
    return sorted(blocks, key=lambda block: "toolResult" not in block)


def to_content_blocks(message: Message, *, status_supported: bool) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        to_tool_result_block(r, status_supported=status_supported) for r in message.tool_results
    ]
    if message.text and message.text.strip():
        blocks.append({"text": message.text})
    blocks.extend(to_image_block(image) for image in message.images)
    blocks.extend(
        {"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}} for call in message.tool_calls
    )
    return blocks


def to_image_block(image: ImageBlock) -> dict[str, Any]:
    return {"image": {"format": image.format, "source": {"bytes": image.data}}}


def to_tool_result_block(result: ToolResult, *, status_supported: bool) -> dict[str, Any]:
    text = result.content if result.content.strip() else EMPTY_TOOL_OUTPUT_TEXT
    if result.is_error and not status_supported:
        text = ERROR_TEXT_PREFIX + text
    block: dict[str, Any] = {
        "toolUseId": result.tool_call_id,
        "content": [{"text": text}, *(to_image_block(image) for image in result.images)],
    }
    if result.is_error and status_supported:
        block["status"] = "error"
    return {"toolResult": block}


def parse_converse_response(raw: dict[str, Any], *, model_id: str, latency_ms: int) -> ModelResponse:
    content = raw.get("output", {}).get("message", {}).get("content", [])
    texts = [block["text"] for block in content if "text" in block]
    tool_calls = [
        ToolCall(id=use["toolUseId"], name=use["name"], arguments=_as_arguments(use.get("input")))
        for use in (block["toolUse"] for block in content if "toolUse" in block)
    ]
    raw_usage = raw.get("usage", {})
    usage = Usage(input_tokens=raw_usage.get("inputTokens", 0), output_tokens=raw_usage.get("outputTokens", 0))
    return ModelResponse(
        text="\n".join(texts),
        tool_calls=tool_calls,
        usage=usage,
        stop_reason=raw.get("stopReason", STOP_END_TURN),
        latency_ms=latency_ms,
        model_id=model_id,
        provider=BedrockProvider.name,
        cost_usd=cost_for(model_id, usage),
        cost_known=price_for(model_id) is not None,
    )


def _as_arguments(value: Any) -> dict[str, Any]:
    # A tool's input schema is an object, but a model may still answer with something else; keep it visible.
    if isinstance(value, dict):
        return value
    return {} if value is None else {"value": value}


def classify_bedrock_error(exc: Exception, model_id: str) -> ModelError | None:
    """The ModelError for a boto3 failure, or None when the exception did not come from the SDK."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, text = str(error.get("Code", "")), str(error.get("Message", ""))
        detail = f"{model_id}: {code}: {text}"
        if code in TRANSIENT_ERROR_CODES:
            return ModelThrottled(detail)
        if code in MODEL_UNAVAILABLE_ERROR_CODES:
            return ModelUnavailable(detail)
        if code == "ValidationException" and any(phrase in text.lower() for phrase in _UNUSABLE_MODEL_PHRASES):
            return ModelUnavailable(detail)
        return ModelError(detail)
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | EndpointConnectionError | ConnectionClosedError):
        return ModelThrottled(f"{model_id}: {type(exc).__name__}: {exc}")
    if isinstance(exc, BotoCoreError):
        return ModelError(f"{model_id}: {type(exc).__name__}: {exc}")
    return None
