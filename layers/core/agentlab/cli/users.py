"""`agentlab users` (people who sign in to the dashboard) and `agentlab keys` (API keys for programs)."""

from __future__ import annotations

import argparse

from agentlab.cli.arguments import SubParsers, add_command
from agentlab.cli.client import path_segment
from agentlab.cli.context import CommandContext
from agentlab.cli.listing import add_listing_options, fetch_listing, print_listing
from agentlab.cli.output import Column, JsonObject, format_timestamp

ROLES = ("admin", "operator", "member", "viewer")

MEMBER_COLUMNS = [
    Column("ID", lambda m: str(m.get("id", ""))),
    Column("EMAIL", lambda m: str(m.get("email", ""))),
    Column("ROLE", lambda m: str(m.get("role", ""))),
    Column("CREATED", lambda m: format_timestamp(m.get("created_at"))),
]
KEY_COLUMNS = [
    Column("ID", lambda k: str(k.get("id", ""))),
    Column("NAME", lambda k: str(k.get("name", ""))),
    Column("ROLE", lambda k: str(k.get("role", ""))),
    Column("PREFIX", lambda k: str(k.get("prefix", ""))),
    Column("LAST USED", lambda k: format_timestamp(k.get("last_used_at"))),
    Column("REVOKED", lambda k: "yes" if k.get("revoked") else ""),
]


def register(subparsers: SubParsers) -> None:
    users = subparsers.add_parser("users", help="people who sign in to the dashboard (admin)")
    commands = users.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = add_command(commands, "create", create_user, help="create a user; prints a generated password once")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--password", help="default: a generated one, printed once")
    add_listing_options(add_command(commands, "list", list_users, help="list the org's users"))
    role = add_command(commands, "set-role", set_role, help="change a user's role")
    role.add_argument("member_id", metavar="ID")
    role.add_argument("--role", required=True, choices=ROLES)
    remove = add_command(commands, "delete", delete_user, help="remove a user (their sessions end at once)")
    remove.add_argument("member_id", metavar="ID")

    keys = subparsers.add_parser("keys", help="API keys for programs (admin)")
    key_commands = keys.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create_key = add_command(key_commands, "create", create_api_key, help="create a key; prints it once")
    create_key.add_argument("--name", required=True)
    create_key.add_argument("--role", required=True, choices=ROLES)
    create_key.add_argument("--expires-at", help="ISO 8601 time with a zone, e.g. 2030-01-01T00:00:00Z")
    add_listing_options(add_command(key_commands, "list", list_api_keys, help="list keys (never the keys themselves)"))
    rotate = add_command(key_commands, "rotate", rotate_api_key, help="new secret for a key; the old one stops")
    rotate.add_argument("key_id", metavar="ID")
    revoke = add_command(key_commands, "revoke", revoke_api_key, help="revoke a key at once")
    revoke.add_argument("key_id", metavar="ID")


def create_user(args: argparse.Namespace, ctx: CommandContext) -> int:
    body = {"email": args.email, "role": args.role}
    if args.password:
        body["password"] = args.password
    created = ctx.api.post("/v1/members", body)
    if not _print_item(ctx, created, MEMBER_COLUMNS):
        return 0
    if created.get("password"):
        ctx.printer.line(f"password (shown once): {created['password']}")
    ctx.printer.line(f"sign in to the dashboard with {created.get('email')}")
    return 0


def list_users(args: argparse.Namespace, ctx: CommandContext) -> int:
    items, next_cursor = fetch_listing(ctx, "/v1/members", {}, args)
    print_listing(ctx, items, next_cursor, MEMBER_COLUMNS, empty="no users")
    return 0


def set_role(args: argparse.Namespace, ctx: CommandContext) -> int:
    response = ctx.api.request("PATCH", f"/v1/members/{path_segment(args.member_id)}", body={"role": args.role})
    _print_item(ctx, response.json(), MEMBER_COLUMNS)
    return 0


def delete_user(args: argparse.Namespace, ctx: CommandContext) -> int:
    ctx.api.request("DELETE", f"/v1/members/{path_segment(args.member_id)}")
    ctx.printer.line(f"deleted {args.member_id}")
    return 0


def _print_item(ctx: CommandContext, item: JsonObject, columns: list[Column]) -> bool:
    """Print one item as JSON or as a one-row table; True when it was a table (room for a note below it)."""
    if ctx.printer.json_mode:
        ctx.printer.json(item)
        return False
    ctx.printer.table([item], columns, empty="")
    return True


def _print_key(ctx: CommandContext, key: JsonObject) -> None:
    if _print_item(ctx, key, KEY_COLUMNS):
        ctx.printer.line(f"key (shown once): {key.get('key')}")


def create_api_key(args: argparse.Namespace, ctx: CommandContext) -> int:
    body = {"name": args.name, "role": args.role}
    if args.expires_at:
        body["expires_at"] = args.expires_at
    _print_key(ctx, ctx.api.post("/v1/api-keys", body))
    return 0


def list_api_keys(args: argparse.Namespace, ctx: CommandContext) -> int:
    items, next_cursor = fetch_listing(ctx, "/v1/api-keys", {}, args)
    print_listing(ctx, items, next_cursor, KEY_COLUMNS, empty="no keys")
    return 0


def rotate_api_key(args: argparse.Namespace, ctx: CommandContext) -> int:
    _print_key(ctx, ctx.api.post(f"/v1/api-keys/{path_segment(args.key_id)}/rotate"))
    return 0


def revoke_api_key(args: argparse.Namespace, ctx: CommandContext) -> int:
    ctx.api.request("DELETE", f"/v1/api-keys/{path_segment(args.key_id)}")
    ctx.printer.line(f"revoked {args.key_id}")
    return 0
