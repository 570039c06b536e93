"""A run's conversation with the model, message by message, under the run's partition (MSG#<seq>).

Images are stored by reference (an S3 key and media type) and loaded when a model request is built. A message too
large for an item (a model may write a cell of hundreds of kilobytes) is kept whole in S3, and its item holds the
reference; reading the transcript brings it back, so the model always sees its own turns as it wrote them.
"""

from __future__ import annotations

import json
from typing import Any

from agentlab.errors import ConcurrentUpdate
from agentlab.ids import new_ulid
from agentlab.models import utc_now
from agentlab.store.blobs import BlobStore
from agentlab.store.invocation import recall, remember
from agentlab.store.table import Table, pause_before_retry

_MAX_APPEND_ATTEMPTS = 5
# Far below DynamoDB's 400 KB item limit, with room for the item's keys and attributes.
MESSAGE_INLINE_BYTES = 200_000
BODY_KEY = "body_key"


def message_body_key(org_id: str, run_id: str) -> str:
    return f"orgs/{org_id}/runs/{run_id}/transcript/{new_ulid()}.json"


def _known_last(org_id: str, run_id: str) -> tuple[str, ...]:
    return ("transcript", org_id, run_id)


class TranscriptStore:
    def __init__(self, table: Table, blobs: BlobStore | None = None) -> None:
        self.table = table
        self.blobs = blobs

    def messages(self, org_id: str, run_id: str) -> list[dict[str, Any]]:
        items = self.table.iterate(partition=("PK", f"ORG#{org_id}#RUN#{run_id}"), sort_prefix="MSG#")
        messages = [self._whole(item) for item in items]
        remember(_known_last(org_id, run_id), int(messages[-1]["seq"]) if messages else 0)
        return messages

    def _whole(self, item: dict[str, Any]) -> dict[str, Any]:
        key = item.get(BODY_KEY)
        if not key or self.blobs is None:
            return item
        body = json.loads(self.blobs.read(str(key)))
        return {**item, **body}

    def _fitted(self, org_id: str, run_id: str, message: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(message, default=str)
        if len(body.encode()) <= MESSAGE_INLINE_BYTES or self.blobs is None:
            return message
        key = message_body_key(org_id, run_id)
        self.blobs.put(key, body.encode(), content_type="application/json")
        return {"role": message["role"], BODY_KEY: key, "notice": message.get("notice")}

    def append(self, org_id: str, run_id: str, message: dict[str, Any]) -> int:
        message = self._fitted(org_id, run_id, message)
        for attempt in range(_MAX_APPEND_ATTEMPTS):
            # The last message this invocation read or wrote, first (agentlab/store/invocation.py).
            guess = recall(_known_last(org_id, run_id)) if attempt == 0 else None
            if guess is not None:
                seq = int(guess) + 1
            else:
                last = self.table.query(
                    partition=("PK", f"ORG#{org_id}#RUN#{run_id}"), sort_prefix="MSG#", limit=1, newest_first=True
                ).items
                seq = int(last[0]["seq"]) + 1 if last else 1
            try:
                self.table.put_new(
                    {
                        "PK": f"ORG#{org_id}#RUN#{run_id}",
                        "SK": f"MSG#{seq:06d}",
                        "entity": "message",
                        "seq": seq,
                        "created_at": utc_now().isoformat(),
                        **message,
                    }
                )
            except ConcurrentUpdate:
                if guess is None:
                    pause_before_retry(attempt)
                continue
            remember(_known_last(org_id, run_id), seq)
            return seq
        raise ConcurrentUpdate(f"could not append to the transcript of run {run_id}")

    def put_approval_token(self, org_id: str, run_id: str, token: str) -> None:
        self.table.client.put_item(
            TableName=self.table.name,
            Item={
                "PK": {"S": f"ORG#{org_id}#RUN#{run_id}"},
                "SK": {"S": "APPROVAL"},
                "entity": {"S": "approval"},
                "task_token": {"S": token},
            },
        )

    def take_approval_token(self, org_id: str, run_id: str) -> str | None:
        """Remove and return the pending approval's task token, so one decision resumes the run once."""
        response = self.table.client.delete_item(
            TableName=self.table.name,
            Key={"PK": {"S": f"ORG#{org_id}#RUN#{run_id}"}, "SK": {"S": "APPROVAL"}},
            ReturnValues="ALL_OLD",
        )
        old = response.get("Attributes")
        return old["task_token"]["S"] if old else None

    def put_goal_check(self, org_id: str, run_id: str, outcome: dict[str, Any]) -> None:
        """The outcome of the goal check of the pending `finish`, for the judge that follows it."""
        self.table.client.put_item(
            TableName=self.table.name,
            Item={
                "PK": {"S": f"ORG#{org_id}#RUN#{run_id}"},
                "SK": {"S": "GOALCHECK"},
                "entity": {"S": "goal_check"},
                "outcome": {"S": json.dumps(outcome)},
            },
        )

    def goal_check(self, org_id: str, run_id: str) -> dict[str, Any] | None:
        item = self.table.get(f"ORG#{org_id}#RUN#{run_id}", "GOALCHECK")
        return json.loads(item["outcome"]) if item else None
