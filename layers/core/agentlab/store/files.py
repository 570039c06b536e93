"""Uploaded input files: a record per file, the bytes in S3 under the org's prefix."""

from __future__ import annotations

from agentlab.errors import NotFound
from agentlab.models import FileRecord
from agentlab.store.table import Table, entity_fields


class FileStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create(self, record: FileRecord) -> None:
        self.table.put_new(
            {
                "PK": f"ORG#{record.org_id}",
                "SK": f"FILE#{record.id}",
                "entity": "file",
                "revision": 1,
                **record.model_dump(mode="json"),
            }
        )

    def get(self, org_id: str, file_id: str) -> FileRecord:
        item = self.table.get(f"ORG#{org_id}", f"FILE#{file_id}")
        if not item:
            raise NotFound(f"file {file_id} not found")
        return FileRecord.model_validate(entity_fields(item))

    def replace(self, record: FileRecord, *, expected_revision: int) -> None:
        self.table.put_if_revision(
            {
                "PK": f"ORG#{record.org_id}",
                "SK": f"FILE#{record.id}",
                "entity": "file",
                "revision": expected_revision + 1,
                **record.model_dump(mode="json"),
            },
            attribute="revision",
            expected=expected_revision,
        )

    def revision(self, org_id: str, file_id: str) -> int:
        item = self.table.get(f"ORG#{org_id}", f"FILE#{file_id}")
        if not item:
            raise NotFound(f"file {file_id} not found")
        return int(item.get("revision", 1))
