"""The CLI's test harness: a fake API served through httpx.MockTransport, and the CLI run against it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeApi:
    """Answers requests from a table of (method, path) routes and remembers every request it saw."""

    routes: dict[tuple[str, str], Handler | list[Handler]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Handler | httpx.Response) -> None:
        handlers = [answer if callable(answer) else _fixed(answer) for answer in answers]
        self.routes[(method, path)] = handlers if len(handlers) > 1 else handlers[0]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return error_response(404, "not_found", f"no route {request.method} {request.url.path}")
        if isinstance(route, list):
            # Successive answers for polling; the last one repeats.
            return route.pop(0)(request) if len(route) > 1 else route[0](request)
        return route(request)

    def body(self, index: int = -1) -> Any:
        """The JSON body of a request it saw (the last by default)."""
        return json.loads(self.requests[index].content)

    def paths(self) -> list[str]:
        return [f"{request.method} {request.url.path}" for request in self.requests]


def _fixed(response: httpx.Response) -> Handler:
    return lambda _request: httpx.Response(response.status_code, content=response.content, headers=response.headers)


def ok(payload: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=payload)


def error_response(status: int, code: str, message: str, request_id: str = "req-1") -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, "request_id": request_id}})


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
