"""Any server that speaks the OpenAI chat completions API: Ollama, vLLM, llama.cpp."""

from __future__ import annotations

import base64
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from agentlab.llm.errors import ModelError, ModelThrottled, ModelUnavailable
from agentlab.llm.images import ImageLimits, fit_images
from agentlab.llm.pricing import cost_at, price_for
from agentlab.llm.types import (
    INVALID_ARGUMENTS_KEY,
    STOP_CONTENT_FILTERED,
    STOP_END_TURN,
    STOP_MAX_TOKENS,
    STOP_TOOL_USE,
    ImageBlock,
    Message,
    ModelResponse,
    ToolCall,
    ToolSpec,
    Usage,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_RETRIES = 2
DEFAULT_BACKOFF_S = 0.5
MAX_RETRY_AFTER_S = 20.0
ERROR_TEXT_PREFIX = "[error] "

# OpenAI documents up to 50 MB of image bytes per request and scales every image to fit 2,048 px before the model
# sees it; local servers (llama.cpp, vLLM, Ollama) spend context tokens on every pixel and every image. Ten images
# of at most 5 MB and 2,048 px a side stay within both.
IMAGE_LIMITS = ImageLimits(max_images=10, max_bytes=5_000_000, max_side_px=2_048)

_JITTER = random.SystemRandom()

STOP_REASONS = {
    "stop": STOP_END_TURN,
    "tool_calls": STOP_TOOL_USE,
    "function_call": STOP_TOOL_USE,
    "length": STOP_MAX_TOKENS,
    "content_filter": STOP_CONTENT_FILTERED,
}


class OpenAICompatibleProvider:
    name: str = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout_s: float,
        http_client: httpx.Client | None = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout_s = timeout_s
        self._http = http_client or httpx.Client(timeout=timeout_s)
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._sleep = sleep

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
        body = build_chat_request(
            model_id=model_id,
            system=system,
            messages=fit_images(messages, IMAGE_LIMITS),
            tools=tools,
            max_tokens=max_tokens,
            temperature=temperature,
        )
        started = time.perf_counter()
        raw = self._post_with_retries(body, model_id)
        latency_ms = round((time.perf_counter() - started) * 1000)
        return parse_chat_response(raw, model_id=model_id, latency_ms=latency_ms)

    def _post_with_retries(self, body: dict[str, Any], model_id: str) -> dict[str, Any]:
        for attempt in range(self._max_retries + 1):
            try:
                return self._post(body, model_id)
            except _RetryableFailure as failure:
                if attempt == self._max_retries:
                    raise ModelThrottled(f"{model_id}: {failure} (after {attempt + 1} attempts)") from failure
                delay = failure.retry_after_s if failure.retry_after_s is not None else self._backoff_delay(attempt)
                logger.info("model %s: %s; retrying in %.2f s", model_id, failure, delay)
                self._sleep(delay)
        raise AssertionError("unreachable: the last attempt either returns or raises")

    def _backoff_delay(self, attempt: int) -> float:
        # Jitter spreads out clients that were throttled together.
        return self._backoff_s * 2**attempt + _JITTER.uniform(0, self._backoff_s)

    def _post(self, body: dict[str, Any], model_id: str) -> dict[str, Any]:
        try:
            response = self._http.post(self._url, json=body, headers=self._headers, timeout=self._timeout_s)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _RetryableFailure(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise _RetryableFailure(f"HTTP {status}: {_error_text(response)}", _retry_after_s(response))
        if status == 404:
            raise ModelUnavailable(f"{model_id}: HTTP 404: {_error_text(response)}")
        if status >= 400:
            raise ModelError(f"{model_id}: HTTP {status}: {_error_text(response)}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise ModelError(f"{model_id}: response is not JSON: {response.text[:200]}") from exc
        if not isinstance(payload, dict):
            raise ModelError(f"{model_id}: unexpected response: {str(payload)[:200]}")
        return payload


class _RetryableFailure(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_S) if value is not None else None
    except ValueError:
        return None


def _error_text(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200]
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        return str(error.get("message", error))[:200]
    return str(error)[:200]


def build_chat_request(
    *,
    model_id: str,
    system: str,
    messages: list[Message],
    tools: list[ToolSpec],
    max_tokens: int,
    temperature: float,
) -> dict[str, Any]:
    chat: list[dict[str, Any]] = [{"role": "system", "content": system}] if system.strip() else []
    for message in messages:
        chat.extend(to_chat_messages(message))
    body: dict[str, Any] = {
        "model": model_id,
        "messages": chat,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    if tools:
        body["tools"] = [to_function_tool(tool) for tool in tools]
    return body


def to_function_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema},
    }


def to_chat_messages(message: Message) -> list[dict[str, Any]]:
    if message.role == "assistant":
        return [to_assistant_message(message)]
    # Tool answers must directly follow the assistant turn that called them; the "tool" role carries text only,
    # so images a tool produced travel in the user turn after them.
    chat: list[dict[str, Any]] = [
        {
            "role": "tool",
            "tool_call_id": result.tool_call_id,
            "content": (ERROR_TEXT_PREFIX if result.is_error else "") + result.content,
        }
        for result in message.tool_results
    ]
    images = [image for result in message.tool_results for image in result.images] + list(message.images)
    if images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.text}] if message.text else []
        parts.extend({"type": "image_url", "image_url": {"url": to_data_url(image)}} for image in images)
        chat.append({"role": "user", "content": parts})
    elif message.text or not message.tool_results:
        chat.append({"role": "user", "content": message.text or ""})
    return chat


def to_assistant_message(message: Message) -> dict[str, Any]:
    chat: dict[str, Any] = {"role": "assistant", "content": message.text or None}
    if message.tool_calls:
        chat["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    return chat


def to_data_url(image: ImageBlock) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def parse_chat_response(raw: dict[str, Any], *, model_id: str, latency_ms: int) -> ModelResponse:
    try:
        choice = raw["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ModelError(f"{model_id}: response has no choices: {str(raw)[:200]}") from exc
    tool_calls = [_to_tool_call(call, index) for index, call in enumerate(message.get("tool_calls") or [])]
    finish_reason = str(choice.get("finish_reason") or "stop")
    stop_reason = STOP_REASONS.get(finish_reason, finish_reason)
    # Some servers (Ollama among them) report "stop" even when the turn ends in tool calls.
    if tool_calls and stop_reason == STOP_END_TURN:
        stop_reason = STOP_TOOL_USE
    raw_usage = raw.get("usage") or {}
    usage = Usage(
        input_tokens=int(raw_usage.get("prompt_tokens") or 0),
        output_tokens=int(raw_usage.get("completion_tokens") or 0),
    )
    price = price_for(model_id)
    return ModelResponse(
        text=_content_text(message.get("content")),
        tool_calls=tool_calls,
        usage=usage,
        stop_reason=stop_reason,
        latency_ms=latency_ms,
        model_id=model_id,
        provider=OpenAICompatibleProvider.name,
        cost_usd=cost_at(price, usage) if price else 0.0,
        cost_known=price is not None,
    )


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _to_tool_call(call: dict[str, Any], index: int) -> ToolCall:
    function = call.get("function") or {}
    return ToolCall(
        id=call.get("id") or f"call-{index + 1}",
        name=str(function.get("name", "")),
        arguments=_parse_arguments(function.get("arguments")),
    )


def _parse_arguments(arguments: Any) -> dict[str, Any]:
    # OpenAI sends a JSON string, Ollama an object; text that is not a JSON object is kept for the model to see.
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        parsed = json.loads(arguments)
    except (TypeError, ValueError):
        return {INVALID_ARGUMENTS_KEY: str(arguments)}
    return parsed if isinstance(parsed, dict) else {INVALID_ARGUMENTS_KEY: str(arguments)}
