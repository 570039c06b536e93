"""Discover's static half: the scan's opportunities turned into template patches that keep the hard constraints.

Every opportunity ends up in exactly one place: a candidate, or a rejection that says at which gate it stopped and
why, so a run's record explains each finding. Opportunities without a template are rejected here only in the sense
that this half cannot write their patch; model discovery picks them up later.

Candidates are ranked by what a fix is expected to gain over what it risks, raised for files where the profiler saw
the time go, and cut to the run's budget, because each candidate costs a sandbox validation. The order is
deterministic (rank, then file, then line, then id), so the same commit gives the same candidates in the same order.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from agentlab.repo_optimize.patches import Patch, TemplateNotApplicable, apply_template, check_patch
from agentlab.repo_optimize.scan import Opportunity, scan_repository
from agentlab.repo_optimize.scan.scanner import source_files

DEFAULT_MAX_CANDIDATES = 20
IMPACT_WEIGHTS: dict[str, float] = {"high": 3.0, "medium": 2.0, "low": 1.0}
RISK_WEIGHTS: dict[str, float] = {"low": 1.0, "medium": 2.0, "high": 3.0}
# A file holding the whole profile's time makes its candidates five times as attractive as an unprofiled one.
HOT_FILE_FACTOR = 4.0
NO_TEMPLATE_REASON = "no template; left to model discovery"
OVER_BUDGET_REASON = "over the run's candidate budget"
DUPLICATE_REASON = "the same patch as candidate"
_CANDIDATE_ID_LENGTH = 12

Gate = Literal["template", "constraints"]


class Candidate(BaseModel):
    """A patch worth validating: the opportunity it fixes, the patch, who wrote it, and its place in the queue."""

    id: str
    opportunity: Opportunity
    patch: Patch
    source: Literal["template", "model"]
    rank: float


class Rejection(BaseModel):
    """An opportunity that did not become a candidate, with the gate it stopped at and the reason in words."""

    opportunity_id: str
    template: str | None
    gate: Gate
    reason: str


class StaticDiscovery(BaseModel):
    """What the static half found: ranked candidates, every rejection, and how much of the repository it read.

    `scanned_files` counts the source files the scan walked to (tests, dependencies and build output left out).
    """

    candidates: list[Candidate]
    rejections: list[Rejection]
    scanned_files: int
    opportunities: int


def candidate_id(diff: str) -> str:
    """A patch's id, from its diff alone: the same change found twice is one candidate."""
    return hashlib.sha1(diff.encode(), usedforsecurity=False).hexdigest()[:_CANDIDATE_ID_LENGTH]


def candidate_rank(opportunity: Opportunity, hot_files: dict[str, float] | None = None) -> float:
    """Expected impact over risk, times (1 + 4 * the file's share of profile time) when a profile is at hand.

    A share outside 0..1 (a profiler's rounding, a bad input) is clamped, so it can neither sink nor run away.
    """
    base = IMPACT_WEIGHTS[opportunity.expected_impact] / RISK_WEIGHTS[opportunity.risk]
    share = (hot_files or {}).get(opportunity.file, 0.0)
    return base * (1.0 + HOT_FILE_FACTOR * min(max(share, 0.0), 1.0))


def discover_static(
    root: Path, *, max_candidates: int = DEFAULT_MAX_CANDIDATES, hot_files: dict[str, float] | None = None
) -> StaticDiscovery:
    """Scan the checked-out repository at root, write a template patch per opportunity and keep those that pass.

    Nothing in the tree is written. `hot_files` maps a repository-relative path to its share (0..1) of the
    profile's time; `max_candidates` is the run's budget, and the candidates past it are rejected as such. Limits of
    the run rather than of the patch (the budget, a duplicate diff) are reported at the "constraints" gate.
    """
    opportunities = scan_repository(root)
    rejections: list[Rejection] = []
    by_id: dict[str, Candidate] = {}
    duplicates: list[Candidate] = []
    for opportunity in opportunities:
        if opportunity.template is None:
            rejections.append(_rejection(opportunity, "template", NO_TEMPLATE_REASON))
            continue
        try:
            patch = apply_template(
                opportunity.template, root, opportunity.file, opportunity.start_line, opportunity.end_line
            )
        except TemplateNotApplicable as exc:
            rejections.append(_rejection(opportunity, "template", str(exc)))
            continue
        violations = check_patch(patch.diff, root=root)
        if violations:
            rejections.append(_rejection(opportunity, "constraints", " ".join(violations)))
            continue
        candidate = Candidate(
            id=candidate_id(patch.diff),
            opportunity=opportunity,
            patch=patch,
            source="template",
            rank=candidate_rank(opportunity, hot_files),
        )
        # Two findings fixed by the same diff (two calls of one memoized function) are validated once; the better
        # ranked finding speaks for it and the other is recorded as its duplicate.
        kept = by_id.get(candidate.id)
        if kept is not None and _order_key(kept) <= _order_key(candidate):
            duplicates.append(candidate)
            continue
        if kept is not None:
            duplicates.append(kept)
        by_id[candidate.id] = candidate
    for duplicate in duplicates:
        reason = f"{DUPLICATE_REASON} {duplicate.id}, kept for another finding"
        rejections.append(_rejection(duplicate.opportunity, "constraints", reason))
    ranked = sorted(by_id.values(), key=_order_key)
    budget = max(max_candidates, 0)
    for candidate in ranked[budget:]:
        rejections.append(_rejection(candidate.opportunity, "constraints", OVER_BUDGET_REASON))
    return StaticDiscovery(
        candidates=ranked[:budget],
        rejections=rejections,
        scanned_files=len(source_files(root.resolve())),
        opportunities=len(opportunities),
    )


def _order_key(candidate: Candidate) -> tuple[float, str, int, str]:
    """Higher rank first, then file and line so that equal ranks read top to bottom, then id to break the last tie."""
    opportunity = candidate.opportunity
    return (-candidate.rank, opportunity.file, opportunity.start_line, candidate.id)


def _rejection(opportunity: Opportunity, gate: Gate, reason: str) -> Rejection:
    return Rejection(opportunity_id=opportunity.id, template=opportunity.template, gate=gate, reason=reason)
