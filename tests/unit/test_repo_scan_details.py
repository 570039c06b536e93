"""What an opportunity says beyond its place: the patch template, the risk and impact, a rationale naming the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.repo_optimize.scan import Opportunity, scan_file, scan_javascript, scan_python

FIXTURES = Path(__file__).parent / "scan_fixtures"
# A set where the template depends on the shape: a rule names a template only where the template rewrites that
# shape (only map→filter fuses, only a literal pattern is compiled ahead, only a list display becomes a set, only
# readFileSync in a function written in a route registration has an async rewrite); the rest go to model patches.
TEMPLATES: dict[tuple[str, str], str | set[str | None] | None] = {
    ("python", "list-membership-in-loop"): {"list-to-set-membership", None},
    ("python", "regex-compile-in-loop"): {"hoist-regex-compile", None},
    ("python", "json-parse-in-loop"): "hoist-json-parse",
    ("python", "string-concat-in-loop"): {"join-string-concat", None},
    ("python", "independent-awaits-in-loop"): "gather-independent-awaits",
    ("python", "len-in-loop-condition"): "hoist-len",
    ("python", "attribute-chain-in-loop-condition"): None,
    ("python", "pure-call-in-loop"): "memoize-pure-call",
    ("python", "sync-file-io-in-handler"): None,
    ("python", "invariant-call-in-loop"): None,
    ("javascript", "list-membership-in-loop"): {"list-to-set-membership", None},
    ("javascript", "regex-compile-in-loop"): {"hoist-regex-compile", None},
    ("javascript", "json-parse-in-loop"): "hoist-json-parse",
    ("javascript", "independent-awaits-in-loop"): "promise-all-independent-awaits",
    ("javascript", "chained-map-filter"): {"fuse-map-filter", None},
    ("javascript", "len-in-loop-condition"): None,
    ("javascript", "pure-call-in-loop"): None,
    ("javascript", "sync-file-io-in-handler"): {"async-fs-in-handler", None},
}


def _scan_fixture(relative: str) -> list[Opportunity]:
    return scan_file(relative, (FIXTURES / relative).read_text())


def _all_fixture_opportunities() -> list[Opportunity]:
    return [
        opportunity
        for path in sorted(FIXTURES.rglob("*"))
        if path.is_file()
        for opportunity in _scan_fixture(path.relative_to(FIXTURES).as_posix())
    ]


def test_each_rule_names_the_patch_template_that_rewrites_it() -> None:
    opportunities = _all_fixture_opportunities()

    seen: dict[tuple[str, str], set[str | None]] = {}
    for opportunity in opportunities:
        seen.setdefault((opportunity.file.split("/")[0], opportunity.type), set()).add(opportunity.template)

    assert seen == {key: value if isinstance(value, set) else {value} for key, value in TEMPLATES.items()}


def test_only_a_map_then_filter_chain_names_the_fuse_template() -> None:
    source = (
        "for (const b of bs) {\n"
        "  use(b.map((x) => x + 1).filter((x) => x > 1));\n"
        "  use(b.filter((x) => x > 1).map((x) => x + 1));\n"
        "}\n"
    )

    templates = [(item.start_line, item.template) for item in scan_javascript("f.js", source)]

    assert templates == [(2, "fuse-map-filter"), (3, None)]


def test_only_read_file_sync_in_a_function_written_in_a_route_names_the_async_fs_template() -> None:
    templates = [(item.start_line, item.template) for item in _scan_fixture("javascript/handlers.ts")]

    # writeFileSync has no rewrite; the Nest method (22) and the Next export (31) would change their signatures.
    assert templates == [(8, "async-fs-in-handler"), (12, None), (22, None), (31, None)]


def test_every_fixture_opportunity_points_at_its_own_code() -> None:
    for opportunity in _all_fixture_opportunities():
        lines = (FIXTURES / opportunity.file).read_text().splitlines()
        assert 1 <= opportunity.start_line <= opportunity.end_line <= len(lines)
        assert opportunity.snippet.splitlines()[0] == lines[opportunity.start_line - 1]
        assert opportunity.rationale.count("`") >= 2, opportunity.rationale


def test_the_language_follows_the_grammar() -> None:
    source = "for (const x of xs) { if ([1, 2].includes(x)) {} }\n"

    assert [item.language for item in scan_javascript("a.js", source)] == ["javascript"]
    assert [item.language for item in scan_javascript("a.ts", source, typescript=True)] == ["typescript"]
    assert [item.language for item in scan_javascript("a.tsx", source, typescript=True, tsx=True)] == ["typescript"]
    assert [item.language for item in scan_file("a.mjs", source)] == ["javascript"]


def test_python_membership_rationale_names_the_test_and_the_loop() -> None:
    source = (
        "def f(items, known: list[str]):\n    for item in items:\n        if item in known:\n            yield item\n"
    )

    [opportunity] = scan_python("f.py", source)

    assert opportunity.type == "list-membership-in-loop"
    assert "`item in known`" in opportunity.rationale
    assert "line 2" in opportunity.rationale
    assert (opportunity.risk, opportunity.expected_impact) == ("medium", "high")


def test_a_small_literal_list_is_a_low_risk_low_impact_membership() -> None:
    source = "def f(items):\n    return [item for item in items if item in ['a', 'b']]\n"

    [opportunity] = scan_python("f.py", source)

    assert (opportunity.risk, opportunity.expected_impact) == ("low", "low")


def test_a_large_literal_list_has_a_medium_impact() -> None:
    values = ", ".join(str(value) for value in range(10))
    source = f"def f(items):\n    return [item for item in items if item in [{values}]]\n"

    [opportunity] = scan_python("f.py", source)

    assert opportunity.expected_impact == "medium"


def test_concatenating_onto_an_attribute_has_a_high_impact() -> None:
    [local, attribute] = _scan_fixture("python/string_concat.py")

    assert (local.expected_impact, attribute.expected_impact) == ("medium", "high")


def test_file_io_in_an_async_route_blocks_the_event_loop() -> None:
    [async_route, sync_route] = _scan_fixture("python/routes.py")

    assert async_route.expected_impact == "high" and "event loop" in async_route.rationale
    assert sync_route.expected_impact == "medium"


def test_a_global_regex_hoisted_out_of_a_loop_is_riskier() -> None:
    plain, global_flag = (
        item for item in _scan_fixture("javascript/regex_json.js") if item.type == "regex-compile-in-loop"
    )

    assert plain.risk == "low"
    assert global_flag.risk == "medium" and "lastIndex" in global_flag.rationale


def test_a_returned_value_runs_once_and_is_not_reported() -> None:
    python = (
        "import json\n\ndef f(items, raw):\n"
        "    for item in items:\n        if item:\n            return json.loads(raw)\n"
    )
    javascript = (
        "function f(items, raw) {\n  for (const item of items) {\n    if (item) return JSON.parse(raw);\n  }\n}\n"
    )

    assert scan_python("f.py", python) == []
    assert scan_javascript("f.js", javascript) == []


@pytest.mark.parametrize(
    "source",
    [
        "import json\n\ndef f(items, raw):\n    for item in items:\n        raw = item\n"
        "        print(json.loads(raw))\n",
        "import json\n\ndef f(items, raw):\n    for item in items:\n        print(json.loads(raw + item))\n",
        "import json as j\n\ndef f(items, raw):\n    for item in items:\n        print(j.loads(raw))\n",
    ],
    ids=["rebound", "depends-on-the-item", "module-renamed"],
)
def test_json_parse_of_what_may_change_is_not_reported(source: str) -> None:
    assert scan_python("f.py", source) == []


def test_a_mutated_array_is_not_reported_for_membership() -> None:
    source = "const seen = ['a'];\nfor (const x of xs) {\n  if (seen.includes(x)) continue;\n  seen.push(x);\n}\n"

    assert scan_javascript("f.js", source) == []


def test_an_array_reassigned_anywhere_is_not_trusted_to_stay_an_array() -> None:
    source = "let names = ['a'];\nnames = 'a,b';\nfor (const x of xs) {\n  if (names.includes(x)) f(x);\n}\n"

    assert scan_javascript("f.js", source) == []


def test_an_invariant_call_names_the_hoist_template_only_as_a_plain_assignment_in_the_loop_body() -> None:
    source = (
        "def f(rows, names):\n"
        "    for row in rows:\n"
        "        total = sum(names)\n"
        "        print(row, total, max(names, default=0))\n"
        "        nested = tuple(sorted(names))\n"
        "        print(nested)\n"
    )

    templates = [(item.start_line, item.template) for item in scan_python("f.py", source)]

    assert templates == [(3, "hoist-invariant-call"), (4, None), (5, None)]


def test_a_membership_test_names_the_set_template_only_where_a_list_display_can_become_a_set() -> None:
    python = (
        "ALLOWED = ['a']\n\n\ndef f(xs, known: list[str]):\n"
        "    for x in xs:\n        print(x in ALLOWED)\n        print(x in known)\n"
    )
    javascript = (
        "function f(xs, names) {\n  const known = names.split(',');\n  for (const x of xs) {\n"
        "    use(['a'].includes(x));\n    use(known.includes(x));\n  }\n}\n"
    )

    assert [(item.start_line, item.template) for item in scan_python("f.py", python)] == [
        (6, "list-to-set-membership"),
        (7, None),
    ]
    assert [(item.start_line, item.template) for item in scan_javascript("f.js", javascript)] == [
        (4, "list-to-set-membership"),
        (5, None),
    ]


def test_a_regex_names_the_hoist_template_only_for_a_literal_pattern_it_can_share() -> None:
    python = (
        "import re\n\nWORD = 'w'\n\n\ndef f(xs):\n"
        "    for x in xs:\n        print(re.match('a', x))\n        print(re.match(WORD, x))\n"
    )
    javascript = (
        "function f(xs, p) {\n  for (const x of xs) {\n"
        "    use(new RegExp('a'));\n    use(new RegExp('a', 'g'));\n    use(new RegExp(p));\n  }\n}\n"
    )

    assert [(item.start_line, item.template) for item in scan_python("f.py", python)] == [
        (8, "hoist-regex-compile"),
        (9, None),
    ]
    assert [(item.start_line, item.template) for item in scan_javascript("f.js", javascript)] == [
        (3, "hoist-regex-compile"),
        (4, None),
        (5, None),
    ]
