"""List commands: one page by default, every page with `--all`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from agentlab.cli.arguments import positive_int
from agentlab.cli.context import CommandContext
from agentlab.cli.output import Column, JsonObject


def add_listing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=positive_int, help="items per page")
    parser.add_argument("--cursor", help="continue from the cursor a previous page returned")
    parser.add_argument("--all", action="store_true", help="follow cursors until every item is listed")


def fetch_listing(
    ctx: CommandContext, path: str, filters: dict[str, Any], args: argparse.Namespace
) -> tuple[list[JsonObject], str | None]:
    if args.all:
        return list(ctx.api.paginate(path, filters, page_size=args.limit)), None
    page = ctx.api.get(path, {**filters, "limit": args.limit, "cursor": args.cursor})
    return list(page.get("items") or []), page.get("next_cursor")


def print_listing(
    ctx: CommandContext,
    items: list[JsonObject],
    next_cursor: str | None,
    columns: Sequence[Column],
    *,
    empty: str,
) -> None:
    if ctx.printer.json_mode:
        ctx.printer.json({"items": items, "next_cursor": next_cursor})
        return
    ctx.printer.table(items, columns, empty=empty)
    if next_cursor:
        ctx.printer.note(f"more results: add --cursor {next_cursor} or --all")
