"""Webhook endpoints of an org, their signing secrets and the log of their deliveries.

Keys (all strings):

entity              PK                              SK
------------------  ------------------------------  ------------------------
webhook endpoint    ORG#<org>                       WEBHOOK#<webhook>
delivery            ORG#<org>#WEBHOOK#<webhook>     DELIVERY#<delivery>
event marker        ORG#<org>#WEBHOOK#<webhook>     EVENT#<event id>

The marker makes a delivery idempotent per (endpoint, event): a second publish of the same event finds it and makes
no second delivery. The signing secret lives in Secrets Manager under `agentlab/<org>/webhooks/<webhook>`, never in
the table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentlab.errors import ConcurrentUpdate, NotFound
from agentlab.ids import new_ulid
from agentlab.models.common import utc_now
from agentlab.store.table import QueryPage, Table, entity_fields, pause_before_retry
from agentlab.webhooks.signing import EventType, WebhookEvent, new_secret

DeliveryState = Literal["pending", "succeeded", "failed", "dead"]
_UPDATE_ATTEMPTS = 5


def secret_name(org_id: str, webhook_id: str) -> str:
    return f"agentlab/{org_id}/webhooks/{webhook_id}"


def endpoint_key(org_id: str, webhook_id: str) -> tuple[str, str]:
    return f"ORG#{org_id}", f"WEBHOOK#{webhook_id}"


def deliveries_partition(org_id: str, webhook_id: str) -> str:
    return f"ORG#{org_id}#WEBHOOK#{webhook_id}"


class WebhookEndpoint(BaseModel):
    model_config = ConfigDict(strict=False)

    id: str
    org_id: str
    url: str
    events: list[EventType]
    description: str = ""
    enabled: bool = True
    disabled_reason: str | None = None
    consecutive_failures: int = 0
    created_at: datetime
    updated_at: datetime
    revision: int = 1

    def wants(self, event_type: str) -> bool:
        return self.enabled and event_type in self.events


class AttemptRecord(BaseModel):
    """One POST of a delivery: when, what the endpoint answered (or why there was no answer), how long it took."""

    attempted_at: datetime
    response_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
    succeeded: bool = False


# A delivery keeps every attempt in its item; redeliveries stop here, so the item stays far below DynamoDB's 400 KB
# (an attempt takes well under 1 KB: its error text is bounded).
MAX_DELIVERY_ATTEMPTS = 100


class Delivery(BaseModel):
    model_config = ConfigDict(strict=False)

    id: str
    org_id: str
    webhook_id: str
    event_id: str
    event_type: EventType
    status: DeliveryState = "pending"
    attempts: list[AttemptRecord] = Field(default_factory=list)
    next_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    # The event exactly as it is signed and sent: every attempt sends the same id and body.
    event: dict[str, Any]
    # The attempt number the queue holds a message for; 0 before the first message is sent.
    queued_attempt: int = 0
    revision: int = 1

    def webhook_event(self) -> WebhookEvent:
        return WebhookEvent.model_validate(self.event)


def _endpoint_item(endpoint: WebhookEndpoint) -> dict[str, Any]:
    pk, sk = endpoint_key(endpoint.org_id, endpoint.id)
    return {"PK": pk, "SK": sk, "entity": "webhook", **endpoint.model_dump(mode="json")}


def _delivery_item(delivery: Delivery) -> dict[str, Any]:
    return {
        "PK": deliveries_partition(delivery.org_id, delivery.webhook_id),
        "SK": f"DELIVERY#{delivery.id}",
        "entity": "webhook_delivery",
        **delivery.model_dump(mode="json"),
    }


class WebhookStore:
    def __init__(self, table: Table, clients: Any) -> None:
        self.table = table
        self.clients = clients

    # endpoints ------------------------------------------------------------------------------------------------
    def create(
        self, org_id: str, *, url: str, events: list[EventType], description: str = ""
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its signing secret, which is stored in Secrets Manager and returned only here."""
        now = utc_now()
        endpoint = WebhookEndpoint(
            id=new_ulid(),
            org_id=org_id,
            url=url,
            events=events,
            description=description,
            created_at=now,
            updated_at=now,
        )
        secret = new_secret()
        secrets = self.clients.secretsmanager
        secrets.create_secret(
            Name=secret_name(org_id, endpoint.id),
            SecretString=secret,
            Description="agentlab webhook signing secret",
            Tags=[{"Key": "agentlab:org", "Value": org_id}],
        )
        try:
            self.table.put_new(_endpoint_item(endpoint))
        except Exception:
            secrets.delete_secret(SecretId=secret_name(org_id, endpoint.id), ForceDeleteWithoutRecovery=True)
            raise
        return endpoint, secret

    def find(self, org_id: str, webhook_id: str) -> WebhookEndpoint | None:
        item = self.table.get(*endpoint_key(org_id, webhook_id))
        return WebhookEndpoint.model_validate(entity_fields(item)) if item else None

    def get(self, org_id: str, webhook_id: str) -> WebhookEndpoint:
        endpoint = self.find(org_id, webhook_id)
        if endpoint is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return endpoint

    def list(self, org_id: str, *, limit: int, cursor: str | None) -> QueryPage[WebhookEndpoint]:
        page = self.table.query(partition=("PK", f"ORG#{org_id}"), sort_prefix="WEBHOOK#", limit=limit, cursor=cursor)
        return page.map(lambda item: WebhookEndpoint.model_validate(entity_fields(item)))

    def all(self, org_id: str) -> Iterator[WebhookEndpoint]:
        for item in self.table.iterate(partition=("PK", f"ORG#{org_id}"), sort_prefix="WEBHOOK#"):
            yield WebhookEndpoint.model_validate(entity_fields(item))

    def update(
        self, org_id: str, webhook_id: str, change: Callable[[WebhookEndpoint], WebhookEndpoint | None]
    ) -> WebhookEndpoint:
        """Apply `change` to the current endpoint with a conditional write, retrying a lost race a few times."""
        for attempt in range(_UPDATE_ATTEMPTS):
            current = self.get(org_id, webhook_id)
            changed = change(current.model_copy(deep=True))
            if changed is None:
                return current
            updated = changed.model_copy(update={"updated_at": utc_now(), "revision": current.revision + 1})
            try:
                self.table.put_if_revision(_endpoint_item(updated), attribute="revision", expected=current.revision)
            except ConcurrentUpdate:
                pause_before_retry(attempt)
                continue
            return updated
        raise ConcurrentUpdate(f"webhook {webhook_id} changed meanwhile; reload and retry")

    def rotate_secret(self, org_id: str, webhook_id: str) -> tuple[WebhookEndpoint, str]:
        """A new signing secret for the endpoint; the old one signs nothing from now on."""
        self.get(org_id, webhook_id)
        secret = new_secret()
        self.clients.secretsmanager.put_secret_value(SecretId=secret_name(org_id, webhook_id), SecretString=secret)
        return self.update(org_id, webhook_id, lambda current: current), secret

    def secret(self, org_id: str, webhook_id: str) -> str:
        response = self.clients.secretsmanager.get_secret_value(SecretId=secret_name(org_id, webhook_id))
        return str(response["SecretString"])

    def delete(self, org_id: str, webhook_id: str) -> None:
        """The endpoint, its delivery log and its secret."""
        self.get(org_id, webhook_id)
        log = self.table.iterate(partition=("PK", deliveries_partition(org_id, webhook_id)))
        keys = [(str(item["PK"]), str(item["SK"])) for item in log]
        self.table.delete_many([*keys, endpoint_key(org_id, webhook_id)])
        delete_secret(self.clients, org_id, webhook_id)

    def count_attempt(self, endpoint: WebhookEndpoint, *, succeeded: bool) -> int:
        """Move the endpoint's run of failed attempts (a success ends it); returns the run's new length."""
        pk, sk = endpoint_key(endpoint.org_id, endpoint.id)
        request: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": {"PK": {"S": pk}, "SK": {"S": sk}},
            "ConditionExpression": "attribute_exists(PK)",
            "ReturnValues": "ALL_NEW",
        }
        if succeeded:
            request["UpdateExpression"] = "SET consecutive_failures = :zero ADD revision :one"
            request["ExpressionAttributeValues"] = {":zero": {"N": "0"}, ":one": {"N": "1"}}
        else:
            request["UpdateExpression"] = "ADD consecutive_failures :one, revision :one"
            request["ExpressionAttributeValues"] = {":one": {"N": "1"}}
        try:
            response = self.table.client.update_item(**request)
        except self.table.client.exceptions.ConditionalCheckFailedException:
            return 0  # the endpoint was deleted meanwhile
        return int(response["Attributes"]["consecutive_failures"]["N"])

    def disable(self, org_id: str, webhook_id: str, reason: str) -> WebhookEndpoint:
        def switch_off(endpoint: WebhookEndpoint) -> WebhookEndpoint | None:
            if not endpoint.enabled:
                return None
            return endpoint.model_copy(update={"enabled": False, "disabled_reason": reason})

        return self.update(org_id, webhook_id, switch_off)

    # deliveries -----------------------------------------------------------------------------------------------
    def create_delivery(self, endpoint: WebhookEndpoint, event: WebhookEvent) -> tuple[Delivery, bool]:
        """A pending delivery of `event` to `endpoint`, or the one made before for the same event (created False)."""
        partition = deliveries_partition(endpoint.org_id, endpoint.id)
        now = utc_now()
        delivery = Delivery(
            id=new_ulid(),
            org_id=endpoint.org_id,
            webhook_id=endpoint.id,
            event_id=event.id,
            event_type=event.type,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
            event=event.model_dump(mode="json"),
        )
        marker = {"PK": partition, "SK": f"EVENT#{event.id}", "entity": "webhook_event", "delivery_id": delivery.id}
        try:
            self.table.transact(
                [
                    self.table.op_put(marker, condition="attribute_not_exists(PK)"),
                    self.table.op_put(_delivery_item(delivery), condition="attribute_not_exists(PK)"),
                ]
            )
        except ConcurrentUpdate:
            existing = self.table.get(partition, f"EVENT#{event.id}")
            if existing is None:
                raise
            return self.get_delivery(endpoint.org_id, endpoint.id, str(existing["delivery_id"])), False
        return delivery, True

    def find_delivery(self, org_id: str, webhook_id: str, delivery_id: str) -> Delivery | None:
        item = self.table.get(deliveries_partition(org_id, webhook_id), f"DELIVERY#{delivery_id}")
        return Delivery.model_validate(entity_fields(item)) if item else None

    def get_delivery(self, org_id: str, webhook_id: str, delivery_id: str) -> Delivery:
        delivery = self.find_delivery(org_id, webhook_id, delivery_id)
        if delivery is None:
            raise NotFound(f"delivery {delivery_id} not found")
        return delivery

    def list_deliveries(self, org_id: str, webhook_id: str, *, limit: int, cursor: str | None) -> QueryPage[Delivery]:
        page = self.table.query(
            partition=("PK", deliveries_partition(org_id, webhook_id)),
            sort_prefix="DELIVERY#",
            limit=limit,
            cursor=cursor,
            newest_first=True,
        )
        return page.map(lambda item: Delivery.model_validate(entity_fields(item)))

    def save_delivery(self, delivery: Delivery, *, expected_revision: int) -> Delivery:
        """Write a changed delivery if nobody changed it since `expected_revision` (ConcurrentUpdate otherwise)."""
        saved = delivery.model_copy(update={"updated_at": utc_now(), "revision": expected_revision + 1})
        self.table.put_if_revision(_delivery_item(saved), attribute="revision", expected=expected_revision)
        return saved


def delete_secret(clients: Any, org_id: str, webhook_id: str) -> None:
    secrets = clients.secretsmanager
    with contextlib.suppress(secrets.exceptions.ResourceNotFoundException):
        secrets.delete_secret(SecretId=secret_name(org_id, webhook_id), ForceDeleteWithoutRecovery=True)
