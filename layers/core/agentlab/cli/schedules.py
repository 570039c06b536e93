"""`agentlab schedules ...`: runs started on a cron, rate or at expression, under a daily budget."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from agentlab.cli.agents import resolve_agent_id
from agentlab.cli.arguments import SubParsers, add_command, non_negative_float, positive_int
from agentlab.cli.client import path_segment
from agentlab.cli.context import CommandContext
from agentlab.cli.env_vars import ENV_SYNTAX, parse_env_assignments
from agentlab.cli.errors import UsageError
from agentlab.cli.listing import add_listing_options, fetch_listing, print_listing
from agentlab.cli.output import Column, JsonObject, format_timestamp
from agentlab.cli.runs import BUDGET_OPTIONS, read_prompt

# The word that clears a limit on `update` (a limit left unset does not apply), and what its parser returns for it.
UNSET = "none"
CLEARED: Any = object()


def _first_fire(schedule: JsonObject) -> str:
    fires = schedule.get("next_fires") or []
    return format_timestamp(fires[0]) if fires else ""


SCHEDULE_COLUMNS = [
    Column("ID", lambda schedule: str(schedule.get("id", ""))),
    Column("NAME", lambda schedule: str(schedule.get("name", ""))),
    Column("STATUS", lambda schedule: str(schedule.get("status", ""))),
    Column("EXPRESSION", lambda schedule: str(schedule.get("expression", "")), 40),
    Column("TIMEZONE", lambda schedule: str(schedule.get("timezone", ""))),
    Column("NEXT FIRE", _first_fire),
    Column("FAILURES", lambda schedule: str(schedule.get("consecutive_failures", 0))),
    Column("AGENT", lambda schedule: str(schedule.get("agent_id", ""))),
]
FIRE_COLUMNS = [
    Column("SCHEDULED", lambda fire: format_timestamp(fire.get("scheduled_time"))),
    Column("OUTCOME", lambda fire: str(fire.get("outcome", ""))),
    Column("REASON", lambda fire: str(fire.get("reason") or "")),
    Column("RUN", lambda fire: str(fire.get("run_id") or "")),
    Column("RECORDED", lambda fire: format_timestamp(fire.get("recorded_at"))),
]


def _or_unset(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A limit's parser that also takes `none`, which clears the limit."""

    def parse_limit(text: str) -> Any:
        return CLEARED if text.strip().lower() == UNSET else parse(text)

    parse_limit.__name__ = getattr(parse, "__name__", "limit")
    return parse_limit


# (flag, API field, parser, metavar) for each daily limit.
DAILY_BUDGET_OPTIONS: list[tuple[str, str, Any, str]] = [
    ("--max-runs-per-day", "max_runs", positive_int, "N"),
    ("--max-cost-per-day", "max_cost_usd", non_negative_float, "USD"),
    ("--max-sandbox-minutes-per-day", "max_sandbox_minutes", positive_int, "MINUTES"),
]


def register(subparsers: SubParsers) -> None:
    schedules = subparsers.add_parser("schedules", help="start runs on a schedule, under a daily budget")
    commands = schedules.add_subparsers(title="commands", metavar="COMMAND", required=True)

    create = add_command(
        commands,
        "create",
        create_schedule,
        help="create a schedule",
        description="Create a schedule. EXPRESSION is in EventBridge Scheduler syntax: cron(min hour dom month dow "
        "year), rate(n unit) or at(yyyy-mm-ddThh:mm:ss), read in --timezone.",
    )
    create.add_argument("name", metavar="NAME")
    create.add_argument("--agent", required=True, metavar="ID_OR_NAME")
    create.add_argument("--prompt", required=True, metavar="TEXT", help="the task of each run; - reads it from stdin")
    create.add_argument("--expression", required=True, metavar="EXPRESSION", help="cron(...), rate(...) or at(...)")
    _add_schedule_options(create, updating=False)

    listing = add_command(commands, "list", list_schedules, help="list schedules")
    add_listing_options(listing)

    show = add_command(commands, "show", show_schedule, help="show a schedule, its status and its next fires")
    show.add_argument("schedule_id", metavar="ID")

    update = add_command(
        commands,
        "update",
        update_schedule,
        help="change a schedule",
        description="Change a schedule: only the given options change. A limit set to 'none' no longer applies.",
    )
    update.add_argument("schedule_id", metavar="ID")
    update.add_argument("--name")
    update.add_argument("--agent", metavar="ID_OR_NAME")
    update.add_argument("--prompt", metavar="TEXT", help="the task of each run; - reads it from stdin")
    update.add_argument("--expression", metavar="EXPRESSION", help="cron(...), rate(...) or at(...)")
    _add_schedule_options(update, updating=True)

    pause = add_command(commands, "pause", pause_schedule, help="pause a schedule: its fires are skipped")
    pause.add_argument("schedule_id", metavar="ID")
    pause.add_argument("--reason", help="why, shown with the schedule")

    resume = add_command(commands, "resume", resume_schedule, help="resume a paused schedule")
    resume.add_argument("schedule_id", metavar="ID")

    run_now = add_command(commands, "run-now", run_schedule_now, help="start the schedule's run now")
    run_now.add_argument("schedule_id", metavar="ID")

    delete = add_command(commands, "delete", delete_schedule, help="delete a schedule (its runs stay)")
    delete.add_argument("schedule_id", metavar="ID")

    fires = add_command(commands, "fires", list_fires, help="list a schedule's fires: runs started or skipped")
    fires.add_argument("schedule_id", metavar="ID")
    add_listing_options(fires)


def _add_schedule_options(parser: argparse.ArgumentParser, *, updating: bool) -> None:
    parser.add_argument(
        "--version",
        dest="agent_version",
        type=positive_int,
        metavar="N",
        help="pin the agent's version (default latest)",
    )
    parser.add_argument("--timezone", metavar="IANA_NAME", help="the expression's timezone (default UTC)")
    parser.add_argument(
        "--file", dest="file_ids", action="append", metavar="FILE_ID", help="an uploaded file each run gets"
    )
    parser.add_argument("--env", action="append", metavar="NAME=TYPE:VALUE", help=ENV_SYNTAX)
    parser.add_argument("--goal", metavar="TEXT", help="when the work is done, judged by the model")
    parser.add_argument("--goal-check", metavar="CODE", help="Python that decides the goal, run in the sandbox")
    if updating:
        parser.add_argument("--no-files", action="store_true", help="runs get no files")
        parser.add_argument("--no-env", action="store_true", help="runs get no environment variables")
        enabled = parser.add_mutually_exclusive_group()
        enabled.add_argument("--enabled", dest="enabled", action="store_const", const=True, help="enable the schedule")
        enabled.add_argument("--disabled", dest="enabled", action="store_const", const=False, help="fire no more")
    else:
        parser.add_argument("--disabled", action="store_true", help="create it disabled: it does not fire")
    parse_limit: Callable[[Callable[[str], Any]], Callable[[str], Any]] = _or_unset if updating else (lambda p: p)
    for flag, field, parse, metavar in DAILY_BUDGET_OPTIONS:
        parser.add_argument(
            flag, dest=f"daily_{field}", type=parse_limit(parse), metavar=metavar, help="a fire beyond it is skipped"
        )
    parser.add_argument(
        "--auto-pause-after", type=positive_int, metavar="N", help="pause after N failed runs in a row (default 3)"
    )
    for flag, field, parse, metavar in BUDGET_OPTIONS:
        parser.add_argument(flag, dest=f"budget_{field}", type=parse_limit(parse), metavar=metavar, help="per run")


def _given(args: argparse.Namespace, prefix: str, options: list[tuple[str, str, Any, str]]) -> dict[str, Any]:
    """The limits given on the command line (a cleared one as None), by API field."""
    given = {}
    for _, field, _, _ in options:
        value = getattr(args, f"{prefix}{field}")
        if value is not None:
            given[field] = None if value is CLEARED else value
    return given


def _goal(args: argparse.Namespace) -> dict[str, str]:
    return {key: value for key, value in (("criterion", args.goal), ("check", args.goal_check)) if value}


def schedule_create_body(args: argparse.Namespace) -> JsonObject:
    """The body of `create` from its options; `agent_id` is left for the caller to resolve."""
    body: JsonObject = {
        "name": args.name,
        "agent_id": "",
        "prompt": read_prompt(args.prompt),
        "expression": args.expression,
    }
    if args.agent_version is not None:
        body["agent_version"] = args.agent_version
    if args.timezone is not None:
        body["timezone"] = args.timezone
    if args.file_ids:
        body["file_ids"] = args.file_ids
    env = parse_env_assignments(args.env or [])
    if env:
        body["env"] = env
    if goal := _goal(args):
        body["goal"] = goal
    if budget := _given(args, "budget_", BUDGET_OPTIONS):
        body["budget"] = budget
    if args.disabled:
        body["enabled"] = False
    if daily := _given(args, "daily_", DAILY_BUDGET_OPTIONS):
        body["daily_budget"] = daily
    if args.auto_pause_after is not None:
        body["auto_pause_after"] = args.auto_pause_after
    return body


def create_schedule(args: argparse.Namespace, ctx: CommandContext) -> int:
    # Everything that can be wrong locally (the env, the prompt) is checked before any request.
    body = schedule_create_body(args)
    body["agent_id"] = resolve_agent_id(ctx.api, args.agent)
    schedule = ctx.api.post("/v1/schedules", body)
    if ctx.printer.json_mode:
        ctx.printer.json(schedule)
    else:
        ctx.printer.line(f"created schedule {schedule.get('name')} ({schedule.get('id')}), {schedule.get('status')}")
        _print_next_fire(ctx, schedule)
    return 0


def list_schedules(args: argparse.Namespace, ctx: CommandContext) -> int:
    items, next_cursor = fetch_listing(ctx, "/v1/schedules", {}, args)
    print_listing(ctx, items, next_cursor, SCHEDULE_COLUMNS, empty="no schedules")
    return 0


def show_schedule(args: argparse.Namespace, ctx: CommandContext) -> int:
    schedule = ctx.api.get(_schedule_path(args.schedule_id))
    if ctx.printer.json_mode:
        ctx.printer.json(schedule)
    else:
        ctx.printer.fields(schedule_fields(schedule))
    return 0


def schedule_fields(schedule: JsonObject) -> list[tuple[str, str]]:
    version = schedule.get("agent_version")
    goal = schedule.get("goal") or {}
    return [
        ("id", str(schedule.get("id", ""))),
        ("name", str(schedule.get("name", ""))),
        ("status", str(schedule.get("status", ""))),
        ("paused because", str(schedule.get("paused_reason") or "")),
        (
            "failures in a row",
            f"{int(schedule.get('consecutive_failures') or 0)} (pauses at {schedule.get('auto_pause_after', '?')})",
        ),
        ("agent", f"{schedule.get('agent_id', '')} ({'latest version' if version is None else f'version {version}'})"),
        ("expression", f"{schedule.get('expression', '')} in {schedule.get('timezone') or 'UTC'}"),
        ("description", str(schedule.get("description") or "")),
        ("next fires", "\n".join(format_timestamp(fire) for fire in schedule.get("next_fires") or [])),
        ("last fire", format_timestamp(schedule.get("last_fire_at"))),
        ("daily budget", _describe_limits(schedule.get("daily_budget"))),
        ("run budget", _describe_limits(schedule.get("budget"))),
        ("files", ", ".join(schedule.get("file_ids") or [])),
        # Values may be long or sensitive to the user; names and types say what each run gets.
        ("env", ", ".join(f"{name} ({var.get('type')})" for name, var in (schedule.get("env") or {}).items())),
        ("goal", str(goal.get("criterion") or "")),
        ("goal check", str(goal.get("check") or "")),
        ("created", format_timestamp(schedule.get("created_at"))),
        ("updated", format_timestamp(schedule.get("updated_at"))),
        ("prompt", str(schedule.get("prompt", ""))),
    ]


def _describe_limits(limits: JsonObject | None) -> str:
    return ", ".join(f"{name}={value}" for name, value in (limits or {}).items() if value is not None)


def update_schedule(args: argparse.Namespace, ctx: CommandContext) -> int:
    if args.file_ids and args.no_files:
        raise UsageError("--file and --no-files cannot be given together")
    if args.env and args.no_env:
        raise UsageError("--env and --no-env cannot be given together")
    env = parse_env_assignments(args.env or [])
    prompt = read_prompt(args.prompt) if args.prompt is not None else None
    path = _schedule_path(args.schedule_id)
    # The budgets and the goal are replaced whole by the API: the given limits are merged into the current ones, and
    # the revision they were read at guards against a change made meanwhile.
    current = ctx.api.get(path)
    body: JsonObject = {"expected_revision": current.get("revision")}
    for field, value in (
        ("name", args.name),
        ("prompt", prompt),
        ("expression", args.expression),
        ("timezone", args.timezone),
        ("agent_version", args.agent_version),
        ("enabled", args.enabled),
        ("auto_pause_after", args.auto_pause_after),
    ):
        if value is not None:
            body[field] = value
    if args.agent is not None:
        body["agent_id"] = resolve_agent_id(ctx.api, args.agent)
    if args.file_ids or args.no_files:
        body["file_ids"] = args.file_ids or []
    if env or args.no_env:
        body["env"] = env
    if goal := _goal(args):
        body["goal"] = {**(current.get("goal") or {}), **goal}
    for field, prefix, options in (
        ("budget", "budget_", BUDGET_OPTIONS),
        ("daily_budget", "daily_", DAILY_BUDGET_OPTIONS),
    ):
        given = _given(args, prefix, options)
        if given:
            merged = {**(current.get(field) or {}), **given}
            body[field] = {name: value for name, value in merged.items() if value is not None}
    if len(body) == 1:
        raise UsageError("nothing to change: give at least one option")
    schedule = ctx.api.request("PATCH", path, body=body).json()
    return _print_schedule_status(ctx, schedule, "updated")


def pause_schedule(args: argparse.Namespace, ctx: CommandContext) -> int:
    body = {"reason": args.reason} if args.reason else None
    schedule = ctx.api.post(f"{_schedule_path(args.schedule_id)}/pause", body)
    return _print_schedule_status(ctx, schedule, "paused")


def resume_schedule(args: argparse.Namespace, ctx: CommandContext) -> int:
    schedule = ctx.api.post(f"{_schedule_path(args.schedule_id)}/resume")
    return _print_schedule_status(ctx, schedule, "resumed")


def run_schedule_now(args: argparse.Namespace, ctx: CommandContext) -> int:
    run = ctx.api.post(f"{_schedule_path(args.schedule_id)}/run-now")
    if ctx.printer.json_mode:
        ctx.printer.json(run)
    else:
        ctx.printer.line(f"started run {run.get('id')} ({run.get('status')})")
    return 0


def delete_schedule(args: argparse.Namespace, ctx: CommandContext) -> int:
    ctx.api.request("DELETE", _schedule_path(args.schedule_id))
    if ctx.printer.json_mode:
        ctx.printer.json({"id": args.schedule_id, "deleted": True})
    else:
        ctx.printer.line(f"deleted schedule {args.schedule_id}")
    return 0


def list_fires(args: argparse.Namespace, ctx: CommandContext) -> int:
    items, next_cursor = fetch_listing(ctx, f"{_schedule_path(args.schedule_id)}/fires", {}, args)
    print_listing(ctx, items, next_cursor, FIRE_COLUMNS, empty="no fires yet")
    return 0


def _schedule_path(schedule_id: str) -> str:
    return f"/v1/schedules/{path_segment(schedule_id)}"


def _print_schedule_status(ctx: CommandContext, schedule: JsonObject, action: str) -> int:
    if ctx.printer.json_mode:
        ctx.printer.json(schedule)
        return 0
    status = str(schedule.get("status", ""))
    reason = schedule.get("paused_reason")
    ctx.printer.line(f"{action}: schedule {schedule.get('id')} is {status}" + (f" ({reason})" if reason else ""))
    _print_next_fire(ctx, schedule)
    return 0


def _print_next_fire(ctx: CommandContext, schedule: JsonObject) -> None:
    if schedule.get("status") == "active" and (first := _first_fire(schedule)):
        description = schedule.get("description")
        ctx.printer.line(f"next fire: {first}" + (f" ({description})" if description else ""))
