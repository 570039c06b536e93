"""Reading benchmark timings into series of seconds.

pytest_benchmark_5_1_0.json was written by pytest-benchmark 5.1.0 (`--benchmark-json`, on pytest 8.4), and
pytest_benchmark_saved_no_data.json by the same run's `--benchmark-autosave`, which leaves out `stats.data`. The
vitest 3.2 and tinybench 2.9 / 6.2 outputs were printed by those tools.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from agentlab.repo_optimize.bench_results import (
    MAX_SAMPLES_PER_SERIES,
    BenchReport,
    build_series,
    merge_runs,
    parse_json_samples,
    parse_pytest_benchmark_json,
    parse_tinybench,
    parse_vitest_bench,
    parse_vitest_bench_json,
    wall_time_report,
)
from agentlab.repo_optimize.test_results import MAX_REPORT_BYTES, ResultsUnreadable

OUTPUTS = Path(__file__).parent / "repo_outputs"


def _series(report: BenchReport | None, name: str) -> tuple[list[float], bool, int]:
    assert report is not None
    found = next(series for series in report.series if series.name == name)
    return found.samples, found.summary_only, found.dropped


# --- pytest-benchmark ------------------------------------------------------------------------------------------------


def test_pytest_benchmark_json_keeps_every_raw_round() -> None:
    data = (OUTPUTS / "pytest_benchmark_5_1_0.json").read_bytes()
    written = {entry["name"]: entry["stats"] for entry in json.loads(data)["benchmarks"]}

    report = parse_pytest_benchmark_json(data)

    assert report.source == "pytest-benchmark"
    assert [series.name for series in report.series] == ["test_fib", "test_sleep"]
    for series in report.series:
        assert series.samples == written[series.name]["data"]
        assert len(series.samples) == written[series.name]["rounds"]
        assert not series.summary_only
        assert series.unit == "s"
        assert series.reported["median"] == written[series.name]["median"]
    # the sleep benchmark slept 1 ms a round: the samples are seconds
    sleep_samples, _, _ = _series(report, "test_sleep")
    assert all(0.001 <= sample < 0.01 for sample in sleep_samples)


def test_pytest_benchmark_without_raw_data_keeps_the_mean_and_says_so() -> None:
    data = (OUTPUTS / "pytest_benchmark_saved_no_data.json").read_bytes()
    stats = json.loads(data)["benchmarks"][0]["stats"]
    assert "data" not in stats

    report = parse_pytest_benchmark_json(data)

    samples, summary_only, _ = _series(report, "test_fib")
    assert summary_only
    assert samples == [stats["mean"]]
    assert report.series[0].reported["rounds"] == stats["rounds"]
    assert report.series[0].reported["min"] == stats["min"]


def test_pytest_benchmark_duplicate_names_are_told_apart_by_full_name() -> None:
    document = {
        "benchmarks": [
            {"name": "test_parse", "fullname": "tests/a.py::test_parse", "stats": {"data": [0.1], "mean": 0.1}},
            {"name": "test_parse", "fullname": "tests/b.py::test_parse", "stats": {"data": [0.2], "mean": 0.2}},
        ]
    }

    report = parse_pytest_benchmark_json(json.dumps(document).encode())

    assert [series.name for series in report.series] == ["tests/a.py::test_parse", "tests/b.py::test_parse"]


def test_pytest_benchmark_bad_samples_are_dropped_and_counted() -> None:
    data = b'{"benchmarks": [{"name": "t", "stats": {"data": [0.5, NaN, -1.0, Infinity, "x", null, true, 0.25]}}]}'

    report = parse_pytest_benchmark_json(data)

    samples, _, dropped = _series(report, "t")
    assert samples == [0.5, 0.25]
    assert dropped == 6


def test_pytest_benchmark_truncated_json_is_unreadable() -> None:
    data = (OUTPUTS / "pytest_benchmark_5_1_0.json").read_bytes()

    with pytest.raises(ResultsUnreadable, match="not valid JSON"):
        parse_pytest_benchmark_json(data[: len(data) // 2])


@pytest.mark.parametrize("data", [b"[]", b'{"machine_info": {}}', b'{"benchmarks": {}}'])
def test_pytest_benchmark_json_of_another_shape_is_unreadable(data: bytes) -> None:
    with pytest.raises(ResultsUnreadable, match="no 'benchmarks' list"):
        parse_pytest_benchmark_json(data)


def test_pytest_benchmark_json_too_large_is_refused() -> None:
    with pytest.raises(ResultsUnreadable, match="larger than"):
        parse_pytest_benchmark_json(b" " * (MAX_REPORT_BYTES + 1))


def test_series_keep_at_most_the_cap_and_count_the_rest() -> None:
    series = build_series("many", [0.001] * (MAX_SAMPLES_PER_SERIES + 2000), "json-samples")

    assert len(series.samples) == MAX_SAMPLES_PER_SERIES
    assert series.truncated == 2000
    assert series.dropped == 0


# --- samples printed as JSON -----------------------------------------------------------------------------------------


def test_json_samples_in_each_unit_become_seconds() -> None:
    output = "\n".join(
        [
            "warming up...",
            '{"name": "ms", "samples_ms": [1.5, 2.5]}',
            '{"name": "s", "samples_s": [0.5]}',
            '{"name": "us", "samples_us": [250]}',
            '{"name": "ns", "samples_ns": [1000]}',
        ]
    )

    report = parse_json_samples(output)

    assert report is not None
    assert report.source == "json-samples"
    assert _series(report, "ms")[0] == [0.0015, 0.0025]
    assert _series(report, "s")[0] == [0.5]
    assert _series(report, "us")[0] == pytest.approx([0.00025])
    assert _series(report, "ns")[0] == pytest.approx([1e-6])


def test_json_samples_unnamed_and_benchmarks_list() -> None:
    assert _series(parse_json_samples('{"samples_ms": [10, 20]}\n'), "benchmark")[0] == [0.01, 0.02]

    output = 'done\n{"benchmarks": [{"name": "a", "samples_s": [1, 2]}, {"name": "b", "samples_ms": [3]}]}\n'
    report = parse_json_samples(output)
    assert report is not None
    assert [series.name for series in report.series] == ["a", "b"]
    assert _series(report, "b")[0] == [0.003]


def test_json_samples_last_object_for_a_name_wins() -> None:
    output = '{"name": "x", "samples_ms": [1]}\nrerun\n{"name": "x", "samples_ms": [2, 3]}\n'

    assert _series(parse_json_samples(output), "x")[0] == [0.002, 0.003]


def test_json_samples_pretty_printed_at_the_end() -> None:
    output = "log line\n" + json.dumps({"name": "pretty", "samples_ms": [4, 5]}, indent=2)

    assert _series(parse_json_samples(output), "pretty")[0] == [0.004, 0.005]


def test_json_samples_bad_values_are_dropped() -> None:
    samples, _, dropped = _series(parse_json_samples('{"name": "n", "samples_ms": [1, -2, NaN, "3"]}'), "n")

    assert samples == [0.001]
    assert dropped == 3


@pytest.mark.parametrize(
    "output",
    [
        "",
        "no json here\n",
        '{"name": "cut", "samples_ms": [1, 2, 3',
        '{"name": "other", "timings": [1, 2]}\n',
        "[1, 2, 3]\n",
    ],
)
def test_json_samples_none_when_nothing_readable(output: str) -> None:
    assert parse_json_samples(output) is None


# --- vitest ----------------------------------------------------------------------------------------------------------


def test_vitest_bench_console_table_from_a_real_run() -> None:
    report = parse_vitest_bench((OUTPUTS / "vitest3_bench.txt").read_text(encoding="utf-8"))

    assert report is not None
    assert report.source == "vitest"
    assert [series.name for series in report.series] == [
        "sort.bench.js > sort > normal sorting",
        "sort.bench.js > sort > reverse sorting",
    ]
    normal = report.series[0]
    assert normal.summary_only
    assert normal.samples == [pytest.approx(0.0441e-3)]
    assert normal.reported["hz"] == 22667.18
    assert normal.reported["p999"] == pytest.approx(0.5216e-3)
    assert normal.reported["rme"] == 6.81
    assert normal.reported["samples"] == 4534


def test_vitest_bench_console_table_with_colour_codes() -> None:
    output = (
        " \x1b[32m✓\x1b[39m bench/parse.bench.ts \x1b[2m>\x1b[22m parse 1234ms\n"
        "\x1b[1m     name          hz     min     max    mean     p75     p99    p995    p999     rme  samples"
        "\x1b[22m\n"
        "   \x1b[90m·\x1b[39m small  1,204.50  0.7000  1.9000  0.8302  0.8400  1.2000  1.5000  1.9000  ±0.42%      603"
        "   \x1b[36m\x1b[1mfastest\x1b[22m\x1b[39m\n"
    )

    report = parse_vitest_bench(output)

    assert report is not None
    assert report.series[0].name == "bench/parse.bench.ts > parse > small"
    assert report.series[0].samples == [pytest.approx(0.8302e-3)]


def test_vitest_bench_json_matches_the_console_names() -> None:
    data = (OUTPUTS / "vitest3_bench.json").read_bytes()
    mean_ms = json.loads(data)["files"][0]["groups"][0]["benchmarks"][0]["mean"]

    report = parse_vitest_bench_json(data)

    console = parse_vitest_bench((OUTPUTS / "vitest3_bench.txt").read_text(encoding="utf-8"))
    assert console is not None
    assert [series.name for series in report.series] == [series.name for series in console.series]
    assert report.series[0].summary_only
    assert report.series[0].samples == [pytest.approx(mean_ms / 1000)]
    assert report.series[0].reported["samples"] == 4534


def test_vitest_bench_json_with_samples_keeps_them() -> None:
    document = {"files": [{"groups": [{"fullName": "g", "benchmarks": [{"name": "b", "samples": [2.0, 4.0]}]}]}]}

    report = parse_vitest_bench_json(json.dumps(document).encode())

    assert report.series[0].name == "g > b"
    assert report.series[0].samples == [0.002, 0.004]
    assert not report.series[0].summary_only


def test_vitest_bench_json_truncated_is_unreadable() -> None:
    data = (OUTPUTS / "vitest3_bench.json").read_bytes()

    with pytest.raises(ResultsUnreadable):
        parse_vitest_bench_json(data[:200])


def test_vitest_bench_none_without_a_table() -> None:
    assert parse_vitest_bench((OUTPUTS / "vitest3.txt").read_text(encoding="utf-8")) is None


# --- tinybench -------------------------------------------------------------------------------------------------------


def test_tinybench2_table() -> None:
    report = parse_tinybench((OUTPUTS / "tinybench2_table.txt").read_text(encoding="utf-8"))

    assert report is not None
    assert report.source == "tinybench"
    assert [series.name for series in report.series] == ["sort numbers", "reverse then sort"]
    first = report.series[0]
    assert first.summary_only
    assert first.samples == [pytest.approx(43689.947575359816e-9)]
    assert first.reported == {"hz": 22888.0, "mean": pytest.approx(43689.947575359816e-9), "rme": 6.66, "samples": 2289}


def test_tinybench6_table() -> None:
    report = parse_tinybench((OUTPUTS / "tinybench6_table.txt").read_text(encoding="utf-8"))

    assert report is not None
    second = report.series[1]
    assert second.name == "reverse then sort"
    assert second.samples == [pytest.approx(39613e-9)]
    assert second.reported["median"] == pytest.approx(38371e-9)
    assert second.reported["rme"] == 0.84
    assert second.reported["hz"] == 25674
    assert second.reported["samples"] == 2525


def test_tinybench_none_without_a_table() -> None:
    assert parse_tinybench("┌───┐\n│ a │\n└───┘\n") is None
    assert parse_tinybench("") is None


# --- wall time and merging -------------------------------------------------------------------------------------------


def test_wall_time_report() -> None:
    report = wall_time_report("make bench", [1.25, 1.5, math.nan, -0.1])

    assert report.source == "wall-time"
    assert report.series[0].name == "make bench"
    assert report.series[0].samples == [1.25, 1.5]
    assert report.series[0].dropped == 2
    assert report.series[0].source == "wall-time"


def test_merge_runs_concatenates_samples_by_name_in_run_order() -> None:
    first = BenchReport(
        series=[build_series("a", [1.0, 2.0], "json-samples"), build_series("b", [5.0], "json-samples")],
        source="json-samples",
    )
    second = BenchReport(
        series=[build_series("b", [6.0, -1.0], "json-samples"), build_series("a", [3.0], "json-samples")],
        source="json-samples",
    )

    merged = merge_runs([first, second])

    assert merged.source == "json-samples"
    assert [(series.name, series.samples) for series in merged.series] == [("a", [1.0, 2.0, 3.0]), ("b", [5.0, 6.0])]
    assert merged.series[1].dropped == 1
    assert first.series[0].samples == [1.0, 2.0]


def test_merge_runs_of_summary_tables_gives_one_sample_per_run() -> None:
    table = (OUTPUTS / "tinybench2_table.txt").read_text(encoding="utf-8")
    runs = [parse_tinybench(table) for _ in range(3)]

    merged = merge_runs([run for run in runs if run is not None])

    assert len(merged.series) == 2
    assert merged.series[0].samples == [pytest.approx(43689.947575359816e-9)] * 3
    assert merged.series[0].summary_only
    assert merged.series[0].reported == {}


def test_merge_runs_caps_each_series() -> None:
    run = BenchReport(series=[build_series("x", [0.1] * 6000, "wall-time")], source="wall-time")

    merged = merge_runs([run, run])

    assert len(merged.series[0].samples) == MAX_SAMPLES_PER_SERIES
    assert merged.series[0].truncated == 2000


def test_merge_runs_of_different_sources_names_them_all() -> None:
    merged = merge_runs([wall_time_report("w", [1.0]), BenchReport(series=[], source="vitest")])

    assert merged.source == "wall-time+vitest"
    assert merge_runs([]).series == []


def test_json_samples_pretty_printed_after_an_unrelated_json_log_line() -> None:
    output = '{"level": "info", "msg": "starting"}\n' + json.dumps({"name": "p", "samples_s": [0.5, 0.75]}, indent=2)

    assert _series(parse_json_samples(output), "p")[0] == [0.5, 0.75]


@pytest.mark.timeout(20)
def test_vitest_lines_of_spaces_are_read_in_linear_time() -> None:
    padding = " " * 200_000

    assert parse_vitest_bench(f"✓ {padding}x 12ms\n     name  hz  min  mean\n   · {padding}\n") is None
