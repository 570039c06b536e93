"""The shapes a repository detection answers with, and the confidence each kind of signal earns.

The models are public through `agentlab.repo_optimize.detect`; the per-ecosystem readers (`detect_node`,
`detect_python`, `detect_make`, `detect_ci`) build `CommandCandidate`s that `detect.detect_repository` merges, so the
scores live here, in one place, and the scoring table in `detect`'s docstring can point at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

COMMAND_NAMES = ("install", "build", "typecheck", "test", "lint", "bench")
CONFIRM_BELOW = 0.6

Source = Literal["package.json", "pyproject.toml", "tox.ini", "noxfile.py", "Makefile", "ci", "convention"]
Language = Literal["node", "python", "unknown"]
PackageManager = Literal["npm", "pnpm", "yarn", "pip", "uv", "poetry"]
Framework = Literal["nextjs", "nestjs", "express", "react-vite", "node", "python"]

# The scores, strongest signal first (see the table in `detect`'s docstring).
SCRIPT_CONFIDENCE = 0.9
SCRIPT_ALIAS_CONFIDENCE = 0.8
INSTALL_LOCKFILE_CONFIDENCE = 0.9
INSTALL_MANIFEST_CONFIDENCE = 0.8
INSTALL_WITHOUT_LOCK_CONFIDENCE = 0.7
PYPROJECT_CONFIDENCE = 0.85
PYTEST_BENCHMARK_CONFIDENCE = 0.8
TOOL_CONFIG_CONFIDENCE = 0.8
TASK_RUNNER_CONFIDENCE = 0.8
MAKEFILE_CONFIDENCE = 0.75
AMBIGUOUS_MAKE_TARGET_CONFIDENCE = 0.55
CI_CONFIDENCE = 0.7
CI_MATRIX_CONFIDENCE = 0.5
VITEST_BENCH_CONFIDENCE = 0.7
CONVENTION_CONFIDENCE = 0.5
WEAK_CONVENTION_CONFIDENCE = 0.4
SEEN_IN_CI_BONUS = 0.05
SEEN_IN_CI_CAP = 0.98
CONFLICT_PENALTY = 0.2

# When two candidates score the same, the more specific source wins.
SOURCE_PRIORITY: dict[str, int] = {
    "package.json": 0,
    "pyproject.toml": 1,
    "tox.ini": 2,
    "noxfile.py": 3,
    "Makefile": 4,
    "ci": 5,
    "convention": 6,
}


class Evidence(BaseModel):
    """One place in the tree that supports a conclusion, so a person can check it in a second."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int | None
    detail: str


class DetectedCommand(BaseModel):
    """A shell command line to run from the repository root, with why it was chosen and how sure that is."""

    command: str
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[Evidence]
    working_directory: str = "."
    source: Source


class RepoDetection(BaseModel):
    """Everything learnt about how to install, build, typecheck, test, lint and benchmark a checked-out tree."""

    language: Language
    package_manager: PackageManager | None
    package_manager_evidence: list[Evidence]
    framework: Framework | None
    framework_evidence: list[Evidence]
    commands: dict[str, DetectedCommand]
    workspaces: list[str]
    notes: list[str]
    needs_confirmation: list[str]


@dataclass
class CommandCandidate:
    """One reader's proposal for a command name; `detect` keeps the best per name and merges what agrees with it."""

    name: str
    command: str
    confidence: float
    evidence: list[Evidence]
    source: Source
    working_directory: str = "."
    from_ci: bool = field(default=False)
