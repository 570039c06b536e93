"""Read the timings a repository's benchmark command produced, as series of samples in seconds.

Every tool reports differently: pytest-benchmark's JSON holds each round's time, a bench script may print its own
samples as JSON, vitest and tinybench print a table of figures without the samples behind them. A series keeps the
raw samples when the tool gave them; when it gave only figures, the series holds the tool's mean for that run and is
flagged `summary_only`, so that k repeated runs merged by `merge_runs` still give k comparable samples. Values that
are not finite or are negative are dropped and counted, never silently repaired.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentlab.repo_optimize.test_results import MAX_REPORT_BYTES, ResultsUnreadable, strip_ansi

MAX_SAMPLES_PER_SERIES = 10_000

BenchSource = Literal["pytest-benchmark", "json-samples", "vitest", "tinybench", "wall-time"]

_SECONDS_PER_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_UNNAMED_SERIES = "benchmark"


class BenchSeries(BaseModel):
    """The timings of one benchmark, normalised to seconds."""

    name: str
    unit: Literal["s"] = "s"
    samples: list[float]
    source: BenchSource
    summary_only: bool = False
    dropped: int = 0
    truncated: int = 0
    # The tool's own figures for this series (times in seconds, counts as numbers), kept as reported.
    reported: dict[str, float] = Field(default_factory=dict)


class BenchReport(BaseModel):
    """The series of one benchmark run, or of several runs merged."""

    series: list[BenchSeries]
    source: str


def build_series(
    name: str,
    raw_samples: Iterable[object],
    source: BenchSource,
    *,
    seconds_per_unit: float = 1.0,
    summary_only: bool = False,
    reported: dict[str, float] | None = None,
) -> BenchSeries:
    """A series from raw values in some unit: drops what is not a finite number ≥ 0 and caps the count."""
    samples: list[float] = []
    dropped = 0
    truncated = 0
    for value in raw_samples:
        seconds = _seconds(value, seconds_per_unit)
        if seconds is None:
            dropped += 1
        elif len(samples) < MAX_SAMPLES_PER_SERIES:
            samples.append(seconds)
        else:
            truncated += 1
    return BenchSeries(
        name=name,
        samples=samples,
        source=source,
        summary_only=summary_only,
        dropped=dropped,
        truncated=truncated,
        reported=reported or {},
    )


# --- pytest-benchmark ------------------------------------------------------------------------------------------------

_PYTEST_BENCHMARK_TIMES = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3")
_PYTEST_BENCHMARK_COUNTS = ("rounds", "iterations", "ops")


def parse_pytest_benchmark_json(data: bytes) -> BenchReport:
    """Read pytest-benchmark's `--benchmark-json` file.

    `stats.data` holds each round's time per iteration in seconds; `--benchmark-json` always writes it, while files
    saved with `--benchmark-save` lack it unless `--benchmark-save-data` was given. Without it the series holds the
    run's mean and is flagged `summary_only`.
    """
    document = _load_json_document(data, "pytest-benchmark")
    benchmarks = document.get("benchmarks") if isinstance(document, dict) else None
    if not isinstance(benchmarks, list):
        raise ResultsUnreadable("pytest-benchmark JSON has no 'benchmarks' list")
    entries = [entry for entry in benchmarks if isinstance(entry, dict) and isinstance(entry.get("stats"), dict)]
    names = [str(entry.get("name") or entry.get("fullname") or _UNNAMED_SERIES) for entry in entries]
    series = []
    for entry, name in zip(entries, names, strict=True):
        # Two tests of the same name in different modules would merge across runs: keep them apart.
        if names.count(name) > 1 and entry.get("fullname"):
            name = str(entry["fullname"])
        stats: dict[str, Any] = entry["stats"]
        reported = _numbers(stats, _PYTEST_BENCHMARK_TIMES + _PYTEST_BENCHMARK_COUNTS)
        raw = stats.get("data")
        if isinstance(raw, list) and raw:
            series.append(build_series(name, raw, "pytest-benchmark", reported=reported))
        else:
            series.append(
                build_series(name, [stats.get("mean")], "pytest-benchmark", summary_only=True, reported=reported)
            )
    return BenchReport(series=series, source="pytest-benchmark")


# --- samples printed as JSON by a bench script -----------------------------------------------------------------------

_SAMPLE_KEYS = {f"samples_{unit}": factor for unit, factor in _SECONDS_PER_UNIT.items()}


def parse_json_samples(output: str) -> BenchReport | None:
    """Read the samples a bench script printed as JSON: one object a line, or one object ending the output.

    Recognised shapes: `{"samples_ms": [...]}` (also `_s`, `_us`, `_ns`), with an optional `"name"`, and
    `{"benchmarks": [{"name": ..., "samples_ms": [...]}, ...]}`. A name printed twice keeps its last samples, as the
    script's final word. None when no such object is found (a truncated line is not one).
    """
    text = strip_ansi(output)
    found: dict[str, BenchSeries] = {}
    for document in _json_object_lines(text):
        for series in _series_from_document(document):
            found.pop(series.name, None)
            found[series.name] = series
    if not found:
        found = {series.name: series for series in _series_from_document(_trailing_json_object(text))}
    if not found:
        return None
    return BenchReport(series=list(found.values()), source="json-samples")


def _json_object_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            document = _loads_or_none(stripped)
            if isinstance(document, dict):
                yield document


def _trailing_json_object(text: str) -> dict[str, Any]:
    """A pretty-printed object ending the output: it starts at the last line that opens with "{" at the margin."""
    lines = text.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith("{"):
            document = _loads_or_none("\n".join(lines[index:]))
            return document if isinstance(document, dict) else {}
    return {}


def _series_from_document(document: dict[str, Any]) -> Iterator[BenchSeries]:
    entries = document.get("benchmarks")
    candidates = [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else [document]
    for entry in candidates:
        for key, factor in _SAMPLE_KEYS.items():
            samples = entry.get(key)
            if isinstance(samples, list):
                yield build_series(
                    str(entry.get("name") or _UNNAMED_SERIES), samples, "json-samples", seconds_per_unit=factor
                )
                break


# --- vitest bench ----------------------------------------------------------------------------------------------------

_VITEST_HEADER = re.compile(r"^\s*name\s+hz\s+min\b")
# A group's line starts with a check mark, or a multiplication sign when it failed, and ends with its time.
_VITEST_GROUP_MARKS = ("\u2713", "\u00d7")
_VITEST_GROUP_TIME = re.compile(r"\d+(?:\.\d+)?m?s")
_VITEST_TIME_COLUMNS = ("min", "max", "mean", "p75", "p99", "p995", "p999")


def parse_vitest_bench(output: str) -> BenchReport | None:
    """Read vitest bench's console table (name, hz, min … p999 in ms, rme, samples); None when there is none.

    The table gives figures, not samples: each row becomes a `summary_only` series holding the mean. Names may
    hold spaces, so a row is read from the right, column by column of the header above it.
    """
    series: list[BenchSeries] = []
    group: str | None = None
    columns: list[str] | None = None
    for line in strip_ansi(output).splitlines():
        stripped = line.strip()
        if _VITEST_HEADER.match(line):
            columns = line.split()
        elif stripped.startswith("·") and columns is not None:
            row = _vitest_row(stripped.lstrip("·").strip(), columns, group)
            if row is not None:
                series.append(row)
        elif stripped:
            # Anything else ends a table; a "✓ file > group 630ms" line names the rows of the next one.
            columns = None
            group = _vitest_group(stripped) or group
    if not series:
        return None
    return BenchReport(series=series, source="vitest")


def _vitest_group(line: str) -> str | None:
    if not line.startswith(_VITEST_GROUP_MARKS):
        return None
    name_and_time = line[1:].strip().rsplit(None, 1)
    if len(name_and_time) != 2 or not _VITEST_GROUP_TIME.fullmatch(name_and_time[1]):
        return None
    return name_and_time[0]


def _vitest_row(text: str, columns: list[str], group: str | None) -> BenchSeries | None:
    words = text.split()
    if words and words[-1] in ("fastest", "slowest"):
        words.pop()
    value_count = len(columns) - 1
    if len(words) <= value_count:
        return None
    name = " ".join(words[:-value_count])
    figures: dict[str, float] = {}
    for column, word in zip(columns[1:], words[-value_count:], strict=True):
        value = _table_number(word)
        if value is None:
            continue
        figures[column] = value * _SECONDS_PER_UNIT["ms"] if column in _VITEST_TIME_COLUMNS else value
    if "mean" not in figures:
        return None
    return build_series(_vitest_name(name, group), [figures["mean"]], "vitest", summary_only=True, reported=figures)


def parse_vitest_bench_json(data: bytes) -> BenchReport:
    """Read vitest's `vitest bench --outputJson` file: files[].groups[].benchmarks[], times in milliseconds.

    Vitest leaves `samples` empty unless the benchmark asked to keep them; then the series is `summary_only` with
    the mean, like the console table.
    """
    document = _load_json_document(data, "vitest bench")
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, list):
        raise ResultsUnreadable("vitest bench JSON has no 'files' list")
    series: list[BenchSeries] = []
    for group in _dict_items(file.get("groups") for file in files if isinstance(file, dict)):
        group_name = str(group.get("fullName") or "") or None
        for benchmark in _dict_items([group.get("benchmarks")]):
            name = _vitest_name(str(benchmark.get("name") or _UNNAMED_SERIES), group_name)
            reported = {
                key: value * _SECONDS_PER_UNIT["ms"] if key in (*_VITEST_TIME_COLUMNS, "median", "sd") else value
                for key, value in _numbers(benchmark, (*_VITEST_TIME_COLUMNS, "median", "sd", "hz", "rme")).items()
            }
            if "sampleCount" in benchmark and isinstance(benchmark["sampleCount"], int | float):
                reported["samples"] = float(benchmark["sampleCount"])
            samples = benchmark.get("samples")
            if isinstance(samples, list) and samples:
                series.append(
                    build_series(name, samples, "vitest", seconds_per_unit=_SECONDS_PER_UNIT["ms"], reported=reported)
                )
            else:
                series.append(
                    build_series(
                        name,
                        [benchmark.get("mean")],
                        "vitest",
                        seconds_per_unit=_SECONDS_PER_UNIT["ms"],
                        summary_only=True,
                        reported=reported,
                    )
                )
    return BenchReport(series=series, source="vitest")


def _vitest_name(name: str, group: str | None) -> str:
    return f"{group} > {name}" if group else name


# --- tinybench -------------------------------------------------------------------------------------------------------


# Column of either table -> (figure, factor to seconds); the figures share vitest's names.
_TINYBENCH_COLUMNS: dict[str, tuple[str, float]] = {
    "ops/sec": ("hz", 1.0),
    "average time (ns)": ("mean", _SECONDS_PER_UNIT["ns"]),
    "margin": ("rme", 1.0),
    "samples": ("samples", 1.0),
    "latency avg (ns)": ("mean", _SECONDS_PER_UNIT["ns"]),
    "latency med (ns)": ("median", _SECONDS_PER_UNIT["ns"]),
    "throughput avg (ops/s)": ("hz", 1.0),
    "throughput med (ops/s)": ("hz_median", 1.0),
}


def parse_tinybench(output: str) -> BenchReport | None:
    """Read the `console.table(bench.table())` that tinybench users print; None when there is none.

    tinybench 2 has "Task Name | ops/sec | Average Time (ns) | Margin | Samples"; tinybench 3 and later have
    "Task name | Latency avg (ns) | Latency med (ns) | Throughput avg (ops/s) | …" with "value ± margin" cells.
    Either way each task becomes a `summary_only` series holding its average latency.
    """
    header: list[str] | None = None
    series: list[BenchSeries] = []
    for line in strip_ansi(output).splitlines():
        cells = _table_cells(line)
        if cells is None:
            continue
        lowered = [cell.lower() for cell in cells]
        if "task name" in lowered:
            header = lowered
            continue
        if header is None or len(cells) != len(header):
            continue
        row = dict(zip(header, cells, strict=True))
        parsed = _tinybench_row(row)
        if parsed is not None:
            series.append(parsed)
    if not series:
        return None
    return BenchReport(series=series, source="tinybench")


def _tinybench_row(row: dict[str, str]) -> BenchSeries | None:
    name = row["task name"].strip("'\"")
    figures: dict[str, float] = {}
    for column, cell in row.items():
        if column not in _TINYBENCH_COLUMNS:
            continue
        figure, seconds_per_unit = _TINYBENCH_COLUMNS[column]
        value_text, _, margin_text = cell.strip("'\"").partition("±")
        # tinybench 2's margin cell is the margin alone: "±6.66%".
        value = _table_number(value_text or margin_text)
        if value is not None:
            figures[figure] = value * seconds_per_unit
        # tinybench 3+ writes the relative margin in the mean latency's cell: "40338 ± 1.22%".
        if figure == "mean" and margin_text.strip().endswith("%"):
            margin = _table_number(margin_text)
            if margin is not None:
                figures["rme"] = margin
    if not name or "mean" not in figures:
        return None
    return build_series(name, [figures["mean"]], "tinybench", summary_only=True, reported=figures)


def _table_cells(line: str) -> list[str] | None:
    """The cells of a row of Node's console.table (box-drawing "│" separators), the index column left out."""
    stripped = line.strip()
    if not (stripped.startswith("│") and stripped.endswith("│")):
        return None
    cells = [cell.strip() for cell in stripped[1:-1].split("│")]
    return cells[1:] if len(cells) > 1 else None


# --- wall time and merging -------------------------------------------------------------------------------------------


def wall_time_report(name: str, durations_s: list[float]) -> BenchReport:
    """The fallback when a bench command prints nothing readable: how long each repeated run took."""
    return BenchReport(series=[build_series(name, durations_s, "wall-time")], source="wall-time")


def merge_runs(reports: list[BenchReport]) -> BenchReport:
    """One report from k repeated runs of a bench command: each name's samples concatenated, in run order.

    A series stays `summary_only` if any run's was. The tool's figures are kept only when a single run reported the
    series: figures of different runs do not add up to figures of the whole.
    """
    merged: dict[str, BenchSeries] = {}
    contributions: dict[str, int] = {}
    for report in reports:
        for series in report.series:
            contributions[series.name] = contributions.get(series.name, 0) + 1
            existing = merged.get(series.name)
            if existing is None:
                merged[series.name] = series.model_copy(deep=True)
                continue
            room = MAX_SAMPLES_PER_SERIES - len(existing.samples)
            existing.samples.extend(series.samples[:room])
            existing.truncated += series.truncated + max(len(series.samples) - room, 0)
            existing.dropped += series.dropped
            existing.summary_only = existing.summary_only or series.summary_only
    for name, series in merged.items():
        if contributions[name] > 1:
            series.reported = {}
    sources = list(dict.fromkeys(report.source for report in reports))
    return BenchReport(series=list(merged.values()), source="+".join(sources) if sources else "none")


# --- shared reading --------------------------------------------------------------------------------------------------


def _load_json_document(data: bytes, what: str) -> Any:
    if len(data) > MAX_REPORT_BYTES:
        raise ResultsUnreadable(f"{what} JSON is larger than {MAX_REPORT_BYTES} bytes")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as unreadable:
        raise ResultsUnreadable(f"{what} JSON is not valid JSON: {unreadable}") from unreadable
    except RecursionError as too_deep:
        raise ResultsUnreadable(f"{what} JSON is nested too deeply") from too_deep


def _loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _dict_items(lists: Iterable[object]) -> Iterator[dict[str, Any]]:
    for items in lists:
        if isinstance(items, list):
            yield from (item for item in items if isinstance(item, dict))


def _numbers(source: dict[str, Any], keys: Iterable[str]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for key in keys:
        value = source.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            figures[key] = float(value)
    return figures


def _seconds(value: object, seconds_per_unit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value) * seconds_per_unit
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _table_number(word: str) -> float | None:
    cleaned = word.strip().replace(",", "").replace("±", "").rstrip("%")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
