"""Read-only, bounded access to a checked-out tree for the detectors.

A repository is untrusted input: a symlink may point at `/etc/passwd` or at a file of many gigabytes, and a
generated folder may hold a hundred thousand files. Every read goes through `RepoFiles`, which stays inside the root
(a resolved path outside it is refused), reads at most `MAX_FILE_BYTES` of a file, skips the folders that hold no
source of the project's own when it lists or searches (a file named explicitly, such as a local action in
`.github/actions/build/`, is still read), and bounds how far a search walks. Problems become notes, never exceptions.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_FILE_BYTES = 1024 * 1024
IGNORED_DIRECTORIES = frozenset(
    {"node_modules", ".git", ".venv", "dist", "build", "venv", "__pycache__", ".tox", ".nox"}
)
_MAX_WALKED_ENTRIES = 20_000
_MAX_WALK_DEPTH = 8


def describe_yaml_error(exc: Exception) -> str:
    """A YAML error in a few words with its 1-based line, for a note (PyYAML's own message spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)


class RepoFiles:
    """The files of one repository root, read safely; `notes` collects what a person should know about them."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.notes: list[str] = []

    def _inside(self, relative: str) -> Path | None:
        candidate = self.root / relative
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError):
            return None
        if resolved != self.root and not resolved.is_relative_to(self.root):
            self.note(f"{relative} points outside the repository; not read")
            return None
        return resolved

    def note(self, text: str) -> None:
        """Record `text` once; several readers may stumble on the same problem."""
        if text not in self.notes:
            self.notes.append(text)

    def is_file(self, relative: str) -> bool:
        path = self._inside(relative)
        return path is not None and path.is_file()

    def is_dir(self, relative: str) -> bool:
        path = self._inside(relative)
        return path is not None and path.is_dir()

    def read_text(self, relative: str) -> str | None:
        """The file's text (at most `MAX_FILE_BYTES`), or None when it is missing, outside the root or unreadable."""
        path = self._inside(relative)
        if path is None or not path.is_file():
            return None
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            self.note(f"{relative} could not be read: {exc.strerror or exc}")
            return None
        if len(data) > MAX_FILE_BYTES:
            self.note(f"{relative} is larger than 1 MiB; only its first 1 MiB was read")
            data = data[:MAX_FILE_BYTES]
        return data.decode("utf-8", errors="replace")

    def list_dir(self, relative: str = ".") -> list[str]:
        """Names in a folder, sorted so that a detection is the same on every machine; ignored folders left out."""
        path = self._inside(relative) if relative != "." else self.root
        if path is None or not path.is_dir():
            return []
        try:
            names = sorted(entry.name for entry in os.scandir(path))
        except OSError:
            return []
        return [name for name in names if name not in IGNORED_DIRECTORIES]

    def find_files(self, suffixes: tuple[str, ...]) -> list[str]:
        """Sorted relative paths (with `/`) of files whose names end with one of `suffixes`; symlinks not followed."""
        found: list[str] = []
        seen = 0
        stack: list[tuple[Path, int]] = [(self.root, 0)]
        while stack:
            folder, depth = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > _MAX_WALKED_ENTRIES:
                    self.note("the tree has more than 20000 entries; the search for files stopped early")
                    return sorted(found)
                if entry.is_symlink() or entry.name in IGNORED_DIRECTORIES:
                    continue
                if entry.is_dir() and depth < _MAX_WALK_DEPTH:
                    stack.append((Path(entry.path), depth + 1))
                elif entry.is_file() and entry.name.endswith(suffixes):
                    found.append(Path(entry.path).relative_to(self.root).as_posix())
        return sorted(found)
