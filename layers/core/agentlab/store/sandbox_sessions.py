"""Which Fargate task serves a run's sandbox: one item per run, so any invocation of any step can pick the task up.

PK `SANDBOX#<run_id>`, SK `SESSION`: the task's ARN, its private address once it runs, the bearer token it answers to
(the task itself knows only the token's SHA-256) and when it was last used, which the janitor reads to stop idle
tasks. A task claimed from the warm pool (agentlab.store.sandbox_pool) is recorded here like any other, with the
label it answers as. Writes after the first are conditional on the task ARN: a record that moved on to another task
(a start that won a race, a replaced task) is never overwritten or removed by a writer holding the old one.
`expires_at` (the table's TTL) removes records whose task nobody ended.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from agentlab.models import utc_now
from agentlab.store.table import Table, entity_fields, serialize

SESSION_SK = "SESSION"
RECORD_TTL_S = 2 * 86_400  # after the last use; a live task never goes that long unused


def session_pk(run_id: str) -> str:
    return f"SANDBOX#{run_id}"


class SandboxSessionRecord(BaseModel):
    run_id: str
    task_arn: str
    token: str
    address: str | None = None
    started_at: datetime
    last_used_at: datetime
    # A task taken from the warm pool answers as the label it was started with (agentlab.sandbox.pool), not as the
    # run: it was started before the run existed.
    task_label: str | None = None

    @property
    def answers_as(self) -> str:
        """The id the task's health probe reports: the run's own, or its pool label."""
        return self.task_label or self.run_id


class SandboxSessionStore:
    def __init__(self, table: Table, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.table = table
        self._clock = clock

    def get(self, run_id: str) -> SandboxSessionRecord | None:
        item = self.table.get(session_pk(run_id), SESSION_SK)
        return SandboxSessionRecord.model_validate(entity_fields(item)) if item else None

    def claim(self, record: SandboxSessionRecord, *, replacing: str | None) -> None:
        """Make record the run's session: only if the run has none, or still the one of task `replacing`; raises
        ConcurrentUpdate when another start got there first."""
        item = {
            "PK": session_pk(record.run_id),
            "SK": SESSION_SK,
            "entity": "sandbox_session",
            **record.model_dump(mode="json"),
            "expires_at": self._expires_at(record.last_used_at),
        }
        if replacing is None:
            self.table.put_new(item)
            return
        self.table.transact(
            [
                self.table.op_put(
                    item,
                    condition="attribute_not_exists(PK) OR task_arn = :previous",
                    values={":previous": replacing},
                )
            ]
        )

    def record_use(self, run_id: str, task_arn: str, *, address: str | None = None) -> bool:
        """Set the last use (and the address) of the run's session if it is still task_arn's; whether it was."""
        now = self._clock()
        fields: dict[str, Any] = {"last_used_at": now.isoformat(), "expires_at": self._expires_at(now)}
        if address is not None:
            fields["address"] = address
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": value for i, value in enumerate(fields.values())}
        try:
            self.table.client.update_item(
                TableName=self.table.name,
                Key=serialize({"PK": session_pk(run_id), "SK": SESSION_SK}),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
                ConditionExpression="task_arn = :arn",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize({**values, ":arn": task_arn}),
            )
        except self.table.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def forget(self, run_id: str, task_arn: str) -> None:
        """Remove the run's session if it is still task_arn's (a newer task's record stays)."""
        try:
            self.table.client.delete_item(
                TableName=self.table.name,
                Key=serialize({"PK": session_pk(run_id), "SK": SESSION_SK}),
                ConditionExpression="task_arn = :arn",
                ExpressionAttributeValues=serialize({":arn": task_arn}),
            )
        except self.table.client.exceptions.ConditionalCheckFailedException:
            return

    @staticmethod
    def _expires_at(last_used: datetime) -> int:
        return int(last_used.timestamp()) + RECORD_TTL_S
