"""The delivery worker against moto: retries with backoff over about a day, long waits re-sent in steps SQS allows,
the dead-letter queue after the last attempt, automatic disabling after a run of failures, duplicate events and
duplicate messages, and the local stack's queue poller."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from moto_platform import Platform
from webhook_receiver import Receiver

from agentlab.local.functions import LambdaContext
from agentlab.models import Run, utc_now
from agentlab.store.webhooks import WebhookEndpoint, WebhookStore
from agentlab.webhooks.delivery import RETRY_SCHEDULE_S
from agentlab.webhooks.events import MAX_QUEUE_DELAY_S, event_id_for, publish
from agentlab.webhooks.local_poller import LocalQueuePoller, create_webhook_queues
from agentlab.webhooks.settings import WebhookSettings
from agentlab.webhooks.worker import DeliveryWorker
from agentlab.workflow.run_events import RunEvents


class RecordingSqs:
    """moto's SQS, with every send recorded and sent without its delay, so a test can take the message at once and
    move its own clock instead of waiting."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **request: Any) -> Any:
        self.sent.append(request)
        return self.sqs.send_message(**{**request, "DelaySeconds": 0})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)


class Clients:
    def __init__(self, clients: Any) -> None:
        self.clients = clients
        self.sqs = RecordingSqs(clients.sqs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.clients, name)


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(platform: Platform) -> WebhookSettings:
    queues = create_webhook_queues(platform.clients)
    return WebhookSettings(
        webhook_queue_url=queues["AGENTLAB_WEBHOOK_QUEUE_URL"],
        webhook_dead_letter_queue_url=queues["AGENTLAB_WEBHOOK_DEAD_LETTER_QUEUE_URL"],
        webhooks_allow_loopback=True,
        webhook_disable_after_failures=100,
    )


@pytest.fixture
def clients(platform: Platform) -> Clients:
    return Clients(platform.clients)


@pytest.fixture
def store(platform: Platform, clients: Clients) -> WebhookStore:
    return WebhookStore(platform.table, clients)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def endpoint_for(store: WebhookStore, receiver: Receiver, org_id: str, events: list[Any]) -> WebhookEndpoint:
    endpoint, secret = store.create(org_id, url=receiver.url, events=events)
    receiver.secret = secret
    return endpoint


def take(clients: Clients, queue_url: str) -> list[str]:
    messages = clients.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        clients.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [str(message["Body"]) for message in messages]


def test_a_failing_endpoint_is_retried_with_backoff_then_the_delivery_is_dead_lettered(
    platform: Platform,
    org: tuple[str, str],
    settings: WebhookSettings,
    clients: Clients,
    store: WebhookStore,
    clock: Clock,
    http: httpx.Client,
    receiver: Receiver,
) -> None:
    # Given an endpoint that answers 500 to every delivery
    endpoint = endpoint_for(store, receiver, org[0], ["run.failed"])
    receiver.status, receiver.check_time = 500, False
    worker = DeliveryWorker(settings, clients, store, http, clock=clock)
    [delivery] = publish(
        platform.table, settings, clients, org[0], "run.failed", {"run": {"id": "r"}}, event_id_for("run", "r")
    )
    outcomes: list[str] = []

    # When every message is handled as the queue hands it over, with the clock moved to each message's due time
    while bodies := take(clients, settings.webhook_queue_url):
        [body] = bodies
        due = json.loads(body).get("due_at")
        if due is not None:
            # A first look before it is due sends it back with what remains of the wait
            clock.now = datetime.fromisoformat(due) - timedelta(seconds=MAX_QUEUE_DELAY_S // 2)
            outcomes.append(worker.handle_body(body))
            [body] = take(clients, settings.webhook_queue_url)
            clock.now = datetime.fromisoformat(due)
        outcomes.append(worker.handle_body(body))

    # Then there was one attempt per step of the schedule, each waiting longer, and the delivery went dead
    attempts = 1 + len(RETRY_SCHEDULE_S)
    assert len(receiver.received) == attempts and all(r.verified for r in receiver.received)
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery.event_id}
    assert outcomes.count("retrying") == len(RETRY_SCHEDULE_S) and outcomes[-1] == "dead"
    assert outcomes.count("deferred") == len(RETRY_SCHEDULE_S)
    retries = [request for request in clients.sqs.sent if request["QueueUrl"] == settings.webhook_queue_url][1:]
    asked = [request["DelaySeconds"] for request in retries if "attempt" in request["MessageBody"]]
    assert all(delay <= MAX_QUEUE_DELAY_S for delay in asked)
    scheduled = [json.loads(request["MessageBody"])["due_at"] for request in retries]
    gaps = [
        (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()
        for earlier, later in zip(scheduled[::2], scheduled[2::2], strict=False)
    ]
    assert gaps == list(RETRY_SCHEDULE_S[1:]) and sum(RETRY_SCHEDULE_S) > 86_400
    logged = store.get_delivery(org[0], endpoint.id, delivery.id)
    assert logged.status == "dead" and len(logged.attempts) == attempts and logged.next_attempt_at is None
    assert {attempt.response_code for attempt in logged.attempts} == {500}
    # And the dead-letter queue holds it, with why
    [dead] = take(clients, settings.webhook_dead_letter_queue_url)
    letter = json.loads(dead)
    assert (
        letter["delivery_id"] == delivery.id and letter["attempts"] == attempts and letter["last_error"] == "HTTP 500"
    )


def test_a_run_of_failures_disables_the_endpoint_with_the_reason(
    platform: Platform,
    org: tuple[str, str],
    settings: WebhookSettings,
    clients: Clients,
    store: WebhookStore,
    clock: Clock,
    http: httpx.Client,
    receiver: Receiver,
) -> None:
    # Given an endpoint that fails, and a setting of three failures in a row
    settings = settings.model_copy(update={"webhook_disable_after_failures": 3})
    endpoint = endpoint_for(store, receiver, org[0], ["usage.threshold"])
    receiver.status = 503
    worker = DeliveryWorker(settings, clients, store, http, clock=clock)

    # When three events fail their first attempt
    for percent in (50, 80, 100):
        publish(platform.table, settings, clients, org[0], "usage.threshold", {"percent": percent}, f"u{percent}")
    outcomes = [worker.handle_body(body) for body in take(clients, settings.webhook_queue_url)]

    # Then the endpoint is off, with the reason, and an audit record says so
    assert outcomes == ["retrying", "retrying", "failed"]
    disabled = store.get(org[0], endpoint.id)
    assert disabled.enabled is False and disabled.consecutive_failures == 3
    assert disabled.disabled_reason is not None and "3 delivery attempts in a row failed" in disabled.disabled_reason
    assert "HTTP 503" in disabled.disabled_reason
    audit = list(platform.table.iterate(partition=("PK", f"AUDIT#{org[0]}")))
    assert [(record["action"], record["actor"]) for record in audit] == [("webhooks.disable", "system:webhooks")]
    # And the retries already queued end without a request when due, and nothing new is recorded for it
    clock.now += timedelta(minutes=10)
    assert {worker.handle_body(body) for body in take(clients, settings.webhook_queue_url)} == {"endpoint_disabled"}
    assert publish(platform.table, settings, clients, org[0], "usage.threshold", {"percent": 120}, "u120") == []
    assert len(receiver.received) == 3


def test_a_success_ends_a_run_of_failures(
    platform: Platform,
    org: tuple[str, str],
    settings: WebhookSettings,
    clients: Clients,
    store: WebhookStore,
    clock: Clock,
    http: httpx.Client,
    receiver: Receiver,
) -> None:
    endpoint = endpoint_for(store, receiver, org[0], ["schedule.paused"])
    worker = DeliveryWorker(settings, clients, store, http, clock=clock)
    receiver.status = 500
    publish(platform.table, settings, clients, org[0], "schedule.paused", {"schedule_id": "s"}, "p1")
    assert [worker.handle_body(b) for b in take(clients, settings.webhook_queue_url)] == ["retrying"]
    assert store.get(org[0], endpoint.id).consecutive_failures == 1

    receiver.status = 200
    clock.now += timedelta(seconds=RETRY_SCHEDULE_S[0])
    assert [worker.handle_body(b) for b in take(clients, settings.webhook_queue_url)] == ["succeeded"]
    assert store.get(org[0], endpoint.id).consecutive_failures == 0


def test_a_duplicate_event_makes_one_delivery_with_one_id_and_a_duplicate_message_sends_nothing(
    platform: Platform,
    org: tuple[str, str],
    settings: WebhookSettings,
    clients: Clients,
    store: WebhookStore,
    clock: Clock,
    http: httpx.Client,
    receiver: Receiver,
) -> None:
    # Given an endpoint for run ends, and a run that ended
    endpoint = endpoint_for(store, receiver, org[0], ["run.succeeded", "run.waiting_approval"])
    unsubscribed, _ = store.create(org[0], url="http://127.0.0.1:9/elsewhere", events=["run.failed"])
    now = utc_now()
    run = Run(
        id="01JD3ZB7M8N9P0Q1R2S3T4V5W6",
        org_id=org[0],
        agent_id="01JD3Z9A2B3C4D5E6F7G8H9J0K",
        agent_version=1,
        thread_id="01JD3ZB7M8N9P0Q1R2S3T4V5W6",
        prompt="a prompt the event never carries",
        status="succeeded",
        created_at=now,
        updated_at=now,
        ended_at=now,
    )
    events = RunEvents(platform.table, settings, clients)

    # When its end is reported twice (a retried Finalize step)
    events.ended(run)
    events.ended(run)

    # Then one delivery is recorded, one message sent, to the subscribed endpoint only
    [logged] = store.list_deliveries(org[0], endpoint.id, limit=10, cursor=None).items
    assert logged.event_id == event_id_for("run", run.id, "run.succeeded")
    assert store.list_deliveries(org[0], unsubscribed.id, limit=10, cursor=None).items == []
    bodies = take(clients, settings.webhook_queue_url)
    assert len(bodies) == 1
    # And handling the message twice (SQS delivers at least once) posts once
    assert [worker_outcome for worker_outcome in _handle(settings, clients, store, http, clock, bodies * 2)] == [
        "succeeded",
        "duplicate",
    ]
    assert len(receiver.received) == 1 and receiver.received[0].verified
    payload = json.loads(receiver.received[0].body)
    assert payload["id"] == logged.event_id and "prompt" not in json.dumps(payload)

    # When the run waits for approval twice, at two moments, those are two events
    waiting = run.model_copy(update={"status": "waiting_approval", "ended_at": None})
    events.waiting_approval(waiting)
    events.waiting_approval(waiting)
    events.waiting_approval(waiting.model_copy(update={"updated_at": now + timedelta(minutes=5)}))
    kinds = [d.event_type for d in store.list_deliveries(org[0], endpoint.id, limit=10, cursor=None).items]
    assert sorted(kinds) == ["run.succeeded", "run.waiting_approval", "run.waiting_approval"]


def _handle(
    settings: WebhookSettings,
    clients: Clients,
    store: WebhookStore,
    http: httpx.Client,
    clock: Clock,
    bodies: list[str],
) -> list[str]:
    worker = DeliveryWorker(settings, clients, store, http, clock=clock)
    return [worker.handle_body(body) for body in bodies]


def test_a_body_that_names_a_credential_is_refused(
    platform: Platform, org: tuple[str, str], settings: WebhookSettings, store: WebhookStore, receiver: Receiver
) -> None:
    endpoint = endpoint_for(store, receiver, org[0], ["usage.threshold"])
    with pytest.raises(ValueError, match="never carries secrets"):
        publish(platform.table, settings, store.clients, org[0], "usage.threshold", {"api_key": "x"}, "leak")
    assert store.list_deliveries(org[0], endpoint.id, limit=10, cursor=None).items == []


def test_the_local_poller_hands_queue_messages_to_the_delivery_handler(
    platform: Platform,
    org: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    receiver: Receiver,
) -> None:
    # Given the local stack's queues and settings, and an endpoint with an event queued for it
    queues = create_webhook_queues(platform.clients)
    for name, value in {**queues, "AGENTLAB_WEBHOOKS_ALLOW_LOOPBACK": "1"}.items():
        monkeypatch.setenv(name, value)
    store = WebhookStore(platform.table, platform.clients)
    endpoint = endpoint_for(store, receiver, org[0], ["run.cancelled"])
    settings = WebhookSettings()
    [delivery] = publish(platform.table, settings, platform.clients, org[0], "run.cancelled", {"run": {}}, "c1")
    handler = platform.registry.handler("webhook_delivery")
    poller = LocalQueuePoller(
        platform.clients,
        queues["AGENTLAB_WEBHOOK_QUEUE_URL"],
        handler,
        lambda request_id: LambdaContext("webhook_delivery", request_id),
    )

    # When the poller runs until the delivery is made
    poller.start()
    try:
        deadline = time.monotonic() + 30
        while store.get_delivery(org[0], endpoint.id, delivery.id).status == "pending" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()

    # Then the handler delivered it and the message is gone from the queue
    assert len(receiver.received) == 1 and receiver.received[0].verified
    assert store.get_delivery(org[0], endpoint.id, delivery.id).status == "succeeded"
    assert poller.poll_once() == 0
