"""The syntax-tree templates: golden diffs, diffs that apply to the original, behaviour kept, and refusals."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import subprocess
import types
from pathlib import Path

import pytest

from agentlab.repo_optimize.patches import TEMPLATES, TemplateNotApplicable, apply_diff, apply_template, check_patch
from agentlab.repo_optimize.patches.models import Language, SourceSpan
from agentlab.repo_optimize.patches.templates_js import parse_javascript
from agentlab.repo_optimize.patches.templates_python import rewrite_list_to_set

GOLDENS = Path(__file__).parent / "patch_goldens"
UPDATE_GOLDENS = os.environ.get("AGENTLAB_UPDATE_GOLDENS") == "1"
NODE = shutil.which("node")

# template -> the places (file in its golden folder, first line, last line) the golden rewrites, in order.
GOLDEN_CASES: dict[str, list[tuple[str, int, int]]] = {
    "list-to-set-membership": [("input.py", 8, 8), ("input.mjs", 4, 4), ("constant.py", 3, 3)],
    "hoist-regex-compile": [("input.py", 9, 9), ("input.mjs", 4, 4)],
    "hoist-json-parse": [("input.py", 9, 9), ("input.mjs", 6, 6)],
    "join-string-concat": [("input.py", 3, 4)],
    "gather-independent-awaits": [("input.py", 10, 11)],
    "promise-all-independent-awaits": [("input.mjs", 7, 9)],
    "fuse-map-filter": [("input.mjs", 2, 2)],
    "hoist-len": [("input.py", 3, 3)],
    "hoist-invariant-call": [("input.py", 4, 4)],
    "memoize-pure-call": [("input.py", 4, 8)],
    "async-fs-in-handler": [("input.mjs", 7, 7)],
}


def _copy_golden(template: str, tmp_path: Path) -> Path:
    root = tmp_path / template
    shutil.copytree(GOLDENS / template, root)
    (root / "expected.diff").unlink(missing_ok=True)
    return root


def test_there_are_at_least_ten_templates_and_each_has_a_golden() -> None:
    assert len(TEMPLATES) >= 10
    assert set(GOLDEN_CASES) == set(TEMPLATES)
    for name, template in TEMPLATES.items():
        assert template.name == name
        assert template.python is not None or template.javascript is not None


@pytest.mark.parametrize("template", sorted(GOLDEN_CASES))
def test_the_template_writes_its_golden_diff(template: str, tmp_path: Path) -> None:
    # Given a copy of the golden's inputs
    root = _copy_golden(template, tmp_path)
    # When the template rewrites each place
    patches = [apply_template(template, root, file, start, end) for file, start, end in GOLDEN_CASES[template]]
    diff = "".join(patch.diff for patch in patches)
    # Then the diff is the golden one, byte for byte
    expected_path = GOLDENS / template / "expected.diff"
    if UPDATE_GOLDENS:
        expected_path.write_text(diff, encoding="utf-8")
    assert diff == expected_path.read_text(encoding="utf-8")
    for patch, (file, _, _) in zip(patches, GOLDEN_CASES[template], strict=True):
        assert patch.template == template
        assert patch.files == [file]
        assert patch.explanation
        assert patch.diff.startswith(f"diff --git a/{file} b/{file}\n--- a/{file}\n+++ b/{file}\n@@ ")


@pytest.mark.parametrize("template", sorted(GOLDEN_CASES))
def test_the_diff_applies_to_the_original_and_gives_code_that_parses(template: str, tmp_path: Path) -> None:
    root = _copy_golden(template, tmp_path)
    for file, start, end in GOLDEN_CASES[template]:
        original = (root / file).read_text(encoding="utf-8")
        patch = apply_template(template, root, file, start, end)
        assert (root / file).read_text(encoding="utf-8") == original, "apply_template writes nothing"
        assert check_patch(patch.diff, root=root) == []
        assert apply_diff(root, patch.diff) == [file]
        patched = (root / file).read_text(encoding="utf-8")
        assert patched != original
        if file.endswith(".py"):
            ast.parse(patched)
        else:
            assert not parse_javascript(patched.encode(), Language.JAVASCRIPT).has_error


def _load_module(source: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, name, "exec"), module.__dict__)
    return module


def _original_and_patched(template: str, file: str, tmp_path: Path) -> tuple[str, str]:
    root = _copy_golden(template, tmp_path)
    original = (root / file).read_text(encoding="utf-8")
    for case_file, start, end in GOLDEN_CASES[template]:
        if case_file == file:
            apply_diff(root, apply_template(template, root, file, start, end).diff)
    return original, (root / file).read_text(encoding="utf-8")


PYTHON_BEHAVIOUR = [
    ("list-to-set-membership", "input.py", "count_content_words", [(["The", "cat", "of", "Mars", "and", "AN"],)]),
    ("list-to-set-membership", "constant.py", "is_weekend", [("sat",), ("mon",), ("sun",)]),
    ("hoist-regex-compile", "input.py", "error_lines", [(["2024-01-02 error x", "ok", "2024-01-02 ERROR y"],)]),
    ("hoist-json-parse", "input.py", "valid_names", [(["ab", "abc", "x" * 81, "name"],)]),
    ("join-string-concat", "input.py", "render_rows", [([("a", 1), ("b", 2)],), ([],)]),
    ("hoist-len", "input.py", "first_negative", [([3, 1, -2, 5],), ([],), ([1, 2],)]),
    (
        "hoist-invariant-call",
        "input.py",
        "scaled",
        [([1.0, 2.0], [1.0, 3.0]), ([], [2.0])],
    ),
    ("memoize-pure-call", "input.py", "count_primes", [(50,), (2,)]),
    ("memoize-pure-call", "input.py", "fibonacci", [(0,), (30,)]),
]


@pytest.mark.parametrize(("template", "file", "function", "calls"), PYTHON_BEHAVIOUR)
def test_a_python_rewrite_computes_what_the_original_computed(
    template: str, file: str, function: str, calls: list[tuple[object, ...]], tmp_path: Path
) -> None:
    original, patched = _original_and_patched(template, file, tmp_path)
    before = getattr(_load_module(original, "before"), function)
    after = getattr(_load_module(patched, "after"), function)
    for arguments in calls:
        assert after(*arguments) == before(*arguments)


def test_gathered_awaits_return_the_same_results_in_order(tmp_path: Path) -> None:
    original, patched = _original_and_patched("gather-independent-awaits", "input.py", tmp_path)
    before = _load_module(original, "before").fetch_profiles
    after = _load_module(patched, "after").fetch_profiles
    assert asyncio.run(after([3, 1, 2])) == asyncio.run(before([3, 1, 2])) == [{"id": 3}, {"id": 1}, {"id": 2}]


JS_BEHAVIOUR = [
    ("list-to-set-membership", "countVowels", [["education"], ["rhythm"]]),
    ("hoist-regex-compile", "errorLines", [[["2024 error a", "x", "2024 ERROR b"]]]),
    ("hoist-json-parse", "validNames", [[["ab", "abc", "name"]]]),
    ("promise-all-independent-awaits", "fetchProfiles", [[[3, 1, 2]]]),
    ("fuse-map-filter", "expensiveTotals", [[[{"price": 50, "quantity": 3}, {"price": 10, "quantity": 2}]]]),
]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize(("template", "function", "calls"), JS_BEHAVIOUR)
def test_a_javascript_rewrite_computes_what_the_original_computed(
    template: str, function: str, calls: list[list[object]], tmp_path: Path
) -> None:
    original, patched = _original_and_patched(template, "input.mjs", tmp_path)
    (tmp_path / "before.mjs").write_text(original, encoding="utf-8")
    (tmp_path / "after.mjs").write_text(patched, encoding="utf-8")
    script = (
        "const [before, after] = await Promise.all([import('./before.mjs'), import('./after.mjs')]);"
        f"const calls = {json.dumps(calls)};"
        f"const results = [];"
        f"for (const args of calls) results.push([await before.{function}(...args), await after.{function}(...args)]);"
        "console.log(JSON.stringify(results));"
    )
    (tmp_path / "compare.mjs").write_text(script, encoding="utf-8")
    completed = subprocess.run(
        [str(NODE), "compare.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True
    )
    for before, after in json.loads(completed.stdout):
        assert after == before


REFUSALS = [
    (
        "list-to-set-membership",
        "app.py",
        "def f(x, y):\n    for a in y:\n        if a in [x, 1]:\n            pass\n",
        "literals",
    ),
    (
        "list-to-set-membership",
        "app.py",
        "def f(a):\n    return a in [1, 2]\n",
        "not inside a loop",
    ),
    (
        "list-to-set-membership",
        "app.py",
        "NAMES = [1, 2]\nNAMES.append(3)\n",
        "used other than",
    ),
    (
        "list-to-set-membership",
        "app.mjs",
        "export const f = (x) => [1, 2].includes(x);\n",
        "not inside a loop",
    ),
    (
        "hoist-regex-compile",
        "app.py",
        "import re\n\n\ndef f(p, xs):\n    for x in xs:\n        re.match(p, x)\n",
        "literal",
    ),
    (
        "hoist-regex-compile",
        "app.py",
        "def f(xs):\n    for x in xs:\n        re.match('a', x)\n",
        "imported",
    ),
    (
        "hoist-regex-compile",
        "app.py",
        "import re\n\n\ndef f(xs):\n    for x in xs:\n        re.match('(', x)\n",
        "compile",
    ),
    (
        "hoist-regex-compile",
        "app.mjs",
        "for (const x of xs) { new RegExp('a', 'g').test(x); }\n",
        "stateful",
    ),
    (
        "hoist-json-parse",
        "app.py",
        "import json\n"
        "\n"
        "\n"
        "def f(xs):\n"
        "    for x in xs:\n"
        "        c = json.loads('{\"a\": [1]}')\n"
        "        c['a'].append(x)\n",
        "dict or list",
    ),
    (
        "hoist-json-parse",
        "app.py",
        "import json\n\n\ndef f(xs, s):\n    for x in xs:\n        c = json.loads(s)\n        print(c)\n",
        "string constant",
    ),
    (
        "hoist-json-parse",
        "app.mjs",
        "for (const x of xs) {\n  const c = JSON.parse('{\"a\": 1}');\n  use(c);\n}\n",
        "used whole",
    ),
    (
        "join-string-concat",
        "app.py",
        "def f(xs):\n    s = ''\n    for x in xs:\n        s += x\n        print(s)\n    return s\n",
        "reads",
    ),
    (
        "join-string-concat",
        "app.py",
        "s = ''\nfor x in 'ab':\n    s += x\n",
        "module level",
    ),
    (
        "gather-independent-awaits",
        "app.py",
        "def f(xs):\n    r = []\n    for x in xs:\n        r.append(x)\n",
        "awaited",
    ),
    (
        "gather-independent-awaits",
        "app.py",
        "async def f(xs, g):\n    r = []\n    for x in xs:\n        r.append(await g(x, r))\n",
        "not independent",
    ),
    (
        "promise-all-independent-awaits",
        "app.mjs",
        "async function f(xs, g) {\n"
        "  const r = [];\n"
        "  for (const x of xs) {\n"
        "    r.push(await g(x));\n"
        "    log(x);\n"
        "  }\n"
        "}\n",
        "exactly one",
    ),
    (
        "fuse-map-filter",
        "app.mjs",
        "const r = xs.map(parse).filter((v) => v > 1);\n",
        "index",
    ),
    (
        "hoist-len",
        "app.py",
        "def f(xs):\n    i = 0\n    while i < len(xs):\n        xs.pop()\n",
        "could change",
    ),
    (
        "hoist-len",
        "app.py",
        "def f(xs):\n    i = 0\n    while i < len(xs):\n        xs = xs[1:]\n",
        "rebound",
    ),
    (
        "hoist-invariant-call",
        "app.py",
        "def f(xs, ws):\n    for x in xs:\n        t = sum(ws)\n        ws.append(t)\n",
        "could change",
    ),
    (
        "hoist-invariant-call",
        "app.py",
        "def f(xs):\n    for x in xs:\n        t = len(x)\n        print(t)\n",
        "rebound",
    ),
    (
        "hoist-invariant-call",
        "app.py",
        "def f(xs, g):\n    for x in xs:\n        t = g()\n        print(t)\n",
        "not known to be pure",
    ),
    (
        "hoist-invariant-call",
        "app.py",
        "def f(xs, ws):\n    t = 0\n    for x in xs:\n        t = len(ws)\n        print(t)\n    return t\n",
        "outside the loop",
    ),
    (
        "memoize-pure-call",
        "app.py",
        "CACHE = []\n\n\ndef f(n: int) -> int:\n    return n + len(CACHE)\n",
        "CACHE",
    ),
    (
        "memoize-pure-call",
        "app.py",
        "def f(n: list[int]) -> int:\n    return len(n)\n",
        "hashable",
    ),
    (
        "memoize-pure-call",
        "app.py",
        "def f(n: int) -> list[int]:\n    return [n]\n",
        "mutable result",
    ),
    (
        "memoize-pure-call",
        "app.py",
        "def f(n: int) -> int:\n    print(n)\n    return n\n",
        "print",
    ),
    (
        "async-fs-in-handler",
        "app.mjs",
        "import fs from 'fs';\nexport function load(p) {\n  return fs.readFileSync(p, 'utf8');\n}\n",
        "route",
    ),
    (
        "async-fs-in-handler",
        "app.mjs",
        "import { readFileSync } from 'fs';\napp.get('/', (req, res) => res.send(readFileSync('x')));\n",
        "hold no",
    ),
]


@pytest.mark.parametrize(("template", "file", "source", "reason"), REFUSALS)
def test_a_template_refuses_code_that_is_not_exactly_its_shape(
    template: str, file: str, source: str, reason: str, tmp_path: Path
) -> None:
    (tmp_path / file).write_text(source, encoding="utf-8")
    lines = source.count("\n") or 1
    with pytest.raises(TemplateNotApplicable, match=reason):
        apply_template(template, tmp_path, file, 1, lines)


def test_a_template_only_looks_at_the_lines_it_is_given(tmp_path: Path) -> None:
    shutil.copy(GOLDENS / "hoist-len" / "input.py", tmp_path / "input.py")
    with pytest.raises(TemplateNotApplicable, match="hold no"):
        apply_template("hoist-len", tmp_path, "input.py", 7, 7)


def test_a_public_constant_becomes_a_frozenset_when_the_repository_uses_it_only_for_membership(tmp_path: Path) -> None:
    shutil.copy(GOLDENS / "list-to-set-membership" / "constant.py", tmp_path / "constant.py")
    (tmp_path / "other.py").write_text("from constant import WEEKEND\n\nprint(WEEKEND[0])\n", encoding="utf-8")
    with pytest.raises(TemplateNotApplicable, match=r"used by other\.py"):
        apply_template("list-to-set-membership", tmp_path, "constant.py", 3, 3)


def test_a_public_constant_is_left_alone_when_no_repository_shows_who_else_uses_it() -> None:
    source = (GOLDENS / "list-to-set-membership" / "constant.py").read_text(encoding="utf-8")
    span = SourceSpan(path="constant.py", text=source, start_line=3, end_line=3, language=Language.PYTHON, root=None)
    with pytest.raises(TemplateNotApplicable, match="public and no repository"):
        rewrite_list_to_set(span)


def test_unknown_templates_languages_and_ranges_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(KeyError, match="no template named"):
        apply_template("make-it-fast", tmp_path, "a.py", 1, 1)
    with pytest.raises(TemplateNotApplicable, match=r"does not rewrite files like a\.py"):
        apply_template("fuse-map-filter", tmp_path, "a.py", 1, 1)
    with pytest.raises(TemplateNotApplicable, match="not a range"):
        apply_template("hoist-len", tmp_path, "a.py", 3, 1)
    with pytest.raises(TemplateNotApplicable, match="escapes"):
        apply_template("hoist-len", tmp_path, "../a.py", 1, 1)
    (tmp_path / "broken.py").write_text("def (:\n", encoding="utf-8")
    with pytest.raises(TemplateNotApplicable, match="does not parse"):
        apply_template("hoist-len", tmp_path, "broken.py", 1, 1)


def test_a_typescript_file_is_rewritten_with_the_typescript_grammar(tmp_path: Path) -> None:
    source = "export function f(xs: string[]): number {\n  let n = 0;\n  for (const x of xs) {\n"
    source += '    if (["a", "b"].includes(x)) {\n      n += 1;\n    }\n  }\n  return n;\n}\n'
    (tmp_path / "count.ts").write_text(source, encoding="utf-8")
    patch = apply_template("list-to-set-membership", tmp_path, "count.ts", 4, 4)
    assert '+  const knownValues = new Set(["a", "b"]);\n' in patch.diff
    assert "+    if (knownValues.has(x)) {\n" in patch.diff


def test_map_filter_with_the_same_parameter_name_calls_both_arrows(tmp_path: Path) -> None:
    (tmp_path / "a.mjs").write_text("export const f = (xs) => xs.map((x) => x * 2).filter((x) => x > 2);\n")
    patch = apply_template("fuse-map-filter", tmp_path, "a.mjs", 1, 1)
    assert "xs.flatMap((item) => { const mapped = ((x) => x * 2)(item); return ((x) => x > 2)(mapped)" in patch.diff


# A finding of pure-call-in-loop points at the call in the loop; the function to cache is the one called there.
CALLED_IN_A_LOOP = (
    "def slow_square(n: int) -> int:\n"
    "    return sum(n for _ in range(n))\n"
    "\n"
    "\n"
    "def caller(items: list[int]) -> list[int]:\n"
    "    out = []\n"
    "    for item in items:\n"
    "        out.append(item + slow_square(20))\n"
    "    return out\n"
)


def test_memoize_given_a_calls_lines_caches_the_called_function_not_the_caller(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(CALLED_IN_A_LOOP, encoding="utf-8")

    patch = apply_template("memoize-pure-call", tmp_path, "app.py", 8, 8)

    apply_diff(tmp_path, patch.diff)
    patched = (tmp_path / "app.py").read_text(encoding="utf-8")
    assert "@functools.lru_cache(maxsize=None)\ndef slow_square(n: int) -> int:" in patched
    assert patched.count("lru_cache") == 1
    assert "slow_square" in patch.explanation
    after = _load_module(patched, "after")
    assert after.caller([1, 2]) == _load_module(CALLED_IN_A_LOOP, "before").caller([1, 2]) == [401, 402]


def test_memoize_refuses_with_the_called_functions_reason(tmp_path: Path) -> None:
    source = CALLED_IN_A_LOOP.replace("def slow_square(n: int)", "def slow_square(n)")
    (tmp_path / "app.py").write_text(source, encoding="utf-8")

    with pytest.raises(TemplateNotApplicable, match="slow_square: its parameter `n` is not annotated"):
        apply_template("memoize-pure-call", tmp_path, "app.py", 8, 8)


def test_memoize_does_not_take_a_local_of_the_same_name_for_the_module_function(tmp_path: Path) -> None:
    source = CALLED_IN_A_LOOP.replace("def caller(items: list[int])", "def caller(items: list[int], slow_square)")
    (tmp_path / "app.py").write_text(source, encoding="utf-8")

    with pytest.raises(TemplateNotApplicable, match="hold no"):
        apply_template("memoize-pure-call", tmp_path, "app.py", 8, 8)


COMPILED_IN_A_LOOP = (
    "import re\n"
    "\n"
    "\n"
    "def digits_per_line(lines: list[str]) -> list[list[str]]:\n"
    "    found = []\n"
    "    for line in lines:\n"
    '        pattern = re.compile(r"\\d+", re.ASCII)\n'
    "        found.append(pattern.findall(line))\n"
    "    return found\n"
)


def test_a_compile_inside_a_loop_is_moved_before_the_loop(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(COMPILED_IN_A_LOOP, encoding="utf-8")

    patch = apply_template("hoist-regex-compile", tmp_path, "app.py", 7, 7)

    assert check_patch(patch.diff, root=tmp_path) == []
    assert '+    pattern = re.compile(r"\\d+", re.ASCII)\n     for line in lines:\n' in patch.diff
    assert '-        pattern = re.compile(r"\\d+", re.ASCII)\n' in patch.diff
    apply_diff(tmp_path, patch.diff)
    after = _load_module((tmp_path / "app.py").read_text(encoding="utf-8"), "after")
    before = _load_module(COMPILED_IN_A_LOOP, "before")
    assert after.digits_per_line(["a1b22", "", "333"]) == before.digits_per_line(["a1b22", "", "333"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("    return found\n", "    return found, pattern\n"), "outside the loop"),
        (('r"\\d+", re.ASCII', "line, re.ASCII"), "not a plain string literal"),
        (("re.ASCII", "line.count"), "not a combination"),
        (("        found.append", "        pattern = None\n        found.append"), "bound more than once"),
    ],
)
def test_a_compile_that_could_see_another_value_stays_in_the_loop(
    change: tuple[str, str], reason: str, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(COMPILED_IN_A_LOOP.replace(*change), encoding="utf-8")

    with pytest.raises(TemplateNotApplicable, match=reason):
        apply_template("hoist-regex-compile", tmp_path, "app.py", 7, 7)


def test_a_membership_test_against_a_list_constant_turns_the_constant_into_a_set(tmp_path: Path) -> None:
    shutil.copy(GOLDENS / "list-to-set-membership" / "constant.py", tmp_path / "constant.py")

    # line 7 is `return day in WEEKEND`, the test the scan points at, not the constant's own line
    patch = apply_template("list-to-set-membership", tmp_path, "constant.py", 7, 7)

    assert '-WEEKEND = ["sat", "sun"]\n+WEEKEND = frozenset({"sat", "sun"})\n' in patch.diff


def test_a_membership_test_finds_the_list_the_function_binds_before_the_modules(tmp_path: Path) -> None:
    source = 'CODES = ["a"]\n\n\ndef f(xs):\n    CODES = [1, 2]\n    return [x for x in xs if x in CODES]\n'
    (tmp_path / "app.py").write_text(source, encoding="utf-8")

    patch = apply_template("list-to-set-membership", tmp_path, "app.py", 6, 6)

    assert "-    CODES = [1, 2]\n+    CODES = {1, 2}\n" in patch.diff
    assert '-CODES = ["a"]' not in patch.diff
