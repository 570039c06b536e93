"""Orgs and API keys. Keys are stored only as SHA-256 hashes (they are 256-bit random, so a plain hash suffices)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from agentlab.errors import NotFound
from agentlab.ids import new_ulid
from agentlab.models import ApiKeyRecord, Org, OrgQuotas, Role, utc_now
from agentlab.store.table import QueryPage, Table, entity_fields

API_KEY_PREFIX = "al_"
# `last_used_at` is written at most this often per key, so a busy key does not cost a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def _key_pk(key_hash: str) -> str:
    return f"APIKEY#{key_hash}"


def _key_item(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "PK": _key_pk(record.key_hash),
        "SK": "META",
        "GSI1PK": f"ORG#{record.org_id}#APIKEYS",
        "GSI1SK": record.id,
        "entity": "api_key",
        **record.model_dump(mode="json", exclude={"expires_at"}),
        # The table's TTL attribute, in epoch seconds: DynamoDB removes the key some time after it expires.
        "expires_at": int(record.expires_at.timestamp()) if record.expires_at else None,
    }


def _key_record(item: dict[str, Any]) -> ApiKeyRecord:
    # `expires_at` is a storage attribute (the TTL), so entity_fields drops it; the record needs it back.
    expires_epoch = item.get("expires_at")
    expires_at = datetime.fromtimestamp(expires_epoch, UTC) if expires_epoch is not None else None
    return ApiKeyRecord.model_validate({**entity_fields(item), "expires_at": expires_at})


class OrgStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    # orgs -----------------------------------------------------------------------------------------------------
    def create_org(self, name: str, org_id: str | None = None, quotas: OrgQuotas | None = None) -> Org:
        org = Org(id=org_id or new_ulid(), name=name, created_at=utc_now(), quotas=quotas or OrgQuotas())
        self.table.put_new({"PK": f"ORG#{org.id}", "SK": "META", "entity": "org", **org.model_dump(mode="json")})
        return org

    def get_org(self, org_id: str) -> Org | None:
        item = self.table.get(f"ORG#{org_id}", "META")
        return Org.model_validate(entity_fields(item)) if item else None

    def require_org(self, org_id: str) -> Org:
        org = self.get_org(org_id)
        if org is None:
            raise NotFound(f"org {org_id} not found")
        return org

    # API keys -------------------------------------------------------------------------------------------------
    def create_api_key(
        self,
        org_id: str,
        *,
        name: str,
        role: Role,
        expires_at: datetime | None = None,
        platform_admin: bool = False,
    ) -> tuple[ApiKeyRecord, str]:
        """Returns the record and the key itself, which is never stored and so can be shown only once."""
        key = generate_api_key()
        record = ApiKeyRecord(
            id=new_ulid(),
            org_id=org_id,
            name=name,
            role=role,
            prefix=key[:10],
            key_hash=hash_api_key(key),
            created_at=utc_now(),
            expires_at=expires_at,
            platform_admin=platform_admin,
        )
        self.table.put_new(_key_item(record))
        return record, key

    def find_api_key(self, key: str) -> ApiKeyRecord | None:
        item = self.table.get(_key_pk(hash_api_key(key)), "META")
        return _key_record(item) if item else None

    def list_api_keys(self, org_id: str, *, limit: int, cursor: str | None) -> QueryPage[ApiKeyRecord]:
        page = self.table.query(partition=("GSI1PK", f"ORG#{org_id}#APIKEYS"), index="GSI1", limit=limit, cursor=cursor)
        return page.map(_key_record)

    def get_api_key(self, org_id: str, key_id: str) -> ApiKeyRecord:
        page = self.table.query(
            partition=("GSI1PK", f"ORG#{org_id}#APIKEYS"), index="GSI1", sort_prefix=key_id, limit=1
        )
        if not page.items:
            raise NotFound(f"API key {key_id} not found")
        return _key_record(page.items[0])

    def revoke_api_key(self, org_id: str, key_id: str) -> ApiKeyRecord:
        record = self.get_api_key(org_id, key_id)
        # Keyed by the hash: the very next request with this key reads `revoked` (a consistent read) and fails.
        self.table.set_fields(_key_pk(record.key_hash), "META", {"revoked": True})
        return record.model_copy(update={"revoked": True})

    def rotate_api_key(self, org_id: str, key_id: str) -> tuple[ApiKeyRecord, str]:
        """A new secret for the same key (id, name, role, expiry); the old secret stops working at once."""
        old = self.get_api_key(org_id, key_id)
        if old.revoked:
            raise NotFound(f"API key {key_id} not found (it was revoked)")
        key = generate_api_key()
        record = old.model_copy(
            update={"key_hash": hash_api_key(key), "prefix": key[:10], "created_at": utc_now(), "last_used_at": None}
        )
        self.table.transact(
            [
                self.table.op_delete(_key_pk(old.key_hash), "META", condition="attribute_exists(PK)"),
                self.table.op_put(_key_item(record), condition="attribute_not_exists(PK)"),
            ]
        )
        return record, key

    def touch_api_key(self, record: ApiKeyRecord) -> None:
        now = utc_now()
        if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
            self.table.set_fields(_key_pk(record.key_hash), "META", {"last_used_at": now.isoformat()})
