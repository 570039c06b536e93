"""Connected Git repositories, their commands (detected, overridden, confirmed) and the baseline a repo run measures.

A repository's token is never part of these models: it lives in Secrets Manager (store/repos.py) and `has_credentials`
says whether one is kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from agentlab.models.common import StrictInput, omittable

CommandName = Literal["install", "build", "typecheck", "test", "lint", "bench"]
COMMAND_ORDER: tuple[CommandName, ...] = ("install", "build", "typecheck", "test", "lint", "bench")
MAX_COMMAND_CHARS = 2_000
MAX_BENCH_RUNS = 50

RepoUrl = Annotated[str, StringConstraints(min_length=1, max_length=2_048)]
RepoName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
# A branch name as Git allows it, and no option-looking or path-escaping spelling: segments split by single slashes,
# each starting with a letter, digit, _ or +, with no "..", and no dot at the end.
_BRANCH_SEGMENT = r"[A-Za-z0-9_+][A-Za-z0-9_+-]*(\.[A-Za-z0-9_+-]+)*"
BranchName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=rf"^{_BRANCH_SEGMENT}(/{_BRANCH_SEGMENT})*$"),
]
CommitSha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]
Command = Annotated[str, StringConstraints(min_length=1, max_length=MAX_COMMAND_CHARS, pattern=r"^[^\x00]+$")]
Token = Annotated[str, StringConstraints(min_length=1, max_length=4_096, pattern=r"^[\x21-\x7e]+$")]


class RepoCredentials(StrictInput):
    """A token that reads the repository (for GitHub, a fine-grained token or an installation token)."""

    token: Token


class RepoCreate(StrictInput):
    """A repository to connect: an https URL (in AWS, to a public address), or locally, when the stack allows it,
    a `file://` path to a repository on this machine."""

    url: RepoUrl
    default_branch: BranchName | None = omittable()
    name: RepoName | None = omittable()
    credentials: RepoCredentials | None = omittable()


class RepoUpdate(StrictInput):
    """A partial update: a field left out keeps its value. `credentials: null` removes the stored token."""

    name: RepoName | None = omittable()
    default_branch: BranchName | None = omittable()
    credentials: RepoCredentials | None = None
    expected_revision: int | None = Field(default=None, ge=1)


class Repo(BaseModel):
    model_config = ConfigDict(strict=False)

    id: str
    org_id: str
    name: str
    url: str
    default_branch: str
    has_credentials: bool = False
    created_at: datetime
    updated_at: datetime
    created_by: str = ""
    revision: int = 1
    last_run_id: str | None = None


class EvidenceView(BaseModel):
    file: str
    line: int | None = None
    detail: str = ""


class DetectedCommandView(BaseModel):
    command: str
    confidence: float
    evidence: list[EvidenceView] = Field(default_factory=list)
    working_directory: str = "."
    source: str = ""


class Detection(BaseModel):
    """What the last Detect step found, at which commit."""

    model_config = ConfigDict(strict=False)

    commit_sha: str
    detected_at: datetime
    language: str
    package_manager: str | None = None
    framework: str | None = None
    commands: dict[str, DetectedCommandView] = Field(default_factory=dict)
    workspaces: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    needs_confirmation: list[str] = Field(default_factory=list)


class EffectiveCommand(BaseModel):
    command: str
    origin: Literal["override", "detected"]
    confidence: float | None = None
    evidence: list[EvidenceView] = Field(default_factory=list)
    working_directory: str = "."
    # A detected command of low confidence that nobody confirmed: a person should look at it on the repo page.
    needs_confirmation: bool = False


class RepoConfig(BaseModel):
    """The commands a repo run uses: a person's overrides win over what was detected."""

    model_config = ConfigDict(strict=False)

    repo_id: str
    detected: Detection | None = None
    overrides: dict[CommandName, str | None] = Field(default_factory=dict)
    confirmed: list[CommandName] = Field(default_factory=list)
    # None: the deployment's default (AGENTLAB_REPO_BENCH_RUNS)
    bench_runs: int | None = None
    revision: int = 0
    updated_at: datetime | None = None

    def effective_commands(self) -> dict[str, EffectiveCommand]:
        commands: dict[str, EffectiveCommand] = {}
        detected = self.detected.commands if self.detected is not None else {}
        for name in COMMAND_ORDER:
            override = self.overrides.get(name)
            if override:
                commands[name] = EffectiveCommand(command=override, origin="override")
            elif name in detected:
                found = detected[name]
                low = self.detected is not None and name in self.detected.needs_confirmation
                commands[name] = EffectiveCommand(
                    command=found.command,
                    origin="detected",
                    confidence=found.confidence,
                    evidence=found.evidence,
                    working_directory=found.working_directory,
                    needs_confirmation=low and name not in self.confirmed,
                )
        return commands

    def view(self) -> RepoConfigView:
        return RepoConfigView(**self.model_dump(), effective=self.effective_commands())


class RepoConfigView(RepoConfig):
    """The config as the API shows it: with the commands a run would use (`effective`)."""

    effective: dict[str, EffectiveCommand] = Field(default_factory=dict)


class RepoConfigUpdate(StrictInput):
    """Replaces the overrides (a name left out or null follows the detection) and, when given, the confirmed names
    and the number of benchmark runs."""

    overrides: dict[CommandName, Command | None] = Field(default_factory=dict)
    confirmed: list[CommandName] | None = omittable(max_length=len(COMMAND_ORDER), schema_extra={"uniqueItems": True})
    bench_runs: int | None = omittable(ge=1, le=MAX_BENCH_RUNS)
    expected_revision: int | None = Field(default=None, ge=0)

    @field_validator("confirmed")
    @classmethod
    def _unique(cls, names: list[str] | None) -> list[str] | None:
        if names is not None and len(set(names)) != len(names):
            raise ValueError("confirmed names must be unique")
        return names


class RepoRunBudget(StrictInput):
    max_wall_s: int | None = omittable(ge=60, le=86_400)


class RepoRunCreate(StrictInput):
    """A repo run at the head of `branch` (default: the repository's default branch) or at the commit `sha`."""

    branch: BranchName | None = omittable()
    sha: CommitSha | None = omittable()
    budget: RepoRunBudget | None = omittable()


class RepoTarget(BaseModel):
    """What a repo run works on: asked for (branch, sha) and checked out (commit_sha, set by Checkout)."""

    repo_id: str
    url: str
    branch: str
    sha: str | None = None
    commit_sha: str | None = None


# The baseline -----------------------------------------------------------------------------------------------------
PhaseName = Literal["prepare", "install", "build", "typecheck", "test", "test_rerun", "bench", "profile"]
PhaseLimit = Literal["timeout", "cpu", "memory", "processes", "file_size", "disk", "output"]
BaselineFailureCode = Literal[
    "workspace_failed",
    "install_failed",
    "build_failed",
    "typecheck_failed",
    "tests_failed",
    "no_tests_found",
    "benchmark_missing",
    "benchmark_failed",
]


class PhaseRecord(BaseModel):
    phase: PhaseName
    command: str
    exit_code: int | None
    duration_s: float
    limit: PhaseLimit | None = None
    network: bool = False
    output_tail: str = ""
    # The phase's whole log in S3, when it was longer than what the record keeps.
    log_key: str | None = None
    run: int | None = None


class BaselineFailure(BaseModel):
    code: BaselineFailureCode
    message: str


class BaselineTests(BaseModel):
    source: str
    total: int
    passed: int
    failed: int
    errors: int = 0
    skipped: int = 0
    failures: list[str] = Field(default_factory=list)
    flaky: list[str] = Field(default_factory=list)
    duration_s: float | None = None


class SeriesSummary(BaseModel):
    n: int
    min: float
    max: float
    mean: float
    median: float
    stdev: float | None = None
    mad: float | None = None
    p05: float
    p95: float
    cv: float | None = None
    ci95_median: tuple[float, float] | None = None


class BaselineSeries(BaseModel):
    name: str
    unit: Literal["s"] = "s"
    samples: list[float]
    summary: SeriesSummary
    summary_only: bool = False


class BaselineBenchmark(BaseModel):
    source: str
    runs: int
    series: list[BaselineSeries]


class Baseline(BaseModel):
    """baseline.json: what a repo run measured at one commit, kept whole (samples raw, never only a mean)."""

    model_config = ConfigDict(strict=False)

    run_id: str
    repo_id: str
    commit_sha: str
    status: Literal["succeeded", "failed"]
    failure: BaselineFailure | None = None
    commands: dict[str, str] = Field(default_factory=dict)
    phases: list[PhaseRecord] = Field(default_factory=list)
    tests: BaselineTests | None = None
    benchmark: BaselineBenchmark | None = None
    notes: list[str] = Field(default_factory=list)
    created_at: datetime | None = None

    def summary_line(self) -> str:
        parts: list[str] = []
        if self.tests is not None:
            parts.append(f"tests {self.tests.passed}/{self.tests.total} passed")
        if self.benchmark is not None:
            for series in self.benchmark.series[:3]:
                parts.append(f"{series.name} median {series.summary.median * 1000:.3f} ms (n={series.summary.n})")
        return "; ".join(parts) or "nothing measured"


def detection_from(found: Any, commit_sha: str, detected_at: datetime) -> Detection:
    """A Detection from the detector's result (agentlab.repo_optimize.detect.RepoDetection)."""
    data = found.model_dump(mode="json")
    return Detection(
        commit_sha=commit_sha,
        detected_at=detected_at,
        language=data["language"],
        package_manager=data.get("package_manager"),
        framework=data.get("framework"),
        commands=data.get("commands", {}),
        workspaces=data.get("workspaces", []),
        notes=data.get("notes", []),
        needs_confirmation=data.get("needs_confirmation", []),
    )
