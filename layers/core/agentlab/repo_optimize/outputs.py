"""Where a repo run keeps what it made: the checkout's tarball, the baseline in progress and as written, the phases'
full logs, and the run's artifacts (baseline.json, logs.txt, trace.json) shown with any run's artifacts."""

from __future__ import annotations

import hashlib
import json
import mimetypes
from typing import Any

from agentlab.ids import new_ulid
from agentlab.models import Artifact, utc_now
from agentlab.store.blobs import BlobStore, artifact_key
from agentlab.store.runs import RunStore

BASELINE_ARTIFACT = "baseline.json"
LOGS_ARTIFACT = "logs.txt"
TRACE_ARTIFACT = "trace.json"
PROFILE_ARTIFACT = "profile.json"
CANDIDATES_ARTIFACT = "candidates.json"


def repo_run_key(org_id: str, run_id: str, name: str) -> str:
    return f"orgs/{org_id}/runs/{run_id}/repo/{name}"


def source_key(org_id: str, run_id: str) -> str:
    return repo_run_key(org_id, run_id, "source.tar.gz")


def baseline_key(org_id: str, run_id: str) -> str:
    return repo_run_key(org_id, run_id, BASELINE_ARTIFACT)


def profile_key(org_id: str, run_id: str) -> str:
    return repo_run_key(org_id, run_id, PROFILE_ARTIFACT)


def progress_key(org_id: str, run_id: str) -> str:
    return repo_run_key(org_id, run_id, "progress.json")


def log_key(org_id: str, run_id: str, log_name: str) -> str:
    return repo_run_key(org_id, run_id, f"logs/{log_name}")


def put_json(blobs: BlobStore, key: str, value: Any) -> None:
    blobs.put(key, json.dumps(value, indent=1, sort_keys=True).encode(), content_type="application/json")


def read_json(blobs: BlobStore, key: str) -> Any | None:
    if blobs.size(key) is None:
        return None
    return json.loads(blobs.read(key))


def add_artifact(blobs: BlobStore, runs: RunStore, org_id: str, run_id: str, name: str, data: bytes) -> Artifact:
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    artifact = Artifact(
        id=new_ulid(),
        run_id=run_id,
        org_id=org_id,
        name=name,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        created_at=utc_now(),
    )
    blobs.put(artifact_key(org_id, run_id, artifact.id, name), data, content_type=content_type)
    runs.add_artifact(artifact)
    return artifact
