"""The webhook routes of the API: endpoints of the org (admin), their secrets (shown once) and delivery logs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from pydantic import BaseModel, Field, StringConstraints, field_validator

from agentlab.api.common import Cursor, Deleted, Id, Limit, current_caller, json_response, page_size
from agentlab.api.deps import ApiDeps
from agentlab.api.docs import CONCURRENT, FeatureDocs, Operation
from agentlab.errors import Conflict
from agentlab.models import Page, StrictInput, omittable, utc_now
from agentlab.store.webhooks import (
    MAX_DELIVERY_ATTEMPTS,
    AttemptRecord,
    Delivery,
    DeliveryState,
    WebhookEndpoint,
    WebhookStore,
)
from agentlab.webhooks.delivery import check_endpoint_url
from agentlab.webhooks.events import queue_delivery
from agentlab.webhooks.settings import WebhookSettings
from agentlab.webhooks.signing import EVENT_TYPES, EventType

MAX_URL_CHARS = 2_048
WebhookUrl = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_CHARS)]
EventList = Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES))]
Description = Annotated[str, StringConstraints(max_length=500)]


def _unique(events: list[EventType] | None) -> list[EventType] | None:
    return None if events is None else sorted(set(events), key=EVENT_TYPES.index)


class WebhookCreate(StrictInput):
    url: WebhookUrl
    events: EventList
    description: Description = ""

    @field_validator("events")
    @classmethod
    def _each_once(cls, events: list[EventType]) -> list[EventType]:
        return _unique(events) or events


class WebhookUpdate(StrictInput):
    """A partial update: a field left out keeps its value. Enabling an endpoint again clears its failures."""

    url: WebhookUrl | None = omittable()
    events: EventList | None = omittable()
    description: Description | None = omittable()
    enabled: bool | None = omittable()

    @field_validator("events")
    @classmethod
    def _each_once(cls, events: list[EventType] | None) -> list[EventType] | None:
        return _unique(events)


class Webhook(BaseModel):
    id: str
    url: str
    events: list[EventType]
    description: str
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    created_at: datetime
    updated_at: datetime
    revision: int

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> Webhook:
        return cls.model_validate(endpoint.model_dump(exclude={"org_id"}))


class WebhookIssued(Webhook):
    """An endpoint with its signing secret: in the answers of create and rotate-secret only."""

    secret: str

    @classmethod
    def issue(cls, endpoint: WebhookEndpoint, secret: str) -> WebhookIssued:
        return cls.model_validate({**Webhook.of(endpoint).model_dump(), "secret": secret})


class WebhookAttempt(BaseModel):
    attempted_at: datetime
    response_code: int | None
    error: str | None
    duration_ms: int
    succeeded: bool

    @classmethod
    def of(cls, attempt: AttemptRecord) -> WebhookAttempt:
        return cls.model_validate(attempt.model_dump())


class WebhookDelivery(BaseModel):
    id: str
    webhook_id: str
    event_id: str
    event_type: EventType
    status: DeliveryState
    attempts: list[WebhookAttempt]
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, delivery: Delivery) -> WebhookDelivery:
        return cls(
            id=delivery.id,
            webhook_id=delivery.webhook_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=[WebhookAttempt.of(attempt) for attempt in delivery.attempts],
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
            updated_at=delivery.updated_at,
        )


def register(app: APIGatewayHttpResolver, deps: ApiDeps) -> None:
    settings = WebhookSettings()
    store = WebhookStore(deps.orgs.table, deps.clients)

    def org_id() -> str:
        return current_caller(app).org_id

    def checked(url: str) -> str:
        check_endpoint_url(url, allow_loopback=settings.webhooks_allow_loopback)
        return url.strip()

    @app.post("/v1/webhooks", tags=["webhooks"], responses={201: {"description": "Created"}})
    def create_webhook(body: WebhookCreate) -> Response[WebhookIssued]:
        endpoint, secret = store.create(
            org_id(), url=checked(body.url), events=body.events, description=body.description
        )
        return json_response(WebhookIssued.issue(endpoint, secret), 201)

    @app.get("/v1/webhooks", tags=["webhooks"])
    def list_webhooks(limit: Limit = None, cursor: Cursor = None) -> Page[Webhook]:
        page = store.list(org_id(), limit=page_size(deps, limit), cursor=cursor)
        return Page[Webhook](items=[Webhook.of(endpoint) for endpoint in page.items], next_cursor=page.next_cursor)

    @app.get("/v1/webhooks/<webhook_id>", tags=["webhooks"])
    def get_webhook(webhook_id: Id) -> Webhook:
        return Webhook.of(store.get(org_id(), webhook_id))

    @app.patch("/v1/webhooks/<webhook_id>", tags=["webhooks"])
    def update_webhook(webhook_id: Id, body: WebhookUpdate) -> Webhook:
        owner = org_id()
        store.get(owner, webhook_id)
        url = checked(body.url) if body.url is not None else None

        def change(endpoint: WebhookEndpoint) -> WebhookEndpoint:
            if url is not None:
                endpoint.url = url
            if body.events is not None:
                endpoint.events = body.events
            if body.description is not None:
                endpoint.description = body.description
            if body.enabled is True and not endpoint.enabled:
                endpoint.enabled, endpoint.disabled_reason, endpoint.consecutive_failures = True, None, 0
            elif body.enabled is False and endpoint.enabled:
                endpoint.enabled, endpoint.disabled_reason = False, "disabled by an admin"
            return endpoint

        return Webhook.of(store.update(owner, webhook_id, change))

    @app.delete("/v1/webhooks/<webhook_id>", tags=["webhooks"])
    def delete_webhook(webhook_id: Id) -> Deleted:
        store.delete(org_id(), webhook_id)
        return Deleted(id=webhook_id)

    @app.post("/v1/webhooks/<webhook_id>/rotate-secret", tags=["webhooks"])
    def rotate_webhook_secret(webhook_id: Id) -> WebhookIssued:
        endpoint, secret = store.rotate_secret(org_id(), webhook_id)
        return WebhookIssued.issue(endpoint, secret)

    @app.get("/v1/webhooks/<webhook_id>/deliveries", tags=["webhooks"])
    def list_webhook_deliveries(webhook_id: Id, limit: Limit = None, cursor: Cursor = None) -> Page[WebhookDelivery]:
        owner = org_id()
        store.get(owner, webhook_id)
        page = store.list_deliveries(owner, webhook_id, limit=page_size(deps, limit), cursor=cursor)
        return Page[WebhookDelivery](
            items=[WebhookDelivery.of(delivery) for delivery in page.items], next_cursor=page.next_cursor
        )

    @app.post(
        "/v1/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver",
        tags=["webhooks"],
        responses={202: {"description": "Accepted"}},
    )
    def redeliver_webhook(webhook_id: Id, delivery_id: Id) -> Response[WebhookDelivery]:
        owner = org_id()
        endpoint = store.get(owner, webhook_id)
        delivery = store.get_delivery(owner, webhook_id, delivery_id)
        if not endpoint.enabled:
            raise Conflict("the webhook is disabled: enable it before redelivering", code="webhook_disabled")
        if len(delivery.attempts) >= MAX_DELIVERY_ATTEMPTS:
            attempts = len(delivery.attempts)
            raise Conflict(f"the delivery was attempted {attempts} times, the most it keeps", code="attempts_exhausted")
        pending = store.save_delivery(
            delivery.model_copy(update={"status": "pending", "next_attempt_at": utc_now()}),
            expected_revision=delivery.revision,
        )
        if settings.webhook_queue_url:
            pending = queue_delivery(store, deps.clients, settings.webhook_queue_url, pending, manual=True)
        return json_response(WebhookDelivery.of(pending), 202)


_TIME = "2026-03-02T09:30:00Z"
_LATER = "2026-03-02T09:30:05Z"
_WEBHOOK_ID = "01JD3ZH4A5B6C7D8E9F0G1H2J3"
_DELIVERY_ID = "01JD3ZJ6K7M8N9P0Q1R2S3T4V5"
_WEBHOOK = {
    "id": _WEBHOOK_ID,
    "url": "https://hooks.example.com/agentlab",
    "events": ["run.succeeded", "run.failed"],
    "description": "Notify the build bot.",
    "enabled": True,
    "disabled_reason": None,
    "consecutive_failures": 0,
    "created_at": _TIME,
    "updated_at": _TIME,
    "revision": 1,
}
_ATTEMPT = {"attempted_at": _LATER, "response_code": 204, "error": None, "duration_ms": 61, "succeeded": True}
_DELIVERY = {
    "id": _DELIVERY_ID,
    "webhook_id": _WEBHOOK_ID,
    "event_id": "evt_01JD3ZK8W9X0Y1Z2A3B4C5D6E7",
    "event_type": "run.succeeded",
    "status": "succeeded",
    "attempts": [
        {"attempted_at": _TIME, "response_code": 503, "error": "HTTP 503", "duration_ms": 84, "succeeded": False},
        _ATTEMPT,
    ],
    "next_attempt_at": None,
    "created_at": _TIME,
    "updated_at": _LATER,
}
_SECRET_EXAMPLE = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - an example in the docs, not a secret
_URL_REFUSED = {
    "url_not_allowed": "the URL is not https on the standard port, or its host is not a public address "
    "(loopback, private, link-local), or it does not resolve",
}

DOCS = FeatureDocs(
    operations={
        ("POST", "/v1/webhooks"): Operation(
            "Create a webhook",
            "Registers an https endpoint for the events it names. Each delivery is signed per the Standard Webhooks "
            "specification (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the endpoint's secret, "
            "which is in this response only.",
            errors={422: _URL_REFUSED},
        ),
        ("GET", "/v1/webhooks"): Operation(
            "List webhooks", "The org's webhook endpoints, without their secrets, a page at a time."
        ),
        ("GET", "/v1/webhooks/{webhook_id}"): Operation(
            "Get a webhook", "The endpoint: URL, events, whether it is enabled (and why not), failures in a row."
        ),
        ("PATCH", "/v1/webhooks/{webhook_id}"): Operation(
            "Update a webhook",
            "Changes the fields sent; fields left out keep their value. Setting `enabled` to true switches an "
            "endpoint that was disabled (by an admin or after a run of failed deliveries) back on and clears its "
            "failures.",
            errors={409: CONCURRENT, 422: _URL_REFUSED},
        ),
        ("DELETE", "/v1/webhooks/{webhook_id}"): Operation(
            "Delete a webhook", "Removes the endpoint, its delivery log and its secret; nothing more is sent to it."
        ),
        ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): Operation(
            "Rotate a webhook's secret",
            "Issues a new signing secret (in this response only); every delivery from now on is signed with it.",
            errors={409: CONCURRENT},
        ),
        ("GET", "/v1/webhooks/{webhook_id}/deliveries"): Operation(
            "List a webhook's deliveries",
            "The endpoint's delivery log, newest first: each event's status (`pending`, `succeeded`, `failed`, "
            "`dead` after the last retry), its attempts with the response code and time, and the next attempt.",
        ),
        ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): Operation(
            "Redeliver an event",
            "Sends the delivery's event again, with the same `webhook-id` and a fresh signature, as one more attempt.",
            errors={
                409: {
                    "webhook_disabled": "the webhook is disabled; enable it first",
                    "attempts_exhausted": f"the delivery was already attempted {MAX_DELIVERY_ATTEMPTS} times",
                    **CONCURRENT,
                },
            },
        ),
    },
    examples={
        "WebhookCreate": {
            "url": "https://hooks.example.com/agentlab",
            "events": ["run.succeeded", "run.failed"],
            "description": "Notify the build bot.",
        },
        "WebhookUpdate": {"events": ["run.succeeded"], "enabled": True},
        "Webhook": _WEBHOOK,
        "WebhookIssued": {**_WEBHOOK, "secret": _SECRET_EXAMPLE},
        "WebhookDelivery": _DELIVERY,
        "WebhookAttempt": _ATTEMPT,
    },
    tags={"webhooks": "Signed webhooks to the org's endpoints, their secrets and delivery logs."},
)
