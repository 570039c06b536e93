"""Reading test results: JUnit XML (hostile input refused) and the closing lines of each runner's console output.

The fixtures in repo_outputs/ were printed by the real tools (pytest 8.4 and 9.2, jest 30, vitest 3.2, mocha 11,
node 20's test runner) with paths rewritten to /workspace.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.repo_optimize.test_results import (
    MAX_CASES,
    MAX_FAILURE_NAMES,
    MAX_MESSAGE_CHARS,
    MAX_REPORT_BYTES,
    ResultsUnreadable,
    TestCase,
    no_tests_found,
    parse_junit_xml,
    parse_test_summary,
    strip_ansi,
)

OUTPUTS = Path(__file__).parent / "repo_outputs"


def _output(name: str) -> str:
    return (OUTPUTS / name).read_text(encoding="utf-8")


# --- JUnit XML -------------------------------------------------------------------------------------------------------


def test_junit_from_pytest_counts_each_outcome() -> None:
    report = parse_junit_xml((OUTPUTS / "pytest9_junit.xml").read_bytes())

    assert report.source == "junit"
    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == (7, 3, 1, 1, 2)
    assert report.failures == ["test_demo.test_fail", "test_demo.test_err"]
    assert report.duration_s == pytest.approx(0.048)
    failed = next(case for case in report.cases if case.name == "test_fail")
    assert failed.status == "failed"
    assert failed.classname == "test_demo"
    assert failed.message == "AssertionError: one is not two\nassert 1 == 2"
    skipped = next(case for case in report.cases if case.name == "test_s1")
    assert (skipped.status, skipped.message) == ("skipped", "not on this platform")


def test_junit_with_many_and_nested_suites_sums_cases_and_top_level_times() -> None:
    xml = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="4" failures="1" errors="0">
  <testsuite name="math" tests="2" failures="1" time="1.5">
    <testcase classname="math adds" name="adds" time="0.003"/>
    <testcase classname="math subtracts" name="subtracts" time="0.002">
      <failure>Error: expect(received).toBe(expected)</failure>
    </testcase>
  </testsuite>
  <testsuites>
    <testsuite name="outer" time="0.5">
      <testsuite name="inner" time="0.4">
        <testcase name="deep" time="0.1"><error message="TypeError: x is undefined" type="TypeError"/></testcase>
        <testcase name="deeper"><skipped/></testcase>
      </testsuite>
    </testsuite>
  </testsuites>
</testsuites>"""

    report = parse_junit_xml(xml)

    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == (4, 1, 1, 1, 1)
    assert report.failures == ["math subtracts.subtracts", "deep"]
    assert report.duration_s == pytest.approx(2.0)
    assert report.cases[1].message == "Error: expect(received).toBe(expected)"
    assert report.cases[3].duration_s is None


def test_junit_single_suite_with_namespace_reads_its_own_time() -> None:
    xml = b"""<testsuite xmlns="urn:example:junit" name="s" time="3.25">
  <testcase name="a"/><testcase name="b"><failure message="boom"/></testcase>
</testsuite>"""

    report = parse_junit_xml(xml)

    assert (report.total, report.passed, report.failed) == (2, 1, 1)
    assert report.duration_s == 3.25


def test_junit_without_cases_falls_back_to_suite_attributes() -> None:
    xml = b'<testsuites><testsuite name="a" tests="5" failures="1" errors="1" skipped="1" time="2"/></testsuites>'

    report = parse_junit_xml(xml)

    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == (5, 2, 1, 1, 1)
    assert report.cases == []


def test_junit_keeps_bounded_lists_but_counts_everything() -> None:
    cases = "".join(f'<testcase name="t{index}"><failure message="{"x" * 3000}"/></testcase>' for index in range(600))
    xml = f"<testsuite>{cases}</testsuite>".encode()

    report = parse_junit_xml(xml)

    assert report.total == report.failed == 600
    assert len(report.failures) == MAX_FAILURE_NAMES
    assert len(report.cases) == MAX_CASES
    assert report.cases[0].message is not None
    assert len(report.cases[0].message) == MAX_MESSAGE_CHARS


def test_junit_billion_laughs_is_refused() -> None:
    xml = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<testsuite><testcase name="&lol3;"/></testsuite>"""

    with pytest.raises(ResultsUnreadable, match="refused"):
        parse_junit_xml(xml)


def test_junit_external_entity_is_refused() -> None:
    xml = b"""<?xml version="1.0"?>
<!DOCTYPE testsuite [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite><testcase name="t"><failure message="&secret;"/></testcase></testsuite>"""

    with pytest.raises(ResultsUnreadable, match="refused"):
        parse_junit_xml(xml)


def test_junit_too_large_is_refused_before_parsing() -> None:
    xml = b"<testsuite>" + b" " * MAX_REPORT_BYTES + b"</testsuite>"

    with pytest.raises(ResultsUnreadable, match="larger than"):
        parse_junit_xml(xml)


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (b"<testsuite><testcase name='a'>", "not well-formed"),
        (b"", "not well-formed"),
        (b"<html><body>Jenkins</body></html>", "root element is <html>"),
    ],
)
def test_junit_unreadable_reports_say_why(xml: bytes, reason: str) -> None:
    with pytest.raises(ResultsUnreadable, match=reason):
        parse_junit_xml(xml)


def test_results_unreadable_is_a_value_error() -> None:
    assert issubclass(ResultsUnreadable, ValueError)


def test_test_case_message_is_bounded() -> None:
    case = TestCase(name="t", status="failed", message="y" * 5000)

    assert case.message == "y" * MAX_MESSAGE_CHARS


# --- pytest ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "seconds"),
    [("pytest9_rA.txt", 0.04), ("pytest9_quiet.txt", 0.02), ("pytest8_color.txt", 0.04)],
)
def test_pytest_summary_from_real_runs(fixture: str, seconds: float) -> None:
    report = parse_test_summary(_output(fixture))

    assert report is not None
    assert report.source == "pytest"
    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == (7, 3, 1, 1, 2)
    assert sorted(report.failures) == ["test_demo.py::test_err", "test_demo.py::test_fail"]
    assert report.duration_s == seconds
    failed = next(case for case in report.cases if case.name == "test_demo.py::test_fail")
    assert (failed.status, failed.message) == ("failed", "AssertionError: one is not two")


def test_pytest_colour_codes_are_stripped_before_matching() -> None:
    coloured = _output("pytest8_color.txt")

    assert "\x1b[" in coloured
    assert "\x1b" not in strip_ansi(coloured)
    assert "=== 1 failed, 3 passed, 2 skipped, 1 error in 0.04s ===" in strip_ansi(coloured)


@pytest.mark.parametrize(
    ("line", "counts", "seconds"),
    [
        ("==== 1 failed, 3 passed, 2 skipped, 1 error in 0.52s ====", (7, 3, 1, 1, 2), 0.52),
        ("=== 120 passed, 3 warnings in 61.23s (0:01:01) ===", (120, 120, 0, 0, 0), 61.23),
        ("2 passed, 1 xfailed, 1 xpassed in 0.10s", (4, 3, 0, 0, 1), 0.10),
        ("==== 2 errors in 0.31s ====", (2, 0, 0, 2, 0), 0.31),
        ("===== 4 deselected in 0.01s =====", (0, 0, 0, 0, 0), 0.01),
    ],
)
def test_pytest_summary_line_formats(line: str, counts: tuple[int, int, int, int, int], seconds: float) -> None:
    report = parse_test_summary(f"collected 4 items\n\n{line}\n")

    assert report is not None
    assert report.source == "pytest"
    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == counts
    assert report.duration_s == pytest.approx(seconds)


def test_pytest_no_tests_ran_is_not_a_summary() -> None:
    output = _output("pytest9_no_tests.txt")

    assert parse_test_summary(output) is None
    assert no_tests_found(None, output, exit_code=5)


def test_lines_of_the_same_shape_from_other_tools_are_not_pytest() -> None:
    assert parse_test_summary("added 353 packages in 16s\n") is None


# --- jest ------------------------------------------------------------------------------------------------------------


def test_jest_summary_from_a_real_run() -> None:
    report = parse_test_summary(_output("jest30.txt"))

    assert report is not None
    assert report.source == "jest"
    # 1 failed, 1 skipped, 1 todo, 2 passed, 5 total: todo counts as not run
    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == (5, 2, 1, 0, 2)
    # jest joins a test's titles with a single right-pointing angle quotation mark
    assert report.failures == ["math \u203a subtracts"]
    assert report.duration_s == 0.29


def test_jest_no_tests_found() -> None:
    output = _output("jest30_no_tests.txt")

    assert parse_test_summary(output) is None
    assert no_tests_found(None, output, exit_code=1)


# --- vitest ----------------------------------------------------------------------------------------------------------


def test_vitest3_summary_from_a_real_run() -> None:
    report = parse_test_summary(_output("vitest3.txt"))

    assert report is not None
    assert report.source == "vitest"
    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == (5, 2, 1, 0, 2)
    assert report.failures == ["math.test.js > math > subtracts"]
    assert report.duration_s == pytest.approx(0.232)


def test_vitest2_summary_with_coloured_output_and_errors() -> None:
    output = (
        "\x1b[31m FAIL \x1b[39m src/sum.test.ts > sum > adds\n"
        " \x1b[2mTest Files \x1b[22m \x1b[1m\x1b[31m1 failed\x1b[39m\x1b[22m\x1b[2m | \x1b[22m\x1b[1m\x1b[32m1 passed"
        "\x1b[39m\x1b[22m\x1b[90m (2)\x1b[39m\n"
        "\x1b[2m      Tests \x1b[22m \x1b[1m\x1b[31m1 failed\x1b[39m\x1b[22m\x1b[2m | \x1b[22m\x1b[1m\x1b[32m3 passed"
        "\x1b[39m\x1b[22m\x1b[90m (4)\x1b[39m\n"
        "\x1b[2m     Errors \x1b[22m \x1b[1m\x1b[31m1 error\x1b[39m\x1b[22m\n"
        "\x1b[2m   Start at \x1b[22m 10:12:01\n"
        "\x1b[2m   Duration \x1b[22m 1.42s\x1b[2m (transform 40ms, setup 0ms, collect 30ms, tests 5ms)\x1b[22m\n"
    )

    report = parse_test_summary(output)

    assert report is not None
    assert report.source == "vitest"
    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == (4, 3, 1, 1, 0)
    assert report.failures == ["src/sum.test.ts > sum > adds"]
    assert report.duration_s == pytest.approx(1.42)


def test_vitest_no_test_files() -> None:
    output = _output("vitest3_no_tests.txt")

    assert parse_test_summary(output) is None
    assert no_tests_found(None, output, exit_code=1)


# --- node:test -------------------------------------------------------------------------------------------------------


def test_node_tap_summary_names_only_failed_leaves() -> None:
    report = parse_test_summary(_output("node20_tap.txt"))

    assert report is not None
    assert report.source == "node-test"
    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == (5, 2, 2, 0, 1)
    # "not ok 1 - math" is the suite failing because of its subtest: not a test of its own
    assert report.failures == ["subtracts", "fails at top"]
    assert report.duration_s == pytest.approx(0.09064981)


def test_node_spec_reporter_summary() -> None:
    report = parse_test_summary(_output("node20_spec.txt"))

    assert report is not None
    assert report.source == "node-test"
    assert (report.total, report.passed, report.failed, report.skipped) == (5, 2, 2, 1)
    assert report.failures == ["subtracts", "fails at top"]
    assert report.duration_s == pytest.approx(0.093949757)


def test_node_tap_todo_is_not_a_failure_and_cancelled_counts_as_error() -> None:
    output = "\n".join(
        [
            "TAP version 13",
            "not ok 1 - later # todo write it",
            "not ok 2 - timed out",
            "1..2",
            "# tests 2",
            "# pass 0",
            "# fail 0",
            "# cancelled 1",
            "# skipped 0",
            "# todo 1",
            "# duration_ms 5012.5",
        ]
    )

    report = parse_test_summary(output)

    assert report is not None
    assert (report.total, report.errors, report.skipped) == (2, 1, 1)
    assert report.failures == ["timed out"]


def test_node_with_no_tests() -> None:
    output = "# tests 0\n# suites 0\n# pass 0\n# fail 0\n# duration_ms 3.1\n"

    report = parse_test_summary(output)

    assert report is not None
    assert report.total == 0
    assert no_tests_found(report, output, exit_code=0)


# --- mocha -----------------------------------------------------------------------------------------------------------


def test_mocha_summary_from_a_real_run() -> None:
    report = parse_test_summary(_output("mocha11.txt"))

    assert report is not None
    assert report.source == "mocha"
    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == (5, 2, 2, 0, 1)
    assert report.failures == ["math subtracts", "math nested multiplies two numbers"]
    assert report.duration_s == pytest.approx(0.004)


def test_mocha_all_passing_in_seconds() -> None:
    report = parse_test_summary("\n  ✔ works\n\n  12 passing (2s)\n\n")

    assert report is not None
    assert (report.total, report.passed, report.failed, report.failures) == (12, 12, 0, [])
    assert report.duration_s == 2.0


def test_mocha_no_test_files() -> None:
    output = _output("mocha11_no_tests.txt")

    assert parse_test_summary(output) is None
    assert no_tests_found(None, output, exit_code=1)


# --- nothing recognisable, and no tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["", "Segmentation fault (core dumped)\n", "make: *** [test] Error 2\n"])
def test_unrecognised_output_gives_none(output: str) -> None:
    assert parse_test_summary(output) is None


def test_tests_that_ran_are_not_no_tests_even_if_the_words_appear() -> None:
    output = "log: No tests found, exiting with code 1 (from a fixture)\n3 passed in 0.10s\n"

    report = parse_test_summary(output)

    assert not no_tests_found(report, output, exit_code=0)


def test_exit_code_five_alone_is_not_no_tests() -> None:
    assert not no_tests_found(None, "Killed\n", exit_code=5)


def test_pytest_exit_five_with_nothing_collected_is_no_tests() -> None:
    assert no_tests_found(None, "collected 0 items\n\n", exit_code=5)


def test_jest_time_in_milliseconds() -> None:
    output = "Tests:       2 passed, 2 total\nSnapshots:   0 total\nTime:        823 ms\n"

    report = parse_test_summary(output)

    assert report is not None
    assert report.duration_s == pytest.approx(0.823)


@pytest.mark.timeout(20)
def test_long_lines_of_spaces_are_read_in_linear_time() -> None:
    # Quadratic backtracking on a line like this would take hours; a linear scan takes milliseconds.
    padding = " " * 200_000
    output = f"FAIL {padding}x\nnot ok 1 - {padding}x\n  ● {padding}x\n3 passing{padding}\n"

    assert parse_test_summary(output) is None
