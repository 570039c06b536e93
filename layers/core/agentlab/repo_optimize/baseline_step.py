"""The Baseline state: the repository's own commands, in the sandbox, one phase per step invocation.

Phases, in order: prepare (unpack the checkout, make a Python repository's virtual environment), install (the only
phase with network, and only to package registries), build and typecheck (when the repository has them), the tests
(a failing test is run again once: passing then, it is flaky), then the benchmark k times. Each phase has its own
limits (agentlab/repo_optimize/phases.py). The baseline in progress lives in S3 beside the run; once the last phase
ran, or one failed in a way that ends the baseline, baseline.json, logs.txt and trace.json are written as the run's
artifacts and the run ends: succeeded, or failed with the code of what went wrong and the evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from agentlab.logs import get_logger
from agentlab.models import Run
from agentlab.models.common import utc_now
from agentlab.models.repo import (
    Baseline,
    BaselineBenchmark,
    BaselineFailure,
    BaselineFailureCode,
    BaselineSeries,
    BaselineTests,
    PhaseName,
    PhaseRecord,
    RepoConfig,
    SeriesSummary,
)
from agentlab.repo_optimize.checkout_step import checked_out_run, repo_settings
from agentlab.repo_optimize.outputs import (
    BASELINE_ARTIFACT,
    LOGS_ARTIFACT,
    PROFILE_ARTIFACT,
    TRACE_ARTIFACT,
    add_artifact,
    baseline_key,
    log_key,
    profile_key,
    progress_key,
    put_json,
    read_json,
    source_key,
)
from agentlab.repo_optimize.phases import (
    REPO_DIR,
    REPORTS_DIR,
    SOURCE_TARBALL,
    STATE_DIR,
    PhaseOutcome,
    PhaseSpec,
    parse_outcome,
    prepare_code,
    runner_code,
)
from agentlab.store.repos import RepoStore
from agentlab.workflow.base import SandboxStartError, StepRef, fail_run, step_output

if TYPE_CHECKING:
    from agentlab.repo_optimize.settings import RepoSettings
    from agentlab.workflow.deps import StepDeps

logger = get_logger("agentlab-workflow")

# Per command in logs.txt: the head and the tail of its output; the whole log is an artifact of its own beyond it.
LOG_EXCERPT_BYTES = 32 * 1024
MAX_READ_LOG_BYTES = 20 * 1024 * 1024
PHASE_ADDRESS_SPACE_MB = 1 << 20
_PYTEST = re.compile(r"(^|[\s/;&|])(pytest|py\.test)(\s|$)|python3? -m pytest")
_FAILURE_CODES: dict[str, BaselineFailureCode] = {
    "prepare": "workspace_failed",
    "install": "install_failed",
    "build": "build_failed",
    "typecheck": "typecheck_failed",
}


class PlannedPhase(BaseModel):
    phase: PhaseName
    command: str
    working_directory: str = "."
    network: bool = False
    run: int | None = None


@dataclass(frozen=True)
class Ran:
    """A phase that ran: what was planned, how it went, its record, its log and where its report would be."""

    planned: PlannedPhase
    outcome: PhaseOutcome
    record: PhaseRecord
    log: str
    report: str


class TraceEntry(BaseModel):
    phase: str
    run: int | None = None
    started_at: datetime
    ended_at: datetime
    duration_s: float
    outcome: str


class Progress(BaseModel):
    """The baseline between invocations (in S3: it holds every raw sample)."""

    language: str = "unknown"
    commands: dict[str, str] = Field(default_factory=dict)
    plan: list[PlannedPhase] = Field(default_factory=list)
    phases: list[PhaseRecord] = Field(default_factory=list)
    trace: list[TraceEntry] = Field(default_factory=list)
    tests: BaselineTests | None = None
    first_failures: list[str] = Field(default_factory=list)
    bench_source: str | None = None
    series: dict[str, list[float]] = Field(default_factory=dict)
    summary_only: list[str] = Field(default_factory=list)
    bench_runs: int = 0
    notes: list[str] = Field(default_factory=list)
    failure: BaselineFailure | None = None
    # The profiled benchmark's shares of time per file (agentlab/repo_optimize/profile.py), when it was taken.
    profile: dict[str, Any] | None = None


def baseline(deps: StepDeps, ref: StepRef) -> dict[str, str]:
    run, answer = checked_out_run(deps, ref)
    if answer is not None:
        return answer
    assert run is not None and run.repo is not None and run.repo.commit_sha is not None
    settings = repo_settings(deps)
    stored = read_json(deps.blobs, progress_key(ref.org_id, ref.run_id))
    progress = Progress.model_validate(stored) if stored is not None else plan_baseline(deps, run, settings)
    if progress.plan and progress.failure is None:
        session = _session(deps, run, settings)
        planned = progress.plan.pop(0)
        run_phase(deps, run, settings, session, progress, planned)
    if progress.plan and progress.failure is None:
        put_json(deps.blobs, progress_key(ref.org_id, ref.run_id), progress.model_dump(mode="json"))
        return step_output(ref, "baseline")
    return finish(deps, run, progress)


def plan_baseline(deps: StepDeps, run: Run, settings: RepoSettings) -> Progress:
    """The phases from the repository's effective commands (a person's overrides win over the detection)."""
    assert run.repo is not None
    config: RepoConfig = RepoStore(deps.runs.table, deps.clients).config(run.org_id, run.repo.repo_id)
    effective = config.effective_commands()
    language = config.detected.language if config.detected is not None else "unknown"
    progress = Progress(language=language, commands={name: c.command for name, c in effective.items()})
    progress.plan.append(PlannedPhase(phase="prepare", command="unpack the checkout"))
    for name, command in effective.items():
        if command.needs_confirmation:
            progress.notes.append(
                f"{name}: ran the detected command {command.command!r} (confidence {command.confidence}); nobody has "
                "confirmed it yet"
            )
    for name in ("install", "build", "typecheck", "test"):
        if name in effective:
            found = effective[name]
            progress.plan.append(
                PlannedPhase(
                    phase=name,
                    command=found.command,
                    working_directory=found.working_directory,
                    network=name == "install",
                )
            )
    if "bench" in effective:
        runs = config.bench_runs or settings.repo_bench_runs
        progress.bench_runs = runs
        bench = effective["bench"]
        for number in range(1, runs + 1):
            progress.plan.append(
                PlannedPhase(
                    phase="bench", command=bench.command, working_directory=bench.working_directory, run=number
                )
            )
        if language in ("python", "node"):
            # Once more under the profiler, for Discover to rank what it finds by where the time goes.
            progress.plan.append(
                PlannedPhase(phase="profile", command=bench.command, working_directory=bench.working_directory)
            )
    return progress


def _session(deps: StepDeps, run: Run, settings: RepoSettings) -> Any:
    from agentlab.sandbox.errors import SandboxUnavailable

    try:
        return deps.sandbox.session(run.id, session_limits(settings), {})
    except SandboxUnavailable as exc:
        raise SandboxStartError(str(exc)) from exc


def session_limits(settings: RepoSettings, timeout_s: float | None = None) -> Any:
    from agentlab.sandbox.models import SandboxLimits

    return SandboxLimits(
        cpu=2,
        cpu_s=settings.repo_phase_cpu_s,
        # No address-space limit to speak of: Node.js reserves tens of GB of it for WebAssembly and fails under one.
        # A phase's memory is its processes' resident memory, watched by the phase's cell (phases.py); in AWS the
        # task's memory is the hard limit.
        memory_mb=PHASE_ADDRESS_SPACE_MB,
        # The command's own timeout ends it first; this is the backstop for the phase's cell.
        cell_timeout_s=(timeout_s or settings.repo_phase_timeout_s) + 60,
        max_processes=256,
        max_file_mb=settings.repo_phase_max_file_mb,
        idle_timeout_s=1_800,
    )


def _timeout(settings: RepoSettings, phase: str) -> float:
    if phase == "install":
        return settings.repo_install_timeout_s
    if phase == "bench":
        return settings.repo_bench_timeout_s
    return settings.repo_phase_timeout_s


def command_for(planned: PlannedPhase, *, report: str | None) -> str:
    """The command as it runs: a pytest invocation also writes the report the baseline reads (JUnit XML for tests,
    pytest-benchmark's JSON for a benchmark)."""
    if report is None or not _PYTEST.search(planned.command):
        return planned.command
    # The report's path is made here from safe characters and the workspace's variable, which the shell expands.
    if planned.phase == "bench":
        return f'{planned.command} --benchmark-json="{report}"'
    return f'{planned.command} --junitxml="{report}"'


def run_phase(
    deps: StepDeps, run: Run, settings: RepoSettings, session: Any, progress: Progress, planned: PlannedPhase
) -> None:
    started_at = utc_now()
    secrets: list[str] = []
    if planned.phase == "prepare":
        session.put_file(SOURCE_TARBALL, deps.blobs.read(source_key(run.org_id, run.id)))
        cell = session.run_phase(
            prepare_code(python=progress.language == "python"), limits=session_limits(settings, 600), network=False
        )
        outcome = parse_outcome(cell)
    else:
        env: dict[str, str] = {}
        if planned.network:
            from agentlab.repo_optimize.registries import registry_env

            env, secrets = registry_env(settings, deps.clients)
        suffix = f"-{planned.run}" if planned.run is not None else ""
        name = f"{len(progress.phases) + 1:02d}-{planned.phase}{suffix}"
        report = f"{REPORTS_DIR}/{name}.{'json' if planned.phase == 'bench' else 'xml'}"
        timeout_s = _timeout(settings, planned.phase)
        command = command_for(planned, report=f"$AGENTLAB_WORKSPACE/{report}")
        if planned.phase == "profile":
            profiled = _profile_command(session, progress, planned)
            if profiled is None:
                return
            command = profiled
        spec = PhaseSpec(
            name=planned.phase,
            command=command,
            working_directory=planned.working_directory,
            timeout_s=timeout_s,
            cpu_s=settings.repo_phase_cpu_s,
            memory_mb=settings.repo_phase_memory_mb,
            max_file_mb=settings.repo_phase_max_file_mb,
            disk_mb=settings.repo_disk_mb,
            env=env,
            log_name=f"{name}.log",
        )
        cell = session.run_phase(runner_code(spec), limits=session_limits(settings, timeout_s), network=planned.network)
        outcome = parse_outcome(cell)
        log = _read(session, outcome.log_path, secrets) if outcome.log_path else ""
        record = _record(deps, run, planned, outcome, log, secrets)
        _interpret(session, progress, Ran(planned, outcome, record, log, report))
    if planned.phase == "prepare":
        record = PhaseRecord(
            phase="prepare",
            command=planned.command,
            exit_code=outcome.exit_code,
            duration_s=outcome.duration_s or cell.duration_ms / 1000,
            limit=outcome.limit,
            output_tail=(outcome.error or outcome.output_tail)[-4_000:],
        )
        progress.phases.append(record)
        if not outcome.ok:
            progress.failure = BaselineFailure(
                code="workspace_failed", message=f"the checkout could not be unpacked: {record.output_tail[-500:]}"
            )
    ended_at = utc_now()
    progress.trace.append(
        TraceEntry(
            phase=planned.phase,
            run=planned.run,
            started_at=started_at,
            ended_at=ended_at,
            duration_s=round((ended_at - started_at).total_seconds(), 3),
            outcome="ok" if outcome.ok else (outcome.limit or outcome.error or f"exit {outcome.exit_code}"),
        )
    )
    _step(deps, run, progress.phases[-1], cell.duration_ms / 1000)


def _read(session: Any, path: str, secrets: list[str]) -> str:
    try:
        data = session.read_file(path)[:MAX_READ_LOG_BYTES]
    except Exception:  # a phase that removed its own log leaves only its tail
        logger.warning("a phase's log could not be read", exc_info=True)
        return ""
    return redact(data.decode("utf-8", "replace"), secrets)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _record(
    deps: StepDeps, run: Run, planned: PlannedPhase, outcome: PhaseOutcome, log: str, secrets: list[str]
) -> PhaseRecord:
    key = None
    if log:
        key = log_key(run.org_id, run.id, outcome.log_path.rsplit("/", 1)[-1])
        deps.blobs.put(key, log.encode(), content_type="text/plain; charset=utf-8")
    return PhaseRecord(
        phase=planned.phase,
        command=planned.command,
        exit_code=outcome.exit_code,
        duration_s=outcome.duration_s,
        limit=outcome.limit,
        network=planned.network,
        output_tail=redact(outcome.error or outcome.output_tail, secrets)[-4_000:],
        log_key=key,
        run=planned.run,
    )


def _interpret(session: Any, progress: Progress, ran: Ran) -> None:
    planned, outcome, record = ran.planned, ran.outcome, ran.record
    progress.phases.append(record)
    if planned.phase in _FAILURE_CODES:
        if not outcome.ok:
            progress.failure = BaselineFailure(
                code=_FAILURE_CODES[planned.phase], message=_failed(planned.phase, record)
            )
        return
    if planned.phase in ("test", "test_rerun"):
        _interpret_tests(session, progress, ran)
        return
    if planned.phase == "profile":
        _interpret_profile(session, progress, outcome)
        return
    _interpret_bench(session, progress, outcome, record, ran.log, ran.report)


def _failed(phase: str, record: PhaseRecord) -> str:
    how = f"hit its {record.limit} limit" if record.limit else f"exited with {record.exit_code}"
    return f"the {phase} command `{record.command}` {how}"


def _test_report(session: Any, outcome: PhaseOutcome, log: str, report: str) -> Any:
    from agentlab.repo_optimize.test_results import ResultsUnreadable, parse_junit_xml, parse_test_summary

    try:
        data = session.read_file(report)
    except Exception:
        data = None
    if data:
        try:
            return parse_junit_xml(data)
        except ResultsUnreadable:
            logger.info("the tests' JUnit report could not be read; their summary line is used")
    return parse_test_summary(log or outcome.output_tail)


def _interpret_tests(session: Any, progress: Progress, ran: Ran) -> None:
    from agentlab.repo_optimize.test_results import no_tests_found

    planned, outcome, record, log = ran.planned, ran.outcome, ran.record, ran.log
    parsed = _test_report(session, outcome, log, ran.report)
    if planned.phase == "test" and no_tests_found(parsed, log or outcome.output_tail, outcome.exit_code or 0):
        progress.tests = _tests(parsed) if parsed is not None else None
        progress.failure = BaselineFailure(
            code="no_tests_found", message=f"the test command `{planned.command}` found no tests to run"
        )
        return
    if outcome.limit is not None or (outcome.exit_code != 0 and (parsed is None or not parsed.failures)):
        progress.tests = _tests(parsed) if parsed is not None else None
        progress.failure = BaselineFailure(code="tests_failed", message=_failed("test", record))
        return
    tests = _tests(parsed) if parsed is not None else None
    if planned.phase == "test":
        progress.tests = tests
        if tests is not None and tests.failures:
            progress.first_failures = list(tests.failures)
            progress.plan.insert(
                0,
                PlannedPhase(phase="test_rerun", command=planned.command, working_directory=planned.working_directory),
            )
        return
    # The rerun: what failed first and passes now is flaky; what fails again fails.
    still = set(tests.failures) if tests is not None else set(progress.first_failures)
    flaky = [name for name in progress.first_failures if name not in still]
    base = progress.tests or tests
    if base is not None:
        base.flaky = flaky
        base.failures = [name for name in progress.first_failures if name in still]
        base.failed = len(base.failures)
        base.passed = base.total - base.failed - base.errors - base.skipped
        progress.tests = base
    if still & set(progress.first_failures):
        names = ", ".join(sorted(still & set(progress.first_failures))[:10])
        progress.failure = BaselineFailure(code="tests_failed", message=f"tests failed twice: {names}")


def _tests(parsed: Any) -> BaselineTests:
    return BaselineTests(
        source=parsed.source,
        total=parsed.total,
        passed=parsed.passed,
        failed=parsed.failed,
        errors=parsed.errors,
        skipped=parsed.skipped,
        failures=list(parsed.failures),
        duration_s=parsed.duration_s,
    )


PROFILE_SCRIPT = f"{STATE_DIR}/profile_summary.py"


def _profile_command(session: Any, progress: Progress, planned: PlannedPhase) -> str | None:
    """The benchmark under the repository language's profiler; None (with a note) where there is none for it."""
    from agentlab.repo_optimize.profile import SUMMARY_SCRIPT, ProfileUnreadable, profiled_command

    try:
        command = profiled_command(
            progress.language, planned.command, "$AGENTLAB_REPORTS", f"$AGENTLAB_WORKSPACE/{PROFILE_SCRIPT}"
        )
    except ProfileUnreadable as exc:
        progress.notes.append(f"the benchmark was not profiled: {exc}")
        return None
    session.put_file(PROFILE_SCRIPT, SUMMARY_SCRIPT.encode())
    return command


def _interpret_profile(session: Any, progress: Progress, outcome: PhaseOutcome) -> None:
    """A profile that could not be taken or read is a note: Discover then ranks without it."""
    from agentlab.repo_optimize.profile import (
        CPU_PROFILE_DIR,
        SUMMARY_FILE,
        ProfileUnreadable,
        shares_from_cpuprofiles,
        shares_from_python_summary,
    )

    if not outcome.ok:
        progress.notes.append(f"the benchmark could not be profiled (exit {outcome.exit_code}, {outcome.limit})")
        return
    try:
        if progress.language == "python":
            shares = shares_from_python_summary(session.read_file(f"{REPORTS_DIR}/{SUMMARY_FILE}"))
        else:
            folder = f"{REPORTS_DIR}/{CPU_PROFILE_DIR}/"
            names = [f.path for f in session.list_files() if f.path.startswith(folder)][:20]
            roots = [f"{session.workspace}/{REPO_DIR}", f"/workspace/{REPO_DIR}"]
            shares = shares_from_cpuprofiles([session.read_file(name) for name in names], roots)
    except (ProfileUnreadable, OSError, ValueError) as exc:
        progress.notes.append(f"the benchmark's profile could not be read: {exc}")
        return
    progress.profile = shares.model_dump(mode="json")


def _interpret_bench(
    session: Any, progress: Progress, outcome: PhaseOutcome, record: PhaseRecord, log: str, report: str
) -> None:
    from agentlab.repo_optimize import bench_results

    if not outcome.ok:
        progress.failure = BaselineFailure(code="benchmark_failed", message=_failed("bench", record))
        return
    parsed = None
    try:
        data = session.read_file(report)
    except Exception:
        data = None
    if data:
        try:
            parsed = bench_results.parse_pytest_benchmark_json(data)
        except ValueError:
            progress.notes.append("the pytest-benchmark report could not be read; the output is used")
    text = log or outcome.output_tail
    for parse in (bench_results.parse_json_samples, bench_results.parse_vitest_bench, bench_results.parse_tinybench):
        if parsed is not None and parsed.series:
            break
        parsed = parse(text)
    if parsed is None or not parsed.series:
        parsed = bench_results.wall_time_report("wall time", [outcome.duration_s])
        if "wall" not in " ".join(progress.notes):
            progress.notes.append("the benchmark printed no samples agentlab reads; its wall time is measured")
    progress.bench_source = progress.bench_source or parsed.source
    for series in parsed.series:
        progress.series.setdefault(series.name, []).extend(series.samples)
        if getattr(series, "summary_only", False) and series.name not in progress.summary_only:
            progress.summary_only.append(series.name)


def _step(deps: StepDeps, run: Run, record: PhaseRecord, sandbox_s: float) -> None:
    deps.runs.append_step(
        run.org_id,
        run.id,
        "phase",
        duration_ms=round(record.duration_s * 1000),
        sandbox_s=round(sandbox_s, 3),
        detail={
            "phase": record.phase,
            "run": record.run,
            "command": record.command,
            "exit_code": record.exit_code,
            "duration_s": record.duration_s,
            "limit": record.limit,
            "network": record.network,
            "output_tail": record.output_tail[-2_000:],
        },
    )


def finish(deps: StepDeps, run: Run, progress: Progress) -> dict[str, str]:
    """Write the baseline and its artifacts, then end the run."""
    from agentlab.repo_optimize.stats import summarize

    assert run.repo is not None and run.repo.commit_sha is not None
    ref = StepRef(org_id=run.org_id, run_id=run.id)
    benchmark = None
    if progress.series:
        benchmark = BaselineBenchmark(
            source=progress.bench_source or "unknown",
            runs=progress.bench_runs,
            series=[
                BaselineSeries(
                    name=name,
                    samples=samples,
                    summary=SeriesSummary.model_validate(summarize(samples).model_dump()),
                    summary_only=name in progress.summary_only,
                )
                for name, samples in progress.series.items()
                if samples
            ],
        )
    failure = progress.failure
    if failure is None and "test" not in progress.commands:
        failure = BaselineFailure(
            code="no_tests_found", message="no test command was found or set; set one in the repository's config"
        )
    if failure is None and "bench" not in progress.commands:
        failure = BaselineFailure(
            code="benchmark_missing",
            message="no benchmark command was found or set; the tests are recorded, set a bench command to measure",
        )
    result = Baseline(
        run_id=run.id,
        repo_id=run.repo.repo_id,
        commit_sha=run.repo.commit_sha,
        status="failed" if failure else "succeeded",
        failure=failure,
        commands=progress.commands,
        phases=progress.phases,
        tests=progress.tests,
        benchmark=benchmark,
        notes=progress.notes,
        created_at=utc_now(),
    )
    document = result.model_dump(mode="json")
    put_json(deps.blobs, baseline_key(run.org_id, run.id), document)
    add_artifact(deps.blobs, deps.runs, run.org_id, run.id, BASELINE_ARTIFACT, _json_bytes(document))
    add_artifact(deps.blobs, deps.runs, run.org_id, run.id, LOGS_ARTIFACT, logs_text(deps, progress).encode())
    trace = [entry.model_dump(mode="json") for entry in progress.trace]
    add_artifact(deps.blobs, deps.runs, run.org_id, run.id, TRACE_ARTIFACT, _json_bytes({"phases": trace}))
    if progress.profile is not None:
        put_json(deps.blobs, profile_key(run.org_id, run.id), progress.profile)
        add_artifact(deps.blobs, deps.runs, run.org_id, run.id, PROFILE_ARTIFACT, _json_bytes(progress.profile))
    deps.blobs.delete(progress_key(run.org_id, run.id))
    if failure is not None:
        return fail_run(deps, ref, failure.code, failure.message)
    return step_output(ref, "discover")


def _json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value, indent=1, sort_keys=True).encode()


def logs_text(deps: StepDeps, progress: Progress) -> str:
    """Every command with its output: whole up to LOG_EXCERPT_BYTES, else its head and tail and where the rest is."""
    parts: list[str] = []
    for record in progress.phases:
        label = f"{record.phase}" + (f" #{record.run}" if record.run is not None else "")
        outcome = f"limit {record.limit}" if record.limit else f"exit {record.exit_code}"
        parts.append(f"=== {label}: {record.command} ({outcome}, {record.duration_s:.2f}s)")
        text = record.output_tail
        if record.log_key is not None:
            text = deps.blobs.read(record.log_key).decode("utf-8", "replace")
        if len(text.encode()) > LOG_EXCERPT_BYTES:
            half = LOG_EXCERPT_BYTES // 2
            text = f"{text[:half]}\n[... the whole log is kept in S3 at {record.log_key} ...]\n{text[-half:]}"
        parts.append(text.rstrip("\n"))
    return "\n".join(parts) + "\n"
