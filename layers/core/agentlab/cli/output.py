"""What the CLI prints: aligned tables and key/value blocks for people, raw API JSON with `--json`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[JsonObject], str]
    max_width: int | None = None


class Printer:
    """Results go to stdout; notes and progress go to stderr so `--json` output stays parseable."""

    def __init__(self, stdout: TextIO, stderr: TextIO, *, json_mode: bool) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.json_mode = json_mode

    def line(self, text: str = "") -> None:
        print(text, file=self.stdout, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.stderr, flush=True)

    def json(self, content: Any, *, compact: bool = False) -> None:
        if compact:
            self.line(json.dumps(content, separators=(",", ":"), ensure_ascii=False))
        else:
            self.line(json.dumps(content, indent=2, ensure_ascii=False))

    def table(self, rows: Sequence[JsonObject], columns: Sequence[Column], *, empty: str) -> None:
        if not rows:
            self.line(empty)
            return
        for text in render_table(rows, columns):
            self.line(text)

    def fields(self, pairs: Iterable[tuple[str, str]]) -> None:
        visible = [(label, value) for label, value in pairs if value != ""]
        width = max((len(label) for label, _ in visible), default=0)
        for label, value in visible:
            first, *rest = value.splitlines() or [""]
            self.line(f"{label + ':':<{width + 1}} {first}")
            for continuation in rest:
                self.line(f"{'':<{width + 1}} {continuation}")


def render_table(rows: Sequence[JsonObject], columns: Sequence[Column]) -> list[str]:
    cells = [[truncate(one_line(column.value(row)), column.max_width) for column in columns] for row in rows]
    widths = [max(len(column.header), *(len(row[index]) for row in cells)) for index, column in enumerate(columns)]
    lines = [_join([column.header for column in columns], widths)]
    lines.extend(_join(row, widths) for row in cells)
    return lines


def _join(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def one_line(text: str) -> str:
    return " ".join(text.split())


def truncate(text: str, max_width: int | None) -> str:
    if max_width is None or len(text) <= max_width:
        return text
    return text[: max_width - 1] + "…"


def format_timestamp(value: str | None) -> str:
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    offset = parsed.utcoffset()
    zone = "Z" if offset is not None and not offset else ""
    return parsed.strftime("%Y-%m-%d %H:%M:%S") + zone


def count_of(count: int | None, noun: str) -> str:
    count = int(count or 0)
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def format_cost(value: float | int | None) -> str:
    return f"${float(value or 0):.4f}"


def cost_is_known(record: JsonObject | None) -> bool:
    """A run's usage or a step: its cost is unknown once a model without a price took part."""
    return (record or {}).get("cost_known") is not False


def describe_cost(record: JsonObject | None) -> str:
    """The cost of a run's usage or a step; an unknown one says so, with what the priced models cost as a floor."""
    cost = float((record or {}).get("cost_usd") or 0)
    if cost_is_known(record):
        return format_cost(cost)
    known = f"; ≥ {format_cost(cost)}" if cost else ""
    return f"cost unknown (unpriced model{known})"


def table_cost(record: JsonObject | None) -> str:
    """`describe_cost` for a COST column, where the header already says what the figure is."""
    cost = float((record or {}).get("cost_usd") or 0)
    if cost_is_known(record):
        return format_cost(cost)
    return f"unknown (≥ {format_cost(cost)})" if cost else "unknown"


def format_tokens(value: int | None) -> str:
    return f"{int(value or 0):,}"


def format_duration_ms(value: int | float | None) -> str:
    if not value:
        return ""
    seconds = float(value) / 1000
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"


def format_size(size: int | None) -> str:
    amount = float(size or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def usage_tokens(usage: JsonObject | None) -> int:
    usage = usage or {}
    return int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
