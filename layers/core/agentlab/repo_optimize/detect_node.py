"""Node repositories: the package manager, the framework, the scripts and the workspaces, from `package.json`.

The package manager comes from `packageManager` (what Corepack enforces, so it wins) or else the lockfile; the
commands come from `scripts` run through that manager, and from conventions (a `tsconfig.json` with `typescript`
installed, vitest `*.bench.ts` files) when no script says it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from agentlab.repo_optimize.detect_files import RepoFiles, describe_yaml_error
from agentlab.repo_optimize.detect_models import (
    CONFLICT_PENALTY,
    CONVENTION_CONFIDENCE,
    INSTALL_LOCKFILE_CONFIDENCE,
    INSTALL_MANIFEST_CONFIDENCE,
    INSTALL_WITHOUT_LOCK_CONFIDENCE,
    SCRIPT_ALIAS_CONFIDENCE,
    SCRIPT_CONFIDENCE,
    VITEST_BENCH_CONFIDENCE,
    CommandCandidate,
    Evidence,
    Framework,
    PackageManager,
)

_LOCKFILES: tuple[tuple[str, PackageManager], ...] = (
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
    ("package-lock.json", "npm"),
    ("npm-shrinkwrap.json", "npm"),
)
_DECLARABLE_MANAGERS: dict[str, PackageManager] = {"npm": "npm", "pnpm": "pnpm", "yarn": "yarn"}
# Checked in this order: a NestJS app depends on express too.
_FRAMEWORK_PACKAGES: tuple[tuple[str, Framework], ...] = (
    ("next", "nextjs"),
    ("@nestjs/core", "nestjs"),
    ("express", "express"),
)
# Script names in the order they are preferred for a command name, with the confidence each earns.
_SCRIPT_NAMES: dict[str, tuple[tuple[str, float], ...]] = {
    "build": (("build", SCRIPT_CONFIDENCE),),
    "typecheck": (
        ("typecheck", SCRIPT_CONFIDENCE),
        ("type-check", SCRIPT_CONFIDENCE),
        ("tsc", SCRIPT_CONFIDENCE),
        ("types", SCRIPT_ALIAS_CONFIDENCE),
        ("check-types", SCRIPT_ALIAS_CONFIDENCE),
    ),
    "test": (("test", SCRIPT_CONFIDENCE), ("test:unit", SCRIPT_ALIAS_CONFIDENCE)),
    "lint": (("lint", SCRIPT_CONFIDENCE), ("eslint", SCRIPT_ALIAS_CONFIDENCE)),
    "bench": (
        ("bench", SCRIPT_CONFIDENCE),
        ("benchmark", SCRIPT_CONFIDENCE),
        ("benchmarks", SCRIPT_ALIAS_CONFIDENCE),
        ("perf", SCRIPT_ALIAS_CONFIDENCE),
    ),
}
_PLACEHOLDER_SCRIPT = re.compile(r"no test specified|^\s*echo\b[^&|;]*(&&|;)\s*exit\s+1\s*$", re.IGNORECASE)
# yarn commands that shadow a script of the same name, so the script needs `yarn run`.
_YARN_BUILTINS = frozenset({"check", "info", "install", "add", "remove", "pack", "publish", "version", "audit", "why"})
_BENCH_FILE_SUFFIXES = (".bench.ts", ".bench.mts", ".bench.tsx", ".bench.js", ".bench.mjs", ".bench.cjs")
_ESLINT_CONFIGS = (
    "eslint.config.js",
    "eslint.config.mjs",
    "eslint.config.cjs",
    "eslint.config.ts",
    ".eslintrc",
    ".eslintrc.js",
    ".eslintrc.cjs",
    ".eslintrc.json",
    ".eslintrc.yml",
    ".eslintrc.yaml",
)


@dataclass
class NodeFindings:
    """What `package.json` and its neighbours say; `detect` merges it with Python, Makefile and CI findings."""

    package_manager: PackageManager
    package_manager_evidence: list[Evidence]
    framework: Framework
    framework_evidence: list[Evidence]
    candidates: list[CommandCandidate] = field(default_factory=list)
    workspaces: list[str] = field(default_factory=list)
    has_signals: bool = False


def line_of_json_key(text: str, key: str, within: str | None = None) -> int | None:
    """The 1-based line of `"key":` (after `"within":` when given): the JSON parser keeps no positions."""
    lines = text.splitlines()
    pattern = re.compile(rf'"{re.escape(key)}"\s*:')
    start_line, start_column = 0, 0
    if within is not None:
        opening = re.compile(rf'"{re.escape(within)}"\s*:')
        found = next(
            ((index, match.end()) for index, line in enumerate(lines) if (match := opening.search(line))), None
        )
        if found is None:
            return None
        start_line, start_column = found
    for index in range(start_line, len(lines)):
        if pattern.search(lines[index], start_column if index == start_line else 0):
            return index + 1
    return None


def _load_package_json(files: RepoFiles) -> tuple[dict[str, Any], str] | None:
    text = files.read_text("package.json")
    if text is None:
        return None
    try:
        manifest = json.loads(text)
    except RecursionError:
        files.note("package.json is nested too deeply to read; its scripts were not read")
        return None
    except json.JSONDecodeError as exc:
        files.note(f"package.json is not valid JSON (line {exc.lineno}: {exc.msg}); its scripts were not read")
        return None
    if not isinstance(manifest, dict):
        files.note("package.json is not a JSON object; its scripts were not read")
        return None
    return manifest, text


def _dependencies(manifest: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for section in ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies"):
        block = manifest.get(section)
        if isinstance(block, dict):
            for name, version in block.items():
                if isinstance(name, str):
                    found.setdefault(name, str(version))
    return found


def _dependency_evidence(manifest: dict[str, Any], text: str, name: str) -> Evidence:
    for section in ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies"):
        block = manifest.get(section)
        if isinstance(block, dict) and name in block:
            line = line_of_json_key(text, name, within=section)
            return Evidence(file="package.json", line=line, detail=f"{section}.{name} = {json.dumps(block[name])}")
    return Evidence(file="package.json", line=None, detail=f"dependency {name}")


def _package_manager(
    files: RepoFiles, manifest: dict[str, Any], text: str
) -> tuple[PackageManager, list[Evidence], bool, bool]:
    """(manager, evidence, signals disagree, yarn berry)."""
    evidence: list[Evidence] = []
    declared: PackageManager | None = None
    declared_version = ""
    field_value = manifest.get("packageManager")
    if isinstance(field_value, str) and field_value:
        name, _, declared_version = field_value.partition("@")
        line = line_of_json_key(text, "packageManager")
        declared = _DECLARABLE_MANAGERS.get(name)
        if declared is not None:
            evidence.append(Evidence(file="package.json", line=line, detail=f'packageManager = "{field_value}"'))
        else:
            files.note(f'package.json declares packageManager "{field_value}", which is not supported; ignored')
    locked: list[tuple[str, PackageManager]] = [(lock, manager) for lock, manager in _LOCKFILES if files.is_file(lock)]
    evidence.extend(Evidence(file=lock, line=None, detail=f"lockfile {lock}") for lock, _ in locked)
    signalled = {manager for _, manager in locked} | ({declared} if declared else set())
    chosen: PackageManager = declared or (locked[0][1] if locked else "npm")
    conflict = len(signalled) > 1
    if conflict:
        sources = ", ".join(
            ([f"packageManager says {declared}"] if declared else [])
            + [f"{lock} says {manager}" for lock, manager in locked]
        )
        files.note(f"package manager signals disagree ({sources}); using {chosen}")
    if not evidence:
        evidence.append(Evidence(file="package.json", line=None, detail="package.json without lockfile: npm assumed"))
    major = declared_version.split(".", 1)[0]
    berry = files.is_file(".yarnrc.yml") or (declared == "yarn" and major.isdigit() and int(major) >= 2)
    return chosen, evidence, conflict, berry


def _install_candidate(
    files: RepoFiles, manager: PackageManager, evidence: list[Evidence], conflict: bool, berry: bool
) -> CommandCandidate:
    lock = next((name for name, owner in _LOCKFILES if owner == manager and files.is_file(name)), None)
    if lock is None:
        command = f"{manager} install"
        declared = any(item.detail.startswith("packageManager") for item in evidence)
        confidence = INSTALL_MANIFEST_CONFIDENCE if declared else INSTALL_WITHOUT_LOCK_CONFIDENCE
    else:
        command = {
            "npm": "npm ci",
            "pnpm": "pnpm install --frozen-lockfile",
            "yarn": "yarn install --immutable" if berry else "yarn install --frozen-lockfile",
        }[manager]
        confidence = INSTALL_LOCKFILE_CONFIDENCE
    if conflict:
        confidence -= CONFLICT_PENALTY
    return CommandCandidate("install", command, round(confidence, 2), list(evidence), "package.json")


def script_command(manager: PackageManager, script: str) -> str:
    """How a user runs a package.json script with `manager` (`npm test`, `npm run build`, `yarn lint`)."""
    if script == "test" and manager in {"npm", "pnpm", "yarn"}:
        return f"{manager} test"
    if manager == "yarn":
        return f"yarn run {script}" if script in _YARN_BUILTINS else f"yarn {script}"
    return f"{manager} run {script}"


def exec_command(manager: PackageManager, tool_line: str) -> str:
    """A locally installed tool run through `manager` (`npm exec -- vitest bench --run`, `pnpm exec tsc`)."""
    if manager == "npm":
        return f"npm exec -- {tool_line}"
    return f"{manager} exec {tool_line}"


def _script_candidates(
    files: RepoFiles, manifest: dict[str, Any], text: str, manager: PackageManager
) -> list[CommandCandidate]:
    scripts = manifest.get("scripts")
    if not isinstance(scripts, dict):
        return []
    candidates: list[CommandCandidate] = []
    for name, choices in _SCRIPT_NAMES.items():
        for script, confidence in choices:
            body = scripts.get(script)
            if not isinstance(body, str) or not body.strip():
                continue
            if name == "test" and _PLACEHOLDER_SCRIPT.search(body):
                files.note(f'package.json scripts.{script} is a placeholder ("{body}"); not used as the test command')
                continue
            line = line_of_json_key(text, script, within="scripts")
            evidence = [Evidence(file="package.json", line=line, detail=f"scripts.{script} = {json.dumps(body)}")]
            if name == "bench" and "tinybench" in _dependencies(manifest):
                evidence.append(_dependency_evidence(manifest, text, "tinybench"))
            candidates.append(
                CommandCandidate(name, script_command(manager, script), confidence, evidence, "package.json")
            )
            break
    return candidates


def _convention_candidates(
    files: RepoFiles, manifest: dict[str, Any], text: str, manager: PackageManager, have: set[str]
) -> list[CommandCandidate]:
    dependencies = _dependencies(manifest)
    candidates: list[CommandCandidate] = []

    def dependency(name: str) -> Evidence:
        return _dependency_evidence(manifest, text, name)

    if "bench" not in have and "vitest" in dependencies:
        bench_files = files.find_files(_BENCH_FILE_SUFFIXES)
        if bench_files:
            evidence = [dependency("vitest")]
            evidence.extend(Evidence(file=path, line=None, detail="vitest benchmark file") for path in bench_files[:3])
            candidates.append(
                CommandCandidate(
                    "bench",
                    exec_command(manager, "vitest bench --run"),
                    VITEST_BENCH_CONFIDENCE,
                    evidence,
                    "convention",
                )
            )
            have.add("bench")
    if "bench" not in have:
        for folder in ("bench", "benchmarks"):
            scripts = [n for n in files.list_dir(folder) if n.endswith((".js", ".mjs", ".cjs"))]
            if scripts:
                path = f"{folder}/{scripts[0]}"
                evidence = [Evidence(file=path, line=None, detail=f"benchmark script in {folder}/")]
                if "tinybench" in dependencies:
                    evidence.append(dependency("tinybench"))
                candidates.append(
                    CommandCandidate("bench", f"node {path}", CONVENTION_CONFIDENCE, evidence, "convention")
                )
                have.add("bench")
                break
    if "typecheck" not in have and "typescript" in dependencies and files.is_file("tsconfig.json"):
        evidence = [Evidence(file="tsconfig.json", line=None, detail="tsconfig.json"), dependency("typescript")]
        candidates.append(
            CommandCandidate(
                "typecheck", exec_command(manager, "tsc --noEmit"), CONVENTION_CONFIDENCE, evidence, "convention"
            )
        )
    if "lint" not in have and "eslint" in dependencies:
        config = next((name for name in _ESLINT_CONFIGS if files.is_file(name)), None)
        if config is not None:
            evidence = [Evidence(file=config, line=None, detail="eslint configuration"), dependency("eslint")]
            candidates.append(
                CommandCandidate(
                    "lint", exec_command(manager, "eslint ."), CONVENTION_CONFIDENCE, evidence, "convention"
                )
            )
    if "test" not in have:
        for tool, line in (("vitest", "vitest run"), ("jest", "jest")):
            if tool in dependencies:
                candidates.append(
                    CommandCandidate(
                        "test", exec_command(manager, line), CONVENTION_CONFIDENCE, [dependency(tool)], "convention"
                    )
                )
                break
    return candidates


def _framework(manifest: dict[str, Any], text: str) -> tuple[Framework, list[Evidence]]:
    dependencies = _dependencies(manifest)
    for package, framework in _FRAMEWORK_PACKAGES:
        if package in dependencies:
            return framework, [_dependency_evidence(manifest, text, package)]
    if "vite" in dependencies and "react" in dependencies:
        return "react-vite", [
            _dependency_evidence(manifest, text, "vite"),
            _dependency_evidence(manifest, text, "react"),
        ]
    return "node", [Evidence(file="package.json", line=None, detail="package.json without a known framework")]


def _workspaces(files: RepoFiles, manifest: dict[str, Any]) -> list[str]:
    declared = manifest.get("workspaces")
    if isinstance(declared, dict):
        declared = declared.get("packages")
    found = [entry for entry in declared if isinstance(entry, str)] if isinstance(declared, list) else []
    text = files.read_text("pnpm-workspace.yaml")
    if text is not None:
        try:
            document = yaml.safe_load(text)
        except RecursionError:
            files.note("pnpm-workspace.yaml is nested too deeply to read; its packages were not read")
            document = None
        except yaml.YAMLError as exc:
            files.note(
                f"pnpm-workspace.yaml is not valid YAML ({describe_yaml_error(exc)}); its packages were not read"
            )
            document = None
        packages = document.get("packages") if isinstance(document, dict) else None
        if isinstance(packages, list):
            found.extend(entry for entry in packages if isinstance(entry, str) and entry not in found)
    return found


def detect_node(files: RepoFiles) -> NodeFindings | None:
    """The Node findings of the root `package.json`, or None when there is none (or it cannot be read)."""
    loaded = _load_package_json(files)
    if loaded is None:
        return None
    manifest, text = loaded
    manager, manager_evidence, conflict, berry = _package_manager(files, manifest, text)
    framework, framework_evidence = _framework(manifest, text)
    candidates = [_install_candidate(files, manager, manager_evidence, conflict, berry)]
    scripts = _script_candidates(files, manifest, text, manager)
    candidates.extend(scripts)
    candidates.extend(_convention_candidates(files, manifest, text, manager, {c.name for c in scripts}))
    workspaces = _workspaces(files, manifest)
    if workspaces:
        files.note(f"monorepo with workspaces {', '.join(workspaces)}; commands are the root's and run from the root")
    has_signals = bool(scripts) or bool(_dependencies(manifest)) or framework != "node"
    return NodeFindings(manager, manager_evidence, framework, framework_evidence, candidates, workspaces, has_signals)
