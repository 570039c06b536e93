"""Discover's static half: scan → template → hard constraints, ranked, de-duplicated and cut to the budget."""

from __future__ import annotations

import ast
import hashlib
import shutil
from pathlib import Path

import pytest

from agentlab.repo_optimize.discover import (
    NO_TEMPLATE_REASON,
    OVER_BUDGET_REASON,
    Candidate,
    StaticDiscovery,
    candidate_rank,
    discover_static,
)
from agentlab.repo_optimize.patches import apply_diff
from agentlab.repo_optimize.patches.models import Language
from agentlab.repo_optimize.patches.templates_js import language_for_path, parse_javascript
from agentlab.repo_optimize.scan import Opportunity, scan_repository

SCAN_FIXTURES = Path(__file__).parent / "scan_fixtures"
PURE_TWICE = (
    "def slow_square(n: int) -> int:\n"
    "    return sum(n for _ in range(n))\n"
    "\n"
    "\n"
    "def use(items: list[int]) -> list[int]:\n"
    "    out = []\n"
    "    for item in items:\n"
    "        out.append(item + slow_square(20))\n"
    "        out.append(item - slow_square(30))\n"
    "    return out\n"
)
MEMBERSHIP = (
    "def count(xs):\n    n = 0\n    for x in xs:\n        if x in [1, 2, 3]:\n            n += 1\n    return n\n"
)


@pytest.fixture
def fixtures_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(SCAN_FIXTURES, root)
    return root


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _parses(path: Path) -> bool:
    language = language_for_path(path.name)
    text = path.read_text(encoding="utf-8")
    if language is Language.PYTHON:
        ast.parse(text)
        return True
    assert language is not None
    return not parse_javascript(text.encode(), language).has_error


def _opportunity(**changes: object) -> Opportunity:
    fields: dict[str, object] = {
        "id": "o1",
        "type": "list-membership-in-loop",
        "language": "python",
        "file": "a.py",
        "start_line": 1,
        "end_line": 1,
        "rationale": "r",
        "risk": "low",
        "expected_impact": "low",
        "snippet": "x",
        "template": "list-to-set-membership",
    }
    return Opportunity.model_validate(fields | changes)


def _order(candidate: Candidate) -> tuple[float, str, int]:
    return (-candidate.rank, candidate.opportunity.file, candidate.opportunity.start_line)


def test_the_fixtures_give_ranked_candidates_whose_patches_apply_and_parse(fixtures_copy: Path, tmp_path: Path) -> None:
    # When the static half runs over the scan fixtures
    discovery = discover_static(fixtures_copy)

    # Then every opportunity is a candidate or a rejection, and the candidates come best first
    assert discovery.candidates
    assert discovery.opportunities == len(scan_repository(fixtures_copy))
    assert len(discovery.candidates) + len(discovery.rejections) == discovery.opportunities
    assert [_order(item) for item in discovery.candidates] == sorted(_order(item) for item in discovery.candidates)
    assert discovery.scanned_files == len(
        [path for path in SCAN_FIXTURES.rglob("*") if path.is_file() and path.suffix != ".txt"]
    )
    for candidate in discovery.candidates:
        assert candidate.source == "template"
        assert candidate.patch.template == candidate.opportunity.template
        assert candidate.id == hashlib.sha1(candidate.patch.diff.encode(), usedforsecurity=False).hexdigest()[:12]
        # And each patch applies on its own to a fresh copy as code that still parses
        fresh = tmp_path / f"fresh-{candidate.id}"
        shutil.copytree(SCAN_FIXTURES, fresh)
        assert apply_diff(fresh, candidate.patch.diff) == [candidate.opportunity.file]
        assert _parses(fresh / candidate.opportunity.file)
    assert len({candidate.id for candidate in discovery.candidates}) == len(discovery.candidates)


def test_opportunities_without_a_template_or_refused_by_it_are_rejected_at_the_template_gate(
    fixtures_copy: Path,
) -> None:
    discovery = discover_static(fixtures_copy)
    opportunities = {item.id: item for item in scan_repository(fixtures_copy)}

    untemplated = [item for item in discovery.rejections if item.template is None]
    refused = [item for item in discovery.rejections if item.template is not None]

    assert {item.opportunity_id for item in untemplated} == {
        item.id for item in opportunities.values() if item.template is None
    }
    assert all(item.gate == "template" and item.reason == NO_TEMPLATE_REASON for item in untemplated)
    assert refused
    for rejection in refused:
        assert rejection.gate == "template"
        assert rejection.template == opportunities[rejection.opportunity_id].template
        assert opportunities[rejection.opportunity_id].file in rejection.reason


def test_the_budget_keeps_the_best_ranked_and_rejects_the_rest_saying_so(fixtures_copy: Path) -> None:
    everything = discover_static(fixtures_copy)
    assert len(everything.candidates) > 3

    limited = discover_static(fixtures_copy, max_candidates=3)

    assert limited.candidates == everything.candidates[:3]
    over = [item for item in limited.rejections if item.reason == OVER_BUDGET_REASON]
    assert [item.opportunity_id for item in over] == [item.opportunity.id for item in everything.candidates[3:]]
    assert len(limited.candidates) + len(limited.rejections) == limited.opportunities


def test_a_file_hot_in_the_profile_moves_its_candidates_up(fixtures_copy: Path) -> None:
    cold = discover_static(fixtures_copy)
    last = cold.candidates[-1]

    hot = discover_static(fixtures_copy, hot_files={last.opportunity.file: 0.5})

    # (1 + 4 x 0.5) = 3 times the rank, which puts the least attractive candidate first
    moved = next(item for item in hot.candidates if item.id == last.id)
    assert moved.rank == pytest.approx(last.rank * 3)
    assert hot.candidates[0].opportunity.file == last.opportunity.file


def test_two_findings_fixed_by_the_same_diff_are_one_candidate(tmp_path: Path) -> None:
    # Given two calls in a loop of the same pure function: memoizing it is one and the same patch
    _write(tmp_path, "app.py", PURE_TWICE)

    discovery = discover_static(tmp_path)

    assert discovery.opportunities == 2
    assert [item.opportunity.start_line for item in discovery.candidates] == [8]
    assert len(discovery.rejections) == 1
    duplicate = discovery.rejections[0]
    assert duplicate.opportunity_id != discovery.candidates[0].opportunity.id
    assert discovery.candidates[0].id in duplicate.reason


def test_a_patch_breaking_the_hard_constraints_is_rejected_at_the_constraints_gate(tmp_path: Path) -> None:
    # Given the same slow loop in source code and in setup.py, a manifest no patch may change
    _write(tmp_path, "src/count.py", MEMBERSHIP)
    _write(tmp_path, "setup.py", MEMBERSHIP)

    discovery = discover_static(tmp_path)

    assert [item.opportunity.file for item in discovery.candidates] == ["src/count.py"]
    [rejection] = discovery.rejections
    assert rejection.gate == "constraints"
    assert rejection.template == "list-to-set-membership"
    assert "setup.py" in rejection.reason and "manifest" in rejection.reason


def test_discovery_writes_nothing_and_is_the_same_every_time(fixtures_copy: Path) -> None:
    before = {path: path.read_bytes() for path in fixtures_copy.rglob("*") if path.is_file()}

    first = discover_static(fixtures_copy, hot_files={"python/regex.py": 0.2})
    second = discover_static(fixtures_copy, hot_files={"python/regex.py": 0.2})

    assert first == second
    assert {path: path.read_bytes() for path in fixtures_copy.rglob("*") if path.is_file()} == before


def test_an_empty_repository_gives_an_empty_discovery(tmp_path: Path) -> None:
    assert discover_static(tmp_path) == StaticDiscovery(candidates=[], rejections=[], scanned_files=0, opportunities=0)


@pytest.mark.parametrize(
    ("impact", "risk", "share", "expected"),
    [
        ("high", "low", None, 3.0),
        ("medium", "medium", None, 1.0),
        ("low", "high", None, 1 / 3),
        ("low", "low", 1.0, 5.0),
        ("low", "low", 0.25, 2.0),
        ("low", "low", 7.0, 5.0),
        ("low", "low", -1.0, 1.0),
    ],
)
def test_the_rank_is_impact_over_risk_raised_by_the_files_share_of_profile_time(
    impact: str, risk: str, share: float | None, expected: float
) -> None:
    opportunity = _opportunity(expected_impact=impact, risk=risk)
    hot_files = None if share is None else {"a.py": share, "other.py": 1.0}

    assert candidate_rank(opportunity, hot_files) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("fixture", "planted_file"),
    [("python-pytest", "src/fastmath/__init__.py"), ("express-ts", "src/primes.mjs")],
)
def test_the_planted_slow_path_of_each_runnable_fixture_is_a_ranked_candidate(
    fixture: str, planted_file: str, tmp_path: Path
) -> None:
    import shutil

    from agentlab.repo_optimize.patches import apply_diff

    root = tmp_path / fixture
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "repos" / fixture, root)
    found = discover_static(root)
    planted = [c for c in found.candidates if c.opportunity.file == planted_file]
    assert planted, [r.reason for r in found.rejections]
    assert planted[0].opportunity.template == "list-to-set-membership" and planted[0].source == "template"
    assert apply_diff(root, planted[0].patch.diff) == [planted_file]
