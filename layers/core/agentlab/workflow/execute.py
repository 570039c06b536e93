"""The Execute state: critique the cell (agentlab/workflow/critique.py), then run it (or a file tool) in the run's
sandbox session and hand the result back to the model. The step keeps bounded previews (the full output goes to
S3), the model sees a bounded head and tail, and a cell run by another kernel than the last one is told that the
earlier state is gone."""

from __future__ import annotations

import json
import mimetypes
from typing import TYPE_CHECKING, Any

from agentlab import metrics
from agentlab.ids import new_ulid
from agentlab.llm.types import IMAGE_MEDIA_TYPES, ToolCall
from agentlab.models import TERMINAL_STATUSES, Artifact, Run, utc_now
from agentlab.store.blobs import artifact_key
from agentlab.workflow.base import StepRef, calls_of_last_turn, load_run, reply, step_output
from agentlab.workflow.critique import critique_cell
from agentlab.workflow.outputs import Outputs, head_and_tail
from agentlab.workflow.sandbox_session import open_session

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps

KERNEL_DIED = "the kernel was restarted: variables from earlier cells are gone"
KERNEL_REPLACED = (
    "this cell ran in a new kernel (the sandbox was restarted or ended while idle): variables, imports and files "
    "written by earlier cells are gone; the run's input files are in place again"
)
MAX_LISTED_FILES_FOR_MODEL = 500


def store_artifacts(deps: StepDeps, run: Run, session: Any, files: list[Any], step_seq: int) -> list[dict[str, Any]]:
    stored = []
    for workspace_file in files:
        data = session.read_file(workspace_file.path)
        artifact = Artifact(
            id=new_ulid(),
            run_id=run.id,
            org_id=run.org_id,
            name=workspace_file.path,
            content_type=workspace_file.content_type
            or mimetypes.guess_type(workspace_file.path)[0]
            or "application/octet-stream",
            size=len(data),
            sha256=workspace_file.sha256,
            step_seq=step_seq,
            created_at=utc_now(),
        )
        deps.blobs.put(
            artifact_key(run.org_id, run.id, artifact.id, artifact.name), data, content_type=artifact.content_type
        )
        deps.runs.add_artifact(artifact)
        stored.append(
            {"id": artifact.id, "name": artifact.name, "content_type": artifact.content_type, "size": artifact.size}
        )
    return stored


def execute(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    run, agent = load_run(deps, ref)
    if run.status in TERMINAL_STATUSES:
        return step_output(ref, "end")
    messages = deps.transcript.messages(ref.org_id, ref.run_id)
    calls = calls_of_last_turn(messages)
    call = calls[0]
    if call.name == "python" and agent.critic.mode != "off" and not critique_cell(deps, ref, agent, messages, calls):
        return step_output(ref, "think")
    session = open_session(deps, run, agent)
    limit_chars = deps.settings.max_tool_output_chars
    if call.name == "list_files":
        return _list_files(deps, ref, session, calls, limit_chars)
    if call.name == "read_file":
        return _read_file(deps, ref, run, session, calls, limit_chars)
    code = str(call.arguments.get("code", ""))
    result = session.execute(code)
    metrics.record("SandboxSeconds", result.duration_ms / 1000)
    # The kernel of the last cell is gone when this one ran elsewhere (the session was reaped while the run waited,
    # or its task was replaced); a kernel that died during this cell says so itself.
    replaced = bool(run.kernel_id and result.kernel_id and result.kernel_id != run.kernel_id)
    replaced = replaced and not result.kernel_restarted
    artifacts = store_artifacts(deps, run, session, result.files, run.step_count + 1)
    outputs = Outputs(deps.blobs, ref.org_id, ref.run_id)
    detail = {
        "tool": "python",
        "code": outputs.text("code", code),
        "stdout": outputs.text("stdout", result.stdout),
        "stderr": outputs.text("stderr", result.stderr),
        "exit_code": result.exit_code,
        "limit": result.limit,
        "artifacts": artifacts,
        "kernel_restarted": result.kernel_restarted,
        "kernel_replaced": replaced,
        "kernel_id": result.kernel_id,
        "isolation": session.isolation,
        "critic": agent.critic.mode,
    }
    if call.arguments.get("task"):
        detail["task"] = outputs.text("task", str(call.arguments["task"]))

    def remember_kernel(current: Run) -> None:
        # After a kernel died its successor is new by definition: nothing to tell at the next cell.
        current.kernel_id = None if result.kernel_restarted else (result.kernel_id or None)

    deps.runs.append_step(
        ref.org_id,
        ref.run_id,
        "execute",
        duration_ms=result.duration_ms,
        sandbox_s=round(result.duration_ms / 1000, 3),
        detail=detail,
        full_output=outputs.refs,
        update_run=remember_kernel,
    )
    parts = [f"exit_code: {result.exit_code}"]
    if replaced:
        parts.append(KERNEL_REPLACED)
    if result.limit:
        parts.append(f"limit hit: {result.limit}")
    if result.kernel_restarted:
        parts.append(KERNEL_DIED)
    if result.stdout:
        parts.append("stdout:\n" + head_and_tail(result.stdout, limit_chars))
    if result.stderr:
        parts.append("stderr:\n" + head_and_tail(result.stderr, limit_chars))
    if artifacts:
        parts.append("files written: " + ", ".join(a["name"] for a in artifacts))
    reply(deps.transcript, ref, calls, "\n".join(parts), is_error=result.exit_code != 0)
    return step_output(ref, "think")


def _list_files(deps: StepDeps, ref: StepRef, session: Any, calls: list[ToolCall], limit_chars: int) -> dict[str, str]:
    listing = [f.model_dump(mode="json") for f in session.list_files()]
    deps.runs.append_step(
        ref.org_id,
        ref.run_id,
        "execute",
        detail={"tool": "list_files", "files": listing[:MAX_LISTED_FILES_FOR_MODEL], "files_total": len(listing)},
    )
    reply(deps.transcript, ref, calls, head_and_tail(json.dumps(listing), limit_chars))
    return step_output(ref, "think")


def _read_file(
    deps: StepDeps, ref: StepRef, run: Run, session: Any, calls: list[ToolCall], limit_chars: int
) -> dict[str, str]:
    path = str(calls[0].arguments.get("path", ""))
    try:
        data = session.read_file(path)
    except (ValueError, FileNotFoundError, OSError) as exc:
        deps.runs.append_step(
            ref.org_id, ref.run_id, "execute", detail={"tool": "read_file", "path": path, "error": str(exc)}
        )
        reply(deps.transcript, ref, calls, f"cannot read {path}: {exc}", is_error=True)
        return step_output(ref, "think")
    media_type = mimetypes.guess_type(path)[0] or ""
    deps.runs.append_step(
        ref.org_id, ref.run_id, "execute", detail={"tool": "read_file", "path": path, "size": len(data)}
    )
    if media_type in IMAGE_MEDIA_TYPES:
        key = f"orgs/{run.org_id}/runs/{run.id}/reads/{new_ulid()}"
        deps.blobs.put(key, data, content_type=media_type)
        reply(
            deps.transcript,
            ref,
            calls,
            f"{path}: image ({len(data)} bytes) attached",
            images=[{"s3_key": key, "media_type": media_type}],
        )
    else:
        reply(deps.transcript, ref, calls, head_and_tail(data.decode("utf-8", errors="replace"), limit_chars))
    return step_output(ref, "think")
