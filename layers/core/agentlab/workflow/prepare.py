"""The Prepare state: load the run and its pinned agent version, write the first message, mark the run running."""

from __future__ import annotations

from agentlab import metrics
from agentlab.llm.types import IMAGE_MEDIA_TYPES
from agentlab.models import TERMINAL_STATUSES
from agentlab.store.blobs import file_key
from agentlab.workflow.base import StepRef, load_run, step_output
from agentlab.workflow.conversation import prompt_text
from agentlab.workflow.deps import StepDeps


def prepare(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    run, _agent = load_run(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    if not deps.transcript.messages(ref.org_id, ref.run_id):
        files = [deps.files.get(ref.org_id, file_id) for file_id in run.file_ids]
        images = [
            {"s3_key": file_key(ref.org_id, f.id), "media_type": f.content_type}
            for f in files
            if f.content_type in IMAGE_MEDIA_TYPES
        ]
        deps.transcript.append(
            ref.org_id,
            ref.run_id,
            {"role": "user", "text": prompt_text(run, files), "images": images, "tool_calls": [], "tool_results": []},
        )
    if run.status == "queued":
        deps.runs.transition(ref.org_id, ref.run_id, "running")
        metrics.count("RunsStarted")
    return step_output(ref, "think")
