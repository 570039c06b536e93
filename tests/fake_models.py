"""Model providers as the workflow meets them on the wire: an OpenAI-compatible server on loopback that answers with
scripted chat-completion bodies (the replies real servers give, cut off, empty, malformed and filtered included), and
Bedrock's Converse answered by botocore's Stubber on a real bedrock-runtime client."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def chat_reply(
    content: str | None = None,
    *,
    tool_calls: list[tuple[str, str | dict[str, Any]]] | None = None,
    finish_reason: str | None = None,
    usage: tuple[int, int] = (120, 40),
) -> dict[str, Any]:
    """A chat.completion body. Tool call arguments given as a string go on the wire verbatim (malformed JSON too)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{index}",
                "type": "function",
                "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)},
            }
            for index, (name, args) in enumerate(tool_calls)
        ]
    reason = finish_reason or ("tool_calls" if tool_calls else "stop")
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1764633600,
        "model": "served-model",
        "choices": [{"index": 0, "message": message, "finish_reason": reason, "logprobs": None}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


class FakeChatServer:
    """Answers POST /v1/chat/completions from a queue of replies per model name; records every request body."""

    def __init__(self) -> None:
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    queue = server.replies.get(body.get("model", ""), [])
                    reply = queue.pop(0) if queue else None
                if reply is None:
                    payload, status = {"error": {"message": f"no scripted reply for {body.get('model')}"}}, 400
                else:
                    payload, status = reply, 200
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, model: str, *replies: dict[str, Any]) -> None:
        with self._lock:
            self.replies.setdefault(model, []).extend(replies)

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r.get("model") == model]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def chat_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeChatServer]:
    """The fake server, configured as the platform's OpenAI-compatible provider for the steps built after this."""
    server = FakeChatServer()
    server.start()
    monkeypatch.setenv("AGENTLAB_OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("AGENTLAB_OPENAI_API_KEY", "sk-test-not-a-real-key")
    try:
        yield server
    finally:
        server.stop()


def converse_reply(
    content: list[dict[str, Any]], stop_reason: str = "end_turn", usage: tuple[int, int] = (120, 40)
) -> dict[str, Any]:
    """A Converse response body as bedrock-runtime returns it."""
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)},
        "metrics": {"latencyMs": 321},
    }


def tool_use(name: str, payload: Any, use_id: str = "tooluse_1") -> dict[str, Any]:
    return {"toolUse": {"toolUseId": use_id, "name": name, "input": payload}}


class BedrockStub:
    def __init__(self, stubber: Any) -> None:
        self.stubber = stubber
        self.requests: list[dict[str, Any]] = []


@contextmanager
def bedrock_stub(monkeypatch: pytest.MonkeyPatch, *replies: dict[str, Any]) -> Iterator[BedrockStub]:
    """A real bedrock-runtime client whose Converse calls botocore's Stubber answers in order (validated against the
    service model); the platform's Bedrock provider is built on it. Every request's parameters are recorded."""
    import boto3
    from botocore.stub import Stubber

    import agentlab.llm.bedrock as bedrock

    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    stub = BedrockStub(Stubber(client))

    def record(params: dict[str, Any], **_: Any) -> None:
        stub.requests.append(params)

    client.meta.events.register("provide-client-params.bedrock-runtime.Converse", record)
    for reply in replies:
        stub.stubber.add_response("converse", reply)
    monkeypatch.setattr(bedrock, "bedrock_client_factory", lambda *args, **kwargs: lambda: client)
    with stub.stubber:
        yield stub
