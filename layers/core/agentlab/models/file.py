from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

FileStatus = Literal["pending", "ready", "rejected"]
ACCEPTED_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "text/csv", "text/plain", "application/json")


class FileCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f]+$")]
    content_type: Literal[
        "image/png", "image/jpeg", "image/webp", "image/gif", "text/csv", "text/plain", "application/json"
    ]
    size: int = Field(gt=0)


class FileRecord(BaseModel):
    id: str
    org_id: str
    name: str
    content_type: str
    size: int
    status: FileStatus
    created_at: datetime
    error: str | None = None


class FileUpload(BaseModel):
    url: str
    fields: dict[str, Any]
    expires_in_s: int


class FileCreated(BaseModel):
    file: FileRecord
    upload: FileUpload
