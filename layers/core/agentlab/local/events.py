"""Server-sent events for a run on the local stack: each new step as an event, then the final status.

It polls the API handler itself (the same authorization and org scoping as any API call) and streams what changed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from agentlab.ids import new_ulid
from agentlab.local.functions import LambdaContext
from agentlab.local.gateway import ApiHandler, api_event

_EVENTS_PATH = re.compile(r"^/v1/runs/([0-9A-HJKMNP-TV-Z]{26})/events$")
_TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
POLL_INTERVAL_S = 0.25
MAX_STREAM_S = 3_600


def _call(api: ApiHandler, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    event = api_event("GET", path, headers, b"", "127.0.0.1")
    result = api(event, LambdaContext("agentlab-api", new_ulid()))
    return int(result["statusCode"]), json.loads(result.get("body") or "null")


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def stream_for(target: str, headers: dict[str, str], api: ApiHandler) -> Iterator[bytes] | None:
    """The event stream for `GET /v1/runs/{id}/events`, or None if the target is another route."""
    path, _, query = target.partition("?")
    match = _EVENTS_PATH.match(path)
    if not match:
        return None
    run_id = match.group(1)
    after = 0
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "after" and value.isdigit():
            after = int(value)
    return _stream(api, run_id, headers, after)


def _stream(api: ApiHandler, run_id: str, headers: dict[str, str], after: int) -> Iterator[bytes]:
    status, body = _call(api, f"/v1/runs/{run_id}", headers)
    if status != 200:
        yield _sse("error", body)
        return
    deadline = time.monotonic() + MAX_STREAM_S
    last_status = None
    while time.monotonic() < deadline:
        status, page = _call(api, f"/v1/runs/{run_id}/steps?after={after}&limit=200", headers)
        if status != 200:
            yield _sse("error", page)
            return
        for step in page["items"]:
            after = step["seq"]
            yield _sse("step", step)
        status, run = _call(api, f"/v1/runs/{run_id}", headers)
        if status != 200:
            yield _sse("error", run)
            return
        if run["status"] != last_status:
            last_status = run["status"]
            yield _sse("status", run)
        if run["status"] in _TERMINAL and not page["items"]:
            yield _sse("end", {"status": run["status"]})
            return
        if not page["items"]:
            yield b": keep-alive\n\n"
            time.sleep(POLL_INTERVAL_S)
