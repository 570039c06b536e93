"""Read what a repository's test command reported: a JUnit XML file, or the runner's closing console lines.

Both come from code we do not trust, run in the sandbox. The XML goes through defusedxml (no entity expansion, no
external entities) with a size cap; console text is bounded by the caller and matched line by line with anchored
patterns, after the ANSI colour codes that runners print on a terminal are removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Literal
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import BaseModel, Field, field_validator

MAX_REPORT_BYTES = 20 * 1024 * 1024
MAX_MESSAGE_CHARS = 2000
MAX_FAILURE_NAMES = 200
MAX_CASES = 500

TestStatus = Literal["passed", "failed", "error", "skipped"]
TestSource = Literal["junit", "pytest", "jest", "vitest", "node-test", "mocha", "unknown"]

_JUNIT_STATUS: dict[str, TestStatus] = {"failure": "failed", "error": "error", "skipped": "skipped"}
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


class ResultsUnreadable(ValueError):
    """A results file that cannot be read as what it claims to be: too large, malformed, or hostile."""


class TestCase(BaseModel):
    """One test as a report names it."""

    __test__ = False  # a model, not a test class for pytest to collect

    name: str
    classname: str | None = None
    status: TestStatus
    duration_s: float | None = None
    message: str | None = None

    @field_validator("message")
    @classmethod
    def _bound_message(cls, message: str | None) -> str | None:
        return message[:MAX_MESSAGE_CHARS] if message is not None else None


class TestReport(BaseModel):
    """The counts of one test run, with the names of what failed; lists are bounded, the counts are not."""

    __test__ = False

    source: TestSource
    total: int
    passed: int
    failed: int
    errors: int
    skipped: int
    failures: list[str] = Field(default_factory=list)
    cases: list[TestCase] = Field(default_factory=list)
    duration_s: float | None = None

    @field_validator("failures")
    @classmethod
    def _bound_failures(cls, failures: list[str]) -> list[str]:
        return failures[:MAX_FAILURE_NAMES]

    @field_validator("cases")
    @classmethod
    def _bound_cases(cls, cases: list[TestCase]) -> list[TestCase]:
        return cases[:MAX_CASES]


def strip_ansi(text: str) -> str:
    """Remove colour and cursor escape sequences, so that patterns see the words a terminal shows."""
    return _ANSI_ESCAPE.sub("", text)


# --- JUnit XML -------------------------------------------------------------------------------------------------------


def parse_junit_xml(data: bytes) -> TestReport:
    """Read a JUnit XML report (one `<testsuite>`, or `<testsuites>` holding many, nested or not).

    Counts come from the `<testcase>` elements when there are any, since the suites' own attributes are often
    missing or wrong; a report with suites but no cases falls back to the attributes.
    """
    if len(data) > MAX_REPORT_BYTES:
        raise ResultsUnreadable(f"JUnit report is larger than {MAX_REPORT_BYTES} bytes")
    try:
        root = fromstring(data)
    except DefusedXmlException as refused:
        raise ResultsUnreadable(f"JUnit report refused: {type(refused).__name__}") from refused
    except ParseError as malformed:
        raise ResultsUnreadable(f"JUnit report is not well-formed XML: {malformed}") from malformed
    if _local_name(root.tag) not in ("testsuites", "testsuite"):
        raise ResultsUnreadable(f"not a JUnit report: root element is <{_local_name(root.tag)}>")

    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    failures: list[str] = []
    cases: list[TestCase] = []
    for element in _iter_named(root, "testcase"):
        case = _junit_case(element)
        counts[case.status] += 1
        if case.status in ("failed", "error") and len(failures) < MAX_FAILURE_NAMES:
            failures.append(f"{case.classname}.{case.name}" if case.classname else case.name)
        if len(cases) < MAX_CASES:
            cases.append(case)

    if not any(counts.values()):
        return _junit_totals_from_attributes(root)
    return TestReport(
        source="junit",
        total=sum(counts.values()),
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["error"],
        skipped=counts["skipped"],
        failures=failures,
        cases=cases,
        duration_s=_junit_duration(root),
    )


def _junit_case(element: Element) -> TestCase:
    status: TestStatus = "passed"
    message: str | None = None
    for child in element:
        tag = _local_name(child.tag)
        if tag in ("failure", "error", "skipped"):
            status = _JUNIT_STATUS[tag]
            message = child.get("message") or (child.text or "").strip() or None
            if tag != "skipped":
                break
    return TestCase(
        name=element.get("name") or "(unnamed)",
        classname=element.get("classname") or None,
        status=status,
        duration_s=_seconds_attribute(element.get("time")),
        message=message,
    )


def _junit_totals_from_attributes(root: Element) -> TestReport:
    suites = [root] if _local_name(root.tag) == "testsuite" else list(_top_suites(root))
    total = sum(_int_attribute(suite.get("tests")) for suite in suites)
    failed = sum(_int_attribute(suite.get("failures")) for suite in suites)
    errors = sum(_int_attribute(suite.get("errors")) for suite in suites)
    skipped = sum(_int_attribute(suite.get("skipped") or suite.get("disabled")) for suite in suites)
    return TestReport(
        source="junit",
        total=total,
        passed=max(total - failed - errors - skipped, 0),
        failed=failed,
        errors=errors,
        skipped=skipped,
        duration_s=_junit_duration(root),
    )


def _junit_duration(root: Element) -> float | None:
    own = _seconds_attribute(root.get("time"))
    if own is not None or _local_name(root.tag) == "testsuite":
        return own
    durations = [_seconds_attribute(suite.get("time")) for suite in _top_suites(root)]
    known = [duration for duration in durations if duration is not None]
    return sum(known) if known else None


def _top_suites(root: Element) -> Iterator[Element]:
    """The outermost `<testsuite>` elements, so that nested suites' times are not counted twice."""
    for child in root:
        tag = _local_name(child.tag)
        if tag == "testsuite":
            yield child
        elif tag == "testsuites":
            yield from _top_suites(child)


def _iter_named(root: Element, name: str) -> Iterator[Element]:
    for element in root.iter():
        if _local_name(element.tag) == name:
            yield element


def _local_name(tag: object) -> str:
    """The tag without its `{namespace}`; comments and processing instructions have non-string tags."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _seconds_attribute(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.replace(",", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 and seconds != float("inf") else None


def _int_attribute(value: str | None) -> int:
    try:
        return max(int(value or 0), 0)
    except ValueError:
        return 0


# --- console summaries -----------------------------------------------------------------------------------------------

_PYTEST_SUMMARY = re.compile(
    r"^=*\s*(?P<counts>\d+ [a-z]+(?:, \d+ [a-z]+)*) in (?P<seconds>\d+(?:\.\d+)?)s(?: \([\d:.]+\))?\s*=*$"
)
_PYTEST_FAILED_LINE = re.compile(r"^(?P<kind>FAILED|ERROR) (?P<name>\S+)(?: - (?P<message>.*))?$")
_JEST_TESTS = re.compile(r"^Tests:\s+(?P<counts>.*\d+ total)\s*$")
_JEST_TIME = re.compile(r"^Time:\s+(?P<value>\d+(?:\.\d+)?) ?(?P<unit>ms|s)\b")
_JEST_FAILURE_HEADER = re.compile(r"^\s*● (?P<name>.+)$")
_VITEST_TESTS = re.compile(r"^\s*Tests\s{2,}(?P<counts>\d+ [a-z]+(?: \| \d+ [a-z]+)*) \((?P<total>\d+)\)\s*$")
_VITEST_ERRORS = re.compile(r"^\s*Errors\s{2,}(?P<count>\d+) errors?\b")
_VITEST_DURATION = re.compile(r"^\s*Duration\s{2,}(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s|m)\b")
_VITEST_FAIL_LINE = re.compile(r"^\s*FAIL\s+(?P<name>\S.*)$")
# "# tests 4" in TAP, "\u2139 tests 4" (the information sign) in the spec reporter.
_NODE_COUNTER = re.compile(
    r"^(?:#|\u2139) (?P<key>tests|pass|fail|cancelled|skipped|todo|duration_ms) (?P<value>\d+(?:\.\d+)?)$"
)
_TAP_NOT_OK = re.compile(r"^\s*not ok \d+(?: - (?P<name>.*?))?(?: # (?P<directive>skip|todo)\b.*)?$", re.IGNORECASE)
_MOCHA_COUNT = re.compile(
    r"^\s*(?P<count>\d+) (?P<kind>passing|failing|pending)(?: \((?P<value>\d+)(?P<unit>ms|s|m)\))?$"
)
_MOCHA_FAILURE_START = re.compile(r"^\s*(?P<number>\d+)\) (?P<title>.*)$")

_PYTEST_COUNTED_WORDS: dict[str, str] = {
    "passed": "passed",
    "xpassed": "passed",
    "failed": "failed",
    "error": "errors",
    "errors": "errors",
    "skipped": "skipped",
    "xfailed": "skipped",
}
_PYTEST_WORDS = {*_PYTEST_COUNTED_WORDS, "deselected", "warning", "warnings", "rerun", "subtests"}
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0}


def parse_test_summary(output: str) -> TestReport | None:
    """Read a test runner's console output; None when no runner's closing summary is in it.

    Runners are tried from the most to the least distinctive closing lines. A pytest run that ran nothing prints
    "no tests ran", which has no counts: that gives None, and `no_tests_found` says why.
    """
    lines = strip_ansi(output).splitlines()
    for parse in (_parse_pytest, _parse_jest, _parse_vitest, _parse_node_test, _parse_mocha):
        report = parse(lines)
        if report is not None:
            return report
    return None


def no_tests_found(report: TestReport | None, output: str, exit_code: int) -> bool:
    """Whether the command ran no test at all, which is a broken test command rather than a passing one."""
    if report is not None:
        return report.total == 0
    text = strip_ansi(output)
    if exit_code == 5 and re.search(r"\bcollected 0 items\b|\bno tests ran\b", text):
        return True
    return bool(
        re.search(
            r"^=*\s*no tests ran\b|^No tests found, exiting with code|^No test files found|"
            r"^Error: No test files found|^(?:#|\u2139) tests 0$",
            text,
            flags=re.MULTILINE,
        )
    )


def _parse_pytest(lines: list[str]) -> TestReport | None:
    summary = _last_match(_PYTEST_SUMMARY, [line.strip() for line in lines])
    # "added 353 packages in 16s" has the same shape: only pytest's own words make it pytest's line.
    if summary is None or not all(item.split(" ", 1)[1] in _PYTEST_WORDS for item in summary["counts"].split(", ")):
        return None
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for item in summary["counts"].split(", "):
        number, word = item.split(" ", 1)
        if word in _PYTEST_COUNTED_WORDS:
            counts[_PYTEST_COUNTED_WORDS[word]] += int(number)
    failures: list[str] = []
    cases: list[TestCase] = []
    for line in lines:
        failed = _PYTEST_FAILED_LINE.match(line.strip())
        if failed and failed["name"] not in failures:
            failures.append(failed["name"])
            status: TestStatus = "failed" if failed["kind"] == "FAILED" else "error"
            cases.append(TestCase(name=failed["name"], status=status, message=failed["message"]))
    return TestReport(
        source="pytest",
        total=sum(counts.values()),
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["errors"],
        skipped=counts["skipped"],
        failures=failures,
        cases=cases,
        duration_s=float(summary["seconds"]),
    )


def _parse_jest(lines: list[str]) -> TestReport | None:
    tests = _last_match(_JEST_TESTS, lines)
    if tests is None:
        return None
    counts = _word_counts(tests["counts"], separator=",")
    duration = _last_match(_JEST_TIME, lines)
    failures = _unique(
        match["name"].strip()
        for match in map(_JEST_FAILURE_HEADER.match, lines)
        if match and match["name"].strip() != "Test suite failed to run"
    )
    failed = counts.get("failed", 0)
    skipped = counts.get("skipped", 0) + counts.get("todo", 0)
    passed = counts.get("passed", 0)
    return TestReport(
        source="jest",
        total=counts.get("total", failed + skipped + passed),
        passed=passed,
        failed=failed,
        errors=0,
        skipped=skipped,
        failures=failures,
        duration_s=float(duration["value"]) * _SECONDS_PER_UNIT[duration["unit"]] if duration else None,
    )


def _parse_vitest(lines: list[str]) -> TestReport | None:
    tests = _last_match(_VITEST_TESTS, lines)
    if tests is None:
        return None
    counts = _word_counts(tests["counts"], separator="|")
    errors = _last_match(_VITEST_ERRORS, lines)
    duration = _last_match(_VITEST_DURATION, lines)
    # "FAIL  file > suite > test" names a test; "FAIL  file [ file ]" is a file that failed to load.
    fail_lines = (match["name"].strip() for match in map(_VITEST_FAIL_LINE.match, lines) if match)
    failures = _unique(name for name in fail_lines if " > " in name)
    return TestReport(
        source="vitest",
        total=int(tests["total"]),
        passed=counts.get("passed", 0),
        failed=counts.get("failed", 0),
        errors=int(errors["count"]) if errors else 0,
        skipped=counts.get("skipped", 0) + counts.get("todo", 0),
        failures=failures,
        duration_s=float(duration["value"]) * _SECONDS_PER_UNIT[duration["unit"]] if duration else None,
    )


def _parse_node_test(lines: list[str]) -> TestReport | None:
    counters: dict[str, float] = {}
    for line in lines:
        counter = _NODE_COUNTER.match(line.strip())
        if counter:
            counters[counter["key"]] = float(counter["value"])
    if "tests" not in counters or "pass" not in counters:
        return None
    failures = _unique(_tap_leaf_failures(lines) or _spec_failures(lines))
    duration_ms = counters.get("duration_ms")
    return TestReport(
        source="node-test",
        total=int(counters["tests"]),
        passed=int(counters["pass"]),
        failed=int(counters.get("fail", 0)),
        errors=int(counters.get("cancelled", 0)),
        skipped=int(counters.get("skipped", 0) + counters.get("todo", 0)),
        failures=failures,
        duration_s=duration_ms / 1000 if duration_ms is not None else None,
    )


def _tap_leaf_failures(lines: list[str]) -> list[str]:
    """The names of failed TAP test points, leaving out suites that failed only because a subtest did."""
    failures: list[str] = []
    for index, line in enumerate(lines):
        not_ok = _TAP_NOT_OK.match(line)
        # A skip or to-do directive (any case, as TAP allows) makes a "not ok" an expected outcome, not a failure.
        if not not_ok or not_ok["directive"]:
            continue
        diagnostics = _tap_yaml_block(lines, index + 1)
        if any("failureType: 'subtestsFailed'" in diagnostic for diagnostic in diagnostics):
            continue
        failures.append((not_ok["name"] or f"test {index}").strip())
    return failures


def _tap_yaml_block(lines: list[str], start: int) -> list[str]:
    if start >= len(lines) or lines[start].strip() != "---":
        return []
    block: list[str] = []
    for line in lines[start + 1 :]:
        if line.strip() == "...":
            break
        block.append(line)
    return block


def _spec_failures(lines: list[str]) -> list[str]:
    """Node's spec reporter lists each failed test again under "✖ failing tests:"; only leaves appear there."""
    failures: list[str] = []
    in_failing_section = False
    for line in lines:
        if line.strip() == "✖ failing tests:":
            in_failing_section = True
            continue
        if in_failing_section and line.startswith("✖ "):
            failures.append(re.sub(r" \([\d.]+m?s\)$", "", line[2:]).strip())
    return failures


def _parse_mocha(lines: list[str]) -> TestReport | None:
    counts: dict[str, int] = {}
    duration_s: float | None = None
    summary_end = 0
    for index, line in enumerate(lines):
        count = _MOCHA_COUNT.match(line)
        if count:
            counts[count["kind"]] = int(count["count"])
            summary_end = index
            if count["value"]:
                duration_s = float(count["value"]) * _SECONDS_PER_UNIT[count["unit"]]
    if "passing" not in counts and "failing" not in counts:
        return None
    failures = _mocha_failure_titles(lines[summary_end + 1 :])
    passed, failed, pending = counts.get("passing", 0), counts.get("failing", 0), counts.get("pending", 0)
    return TestReport(
        source="mocha",
        total=passed + failed + pending,
        passed=passed,
        failed=failed,
        errors=0,
        skipped=pending,
        failures=failures,
        duration_s=duration_s,
    )


def _mocha_failure_titles(lines: list[str]) -> list[str]:
    """Mocha lists each failure as "1) suite" then deeper-indented titles, the test's own ending with a colon."""
    titles: list[str] = []
    current: list[str] | None = None
    for line in lines:
        start = _MOCHA_FAILURE_START.match(line)
        if start and current is None:
            current = [start["title"].strip()]
        elif current is not None:
            current.append(line.strip())
        else:
            continue
        if current[-1].endswith(":"):
            current[-1] = current[-1][:-1]
            titles.append(" ".join(part for part in current if part))
            current = None
    return titles


def _word_counts(text: str, separator: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in text.split(separator):
        found = re.fullmatch(r"\s*(\d+) ([a-z]+)\s*", item)
        if found:
            counts[found[2]] = counts.get(found[2], 0) + int(found[1])
    return counts


def _last_match(pattern: re.Pattern[str], lines: list[str]) -> re.Match[str] | None:
    for line in reversed(lines):
        found = pattern.match(line)
        if found:
            return found
    return None


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(name for name in names if name))
