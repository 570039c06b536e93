"""Local data survives a restart: the table and the bucket are written under `.agentlab/` and read back on start.

Writes are atomic (temporary file, then rename), so a process killed mid-snapshot leaves the previous one intact.
S3 objects are written incrementally: only objects whose ETag changed are rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class Snapshotter:
    def __init__(
        self,
        clients: Any,
        *,
        table_name: str,
        bucket_name: str,
        directory: Path,
        on_save: Callable[[], None] | None = None,
    ) -> None:
        self.clients = clients
        self.on_save = on_save
        self.table_name = table_name
        self.bucket_name = bucket_name
        self.directory = directory
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def _table_file(self) -> Path:
        return self.directory / "table.jsonl"

    @property
    def _manifest_file(self) -> Path:
        return self.directory / "objects.json"

    def _object_path(self, key: str) -> Path:
        return self.directory / "objects" / hashlib.sha256(key.encode()).hexdigest()

    def save(self) -> None:
        with self._lock:
            lines: list[str] = []
            paginator = self.clients.dynamodb.get_paginator("scan")
            for page in paginator.paginate(TableName=self.table_name, ConsistentRead=True):
                lines.extend(json.dumps(item, sort_keys=True) for item in page.get("Items", []))
            _atomic_write(self._table_file, ("\n".join(lines) + "\n").encode() if lines else b"")
            previous = self._read_manifest()
            manifest: dict[str, dict[str, str]] = {}
            s3 = self.clients.s3
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket_name):
                for obj in page.get("Contents", []):
                    key, etag = obj["Key"], obj["ETag"]
                    known = previous.get(key)
                    if known and known["etag"] == etag and self._object_path(key).exists():
                        manifest[key] = known
                        continue
                    response = s3.get_object(Bucket=self.bucket_name, Key=key)
                    _atomic_write(self._object_path(key), response["Body"].read())
                    manifest[key] = {"etag": etag, "content_type": response.get("ContentType", "")}
            _atomic_write(self._manifest_file, json.dumps(manifest).encode())
            for key in previous.keys() - manifest.keys():
                self._object_path(key).unlink(missing_ok=True)
            if self.on_save is not None:
                self.on_save()

    def _read_manifest(self) -> dict[str, dict[str, str]]:
        if not self._manifest_file.exists():
            return {}
        return json.loads(self._manifest_file.read_text())

    def restore(self) -> int:
        """Load the last snapshot, if any; returns how many items were restored."""
        count = 0
        if self._table_file.exists():
            client = self.clients.dynamodb
            for line in self._table_file.read_text().splitlines():
                if line.strip():
                    client.put_item(TableName=self.table_name, Item=json.loads(line))
                    count += 1
        for key, meta in self._read_manifest().items():
            path = self._object_path(key)
            if path.exists():
                extra = {"ContentType": meta["content_type"]} if meta.get("content_type") else {}
                self.clients.s3.put_object(Bucket=self.bucket_name, Key=key, Body=path.read_bytes(), **extra)
        return count

    def start(self, interval_s: float) -> None:
        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.save()
                except Exception as exc:  # a failed periodic snapshot must not stop the next one
                    print(f"snapshot failed: {type(exc).__name__}: {exc}", flush=True)

        self._thread = threading.Thread(target=loop, name="snapshot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.save()
