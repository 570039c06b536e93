"""OpenAICompatibleProvider against a local fake chat-completions server that records what it receives."""

import base64
import io
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from agentlab.llm.errors import ModelError, ModelThrottled, ModelUnavailable
from agentlab.llm.openai import OpenAICompatibleProvider
from agentlab.llm.types import ImageBlock, Message, ToolCall, ToolResult, ToolSpec

PYTHON_TOOL = ToolSpec(
    name="python",
    description="Run Python code.",
    input_schema={"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
)


def image_bytes(pil_format: str) -> bytes:
    """A small real image: providers fit images to their limits, and bytes that are not an image are left out."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buffer, format=pil_format)
    return buffer.getvalue()


PHOTO_BYTES = image_bytes("JPEG")
CHART_BYTES = image_bytes("PNG")


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeChatServer:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def reply(self, status: int, body: Any, **kwargs: Any) -> None:
        self.replies.append(Reply(status, body, **kwargs))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                server.requests.append(RecordedRequest(self.path, dict(self.headers), body))
                reply = server.replies.popleft() if server.replies else Reply(500, {"error": "no reply queued"})
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    fake = FakeChatServer()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def provider(server: FakeChatServer, sleeps: list[float]) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(server.base_url + "/", "sk-local", timeout_s=5.0, sleep=sleeps.append)


def chat_reply(message: dict[str, Any], finish_reason: str = "stop", usage: tuple[int, int] = (12, 7)) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "llama3.1:8b",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


def complete(provider: OpenAICompatibleProvider, messages: list[Message], **kwargs: Any):
    return provider.complete(
        model_id="llama3.1:8b", system="Be precise.", messages=messages, tools=[PYTHON_TOOL], **kwargs
    )


def test_tool_call_response_is_parsed(provider: OpenAICompatibleProvider, server: FakeChatServer) -> None:
    server.reply(
        200,
        chat_reply(
            {
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "python", "arguments": '{"code": "print(2 ** 10)"}'},
                    }
                ],
            },
            finish_reason="tool_calls",
        ),
    )

    response = complete(provider, [Message(role="user", text="Compute 2**10")], max_tokens=256, temperature=0.2)

    assert response.tool_calls == [ToolCall(id="call_9", name="python", arguments={"code": "print(2 ** 10)"})]
    assert response.text == ""
    assert response.stop_reason == "tool_use"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 7)
    assert (response.provider, response.model_id, response.cost_usd) == ("openai", "llama3.1:8b", 0.0)
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-local"
    assert request.body == {
        "model": "llama3.1:8b",
        "messages": [{"role": "system", "content": "Be precise."}, {"role": "user", "content": "Compute 2**10"}],
        "max_tokens": 256,
        "temperature": 0.2,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "python",
                    "description": "Run Python code.",
                    "parameters": PYTHON_TOOL.input_schema,
                },
            }
        ],
    }


def test_tool_results_round_trip_as_tool_messages(provider: OpenAICompatibleProvider, server: FakeChatServer) -> None:
    server.reply(200, chat_reply({"content": "2 ** 10 is 1024."}))
    messages = [
        Message(role="user", text="Compute 2**10"),
        Message(
            role="assistant",
            text="Running it.",
            tool_calls=[ToolCall(id="call_9", name="python", arguments={"code": "print(2 ** 10)"})],
        ),
        Message(role="user", tool_results=[ToolResult(tool_call_id="call_9", content="1024\n")]),
        Message(role="assistant", tool_calls=[ToolCall(id="call_10", name="python", arguments={"code": "1/0"})]),
        Message(
            role="user", tool_results=[ToolResult(tool_call_id="call_10", content="ZeroDivisionError", is_error=True)]
        ),
    ]

    response = complete(provider, messages)

    assert response.text == "2 ** 10 is 1024."
    assert response.stop_reason == "end_turn"
    sent = server.requests[0].body["messages"][1:]
    assert sent == [
        {"role": "user", "content": "Compute 2**10"},
        {
            "role": "assistant",
            "content": "Running it.",
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "python", "arguments": '{"code": "print(2 ** 10)"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": "1024\n"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_10", "type": "function", "function": {"name": "python", "arguments": '{"code": "1/0"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_10", "content": "[error] ZeroDivisionError"},
    ]


def test_images_are_sent_as_data_urls(provider: OpenAICompatibleProvider, server: FakeChatServer) -> None:
    server.reply(200, chat_reply({"content": "A red square."}))
    photo = ImageBlock(media_type="image/jpeg", data=PHOTO_BYTES)
    chart = ImageBlock(media_type="image/png", data=CHART_BYTES)
    messages = [
        Message(role="user", text="What is in the photo?", images=[photo]),
        Message(role="assistant", tool_calls=[ToolCall(id="c1", name="python", arguments={"code": "plot()"})]),
        Message(role="user", tool_results=[ToolResult(tool_call_id="c1", content="saved", images=[chart])]),
    ]

    complete(provider, messages)

    sent = server.requests[0].body["messages"]
    jpeg_url = "data:image/jpeg;base64," + base64.b64encode(PHOTO_BYTES).decode()
    png_url = "data:image/png;base64," + base64.b64encode(CHART_BYTES).decode()
    assert sent[1] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in the photo?"},
            {"type": "image_url", "image_url": {"url": jpeg_url}},
        ],
    }
    # The tool answer comes first, then the chart it produced in a user turn (the tool role carries text only).
    assert sent[3] == {"role": "tool", "tool_call_id": "c1", "content": "saved"}
    assert sent[4] == {"role": "user", "content": [{"type": "image_url", "image_url": {"url": png_url}}]}


def test_throttling_is_retried_then_succeeds(
    provider: OpenAICompatibleProvider, server: FakeChatServer, sleeps: list[float]
) -> None:
    server.reply(429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "3"})
    server.reply(503, {"error": "loading model"})
    server.reply(200, chat_reply({"content": "finally"}))

    response = complete(provider, [Message(role="user", text="hi")])

    assert response.text == "finally"
    assert len(server.requests) == 3
    assert sleeps[0] == 3.0
    # Exponential backoff with jitter on the second retry: base 0.5 s * 2, plus up to 0.5 s.
    assert 1.0 <= sleeps[1] <= 1.5


def test_persistent_server_errors_become_throttling(
    provider: OpenAICompatibleProvider, server: FakeChatServer, sleeps: list[float]
) -> None:
    for _ in range(3):
        server.reply(500, {"error": "out of memory"})

    with pytest.raises(ModelThrottled, match="out of memory"):
        complete(provider, [Message(role="user", text="hi")])

    assert len(server.requests) == 3
    assert len(sleeps) == 2


def test_missing_model_is_unavailable(provider: OpenAICompatibleProvider, server: FakeChatServer) -> None:
    server.reply(404, {"error": 'model "llama3.1:8b" not found, try pulling it first'})

    with pytest.raises(ModelUnavailable, match="not found"):
        complete(provider, [Message(role="user", text="hi")])

    assert len(server.requests) == 1


def test_bad_request_is_a_permanent_error(provider: OpenAICompatibleProvider, server: FakeChatServer) -> None:
    server.reply(400, {"error": {"message": "max_tokens is too large"}})

    with pytest.raises(ModelError, match="max_tokens is too large") as raised:
        complete(provider, [Message(role="user", text="hi")])

    assert type(raised.value) is ModelError
    assert len(server.requests) == 1


def test_timeout_is_throttling(server: FakeChatServer) -> None:
    provider = OpenAICompatibleProvider(server.base_url, None, timeout_s=0.2, max_retries=0)
    server.reply(200, chat_reply({"content": "too late"}), delay_s=1.0)

    with pytest.raises(ModelThrottled, match="Timeout"):
        complete(provider, [Message(role="user", text="hi")])

    assert "Authorization" not in server.requests[0].headers


def test_ollama_style_tool_calls_are_accepted(provider: OpenAICompatibleProvider, server: FakeChatServer) -> None:
    # Ollama sends arguments as an object, may omit ids, and reports "stop" for a tool-calling turn.
    server.reply(
        200,
        chat_reply(
            {
                "content": "",
                "tool_calls": [
                    {"function": {"name": "python", "arguments": {"code": "print(1)"}}},
                    {"function": {"name": "finish", "arguments": "not json"}},
                ],
            }
        ),
    )

    response = complete(provider, [Message(role="user", text="hi")])

    assert response.stop_reason == "tool_use"
    assert response.tool_calls == [
        ToolCall(id="call-1", name="python", arguments={"code": "print(1)"}),
        ToolCall(id="call-2", name="finish", arguments={"_invalid_json": "not json"}),
    ]


def test_response_without_choices_is_an_error(provider: OpenAICompatibleProvider, server: FakeChatServer) -> None:
    server.reply(200, {"object": "chat.completion", "choices": []})

    with pytest.raises(ModelError, match="no choices"):
        complete(provider, [Message(role="user", text="hi")])


def test_priced_model_names_are_costed(provider: OpenAICompatibleProvider, server: FakeChatServer) -> None:
    server.reply(200, chat_reply({"content": "ok"}, usage=(1_000_000, 0)))

    response = provider.complete(
        model_id="amazon.nova-lite-v1:0", system="", messages=[Message(role="user", text="hi")], tools=[]
    )

    assert response.cost_usd == pytest.approx(0.06)
    assert "tools" not in server.requests[0].body
    assert server.requests[0].body["messages"] == [{"role": "user", "content": "hi"}]
