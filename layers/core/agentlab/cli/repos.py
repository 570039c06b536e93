"""`agentlab repos ...`: connect a Git repository, review the commands detected for it, and run its baseline."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from agentlab.cli.arguments import SubParsers, add_command
from agentlab.cli.client import ApiClient, path_segment
from agentlab.cli.context import CommandContext
from agentlab.cli.errors import EXIT_API_ERROR, EXIT_OK, ApiError, CliError, UsageError
from agentlab.cli.follow import ARTIFACT_COLUMNS, EXIT_INTERRUPTED, STEPS_PAGE_SIZE, TERMINAL_STATUSES
from agentlab.cli.listing import add_listing_options, fetch_listing, print_listing
from agentlab.cli.output import Column, JsonObject, Printer, format_timestamp, render_table, truncate
from agentlab.cli.steps import INDENT, format_step

# The commands a repository's config knows, in the order a baseline runs them.
COMMAND_NAMES = ("install", "build", "typecheck", "test", "lint", "bench")
BENCH_RUNS_RANGE = (1, 50)
COMMIT_SHA = re.compile(r"^[0-9a-fA-F]{40}$")
# A baseline run installs and builds a whole project: polling faster than this only adds load.
REPO_RUN_POLL_INTERVAL_S = 2.0
OUTPUT_TAIL_LINES = 20
SHORT_SHA_LENGTH = 12
NO_BASELINE = "no_baseline"
SHOWN_RUNS = 5

REPO_COLUMNS = [
    Column("ID", lambda repo: str(repo.get("id", ""))),
    Column("NAME", lambda repo: str(repo.get("name", ""))),
    Column("URL", lambda repo: str(repo.get("url", "")), 60),
    Column("BRANCH", lambda repo: str(repo.get("default_branch", ""))),
    Column("CREDENTIALS", lambda repo: "yes" if repo.get("has_credentials") else "no"),
    Column("LAST RUN", lambda repo: str(repo.get("last_run_id") or "")),
    Column("CREATED", lambda repo: format_timestamp(repo.get("created_at"))),
]
REPO_RUN_COLUMNS = [
    Column("ID", lambda run: str(run.get("id", ""))),
    Column("STATUS", lambda run: str(run.get("status", ""))),
    Column("BRANCH", lambda run: str((run.get("repo") or {}).get("branch") or "")),
    Column("COMMIT", lambda run: short_sha((run.get("repo") or {}).get("commit_sha"))),
    Column("CREATED", lambda run: format_timestamp(run.get("created_at"))),
]
PHASE_COLUMNS = [
    Column("PHASE", lambda phase: str(phase.get("phase", ""))),
    Column("EXIT", lambda phase: "" if phase.get("exit_code") is None else str(phase["exit_code"])),
    Column("DURATION", lambda phase: format_seconds(phase.get("duration_s"))),
    Column("LIMIT", lambda phase: str(phase.get("limit") or "")),
    Column("NETWORK", lambda phase: "yes" if phase.get("network") else "no"),
    Column("COMMAND", lambda phase: str(phase.get("command") or ""), 60),
]


def register(subparsers: SubParsers) -> None:
    repos = subparsers.add_parser("repos", help="connect Git repositories and run their baselines")
    commands = repos.add_subparsers(title="commands", metavar="COMMAND", required=True)

    connect = add_command(
        commands,
        "connect",
        connect_repo,
        help="connect a Git repository",
        description="Connect a Git repository. A token for a private repository is read from the environment "
        "variable named by --token-env, so it never appears in the command line or the shell's history.",
    )
    # `url` would be taken for the global --url (the API's), so the repository's has a name of its own.
    connect.add_argument("repo_url", metavar="URL", help="the clone URL, https://... (file://... on the local stack)")
    connect.add_argument("--branch", metavar="BRANCH", help="the default branch (default: the repository's own)")
    connect.add_argument("--name", metavar="NAME", help="the name shown for it (default: from the URL)")
    connect.add_argument("--token-env", metavar="VAR", help="the environment variable holding an access token")

    listing = add_command(commands, "list", list_repos, help="list connected repositories")
    add_listing_options(listing)

    show = add_command(commands, "show", show_repo, help="show a repository and its latest runs")
    show.add_argument("repo_id", metavar="ID")

    config = add_command(
        commands,
        "config",
        configure_repo,
        help="show or change the commands a baseline runs",
        description="Print the commands a baseline runs: each with where it comes from (detected or an override), "
        f"the detector's confidence and its evidence. Any option changes the config. NAME is one of "
        f"{', '.join(COMMAND_NAMES)}.",
    )
    config.add_argument("repo_id", metavar="ID")
    config.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="run COMMAND for NAME instead of the detected one (repeatable)",
    )
    config.add_argument(
        "--unset", dest="unset", action="append", default=[], metavar="NAME", help="use the detected command again"
    )
    config.add_argument(
        "--confirm",
        dest="confirm",
        action="append",
        default=[],
        metavar="NAME",
        help="confirm a detected command the detector was not sure of (repeatable)",
    )
    config.add_argument("--bench-runs", type=_bench_runs, metavar="K", help="how many times the benchmark runs")

    run = add_command(
        commands,
        "run",
        run_repo,
        help="run the repository's baseline",
        description="Check out the repository and run its baseline (install, build, typecheck, test, bench) in a "
        "sandbox. With --follow, prints the steps as they happen, then the baseline; exits 0 when the run succeeded.",
    )
    run.add_argument("repo_id", metavar="ID")
    run.add_argument("--branch", metavar="BRANCH", help="the branch to check out (default: the repository's)")
    run.add_argument("--sha", type=_commit_sha, metavar="SHA", help="the exact commit to check out (40 hex digits)")
    run.add_argument("--follow", action="store_true", help="follow the run until it ends, then print its baseline")

    runs = add_command(commands, "runs", list_repo_runs, help="list a repository's runs")
    runs.add_argument("repo_id", metavar="ID")
    add_listing_options(runs)


def _bench_runs(text: str) -> int:
    low, high = BENCH_RUNS_RANGE
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text!r} must be from {low} to {high}")
    return value


def _commit_sha(text: str) -> str:
    if not COMMIT_SHA.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a full commit SHA (40 hex digits)")
    return text.lower()


def short_sha(sha: Any) -> str:
    return str(sha)[:SHORT_SHA_LENGTH] if sha else ""


def format_seconds(value: Any) -> str:
    if value is None:
        return ""
    seconds = float(value)
    return f"{seconds:.2f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def format_sample(seconds: Any) -> str:
    """A benchmark figure with enough digits to tell close samples apart (a phase's duration needs fewer)."""
    value = float(seconds)
    return f"{value * 1000:.4g} ms" if value < 1 else f"{value:.4g} s"


def _repo_path(repo_id: str) -> str:
    return f"/v1/repos/{path_segment(repo_id)}"


# --- connect, list, show ---------------------------------------------------------------------------------------


def read_token(variable: str, environ: Mapping[str, str] = os.environ) -> str:
    """The token in the named variable; a token is never taken from the command line, where others can read it."""
    token = environ.get(variable, "").strip()
    if not token:
        raise UsageError(f"--token-env {variable}: the environment variable {variable} is not set or is empty")
    return token


def repo_connect_body(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> JsonObject:
    body: JsonObject = {"url": args.repo_url}
    if args.branch:
        body["default_branch"] = args.branch
    if args.name:
        body["name"] = args.name
    if args.token_env:
        body["credentials"] = {"token": read_token(args.token_env, environ)}
    return body


def connect_repo(args: argparse.Namespace, ctx: CommandContext) -> int:
    repo = ctx.api.post("/v1/repos", repo_connect_body(args))
    if ctx.printer.json_mode:
        ctx.printer.json(repo)
        return 0
    ctx.printer.line(f"connected repo {repo.get('id')} ({repo.get('name')}) on branch {repo.get('default_branch')}")
    ctx.printer.note(f"next: `agentlab repos run {repo.get('id')} --follow` runs its baseline")
    return 0


def list_repos(args: argparse.Namespace, ctx: CommandContext) -> int:
    items, next_cursor = fetch_listing(ctx, "/v1/repos", {}, args)
    print_listing(ctx, items, next_cursor, REPO_COLUMNS, empty="no repositories connected")
    return 0


def show_repo(args: argparse.Namespace, ctx: CommandContext) -> int:
    repo = ctx.api.get(_repo_path(args.repo_id))
    if ctx.printer.json_mode:
        ctx.printer.json(repo)
        return 0
    ctx.printer.fields(repo_fields(repo))
    runs = ctx.api.get(f"{_repo_path(args.repo_id)}/runs", {"limit": SHOWN_RUNS}).get("items") or []
    ctx.printer.line()
    ctx.printer.line("latest runs:")
    ctx.printer.table(runs, REPO_RUN_COLUMNS, empty=f"none yet (`agentlab repos run {args.repo_id}` starts one)")
    return 0


def repo_fields(repo: JsonObject) -> list[tuple[str, str]]:
    return [
        ("id", str(repo.get("id", ""))),
        ("name", str(repo.get("name", ""))),
        ("url", str(repo.get("url", ""))),
        ("default branch", str(repo.get("default_branch", ""))),
        ("credentials", "a token is stored" if repo.get("has_credentials") else "none"),
        ("last run", str(repo.get("last_run_id") or "")),
        ("created", f"{format_timestamp(repo.get('created_at'))} by {repo.get('created_by', '')}"),
        ("updated", format_timestamp(repo.get("updated_at"))),
        ("revision", str(repo.get("revision", ""))),
    ]


def list_repo_runs(args: argparse.Namespace, ctx: CommandContext) -> int:
    items, next_cursor = fetch_listing(ctx, f"{_repo_path(args.repo_id)}/runs", {}, args)
    print_listing(ctx, items, next_cursor, REPO_RUN_COLUMNS, empty="no runs yet")
    return 0


# --- config ----------------------------------------------------------------------------------------------------


def _command_name(name: str, option: str) -> str:
    if name not in COMMAND_NAMES:
        raise UsageError(f"{option} {name}: the command is one of {', '.join(COMMAND_NAMES)}")
    return name


def parse_assignment(text: str) -> tuple[str, str]:
    """`NAME=COMMAND` of `--set`: the command is everything after the first `=`, and may not be blank."""
    name, separator, command = text.partition("=")
    name = name.strip()
    if not separator:
        raise UsageError(f"--set {text!r}: expected NAME=COMMAND")
    _command_name(name, "--set")
    if not command.strip():
        raise UsageError(f"--set {name}=: the command is empty (--unset {name} uses the detected one again)")
    return name, command.strip()


def config_update_body(config: JsonObject, args: argparse.Namespace) -> JsonObject | None:
    """The PUT body that applies the options to the config as it was read, or None when no option changes it."""
    assignments = [parse_assignment(text) for text in args.assignments]
    unset = [_command_name(name, "--unset") for name in args.unset]
    confirm = [_command_name(name, "--confirm") for name in args.confirm]
    both = {name for name, _ in assignments} & set(unset)
    if both:
        raise UsageError(f"{', '.join(sorted(both))}: given to both --set and --unset")
    if not (assignments or unset or confirm or args.bench_runs is not None):
        return None
    # PUT replaces the overrides, so the ones not named on the command line are sent back as they were.
    overrides: dict[str, str | None] = dict(config.get("overrides") or {})
    overrides.update(assignments)
    overrides.update({name: None for name in unset})
    confirmed = list(config.get("confirmed") or [])
    confirmed.extend(name for name in confirm if name not in confirmed)
    body: JsonObject = {"overrides": overrides, "confirmed": confirmed, "expected_revision": config.get("revision")}
    if args.bench_runs is not None:
        body["bench_runs"] = args.bench_runs
    return body


def configure_repo(args: argparse.Namespace, ctx: CommandContext) -> int:
    path = f"{_repo_path(args.repo_id)}/config"
    config = ctx.api.get(path)
    body = config_update_body(config, args)
    if body is not None:
        config = _put(ctx.api, path, body)
    if ctx.printer.json_mode:
        ctx.printer.json(config)
        return 0
    for text in format_config(config, args.repo_id):
        ctx.printer.line(text)
    return 0


def _put(api: ApiClient, path: str, body: JsonObject) -> JsonObject:
    content = api.request("PUT", path, body=body).json()
    if not isinstance(content, dict):
        raise CliError("error invalid_response: the API answered with JSON that is not an object")
    return content


def _ordered_commands(effective: Mapping[str, Any]) -> list[str]:
    known = [name for name in COMMAND_NAMES if name in effective]
    return known + sorted(name for name in effective if name not in COMMAND_NAMES)


def format_config(config: JsonObject, repo_id: str) -> list[str]:
    lines: list[str] = []
    detected = config.get("detected")
    if detected:
        stack = " · ".join(
            str(detected[key]) for key in ("language", "package_manager", "framework") if detected.get(key)
        )
        when = format_timestamp(detected.get("detected_at"))
        commit = short_sha(detected.get("commit_sha"))
        lines.append(f"detected at commit {commit} on {when}" + (f" ({stack})" if stack else ""))
    else:
        lines.append("not detected yet: the first run detects the commands")
    effective: Mapping[str, Any] = config.get("effective") or {}
    width = max((len(name) for name in effective), default=0)
    pending: list[str] = []
    for name in _ordered_commands(effective):
        command = effective[name] or {}
        confidence = command.get("confidence")
        figures = [str(command.get("origin", ""))]
        if confidence is not None:
            figures.append(f"confidence {float(confidence):.2f}")
        lines.append(f"{name:<{width}}  {command.get('command', '')}  ({', '.join(figures)})")
        if command.get("needs_confirmation"):
            pending.append(name)
            lines.append(f"{INDENT}needs confirmation: the detector is not sure of this command")
        for evidence in command.get("evidence") or []:
            lines.append(f"{INDENT}evidence: {describe_evidence(evidence)}")
    missing = [name for name in COMMAND_NAMES if name not in effective]
    if missing:
        lines.append(f"no command for: {', '.join(missing)}")
    for note in (detected or {}).get("notes") or []:
        lines.append(f"note: {note}")
    bench_runs = config.get("bench_runs")
    runs = "the deployment's default" if bench_runs is None else str(bench_runs)
    lines.append(f"bench runs: {runs} · revision {config.get('revision', '')}")
    if pending:
        confirm = " ".join(f"--confirm {name}" for name in pending)
        lines.append(f"confirm with `agentlab repos config {repo_id} {confirm}` or replace with --set NAME=COMMAND")
    return lines


def describe_evidence(evidence: Any) -> str:
    if not isinstance(evidence, dict):
        return str(evidence)
    where = str(evidence.get("file") or "")
    if evidence.get("line") is not None:
        where = f"{where}:{evidence['line']}"
    detail = str(evidence.get("detail") or "")
    return f"{where} — {detail}" if where and detail else where or detail


# --- run and follow --------------------------------------------------------------------------------------------


def repo_run_body(args: argparse.Namespace) -> JsonObject:
    body: JsonObject = {}
    if args.branch:
        body["branch"] = args.branch
    if args.sha:
        body["sha"] = args.sha
    return body


def run_repo(args: argparse.Namespace, ctx: CommandContext) -> int:
    run = ctx.api.post(f"{_repo_path(args.repo_id)}/runs", repo_run_body(args))
    if ctx.printer.json_mode:
        ctx.printer.json(run, compact=True)
    else:
        branch = (run.get("repo") or {}).get("branch")
        ctx.printer.line(f"started run {run.get('id')} ({run.get('status')})" + (f" on {branch}" if branch else ""))
    if not args.follow:
        return 0
    return follow_repo_run(ctx.api, ctx.printer, str(run["id"]), sleep=ctx.sleep)


def follow_repo_run(
    api: ApiClient,
    printer: Printer,
    run_id: str,
    *,
    sleep: Callable[[float], None],
    interval_s: float = REPO_RUN_POLL_INTERVAL_S,
) -> int:
    """Prints the run's steps as they come until it ends, then its baseline; 0 when the run succeeded."""
    run_path = f"/v1/runs/{path_segment(run_id)}"
    last_seq = 0
    try:
        while True:
            # The run is read before its steps, so once it shows a terminal status every step is already listed.
            run = api.get(run_path)
            for step in _steps_after(api, run_path, last_seq):
                last_seq = int(step["seq"])
                if printer.json_mode:
                    printer.json(step, compact=True)
                else:
                    for text in format_repo_step(step):
                        printer.line(text)
            if run.get("status") in TERMINAL_STATUSES:
                break
            sleep(interval_s)
    except KeyboardInterrupt:
        printer.note(f"stopped following; run {run_id} goes on (`agentlab runs cancel {run_id}` stops it)")
        return EXIT_INTERRUPTED
    baseline = fetch_baseline(api, run_id)
    artifacts = list(api.paginate(f"{run_path}/artifacts"))
    if printer.json_mode:
        printer.json({"run": run, "baseline": baseline, "artifacts": artifacts}, compact=True)
    else:
        print_repo_run_outcome(printer, run, baseline, artifacts)
    return EXIT_OK if run.get("status") == "succeeded" else EXIT_API_ERROR


def _steps_after(api: ApiClient, run_path: str, after: int) -> Iterator[JsonObject]:
    while True:
        items = api.get(f"{run_path}/steps", {"after": after, "limit": STEPS_PAGE_SIZE}).get("items") or []
        fresh = [step for step in items if int(step["seq"]) > after]
        yield from fresh
        if not fresh or len(items) < STEPS_PAGE_SIZE:
            return
        after = int(fresh[-1]["seq"])


def fetch_baseline(api: ApiClient, run_id: str) -> JsonObject | None:
    """The run's baseline, or None when the run ended before its baseline step wrote one."""
    try:
        return api.get(f"/v1/runs/{path_segment(run_id)}/baseline")
    except ApiError as exc:
        if exc.code == NO_BASELINE or exc.status == 404:
            return None
        raise


def format_repo_step(step: JsonObject) -> list[str]:
    """A repo run's steps in a line or a few; other kinds of step (an error) as every run's steps read."""
    detail: JsonObject = step.get("detail") or {}
    step_type = str(step.get("type"))
    head = f"#{step.get('seq')} {step_type}"
    if step_type == "checkout":
        parts = [head, str(detail.get("branch") or ""), short_sha(detail.get("commit_sha"))]
        lines = [" · ".join(part for part in parts if part)]
        if detail.get("ok") is False:
            lines.append(f"{INDENT}failed: {detail.get('code')}: {detail.get('message')}")
        return lines
    if step_type == "detect":
        stack = [str(detail[key]) for key in ("language", "package_manager", "framework") if detail.get(key)]
        lines = [" · ".join([head, *stack])]
        commands: Mapping[str, Any] = detail.get("commands") or {}
        for name in _ordered_commands(commands):
            lines.append(f"{INDENT}{describe_detected(name, commands[name] or {})}")
        return lines
    if step_type == "phase":
        return _format_phase_step(head, detail)
    return format_step(step)


def describe_detected(name: str, command: Mapping[str, Any]) -> str:
    confidence = command.get("confidence")
    figures = [str(command.get("origin") or "detected")]
    if confidence is not None:
        figures.append(f"confidence {float(confidence):.2f}")
    flag = " · needs confirmation" if command.get("needs_confirmation") else ""
    return f"{name}: {command.get('command', '')} ({', '.join(figures)}){flag}"


def _format_phase_step(head: str, detail: JsonObject) -> list[str]:
    exit_code = detail.get("exit_code")
    parts = [f"{head} {detail.get('phase', '')}".rstrip()]
    if exit_code is not None:
        parts.append(f"exit {exit_code}")
    if detail.get("duration_s") is not None:
        parts.append(format_seconds(detail["duration_s"]))
    if detail.get("limit"):
        parts.append(f"stopped by the {detail['limit']} limit")
    lines = [" · ".join(parts)]
    if detail.get("command"):
        lines.append(f"{INDENT}$ {detail['command']}")
    # A phase that passed needs no output; one that failed shows why.
    if (exit_code not in (0, None) or detail.get("limit")) and detail.get("output_tail"):
        tail = str(detail["output_tail"]).rstrip("\n").splitlines()[-OUTPUT_TAIL_LINES:]
        lines.extend(f"{INDENT}│ {text}" for text in tail)
    return lines


def print_repo_run_outcome(
    printer: Printer, run: JsonObject, baseline: JsonObject | None, artifacts: list[JsonObject]
) -> None:
    commit = short_sha((run.get("repo") or {}).get("commit_sha"))
    printer.line(f"── run {run.get('id')} {run.get('status')}" + (f" · commit {commit}" if commit else ""))
    error = run.get("error")
    if error:
        printer.line(f"error: {error.get('code')}: {error.get('message')}")
    if baseline is None:
        printer.line("no baseline: the run ended before the baseline was written")
    else:
        for text in format_baseline(baseline):
            printer.line(text)
    if artifacts:
        printer.line("artifacts:")
        printer.table(artifacts, ARTIFACT_COLUMNS, empty="")


def format_baseline(baseline: JsonObject) -> list[str]:
    lines = [f"baseline {baseline.get('status')} at commit {short_sha(baseline.get('commit_sha'))}"]
    failure = baseline.get("failure")
    if failure:
        lines.append(f"failure: {failure.get('code')}: {failure.get('message')}")
    tests = baseline.get("tests")
    if tests:
        lines.extend(_format_tests(tests))
    benchmark = baseline.get("benchmark")
    if benchmark:
        lines.extend(_format_benchmark(benchmark))
    phases = baseline.get("phases") or []
    if phases:
        lines.append("phases:")
        lines.extend(f"{INDENT}{text}" for text in _phase_table(phases))
    for note in baseline.get("notes") or []:
        lines.append(f"note: {note}")
    return lines


def _format_tests(tests: JsonObject) -> list[str]:
    counts = ", ".join(f"{int(tests.get(key) or 0)} {key}" for key in ("passed", "failed", "errors", "skipped"))
    source = f"{tests.get('source')}, " if tests.get("source") else ""
    lines = [f"tests: {counts} of {int(tests.get('total') or 0)} ({source}{format_seconds(tests.get('duration_s'))})"]
    for label, key in (("failed", "failures"), ("flaky", "flaky")):
        names = tests.get(key) or []
        if names:
            lines.append(f"{INDENT}{label}: {', '.join(truncate(str(name), 120) for name in names)}")
    return lines


def _format_benchmark(benchmark: JsonObject) -> list[str]:
    source = f" ({benchmark.get('source')})" if benchmark.get("source") else ""
    lines = [f"benchmark: {benchmark.get('runs')} runs{source}"]
    for series in benchmark.get("series") or []:
        summary = series.get("summary") or {}
        parts = [f"median {format_sample(summary.get('median') or 0)}"]
        interval = summary.get("ci95_median")
        if interval:
            parts.append(f"95% CI {format_sample(interval[0])} to {format_sample(interval[1])}")
        if summary.get("cv") is not None:
            parts.append(f"cv {float(summary['cv']) * 100:.1f}%")
        parts.append(f"n={summary.get('n', len(series.get('samples') or []))}")
        lines.append(f"{INDENT}{series.get('name')}: {' · '.join(parts)}")
    return lines


def _phase_table(phases: list[JsonObject]) -> list[str]:
    return render_table(phases, PHASE_COLUMNS)
