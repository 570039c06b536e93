"""`agentlab configure`: save the URL and API key to the config file, or show where the current ones come from."""

from __future__ import annotations

import argparse
from typing import Any

from agentlab.cli.arguments import SubParsers, add_command
from agentlab.cli.config import config_file_path, normalize_url, read_config_file, write_config_file
from agentlab.cli.context import CommandContext
from agentlab.cli.errors import UsageError


def register(subparsers: SubParsers) -> None:
    add_command(
        subparsers,
        "configure",
        configure,
        help="save --url and --api-key to the config file (no flags: show the current settings)",
        description="Save --url and/or --api-key to $XDG_CONFIG_HOME/agentlab/config.json (mode 0600). "
        "Without flags, show which URL and key source the CLI would use.",
    )


def configure(args: argparse.Namespace, ctx: CommandContext) -> int:
    if args.url is None and args.api_key is None:
        return show_configuration(ctx)
    path = config_file_path(ctx.environment, ctx.home)
    content = _existing_content(ctx, path)
    saved = []
    if args.url is not None:
        content["url"] = normalize_url(args.url)
        saved.append("url")
    if args.api_key is not None:
        if not args.api_key.strip():
            raise UsageError("the API key is empty")
        content["api_key"] = args.api_key.strip()
        saved.append("API key")
    write_config_file(path, content)
    ctx.printer.line(f"saved {' and '.join(saved)} to {path} (readable by you only)")
    return 0


def show_configuration(ctx: CommandContext) -> int:
    config = ctx.config
    if ctx.printer.json_mode:
        ctx.printer.json(
            {"url": config.url, "api_key_source": config.key_source, "config_path": str(config.config_path)}
        )
        return 0
    ctx.printer.fields(
        [
            ("url", config.url),
            ("api key", f"set (from {config.key_source})" if config.key_source else "not set"),
            ("config file", str(config.config_path)),
        ]
    )
    return 0


def _existing_content(ctx: CommandContext, path: Any) -> dict[str, Any]:
    try:
        return read_config_file(path)
    except UsageError as exc:
        ctx.printer.note(f"{exc}; writing a new one")
        return {}
