"""Data rights for an org: export everything it owns as JSON, or delete everything it owns."""

from __future__ import annotations

import json
import logging
from typing import Any

from agentlab.aws import AwsClients
from agentlab.identity.cognito import Directory
from agentlab.models import TERMINAL_STATUSES, Org, utc_now
from agentlab.store.sandbox_sessions import SESSION_SK, session_pk
from agentlab.store.schedules import FIRES_PK, INDEX_PK, INDEX_SK
from agentlab.store.table import Table, entity_fields

logger = logging.getLogger(__name__)

_EXPORTED = {
    "agent": "agents",
    "agent_version": "agent_versions",
    "run": "runs",
    "step": "steps",
    "artifact": "artifacts",
    "file": "files",
    "member": "members",
    "api_key": "api_keys",
}
_NEVER_EXPORTED = {"key_hash", "script"}


def org_items(table: Table, org_id: str) -> list[dict[str, Any]]:
    """Every item of the org, found by key (never by scanning the table): its own partition (agents, runs, files,
    members, name markers, idempotency keys), each run's and agent's partition (steps, messages, artifacts,
    versions), its API keys (GSI1), its members' sign-in pointers, its audit trail and its quota counters."""
    own = list(table.iterate(partition=("PK", f"ORG#{org_id}")))
    items = list(own)
    for item in own:
        entity = item.get("entity")
        if entity == "run":
            items.extend(table.iterate(partition=("PK", f"ORG#{org_id}#RUN#{item['id']}")))
            sandbox_session = table.get(session_pk(str(item["id"])), SESSION_SK)
            if sandbox_session is not None:
                items.append(sandbox_session)
        elif entity == "agent":
            items.extend(table.iterate(partition=("PK", f"ORG#{org_id}#AGENT#{item['id']}")))
        elif entity == "schedule":
            # Its fires and counted outcomes, and its entry in the cross-org schedule index.
            schedule_id = str(item["id"])
            items.extend(table.iterate(partition=("PK", FIRES_PK.format(org_id=org_id, schedule_id=schedule_id))))
            index_entry = table.get(INDEX_PK, INDEX_SK.format(org_id=org_id, schedule_id=schedule_id))
            if index_entry is not None:
                items.append(index_entry)
        elif entity == "webhook":
            items.extend(table.iterate(partition=("PK", f"ORG#{org_id}#WEBHOOK#{item['id']}")))
        elif entity == "member":
            items.extend(
                pointer
                for pointer in (
                    table.get(f"USER#{item['user_sub']}", "META"),
                    table.get(f"EMAIL#{item['email']}", "META"),
                )
                if pointer is not None
            )
    for key in table.iterate(partition=("GSI1PK", f"ORG#{org_id}#APIKEYS"), index="GSI1"):
        items.append(table.get(str(key["PK"]), str(key["SK"])) or key)
    for partition in (f"AUDIT#{org_id}", f"QUOTA#{org_id}"):
        items.extend(table.iterate(partition=("PK", partition)))
    unique = {(str(item["PK"]), str(item["SK"])): item for item in items}
    return list(unique.values())


def exported_items(table: Table, org_id: str) -> list[dict[str, Any]]:
    """The org's items of the kinds an export holds, read from the only partitions they live in: the org's own
    (agents, runs, files, members), each run's (steps, artifacts), each agent's (versions) and its API keys (GSI1).
    `org_items` also reads everything a deletion must remove (audit trail, counters, fires, deliveries, pointers,
    sandbox sessions), none of which is exported; skipping it keeps the export to a request per run and agent."""
    own = list(table.iterate(partition=("PK", f"ORG#{org_id}")))
    items = [item for item in own if item.get("entity") in _EXPORTED]
    for item in own:
        entity = item.get("entity")
        if entity == "run":
            items.extend(table.iterate(partition=("PK", f"ORG#{org_id}#RUN#{item['id']}")))
        elif entity == "agent":
            items.extend(table.iterate(partition=("PK", f"ORG#{org_id}#AGENT#{item['id']}")))
    for key in table.iterate(partition=("GSI1PK", f"ORG#{org_id}#APIKEYS"), index="GSI1"):
        items.append(table.get(str(key["PK"]), str(key["SK"])) or key)
    unique = {(str(item["PK"]), str(item["SK"])): item for item in items if item.get("entity") in _EXPORTED}
    return list(unique.values())


def export_org(table: Table, org: Org) -> dict[str, Any]:
    document: dict[str, Any] = {"org": org.model_dump(mode="json"), "exported_at": utc_now().isoformat()}
    for name in _EXPORTED.values():
        document[name] = []
    for item in exported_items(table, org.id):
        section = _EXPORTED.get(str(item.get("entity")))
        if section is None:
            continue
        fields = {k: v for k, v in entity_fields(item).items() if k not in _NEVER_EXPORTED}
        document[section].append(fields)
    for section in _EXPORTED.values():
        document[section].sort(key=lambda entry: json.dumps([entry.get("run_id"), entry.get("id"), entry.get("seq")]))
    return document


def delete_org(
    table: Table,
    clients: AwsClients,
    bucket: str,
    org_id: str,
    *,
    directory: Directory | None,
    stop_execution: Any | None = None,
) -> dict[str, int]:
    """Remove every item and object of the org; running executions are stopped first. Returns what was removed."""
    items = org_items(table, org_id)
    runs = [item for item in items if item.get("entity") == "run"]
    for run in runs:
        if run.get("status") not in TERMINAL_STATUSES and stop_execution is not None:
            try:
                stop_execution(str(run["id"]), str(run.get("workflow") or "agent_run"))
            except Exception:  # the execution may have ended meanwhile; the run's items go regardless
                logger.warning("could not stop the execution of run %s", run["id"], exc_info=True)
    if directory is not None:
        for member in (item for item in items if item.get("entity") == "member"):
            directory.delete_user(str(member["email"]))
    from agentlab.store.webhooks import delete_secret

    for webhook in (item for item in items if item.get("entity") == "webhook"):
        delete_secret(clients, org_id, str(webhook["id"]))
    from agentlab.store.repos import delete_token

    for repo in (item for item in items if item.get("entity") == "repo"):
        delete_token(clients, org_id, str(repo["id"]))
    removed_objects = 0
    prefixes = [f"orgs/{org_id}/"]
    s3 = clients.s3
    for prefix in prefixes:
        token: str | None = None
        while True:
            request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
            if token:
                request["ContinuationToken"] = token
            listing = s3.list_objects_v2(**request)
            objects = [{"Key": obj["Key"]} for obj in listing.get("Contents", [])]
            if objects:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
                removed_objects += len(objects)
            if not listing.get("IsTruncated"):
                break
            token = listing.get("NextContinuationToken")
    # The org item goes last, so an interrupted deletion can be run again and finds the org still there.
    org_key = (f"ORG#{org_id}", "META")
    keys = [(str(i["PK"]), str(i["SK"])) for i in items if (str(i["PK"]), str(i["SK"])) != org_key]
    table.delete_many(keys)
    # A run that ended just before the deletion may still have been reporting its end (its usage, its Lambda meter)
    # while the items were listed. Those writes need the run's item, which is gone now, so one more pass over the
    # partitions the org owned finds whatever they added in between, and nothing can be added after it.
    stragglers = _written_meanwhile(table, org_id, [str(run["id"]) for run in runs])
    table.delete_many(stragglers)
    table.delete_many([org_key])
    return {"items": len(keys) + len(stragglers) + 1, "objects": removed_objects, "runs": len(runs)}


def _written_meanwhile(table: Table, org_id: str, run_ids: list[str]) -> list[tuple[str, str]]:
    partitions = [f"ORG#{org_id}", *(f"ORG#{org_id}#RUN#{run_id}" for run_id in run_ids)]
    found = [
        (str(item["PK"]), str(item["SK"]))
        for partition in partitions
        for item in table.iterate(partition=("PK", partition))
    ]
    return [key for key in found if key != (f"ORG#{org_id}", "META")]
