"""Who is calling. Resolved in one place, before any route runs."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from agentlab.errors import Unauthorized
from agentlab.models import Caller, utc_now
from agentlab.store.orgs import API_KEY_PREFIX, OrgStore, hash_api_key

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {("GET", "/v1/health"), ("GET", "/v1/openapi.json"), ("GET", "/v1/docs")}
)


def is_public(method: str, path: str) -> bool:
    return (method.upper(), path.rstrip("/") or "/") in PUBLIC_ROUTES or method.upper() == "OPTIONS"


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def resolve_caller(headers: Mapping[str, str], orgs: OrgStore) -> Caller:
    token = bearer_token(headers)
    if token is None:
        raise Unauthorized("missing credentials: send 'Authorization: Bearer <api key>'")
    if not token.startswith(API_KEY_PREFIX) or len(token) > 200:
        raise Unauthorized("invalid credentials")
    record = orgs.find_api_key(token)
    # The lookup is by hash; the comparison below is constant-time anyway, so a timing side channel learns nothing.
    if record is None or not hmac.compare_digest(record.key_hash, hash_api_key(token)):
        raise Unauthorized("invalid credentials")
    if record.revoked:
        raise Unauthorized("this API key has been revoked")
    if record.expires_at is not None and record.expires_at <= utc_now():
        raise Unauthorized("this API key has expired")
    return Caller(
        org_id=record.org_id, identity=f"apikey:{record.id}", role=record.role, platform_admin=record.platform_admin
    )
