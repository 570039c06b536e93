"""Find out, from a checked-out tree alone, how to install, build, typecheck, test, lint and benchmark it.

Nothing in the tree is executed or imported: manifests are parsed (`package.json`, `pyproject.toml`, `tox.ini`,
`noxfile.py` with `ast`, the Makefile as text, workflows with PyYAML's safe composer), reads stay inside the root
and stop at 1 MiB a file (`detect_files`), and anything that cannot be parsed becomes a note, not an exception.

Each reader proposes candidates for the command names in `COMMAND_NAMES`; per name the most confident candidate
wins (on a tie the more specific source, in the order of the table), and every other candidate that is the same
command (`npm run test` is `npm test`) adds its evidence, so `evidence` lists every place the command was seen.

Confidence, from the constants in `detect_models`:

====================================================================  ==========
signal                                                                confidence
====================================================================  ==========
package.json script with a standard name (`test`, `build`, `lint`,    0.9
`typecheck`/`type-check`/`tsc`, `bench`/`benchmark`)
package.json script with a looser name (`test:unit`, `perf`, ...)     0.8
install from a lockfile (`npm ci`, `uv sync`, ...)                    0.9
install from a manifest (`pip install -e .`, `packageManager` only)   0.8
install without a lockfile (`npm install`, `poetry install`)          0.7
`[tool.pytest.ini_options]` (or a pytest.ini) → `pytest`              0.85
`pytest-benchmark` in the dependencies → `pytest --benchmark-only`    0.8
tool configuration (`[tool.ruff]`, `[tool.mypy]`, `[tool.pyright]`)   0.8
tox environment / nox session with a telling name                     0.8
Makefile target (`test`, `build`, `lint`, `bench`, ...)               0.75
vitest in the dependencies and `*.bench.ts` files → `vitest bench`    0.7
only seen in a CI workflow                                            0.7
CI line depending on `${{ matrix.* }}`                                0.5
convention only (a `tests/` folder with pytest in the dependencies,   0.5
`tsconfig.json` with typescript, a `bench/` script)
`tests/` folder without pytest → `python -m unittest discover`        0.4
`make check` standing in for lint (it may run more)                   0.55
====================================================================  ==========

Adjustments: a command that is not from CI but is also run by CI gains 0.05 (at most 0.98); package-manager
signals that disagree (a `packageManager` and another manager's lockfile) cost the install command 0.2; a workflow
that runs on neither push nor pull requests costs its commands 0.1. A placeholder test script
(`echo "Error: no test specified" && exit 1`) is not a test command; a note says so. Every command whose confidence
is below `CONFIRM_BELOW` is listed in `needs_confirmation`, for a person to check before anything runs.
"""

from __future__ import annotations

import shlex
from collections import Counter
from pathlib import Path

from agentlab.repo_optimize.detect_ci import detect_ci
from agentlab.repo_optimize.detect_commands import command_key
from agentlab.repo_optimize.detect_files import RepoFiles
from agentlab.repo_optimize.detect_make import detect_make
from agentlab.repo_optimize.detect_models import (
    COMMAND_NAMES,
    CONFIRM_BELOW,
    SEEN_IN_CI_BONUS,
    SEEN_IN_CI_CAP,
    SOURCE_PRIORITY,
    CommandCandidate,
    DetectedCommand,
    Evidence,
    Framework,
    Language,
    PackageManager,
    RepoDetection,
)
from agentlab.repo_optimize.detect_node import NodeFindings, detect_node
from agentlab.repo_optimize.detect_python import PythonFindings, detect_python

__all__ = [
    "COMMAND_NAMES",
    "CONFIRM_BELOW",
    "DetectedCommand",
    "Evidence",
    "RepoDetection",
    "detect_repository",
]


def merge_candidates(candidates: list[CommandCandidate]) -> dict[str, DetectedCommand]:
    """The best candidate per command name, with the evidence of every candidate that is the same command."""
    commands: dict[str, DetectedCommand] = {}
    for name in COMMAND_NAMES:
        group = sorted(
            (candidate for candidate in candidates if candidate.name == name),
            key=lambda candidate: (-candidate.confidence, SOURCE_PRIORITY[candidate.source]),
        )
        if not group:
            continue
        best = group[0]
        key = command_key(name, best.command, best.working_directory)
        same = [c for c in group[1:] if command_key(name, c.command, c.working_directory) == key]
        evidence: list[Evidence] = []
        for item in [*best.evidence, *(item for candidate in same for item in candidate.evidence)]:
            if item not in evidence:
                evidence.append(item)
        confidence = best.confidence
        if not best.from_ci and any(candidate.from_ci for candidate in same):
            confidence = min(SEEN_IN_CI_CAP, confidence + SEEN_IN_CI_BONUS)
        directory = best.working_directory
        command = best.command if directory == "." else f"cd {shlex.quote(directory)} && {best.command}"
        commands[name] = DetectedCommand(
            command=command,
            confidence=round(confidence, 2),
            evidence=evidence,
            working_directory=directory,
            source=best.source,
        )
    return commands


def _command_count(candidates: list[CommandCandidate]) -> int:
    return len({candidate.name for candidate in candidates if candidate.name != "install"})


def _choose_language(
    files: RepoFiles, node: NodeFindings | None, python: PythonFindings | None, ci_hints: list[Language]
) -> Language:
    if node is not None and python is not None:
        node_first = node.has_signals and _command_count(node.candidates) >= _command_count(python.candidates)
        chosen: Language = "node" if node_first else "python"
        files.note(f"both package.json and Python manifests are at the root; treated as a {chosen} repository")
        return chosen
    if node is not None:
        return "node"
    if python is not None:
        return "python"
    hints = Counter(hint for hint in ci_hints if hint != "unknown")
    if hints:
        guessed = hints.most_common(1)[0][0]
        files.note(f"no manifest at the root; the language ({guessed}) was guessed from the CI workflows")
        return guessed
    return "unknown"


def detect_repository(root: Path) -> RepoDetection:
    """Everything that can be learnt, without running anything, about how to work with the tree at `root`."""
    files = RepoFiles(root)
    if not files.root.is_dir():
        files.note(f"{root} is not a folder")
    node = detect_node(files)
    python = detect_python(files)
    make_candidates = detect_make(files)
    ci = detect_ci(files)
    language = _choose_language(files, node, python, ci.language_hints)

    manager: PackageManager | None = None
    manager_evidence: list[Evidence] = []
    framework: Framework | None = None
    framework_evidence: list[Evidence] = []
    workspaces: list[str] = []
    candidates: list[CommandCandidate] = []
    if language == "node" and node is not None:
        manager, manager_evidence = node.package_manager, node.package_manager_evidence
        framework, framework_evidence = node.framework, node.framework_evidence
        workspaces = node.workspaces
        candidates.extend(node.candidates)
    elif language == "python" and python is not None:
        manager, manager_evidence = python.package_manager, python.package_manager_evidence
        framework, framework_evidence = "python", list(python.package_manager_evidence)
        candidates.extend(python.candidates)
    elif ci.manager_hints:
        manager = ci.manager_hints[0][0]
        for hinted, evidence in ci.manager_hints:
            if hinted == manager and evidence not in manager_evidence:
                manager_evidence.append(evidence)
    candidates.extend(make_candidates)
    candidates.extend(ci.candidates)

    commands = merge_candidates(candidates)
    if not commands:
        files.note("no manifest, Makefile or CI workflow says how to work with this repository; nothing was detected")
    return RepoDetection(
        language=language,
        package_manager=manager,
        package_manager_evidence=manager_evidence,
        framework=framework,
        framework_evidence=framework_evidence,
        commands=commands,
        workspaces=workspaces,
        notes=files.notes,
        needs_confirmation=[name for name, command in commands.items() if command.confidence < CONFIRM_BELOW],
    )
