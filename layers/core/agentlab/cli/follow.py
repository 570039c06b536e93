"""Watching a run live: poll for new steps, print each once, keep a one-line status on the terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from agentlab.cli.client import ApiClient, path_segment
from agentlab.cli.errors import EXIT_API_ERROR, EXIT_OK
from agentlab.cli.output import (
    Column,
    JsonObject,
    Printer,
    count_of,
    describe_cost,
    format_size,
    format_tokens,
    usage_tokens,
)
from agentlab.cli.steps import INDENT, format_step, preview_notes

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "budget_exceeded"})
EXIT_INTERRUPTED = 130
STEPS_PAGE_SIZE = 100
SPINNER_TICKS_PER_POLL = 5

ARTIFACT_COLUMNS = [
    Column("NAME", lambda artifact: str(artifact.get("name", ""))),
    Column("TYPE", lambda artifact: str(artifact.get("content_type", ""))),
    Column("SIZE", lambda artifact: format_size(artifact.get("size"))),
    Column("URL", lambda artifact: str(artifact.get("url") or "")),
]


@dataclass(frozen=True)
class FollowOptions:
    interval_s: float = 0.5
    max_lines: int | None = 40


class StatusLine:
    """A spinner with the run's status and meters, redrawn in place on stderr; only on a terminal."""

    UNICODE_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    ASCII_FRAMES = "|/-\\"

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self._stream = stream
        self._enabled = enabled
        self._text = ""
        self._frame = 0
        self._drawn = False
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        self._frames = self.UNICODE_FRAMES if encoding.startswith("utf") else self.ASCII_FRAMES

    def update(self, run: JsonObject) -> None:
        self._text = describe_progress(run)
        self._draw()

    def tick(self) -> None:
        self._frame += 1
        self._draw()

    def clear(self) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()
            self._drawn = False

    def _draw(self) -> None:
        if not self._enabled or not self._text:
            return
        frame = self._frames[self._frame % len(self._frames)]
        self._stream.write(f"\r\x1b[2K{frame} {self._text}")
        self._stream.flush()
        self._drawn = True


def describe_progress(run: JsonObject) -> str:
    usage = run.get("usage") or {}
    return " · ".join(
        [
            str(run.get("status", "?")),
            count_of(usage.get("steps"), "step"),
            f"{format_tokens(usage_tokens(usage))} tokens",
            describe_cost(usage),
        ]
    )


def follow_run(
    api: ApiClient,
    printer: Printer,
    run_id: str,
    *,
    sleep: Callable[[float], None],
    options: FollowOptions,
) -> int:
    """Prints steps until the run ends; 0 when it succeeded, 1 when it ended any other way."""
    status_line = StatusLine(printer.stderr, enabled=not printer.json_mode and printer.stderr.isatty())
    tracker = _RunTracker(api, printer, run_id, status_line, options)
    try:
        run = tracker.poll()
        while run.get("status") not in TERMINAL_STATUSES:
            _wait(status_line, sleep, options.interval_s)
            run = tracker.poll()
    except KeyboardInterrupt:
        status_line.clear()
        printer.note(f"stopped following; run {run_id} goes on (`agentlab runs cancel {run_id}` stops it)")
        return EXIT_INTERRUPTED
    finally:
        status_line.clear()
    artifacts = list(api.paginate(f"/v1/runs/{path_segment(run_id)}/artifacts"))
    print_outcome(printer, run, artifacts)
    return EXIT_OK if run.get("status") == "succeeded" else EXIT_API_ERROR


class _RunTracker:
    def __init__(
        self, api: ApiClient, printer: Printer, run_id: str, status_line: StatusLine, options: FollowOptions
    ) -> None:
        self._api = api
        self._printer = printer
        self._run_path = f"/v1/runs/{path_segment(run_id)}"
        self._run_id = run_id
        self._status_line = status_line
        self._options = options
        self._last_seq: int | None = None
        self._last_status: str | None = None

    def poll(self) -> JsonObject:
        # The run is read before its steps, so once it shows a terminal status every step is already listed.
        run = self._api.get(self._run_path)
        for step in self._new_steps():
            self._status_line.clear()
            self._print_step(step)
        self._announce_status(run)
        self._status_line.update(run)
        return run

    def _new_steps(self) -> Iterator[JsonObject]:
        while True:
            page = self._api.get(f"{self._run_path}/steps", {"after": self._last_seq, "limit": STEPS_PAGE_SIZE})
            items = [step for step in page.get("items") or [] if self._is_new(step)]
            for step in items:
                self._last_seq = int(step["seq"])
                yield step
            if not items or len(page.get("items") or []) < STEPS_PAGE_SIZE:
                return

    def _is_new(self, step: JsonObject) -> bool:
        return self._last_seq is None or int(step["seq"]) > self._last_seq

    def _print_step(self, step: JsonObject) -> None:
        if self._printer.json_mode:
            self._printer.json(step, compact=True)
            return
        for text in format_step(step, max_lines=self._options.max_lines):
            self._printer.line(text)

    def _announce_status(self, run: JsonObject) -> None:
        status = str(run.get("status"))
        if status == self._last_status:
            return
        self._last_status = status
        if self._printer.json_mode:
            return
        self._status_line.clear()
        if status == "waiting_approval":
            self._printer.note(
                f"run {self._run_id} waits for approval: `agentlab runs approve {self._run_id}` "
                f"or `agentlab runs reject {self._run_id} --comment TEXT`"
            )
        elif not self._printer.stderr.isatty():
            self._printer.note(f"status: {status}")


def _wait(status_line: StatusLine, sleep: Callable[[float], None], interval_s: float) -> None:
    # Sleep in slices so the spinner keeps turning between polls.
    for _ in range(SPINNER_TICKS_PER_POLL):
        sleep(interval_s / SPINNER_TICKS_PER_POLL)
        status_line.tick()


def print_outcome(printer: Printer, run: JsonObject, artifacts: list[JsonObject]) -> None:
    if printer.json_mode:
        printer.json({"run": run, "artifacts": artifacts}, compact=True)
        return
    usage = run.get("usage") or {}
    summary = [
        f"run {run.get('id')} {run.get('status')}",
        count_of(usage.get("steps"), "step"),
        f"{format_tokens(usage_tokens(usage))} tokens",
        describe_cost(usage),
    ]
    elapsed = _elapsed(run)
    if elapsed:
        summary.append(elapsed)
    printer.line("── " + " · ".join(summary))
    error = run.get("error")
    if error:
        printer.line(f"error: {error.get('code')}: {error.get('message')}")
    if run.get("result"):
        printer.line("result:")
        for text in str(run["result"]).splitlines():
            printer.line(f"{INDENT}{text}")
        for note in preview_notes({"result": run.get("result_full")}):
            printer.line(note)
    if artifacts:
        printer.line("artifacts:")
        printer.table(artifacts, ARTIFACT_COLUMNS, empty="")


def _elapsed(run: JsonObject) -> str:
    try:
        started = datetime.fromisoformat(str(run["started_at"]))
        ended = datetime.fromisoformat(str(run["ended_at"]))
    except (KeyError, ValueError, TypeError):
        return ""
    return f"{(ended - started).total_seconds():.1f} s"
