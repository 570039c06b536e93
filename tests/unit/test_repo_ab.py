"""The A/B cell: two checkouts' benchmarks alternated in one cell (warm-ups dropped, ABBA pairs), read back as paired
figures per series that the acceptance rule judges."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agentlab.repo_optimize.ab import ABSide, ABSpec, ab_code, ab_samples, parse_ab, schedule
from agentlab.repo_optimize.acceptance import judge
from agentlab.sandbox.models import CellResult

BENCH = """
import json, sys, time
spin = int(sys.argv[1])
samples = []
for _ in range(7):
    started = time.perf_counter()
    total = 0
    for i in range(spin):
        total += i % 7
    samples.append((time.perf_counter() - started) * 1000)
print(json.dumps({"name": "spin", "samples_ms": samples}))
"""


def checkout(workspace: Path, name: str, spin: int, *, fails: bool = False) -> ABSide:
    folder = workspace / name
    folder.mkdir(parents=True)
    (folder / "bench.py").write_text(BENCH if not fails else "raise SystemExit(3)\n")
    return ABSide(checkout=name, venv=f".agentlab/venv-{name}", command=f"{sys.executable} bench.py {spin}")


def run_cell(code: str, workspace: Path) -> CellResult:
    done = subprocess.run([sys.executable, "-c", code], cwd=workspace, capture_output=True, text=True, timeout=300)
    return CellResult(stdout=done.stdout, stderr=done.stderr, exit_code=done.returncode, duration_ms=1)


def spec(a: ABSide, b: ABSide, pairs: int = 12) -> ABSpec:
    return ABSpec(
        a=a,
        b=b,
        pairs=pairs,
        warmups=1,
        timeout_s=60,
        cpu_s=120,
        memory_mb=512,
        max_file_mb=10,
        log_prefix="ab-1",
        budget_s=240,
    )


def test_the_schedule_warms_up_both_sides_then_alternates_abba() -> None:
    assert schedule(3, 1) == [("A", None), ("B", None), ("A", 0), ("B", 0), ("B", 1), ("A", 1), ("A", 2), ("B", 2)]


def test_a_candidate_that_does_less_work_is_accepted_from_its_paired_runs(tmp_path: Path) -> None:
    a = checkout(tmp_path, "repo", spin=300_000)
    b = checkout(tmp_path, "cand-1", spin=150_000)
    outcome = parse_ab(run_cell(ab_code(spec(a, b)), tmp_path))
    assert outcome.error is None and outcome.stopped is None
    assert [run.side for run in outcome.runs][:4] == ["A", "B", "A", "B"]
    assert sum(run.pair is None for run in outcome.runs) == 2  # the warm-ups, dropped below
    (series,) = ab_samples(outcome, lambda path: (tmp_path / path).read_bytes())
    assert series.name == "spin" and len(series.pairs) == 12
    verdict = judge(series)
    assert verdict.accepted, verdict.reason
    assert verdict.gain > 0.2


def test_the_same_code_against_itself_is_not_accepted(tmp_path: Path) -> None:
    a = checkout(tmp_path, "repo", spin=200_000)
    b = checkout(tmp_path, "cand-1", spin=200_000)
    outcome = parse_ab(run_cell(ab_code(spec(a, b)), tmp_path))
    (series,) = ab_samples(outcome, lambda path: (tmp_path / path).read_bytes())
    assert not judge(series).accepted


def test_a_failing_run_stops_the_ab_and_says_which(tmp_path: Path) -> None:
    a = checkout(tmp_path, "repo", spin=10_000)
    b = checkout(tmp_path, "cand-1", spin=10_000, fails=True)
    outcome = parse_ab(run_cell(ab_code(spec(a, b, pairs=5)), tmp_path))
    assert outcome.stopped == "run 1 (B) failed"
    assert ab_samples(outcome, lambda path: (tmp_path / path).read_bytes()) == []


def test_a_cell_without_a_result_is_an_error() -> None:
    outcome = parse_ab(CellResult(stdout="", stderr="killed", exit_code=137, duration_ms=5))
    assert outcome.error is not None and outcome.runs == []


def test_pytest_benchmark_runs_each_write_their_own_report_which_is_read(tmp_path: Path) -> None:
    recorded = (Path(__file__).parent / "repo_outputs" / "pytest_benchmark_5_1_0.json").read_text()
    writer = (
        "import sys\n"
        "target = next(a.split('=', 1)[1] for a in sys.argv if a.startswith('--benchmark-json='))\n"
        f"open(target, 'w').write({recorded!r})\n"
    )
    sides = []
    for name in ("repo", "cand-1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "writer.py").write_text(writer)
        sides.append(
            ABSide(checkout=name, venv=".agentlab/venv", command=f"{sys.executable} writer.py", pytest_benchmark=True)
        )
    outcome = parse_ab(run_cell(ab_code(spec(sides[0], sides[1], pairs=3)), tmp_path))
    assert all(run.report_path for run in outcome.runs)
    series = ab_samples(outcome, lambda path: (tmp_path / path).read_bytes())
    assert series and all(len(s.pairs) == 3 for s in series)
    assert all(a == b for s in series for a, b in s.pairs)  # the same recorded report on both sides
