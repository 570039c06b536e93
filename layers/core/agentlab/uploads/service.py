from __future__ import annotations

from agentlab.errors import Conflict, PayloadTooLarge, Unprocessable
from agentlab.ids import new_ulid
from agentlab.models import Caller, FileCreate, FileRecord, utc_now
from agentlab.models.file import FileCreated, FileUpload
from agentlab.store.blobs import BlobStore, file_key
from agentlab.store.files import FileStore
from agentlab.uploads.sniff import Rejected, image_type, sniff_content_type

_IMAGE_HEAD_BYTES = 64


def create_upload(
    caller: Caller, body: FileCreate, *, files: FileStore, blobs: BlobStore, max_bytes: int
) -> FileCreated:
    if body.size > max_bytes:
        raise PayloadTooLarge(f"files are limited to {max_bytes} bytes; this one declares {body.size}")
    record = FileRecord(
        id=new_ulid(),
        org_id=caller.org_id,
        name=body.name,
        content_type=body.content_type,
        size=body.size,
        status="pending",
        created_at=utc_now(),
    )
    files.create(record)
    post = blobs.presigned_upload(
        file_key(caller.org_id, record.id), content_type=body.content_type, max_bytes=max_bytes
    )
    return FileCreated(
        file=record, upload=FileUpload(url=post["url"], fields=post["fields"], expires_in_s=blobs.expiry_s)
    )


def complete_upload(caller: Caller, file_id: str, *, files: FileStore, blobs: BlobStore, max_bytes: int) -> FileRecord:
    """Check what was uploaded. Anything not accepted is deleted and the record says why."""
    record = files.get(caller.org_id, file_id)
    if record.status != "pending":
        if record.status == "ready":
            return record
        raise Conflict(f"file {file_id} was rejected: {record.error}", code="file_rejected")
    revision = files.revision(caller.org_id, file_id)
    key = file_key(caller.org_id, file_id)
    size = blobs.size(key)
    if size is None:
        raise Conflict("nothing has been uploaded for this file yet", code="upload_missing")
    try:
        if size > max_bytes:
            raise Rejected(f"the file is {size} bytes; the limit is {max_bytes}")
        if size == 0:
            raise Rejected("the file is empty")
        head = blobs.read_head(key, _IMAGE_HEAD_BYTES)
        # An image is known from its header; anything else is read whole (within the size cap) to be validated.
        data = head if image_type(head) else blobs.read(key)
        detected = sniff_content_type(data, record.content_type)
    except Rejected as exc:
        blobs.delete(key)
        rejected = record.model_copy(update={"status": "rejected", "error": str(exc), "size": size})
        files.replace(rejected, expected_revision=revision)
        raise Unprocessable(f"{record.name}: {exc}", code="unsupported_file_type") from exc
    ready = record.model_copy(update={"status": "ready", "content_type": detected, "size": size})
    files.replace(ready, expected_revision=revision)
    return ready
