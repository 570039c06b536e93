"""S3 objects: uploads through presigned POST, artifacts, downloads through presigned GET."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from agentlab.aws import AwsClients

# Objects carrying this tag are removed by the data bucket's lifecycle rule a day after they are written
# (cdk/agentlab_cdk/data.py): org exports too large to answer inline are handed out through S3 and kept no longer.
EXPORT_EXPIRY_TAG = {"agentlab-expiry": "export"}


def file_key(org_id: str, file_id: str) -> str:
    return f"orgs/{org_id}/files/{file_id}"


def export_key(org_id: str, export_id: str) -> str:
    """Under the org's prefix, so deleting the org removes its exports with everything else."""
    return f"orgs/{org_id}/exports/{export_id}.json"


def artifact_key(org_id: str, run_id: str, artifact_id: str, name: str) -> str:
    return f"orgs/{org_id}/runs/{run_id}/artifacts/{artifact_id}/{name}"


class BlobStore:
    def __init__(self, clients: AwsClients, bucket: str, *, expiry_s: int = 900) -> None:
        self.clients = clients
        self.bucket = bucket
        self.expiry_s = expiry_s

    def presigned_upload(self, key: str, *, content_type: str, max_bytes: int) -> dict[str, Any]:
        """A presigned POST whose policy pins the key and content type and caps the size."""
        return self.clients.s3_presigner.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=self.expiry_s,
        )

    def presigned_download(self, key: str, *, filename: str, content_type: str, disposition: str = "inline") -> str:
        """A presigned GET; `disposition` is "attachment" for a file the browser should save rather than show."""
        return self.clients.s3_presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f'{disposition}; filename="{filename}"',
            },
            ExpiresIn=self.expiry_s,
        )

    def size(self, key: str) -> int | None:
        s3 = self.clients.s3
        try:
            return int(s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def read_head(self, key: str, length: int) -> bytes:
        body = self.clients.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{length - 1}")["Body"]
        return body.read()

    def read(self, key: str) -> bytes:
        return self.clients.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put(self, key: str, data: bytes, *, content_type: str, tags: Mapping[str, str] | None = None) -> None:
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": data, "ContentType": content_type}
        if tags:
            request["Tagging"] = urlencode(tags)
        self.clients.s3.put_object(**request)

    def delete(self, key: str) -> None:
        self.clients.s3.delete_object(Bucket=self.bucket, Key=key)
