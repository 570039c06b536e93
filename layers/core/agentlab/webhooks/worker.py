"""The delivery function's logic: one queue message is one attempt of one delivery.

SQS delivers a message at least once, so a message names the attempt it is for: a message for an attempt already
made is a duplicate and does nothing, except finish what its first handling left undone (the next attempt's
message). A failed attempt is followed by the next of RETRY_SCHEDULE_S, sent back to the queue with a delay; SQS
holds a message back 15 minutes at most, so a longer wait carries its due time and is re-sent until it is due.
After the last attempt the delivery is dead and goes to the dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from agentlab.aws import AwsClients
from agentlab.errors import ConcurrentUpdate
from agentlab.logs import get_logger
from agentlab.models.common import utc_now
from agentlab.store.audit import AuditStore
from agentlab.store.table import Table
from agentlab.store.webhooks import AttemptRecord, Delivery, WebhookEndpoint, WebhookStore
from agentlab.webhooks.delivery import deliver, next_retry_delay_s, should_disable
from agentlab.webhooks.events import DeliveryMessage, enqueue
from agentlab.webhooks.settings import WebhookSettings

if TYPE_CHECKING:
    import httpx

logger = get_logger("agentlab-webhooks")

Outcome = Literal["succeeded", "retrying", "dead", "failed", "deferred", "duplicate", "gone", "endpoint_disabled"]
SYSTEM_ACTOR = "system:webhooks"


@dataclass
class DeliveryWorker:
    settings: WebhookSettings
    clients: AwsClients
    store: WebhookStore
    http: httpx.Client
    clock: Callable[[], datetime] = utc_now

    @classmethod
    def from_settings(cls, settings: WebhookSettings) -> DeliveryWorker:
        clients = AwsClients(settings)
        table = Table(lambda: clients.dynamodb, settings.table_name)
        import httpx

        return cls(settings, clients, WebhookStore(table, clients), httpx.Client(follow_redirects=False))

    def handle_body(self, body: str) -> Outcome:
        return self.handle(DeliveryMessage.model_validate(json.loads(body)))

    def handle(self, message: DeliveryMessage) -> Outcome:
        now = self.clock()
        if message.due_at is not None and message.due_at > now:
            # Not due yet: wait again, as long as SQS allows, with the same due time.
            enqueue(self.clients, self.settings.webhook_queue_url, message, _seconds_until(message.due_at, now))
            return "deferred"
        delivery = self.store.find_delivery(message.org_id, message.webhook_id, message.delivery_id)
        if delivery is None:
            return "gone"
        if delivery.status != "pending" or len(delivery.attempts) != message.attempt - 1:
            self._finish_queueing(delivery)
            return "duplicate"
        endpoint = self.store.find(message.org_id, message.webhook_id)
        if endpoint is None:
            return "gone"
        if not endpoint.enabled:
            self._save(delivery, status="failed", next_attempt_at=None)
            return "endpoint_disabled"
        return self._attempt(message, delivery, endpoint)

    def _attempt(self, message: DeliveryMessage, delivery: Delivery, endpoint: WebhookEndpoint) -> Outcome:
        result = deliver(
            endpoint.url,
            self.store.secret(endpoint.org_id, endpoint.id),
            delivery.webhook_event(),
            client=self.http,
            timeout_s=self.settings.webhook_timeout_s,
            allow_loopback=self.settings.webhooks_allow_loopback,
            clock=self.clock,
        )
        succeeded = result.status == "delivered"
        record = AttemptRecord(
            attempted_at=result.attempted_at,
            response_code=result.response_code,
            error=result.error,
            duration_ms=result.duration_ms,
            succeeded=succeeded,
        )
        attempts = [*delivery.attempts, record]
        failures = self.store.count_attempt(endpoint, succeeded=succeeded)
        if succeeded:
            self._save(delivery, status="succeeded", attempts=attempts, next_attempt_at=None)
            return "succeeded"
        disabled = should_disable(failures, self.settings.webhook_disable_after_failures)
        if disabled:
            self._disable(endpoint, failures, result.error)
        delay = None if message.manual or disabled else next_retry_delay_s(message.attempt)
        if delay is not None:
            due = self.clock() + timedelta(seconds=delay)
            saved = self._save(delivery, status="pending", attempts=attempts, next_attempt_at=due)
            if saved is not None:
                self._queue_next(saved, due)
            return "retrying"
        if message.manual or disabled:
            self._save(delivery, status="failed", attempts=attempts, next_attempt_at=None)
            return "failed"
        saved = self._save(delivery, status="dead", attempts=attempts, next_attempt_at=None)
        if saved is not None:
            self._dead_letter(saved, result.error)
        return "dead"

    def _save(self, delivery: Delivery, **changes: Any) -> Delivery | None:
        """The delivery with `changes`, unless another handling of the same message got there first (None)."""
        try:
            return self.store.save_delivery(delivery.model_copy(update=changes), expected_revision=delivery.revision)
        except ConcurrentUpdate:
            return None

    def _queue_next(self, delivery: Delivery, due: datetime) -> None:
        attempt = len(delivery.attempts) + 1
        message = DeliveryMessage(
            org_id=delivery.org_id,
            webhook_id=delivery.webhook_id,
            delivery_id=delivery.id,
            attempt=attempt,
            due_at=due,
        )
        enqueue(self.clients, self.settings.webhook_queue_url, message, _seconds_until(due, self.clock()))
        self.store.table.set_fields(
            f"ORG#{delivery.org_id}#WEBHOOK#{delivery.webhook_id}",
            f"DELIVERY#{delivery.id}",
            {"queued_attempt": attempt},
        )

    def _finish_queueing(self, delivery: Delivery) -> None:
        """A duplicate of a message whose first handling recorded its attempt but stopped before queueing the next."""
        next_attempt = len(delivery.attempts) + 1
        if delivery.status == "pending" and delivery.attempts and delivery.queued_attempt < next_attempt:
            self._queue_next(delivery, delivery.next_attempt_at or self.clock())

    def _dead_letter(self, delivery: Delivery, error: str | None) -> None:
        logger.warning(
            "webhook delivery is dead after its last attempt",
            extra={"delivery_id": delivery.id, "webhook_id": delivery.webhook_id, "attempts": len(delivery.attempts)},
        )
        if not self.settings.webhook_dead_letter_queue_url:
            return
        body = {
            "org_id": delivery.org_id,
            "webhook_id": delivery.webhook_id,
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "event_type": delivery.event_type,
            "attempts": len(delivery.attempts),
            "last_error": error,
        }
        self.clients.sqs.send_message(
            QueueUrl=self.settings.webhook_dead_letter_queue_url, MessageBody=json.dumps(body)
        )

    def _disable(self, endpoint: WebhookEndpoint, failures: int, error: str | None) -> None:
        reason = f"{failures} delivery attempts in a row failed (the last: {error or 'no answer'})"
        self.store.disable(endpoint.org_id, endpoint.id, reason)
        logger.warning("webhook endpoint disabled", extra={"webhook_id": endpoint.id, "failures": failures})
        try:
            AuditStore(self.store.table).record_platform_event(
                endpoint.org_id,
                actor=SYSTEM_ACTOR,
                action="webhooks.disable",
                path=f"/v1/webhooks/{endpoint.id}",
                target=f"webhook_id={endpoint.id}",
                request_id=endpoint.id,
            )
        except Exception:  # the endpoint is off either way; a missing audit record must be seen, not fatal
            logger.exception("audit record of a disabled webhook not written", extra={"webhook_id": endpoint.id})


def _seconds_until(due: datetime, now: datetime) -> int:
    return max(0, int((due - now).total_seconds() + 0.999))
