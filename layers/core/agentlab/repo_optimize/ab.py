"""A benchmark A/B in the sandbox: the baseline's checkout (A) and a candidate's (B) run alternately in one cell, so
that whatever drifts on the machine meanwhile hits both alike. Warm-up runs of each side come first and are dropped;
then pairs in ABBA order (AB, BA, AB, …), since a strict ABAB lines up with any effect that alternates call by call.
Each run writes its own log, which the trusted side reads for the benchmark's samples (the same parsers as the
baseline's); a pair's figure per series is the median of that run's samples, or the run's wall time.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from agentlab.repo_optimize.acceptance import ABSamples
from agentlab.repo_optimize.phases import (
    COMMAND_PREAMBLE,
    LOGS_DIR,
    MAX_LOG_BYTES,
    REPORTS_DIR,
    RESULT_MARKER,
    TAIL_BYTES,
)
from agentlab.sandbox.models import CellResult

Side = Literal["A", "B"]


class ABSide(BaseModel):
    checkout: str
    venv: str
    command: str
    working_directory: str = "."
    # pytest-benchmark writes its samples to a file: each run then gets `--benchmark-json=<its own report>`.
    pytest_benchmark: bool = False


class ABSpec(BaseModel):
    a: ABSide
    b: ABSide
    pairs: int = Field(ge=1, le=500)
    warmups: int = Field(default=1, ge=0, le=20)
    timeout_s: float = Field(gt=0)
    cpu_s: int = Field(ge=1)
    memory_mb: int = Field(ge=64)
    max_file_mb: int = Field(ge=1)
    env: dict[str, str] = Field(default_factory=dict)
    log_prefix: str
    # The whole A/B stops starting runs once this much wall time went by (a step invocation's budget).
    budget_s: float = Field(gt=0)


class ABRun(BaseModel):
    side: Side
    pair: int | None  # None for a warm-up
    exit_code: int | None
    duration_s: float
    limit: str | None = None
    log_path: str = ""
    report_path: str | None = None


class ABOutcome(BaseModel):
    runs: list[ABRun]
    stopped: str | None = None  # why fewer pairs ran than asked (a run failed, the budget was spent)
    error: str | None = None


def schedule(pairs: int, warmups: int) -> list[tuple[Side, int | None]]:
    """Warm-ups (A, B alternately), then the pairs in ABBA order."""
    order: list[tuple[Side, int | None]] = []
    for _ in range(warmups):
        order += [("A", None), ("B", None)]
    for pair in range(pairs):
        sides: tuple[Side, Side] = ("A", "B") if pair % 2 == 0 else ("B", "A")
        order += [(sides[0], pair), (sides[1], pair)]
    return order


_AB_MAIN = r"""
sides = {"A": spec["a"], "B": spec["b"]}
runs, stopped = [], None
began = time.monotonic()
for number, (side, pair) in enumerate(spec["schedule"]):
    if time.monotonic() - began > spec["budget_s"]:
        stopped = "the step's time budget was spent"
        break
    chosen = sides[side]
    name = "%s-%03d-%s" % (spec["log_prefix"], number, side)
    command, report = chosen["command"], None
    if chosen["pytest_benchmark"]:
        report = os.path.join("__REPORTS__", name + ".json")
        command = '%s --benchmark-json="%s"' % (command, os.path.join(workspace, report))
    result = run(command, checkout_dir(chosen["checkout"], chosen["working_directory"]),
                 environment(chosen["checkout"], chosen["venv"]), os.path.join(logs, name + ".log"), spec["timeout_s"])
    runs.append({"side": side, "pair": pair, "exit_code": result["exit_code"], "duration_s": result["duration_s"],
                 "limit": result["limit"], "log_path": result["log_path"], "report_path": report})
    if result["exit_code"] != 0 or result["limit"] is not None:
        stopped = "run %d (%s) failed" % (number, side)
        break
print("__MARKER__" + json.dumps({"runs": runs, "stopped": stopped}))
"""


def ab_code(spec: ABSpec) -> str:
    document = {**spec.model_dump(mode="json"), "schedule": schedule(spec.pairs, spec.warmups)}
    code = COMMAND_PREAMBLE + _AB_MAIN
    for name, value in {
        "SPEC": json.dumps(json.dumps(document)),
        "LOGS": LOGS_DIR,
        "REPORTS": REPORTS_DIR,
        "MAX_LOG": MAX_LOG_BYTES,
        "TAIL": TAIL_BYTES,
        "MARKER": RESULT_MARKER,
    }.items():
        code = code.replace(f"__{name}__", str(value))
    return code


def parse_ab(cell: CellResult) -> ABOutcome:
    for line in reversed(cell.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                return ABOutcome.model_validate(json.loads(line[len(RESULT_MARKER) :]))
            except ValueError:
                break
    return ABOutcome(runs=[], error=f"the A/B cell ended without a result (exit {cell.exit_code})")


def ab_samples(outcome: ABOutcome, read: Callable[[str], bytes]) -> list[ABSamples]:
    """Per series, one (A, B) figure per complete pair: the median of the samples each run reported (its
    pytest-benchmark JSON, or what it printed), or the run's wall time when it reported none."""
    from agentlab.repo_optimize import bench_results

    figures: dict[int, dict[Side, dict[str, float]]] = {}
    for run in outcome.runs:
        if run.pair is None or run.exit_code != 0 or run.limit is not None:
            continue
        report = None
        if run.report_path:
            try:
                report = bench_results.parse_pytest_benchmark_json(read(run.report_path))
            except (OSError, ValueError):
                report = None
        text = read(run.log_path).decode("utf-8", "replace") if run.log_path else ""
        for parse in (
            bench_results.parse_json_samples,
            bench_results.parse_vitest_bench,
            bench_results.parse_tinybench,
        ):
            if report is not None and report.series:
                break
            report = parse(text)
        per_series = (
            {series.name: statistics.median(series.samples) for series in report.series if series.samples}
            if report is not None and report.series
            else {"wall time": run.duration_s}
        )
        figures.setdefault(run.pair, {})[run.side] = per_series
    names = sorted({name for pair in figures.values() for side in pair.values() for name in side})
    result = []
    for name in names:
        pairs = [
            (sides["A"][name], sides["B"][name])
            for _, sides in sorted(figures.items())
            if "A" in sides
            and "B" in sides
            and name in sides["A"]
            and name in sides["B"]
            and sides["A"][name] > 0
            and sides["B"][name] > 0
        ]
        if pairs:
            result.append(ABSamples(name=name, pairs=pairs))
    return result
