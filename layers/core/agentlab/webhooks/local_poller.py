"""The local stack's stand-in for Lambda's SQS event source: moto's queues call no function, so a thread receives the
webhook queue's messages and hands them to the delivery handler in the event shape Lambda uses, deleting the ones
the handler did not report as failed (those come back after their visibility timeout, as in AWS)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from agentlab.ids import new_ulid
from agentlab.logs import get_logger

logger = get_logger("agentlab-local")

QUEUE_NAME = "agentlab-local-webhooks"
DEAD_LETTER_QUEUE_NAME = "agentlab-local-webhooks-dlq"
# As the stack's event source mapping would: up to ten messages a batch, hidden while the handler works on them.
BATCH_SIZE = 10
VISIBILITY_TIMEOUT_S = 60

Handler = Callable[[dict[str, Any], Any], Any]


def create_webhook_queues(clients: Any) -> dict[str, str]:
    """The delivery queue and its dead-letter queue (made once, found on a restart); their URLs as settings."""
    sqs = clients.sqs
    dead_letter = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME)["QueueUrl"]
    attributes = {"VisibilityTimeout": str(VISIBILITY_TIMEOUT_S)}
    queue = sqs.create_queue(QueueName=QUEUE_NAME, Attributes=attributes)["QueueUrl"]
    return {"AGENTLAB_WEBHOOK_QUEUE_URL": queue, "AGENTLAB_WEBHOOK_DEAD_LETTER_QUEUE_URL": dead_letter}


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Received messages as the SQS event Lambda hands a function."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class LocalQueuePoller:
    def __init__(
        self,
        clients: Any,
        queue_url: str,
        handler: Handler,
        context_factory: Callable[[str], Any],
        *,
        interval_s: float = 1.0,
    ) -> None:
        self.clients = clients
        self.queue_url = queue_url
        self.handler = handler
        self.context_factory = context_factory
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue_arn = ""

    def start(self) -> None:
        attributes = self.clients.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        self._queue_arn = attributes["Attributes"]["QueueArn"]
        self._thread = threading.Thread(target=self._loop, name="webhook-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.poll_once()
            except Exception:  # the poller outlives a bad batch, as the event source mapping does
                logger.exception("webhook poll failed")
                handled = 0
            if not handled:
                self._stop.wait(self.interval_s)

    def poll_once(self) -> int:
        """Receive one batch, hand it to the handler, delete what it delivered; returns the batch's size."""
        sqs = self.clients.sqs
        received = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            VisibilityTimeout=VISIBILITY_TIMEOUT_S,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        event = sqs_event(received, self._queue_arn, self.clients.settings.region)
        result = self.handler(event, self.context_factory(new_ulid())) or {}
        failed = {str(item["itemIdentifier"]) for item in result.get("batchItemFailures", [])}
        done = [message for message in received if message["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(done)],
            )
        return len(received)
