"""The planted slow paths of the two runnable fixture repositories, and the decoy and no-op patches beside them.

The validation step is proven on these: the scan must find the planted slow path and a template must fix it without
breaking a test, the decoy must apply and fail a test (so the test gate rejects it), and the no-op must apply and pass
every test (so only the benchmark can reject it, as noise). Each fixture's own tests run on a copy, with this venv's
Python or with node; express-ts's planted module imports nothing, so its test runs without an npm install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentlab.repo_optimize.patches import Patch, apply_diff, apply_template, check_patch
from agentlab.repo_optimize.scan import Opportunity, scan_repository

FIXTURES = Path(__file__).parent.parent / "fixtures" / "repos"
NODE = shutil.which("node")
PLANTED_TEMPLATE = "list-to-set-membership"
PLANTED_RULE = "list-membership-in-loop"
TEST_TIMEOUT_S = 120
TIMED_RUNS = 5
# Inputs on both sides of the table of small primes (it covers the numbers below 2000) and at its edges.
CHECKED_INPUTS = (0, 1, 2, 3, 100, 1_999, 2_000, 2_001, 2_100)


@dataclass(frozen=True)
class PlantedFixture:
    """A fixture repository with its planted slow path, the test command that runs without an install, and the test
    the decoy breaks (as the runner names it in its output)."""

    name: str
    planted_file: str
    planted_definition: str
    test_command: tuple[str, ...]
    test_the_decoy_breaks: str
    needs_node: bool

    @property
    def decoy_diff(self) -> str:
        return (FIXTURES / f"{self.name}.decoy.diff").read_text(encoding="utf-8")

    @property
    def noop_diff(self) -> str:
        return (FIXTURES / f"{self.name}.noop.diff").read_text(encoding="utf-8")


PYTHON_PYTEST = PlantedFixture(
    name="python-pytest",
    planted_file="src/fastmath/__init__.py",
    planted_definition="def count_primes(",
    # pytest-benchmark is not installed here: its plugin is turned off and only the plain tests are collected.
    test_command=(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:benchmark",
        "tests/test_fastmath.py",
    ),
    test_the_decoy_breaks="test_count_primes_below_100",
    needs_node=False,
)
EXPRESS_TS = PlantedFixture(
    name="express-ts",
    planted_file="src/primes.mjs",
    planted_definition="function countPrimes(",
    # test/app.test.mjs imports express, which only `npm ci` brings; test/primes.test.mjs needs nothing installed.
    test_command=(NODE or "node", "--test", "test/primes.test.mjs"),
    test_the_decoy_breaks="countPrimes counts the primes below n",
    needs_node=True,
)
PLANTED_FIXTURES = [
    PYTHON_PYTEST,
    pytest.param(EXPRESS_TS, marks=pytest.mark.skipif(NODE is None, reason="node is not installed")),
]


def _copy_of(fixture: PlantedFixture, tmp_path: Path) -> Path:
    """A private copy of the fixture, so that patches and test runs never touch the checked-in tree."""
    root = tmp_path / fixture.name
    shutil.copytree(
        FIXTURES / fixture.name, root, ignore=shutil.ignore_patterns("node_modules", "__pycache__", ".pytest_cache")
    )
    return root


def _run_tests(fixture: PlantedFixture, root: Path) -> subprocess.CompletedProcess[str]:
    """The fixture's own tests, run in the copy at root; PYTHONPATH=src stands in for `pip install -e .`."""
    environment = {**os.environ, "PYTHONPATH": "src", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        list(fixture.test_command),
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TEST_TIMEOUT_S,
        check=False,
    )


def _planted_opportunities(fixture: PlantedFixture, root: Path) -> list[Opportunity]:
    return [
        opportunity
        for opportunity in scan_repository(root)
        if opportunity.file == fixture.planted_file and opportunity.template == PLANTED_TEMPLATE
    ]


def _planted_fix(fixture: PlantedFixture, root: Path) -> Patch:
    """The patch the template writes for the one planted opportunity the scan reports."""
    (opportunity,) = _planted_opportunities(fixture, root)
    return apply_template(
        opportunity.template or "", root, opportunity.file, opportunity.start_line, opportunity.end_line
    )


def _outcome(completed: subprocess.CompletedProcess[str]) -> str:
    return f"exit {completed.returncode}\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"


@pytest.mark.parametrize("fixture", PLANTED_FIXTURES, ids=lambda fixture: fixture.name)
def test_the_untouched_fixture_passes_its_tests(fixture: PlantedFixture, tmp_path: Path) -> None:
    # The baseline the decoy is judged against: without it a decoy "failing" could be a broken test run.
    completed = _run_tests(fixture, _copy_of(fixture, tmp_path))
    assert completed.returncode == 0, _outcome(completed)


@pytest.mark.parametrize("fixture", PLANTED_FIXTURES, ids=lambda fixture: fixture.name)
def test_the_scan_finds_the_planted_slow_path_with_the_template_that_fixes_it(fixture: PlantedFixture) -> None:
    # When the checked-in fixture is scanned
    found = _planted_opportunities(fixture, FIXTURES / fixture.name)

    # Then the membership test against the table of small primes is reported once, inside the planted function
    (opportunity,) = found
    assert opportunity.type == PLANTED_RULE
    assert opportunity.risk == "low"
    source_lines = (FIXTURES / fixture.name / fixture.planted_file).read_text(encoding="utf-8").splitlines()
    definition_line = next(
        number for number, line in enumerate(source_lines, start=1) if fixture.planted_definition in line
    )
    assert definition_line < opportunity.start_line < opportunity.end_line
    assert "1999" in "\n".join(source_lines[opportunity.start_line - 1 : opportunity.end_line])


@pytest.mark.parametrize("fixture", PLANTED_FIXTURES, ids=lambda fixture: fixture.name)
def test_the_template_fix_keeps_the_constraints_and_the_fixture_tests(fixture: PlantedFixture, tmp_path: Path) -> None:
    # Given the template's patch for the planted slow path
    root = _copy_of(fixture, tmp_path)
    patch = _planted_fix(fixture, root)
    assert patch.template == PLANTED_TEMPLATE and patch.files == [fixture.planted_file]
    assert check_patch(patch.diff, root=root) == []

    # When it is applied to a copy
    assert apply_diff(root, patch.diff) == [fixture.planted_file]

    # Then the slow path is gone from the scan and every test still passes
    assert _planted_opportunities(fixture, root) == []
    completed = _run_tests(fixture, root)
    assert completed.returncode == 0, _outcome(completed)


@pytest.mark.parametrize("fixture", PLANTED_FIXTURES, ids=lambda fixture: fixture.name)
def test_the_decoy_keeps_the_constraints_applies_and_fails_a_test(fixture: PlantedFixture, tmp_path: Path) -> None:
    # Given the decoy, which looks like an optimisation of the planted function (it skips even candidates)
    root = _copy_of(fixture, tmp_path)
    assert check_patch(fixture.decoy_diff, root=root) == []

    # When it is applied
    assert apply_diff(root, fixture.decoy_diff) == [fixture.planted_file]

    # Then a test the untouched fixture passes fails, because 2 is an even prime
    completed = _run_tests(fixture, root)
    assert completed.returncode != 0, _outcome(completed)
    assert fixture.test_the_decoy_breaks in completed.stdout, _outcome(completed)


@pytest.mark.parametrize("fixture", PLANTED_FIXTURES, ids=lambda fixture: fixture.name)
def test_the_noop_keeps_the_constraints_applies_and_passes_every_test(fixture: PlantedFixture, tmp_path: Path) -> None:
    # Given the no-op, which renames a local variable of the planted function
    root = _copy_of(fixture, tmp_path)
    original = (root / fixture.planted_file).read_text(encoding="utf-8")
    assert check_patch(fixture.noop_diff, root=root) == []

    # When it is applied
    assert apply_diff(root, fixture.noop_diff) == [fixture.planted_file]

    # Then the file did change, the slow path is still there for the scan, and every test passes
    assert (root / fixture.planted_file).read_text(encoding="utf-8") != original
    assert len(_planted_opportunities(fixture, root)) == 1
    completed = _run_tests(fixture, root)
    assert completed.returncode == 0, _outcome(completed)


def _load_python_module(path: Path, name: str) -> types.ModuleType:
    """A module built from the file's text, so the original and the patched version live side by side."""
    module = types.ModuleType(name)
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module


def _best_of_runs_ms(function: Callable[[int], int], argument: int) -> float:
    """The fastest of a few runs, the figure least disturbed by the rest of the machine."""
    timings: list[float] = []
    for _ in range(TIMED_RUNS):
        started = time.perf_counter()
        function(argument)
        timings.append((time.perf_counter() - started) * 1_000)
    return min(timings)


def test_the_python_fix_keeps_every_result_and_its_speed_up_is_printed(tmp_path: Path) -> None:
    # Given the planted function before and after the template's fix
    root = _copy_of(PYTHON_PYTEST, tmp_path)
    before = _load_python_module(root / PYTHON_PYTEST.planted_file, "fastmath_before")
    apply_diff(root, _planted_fix(PYTHON_PYTEST, root).diff)
    after = _load_python_module(root / PYTHON_PYTEST.planted_file, "fastmath_after")

    # Then it answers the same for every input, on both sides of the table
    results_before = [before.count_primes(n) for n in CHECKED_INPUTS]
    assert [after.count_primes(n) for n in CHECKED_INPUTS] == results_before
    assert results_before == [0, 0, 0, 1, 25, 302, 303, 303, 317]

    # And the speed-up on the benchmark's input is printed, never asserted: timings belong in benchmarks
    before_ms = _best_of_runs_ms(before.count_primes, 2_000)
    after_ms = _best_of_runs_ms(after.count_primes, 2_000)
    print(f"python-pytest count_primes(2000): {before_ms:.3f} ms -> {after_ms:.3f} ms, {before_ms / after_ms:.1f}x")


NODE_COMPARISON = """
import { performance } from "node:perf_hooks";

const [before, after] = await Promise.all(process.argv.slice(2, 4).map((path) => import(path)));
const inputs = JSON.parse(process.argv[4]);
function bestOfRunsMs(countPrimes) {
  let best = Infinity;
  for (let run = 0; run < RUNS; run += 1) {
    const started = performance.now();
    countPrimes(2000);
    best = Math.min(best, performance.now() - started);
  }
  return best;
}
console.log(JSON.stringify({
  before: inputs.map((n) => before.countPrimes(n)),
  after: inputs.map((n) => after.countPrimes(n)),
  beforeMs: bestOfRunsMs(before.countPrimes),
  afterMs: bestOfRunsMs(after.countPrimes),
}));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_javascript_fix_keeps_every_result_and_its_speed_up_is_printed(tmp_path: Path) -> None:
    # Given the planted module before and after the template's fix, side by side
    root = _copy_of(EXPRESS_TS, tmp_path)
    planted = root / EXPRESS_TS.planted_file
    original = planted.with_name("primes.before.mjs")
    shutil.copyfile(planted, original)
    apply_diff(root, _planted_fix(EXPRESS_TS, root).diff)
    script = tmp_path / "compare.mjs"
    script.write_text(NODE_COMPARISON.replace("RUNS", str(TIMED_RUNS)), encoding="utf-8")

    # When node runs both in one process
    completed = subprocess.run(
        [NODE or "node", str(script), original.as_uri(), planted.as_uri(), json.dumps(CHECKED_INPUTS)],
        capture_output=True,
        text=True,
        timeout=TEST_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, _outcome(completed)
    report = json.loads(completed.stdout)

    # Then they answer the same for every input, and the speed-up is printed, never asserted
    assert report["after"] == report["before"] == [0, 0, 0, 1, 25, 302, 303, 303, 317]
    print(
        f"express-ts countPrimes(2000): {report['beforeMs']:.3f} ms -> {report['afterMs']:.3f} ms, "
        f"{report['beforeMs'] / report['afterMs']:.1f}x"
    )
