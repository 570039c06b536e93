"""The static scan of a checked-out repository: walk its source files and run every rule on each.

A repository is untrusted input, so the walk never follows a symlink, never reads past `max_file_bytes`, stops after
`max_files` source files, and leaves out what is not the project's own source: dependency and build folders, and
minified or generated files (any line longer than `MINIFIED_LINE_CHARS`), and tests: a patch may not change tests, so an
opportunity found in one could never be acted on. Scanned code is only parsed, never run; a
file that does not parse is skipped, since a half-read file would give wrong findings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from agentlab.repo_optimize.detect_files import IGNORED_DIRECTORIES
from agentlab.repo_optimize.scan.js_rules import JS_RULES, JsModule
from agentlab.repo_optimize.scan.js_syntax import parse_tree
from agentlab.repo_optimize.scan.models import Finding, Opportunity, ScanLanguage, to_opportunity
from agentlab.repo_optimize.scan.python_rules import PYTHON_RULES, PythonModule

MINIFIED_LINE_CHARS = 1_000
DEFAULT_MAX_FILES = 2_000
DEFAULT_MAX_FILE_BYTES = 512_000
SCAN_IGNORED_DIRECTORIES = IGNORED_DIRECTORIES | {".next", ".nuxt", "coverage", ".turbo", ".cache", "site-packages"}
_PYTHON_SUFFIXES = frozenset({".py"})
_JAVASCRIPT_SUFFIXES = frozenset({".js", ".mjs", ".cjs", ".jsx"})
_TYPESCRIPT_SUFFIXES = frozenset({".ts", ".mts", ".cts"})
_TSX_SUFFIXES = frozenset({".tsx"})
TEST_DIRECTORIES = frozenset({"tests", "test", "__tests__", "__mocks__", "e2e", "cypress"})
_TEST_FILE_ENDINGS = tuple(
    f"{marker}{suffix}" for marker in (".test", ".spec") for suffix in (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs")
)


def _looks_minified(source: str) -> bool:
    return any(len(line) > MINIFIED_LINE_CHARS for line in source.splitlines())


def _python_lines(source: str) -> list[str]:
    """Lines as `ast` numbers them: `\n`, `\r\n` and a lone `\r` end a line (a form feed does not)."""
    return re.split(r"\r\n|\r|\n", source)


def _javascript_lines(source: str) -> list[str]:
    """Lines as tree-sitter numbers its rows: only `\n` ends one."""
    return [line.removesuffix("\r") for line in source.split("\n")]


def _opportunities(findings: list[Finding], language: ScanLanguage, path: str, lines: list[str]) -> list[Opportunity]:
    """One opportunity per distinct finding, in line order, so a report reads top to bottom."""
    seen: set[tuple[str, int, int]] = set()
    opportunities: list[Opportunity] = []
    for finding in sorted(findings, key=lambda item: (item.start_line, item.end_line, item.type)):
        key = (finding.type, finding.start_line, finding.end_line)
        if key not in seen:
            seen.add(key)
            opportunities.append(to_opportunity(finding, language=language, file=path, lines=lines))
    return opportunities


def scan_python(path: str, source: str) -> list[Opportunity]:
    """The opportunities in one Python file; none when it does not parse."""
    try:
        module = PythonModule.parse(source)
        findings = [finding for rule in PYTHON_RULES for finding in rule(module)]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return _opportunities(findings, "python", path, _python_lines(source))


def scan_javascript(path: str, source: str, *, typescript: bool = False, tsx: bool = False) -> list[Opportunity]:
    """The opportunities in one JavaScript or TypeScript file (TSX when `tsx`); none when it does not parse."""
    grammar = "tsx" if tsx else "typescript" if typescript else "javascript"
    root = parse_tree(source.encode("utf-8", errors="replace"), grammar)
    if root is None:
        return []
    try:
        module = JsModule.build(root)
        findings = [finding for rule in JS_RULES for finding in rule(module)]
    except RecursionError:
        return []
    language: ScanLanguage = "typescript" if typescript or tsx else "javascript"
    return _opportunities(findings, language, path, _javascript_lines(source))


def is_test_file(name: str) -> bool:
    """`test_x.py`, `x_test.py`, `conftest.py`, `x.test.ts`, `x.spec.js`: files a patch is not allowed to change."""
    return (
        (name.startswith("test_") and name.endswith(".py"))
        or name.endswith("_test.py")
        or name == "conftest.py"
        or name.endswith(_TEST_FILE_ENDINGS)
    )


def _is_scanned(name: str) -> bool:
    suffix = Path(name).suffix
    if name.endswith((".d.ts", ".min.js", ".min.mjs", ".bundle.js")) or is_test_file(name):
        return False
    return suffix in _PYTHON_SUFFIXES | _JAVASCRIPT_SUFFIXES | _TYPESCRIPT_SUFFIXES | _TSX_SUFFIXES


def source_files(root: Path, *, max_files: int = DEFAULT_MAX_FILES) -> list[str]:
    """Relative POSIX paths of the files the scan reads, sorted, at most `max_files`; symlinks are never followed."""
    found: list[str] = []
    for directory, folders, files in os.walk(root, followlinks=False):
        folders[:] = sorted(
            name for name in folders if name not in SCAN_IGNORED_DIRECTORIES and name not in TEST_DIRECTORIES
        )
        for name in sorted(files):
            path = Path(directory) / name
            if _is_scanned(name) and not path.is_symlink():
                found.append(path.relative_to(root).as_posix())
                if len(found) >= max_files:
                    return found
    return found


def _read_source(path: Path, max_file_bytes: int) -> str | None:
    try:
        if path.stat().st_size > max_file_bytes:
            return None
        with path.open("rb") as handle:
            data = handle.read(max_file_bytes + 1)
    except OSError:
        return None
    if len(data) > max_file_bytes:
        return None
    return data.decode("utf-8", errors="replace")


def scan_file(relative: str, source: str) -> list[Opportunity]:
    """Dispatch one file to the scan of its language, chosen by its suffix."""
    suffix = Path(relative).suffix
    if suffix in _PYTHON_SUFFIXES:
        return scan_python(relative, source)
    if suffix in _TSX_SUFFIXES:
        return scan_javascript(relative, source, typescript=True, tsx=True)
    return scan_javascript(relative, source, typescript=suffix in _TYPESCRIPT_SUFFIXES)


def scan_repository(
    root: Path, *, max_files: int = DEFAULT_MAX_FILES, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> list[Opportunity]:
    """Every opportunity in the repository at `root`, ordered by file and line."""
    resolved = root.resolve()
    opportunities: list[Opportunity] = []
    for relative in source_files(resolved, max_files=max_files):
        source = _read_source(resolved / relative, max_file_bytes)
        if source is None or _looks_minified(source):
            continue
        opportunities.extend(scan_file(relative, source))
    return opportunities
