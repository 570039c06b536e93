"""The EventBridge Scheduler mirror of the schedule records: one Scheduler schedule per record, in the stack's group.

The DynamoDB record is the truth. The API writes the record first and then mirrors it here; a mirror that failed is
put right by `reconcile`, which the janitor runs. Without a group (the local stack) nothing is mirrored: the local
ticker fires the records itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentlab.errors import NotFound
from agentlab.models.schedule import Schedule
from agentlab.settings import CoreSettings
from agentlab.store.schedules import ScheduleStore

logger = logging.getLogger(__name__)

# Scheduler's limit on a schedule's name.
MAX_NAME_LENGTH = 64
# Scheduler keeps trying a failed invocation for up to an hour; after that the event goes to the dead-letter queue.
MAX_EVENT_AGE_S = 3_600
MAX_RETRY_ATTEMPTS = 10
# Scheduler substitutes this with the time the invocation was scheduled for.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


def schedule_name(org_id: str, schedule_id: str) -> str:
    """`<org id>-<schedule id>`, or a digest of the org id where that would pass Scheduler's 64 characters."""
    name = f"{org_id}-{schedule_id}"
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(org_id.encode()).hexdigest()[: MAX_NAME_LENGTH - len(schedule_id) - 1]
    return f"{digest}-{schedule_id}"


def trigger_input(org_id: str, schedule_id: str) -> str:
    """The trigger's input; the local ticker sends the same payload with the time filled in."""
    return json.dumps({"org_id": org_id, "schedule_id": schedule_id, "scheduled_time": SCHEDULED_TIME})


@dataclass
class ReconcileReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


class SchedulerSync:
    """Creates, updates, disables and deletes the Scheduler schedules of the records."""

    def __init__(self, settings: CoreSettings, clients: Any) -> None:
        self.settings = settings
        self._clients = clients

    @property
    def enabled(self) -> bool:
        return bool(self.settings.scheduler_group_name)

    @property
    def _scheduler(self) -> Any:
        return self._clients.scheduler

    def _request(self, schedule: Schedule) -> dict[str, Any]:
        settings = self.settings
        target: dict[str, Any] = {
            "Arn": settings.schedule_trigger_arn,
            "RoleArn": settings.scheduler_role_arn,
            "Input": trigger_input(schedule.org_id, schedule.id),
            "RetryPolicy": {"MaximumEventAgeInSeconds": MAX_EVENT_AGE_S, "MaximumRetryAttempts": MAX_RETRY_ATTEMPTS},
        }
        if settings.schedule_dead_letter_queue_arn:
            target["DeadLetterConfig"] = {"Arn": settings.schedule_dead_letter_queue_arn}
        return {
            "Name": schedule_name(schedule.org_id, schedule.id),
            "GroupName": settings.scheduler_group_name,
            "Description": schedule.name[:512],
            "ScheduleExpression": schedule.expression,
            "ScheduleExpressionTimezone": schedule.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED" if schedule.status == "active" else "DISABLED",
            "Target": target,
        }

    def apply(self, schedule: Schedule) -> str | None:
        """Make the schedule's Scheduler schedule match the record: "created", "updated", or None when not mirrored."""
        if not self.enabled:
            return None
        request = self._request(schedule)
        client = self._scheduler
        try:
            client.update_schedule(**request)
            return "updated"
        except client.exceptions.ResourceNotFoundException:
            client.create_schedule(**request)
            return "created"

    def remove(self, org_id: str, schedule_id: str) -> None:
        if not self.enabled:
            return
        self._delete(schedule_name(org_id, schedule_id))

    def _delete(self, name: str) -> None:
        client = self._scheduler
        try:
            client.delete_schedule(Name=name, GroupName=self.settings.scheduler_group_name)
        except client.exceptions.ResourceNotFoundException:
            return

    def mirror(self, schedule: Schedule) -> None:
        """`apply` after the record is written: a failure is logged and left to `reconcile`, since the record, the
        truth, is already written."""
        try:
            self.apply(schedule)
        except Exception:
            logger.exception("mirroring a schedule to EventBridge Scheduler failed", extra={"schedule_id": schedule.id})

    def forget(self, org_id: str, schedule_id: str) -> None:
        """`remove` after the record is deleted; a failure is left to `reconcile`, which deletes orphans."""
        try:
            self.remove(org_id, schedule_id)
        except Exception:
            logger.exception("deleting a Scheduler schedule failed", extra={"schedule_id": schedule_id})

    def existing(self) -> dict[str, dict[str, Any]]:
        """The group's Scheduler schedules by name, as GetSchedule describes them."""
        client = self._scheduler
        found: dict[str, dict[str, Any]] = {}
        token: str | None = None
        while True:
            request: dict[str, Any] = {"GroupName": self.settings.scheduler_group_name}
            if token:
                request["NextToken"] = token
            page = client.list_schedules(**request)
            for summary in page.get("Schedules", []):
                name = summary["Name"]
                found[name] = client.get_schedule(Name=name, GroupName=self.settings.scheduler_group_name)
            token = page.get("NextToken")
            if not token:
                return found

    def reconcile(self, schedules: Iterable[Schedule]) -> ReconcileReport:
        """Make the group match the records: create what is missing, fix what drifted, delete orphans."""
        report = ReconcileReport()
        if not self.enabled:
            return report
        existing = self.existing()
        for schedule in schedules:
            wanted = self._request(schedule)
            name = wanted["Name"]
            current = existing.pop(name, None)
            if current is None:
                self._scheduler.create_schedule(**wanted)
                report.created.append(name)
            elif _drifted(current, wanted):
                self._scheduler.update_schedule(**wanted)
                report.updated.append(name)
        for name in existing:
            self._delete(name)
            report.deleted.append(name)
        return report


def _drifted(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    for key in ("ScheduleExpression", "ScheduleExpressionTimezone", "State", "FlexibleTimeWindow"):
        if current.get(key) != wanted[key]:
            return True
    target, wanted_target = current.get("Target", {}), wanted["Target"]
    return any(target.get(key) != wanted_target[key] for key in wanted_target)


def reconcile(store: ScheduleStore, sync: SchedulerSync) -> ReconcileReport:
    """Every record's Scheduler schedule made to match it; the janitor calls this on each sweep."""
    if not sync.enabled:
        return ReconcileReport()
    records: list[Schedule] = []
    for entry in store.index():
        try:
            records.append(store.get(entry.org_id, entry.schedule_id))
        except NotFound:
            continue  # deleted since the index was read
    return sync.reconcile(records)
