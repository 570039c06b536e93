"""The webhook envelope and its signature, per the Standard Webhooks specification (https://www.standardwebhooks.com).

A delivery carries three headers: `webhook-id` (the event id, the same on every redelivery, so a receiver can drop
duplicates), `webhook-timestamp` (Unix seconds of this attempt, so a receiver can refuse replays) and
`webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed by the endpoint's `whsec_` secret).
Receivers verify with any Standard Webhooks library; we sign with the reference one so the two cannot drift.
"""

from __future__ import annotations

import base64
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from standardwebhooks import Webhook

from agentlab.ids import new_ulid
from agentlab.models.common import utc_now

SECRET_PREFIX = "whsec_"  # noqa: S105 - the specification's prefix, not a secret
# The specification asks for 24 to 64 random bytes.
SECRET_BYTES = 32

EventType = Literal[
    "run.succeeded",
    "run.failed",
    "run.cancelled",
    "run.budget_exceeded",
    "run.waiting_approval",
    "schedule.paused",
    "usage.threshold",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)

# Words of a key name that mark its value as a credential. Matched as whole words of the name (snake, kebab, camel
# case), not as substrings: `input_tokens` and `tokens_used` are counts that usage.threshold bodies carry, while
# `access_token`, `apiKey` and `X-Api-Key` are credentials.
_SECRET_WORDS = frozenset(
    {"password", "passwords", "secret", "secrets", "token", "authorization", "key", "keys", "apikey", "apikeys"}
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def new_secret() -> str:
    """A new endpoint secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def new_event_id() -> str:
    return f"evt_{new_ulid()}"


def sign(secret: str, message_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for `body` sent as message `message_id` at `timestamp` (timezone-aware)."""
    if timestamp.tzinfo is None:
        raise ValueError("the timestamp must be timezone-aware")
    # The library replaces the timezone with UTC rather than converting to it, which would sign the wrong instant
    # for any other offset; converting first makes that replacement a no-op.
    instant = timestamp.astimezone(UTC)
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=instant, data=body.decode("utf-8"))
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(instant.timestamp())),
        "webhook-signature": signature,
    }


def _looks_secret(key: str) -> bool:
    words = _NON_WORD.split(_CAMEL_BOUNDARY.sub("_", key).lower())
    return any(word in _SECRET_WORDS for word in words)


def _secret_key_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, Mapping):
        found: list[str] = []
        for key, item in value.items():
            item_path = f"{path}.{key}"
            if _looks_secret(str(key)):
                found.append(item_path)
            found.extend(_secret_key_paths(item, item_path))
        return found
    if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        return [found for index, item in enumerate(value) for found in _secret_key_paths(item, f"{path}[{index}]")]
    return []


def refuse_secret_keys(data: Mapping[str, Any]) -> None:
    """ValueError when `data`, at any depth, has a key that names a credential.

    A webhook body leaves our account for a URL a customer typed in, and lands in their logs: it carries ids and a
    summary, never a credential. The error names the keys, never their values.
    """
    paths = _secret_key_paths(data, "data")
    if paths:
        raise ValueError(f"a webhook body never carries secrets; refused keys: {', '.join(paths)}")


class WebhookEvent(BaseModel):
    """What a webhook says happened. Built once per event and stored as is: a redelivery sends the same id."""

    # A validation error would otherwise quote the refused input, secret values included, into whatever logs it.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    id: str = Field(default_factory=new_event_id, pattern=r"^evt_[0-9A-HJKMNP-TV-Z]{26}$")
    type: EventType
    created_at: AwareDatetime = Field(default_factory=utc_now)
    org_id: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _no_secrets(cls, data: dict[str, Any]) -> dict[str, Any]:
        refuse_secret_keys(data)
        return data

    def to_body(self) -> bytes:
        """The compact JSON bytes that are signed and sent."""
        # `frozen` stops reassigning `data` but not changing the dict in place, so the guard runs again here.
        refuse_secret_keys(self.data)
        return self.model_dump_json().encode("utf-8")
