from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, create_model

from agentlab.models.common import StrictInput

FileStatus = Literal["pending", "ready", "rejected"]
ACCEPTED_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "text/csv", "text/plain", "application/json")


class FileCreate(StrictInput):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f]+$")]
    content_type: Literal[
        "image/png", "image/jpeg", "image/webp", "image/gif", "text/csv", "text/plain", "application/json"
    ]
    size: int = Field(gt=0)


@cache
def file_create_with_cap(max_bytes: int) -> type[FileCreate]:
    """FileCreate whose `size` may not exceed a deployment's upload cap: the document states the cap, and a larger
    declared size is refused like any other value out of bounds."""
    return create_model("FileCreate", __base__=FileCreate, __module__=__name__, size=(int, Field(gt=0, le=max_bytes)))


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
