"""Every rule of the static scan against its fixture: the marked lines fire, and nothing else in the file does.

Each fixture under `scan_fixtures/` holds positive cases, marked `# expect: <rule>` (or `// expect: <rule>`) on the
line where the finding starts, next to negative cases that look alike but must stay silent. Comparing the whole set
of (line, rule) pairs checks both at once: a missed case and a false alarm both fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentlab.repo_optimize.scan import scan_file

FIXTURES = Path(__file__).parent / "scan_fixtures"
_MARKER = re.compile(r"(?:#|//) expect: ([\w\-, ]+)")
FIXTURE_FILES = sorted(path for path in FIXTURES.rglob("*") if path.is_file() and not path.name.startswith("broken"))
PYTHON_RULE_TYPES = {
    "list-membership-in-loop",
    "regex-compile-in-loop",
    "json-parse-in-loop",
    "string-concat-in-loop",
    "independent-awaits-in-loop",
    "len-in-loop-condition",
    "attribute-chain-in-loop-condition",
    "pure-call-in-loop",
    "sync-file-io-in-handler",
    "invariant-call-in-loop",
}
JAVASCRIPT_RULE_TYPES = {
    "list-membership-in-loop",
    "regex-compile-in-loop",
    "json-parse-in-loop",
    "independent-awaits-in-loop",
    "chained-map-filter",
    "len-in-loop-condition",
    "pure-call-in-loop",
    "sync-file-io-in-handler",
}


def expected_findings(source: str) -> set[tuple[int, str]]:
    """The (line, rule) pairs the fixture's markers announce."""
    expected: set[tuple[int, str]] = set()
    for number, line in enumerate(source.splitlines(), start=1):
        match = _MARKER.search(line)
        if match:
            expected.update((number, rule.strip()) for rule in match.group(1).split(","))
    return expected


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_fixture_fires_exactly_on_its_marked_lines(fixture: Path) -> None:
    source = fixture.read_text()

    found = {(opportunity.start_line, opportunity.type) for opportunity in scan_file(fixture.name, source)}

    assert found == expected_findings(source)


def test_every_rule_has_a_positive_case_in_the_fixtures() -> None:
    marked = {
        language: {
            rule
            for path in FIXTURE_FILES
            if path.parent.name == language
            for _, rule in expected_findings(path.read_text())
        }
        for language in ("python", "javascript")
    }

    assert marked["python"] == PYTHON_RULE_TYPES
    assert marked["javascript"] == JAVASCRIPT_RULE_TYPES


def test_javascript_string_concatenation_in_a_loop_is_not_reported() -> None:
    # V8 builds such strings as ropes, so `+=` in a loop is not a slow path there.
    source = "let html = '';\nfor (const part of parts) {\n  html += '<p>' + part + '</p>';\n}\n"

    assert scan_file("render.js", source) == []


def test_a_file_that_does_not_parse_is_skipped() -> None:
    # The broken Python fixture is stored as .txt so that the project's own linting leaves it alone.
    for stored, name in (("python/broken.py.txt", "broken.py"), ("javascript/broken.ts", "broken.ts")):
        source = (FIXTURES / stored).read_text()
        assert "[1, 2" in source
        assert scan_file(name, source) == []
