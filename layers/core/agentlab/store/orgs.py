"""Orgs and API keys. Keys are stored only as SHA-256 hashes (they are 256-bit random, so a plain hash suffices)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from agentlab.ids import new_ulid
from agentlab.models import ApiKeyRecord, Org, Role, utc_now
from agentlab.store.table import Table, entity_fields

API_KEY_PREFIX = "al_"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


class OrgStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create_org(self, name: str, org_id: str | None = None) -> Org:
        org = Org(id=org_id or new_ulid(), name=name, created_at=utc_now())
        self.table.put_new({"PK": f"ORG#{org.id}", "SK": "META", "entity": "org", **org.model_dump(mode="json")})
        return org

    def get_org(self, org_id: str) -> Org | None:
        item = self.table.get(f"ORG#{org_id}", "META")
        return Org.model_validate(entity_fields(item)) if item else None

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
        self.table.put_new(
            {
                "PK": f"APIKEY#{record.key_hash}",
                "SK": "META",
                "GSI1PK": f"ORG#{org_id}#APIKEYS",
                "GSI1SK": record.id,
                "entity": "api_key",
                **record.model_dump(mode="json", exclude={"expires_at"}),
                # The table's TTL attribute, in epoch seconds: DynamoDB removes the key some time after it expires.
                "expires_at": int(expires_at.timestamp()) if expires_at else None,
            }
        )
        return record, key

    def find_api_key(self, key: str) -> ApiKeyRecord | None:
        item = self.table.get(f"APIKEY#{hash_api_key(key)}", "META")
        if not item:
            return None
        # `expires_at` is a storage attribute (the TTL), so entity_fields drops it; the record needs it back.
        expires_epoch = item.get("expires_at")
        expires_at = datetime.fromtimestamp(expires_epoch, UTC) if expires_epoch is not None else None
        return ApiKeyRecord.model_validate({**entity_fields(item), "expires_at": expires_at})
