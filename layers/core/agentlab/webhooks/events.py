"""Publishing webhook events: one pending delivery per subscribed endpoint, one queue message per delivery.

An event id is chosen by the publisher and derived from what happened (a run's id and its end, say), so a step that
is retried publishes the same event again: the delivery log holds one delivery per (endpoint, event) and a receiver
sees the same `webhook-id` however often we try.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from agentlab.logs import get_logger
from agentlab.models import Run
from agentlab.settings import CoreSettings
from agentlab.store.table import Table
from agentlab.store.webhooks import Delivery, WebhookStore
from agentlab.webhooks.signing import EventType, WebhookEvent, refuse_secret_keys

if TYPE_CHECKING:
    from agentlab.workflow.run_events import RunEvents

logger = get_logger("agentlab-webhooks")

# SQS holds a message back at most 15 minutes; a longer wait is re-sent with what remains (see worker.py).
MAX_QUEUE_DELAY_S = 900
_EVENT_ID = re.compile(r"^evt_[0-9A-HJKMNP-TV-Z]{26}$")
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# A run's summary carries a bounded error message: the run's own record has the rest.
_ERROR_CHARS = 300


class DeliveryMessage(BaseModel):
    """What the queue carries: which delivery, which attempt, and when it is due when SQS could not wait that long."""

    model_config = ConfigDict(extra="ignore")

    org_id: str
    webhook_id: str
    delivery_id: str
    attempt: int = 1
    due_at: datetime | None = None
    # A redelivery asked for by a person: one attempt, no retry schedule after it.
    manual: bool = False


def event_id_for(*parts: str) -> str:
    """A stable event id (`evt_` and 26 Crockford base32 characters) for what `parts` name."""
    digest = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:16], "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[digest & 31])
        digest >>= 5
    return "evt_" + "".join(reversed(chars))


def enqueue(clients: Any, queue_url: str, message: DeliveryMessage, delay_s: int = 0) -> None:
    clients.sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=message.model_dump_json(exclude_none=True),
        DelaySeconds=max(0, min(delay_s, MAX_QUEUE_DELAY_S)),
    )


def queue_delivery(store: WebhookStore, clients: Any, queue_url: str, delivery: Delivery, *, manual: bool) -> Delivery:
    """Send the message for the delivery's next attempt and note that it was sent."""
    attempt = len(delivery.attempts) + 1
    enqueue(
        clients,
        queue_url,
        DeliveryMessage(
            org_id=delivery.org_id,
            webhook_id=delivery.webhook_id,
            delivery_id=delivery.id,
            attempt=attempt,
            manual=manual,
        ),
    )
    store.table.set_fields(
        f"ORG#{delivery.org_id}#WEBHOOK#{delivery.webhook_id}", f"DELIVERY#{delivery.id}", {"queued_attempt": attempt}
    )
    return delivery.model_copy(update={"queued_attempt": attempt})


def publish(
    table: Table,
    settings: CoreSettings,
    clients: Any,
    org_id: str,
    event_type: EventType,
    data: dict[str, Any],
    event_id: str,
) -> list[Delivery]:
    """Record `event_type` for every enabled endpoint of the org that subscribes to it, and queue each delivery.

    `event_id` names the event: publishing it again makes no second delivery (any stable text works; one that is not
    already an `evt_` id is turned into one). Without a queue (`webhook_queue_url` empty) deliveries are only
    recorded. `data` carries ids and a summary: a key that names a credential is refused (ValueError).
    """
    refuse_secret_keys(data)
    store = WebhookStore(table, clients)
    endpoints = [endpoint for endpoint in store.all(org_id) if endpoint.wants(event_type)]
    if not endpoints:
        return []
    stable_id = event_id if _EVENT_ID.match(event_id) else event_id_for(event_id)
    event = WebhookEvent(id=stable_id, type=event_type, org_id=org_id, data=data)
    deliveries = []
    for endpoint in endpoints:
        delivery, created = store.create_delivery(endpoint, event)
        # A publish that recorded the delivery but stopped before the queue had it is finished by the next one.
        unsent = delivery.status == "pending" and not delivery.attempts and delivery.queued_attempt == 0
        if settings.webhook_queue_url and unsent:
            delivery = queue_delivery(store, clients, settings.webhook_queue_url, delivery, manual=False)
        if created:
            logger.info(
                "webhook event recorded",
                extra={"event_id": event.id, "event_type": event_type, "webhook_id": endpoint.id},
            )
        deliveries.append(delivery)
    return deliveries


# runs -----------------------------------------------------------------------------------------------------------
def run_summary(run: Run) -> dict[str, Any]:
    """What a run's event says about it: ids, status, times and usage, and an error's code and the start of its
    message; never the prompt, environment, script or result."""
    summary: dict[str, Any] = {
        "id": run.id,
        "agent_id": run.agent_id,
        "agent_version": run.agent_version,
        "thread_id": run.thread_id,
        "status": run.status,
        "created_at": run.created_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "usage": json.loads(run.usage.model_dump_json()),
    }
    if run.error is not None:
        summary["error"] = {"code": run.error.code, "message": run.error.message[:_ERROR_CHARS]}
    return summary


_ENDED_TYPES: dict[str, EventType] = {
    "succeeded": "run.succeeded",
    "failed": "run.failed",
    "cancelled": "run.cancelled",
    "budget_exceeded": "run.budget_exceeded",
}


def publish_run_ended(events: RunEvents, run: Run) -> None:
    """`run.<status>` for a run that ended; the same event however often its end is reported."""
    event_type = _ENDED_TYPES.get(run.status)
    if event_type is None:
        return
    publish(
        events.table,
        events.settings,
        events.clients,
        run.org_id,
        event_type,
        {"run": run_summary(run)},
        event_id_for("run", run.id, event_type),
    )


def publish_run_waiting_approval(events: RunEvents, run: Run) -> None:
    """`run.waiting_approval`, once per time the run asked: the moment it started waiting is part of the event."""
    publish(
        events.table,
        events.settings,
        events.clients,
        run.org_id,
        "run.waiting_approval",
        {"run": run_summary(run)},
        event_id_for("run", run.id, "run.waiting_approval", run.updated_at.isoformat()),
    )
