"""Links to the full texts behind previews: the API signs a short-lived GET for each `OutputRef` it returns."""

from __future__ import annotations

from pathlib import PurePosixPath

from agentlab.models import OutputRef, Run, Step
from agentlab.store.blobs import BlobStore
from agentlab.workflow.outputs import JSON_CONTENT_TYPE, TEXT_CONTENT_TYPE


def _sign(blobs: BlobStore, ref: OutputRef, *, org_id: str, run_id: str, name: str) -> None:
    # Stored records name their own keys; a key outside the run's prefix is never signed, whatever wrote it.
    if not ref.key.startswith(f"orgs/{org_id}/runs/{run_id}/"):
        ref.url = None
        return
    suffix = PurePosixPath(ref.key).suffix or ".txt"
    content_type = JSON_CONTENT_TYPE if suffix == ".json" else TEXT_CONTENT_TYPE
    ref.url = blobs.presigned_download(ref.key, filename=f"{name}{suffix}", content_type=content_type)


def sign_step_outputs(blobs: BlobStore, org_id: str, step: Step) -> Step:
    """The step with a download URL on each full output (`step-<seq>-<field>.txt`, or `.json` for tool calls)."""
    for field, ref in step.full_output.items():
        _sign(blobs, ref, org_id=org_id, run_id=step.run_id, name=f"step-{step.seq}-{field}")
    return step


def sign_run_output(blobs: BlobStore, run: Run) -> Run:
    """The run with a download URL on its full result, when its result is a preview."""
    if run.result_full is not None:
        _sign(blobs, run.result_full, org_id=run.org_id, run_id=run.id, name=f"run-{run.id}-result")
    return run
