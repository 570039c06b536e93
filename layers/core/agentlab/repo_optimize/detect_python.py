"""Python repositories: the installer, and commands from `pyproject.toml`, `tox.ini` and `noxfile.py`.

Nothing is imported or executed: `pyproject.toml` is read with `tomllib`, `tox.ini` with `configparser`, and
`noxfile.py` is parsed with `ast` so its sessions are found without running the file. Under uv or poetry, tools run
through the manager (`uv run pytest`), since that is where they are installed.
"""

from __future__ import annotations

import ast
import configparser
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from agentlab.repo_optimize.detect_commands import task_name_command
from agentlab.repo_optimize.detect_files import RepoFiles
from agentlab.repo_optimize.detect_models import (
    CONFLICT_PENALTY,
    CONVENTION_CONFIDENCE,
    INSTALL_LOCKFILE_CONFIDENCE,
    INSTALL_MANIFEST_CONFIDENCE,
    INSTALL_WITHOUT_LOCK_CONFIDENCE,
    PYPROJECT_CONFIDENCE,
    PYTEST_BENCHMARK_CONFIDENCE,
    TASK_RUNNER_CONFIDENCE,
    TOOL_CONFIG_CONFIDENCE,
    WEAK_CONVENTION_CONFIDENCE,
    CommandCandidate,
    Evidence,
    PackageManager,
    Source,
)

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_TEST_EXTRAS = ("test", "tests", "testing", "dev")
_MANAGER_SECTIONS: tuple[tuple[str, PackageManager], ...] = (("poetry", "poetry"), ("uv", "uv"))
_EXTRA_REQUIREMENTS = ("requirements-dev.txt", "requirements-test.txt", "requirements-tests.txt")


def _table(value: Any) -> dict[str, Any]:
    """A TOML table, or an empty one when the key is absent or holds something else (a malformed manifest)."""
    return value if isinstance(value, dict) else {}


@dataclass
class PythonFindings:
    """What the Python manifests say; `detect` merges it with Node, Makefile and CI findings."""

    package_manager: PackageManager
    package_manager_evidence: list[Evidence]
    candidates: list[CommandCandidate] = field(default_factory=list)


@dataclass
class _Manifest:
    """The parsed `pyproject.toml` (empty when absent or invalid) and where each dependency was declared."""

    pyproject: dict[str, Any]
    text: str
    dependencies: dict[str, Evidence]
    installable: bool


def normalized_name(requirement: str) -> str | None:
    """A requirement's distribution name in PEP 503 form (`Pytest_Benchmark>=4` → `pytest-benchmark`)."""
    match = _REQUIREMENT_NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else None


def line_of_text(text: str, needle: str) -> int | None:
    """The 1-based line where `needle` first appears: TOML and INI parsers keep no positions."""
    for index, line in enumerate(text.splitlines()):
        if needle in line:
            return index + 1
    return None


def _record(found: dict[str, Evidence], requirement: str, file: str, text: str, where: str) -> None:
    name = normalized_name(requirement)
    if name is not None and name not in found:
        found[name] = Evidence(file=file, line=line_of_text(text, requirement), detail=f'{where} "{requirement}"')


def _pyproject_dependencies(pyproject: dict[str, Any], text: str) -> dict[str, Evidence]:
    found: dict[str, Evidence] = {}
    project = _table(pyproject.get("project"))
    for requirement in project.get("dependencies", []) if isinstance(project.get("dependencies"), list) else []:
        if isinstance(requirement, str):
            _record(found, requirement, "pyproject.toml", text, "project.dependencies")
    extras = _table(project.get("optional-dependencies"))
    groups = _table(pyproject.get("dependency-groups"))
    for table, where in ((extras, "project.optional-dependencies"), (groups, "dependency-groups")):
        for group, requirements in table.items() if isinstance(table, dict) else []:
            for requirement in requirements if isinstance(requirements, list) else []:
                if isinstance(requirement, str):
                    _record(found, requirement, "pyproject.toml", text, f"{where}.{group}")
    poetry = _table(_table(pyproject.get("tool")).get("poetry"))
    tables = [_table(poetry.get("dependencies")), _table(poetry.get("dev-dependencies"))]
    tables.extend(_table(_table(group).get("dependencies")) for group in _table(poetry.get("group")).values())
    for table in tables:
        for name in table if isinstance(table, dict) else []:
            _record(found, name, "pyproject.toml", text, "tool.poetry dependency")
    return found


def _requirements_files(files: RepoFiles) -> list[str]:
    return [name for name in files.list_dir() if re.fullmatch(r"requirements[\w.-]*\.txt", name)]


def _load_manifest(files: RepoFiles) -> _Manifest:
    text = files.read_text("pyproject.toml") or ""
    pyproject: dict[str, Any] = {}
    if text:
        try:
            pyproject = tomllib.loads(text)
        except RecursionError:
            files.note("pyproject.toml is nested too deeply to read; it was not read")
        except tomllib.TOMLDecodeError as exc:
            files.note(f"pyproject.toml is not valid TOML ({exc}); it was not read")
    dependencies = _pyproject_dependencies(pyproject, text)
    for name in _requirements_files(files):
        requirements_text = files.read_text(name) or ""
        for line in requirements_text.splitlines():
            if line.strip() and not line.lstrip().startswith(("#", "-")):
                _record(dependencies, line.strip(), name, requirements_text, "requirement")
    installable = bool(pyproject.get("project") or pyproject.get("build-system")) or files.is_file("setup.py")
    return _Manifest(pyproject, text, dependencies, installable)


def _package_manager(files: RepoFiles, manifest: _Manifest) -> tuple[PackageManager, list[Evidence], bool, bool]:
    """(manager, evidence, locked, signals disagree)."""
    tool = _table(manifest.pyproject.get("tool"))
    known_locks: tuple[tuple[str, PackageManager], ...] = (("uv.lock", "uv"), ("poetry.lock", "poetry"))
    locks = [(lock, manager) for lock, manager in known_locks if files.is_file(lock)]
    evidence = [Evidence(file=lock, line=None, detail=f"lockfile {lock}") for lock, _ in locks]
    if locks:
        chosen: PackageManager = "poetry" if len(locks) > 1 and "poetry" in tool else locks[0][1]
        if len(locks) > 1:
            files.note(f"both uv.lock and poetry.lock are present; using {chosen}")
        return chosen, evidence, True, len(locks) > 1
    for section, manager in _MANAGER_SECTIONS:
        if section in tool:
            header = f"[tool.{section}"
            line = line_of_text(manifest.text, header)
            return (
                manager,
                [Evidence(file="pyproject.toml", line=line, detail=f"{header}] without a lockfile")],
                False,
                False,
            )
    present = [name for name in ("pyproject.toml", "setup.py", "setup.cfg") if files.is_file(name)]
    present.extend(_requirements_files(files))
    evidence = [Evidence(file=name, line=None, detail=f"{name} without a uv or poetry lockfile") for name in present]
    return "pip", evidence, False, False


def _pip_install(files: RepoFiles, manifest: _Manifest) -> CommandCandidate | None:
    extras_table = _table(_table(manifest.pyproject.get("project")).get("optional-dependencies"))
    extras = [extra for extra in _TEST_EXTRAS if isinstance(extras_table, dict) and extra in extras_table]
    requirement_files = [name for name in _EXTRA_REQUIREMENTS if files.is_file(name)]
    evidence: list[Evidence] = []
    if manifest.installable:
        target = f"'.[{','.join(extras)}]'" if extras else "."
        parts = [f"pip install -e {target}"]
        source: Source = "pyproject.toml" if manifest.text else "convention"
        evidence.append(
            Evidence(
                file="pyproject.toml" if manifest.text else "setup.py",
                line=line_of_text(manifest.text, "[project]") if manifest.text else None,
                detail="installable project" + (f" with extras {', '.join(extras)}" if extras else ""),
            )
        )
        for extra in extras:
            line = line_of_text(manifest.text, f"{extra} =") or line_of_text(manifest.text, f"{extra}=")
            evidence.append(Evidence(file="pyproject.toml", line=line, detail=f"project.optional-dependencies.{extra}"))
    elif files.is_file("requirements.txt"):
        parts = ["pip install -r requirements.txt"]
        source = "convention"
        evidence.append(Evidence(file="requirements.txt", line=None, detail="requirements.txt"))
    else:
        return None
    for name in requirement_files:
        parts.append(f"-r {name}")
        evidence.append(Evidence(file=name, line=None, detail=name))
    return CommandCandidate("install", " ".join(parts), INSTALL_MANIFEST_CONFIDENCE, evidence, source)


def _install_candidate(
    files: RepoFiles, manifest: _Manifest, manager: PackageManager, evidence: list[Evidence], locked: bool
) -> CommandCandidate | None:
    if manager == "pip":
        return _pip_install(files, manifest)
    command = "uv sync" if manager == "uv" else "poetry install"
    confidence = INSTALL_LOCKFILE_CONFIDENCE if locked else INSTALL_WITHOUT_LOCK_CONFIDENCE
    return CommandCandidate("install", command, confidence, list(evidence), "pyproject.toml")


def _runner(manager: PackageManager) -> str:
    return {"uv": "uv run ", "poetry": "poetry run "}.get(manager, "")


def _pyproject_candidates(files: RepoFiles, manifest: _Manifest, manager: PackageManager) -> list[CommandCandidate]:
    run = _runner(manager)
    text = manifest.text
    tool = _table(manifest.pyproject.get("tool"))
    candidates: list[CommandCandidate] = []

    def section(header: str) -> Evidence:
        return Evidence(file="pyproject.toml", line=line_of_text(text, f"[{header}]"), detail=f"[{header}]")

    if isinstance(tool.get("pytest"), dict) and "ini_options" in tool["pytest"]:
        evidence = [section("tool.pytest.ini_options")]
        if "pytest" in manifest.dependencies:
            evidence.append(manifest.dependencies["pytest"])
        candidates.append(CommandCandidate("test", f"{run}pytest", PYPROJECT_CONFIDENCE, evidence, "pyproject.toml"))
    else:
        for name, header in (("pytest.ini", "[pytest]"), ("setup.cfg", "[tool:pytest]"), ("tox.ini", "[pytest]")):
            config_text = files.read_text(name)
            if config_text is not None and header in config_text:
                evidence = [Evidence(file=name, line=line_of_text(config_text, header), detail=f"{header} section")]
                candidates.append(
                    CommandCandidate("test", f"{run}pytest", PYPROJECT_CONFIDENCE, evidence, "convention")
                )
                break
    if "pytest-benchmark" in manifest.dependencies:
        evidence = [manifest.dependencies["pytest-benchmark"]]
        source: Source = "pyproject.toml" if evidence[0].file == "pyproject.toml" else "convention"
        candidates.append(
            CommandCandidate("bench", f"{run}pytest --benchmark-only", PYTEST_BENCHMARK_CONFIDENCE, evidence, source)
        )
    if isinstance(tool.get("ruff"), dict):
        candidates.append(
            CommandCandidate(
                "lint", f"{run}ruff check .", TOOL_CONFIG_CONFIDENCE, [section("tool.ruff")], "pyproject.toml"
            )
        )
    if isinstance(tool.get("mypy"), dict):
        command = f"{run}mypy" if tool["mypy"].get("files") else f"{run}mypy ."
        candidates.append(
            CommandCandidate("typecheck", command, TOOL_CONFIG_CONFIDENCE, [section("tool.mypy")], "pyproject.toml")
        )
    elif isinstance(tool.get("pyright"), dict):
        candidates.append(
            CommandCandidate(
                "typecheck", f"{run}pyright", TOOL_CONFIG_CONFIDENCE, [section("tool.pyright")], "pyproject.toml"
            )
        )
    return candidates


def _tox_candidates(files: RepoFiles) -> list[CommandCandidate]:
    text = files.read_text("tox.ini")
    if text is None:
        return []
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        files.note(f"tox.ini could not be parsed ({type(exc).__name__}); its environments were not read")
        return []
    candidates: list[CommandCandidate] = []
    taken: set[str] = set()
    sections = [("py", "testenv")] if parser.has_section("testenv") else []
    sections.extend((name.split(":", 1)[1], name) for name in parser.sections() if name.startswith("testenv:"))
    for environment, section in sections:
        name = task_name_command(environment)
        if name is None or name in taken or "{" in environment:
            continue
        taken.add(name)
        commands = " ".join(parser.get(section, "commands", fallback="").split())
        detail = f"[{section}]" + (f" commands = {commands}" if commands else "")
        evidence = [Evidence(file="tox.ini", line=line_of_text(text, f"[{section}]"), detail=detail)]
        candidates.append(CommandCandidate(name, f"tox -e {environment}", TASK_RUNNER_CONFIDENCE, evidence, "tox.ini"))
    return candidates


def _is_nox_session(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr == "session"
    return isinstance(target, ast.Name) and target.id == "session"


def _session_name(function: ast.FunctionDef, decorator: ast.expr) -> str:
    if isinstance(decorator, ast.Call):
        for keyword in decorator.keywords:
            if (
                keyword.arg == "name"
                and isinstance(keyword.value, ast.Constant)
                and isinstance(keyword.value.value, str)
            ):
                return keyword.value.value
    return function.name


def _nox_candidates(files: RepoFiles) -> list[CommandCandidate]:
    text = files.read_text("noxfile.py")
    if text is None:
        return []
    try:
        tree = ast.parse(text, filename="noxfile.py")
    except (RecursionError, MemoryError):
        files.note("noxfile.py is nested too deeply to parse; its sessions were not read")
        return []
    except SyntaxError as exc:
        files.note(f"noxfile.py could not be parsed (line {exc.lineno}: {exc.msg}); its sessions were not read")
        return []
    candidates: list[CommandCandidate] = []
    taken: set[str] = set()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        decorator = next((item for item in node.decorator_list if _is_nox_session(item)), None)
        if decorator is None:
            continue
        session = _session_name(node, decorator)
        name = task_name_command(session)
        if name is None or name in taken:
            continue
        taken.add(name)
        evidence = [Evidence(file="noxfile.py", line=node.lineno, detail=f"nox session {session}")]
        candidates.append(CommandCandidate(name, f"nox -s {session}", TASK_RUNNER_CONFIDENCE, evidence, "noxfile.py"))
    return candidates


def _convention_candidates(files: RepoFiles, manifest: _Manifest, manager: PackageManager) -> list[CommandCandidate]:
    run = _runner(manager)
    candidates: list[CommandCandidate] = []
    folder = next((name for name in ("tests", "test") if files.is_dir(name)), None)
    test_files = [n for n in files.list_dir(folder) if n.endswith(".py") and n.startswith("test")] if folder else []
    if folder is not None and test_files:
        evidence = [Evidence(file=f"{folder}/{test_files[0]}", line=None, detail=f"test files in {folder}/")]
        if "pytest" in manifest.dependencies:
            evidence.append(manifest.dependencies["pytest"])
            candidates.append(CommandCandidate("test", f"{run}pytest", CONVENTION_CONFIDENCE, evidence, "convention"))
        else:
            command = f"{run}python -m unittest discover -s {folder}"
            candidates.append(CommandCandidate("test", command, WEAK_CONVENTION_CONFIDENCE, evidence, "convention"))
    for bench_folder in ("bench", "benchmarks"):
        scripts = [name for name in files.list_dir(bench_folder) if name.endswith(".py") and name != "__init__.py"]
        if scripts:
            path = f"{bench_folder}/{scripts[0]}"
            evidence = [Evidence(file=path, line=None, detail=f"benchmark script in {bench_folder}/")]
            candidates.append(
                CommandCandidate("bench", f"{run}python {path}", CONVENTION_CONFIDENCE, evidence, "convention")
            )
            break
    return candidates


def has_python_manifest(files: RepoFiles) -> bool:
    """Whether the root holds anything that makes it a Python project."""
    names = ("pyproject.toml", "setup.py", "setup.cfg", "tox.ini", "noxfile.py", "uv.lock", "poetry.lock")
    return any(files.is_file(name) for name in names) or bool(_requirements_files(files))


def detect_python(files: RepoFiles) -> PythonFindings | None:
    """The Python findings of the root, or None when nothing there makes it a Python project."""
    if not has_python_manifest(files):
        return None
    manifest = _load_manifest(files)
    manager, evidence, locked, conflict = _package_manager(files, manifest)
    candidates: list[CommandCandidate] = []
    install = _install_candidate(files, manifest, manager, evidence, locked)
    if install is not None:
        if conflict:
            install.confidence = round(install.confidence - CONFLICT_PENALTY, 2)
        candidates.append(install)
    candidates.extend(_pyproject_candidates(files, manifest, manager))
    candidates.extend(_tox_candidates(files))
    candidates.extend(_nox_candidates(files))
    candidates.extend(_convention_candidates(files, manifest, manager))
    return PythonFindings(manager, evidence, candidates)
