"""Bounded text in records. A DynamoDB item holds at most 400 KB, and a cell may print megabytes or a model may
write a 200 KB cell: steps, transcript messages and run results keep a bounded preview (head and tail, with a marker
saying how much was left out) and the full text goes to S3, where the API hands out its URL."""

from __future__ import annotations

import json
from typing import Any

from agentlab.ids import new_ulid
from agentlab.models.run import OutputRef
from agentlab.store.blobs import BlobStore

# Per text field of a step or run item; a step holds a handful of fields, far below the item limit.
PREVIEW_CHARS = 16_000
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"


def omitted_marker(omitted: int) -> str:
    return f"\n[... {omitted} characters omitted ...]\n"


def head_and_tail(text: str, limit: int) -> str:
    """`text` when it fits in `limit` characters, else its head and tail around a marker (the whole fits `limit`):
    an error usually shows at the end of an output, what a cell set out to do at its start."""
    if len(text) <= limit:
        return text
    room = max(limit - len(omitted_marker(len(text))), 0)
    head = (room * 2) // 3
    tail = room - head
    omitted = len(text) - head - tail
    return text[:head] + omitted_marker(omitted) + (text[-tail:] if tail else "")


def output_key(org_id: str, run_id: str, name: str) -> str:
    return f"orgs/{org_id}/runs/{run_id}/outputs/{new_ulid()}/{name}"


class Outputs:
    """Collects the full texts of one record: each field over the preview size is written to S3 once and its
    reference kept in `refs`, which the record stores as `full_output`."""

    def __init__(self, blobs: BlobStore, org_id: str, run_id: str, *, preview_chars: int = PREVIEW_CHARS) -> None:
        self._blobs = blobs
        self._org_id = org_id
        self._run_id = run_id
        self.preview_chars = preview_chars
        self.refs: dict[str, OutputRef] = {}

    def text(self, field: str, value: str | None, *, limit: int | None = None) -> str | None:
        """The preview of `value` for the record; the full text goes to S3 when it does not fit."""
        if value is None:
            return None
        limit = limit or self.preview_chars
        if len(value) <= limit:
            return value
        self._spill(field, value.encode(), f"{field}.txt", TEXT_CONTENT_TYPE, len(value))
        return head_and_tail(value, limit)

    def tool_calls(self, field: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Tool calls with every long string argument cut to a preview; the full calls go to S3 as JSON."""
        bounded: list[dict[str, Any]] = []
        spilled = False
        for call in calls:
            arguments = call.get("arguments") or {}
            kept: dict[str, Any] = {}
            for name, value in arguments.items():
                text = value if isinstance(value, str) else json.dumps(value, default=str)
                if len(text) > self.preview_chars:
                    spilled = True
                    kept[name] = head_and_tail(text, self.preview_chars)
                else:
                    kept[name] = value
            bounded.append({**call, "arguments": kept})
        if spilled:
            body = json.dumps(calls, default=str)
            self._spill(field, body.encode(), f"{field}.json", JSON_CONTENT_TYPE, len(body))
        return bounded

    def _spill(self, field: str, data: bytes, name: str, content_type: str, chars: int) -> None:
        if field in self.refs:
            return
        key = output_key(self._org_id, self._run_id, name)
        self._blobs.put(key, data, content_type=content_type)
        self.refs[field] = OutputRef(key=key, chars=chars, bytes=len(data))
