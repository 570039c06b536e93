"""The `agentlab` command: parses the command line, runs one command, maps failures to exit codes.

Exit codes: 0 ok, 1 API error (or a run that did not succeed), 2 usage error, 3 connection error, 4 auth error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from agentlab.cli import agents, configure, files, repos, runs, schedules, users
from agentlab.cli.arguments import global_options
from agentlab.cli.client import ClientFactory, build_http_client
from agentlab.cli.config import CliEnvironment
from agentlab.cli.context import CommandContext
from agentlab.cli.errors import EXIT_API_ERROR, EXIT_USAGE, CliError, UsageError
from agentlab.cli.output import Printer

EXIT_INTERRUPTED = 130
# Commands implemented elsewhere that receive every argument after their name untouched.
PASSTHROUGH_COMMANDS = ("dev",)
_GLOBAL_FLAGS_WITH_VALUE = ("--url", "--api-key")


@dataclass(frozen=True)
class Runtime:
    """What the CLI needs from the outside world; tests replace the HTTP transport, the clock and the streams."""

    client_factory: ClientFactory = build_http_client
    sleep: Callable[[float], None] = time.sleep
    stdout: TextIO | None = None
    stderr: TextIO | None = None
    home: Path | None = None
    cwd: Path | None = None


def main(argv: Sequence[str] | None = None, runtime: Runtime | None = None) -> int:
    runtime = runtime or Runtime()
    arguments = list(sys.argv[1:] if argv is None else argv)
    passthrough = split_passthrough(arguments)
    if passthrough is not None:
        return run_dev(passthrough[1], runtime)
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:
        return _exit_code(exc)
    return run_command(args, runtime)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentlab",
        description="Command-line client for an agentlab deployment.",
        epilog="exit codes: 0 ok, 1 API error, 2 usage error, 3 connection error, 4 auth error",
        parents=[global_options(inherited=False)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_installed_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    agents.register(commands)
    runs.register(commands)
    schedules.register(commands)
    repos.register(commands)
    files.register(commands)
    users.register(commands)
    configure.register(commands)
    # Listed for --help only: main() hands `dev` and its arguments over before argparse sees them.
    commands.add_parser("dev", help="start the local stack (API, dashboard, engine) on this machine", add_help=False)
    return parser


def split_passthrough(arguments: list[str]) -> tuple[str, list[str]] | None:
    """(command, its arguments) when the command is one implemented elsewhere, skipping leading global options."""
    index = 0
    with_value = tuple(f"{flag}=" for flag in _GLOBAL_FLAGS_WITH_VALUE)
    while index < len(arguments):
        argument = arguments[index]
        if argument in _GLOBAL_FLAGS_WITH_VALUE:
            index += 2
        elif argument == "--json" or argument.startswith(with_value):
            index += 1
        else:
            break
    if index < len(arguments) and arguments[index] in PASSTHROUGH_COMMANDS:
        return arguments[index], arguments[index + 1 :]
    return None


def run_dev(arguments: list[str], runtime: Runtime) -> int:
    stderr = runtime.stderr or sys.stderr
    try:
        from agentlab.local.dev import main as dev_main
    except ModuleNotFoundError as exc:
        missing = exc.name or "a module"
        hint = (
            "this installation has no local stack"
            if missing.startswith("agentlab")
            else "install the local extras: pip install 'agentlab[local]'"
        )
        print(f"error: `agentlab dev` cannot start: {missing} is not installed ({hint})", file=stderr)
        return EXIT_API_ERROR
    try:
        return dev_main(arguments)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def run_command(args: argparse.Namespace, runtime: Runtime) -> int:
    printer = Printer(runtime.stdout or sys.stdout, runtime.stderr or sys.stderr, json_mode=args.json)
    ctx = CommandContext(
        printer=printer,
        environment=CliEnvironment(),
        home=runtime.home or Path.home(),
        cwd=runtime.cwd or Path.cwd(),
        url_flag=args.url,
        api_key_flag=args.api_key,
        client_factory=runtime.client_factory,
        sleep=runtime.sleep,
    )
    try:
        exit_code: int = args.handler(args, ctx)
        return exit_code
    except UsageError as exc:
        printer.note(f"error: {exc}")
        return EXIT_USAGE
    except CliError as exc:
        printer.note(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        ctx.close()


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentlab")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
