"""Members: the people of an org. Each has a member item in the org's partition, a `USER#<sub>` item that maps a
signed-in Cognito subject to its org, and an `EMAIL#<email>` item that keeps an address to one org."""

from __future__ import annotations

from typing import Any

from agentlab.errors import ConcurrentUpdate, Conflict, NotFound
from agentlab.ids import new_ulid
from agentlab.models import Member, Role, utc_now
from agentlab.store.table import QueryPage, Table, entity_fields


def _member_item(member: Member) -> dict[str, Any]:
    return {
        "PK": f"ORG#{member.org_id}",
        "SK": f"MEMBER#{member.id}",
        "entity": "member",
        **member.model_dump(mode="json"),
    }


class MemberStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create(self, org_id: str, *, email: str, role: Role, user_sub: str) -> Member:
        now = utc_now()
        member = Member(
            id=new_ulid(), org_id=org_id, email=email, role=role, user_sub=user_sub, created_at=now, updated_at=now
        )
        pointer = {"org_id": org_id, "member_id": member.id}
        try:
            self.table.transact(
                [
                    self.table.op_put(_member_item(member), condition="attribute_not_exists(PK)"),
                    self.table.op_put(
                        {"PK": f"USER#{user_sub}", "SK": "META", "entity": "user", **pointer},
                        condition="attribute_not_exists(PK)",
                    ),
                    self.table.op_put(
                        {"PK": f"EMAIL#{email}", "SK": "META", "entity": "email", **pointer},
                        condition="attribute_not_exists(PK)",
                    ),
                ]
            )
        except ConcurrentUpdate as exc:
            raise Conflict(f"{email} is already a member", code="member_exists") from exc
        return member

    def email_taken(self, email: str) -> bool:
        return self.table.get(f"EMAIL#{email}", "META") is not None

    def get(self, org_id: str, member_id: str) -> Member:
        item = self.table.get(f"ORG#{org_id}", f"MEMBER#{member_id}")
        if item is None:
            raise NotFound(f"member {member_id} not found")
        return Member.model_validate(entity_fields(item))

    def find_by_sub(self, user_sub: str) -> Member | None:
        pointer = self.table.get(f"USER#{user_sub}", "META")
        if pointer is None:
            return None
        item = self.table.get(f"ORG#{pointer['org_id']}", f"MEMBER#{pointer['member_id']}")
        return Member.model_validate(entity_fields(item)) if item else None

    def list(self, org_id: str, *, limit: int, cursor: str | None) -> QueryPage[Member]:
        page = self.table.query(partition=("PK", f"ORG#{org_id}"), sort_prefix="MEMBER#", limit=limit, cursor=cursor)
        return page.map(lambda item: Member.model_validate(entity_fields(item)))

    def count_admins(self, org_id: str) -> int:
        return sum(
            1
            for item in self.table.iterate(partition=("PK", f"ORG#{org_id}"), sort_prefix="MEMBER#")
            if item.get("role") == "admin"
        )

    def set_role(self, org_id: str, member_id: str, role: Role) -> Member:
        member = self.get(org_id, member_id)
        updated = member.model_copy(update={"role": role, "updated_at": utc_now()})
        self.table.set_fields(
            f"ORG#{org_id}", f"MEMBER#{member_id}", {"role": role, "updated_at": updated.updated_at.isoformat()}
        )
        return updated

    def delete(self, member: Member) -> None:
        self.table.transact(
            [
                self.table.op_delete(f"ORG#{member.org_id}", f"MEMBER#{member.id}"),
                self.table.op_delete(f"USER#{member.user_sub}", "META"),
                self.table.op_delete(f"EMAIL#{member.email}", "META"),
            ]
        )
