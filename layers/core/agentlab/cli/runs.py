"""`agentlab runs ...`: start runs (files, typed env, goal, budget), list, inspect, steer and follow them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from agentlab.cli.agents import resolve_agent_id
from agentlab.cli.arguments import SubParsers, add_command, non_negative_float, positive_int
from agentlab.cli.client import ApiClient, path_segment
from agentlab.cli.context import CommandContext
from agentlab.cli.env_vars import ENV_SYNTAX, parse_env_assignments
from agentlab.cli.errors import CliError, UsageError
from agentlab.cli.files import upload_file
from agentlab.cli.follow import ARTIFACT_COLUMNS, STEPS_PAGE_SIZE, FollowOptions, follow_run
from agentlab.cli.listing import add_listing_options, fetch_listing, print_listing
from agentlab.cli.output import (
    Column,
    JsonObject,
    count_of,
    describe_cost,
    format_timestamp,
    format_tokens,
    table_cost,
    usage_tokens,
)
from agentlab.cli.steps import format_step, preview_notes

RUN_STATUSES = ("queued", "running", "waiting_approval", "succeeded", "failed", "cancelled", "budget_exceeded")
FOLLOW_MAX_LINES = 40
DOWNLOAD_TIMEOUT = httpx.Timeout(300.0, connect=5.0)

RUN_COLUMNS = [
    Column("ID", lambda run: str(run.get("id", ""))),
    Column("STATUS", lambda run: str(run.get("status", ""))),
    Column("AGENT", lambda run: str(run.get("agent_id", ""))),
    Column("STEPS", lambda run: str((run.get("usage") or {}).get("steps", 0))),
    Column("TOKENS", lambda run: format_tokens(usage_tokens(run.get("usage")))),
    Column("COST", lambda run: table_cost(run.get("usage"))),
    Column("CREATED", lambda run: format_timestamp(run.get("created_at"))),
    Column("PROMPT", lambda run: str(run.get("prompt", "")), 50),
]

# (flag, API field, parser, metavar) for each per-run override of the agent's limits.
BUDGET_OPTIONS: list[tuple[str, str, Any, str]] = [
    ("--max-steps", "max_steps", positive_int, "N"),
    ("--max-tokens", "max_tokens", positive_int, "N"),
    ("--max-cost-usd", "max_cost_usd", non_negative_float, "USD"),
    ("--max-wall-s", "max_wall_s", positive_int, "SECONDS"),
]


def register(subparsers: SubParsers) -> None:
    runs = subparsers.add_parser("runs", help="start, list, inspect, steer and follow runs")
    commands = runs.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _register_create(commands)

    listing = add_command(commands, "list", list_runs, help="list runs, newest first")
    listing.add_argument("--status", choices=RUN_STATUSES)
    listing.add_argument("--agent", metavar="ID_OR_NAME")
    listing.add_argument("--thread", metavar="ID")
    add_listing_options(listing)

    show = add_command(commands, "show", show_run, help="show one run")
    show.add_argument("run_id", metavar="ID")

    cancel = add_command(commands, "cancel", cancel_run, help="cancel a run")
    cancel.add_argument("run_id", metavar="ID")

    approve = add_command(commands, "approve", approve_run, help="approve a run that waits for approval")
    approve.add_argument("run_id", metavar="ID")
    approve.add_argument("--comment")

    reject = add_command(commands, "reject", reject_run, help="reject a run that waits for approval")
    reject.add_argument("run_id", metavar="ID")
    reject.add_argument("--comment", required=True, help="why, for the agent and the record")

    follow = add_command(
        commands,
        "follow",
        follow_command,
        help="print a run's steps as they happen until it ends",
        description="Print a run's steps as they happen until it ends. Exits 0 when the run succeeded, 1 otherwise. "
        "With --json, prints one JSON line per step, then {'run': ..., 'artifacts': [...]}.",
    )
    follow.add_argument("run_id", metavar="ID")
    _add_follow_options(follow)

    steps = add_command(
        commands,
        "steps",
        list_steps,
        help="print a run's steps",
        description="Print a run's steps. A field too long for its record shows a preview and the URL of its full "
        "output; --full-output downloads the full outputs and prints them instead. With --json, prints one JSON line "
        "per step as the API returns it (the URLs are in each step's full_output).",
    )
    steps.add_argument("run_id", metavar="ID")
    steps.add_argument("--after", type=positive_int, metavar="SEQ", help="only the steps after step SEQ")
    _add_follow_options(steps)
    steps.add_argument(
        "--full-output", action="store_true", help="download and print the full text of every preview (implies --full)"
    )

    artifacts = add_command(commands, "artifacts", list_artifacts, help="list a run's artifacts")
    artifacts.add_argument("run_id", metavar="ID")


def _register_create(commands: SubParsers) -> None:
    create = add_command(commands, "create", create_run, help="start a run")
    create.add_argument("prompt", metavar="PROMPT", help="the task; - reads it from stdin")
    create.add_argument("--agent", required=True, metavar="ID_OR_NAME")
    create.add_argument(
        "--file", dest="files", type=Path, action="append", default=[], metavar="PATH", help="upload and attach"
    )
    create.add_argument("--env", action="append", default=[], metavar="NAME=TYPE:VALUE", help=ENV_SYNTAX)
    create.add_argument("--goal", metavar="TEXT", help="when the work is done, judged by the model")
    create.add_argument("--goal-check", metavar="CODE", help="Python that decides the goal, run in the sandbox")
    for flag, field, parse, metavar in BUDGET_OPTIONS:
        create.add_argument(flag, dest=f"budget_{field}", type=parse, metavar=metavar)
    create.add_argument("--thread", metavar="ID", help="continue a conversation thread")
    create.add_argument("--idempotency-key", metavar="KEY", help="retrying with the same key never starts a 2nd run")
    create.add_argument("--script", type=Path, metavar="FILE.json", help="actions for the scripted model")
    create.add_argument("--follow", action="store_true", help="follow the run until it ends")
    _add_follow_options(create)


def _add_follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--full", action="store_true", help="print long code and output in full")


def create_run(args: argparse.Namespace, ctx: CommandContext) -> int:
    # Everything that can be wrong locally is checked before any file is uploaded.
    env = parse_env_assignments(args.env)
    script = load_script(args.script) if args.script else None
    prompt = read_prompt(args.prompt)
    body: JsonObject = {"agent_id": resolve_agent_id(ctx.api, args.agent), "prompt": prompt}
    if args.thread:
        body["thread_id"] = args.thread
    if env:
        body["env"] = env
    goal = {key: value for key, value in (("criterion", args.goal), ("check", args.goal_check)) if value}
    if goal:
        body["goal"] = goal
    budget = {field: getattr(args, f"budget_{field}") for _, field, _, _ in BUDGET_OPTIONS}
    budget = {field: value for field, value in budget.items() if value is not None}
    if budget:
        body["budget"] = budget
    if script is not None:
        body["script"] = script
    if args.files:
        body["file_ids"] = [upload_file(ctx.api, ctx.printer, path)["id"] for path in args.files]
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else None
    status_code, run = ctx.api.post_with_status("/v1/runs", body, headers)
    _print_created(ctx, run, replayed=status_code == 200)
    if args.follow:
        return follow_run(ctx.api, ctx.printer, str(run["id"]), sleep=ctx.sleep, options=_follow_options(args))
    return 0


def _print_created(ctx: CommandContext, run: JsonObject, *, replayed: bool) -> None:
    if ctx.printer.json_mode:
        ctx.printer.json(run, compact=True)
    elif replayed:
        ctx.printer.line(f"run {run.get('id')} already exists for this idempotency key ({run.get('status')})")
    else:
        ctx.printer.line(f"started run {run.get('id')} ({run.get('status')})")


def read_prompt(prompt: str) -> str:
    text = sys.stdin.read() if prompt == "-" else prompt
    if not text.strip():
        raise UsageError("the prompt is empty")
    return text


def load_script(path: Path) -> list[Any]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read --script {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"--script {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if isinstance(content, dict) and "script" in content:
        content = content["script"]
    if not isinstance(content, list):
        raise UsageError(f"--script {path} must hold a JSON list of actions (or an object with a 'script' list)")
    return content


def list_runs(args: argparse.Namespace, ctx: CommandContext) -> int:
    filters = {
        "status": args.status,
        "agent_id": resolve_agent_id(ctx.api, args.agent) if args.agent else None,
        "thread_id": args.thread,
    }
    items, next_cursor = fetch_listing(ctx, "/v1/runs", filters, args)
    print_listing(ctx, items, next_cursor, RUN_COLUMNS, empty="no runs")
    return 0


def show_run(args: argparse.Namespace, ctx: CommandContext) -> int:
    run = ctx.api.get(f"/v1/runs/{path_segment(args.run_id)}")
    if ctx.printer.json_mode:
        ctx.printer.json(run)
    else:
        ctx.printer.fields(run_fields(run))
    return 0


def run_fields(run: JsonObject) -> list[tuple[str, str]]:
    usage = run.get("usage") or {}
    error = run.get("error")
    goal = run.get("goal") or {}
    budget = {key: value for key, value in (run.get("budget") or {}).items() if value is not None}
    return [
        ("id", str(run.get("id", ""))),
        ("status", str(run.get("status", ""))),
        ("agent", f"{run.get('agent_id', '')} (version {run.get('agent_version', '?')})"),
        ("thread", str(run.get("thread_id") or "")),
        ("created", format_timestamp(run.get("created_at"))),
        ("started", format_timestamp(run.get("started_at"))),
        ("ended", format_timestamp(run.get("ended_at"))),
        ("isolation", str(run.get("isolation") or "")),
        (
            "usage",
            f"{count_of(usage.get('steps'), 'step')} · {format_tokens(usage.get('input_tokens'))} in / "
            f"{format_tokens(usage.get('output_tokens'))} out tokens · {describe_cost(usage)} · "
            f"sandbox {float(usage.get('sandbox_s') or 0):.1f} s",
        ),
        ("budget", ", ".join(f"{key}={value}" for key, value in budget.items())),
        ("files", ", ".join(run.get("file_ids") or [])),
        # Values may be long or sensitive to the user; names and types say what the run got.
        ("env", ", ".join(f"{name} ({var.get('type')})" for name, var in (run.get("env") or {}).items())),
        ("goal", str(goal.get("criterion") or "")),
        ("goal check", str(goal.get("check") or "")),
        ("prompt", str(run.get("prompt", ""))),
        ("error", f"{error.get('code')}: {error.get('message')}" if error else ""),
        ("result", str(run.get("result") or "")),
        ("full result", " ".join(note.strip() for note in preview_notes({"result": run.get("result_full")}))),
    ]


def cancel_run(args: argparse.Namespace, ctx: CommandContext) -> int:
    run = ctx.api.post(f"/v1/runs/{path_segment(args.run_id)}/cancel")
    return _print_run_status(ctx, run, "cancel requested")


def approve_run(args: argparse.Namespace, ctx: CommandContext) -> int:
    run = ctx.api.post(f"/v1/runs/{path_segment(args.run_id)}/approve", _comment_body(args.comment))
    return _print_run_status(ctx, run, "approved")


def reject_run(args: argparse.Namespace, ctx: CommandContext) -> int:
    run = ctx.api.post(f"/v1/runs/{path_segment(args.run_id)}/reject", _comment_body(args.comment))
    return _print_run_status(ctx, run, "rejected")


def _comment_body(comment: str | None) -> JsonObject:
    return {"comment": comment} if comment else {}


def _print_run_status(ctx: CommandContext, run: JsonObject, action: str) -> int:
    if ctx.printer.json_mode:
        ctx.printer.json(run)
    else:
        ctx.printer.line(f"{action}: run {run.get('id')} is {run.get('status')}")
    return 0


def follow_command(args: argparse.Namespace, ctx: CommandContext) -> int:
    return follow_run(ctx.api, ctx.printer, args.run_id, sleep=ctx.sleep, options=_follow_options(args))


def _follow_options(args: argparse.Namespace) -> FollowOptions:
    return FollowOptions(max_lines=None if args.full else FOLLOW_MAX_LINES)


def list_steps(args: argparse.Namespace, ctx: CommandContext) -> int:
    steps = iter_steps(ctx.api, args.run_id, after=args.after or 0)
    if ctx.printer.json_mode:
        for step in steps:
            ctx.printer.json(step, compact=True)
        return 0
    max_lines = None if args.full or args.full_output else FOLLOW_MAX_LINES
    printed = 0
    # Presigned URLs get no API key: a client of their own, without the API's headers.
    with ctx.client_factory(ctx.config) as storage:
        for step in steps:
            full_texts = download_full_outputs(storage, step) if args.full_output else None
            for text in format_step(step, max_lines=max_lines, full_texts=full_texts):
                ctx.printer.line(text)
            printed += 1
    if not printed:
        ctx.printer.line("no steps")
    return 0


def iter_steps(api: ApiClient, run_id: str, *, after: int = 0) -> Iterator[JsonObject]:
    """The run's steps in order, page by page (the steps API pages by sequence number)."""
    path = f"/v1/runs/{path_segment(run_id)}/steps"
    while True:
        items = api.get(path, {"after": after, "limit": STEPS_PAGE_SIZE}).get("items") or []
        yield from items
        if len(items) < STEPS_PAGE_SIZE:
            return
        after = int(items[-1]["seq"])


def download_full_outputs(storage: httpx.Client, step: JsonObject) -> dict[str, str]:
    """The whole text of each field of the step that has a full output with a URL."""
    texts: dict[str, str] = {}
    for name, ref in (step.get("full_output") or {}).items():
        url = ref.get("url") if isinstance(ref, dict) else None
        if not url:
            continue
        what = f"the full {name} of step {step.get('seq')}"
        try:
            response = storage.get(url, timeout=DOWNLOAD_TIMEOUT)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot download {what}: {exc or type(exc).__name__}") from exc
        if response.is_error:
            raise CliError(f"cannot download {what}: the storage URL answered {response.status_code}")
        texts[name] = response.content.decode("utf-8", errors="replace")
    return texts


def list_artifacts(args: argparse.Namespace, ctx: CommandContext) -> int:
    items = list(ctx.api.paginate(f"/v1/runs/{path_segment(args.run_id)}/artifacts"))
    print_listing(ctx, items, None, ARTIFACT_COLUMNS, empty="no artifacts")
    return 0
