"""Options shared by every command, accepted both before and after the command name."""

from __future__ import annotations

import argparse
from typing import Any

from agentlab.cli.context import CommandHandler

SubParsers = Any  # argparse's _SubParsersAction is private; its type is not part of the public API.


def global_options(*, inherited: bool) -> argparse.ArgumentParser:
    """The shared options; on subcommands their defaults are suppressed so they never undo a value set earlier."""
    parser = argparse.ArgumentParser(add_help=False)
    default: Any = argparse.SUPPRESS if inherited else None
    parser.add_argument("--url", default=default, help="agentlab API URL (env AGENTLAB_URL; default from config file)")
    parser.add_argument("--api-key", default=default, help="API key (env AGENTLAB_API_KEY; default from config file)")
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if inherited else False,
        help="print the API's JSON instead of tables",
    )
    return parser


def add_command(
    subparsers: SubParsers, name: str, handler: CommandHandler, *, help: str, description: str | None = None
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=description or help, parents=[global_options(inherited=True)]
    )
    parser.set_defaults(handler=handler)
    return parser


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of at least 0")
    return value
