"""Outbound URLs that come from users (repository URLs, webhooks): https only, and only to public addresses.

Server-side request forgery is refused by resolving the host and checking every address it resolves to: loopback,
private, link-local (the cloud metadata endpoint), multicast, reserved and unspecified addresses are refused, in
IPv4, IPv6 and IPv4-mapped IPv6 alike, and so are numeric host spellings that resolvers read as IPv4 (`2130706433`,
`0177.0.0.1`). A caller connects to the addresses returned here, not to the name again, so a second, different DNS
answer cannot slip in a private address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from agentlab.errors import Unprocessable

Resolver = Callable[..., list[Any]]
_MAX_URL_CHARS = 2_048


def _refuse(reason: str) -> Unprocessable:
    return Unprocessable(f"this URL is not allowed: {reason}", code="url_not_allowed")


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def check_public_https_url(url: str, *, resolve: Resolver = socket.getaddrinfo) -> list[str]:
    """The public addresses `url`'s host resolves to; Unprocessable (422, `url_not_allowed`) for anything else."""
    if len(url) > _MAX_URL_CHARS:
        raise _refuse("longer than 2048 characters")
    parts = urlsplit(url.strip())
    if parts.scheme != "https":
        raise _refuse("only https URLs are accepted")
    if parts.username or parts.password:
        raise _refuse("credentials in the URL are not accepted")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refuse("it has no host")
    try:
        port = parts.port or 443
    except ValueError as exc:
        raise _refuse("its port is not a number") from exc
    if port != 443:
        raise _refuse("only the standard https port (443) is accepted")
    try:
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None and (host.replace(".", "").isdigit() or host.lower().startswith("0x")):
        # inet_aton spellings (decimal, octal, hex, short forms) that a resolver would read as an IPv4 address
        raise _refuse("numeric host names are not accepted; use a DNS name")
    if literal is not None and not _is_public(literal):
        raise _refuse(f"{host} is not a public address")
    if host.lower() == "localhost" or host.lower().endswith((".localhost", ".internal", ".local")):
        raise _refuse(f"{host} is a local name")
    try:
        answers = resolve(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise _refuse(f"{host} does not resolve") from exc
    addresses = sorted({str(answer[4][0]) for answer in answers})
    if not addresses:
        raise _refuse(f"{host} does not resolve")
    for address in addresses:
        if not _is_public(ipaddress.ip_address(address.split("%", 1)[0])):
            raise _refuse(f"{host} resolves to {address}, which is not a public address")
    return addresses
