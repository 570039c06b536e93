"""Scanning a whole checked-out tree: which files are read, which are left out, and what stays stable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from agentlab.repo_optimize.scan import scan_repository
from agentlab.repo_optimize.scan.models import MAX_SNIPPET_LINES
from agentlab.repo_optimize.scan.scanner import source_files

FIXTURE_REPOS = Path(__file__).parent.parent / "fixtures" / "repos"
PY_SLOW = "def f(items):\n    return [item for item in items if item in ['a', 'b']]\n"
JS_SLOW = "export function f(xs) {\n  return xs.filter((x) => ['a', 'b'].includes(x));\n}\n"


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_only_the_projects_own_source_is_scanned(tmp_path: Path) -> None:
    # Given the same slow code in source files and in every place the scan must leave alone
    _write(tmp_path, "src/app.py", PY_SLOW)
    _write(tmp_path, "src/web/app.ts", JS_SLOW)
    _write(tmp_path, "src/web/view.tsx", JS_SLOW)
    for ignored in (
        "node_modules/pkg/index.js",
        ".git/hooks/x.py",
        "dist/app.js",
        "build/lib/app.py",
        ".venv/lib/site.py",
        "tests/test_app.py",
        "src/app_test.py",
        "src/test_helpers.py",
        "src/web/app.test.ts",
        "src/web/app.spec.js",
        "src/web/types.d.ts",
        "src/vendor.min.js",
        "src/notes.txt",
    ):
        _write(tmp_path, ignored, PY_SLOW if ignored.endswith(".py") else JS_SLOW)
    _write(tmp_path, "src/bundle.js", JS_SLOW + "const x = 1;" + " " * 1_200 + "\n")

    # When the repository is scanned
    opportunities = scan_repository(tmp_path)

    # Then only the project's own source gives findings, named by POSIX paths relative to the root
    assert [item.file for item in opportunities] == ["src/app.py", "src/web/app.ts", "src/web/view.tsx"]
    assert [item.language for item in opportunities] == ["python", "typescript", "typescript"]


def test_files_over_the_size_cap_are_skipped(tmp_path: Path) -> None:
    _write(tmp_path, "small.py", PY_SLOW)
    _write(tmp_path, "large.py", PY_SLOW + "# padding\n" * 200)

    opportunities = scan_repository(tmp_path, max_file_bytes=len(PY_SLOW) + 10)

    assert [item.file for item in opportunities] == ["small.py"]


def test_the_scan_stops_after_max_files(tmp_path: Path) -> None:
    for name in ("a.py", "b.py", "c.py"):
        _write(tmp_path, name, PY_SLOW)

    assert [item.file for item in scan_repository(tmp_path, max_files=2)] == ["a.py", "b.py"]


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _write(outside, "secret.py", PY_SLOW)
    repo = tmp_path / "repo"
    _write(repo, "real.py", PY_SLOW)
    (repo / "linked.py").symlink_to(outside / "secret.py")
    (repo / "linked_dir").symlink_to(outside, target_is_directory=True)

    assert source_files(repo) == ["real.py"]


def test_a_file_that_does_not_parse_does_not_stop_the_scan(tmp_path: Path) -> None:
    _write(tmp_path, "a_broken.py", "def broken(:\n    for x in [1]:\n        if x in [1, 2]:\n")
    _write(tmp_path, "b_broken.ts", "export function broken( {\n  for (const x of [1]) {\n")
    _write(tmp_path, "c_binary.py", "\x00\x01\x02")
    _write(tmp_path, "d_good.py", PY_SLOW)

    assert [item.file for item in scan_repository(tmp_path)] == ["d_good.py"]


def test_ids_are_stable_and_derived_from_the_finding(tmp_path: Path) -> None:
    _write(tmp_path, "app.py", PY_SLOW)

    first = scan_repository(tmp_path)
    second = scan_repository(tmp_path)

    assert [item.id for item in first] == [item.id for item in second]
    [opportunity] = first
    expected = hashlib.sha1(
        "\x1f".join((opportunity.type, "app.py", "2", opportunity.snippet)).encode(), usedforsecurity=False
    ).hexdigest()[:12]
    assert opportunity.id == expected


def test_a_long_finding_keeps_its_range_but_shows_at_most_twenty_lines(tmp_path: Path) -> None:
    body = "".join(f"        x{index} = item_id * {index}\n" for index in range(30))
    source = f"async def f(client, ids):\n    for item_id in ids:\n{body}        await client.get(item_id)\n"
    _write(tmp_path, "long.py", source)

    [opportunity] = scan_repository(tmp_path)

    assert opportunity.type == "independent-awaits-in-loop"
    assert (opportunity.start_line, opportunity.end_line) == (2, 33)
    assert len(opportunity.snippet.splitlines()) == MAX_SNIPPET_LINES


@pytest.mark.parametrize("repo", sorted(path.name for path in FIXTURE_REPOS.iterdir() if path.is_dir()))
def test_the_fixture_repositories_scan_cleanly(repo: str) -> None:
    root = FIXTURE_REPOS / repo

    opportunities = scan_repository(root)

    for opportunity in opportunities:
        lines = (root / opportunity.file).read_text().splitlines()
        assert 1 <= opportunity.start_line <= opportunity.end_line <= len(lines)


def test_snippets_follow_the_parsers_line_numbers_with_windows_line_endings(tmp_path: Path) -> None:
    _write(tmp_path, "a.py", "# \x0c form feed is not a line break\r\n" + PY_SLOW.replace("\n", "\r\n"))
    _write(tmp_path, "b.js", "// \x0c is not a row break for tree-sitter\r\n" + JS_SLOW.replace("\n", "\r\n"))

    python, javascript = scan_repository(tmp_path)

    assert (python.start_line, python.snippet) == (3, "    return [item for item in items if item in ['a', 'b']]")
    assert (javascript.start_line, javascript.snippet) == (3, "  return xs.filter((x) => ['a', 'b'].includes(x));")
