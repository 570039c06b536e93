"""Git-style unified diffs: written from two texts, parsed with unidiff, applied in pure Python with exact context.

A patch must apply to the checked-out commit exactly as reviewed, so application never fuzzes context: a hunk's
removed and context lines must match the file line for line. A hunk may sit at another line than its header says
(models miscount lines), as `git apply` allows, but only where its lines match exactly and only at one place.
Application checks every file before it writes any, so a patch that does not apply leaves the tree untouched.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from unidiff import PatchedFile, PatchSet
from unidiff.errors import UnidiffParseError

from agentlab.repo_optimize.patches.models import PatchRejected

CONTEXT_LINES = 3
NO_NEWLINE_MARKER = "\\ No newline at end of file\n"
SEARCH_MARKER = "<<<<<<< SEARCH"
DIVIDER_MARKER = "======="
REPLACE_MARKER = ">>>>>>> REPLACE"


def unified_diff(path: str, old_text: str | None, new_text: str | None) -> str:
    """The git-style diff turning old_text into new_text at path (None for a file that is created or deleted)."""
    if old_text == new_text:
        return ""
    old_lines = _lines_for_diff(old_text or "")
    new_lines = _lines_for_diff(new_text or "")
    header = [f"diff --git a/{path} b/{path}\n"]
    if old_text is None:
        header.append("new file mode 100644\n")
    elif new_text is None:
        header.append("deleted file mode 100644\n")
    body = list(
        difflib.unified_diff(
            old_lines,
            new_lines,
            fromfile="/dev/null" if old_text is None else f"a/{path}",
            tofile="/dev/null" if new_text is None else f"b/{path}",
            n=CONTEXT_LINES,
        )
    )
    return "".join(header + body)


def path_escape_reason(path: str) -> str | None:
    """Why a patch path is unsafe (absolute, or climbing out of the root), None when it stays inside the root."""
    if not path or path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        return f"The patch touches {path!r}, an absolute path outside the repository."
    if ".." in PurePosixPath(path.replace("\\", "/")).parts:
        return f"The patch touches {path!r}, a path that escapes the repository root."
    return None


def parse_patch(diff: str) -> PatchSet:
    """Parse a unified diff, or raise PatchRejected saying why it is not one."""
    try:
        patch_set = PatchSet(diff)
    except UnidiffParseError as exc:
        raise PatchRejected(f"does not apply: the diff cannot be parsed ({exc}).") from exc
    if not list(patch_set):
        raise PatchRejected("does not apply: the diff changes no file.")
    return patch_set


def patched_path(patched_file: PatchedFile) -> str:
    """The repository-relative path a file entry of a diff writes (the old path for a deleted file)."""
    return str(patched_file.path)


def patched_contents(root: Path, patch_set: PatchSet) -> dict[str, tuple[str | None, str | None]]:
    """Every file's text before and after the patch (None where it does not exist), computed without writing.

    Raises PatchRejected("does not apply: ...") for a binary or renamed file, an unsafe path, a missing file or a
    hunk whose lines do not match the file.
    """
    results: dict[str, tuple[str | None, str | None]] = {}
    for patched_file in patch_set:
        path = patched_path(patched_file)
        escape = path_escape_reason(path)
        if escape:
            raise PatchRejected(f"does not apply: {escape}")
        if patched_file.is_binary_file:
            raise PatchRejected(f"does not apply: {path} is a binary patch.")
        renamed = patched_file.is_rename or (
            _strip_prefix(patched_file.source_file) != _strip_prefix(patched_file.target_file)
        )
        if renamed and not (patched_file.is_added_file or patched_file.is_removed_file):
            raise PatchRejected(f"does not apply: {path} is renamed, and renames are not applied.")
        if path in results:
            raise PatchRejected(f"does not apply: {path} appears twice in the diff.")
        file_path = root / path
        if patched_file.is_added_file:
            if file_path.exists():
                raise PatchRejected(f"does not apply: {path} is created by the diff but already exists.")
            old_text: str | None = None
            old_lines: list[str] = []
        else:
            if not file_path.is_file():
                raise PatchRejected(f"does not apply: {path} does not exist in the repository.")
            old_text = _read_text(file_path, path)
            old_lines = old_text.splitlines(keepends=True)
        new_lines = _apply_hunks(path, old_lines, patched_file)
        new_text = None if patched_file.is_removed_file else "".join(new_lines)
        results[path] = (old_text, new_text)
    return results


def apply_diff(root: Path, diff: str) -> list[str]:
    """Apply a diff to the tree at root and return the files it changed, or raise PatchRejected("does not apply: ...").

    Every hunk is checked against every file first, so a diff that fails anywhere changes nothing.
    """
    contents = patched_contents(root, parse_patch(diff))
    for path, (_, new_text) in contents.items():
        file_path = root / path
        if new_text is None:
            file_path.unlink()
            continue
        file_path.parent.mkdir(parents=True, exist_ok=True)
        file_path.write_bytes(new_text.encode("utf-8"))
    return list(contents)


def parse_search_replace(text: str) -> list[tuple[str, str, str]]:
    """A model's SEARCH/REPLACE blocks as (file, search, replace); the file is the line before each block.

    The format is the one models write most reliably: the path on its own line (optionally in a code fence), then
    `<<<<<<< SEARCH`, the exact old text, `=======`, the new text and `>>>>>>> REPLACE`. An empty SEARCH creates a
    file. Raises PatchRejected when a block is unterminated or names no file.
    """
    edits: list[tuple[str, str, str]] = []
    lines = text.splitlines(keepends=True)
    index = 0
    last_named_file: str | None = None
    while index < len(lines):
        stripped = lines[index].strip()
        if stripped != SEARCH_MARKER:
            if stripped and not stripped.startswith("```"):
                last_named_file = stripped.strip("`*")
            index += 1
            continue
        if last_named_file is None:
            raise PatchRejected("does not apply: a SEARCH/REPLACE block does not name its file on the line before it.")
        search, index = _collect_until(lines, index + 1, DIVIDER_MARKER)
        replace, index = _collect_until(lines, index, REPLACE_MARKER)
        edits.append((last_named_file, search, replace))
    return edits


def diff_from_edits(root: Path, edits: Iterable[tuple[str, str, str]]) -> str:
    """Turn (file, search, replace) edits into one git-style diff against the files at root.

    Each search text must occur exactly once in the file as the earlier edits left it, so an edit is never applied
    at a place the model did not mean. Raises PatchRejected("does not apply: ...") otherwise.
    """
    originals: dict[str, str | None] = {}
    current: dict[str, str] = {}
    for path, search, replace in edits:
        escape = path_escape_reason(path)
        if escape:
            raise PatchRejected(f"does not apply: {escape}")
        if path not in current:
            file_path = root / path
            originals[path] = _read_text(file_path, path) if file_path.is_file() else None
            current[path] = originals[path] or ""
        text = current[path]
        if not search:
            if originals[path] is not None or text:
                raise PatchRejected(f"does not apply: an empty SEARCH creates {path}, which already exists.")
            current[path] = replace
            continue
        occurrences = text.count(search)
        if occurrences != 1:
            where = "is not found" if occurrences == 0 else f"occurs {occurrences} times"
            raise PatchRejected(f"does not apply: the SEARCH text for {path} {where}; it must occur exactly once.")
        current[path] = text.replace(search, replace, 1)
    return "".join(unified_diff(path, originals[path], current[path]) for path in current)


def _collect_until(lines: list[str], index: int, marker: str) -> tuple[str, int]:
    """The text from index up to the marker line, and the index after the marker."""
    collected: list[str] = []
    while index < len(lines):
        if lines[index].strip() == marker:
            return "".join(collected), index + 1
        collected.append(lines[index])
        index += 1
    raise PatchRejected(f"does not apply: a SEARCH/REPLACE block is not closed by {marker!r}.")


def _apply_hunks(path: str, old_lines: list[str], patched_file: PatchedFile) -> list[str]:
    """The file's lines after every hunk, each matched exactly at its stated line or at one unambiguous offset."""
    result: list[str] = []
    position = 0
    for hunk in patched_file:
        source, target = _hunk_lines(hunk)
        start = _locate_hunk(old_lines, source, max(hunk.source_start - 1, 0), position)
        if start is None:
            raise PatchRejected(
                f"does not apply: the hunk at line {hunk.source_start} of {path} does not match the file's lines."
            )
        result.extend(old_lines[position:start])
        result.extend(target)
        position = start + len(source)
    result.extend(old_lines[position:])
    return result


def _hunk_lines(hunk: Iterable[object]) -> tuple[list[str], list[str]]:
    """A hunk's old and new lines, with the newline dropped where a no-newline marker follows a line."""
    source: list[str] = []
    target: list[str] = []
    previous_type = ""
    for line in hunk:
        line_type = str(getattr(line, "line_type", ""))
        value = str(getattr(line, "value", ""))
        if line_type == "\\":
            if previous_type in (" ", "-") and source:
                source[-1] = source[-1].rstrip("\n")
            if previous_type in (" ", "+") and target:
                target[-1] = target[-1].rstrip("\n")
            continue
        if line_type in (" ", "-"):
            source.append(value)
        if line_type in (" ", "+"):
            target.append(value)
        previous_type = line_type
    return source, target


def _locate_hunk(old_lines: list[str], source: list[str], stated: int, earliest: int) -> int | None:
    """Where a hunk's old lines sit: at the stated index when they match there, else at their only other match."""
    size = len(source)
    if not source:
        return stated if earliest <= stated <= len(old_lines) else None

    def matches(start: int) -> bool:
        return old_lines[start : start + size] == source

    if earliest <= stated <= len(old_lines) - size and matches(stated):
        return stated
    candidates = [start for start in range(earliest, len(old_lines) - size + 1) if matches(start)]
    return candidates[0] if len(candidates) == 1 else None


def _lines_for_diff(text: str) -> list[str]:
    """Lines with their endings; the last line is tagged when the text does not end with a newline."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] = lines[-1] + "\n" + NO_NEWLINE_MARKER
    return lines


def _read_text(file_path: Path, path: str) -> str:
    """A file's text as UTF-8, exactly (line endings kept); a file that is not text cannot take a text patch."""
    try:
        return file_path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PatchRejected(f"does not apply: {path} is not UTF-8 text.") from exc


def _strip_prefix(name: str | None) -> str:
    """A diff header's file name without its a/ or b/ prefix."""
    if not name:
        return ""
    for prefix in ("a/", "b/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name
