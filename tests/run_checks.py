"""Checks shared by the API, workflow and e2e tests."""

from __future__ import annotations

import time
from typing import Any, Protocol

from apiclient import ApiResponse
from moto_platform import Platform


class JsonResponse(Protocol):
    def json(self) -> Any: ...


class RunReader(Protocol):
    """Anything that GETs a path and answers with JSON: the in-process EventClient or an httpx.Client."""

    def get(self, path: str, **kwargs: Any) -> JsonResponse: ...


def wait_for(
    client: RunReader, run_id: str, statuses: set[str], timeout_s: float = 90, poll_s: float = 0.1
) -> dict[str, Any]:
    """Poll a run until its status is one of `statuses`; fail with the status it stayed in."""
    deadline = time.monotonic() + timeout_s
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = client.get(f"/v1/runs/{run_id}").json()
        if run["status"] in statuses:
            return run
        time.sleep(poll_s)
    raise AssertionError(f"run {run_id} did not reach {statuses}; it is {run.get('status')}")


def error_of(response: ApiResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert the one error shape: {"error": {"code", "message", "request_id"}}, the X-Request-ID header, no trace."""
    assert response.status == status, response.text
    body = response.json()
    assert list(body) == ["error"] and sorted(body["error"]) == ["code", "message", "request_id"], body
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    assert body["error"]["message"] and "Traceback" not in response.text and 'File "' not in response.text
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


# Bookkeeping every request writes (the audit trail, rate-limit and quota counters, a key's last use), as opposed to
# the data a refused request must leave alone.
BOOKKEEPING_PARTITIONS = ("AUDIT#", "RATE#", "QUOTA#")
BOOKKEEPING_ATTRIBUTES = ("last_used_at",)


def table_items(platform: Platform, *, bookkeeping: bool = False) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the table, keyed by (PK, SK): compared before and after, it shows that nothing changed.

    Without `bookkeeping`, the audit trail, counters and `last_used_at` are left out."""
    paginator = platform.clients.dynamodb.get_paginator("scan")
    items = {
        (item["PK"]["S"], item["SK"]["S"]): item
        for page in paginator.paginate(TableName=platform.settings.table_name, ConsistentRead=True)
        for item in page["Items"]
    }
    if bookkeeping:
        return items
    return {
        key: {name: value for name, value in item.items() if name not in BOOKKEEPING_ATTRIBUTES}
        for key, item in items.items()
        if not key[0].startswith(BOOKKEEPING_PARTITIONS)
    }


# An endpoint on this machine that nobody listens on: its deliveries are recorded (and would fail), never sent.
IDLE_WEBHOOK_URL = "http://127.0.0.1:9/hooks/agentlab"


def webhook_with_delivery(platform: Platform, admin: Any, org_id: str) -> tuple[str, str]:
    """A webhook endpoint of `org_id`, created through the API by its admin, with one delivery in its log (an event
    published directly, with no queue, so nothing is attempted). The API must allow loopback endpoints
    (AGENTLAB_WEBHOOKS_ALLOW_LOOPBACK=1 before its cold start)."""
    from agentlab.webhooks.events import event_id_for, publish

    created = admin.post("/v1/webhooks", {"url": IDLE_WEBHOOK_URL, "events": ["run.failed"]})
    assert created.status == 201, created.text
    webhook_id = str(created.json()["id"])
    settings = platform.settings.model_copy(update={"webhook_queue_url": ""})
    event_id = event_id_for("walk", webhook_id)
    publish(platform.table, settings, platform.clients, org_id, "run.failed", {"run": {"id": "walk"}}, event_id)
    deliveries = admin.get(f"/v1/webhooks/{webhook_id}/deliveries").json()["items"]
    assert len(deliveries) == 1, deliveries
    return webhook_id, str(deliveries[0]["id"])
