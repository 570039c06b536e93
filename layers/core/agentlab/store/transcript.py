"""A run's conversation with the model, message by message, under the run's partition (MSG#<seq>).

Images are stored by reference (an S3 key and media type) and loaded when a model request is built.
"""

from __future__ import annotations

from typing import Any

from agentlab.errors import ConcurrentUpdate
from agentlab.models import utc_now
from agentlab.store.table import Table, pause_before_retry

_MAX_APPEND_ATTEMPTS = 5


class TranscriptStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def messages(self, org_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.table.iterate(partition=("PK", f"ORG#{org_id}#RUN#{run_id}"), sort_prefix="MSG#"))

    def append(self, org_id: str, run_id: str, message: dict[str, Any]) -> int:
        for attempt in range(_MAX_APPEND_ATTEMPTS):
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
                pause_before_retry(attempt)
                continue
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
