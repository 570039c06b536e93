"""The hard constraints every patch meets before it is validated, each broken one reported as a sentence.

A performance patch is small and touches only source code: it never edits the repository's configuration, its
tests (a patch that rewrote the tests could make any change pass), its dependency manifests or lockfiles, and it
never brings in a new dependency. These are checked from the diff alone, and, when the checked-out tree is at hand,
against it (imports already used elsewhere in the repository and declared packages are not new).
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from unidiff import PatchSet

from agentlab.repo_optimize.patches.diffs import parse_patch, patched_contents, patched_path, path_escape_reason
from agentlab.repo_optimize.patches.models import Language, PatchRejected
from agentlab.repo_optimize.patches.templates_js import imported_packages, language_for_path

MAX_FILES = 5
MAX_CHANGED_LINES = 200
LOCKFILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "pnpm-lock.yaml",
        "yarn.lock",
        "uv.lock",
        "poetry.lock",
        "Pipfile.lock",
    }
)
MANIFESTS = frozenset({"package.json", "pyproject.toml", "setup.py", "setup.cfg", "Pipfile"})
CONFIG_SUFFIXES = frozenset({".json", ".jsonc", ".json5", ".toml", ".cfg", ".ini", ".yaml", ".yml"})
CI_FOLDERS = frozenset({".github", ".circleci", ".gitlab", ".ci", ".buildkite", ".azure-pipelines"})
CI_FILES = frozenset({"Jenkinsfile", ".gitlab-ci.yml", "azure-pipelines.yml", ".travis.yml"})
TEST_FOLDERS = frozenset({"tests", "test", "__tests__"})
# Folders whose files are neither the repository's code nor its own imports.
VENDORED_FOLDERS = frozenset({".venv", "venv", "node_modules", ".git", "__pycache__", "dist", "build"})
NODE_BUILTINS = frozenset(
    {
        "assert", "async_hooks", "buffer", "child_process", "cluster", "console", "constants", "crypto", "dgram",
        "diagnostics_channel", "dns", "domain", "events", "fs", "http", "http2", "https", "inspector", "module",
        "net", "os", "path", "perf_hooks", "process", "punycode", "querystring", "readline", "repl", "stream",
        "string_decoder", "sys", "timers", "tls", "trace_events", "tty", "url", "util", "v8", "vm", "wasi",
        "worker_threads", "zlib",
    }
)  # fmt: skip
DEPENDENCY_SECTIONS = ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies")


def check_patch(diff: str, *, root: Path | None = None) -> list[str]:
    """The reasons a diff breaks the hard constraints, one sentence each naming the file; [] when it keeps them all.

    Without root only the diff is read: an import counts as already present when the diff's own context or removed
    lines import it, so a first-party import can be reported as new; with root the repository decides.
    """
    try:
        patch_set = parse_patch(diff)
    except PatchRejected as exc:
        return [exc.message]
    reasons: list[str] = []
    paths = [patched_path(patched_file) for patched_file in patch_set]
    if len(paths) > MAX_FILES:
        reasons.append(f"The patch changes {len(paths)} files ({', '.join(paths)}); at most {MAX_FILES} are allowed.")
    changed = sum(patched_file.added + patched_file.removed for patched_file in patch_set)
    if changed > MAX_CHANGED_LINES:
        reasons.append(f"The patch changes {changed} lines; at most {MAX_CHANGED_LINES} added and removed are allowed.")
    for patched_file in patch_set:
        path = patched_path(patched_file)
        reason = path_escape_reason(path) or _file_kind_reason(path)
        if patched_file.is_binary_file:
            reason = reason or f"The patch changes {path} as a binary file; only text patches are allowed."
        if patched_file.is_rename:
            reason = reason or f"The patch renames {path}; renames are not allowed."
        if reason:
            reasons.append(reason)
    if not reasons:
        reasons.extend(_new_dependency_reasons(patch_set, root))
    return reasons


def _file_kind_reason(path: str) -> str | None:
    """Why a path may not be changed at all (lockfile, manifest, test, configuration), None for source code."""
    posix = PurePosixPath(path)
    name = posix.name
    folders = posix.parts[:-1]
    if name in LOCKFILES:
        return f"The patch changes the lockfile {path}; lockfiles are never changed."
    if name in MANIFESTS or (name.startswith("requirements") and name.endswith(".txt")):
        return f"The patch changes the dependency manifest {path}; manifests are never changed."
    is_test_file = (
        (name.startswith("test_") and name.endswith(".py"))
        or name.endswith("_test.py")
        or name == "conftest.py"
        or ".test." in name
        or ".spec." in name
    )
    if is_test_file or any(folder in TEST_FOLDERS for folder in folders):
        return f"The patch changes the test file {path}; tests are never changed by a performance patch."
    if name in CI_FILES or any(folder in CI_FOLDERS for folder in folders):
        return f"The patch changes the CI file {path}; CI configuration is never changed."
    if any(part.startswith(".") for part in posix.parts):
        return f"The patch changes the dotfile {path}; configuration files are never changed."
    if posix.suffix.lower() in CONFIG_SUFFIXES:
        return f"The patch changes the configuration file {path}; configuration is never changed."
    return None


def _new_dependency_reasons(patch_set: PatchSet, root: Path | None) -> list[str]:
    """A sentence per module or package a changed file starts importing that the repository does not have."""
    if root is not None:
        try:
            contents = patched_contents(root, patch_set)
        except PatchRejected as exc:
            return [exc.message]
    else:
        contents = {patched_path(patched_file): _texts_from_hunks(patched_file) for patched_file in patch_set}
    reasons: list[str] = []
    known_python: set[str] | None = None
    for path, (old_text, new_text) in contents.items():
        if new_text is None:
            continue
        language = language_for_path(path)
        if language is Language.PYTHON:
            added = _python_imports(new_text) - _python_imports(old_text or "")
            third_party = sorted(module for module in added if module not in sys.stdlib_module_names)
            if third_party and root is not None and known_python is None:
                known_python = _python_modules_known_to(root)
            for module in third_party:
                if known_python is None or module not in known_python:
                    reasons.append(f"The patch makes {path} import {module!r}, a new dependency.")
        elif language is not None:
            added = imported_packages(new_text, language) - imported_packages(old_text or "", language)
            declared = _declared_packages(root, path) if root is not None else set()
            for package in sorted(added):
                if _package_name(package) not in NODE_BUILTINS and _package_name(package) not in declared:
                    reasons.append(f"The patch makes {path} import {package!r}, a package not in package.json.")
    return reasons


def _texts_from_hunks(patched_file: Iterable[Iterable[object]]) -> tuple[str, str]:
    """The old and new text a diff shows of a file (its hunks only), enough to compare their imports."""
    old_lines: list[str] = []
    new_lines: list[str] = []
    for hunk in patched_file:
        for line in hunk:
            line_type = str(getattr(line, "line_type", ""))
            value = str(getattr(line, "value", ""))
            if line_type in (" ", "-"):
                old_lines.append(value)
            if line_type in (" ", "+"):
                new_lines.append(value)
    return "".join(old_lines), "".join(new_lines)


def _python_imports(text: str) -> set[str]:
    """The top-level names of the absolute imports in Python source; a fragment that does not parse is read by line."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        modules: set[str] = set()
        for line in text.splitlines():
            try:
                modules |= _python_imports_of_tree(ast.parse(line.strip()))
            except SyntaxError:
                continue
        return modules
    return _python_imports_of_tree(tree)


def _python_imports_of_tree(tree: ast.AST) -> set[str]:
    """The top-level module names every absolute import in the tree names."""
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def _python_modules_known_to(root: Path) -> set[str]:
    """Modules the repository already imports anywhere, and its own top-level modules and packages."""
    known: set[str] = set()
    for file_path in root.rglob("*.py"):
        relative = file_path.relative_to(root)
        if any(part in VENDORED_FOLDERS for part in relative.parts):
            continue
        known.add(file_path.stem)
        known.update(relative.parts[:-1])
        try:
            known |= _python_imports_of_tree(ast.parse(file_path.read_bytes()))
        except (SyntaxError, ValueError):
            continue
    return known


def _declared_packages(root: Path, path: str) -> set[str]:
    """The packages declared by every package.json from the file's folder up to the root (workspaces included)."""
    declared: set[str] = set()
    folder = (root / path).parent
    while True:
        manifest = folder / "package.json"
        if manifest.is_file():
            try:
                document = json.loads(manifest.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                document = {}
            if isinstance(document, dict):
                for section in DEPENDENCY_SECTIONS:
                    packages = document.get(section)
                    if isinstance(packages, dict):
                        declared.update(str(name) for name in packages)
                if isinstance(document.get("name"), str):
                    declared.add(document["name"])
        if folder == root or root not in folder.parents:
            return declared
        folder = folder.parent


def _package_name(specifier: str) -> str:
    """The package a bare import specifier names: `@scope/name` or `name`, without a subpath or `node:`."""
    if specifier.startswith("node:"):
        return specifier[len("node:") :].split("/")[0]
    parts = specifier.split("/")
    return "/".join(parts[:2]) if specifier.startswith("@") else parts[0]
