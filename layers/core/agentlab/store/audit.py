"""Audit records: one per mutation, in the org's own audit partition, newest first when listed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentlab.ids import new_ulid
from agentlab.models import AuditRecord, utc_now
from agentlab.store.table import QueryPage, Table, entity_fields

_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# A filtered listing looks at most this many records per request; a short page with a cursor continues from there.
_MAX_EXAMINED = 1_000


def _ulid_time_prefix(moment: datetime) -> str:
    """The first 10 characters of a ULID made at `moment`: ULIDs sort by time, so this bounds a time range."""
    value, chars = max(0, int(moment.timestamp() * 1000)), []  # ULIDs start at the epoch
    for _ in range(10):
        chars.append(_ULID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


class AuditStore:
    def __init__(self, table: Table, *, retention_days: int = 400) -> None:
        self.table = table
        self.retention_days = retention_days

    def record(self, **fields: Any) -> AuditRecord:
        now = utc_now()
        record = AuditRecord(id=new_ulid(), time=now, **fields)
        self.table.put_new(
            {
                "PK": f"AUDIT#{record.org_id}",
                "SK": record.id,
                "entity": "audit",
                **record.model_dump(mode="json"),
                "expires_at": int(now.timestamp()) + self.retention_days * 86_400,
            }
        )
        return record

    def record_platform_event(
        self, org_id: str, *, actor: str, action: str, path: str, target: str, request_id: str
    ) -> AuditRecord:
        """A change the platform made on its own (a schedule paused, an endpoint disabled, a budget alert): no
        request, so no role or source address, and `EVENT` for its method."""
        return self.record(
            org_id=org_id,
            actor=actor,
            role=None,
            action=action,
            method="EVENT",
            path=path,
            target=target,
            status=200,
            outcome="success",
            request_id=request_id,
            source_ip=None,
        )

    def list(
        self,
        org_id: str,
        *,
        limit: int,
        cursor: str | None,
        action: str | None = None,
        actor: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> QueryPage[AuditRecord]:
        def keep(item: dict[str, Any]) -> bool:
            return (
                (action is None or item.get("action") == action)
                and (actor is None or item.get("actor") == actor)
                and (outcome is None or item.get("outcome") == outcome)
            )

        low = _ulid_time_prefix(since) if since else "0"
        high = _ulid_time_prefix(until) + "~" if until else "~"
        page = self.table.query(
            partition=("PK", f"AUDIT#{org_id}"),
            sort_after=(low, high),
            limit=limit,
            cursor=cursor,
            newest_first=True,
            keep=keep if (action or actor or outcome) else None,
            max_examined=_MAX_EXAMINED,
        )
        return page.map(lambda item: AuditRecord.model_validate(entity_fields(item)))
