"""The Discover state: after a baseline that succeeded, the checked-out tree is scanned on the trusted side (read
only: nothing of it runs here) for performance opportunities; each one a template can rewrite becomes a candidate
patch that meets the hard constraints, ranked by its impact, its risk and the share of the benchmark's time its file
took (the baseline's profile). candidates.json keeps every candidate with its diff and every finding that is not one
with the reason. Validating the candidates (an A/B in the sandbox) comes after this state; until it exists the run
ends here, and its result says that nothing was validated."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from agentlab.models import Run
from agentlab.repo_optimize.checkout_step import checked_out_run, checked_out_tree, repo_settings
from agentlab.repo_optimize.outputs import (
    CANDIDATES_ARTIFACT,
    add_artifact,
    baseline_key,
    profile_key,
    read_json,
)
from agentlab.workflow.base import StepRef, step_output

if TYPE_CHECKING:
    from agentlab.workflow.deps import StepDeps

TOP_IN_STEP = 10


def discover(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    import json

    from agentlab.repo_optimize.discover import discover_static

    run, answer = checked_out_run(deps, ref)
    if answer is not None:
        return answer
    assert run is not None
    settings = repo_settings(deps)
    started = time.monotonic()
    profile = read_json(deps.blobs, profile_key(ref.org_id, ref.run_id)) or {}
    hot_files = {str(name): float(share) for name, share in (profile.get("files") or {}).items()}
    with checked_out_tree(deps, ref, settings) as tree:
        found = discover_static(tree, max_candidates=settings.repo_max_candidates, hot_files=hot_files or None)
    document = found.model_dump(mode="json")
    add_artifact(
        deps.blobs,
        deps.runs,
        ref.org_id,
        ref.run_id,
        CANDIDATES_ARTIFACT,
        json.dumps(document, indent=1, sort_keys=True).encode(),
    )
    left_to_model = sum(1 for rejection in found.rejections if rejection.template is None)
    deps.runs.append_step(
        ref.org_id,
        ref.run_id,
        "discover",
        duration_ms=round((time.monotonic() - started) * 1000),
        detail={
            "scanned_files": found.scanned_files,
            "opportunities": found.opportunities,
            "candidates": len(found.candidates),
            "rejected": len(found.rejections),
            "left_to_model_discovery": left_to_model,
            "profiled": bool(hot_files),
            "top": [
                {
                    "id": candidate.id,
                    "type": candidate.opportunity.type,
                    "file": candidate.opportunity.file,
                    "line": candidate.opportunity.start_line,
                    "template": candidate.patch.template,
                    "rank": round(candidate.rank, 3),
                }
                for candidate in found.candidates[:TOP_IN_STEP]
            ],
        },
    )
    baseline = read_json(deps.blobs, baseline_key(ref.org_id, ref.run_id)) or {}
    deps.runs.transition(ref.org_id, ref.run_id, "succeeded", result=_result(run, baseline, len(found.candidates)))
    return step_output(ref, "end")


def _result(run: Run, baseline: dict[str, object], candidates: int) -> str:
    from agentlab.models.repo import Baseline

    measured = Baseline.model_validate(baseline).summary_line() if baseline else "baseline written"
    return f"{measured}; {candidates} candidate patches found (not validated yet)"
