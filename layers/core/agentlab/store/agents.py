"""Agents: the current version under AGENT#, every version as an immutable snapshot, names unique per org."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from agentlab.errors import ConcurrentUpdate, Conflict, NotFound
from agentlab.ids import new_ulid
from agentlab.models import Agent, AgentCreate, AgentUpdate, AgentVersion, utc_now
from agentlab.store.table import QueryPage, Table, entity_fields

# How many agent versions a store keeps once read (by org, agent and version, least recently used out first).
_MAX_KEPT_VERSIONS = 256


def _agent_key(org_id: str, agent_id: str) -> tuple[str, str]:
    return f"ORG#{org_id}", f"AGENT#{agent_id}"


def _version_item(agent: Agent) -> dict[str, Any]:
    return {
        "PK": f"ORG#{agent.org_id}#AGENT#{agent.id}",
        "SK": f"VERSION#{agent.version:08d}",
        "entity": "agent_version",
        **agent.model_dump(mode="json"),
    }


def _name_marker(org_id: str, name: str, agent_id: str) -> dict[str, Any]:
    return {"PK": f"ORG#{org_id}", "SK": f"AGENTNAME#{name}", "entity": "agent_name", "agent_id": agent_id}


class AgentStore:
    def __init__(self, table: Table) -> None:
        self.table = table
        self._versions: OrderedDict[tuple[str, str, int], dict[str, Any]] = OrderedDict()
        self._versions_lock = threading.Lock()

    def create(self, org_id: str, spec: AgentCreate) -> Agent:
        now = utc_now()
        agent = Agent(id=new_ulid(), org_id=org_id, version=1, created_at=now, updated_at=now, **spec.model_dump())
        pk, sk = _agent_key(org_id, agent.id)
        try:
            self.table.transact(
                [
                    self.table.op_put(_name_marker(org_id, agent.name, agent.id), condition="attribute_not_exists(PK)"),
                    self.table.op_put(
                        {"PK": pk, "SK": sk, "entity": "agent", **agent.model_dump(mode="json")},
                        condition="attribute_not_exists(PK)",
                    ),
                    self.table.op_put(_version_item(agent), condition="attribute_not_exists(PK)"),
                ]
            )
        except ConcurrentUpdate as exc:
            raise Conflict(f"an agent named '{agent.name}' already exists", code="agent_name_taken") from exc
        return agent

    def get(self, org_id: str, agent_id: str) -> Agent:
        item = self.table.get(*_agent_key(org_id, agent_id))
        if not item or item.get("deleted"):
            raise NotFound(f"agent {agent_id} not found")
        return Agent.model_validate(entity_fields(item))

    def get_version(self, org_id: str, agent_id: str, version: int) -> AgentVersion:
        """A version is written once and never changed, so the store (one per warm process) keeps the versions it
        read: every step of a run reads the version the run pinned."""
        key = (org_id, agent_id, version)
        with self._versions_lock:
            fields = self._versions.get(key)
            if fields is not None:
                self._versions.move_to_end(key)
        if fields is None:
            item = self.table.get(f"ORG#{org_id}#AGENT#{agent_id}", f"VERSION#{version:08d}")
            if not item:
                raise NotFound(f"agent {agent_id} version {version} not found")
            fields = entity_fields(item)
            with self._versions_lock:
                self._versions[key] = fields
                while len(self._versions) > _MAX_KEPT_VERSIONS:
                    self._versions.popitem(last=False)
        # Validated from the kept fields each time: callers get their own object.
        return AgentVersion.model_validate(fields)

    def find_by_name(self, org_id: str, name: str) -> Agent | None:
        marker = self.table.get(f"ORG#{org_id}", f"AGENTNAME#{name}")
        return self.get(org_id, marker["agent_id"]) if marker else None

    def list(self, org_id: str, *, limit: int, cursor: str | None) -> QueryPage[Agent]:
        page = self.table.query(
            partition=("PK", f"ORG#{org_id}"),
            sort_prefix="AGENT#",
            limit=limit,
            cursor=cursor,
            keep=lambda item: not item.get("deleted"),
        )
        return page.map(lambda item: Agent.model_validate(entity_fields(item)))

    def list_versions(self, org_id: str, agent_id: str, *, limit: int, cursor: str | None) -> QueryPage[AgentVersion]:
        self.get(org_id, agent_id)
        page = self.table.query(
            partition=("PK", f"ORG#{org_id}#AGENT#{agent_id}"),
            sort_prefix="VERSION#",
            limit=limit,
            cursor=cursor,
            newest_first=True,
        )
        return page.map(lambda item: AgentVersion.model_validate(entity_fields(item)))

    def update(
        self, org_id: str, agent_id: str, change: AgentUpdate, *, check: Callable[[Agent], None] | None = None
    ) -> Agent:
        """Make a new version; conditional on the version read, so concurrent updates cannot overwrite each other.
        `check` may refuse the agent as it would become, before anything is written."""
        current = self.get(org_id, agent_id)
        if change.expected_version is not None and change.expected_version != current.version:
            raise ConcurrentUpdate(
                f"agent is at version {current.version}, not {change.expected_version}; reload and retry"
            )
        fields = change.model_dump(exclude_unset=True, exclude={"expected_version"})
        updated = current.model_copy(
            update={**{k: getattr(change, k) for k in fields}, "version": current.version + 1, "updated_at": utc_now()}
        )
        updated = Agent.model_validate(updated.model_dump())
        if check is not None:
            check(updated)
        pk, sk = _agent_key(org_id, agent_id)
        operations = [
            self.table.op_put(
                {"PK": pk, "SK": sk, "entity": "agent", **updated.model_dump(mode="json")},
                condition="version = :expected",
                values={":expected": current.version},
            ),
            self.table.op_put(_version_item(updated), condition="attribute_not_exists(PK)"),
        ]
        if updated.name != current.name:
            operations.append(
                self.table.op_put(_name_marker(org_id, updated.name, agent_id), condition="attribute_not_exists(PK)")
            )
            operations.append(self.table.op_delete(f"ORG#{org_id}", f"AGENTNAME#{current.name}"))
        try:
            self.table.transact(operations)
        except ConcurrentUpdate as exc:
            if updated.name != current.name and self.table.get(f"ORG#{org_id}", f"AGENTNAME#{updated.name}"):
                raise Conflict(f"an agent named '{updated.name}' already exists", code="agent_name_taken") from exc
            raise
        return updated

    def delete(self, org_id: str, agent_id: str) -> None:
        """Soft delete: runs keep the versions they pinned; the name becomes free again."""
        current = self.get(org_id, agent_id)
        pk, sk = _agent_key(org_id, agent_id)
        self.table.transact(
            [
                self.table.op_put(
                    {"PK": pk, "SK": sk, "entity": "agent", **current.model_dump(mode="json"), "deleted": True},
                    condition="version = :expected",
                    values={":expected": current.version},
                ),
                self.table.op_delete(f"ORG#{org_id}", f"AGENTNAME#{current.name}"),
            ]
        )
