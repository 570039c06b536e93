"""Unified diffs: written git style, applied with exact context or not at all, and built from SEARCH/REPLACE edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.repo_optimize.patches import PatchRejected, apply_diff, diff_from_edits, parse_search_replace
from agentlab.repo_optimize.patches.diffs import unified_diff

ORIGINAL = "".join(f"line {number}\n" for number in range(1, 21))


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_diff_is_git_style_with_three_lines_of_context() -> None:
    changed = ORIGINAL.replace("line 10\n", "line ten\n")
    diff = unified_diff("src/a.py", ORIGINAL, changed)
    assert diff == (
        "diff --git a/src/a.py b/src/a.py\n--- a/src/a.py\n+++ b/src/a.py\n@@ -7,7 +7,7 @@\n"
        " line 7\n line 8\n line 9\n-line 10\n+line ten\n line 11\n line 12\n line 13\n"
    )
    assert unified_diff("src/a.py", ORIGINAL, ORIGINAL) == ""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (ORIGINAL, ORIGINAL.replace("line 1\n", "first\n").replace("line 20\n", "last\n")),
        ("a\nb", "a\nc"),
        ("a\nb\n", "a\nb"),
        ("a\nb", "a\nb\n"),
        ("x\r\ny\r\n", "x\r\nz\r\n"),
    ],
)
def test_applying_the_diff_of_two_texts_gives_the_second(old: str, new: str, tmp_path: Path) -> None:
    root = _repo(tmp_path, {"a.txt": old})
    assert apply_diff(root, unified_diff("a.txt", old, new)) == ["a.txt"]
    assert (root / "a.txt").read_bytes() == new.encode()


def test_files_are_created_and_deleted(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"old.py": "x = 1\n"})
    diff = unified_diff("new/created.py", None, "y = 2\n") + unified_diff("old.py", "x = 1\n", None)
    assert apply_diff(root, diff) == ["new/created.py", "old.py"]
    assert (root / "new/created.py").read_text() == "y = 2\n"
    assert not (root / "old.py").exists()


def test_a_hunk_whose_lines_moved_applies_where_they_now_are(tmp_path: Path) -> None:
    diff = unified_diff("a.txt", ORIGINAL, ORIGINAL.replace("line 15\n", "fifteen\n"))
    shifted = "inserted 1\ninserted 2\n" + ORIGINAL
    root = _repo(tmp_path, {"a.txt": shifted})
    apply_diff(root, diff)
    assert (root / "a.txt").read_text() == shifted.replace("line 15\n", "fifteen\n")


def test_a_hunk_whose_context_does_not_match_is_rejected_and_nothing_is_written(tmp_path: Path) -> None:
    first = unified_diff("a.txt", ORIGINAL, ORIGINAL.replace("line 2\n", "two\n"))
    second = unified_diff("b.txt", ORIGINAL, ORIGINAL.replace("line 9\n", "nine\n"))
    root = _repo(tmp_path, {"a.txt": ORIGINAL, "b.txt": ORIGINAL.replace("line 10\n", "changed meanwhile\n")})
    with pytest.raises(PatchRejected, match=r"does not apply: the hunk at line \d+ of b.txt") as caught:
        apply_diff(root, first + second)
    assert caught.value.code == "patch_rejected"
    assert (root / "a.txt").read_text() == ORIGINAL


def test_an_ambiguous_hunk_is_rejected(tmp_path: Path) -> None:
    block = "a\nb\nc\nd\n"
    diff = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -50,3 +50,3 @@\n a\n-b\n+B\n c\n"
    root = _repo(tmp_path, {"x": block + "gap\n" + block})
    with pytest.raises(PatchRejected, match="does not match"):
        apply_diff(root, diff)


@pytest.mark.parametrize(
    ("diff", "reason"),
    [
        ("not a diff at all\n", "changes no file"),
        ("diff --git a/../x b/../x\n--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n", "escapes"),
        ("--- /etc/x\n+++ /etc/x\n@@ -1 +1 @@\n-a\n+b\n", "absolute"),
        ("diff --git a/x.png b/x.png\nindex 1..2 100644\nBinary files a/x.png and b/x.png differ\n", "binary"),
        ("diff --git a/a.txt b/b.txt\nsimilarity index 100%\nrename from a.txt\nrename to b.txt\n", "renamed"),
        (
            "diff --git a/missing.py b/missing.py\n--- a/missing.py\n+++ b/missing.py\n@@ -1 +1 @@\n-a\n+b\n",
            "not exist",
        ),
    ],
)
def test_unsafe_or_impossible_diffs_are_rejected(diff: str, reason: str, tmp_path: Path) -> None:
    root = _repo(tmp_path, {"a.txt": "a\n", "x.png": "x"})
    with pytest.raises(PatchRejected, match=reason):
        apply_diff(root, diff)


SEARCH_REPLACE = """Here is the change.

src/app.py
```python
<<<<<<< SEARCH
def total(xs):
    return sum([x for x in xs])
=======
def total(xs):
    return sum(x for x in xs)
>>>>>>> REPLACE
```

src/new_module.py
<<<<<<< SEARCH
=======
VALUE = 1
>>>>>>> REPLACE
"""


def test_search_replace_blocks_are_parsed_with_their_files() -> None:
    assert parse_search_replace(SEARCH_REPLACE) == [
        (
            "src/app.py",
            "def total(xs):\n    return sum([x for x in xs])\n",
            "def total(xs):\n    return sum(x for x in xs)\n",
        ),
        ("src/new_module.py", "", "VALUE = 1\n"),
    ]


def test_an_unterminated_block_is_rejected() -> None:
    with pytest.raises(PatchRejected, match="not closed"):
        parse_search_replace("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n")


def test_edits_become_one_diff_that_applies(tmp_path: Path) -> None:
    source = "import os\n\n\ndef total(xs):\n    return sum([x for x in xs])\n"
    root = _repo(tmp_path, {"src/app.py": source})
    diff = diff_from_edits(root, parse_search_replace(SEARCH_REPLACE))
    assert diff.count("diff --git") == 2
    assert "new file mode 100644\n--- /dev/null\n+++ b/src/new_module.py\n" in diff
    assert apply_diff(root, diff) == ["src/app.py", "src/new_module.py"]
    assert (root / "src/app.py").read_text() == source.replace("sum([x for x in xs])", "sum(x for x in xs)")
    assert (root / "src/new_module.py").read_text() == "VALUE = 1\n"


@pytest.mark.parametrize(
    ("edits", "reason"),
    [
        ([("a.py", "missing text", "x")], "is not found"),
        ([("a.py", "x = 1\n", "x = 2\n")], "occurs 2 times"),
        ([("a.py", "", "new")], "already exists"),
        ([("../a.py", "x", "y")], "escapes"),
    ],
)
def test_edits_that_do_not_match_exactly_once_are_rejected(
    edits: list[tuple[str, str, str]], reason: str, tmp_path: Path
) -> None:
    root = _repo(tmp_path, {"a.py": "x = 1\nx = 1\n"})
    with pytest.raises(PatchRejected, match=reason):
        diff_from_edits(root, edits)
