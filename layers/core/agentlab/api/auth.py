"""Who is calling. Resolved in one place, before any route runs: an API key (`al_…`) or a Cognito access token."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING

from agentlab.errors import Unauthorized
from agentlab.models import ROLES, Caller, Role, utc_now
from agentlab.store.orgs import API_KEY_PREFIX, OrgStore, hash_api_key

if TYPE_CHECKING:
    from agentlab.identity.tokens import TokenVerifier
    from agentlab.store.members import MemberStore

_MAX_TOKEN_CHARS = 8_192


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def caller_from_api_key(token: str, orgs: OrgStore) -> Caller:
    if len(token) > 200:
        raise Unauthorized("invalid credentials")
    record = orgs.find_api_key(token)
    # The lookup is by hash; the comparison below is constant-time anyway, so a timing side channel learns nothing.
    if record is None or not hmac.compare_digest(record.key_hash, hash_api_key(token)):
        raise Unauthorized("invalid credentials")
    if record.revoked:
        raise Unauthorized("this API key has been revoked")
    if record.expires_at is not None and record.expires_at <= utc_now():
        raise Unauthorized("this API key has expired")
    orgs.touch_api_key(record)
    return Caller(
        org_id=record.org_id,
        identity=f"apikey:{record.id}",
        role=record.role,
        platform_admin=record.platform_admin,
        kind="api_key",
        principal_id=record.id,
    )


def caller_from_token(token: str, verifier: TokenVerifier, members: MemberStore) -> Caller:
    claims = verifier.verify(token)
    member = members.find_by_sub(str(claims["sub"]))
    if member is None:
        raise Unauthorized("this account is not a member of any org")
    groups = [g for g in claims.get("cognito:groups") or [] if g in ROLES]
    if not groups:
        raise Unauthorized("this account has no role; ask an admin to set one")
    # The member item is current; the token's group is as of sign-in. If an admin changed the role since, the item
    # wins, so a demotion takes effect at once (both are changed together).
    role: Role = member.role
    return Caller(
        org_id=member.org_id,
        identity=f"user:{member.id}",
        role=role,
        kind="user",
        email=member.email,
        principal_id=member.id,
    )


def resolve_caller(
    headers: Mapping[str, str],
    orgs: OrgStore,
    *,
    verifier: TokenVerifier | None = None,
    members: MemberStore | None = None,
) -> Caller:
    token = bearer_token(headers)
    if token is None:
        raise Unauthorized("missing credentials: send 'Authorization: Bearer <api key or access token>'")
    if len(token) > _MAX_TOKEN_CHARS:
        raise Unauthorized("invalid credentials")
    if token.startswith(API_KEY_PREFIX):
        return caller_from_api_key(token, orgs)
    if verifier is None or members is None:
        raise Unauthorized("invalid credentials (sign-in is not configured: use an API key)")
    return caller_from_token(token, verifier, members)
