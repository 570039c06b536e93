"""The warm pool of sandbox tasks: one item per task started ahead of any run (agentlab.sandbox.pool).

PK `SANDBOX_POOL`, SK `TASK#<label>`, where the label is the task's `startedBy` and the id it answers its health
probe with. While the task is unclaimed the item holds the bearer token the task answers to (the task knows only its
SHA-256). A claim is one conditional update: it sets `claimed_by` only where nobody has, removes the token in the
same write and returns the item as it was, so the token reaches exactly one run; a second claim of the same task
fails its condition. The claimed item stays as the map from the task to its run (the janitor reads it to tell whose
task it is) until the task stops; `expires_at` (the table's TTL) removes what nobody dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from agentlab.models import utc_now
from agentlab.store.table import Table, deserialize, entity_fields, serialize

# A pool task's `startedBy` (a run's task carries its run id, a ULID, which never starts so).
POOL_LABEL_PREFIX = "pool-"


def is_pool_label(started_by: str) -> bool:
    return started_by.startswith(POOL_LABEL_PREFIX)


POOL_PK = "SANDBOX_POOL"
TASK_SK_PREFIX = "TASK#"
UNCLAIMED_TTL_S = 86_400  # a warm task is stopped long before: the janitor keeps the pool younger than its max age
CLAIMED_TTL_S = 2 * 86_400  # as long as a run's session record lives unused
# Every field but the token: listing the pool never hands a token out.
LISTED_FIELDS = ("PK", "SK", "label", "task_arn", "limits", "started_at", "claimed_by", "claimed_at")


def pool_sk(label: str) -> str:
    return f"{TASK_SK_PREFIX}{label}"


class PoolTaskRecord(BaseModel):
    label: str
    task_arn: str
    # The task's limits as JSON (agentlab.sandbox.models.SandboxLimits): only a run with the same limits claims it.
    limits: str
    started_at: datetime
    token: str | None = None  # until the task is claimed; never listed
    claimed_by: str | None = None
    claimed_at: datetime | None = None

    @property
    def claimed(self) -> bool:
        return self.claimed_by is not None


class SandboxPoolStore:
    def __init__(self, table: Table, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.table = table
        self._clock = clock

    def add(self, record: PoolTaskRecord) -> None:
        """Record a warm task just started; raises ConcurrentUpdate if its label is taken (labels are random)."""
        self.table.put_new(
            {
                "PK": POOL_PK,
                "SK": pool_sk(record.label),
                "entity": "sandbox_pool_task",
                **record.model_dump(mode="json", exclude_none=True),
                "expires_at": int(record.started_at.timestamp()) + UNCLAIMED_TTL_S,
            }
        )

    def get(self, label: str) -> PoolTaskRecord | None:
        """A pool task by label, without its token."""
        item = self.table.get(POOL_PK, pool_sk(label))
        if item is None:
            return None
        item.pop("token", None)
        return PoolTaskRecord.model_validate(entity_fields(item))

    def list(self) -> list[PoolTaskRecord]:
        """Every pool task, claimed or not, oldest first, without tokens."""
        client = self.table.client
        names = {f"#p{i}": name for i, name in enumerate(LISTED_FIELDS)}
        request: dict[str, Any] = {
            "TableName": self.table.name,
            "KeyConditionExpression": "#p0 = :pk AND begins_with(#p1, :prefix)",
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize({":pk": POOL_PK, ":prefix": TASK_SK_PREFIX}),
            "ConsistentRead": True,
        }
        records: list[PoolTaskRecord] = []
        while True:
            response = client.query(**request)
            records += [PoolTaskRecord.model_validate(entity_fields(deserialize(raw))) for raw in response["Items"]]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(records, key=lambda record: record.started_at)

    def claim(self, label: str, run_id: str) -> PoolTaskRecord | None:
        """Give the task to run_id if nobody has it yet: the record with its token, or None when another claim (or a
        drop) got there first. The token leaves the table in the same write."""
        now = self._clock()
        client = self.table.client
        try:
            response = client.update_item(
                TableName=self.table.name,
                Key=serialize({"PK": POOL_PK, "SK": pool_sk(label)}),
                UpdateExpression="SET claimed_by = :run, claimed_at = :now, expires_at = :ttl REMOVE #token",
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(claimed_by)",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues=serialize(
                    {":run": run_id, ":now": now.isoformat(), ":ttl": int(now.timestamp()) + CLAIMED_TTL_S}
                ),
                ReturnValues="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        old = entity_fields(deserialize(response["Attributes"]))
        return PoolTaskRecord.model_validate({**old, "claimed_by": run_id, "claimed_at": now})

    def drop(self, label: str, task_arn: str) -> None:
        """Remove a pool task's record if it is still task_arn's (the task stopped, or is being stopped)."""
        client = self.table.client
        try:
            client.delete_item(
                TableName=self.table.name,
                Key=serialize({"PK": POOL_PK, "SK": pool_sk(label)}),
                ConditionExpression="task_arn = :arn",
                ExpressionAttributeValues=serialize({":arn": task_arn}),
            )
        except client.exceptions.ConditionalCheckFailedException:
            return
