"""One delivery of a signed webhook to a customer's endpoint, and the retry policy around it.

The endpoint URL comes from a customer, so a delivery is a server-side request forgery risk: the URL must be https
on a host that resolves to public addresses only (`agentlab.netguard`), the request goes to the address that was
checked rather than to the name again (a second DNS answer could be private), and redirects are never followed (a
public endpoint could point at the metadata service). A delivery never raises for what the network or the endpoint
does: the outcome is a `DeliveryAttempt` that the caller records, retries or dead-letters.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict

from agentlab import __version__
from agentlab.errors import Unprocessable
from agentlab.models.common import utc_now
from agentlab.netguard import Resolver, check_public_https_url
from agentlab.webhooks.signing import WebhookEvent, sign

if TYPE_CHECKING:
    # httpx (which also loads its command-line tools) is imported where a URL is checked or a request made, not by
    # every function that imports this module.
    import httpx

# Delays before the 2nd, 3rd, … attempt: the Standard Webhooks reference schedule (Svix's), about 27.6 hours in all.
# Fixed rather than jittered: retries are scheduled per message by the queue, so they do not arrive in a herd.
RETRY_SCHEDULE_S: tuple[int, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
# Enough of a response to show in the delivery log why an endpoint refused; the rest is never read.
RESPONSE_BODY_LIMIT_BYTES = 4096
DEFAULT_TIMEOUT_S = 10.0
USER_AGENT = f"agentlab-webhooks/{__version__}"

DeliveryStatus = Literal["delivered", "failed", "refused"]


class DeliveryAttempt(BaseModel):
    """The outcome of one POST: `refused` means no request was made (the URL is not allowed)."""

    model_config = ConfigDict(frozen=True)

    status: DeliveryStatus
    response_code: int | None
    duration_ms: int
    error: str | None
    attempted_at: AwareDatetime
    # The first RESPONSE_BODY_LIMIT_BYTES of what the endpoint answered, for the delivery log.
    response_body: str | None = None


@dataclass(frozen=True)
class _Target:
    """Where the request actually goes: the checked address, with the original host for the Host header and TLS."""

    url: httpx.URL
    host_header: str
    extensions: dict[str, Any] = field(default_factory=dict)


def _is_loopback(address: str) -> bool:
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped.is_loopback
    return parsed.is_loopback


def _loopback_addresses(url: str, resolve: Resolver) -> list[str] | None:
    """The addresses of a loopback URL (a loopback literal or `localhost`, http or https); None for any other URL."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme not in ("http", "https") or parts.username or parts.password or not host:
        return None
    try:
        literal_is_loopback: bool | None = _is_loopback(host)
    except ValueError:
        literal_is_loopback = None
    if literal_is_loopback is not None:
        return [host] if literal_is_loopback else None
    if host != "localhost":
        return None
    try:
        answers = resolve(host, parts.port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError):
        return None
    addresses = sorted({str(answer[4][0]) for answer in answers})
    return addresses if addresses and all(_is_loopback(address) for address in addresses) else None


def _target(url: str, *, allow_loopback: bool, resolve: Resolver) -> _Target:
    """The pinned request target for `url`; Unprocessable (`url_not_allowed`) when the URL may not be called."""
    addresses = _loopback_addresses(url, resolve) if allow_loopback else None
    if addresses is None:
        addresses = check_public_https_url(url, resolve=resolve)
    import httpx

    try:
        original = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise Unprocessable(f"this URL is not allowed: {exc}", code="url_not_allowed") from exc
    # Certificates are checked against the name the customer gave (IDNA-encoded), not the address we connect to.
    extensions = {"sni_hostname": original.raw_host.decode("ascii")} if original.scheme == "https" else {}
    return _Target(
        url=original.copy_with(host=addresses[0]), host_header=original.netloc.decode("ascii"), extensions=extensions
    )


def check_endpoint_url(url: str, *, allow_loopback: bool = False, resolve: Resolver = socket.getaddrinfo) -> None:
    """Unprocessable (`url_not_allowed`) unless `url` may be an endpoint: the same check every delivery makes."""
    _target(url, allow_loopback=allow_loopback, resolve=resolve)


def _read_capped(response: httpx.Response, deadline: float) -> str:
    if response.is_stream_consumed:
        # Some transports (httpx.MockTransport, a caching layer) hand back a response that is already read.
        return response.content[:RESPONSE_BODY_LIMIT_BYTES].decode("utf-8", errors="replace")
    kept = bytearray()
    # Raw bytes: decoding a compressed answer could inflate one small chunk into a very large one.
    for chunk in response.iter_raw():
        kept.extend(chunk)
        # httpx's timeouts are per read, so an endpoint that trickles bytes is cut off by the overall deadline.
        if len(kept) >= RESPONSE_BODY_LIMIT_BYTES or time.monotonic() >= deadline:
            break
    return bytes(kept[:RESPONSE_BODY_LIMIT_BYTES]).decode("utf-8", errors="replace")


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def deliver(
    endpoint_url: str,
    secret: str,
    event: WebhookEvent,
    *,
    client: httpx.Client,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    allow_loopback: bool = False,
    resolve: Resolver = socket.getaddrinfo,
    clock: Callable[[], datetime] = utc_now,
) -> DeliveryAttempt:
    """POST `event`, signed with `secret`, to `endpoint_url` once; 2xx is delivered, anything else is not.

    `allow_loopback` lets a loopback URL (http or https, any port) through, for the local stack and tests; it does
    not let a public name that resolves to a loopback address through. The signature's timestamp is `clock()`, so
    a redelivery of the same event is signed afresh with the same `webhook-id`.
    """
    import httpx

    body = event.to_body()
    attempted_at = clock()
    try:
        target = _target(endpoint_url, allow_loopback=allow_loopback, resolve=resolve)
    except Unprocessable as exc:
        return DeliveryAttempt(
            status="refused", response_code=None, duration_ms=0, error=exc.message, attempted_at=attempted_at
        )
    headers = {
        **sign(secret, event.id, attempted_at, body),
        "host": target.host_header,
        "content-type": "application/json",
        "accept-encoding": "identity",
        "user-agent": USER_AGENT,
    }
    started = time.monotonic()
    try:
        with client.stream(
            "POST",
            target.url,
            content=body,
            headers=headers,
            timeout=timeout_s,
            follow_redirects=False,
            extensions=target.extensions,
        ) as response:
            code = response.status_code
            excerpt = _read_capped(response, deadline=started + timeout_s)
    except httpx.HTTPError as exc:
        # The class name (ConnectError, ReadTimeout, …) says what went wrong without echoing the endpoint's answer.
        return DeliveryAttempt(
            status="failed",
            response_code=None,
            duration_ms=_elapsed_ms(started),
            error=type(exc).__name__,
            attempted_at=attempted_at,
        )
    if 200 <= code < 300:
        status: DeliveryStatus = "delivered"
        error = None
    elif 300 <= code < 400:
        status, error = "failed", f"redirect ({code}) not followed"
    else:
        status, error = "failed", f"HTTP {code}"
    return DeliveryAttempt(
        status=status,
        response_code=code,
        duration_ms=_elapsed_ms(started),
        error=error,
        attempted_at=attempted_at,
        response_body=excerpt,
    )


def next_retry_delay_s(attempt: int) -> int | None:
    """Seconds to wait after failed attempt number `attempt` (1 = the first delivery); None when it is time to give
    up and dead-letter the message."""
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    return RETRY_SCHEDULE_S[attempt - 1] if attempt <= len(RETRY_SCHEDULE_S) else None


def should_disable(consecutive_failures: int, threshold: int) -> bool:
    """Whether an endpoint that has failed `consecutive_failures` deliveries in a row should be switched off."""
    if threshold < 1:
        raise ValueError("the threshold must be at least 1")
    return consecutive_failures >= threshold
