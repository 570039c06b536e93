"""Webhooks through the HTTP API: endpoints with a secret shown once, signed deliveries a Standard Webhooks receiver
accepts (and replays or tampering it refuses), a run's end delivered end to end, URL checks, the delivery log and
redelivery, tenancy and roles, and secrets kept out of answers and logs."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from apiclient import EventClient
from moto_platform import Platform
from run_checks import error_of, table_items, wait_for
from standardwebhooks import Webhook, WebhookVerificationError
from webhook_receiver import Receiver

from agentlab.local.functions import LambdaContext
from agentlab.models import utc_now
from agentlab.store.webhooks import secret_name
from agentlab.webhooks.local_poller import create_webhook_queues, sqs_event
from agentlab.webhooks.signing import sign

FINISH = [{"tool": "finish", "answer": "done"}]
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack's setting: endpoints on this machine are allowed (read by the API and worker at cold start)."""
    monkeypatch.setenv("AGENTLAB_WEBHOOKS_ALLOW_LOOPBACK", "1")


@pytest.fixture
def queues(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    created = create_webhook_queues(platform.clients)
    for name, url in created.items():
        monkeypatch.setenv(name, url)
    return created


def create_webhook(api: EventClient, url: str, events: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    response = api.post("/v1/webhooks", {"url": url, "events": events or ["run.succeeded"], **fields})
    assert response.status == 201, response.text
    return dict(response.json())


def deliver_queued(platform: Platform, queue_url: str) -> list[dict[str, Any]]:
    """Hand every message of the queue to the delivery handler, in the SQS event shape; returns its answers."""
    sqs = platform.clients.sqs
    answers = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return answers
        event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:webhooks", "us-east-1")
        answer = platform.registry.handler("webhook_delivery")(event, LambdaContext("webhook_delivery", "r"))
        answers.append(answer)
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def wait_for_queued(platform: Platform, queue_url: str, timeout_s: float = 30) -> None:
    """The run's status is written before its Finalize step, which publishes the event: wait for the message."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        attributes = platform.clients.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        if int(attributes["ApproximateNumberOfMessages"]):
            return
        time.sleep(0.1)
    raise AssertionError("no delivery was queued")


# the API --------------------------------------------------------------------------------------------------------
def test_a_webhook_is_created_with_its_secret_shown_once(
    platform: Platform, api: EventClient, org: tuple[str, str], loopback: None, receiver: Receiver
) -> None:
    # When an admin creates a webhook
    created = create_webhook(api, receiver.url, ["run.failed", "run.succeeded", "run.failed"], description="bot")

    # Then the answer has the secret, once; the events are each named once; the secret lives in Secrets Manager
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["run.succeeded", "run.failed"] and created["enabled"] is True
    assert created["description"] == "bot" and created["consecutive_failures"] == 0
    stored = platform.clients.secretsmanager.get_secret_value(SecretId=secret_name(org[0], created["id"]))
    assert stored["SecretString"] == created["secret"]
    assert created["secret"] not in json.dumps(list(table_items(platform, bookkeeping=True).values()))
    shown = api.get(f"/v1/webhooks/{created['id']}")
    listed = api.get("/v1/webhooks")
    assert shown.status == 200 and "secret" not in shown.json()
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    assert created["secret"] not in shown.text + listed.text

    # When the secret is rotated, the new one replaces the old one
    rotated = api.post(f"/v1/webhooks/{created['id']}/rotate-secret")
    assert rotated.status == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != created["secret"]
    stored = platform.clients.secretsmanager.get_secret_value(SecretId=secret_name(org[0], created["id"]))
    assert stored["SecretString"] == new_secret
    assert new_secret not in api.get(f"/v1/webhooks/{created['id']}").text

    # And every mutation left an audit record without the secret
    audit = api.get("/v1/audit").json()["items"]
    assert [record["action"] for record in audit[:2]] == ["webhooks.write", "webhooks.write"]
    assert created["secret"] not in json.dumps(audit) and new_secret not in json.dumps(audit)


def test_an_update_changes_what_is_sent_and_re_enabling_clears_the_failures(
    platform: Platform, api: EventClient, org: tuple[str, str], loopback: None, receiver: Receiver
) -> None:
    created = create_webhook(api, receiver.url)
    platform.table.set_fields(
        f"ORG#{org[0]}",
        f"WEBHOOK#{created['id']}",
        {"enabled": False, "disabled_reason": "20 delivery attempts in a row failed", "consecutive_failures": 20},
    )

    changed = api.request("PATCH", f"/v1/webhooks/{created['id']}", {"events": ["run.failed"], "description": "x"})
    assert changed.status == 200, changed.text
    assert changed.json()["events"] == ["run.failed"] and changed.json()["enabled"] is False

    enabled = api.request("PATCH", f"/v1/webhooks/{created['id']}", {"enabled": True}).json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None and enabled["consecutive_failures"] == 0
    assert enabled["revision"] == created["revision"] + 2

    off = api.request("PATCH", f"/v1/webhooks/{created['id']}", {"enabled": False}).json()
    assert off["enabled"] is False and off["disabled_reason"] == "disabled by an admin"


def test_urls_that_are_not_public_https_are_refused_without_loopback(platform: Platform, api: EventClient) -> None:
    # Given the API as deployed in AWS (no loopback allowance)
    for url in (
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "http://example.com/hook",
        "http://127.0.0.1:8080/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
    ):
        # When an admin names it, then it is refused and nothing is made
        error = error_of(api.post("/v1/webhooks", {"url": url, "events": ["run.succeeded"]}), 422, "url_not_allowed")
        assert "not allowed" in error["message"], url
    assert api.get("/v1/webhooks").json()["items"] == []
    assert platform.clients.secretsmanager.list_secrets()["SecretList"] == []


def test_an_update_to_a_refused_url_changes_nothing(
    platform: Platform, api: EventClient, loopback: None, receiver: Receiver
) -> None:
    created = create_webhook(api, receiver.url)
    before = table_items(platform)
    error_of(api.request("PATCH", f"/v1/webhooks/{created['id']}", {"url": "ftp://example.com/x"}), 422)
    error_of(api.request("PATCH", f"/v1/webhooks/{created['id']}", {"events": ["run.started"]}), 422)
    error_of(api.post("/v1/webhooks", {"url": receiver.url, "events": []}), 422)
    assert table_items(platform) == before


def test_another_orgs_webhooks_are_not_found_and_lower_roles_are_refused(
    platform: Platform, api: EventClient, loopback: None, receiver: Receiver
) -> None:
    created = create_webhook(api, receiver.url)
    _, other_key = platform.new_org("globex")
    intruder = platform.api(other_key)
    hook = f"/v1/webhooks/{created['id']}"
    error_of(intruder.get(hook), 404)
    error_of(intruder.request("PATCH", hook, {"description": "mine now"}), 404)
    error_of(intruder.post(f"{hook}/rotate-secret"), 404)
    error_of(intruder.get(f"{hook}/deliveries"), 404)
    error_of(intruder.post(f"{hook}/deliveries/{UNKNOWN_ID}/redeliver"), 404)
    error_of(intruder.delete(hook), 404)
    assert intruder.get("/v1/webhooks").json()["items"] == []
    for role in ("viewer", "member", "operator"):
        lower = platform.api(api.post("/v1/api-keys", {"name": role, "role": role}).json()["key"])
        error_of(lower.get("/v1/webhooks"), 403, "forbidden")
        error_of(lower.post("/v1/webhooks", {"url": receiver.url, "events": ["run.failed"]}), 403, "forbidden")
        error_of(lower.delete(hook), 403, "forbidden")
    assert api.get(hook).json()["description"] == ""


def test_deleting_a_webhook_removes_its_log_and_secret(
    platform: Platform, api: EventClient, org: tuple[str, str], loopback: None, receiver: Receiver
) -> None:
    from agentlab.webhooks.events import publish

    created = create_webhook(api, receiver.url)
    publish(platform.table, platform.settings, platform.clients, org[0], "run.succeeded", {"run": {"id": "r"}}, "e1")
    assert len(api.get(f"/v1/webhooks/{created['id']}/deliveries").json()["items"]) == 1

    assert api.delete(f"/v1/webhooks/{created['id']}").json() == {"id": created["id"], "deleted": True}

    error_of(api.get(f"/v1/webhooks/{created['id']}"), 404)
    assert not [key for key in table_items(platform) if created["id"] in key[0] + key[1]]
    assert platform.clients.secretsmanager.list_secrets()["SecretList"] == []


# signatures -----------------------------------------------------------------------------------------------------
def test_a_runs_end_is_delivered_signed_and_a_replay_or_tampering_is_refused(
    platform: Platform,
    api: EventClient,
    org: tuple[str, str],
    loopback: None,
    queues: dict[str, str],
    receiver: Receiver,
) -> None:
    # Given a webhook for run.succeeded, and a receiver that knows its secret
    created = create_webhook(api, receiver.url, ["run.succeeded", "run.failed"])
    receiver.secret = created["secret"]
    agent = api.post("/v1/agents", {"name": "hooked", "models": {"reasoning": ["scripted"]}}).json()["id"]

    # When a run ends through the real workflow and the queued message is handled by the delivery function
    run = api.post("/v1/runs", {"agent_id": agent, "prompt": "go", "script": FINISH}).json()
    assert wait_for(api, run["id"], TERMINAL)["status"] == "succeeded"
    wait_for_queued(platform, queues["AGENTLAB_WEBHOOK_QUEUE_URL"])
    answers = deliver_queued(platform, queues["AGENTLAB_WEBHOOK_QUEUE_URL"])

    # Then the receiver got one delivery, which verifies, with the run's summary and no secret
    assert answers == [{"batchItemFailures": []}]
    assert len(receiver.received) == 1 and receiver.received[0].verified
    delivered = receiver.received[0]
    payload = json.loads(delivered.body)
    assert payload["type"] == "run.succeeded" and payload["org_id"] == org[0]
    assert payload["data"]["run"]["id"] == run["id"] and payload["data"]["run"]["status"] == "succeeded"
    assert payload["id"] == delivered.headers["webhook-id"] and payload["id"].startswith("evt_")
    assert "prompt" not in payload["data"]["run"] and created["secret"] not in delivered.body.decode()
    assert delivered.headers["webhook-signature"].startswith("v1,")

    # And the delivery log says so
    log = api.get(f"/v1/webhooks/{created['id']}/deliveries").json()["items"]
    assert [(d["event_id"], d["event_type"], d["status"]) for d in log] == [
        (payload["id"], "run.succeeded", "succeeded")
    ]
    assert log[0]["attempts"][0]["response_code"] == 204 and log[0]["attempts"][0]["succeeded"] is True

    # When the same delivery is replayed later (signed at an old time), the library refuses it
    old = utc_now() - timedelta(minutes=10)
    replayed = sign(created["secret"], payload["id"], old, delivered.body)
    with pytest.raises(WebhookVerificationError, match="too old"):
        receiver.verify(delivered.body, replayed)
    # And a tampered body or a moved timestamp is refused as well
    tampered = delivered.body.replace(b'"succeeded"', b'"failed"', 1)
    with pytest.raises(WebhookVerificationError):
        receiver.verify(tampered, delivered.headers)
    moved = {**delivered.headers, "webhook-timestamp": str(int(delivered.headers["webhook-timestamp"]) + 1)}
    with pytest.raises(WebhookVerificationError):
        receiver.verify(delivered.body, moved)
    # And a body signed with another secret
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(delivered.body, delivered.headers)


def test_redeliver_sends_the_same_event_again_with_the_same_id(
    platform: Platform,
    api: EventClient,
    org: tuple[str, str],
    loopback: None,
    queues: dict[str, str],
    receiver: Receiver,
) -> None:
    from agentlab.webhooks.events import publish

    created = create_webhook(api, receiver.url, ["usage.threshold"])
    receiver.secret = created["secret"]
    publish(
        platform.table,
        platform.settings.model_copy(update={"webhook_queue_url": queues["AGENTLAB_WEBHOOK_QUEUE_URL"]}),
        platform.clients,
        org[0],
        "usage.threshold",
        {"percent": 80, "input_tokens": 10},
        "usage:2026-03:80",
    )
    deliver_queued(platform, queues["AGENTLAB_WEBHOOK_QUEUE_URL"])
    delivery = api.get(f"/v1/webhooks/{created['id']}/deliveries").json()["items"][0]
    assert delivery["status"] == "succeeded"

    # When an admin asks for the delivery again
    again = api.post(f"/v1/webhooks/{created['id']}/deliveries/{delivery['id']}/redeliver")
    assert again.status == 202, again.text
    assert again.json()["status"] == "pending"
    deliver_queued(platform, queues["AGENTLAB_WEBHOOK_QUEUE_URL"])

    # Then the receiver has it twice under one webhook-id, both verified, and the log shows two attempts
    assert [r.headers["webhook-id"] for r in receiver.received] == [delivery["event_id"]] * 2
    assert all(r.verified for r in receiver.received)
    log = api.get(f"/v1/webhooks/{created['id']}/deliveries").json()["items"]
    assert len(log) == 1 and log[0]["status"] == "succeeded" and len(log[0]["attempts"]) == 2
    error_of(api.post(f"/v1/webhooks/{created['id']}/deliveries/{UNKNOWN_ID}/redeliver"), 404)

    # A disabled webhook is not redelivered to
    api.request("PATCH", f"/v1/webhooks/{created['id']}", {"enabled": False})
    error_of(api.post(f"/v1/webhooks/{created['id']}/deliveries/{delivery['id']}/redeliver"), 409, "webhook_disabled")


def test_a_delivery_attempted_the_most_times_it_keeps_is_not_redelivered(
    platform: Platform, api: EventClient, org: tuple[str, str], loopback: None, receiver: Receiver
) -> None:
    from agentlab.store.webhooks import MAX_DELIVERY_ATTEMPTS, AttemptRecord, WebhookStore
    from agentlab.webhooks.events import publish

    # Given a delivery whose log holds the most attempts a delivery keeps
    created = create_webhook(api, receiver.url, ["run.failed"])
    publish(platform.table, platform.settings, platform.clients, org[0], "run.failed", {"run": {"id": "r"}}, "r")
    store = WebhookStore(platform.table, platform.clients)
    [delivery] = store.list_deliveries(org[0], created["id"], limit=10, cursor=None).items
    attempt = AttemptRecord(attempted_at=utc_now(), response_code=500, error="HTTP 500", duration_ms=3)
    full = delivery.model_copy(update={"status": "failed", "attempts": [attempt] * MAX_DELIVERY_ATTEMPTS})
    store.save_delivery(full, expected_revision=delivery.revision)
    before = table_items(platform)

    # When an admin asks for it again, it is refused with the reason and nothing changes
    refused = api.post(f"/v1/webhooks/{created['id']}/deliveries/{delivery.id}/redeliver")
    error = error_of(refused, 409, "attempts_exhausted")
    assert str(MAX_DELIVERY_ATTEMPTS) in error["message"]
    assert table_items(platform) == before


def test_secrets_never_reach_the_logs(
    platform: Platform,
    api: EventClient,
    org: tuple[str, str],
    loopback: None,
    queues: dict[str, str],
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="agentlab")
    created = create_webhook(api, receiver.url, ["run.succeeded"])
    rotated = api.post(f"/v1/webhooks/{created['id']}/rotate-secret").json()
    receiver.secret = rotated["secret"]
    receiver.status = 500
    from agentlab.webhooks.events import publish

    publish(
        platform.table,
        platform.settings.model_copy(update={"webhook_queue_url": queues["AGENTLAB_WEBHOOK_QUEUE_URL"]}),
        platform.clients,
        org[0],
        "run.succeeded",
        {"run": {"id": "r1"}},
        "run:r1",
    )
    deliver_queued(platform, queues["AGENTLAB_WEBHOOK_QUEUE_URL"])
    assert len(receiver.received) == 1 and receiver.received[0].verified

    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    for secret in (created["secret"], rotated["secret"]):
        assert secret not in logged and secret.removeprefix("whsec_") not in logged


def test_deleting_an_org_removes_its_webhooks_deliveries_and_secrets(
    platform: Platform, api: EventClient, org: tuple[str, str], loopback: None, receiver: Receiver
) -> None:
    from agentlab.webhooks.events import publish

    create_webhook(api, receiver.url, ["run.failed"])
    create_webhook(api, receiver.url, ["run.failed"])
    publish(platform.table, platform.settings, platform.clients, org[0], "run.failed", {"run": {"id": "r"}}, "r")
    assert len(platform.clients.secretsmanager.list_secrets()["SecretList"]) == 2

    deleted = api.delete(f"/v1/orgs/{org[0]}", params={"confirm": "acme"})

    assert deleted.status == 200, deleted.text
    assert platform.clients.secretsmanager.list_secrets()["SecretList"] == []
    assert not [key for key in table_items(platform, bookkeeping=True) if f"ORG#{org[0]}" in key[0]]
