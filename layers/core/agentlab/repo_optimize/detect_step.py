"""The Detect state: read the checked-out tree (unpacked into a private temporary folder on the trusted side, and
only read: nothing of it runs here) and record what it says about installing, building, testing and benchmarking
the repository. A person's overrides in the repository's config win over the detection when the baseline runs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from agentlab.models.common import utc_now
from agentlab.models.repo import detection_from
from agentlab.repo_optimize.checkout_step import checked_out_run, checked_out_tree, repo_settings
from agentlab.store.repos import RepoStore
from agentlab.workflow.base import StepRef, fail_run, step_output

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps


def detect(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    from agentlab.repo_optimize.detect import detect_repository

    run, answer = checked_out_run(deps, ref)
    if answer is not None:
        return answer
    assert run is not None and run.repo is not None and run.repo.commit_sha is not None
    settings = repo_settings(deps)
    started = time.monotonic()
    with checked_out_tree(deps, ref, settings) as tree:
        found = detect_repository(tree)
    detection = detection_from(found, run.repo.commit_sha, utc_now())
    repos = RepoStore(deps.runs.table, deps.clients)
    if repos.find(ref.org_id, run.repo.repo_id) is None:
        return fail_run(deps, ref, "repo_not_found", "the repository was disconnected during its run")
    config = repos.record_detection(ref.org_id, run.repo.repo_id, detection)
    effective = config.effective_commands()
    deps.runs.append_step(
        ref.org_id,
        ref.run_id,
        "detect",
        duration_ms=round((time.monotonic() - started) * 1000),
        detail={
            "language": detection.language,
            "package_manager": detection.package_manager,
            "framework": detection.framework,
            "commands": {
                name: {
                    "command": command.command,
                    "origin": command.origin,
                    "confidence": command.confidence,
                    "needs_confirmation": command.needs_confirmation,
                }
                for name, command in effective.items()
            },
            "notes": detection.notes[:50],
        },
    )
    return step_output(ref, "baseline")
