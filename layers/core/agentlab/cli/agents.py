"""`agentlab agents create|list|show`, and how an agent name on the command line becomes an id."""

from __future__ import annotations

import argparse
from typing import Any

from agentlab.cli.arguments import SubParsers, add_command, non_negative_float, positive_int
from agentlab.cli.client import ApiClient, path_segment
from agentlab.cli.context import CommandContext
from agentlab.cli.errors import ApiError
from agentlab.cli.listing import add_listing_options, fetch_listing, print_listing
from agentlab.cli.output import Column, JsonObject, format_timestamp
from agentlab.ids import is_ulid

AGENT_COLUMNS = [
    Column("ID", lambda agent: str(agent.get("id", ""))),
    Column("NAME", lambda agent: str(agent.get("name", ""))),
    Column("VERSION", lambda agent: str(agent.get("version", ""))),
    Column("REASONING MODELS", lambda agent: ", ".join((agent.get("models") or {}).get("reasoning") or []), 40),
    Column("TOOLS", lambda agent: ", ".join(agent.get("tools") or []), 50),
    Column("UPDATED", lambda agent: format_timestamp(agent.get("updated_at"))),
]

# (flag, API field, parser, metavar) for each agent limit.
LIMIT_OPTIONS: list[tuple[str, str, Any, str]] = [
    ("--max-steps", "max_steps", positive_int, "N"),
    ("--max-tokens", "max_tokens", positive_int, "N"),
    ("--max-cost-usd", "max_cost_usd", non_negative_float, "USD"),
    ("--max-wall-s", "max_wall_s", positive_int, "SECONDS"),
    ("--cell-timeout-s", "cell_timeout_s", positive_int, "SECONDS"),
    ("--sandbox-cpu", "sandbox_cpu", non_negative_float, "VCPUS"),
    ("--sandbox-memory-mb", "sandbox_memory_mb", positive_int, "MB"),
    ("--max-output-tokens", "max_output_tokens", positive_int, "N"),
]
MODEL_ROLES = ("reasoning", "code", "vision")
CRITIC_MODES = ("enforce", "warn", "off")


def register(subparsers: SubParsers) -> None:
    agents = subparsers.add_parser("agents", help="create, list and inspect agents")
    commands = agents.add_subparsers(title="commands", metavar="COMMAND", required=True)

    create = add_command(commands, "create", create_agent, help="create an agent")
    create.add_argument("name", metavar="NAME", help="lower-case name, unique in the org")
    create.add_argument("--description")
    create.add_argument("--system-prompt")
    for role in MODEL_ROLES:
        create.add_argument(
            f"--model-{role}",
            dest=f"model_{role}",
            metavar="REF",
            nargs="+",
            action="extend",
            help=f"{role} model, in fallback order (default, scripted, bedrock:ID or openai:ID)",
        )
    create.add_argument("--tools", metavar="TOOL", nargs="+", action="extend", help="tools the agent may call")
    for flag, field, parse, metavar in LIMIT_OPTIONS:
        create.add_argument(flag, dest=f"limit_{field}", type=parse, metavar=metavar)
    create.add_argument(
        "--critic-mode",
        choices=CRITIC_MODES,
        help="enforce (default): blocked code never runs; warn: findings are recorded and the code runs anyway; "
        "off: no static check. warn and off are for trusted uses; the sandbox contains the code in every mode",
    )

    listing = add_command(commands, "list", list_agents, help="list agents")
    listing.add_argument("--name", help="only the agent with exactly this name")
    add_listing_options(listing)

    show = add_command(commands, "show", show_agent, help="show one agent")
    show.add_argument("agent", metavar="ID_OR_NAME")


def agent_create_body(args: argparse.Namespace) -> JsonObject:
    body: JsonObject = {"name": args.name}
    if args.description is not None:
        body["description"] = args.description
    if args.system_prompt is not None:
        body["system_prompt"] = args.system_prompt
    models = {role: getattr(args, f"model_{role}") for role in MODEL_ROLES if getattr(args, f"model_{role}")}
    if models:
        body["models"] = models
    if args.tools:
        body["tools"] = args.tools
    limits = {
        field: getattr(args, f"limit_{field}")
        for _, field, _, _ in LIMIT_OPTIONS
        if getattr(args, f"limit_{field}") is not None
    }
    if limits:
        body["limits"] = limits
    if args.critic_mode is not None:
        body["critic"] = {"mode": args.critic_mode}
    return body


def create_agent(args: argparse.Namespace, ctx: CommandContext) -> int:
    agent = ctx.api.post("/v1/agents", agent_create_body(args))
    if ctx.printer.json_mode:
        ctx.printer.json(agent)
    else:
        ctx.printer.line(f"created agent {agent.get('name')} ({agent.get('id')}), version {agent.get('version')}")
    return 0


def list_agents(args: argparse.Namespace, ctx: CommandContext) -> int:
    items, next_cursor = fetch_listing(ctx, "/v1/agents", {"name": args.name}, args)
    print_listing(ctx, items, next_cursor, AGENT_COLUMNS, empty="no agents")
    return 0


def show_agent(args: argparse.Namespace, ctx: CommandContext) -> int:
    agent = resolve_agent(ctx.api, args.agent)
    if ctx.printer.json_mode:
        ctx.printer.json(agent)
        return 0
    models = agent.get("models") or {}
    limits = agent.get("limits") or {}
    critic = agent.get("critic") or {}
    ctx.printer.fields(
        [
            ("id", str(agent.get("id", ""))),
            ("name", str(agent.get("name", ""))),
            ("version", str(agent.get("version", ""))),
            ("description", str(agent.get("description") or "")),
            ("models", "\n".join(f"{role}: {', '.join(refs)}" for role, refs in models.items() if refs)),
            ("tools", ", ".join(agent.get("tools") or [])),
            # An unset limit (a cost budget, the output limit) takes the platform's or the model's default.
            ("limits", ", ".join(f"{name}={'default' if value is None else value}" for name, value in limits.items())),
            ("critic", _describe_critic(critic)),
            ("created", format_timestamp(agent.get("created_at"))),
            ("updated", format_timestamp(agent.get("updated_at"))),
            ("system prompt", str(agent.get("system_prompt") or "")),
        ]
    )
    return 0


def _describe_critic(critic: JsonObject) -> str:
    if not critic:
        return ""
    parts = [f"mode={critic.get('mode') or 'enforce'}"]
    for field in ("allow_imports", "forbid_imports", "allow_calls"):
        if critic.get(field):
            parts.append(f"{field}={','.join(critic[field])}")
    return ", ".join(parts)


def resolve_agent(api: ApiClient, reference: str) -> JsonObject:
    """The agent an id or a name refers to. Names are lower-case and ids are upper-case ULIDs, so they never clash."""
    if is_ulid(reference):
        return api.get(f"/v1/agents/{path_segment(reference)}")
    matches = api.get("/v1/agents", {"name": reference}).get("items") or []
    exact = [agent for agent in matches if agent.get("name") == reference]
    if not exact:
        raise ApiError(404, "not_found", f"no agent named {reference!r}")
    if len(exact) > 1:
        ids = ", ".join(str(agent.get("id")) for agent in exact)
        raise ApiError(409, "ambiguous_name", f"several agents are named {reference!r} ({ids}); use an id")
    return exact[0]


def resolve_agent_id(api: ApiClient, reference: str) -> str:
    return reference if is_ulid(reference) else str(resolve_agent(api, reference)["id"])
