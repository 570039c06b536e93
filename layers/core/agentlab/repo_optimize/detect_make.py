"""Makefile targets that name a command (`test`, `build`, `lint`, `bench`, ...), read as text, never run.

`make check` is common but means different things (lint, typecheck, or everything), so it only stands in for lint
when there is no lint target, with a confidence low enough to ask a person.
"""

from __future__ import annotations

import re

from agentlab.repo_optimize.detect_files import RepoFiles
from agentlab.repo_optimize.detect_models import (
    AMBIGUOUS_MAKE_TARGET_CONFIDENCE,
    MAKEFILE_CONFIDENCE,
    CommandCandidate,
    Evidence,
)

MAKEFILE_NAMES = ("GNUmakefile", "Makefile", "makefile")
_TARGET_LINE = re.compile(r"^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*::?(?!=)")
_MAKE_TARGETS: dict[str, tuple[str, ...]] = {
    "build": ("build",),
    "typecheck": ("typecheck", "type-check", "mypy", "types"),
    "test": ("test", "tests"),
    "lint": ("lint",),
    "bench": ("bench", "benchmark", "benchmarks"),
}


def _targets(text: str) -> dict[str, tuple[int, str]]:
    """Each target's 1-based line and first recipe line (or "" when it only has prerequisites)."""
    lines = text.splitlines()
    found: dict[str, tuple[int, str]] = {}
    for index, line in enumerate(lines):
        match = _TARGET_LINE.match(line)
        if match is None or line.startswith("\t"):
            continue
        recipe = lines[index + 1].strip() if index + 1 < len(lines) and lines[index + 1].startswith("\t") else ""
        for target in match.group(1).split():
            if not target.startswith(".") and target not in found:
                found[target] = (index + 1, recipe)
    return found


def detect_make(files: RepoFiles) -> list[CommandCandidate]:
    """Candidates for the targets of the root Makefile; [] when there is none."""
    makefile = next((name for name in MAKEFILE_NAMES if files.is_file(name)), None)
    text = files.read_text(makefile) if makefile else None
    if makefile is None or text is None:
        return []
    targets = _targets(text)
    candidates: list[CommandCandidate] = []

    def candidate(name: str, target: str, confidence: float) -> CommandCandidate:
        line, recipe = targets[target]
        detail = f"target {target}" + (f": {recipe}" if recipe else "")
        return CommandCandidate(
            name, f"make {target}", confidence, [Evidence(file=makefile, line=line, detail=detail)], "Makefile"
        )

    for name, choices in _MAKE_TARGETS.items():
        target = next((choice for choice in choices if choice in targets), None)
        if target is not None:
            candidates.append(candidate(name, target, MAKEFILE_CONFIDENCE))
    if "check" in targets and not any(c.name == "lint" for c in candidates):
        files.note(f"{makefile} has a `check` target; taken as lint, but it may run more than that")
        candidates.append(candidate("lint", "check", AMBIGUOUS_MAKE_TARGET_CONFIDENCE))
    return candidates
