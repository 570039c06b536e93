"""Webhook delivery Lambda: SQS batches in, one delivery attempt per message, failed messages reported back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentlab.logs import get_logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from agentlab.webhooks.worker import DeliveryWorker

logger = get_logger("agentlab-webhook-delivery")
# Built at the first invocation (Powertools' batch utility, the worker and its HTTP client), kept while warm.
_processor: list[Any] = []
_worker: list[DeliveryWorker] = []


def _deliver(record: SQSRecord) -> str:
    return _worker[0].handle_body(record.body)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    if not _worker:
        from agentlab.webhooks.settings import WebhookSettings
        from agentlab.webhooks.worker import DeliveryWorker

        # A batch whose every message failed is answered like any other: each failure goes back to the queue alone.
        _processor.append(BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False))
        _worker.append(DeliveryWorker.from_settings(WebhookSettings()))
    answer = process_partial_response(event=event, record_handler=_deliver, processor=_processor[0], context=context)
    return dict(answer)
