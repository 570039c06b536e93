"""Decide what a file really is from its bytes."""

from __future__ import annotations

import csv
import io
import json

TEXT_TYPES = ("text/plain", "text/csv", "application/json")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class Rejected(ValueError):
    """The content is not an accepted type; the message says why in words a user understands."""


def image_type(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


_KNOWN_FORMATS = {
    b"%PDF": "a PDF document",
    b"\x7fELF": "an ELF executable",
    b"MZ": "a Windows executable",
    b"PK\x03\x04": "a ZIP archive",
    b"\x1f\x8b": "a gzip archive",
    b"#!": "a script",
}


def _known_format(data: bytes) -> str | None:
    """Formats that are never accepted, even where their bytes happen to be text (a PDF, a shell script)."""
    return next((name for magic, name in _KNOWN_FORMATS.items() if data.startswith(magic)), None)


def _describe_binary(data: bytes) -> str:
    return _known_format(data) or "binary data"


def _as_text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    return None if controls > max(2, len(text) // 1000) else text


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if not lines:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t|")
    except csv.Error:
        return len(lines) >= 1 and "," not in text and len(lines[0]) < 200
    rows = list(csv.reader(io.StringIO("\n".join(lines)), dialect))
    widths = {len(row) for row in rows}
    return len(widths) == 1 and rows[0] is not None and len(rows[0]) >= 2


def _refuse_non_json_constant(name: str) -> float:
    # Python's parser accepts NaN and Infinity, which JSON does not have; other parsers would refuse the file.
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def sniff_content_type(data: bytes, declared: str) -> str:
    """The accepted content type of `data` (which may differ from the declared one for images), or Rejected."""
    if not data:
        raise Rejected("the file is empty")
    image = image_type(data)
    if image:
        if declared not in IMAGE_TYPES:
            raise Rejected(f"the file was declared {declared} but contains an image ({image})")
        return image
    known = _known_format(data)
    if known:
        raise Rejected(
            f"the file was declared {declared} but contains {known}; accepted types are "
            "PNG, JPEG, WebP, GIF, CSV, plain text and JSON"
        )
    text = _as_text(data)
    if text is None:
        raise Rejected(
            f"the file was declared {declared} but contains {_describe_binary(data)}; accepted types are "
            "PNG, JPEG, WebP, GIF, CSV, plain text and JSON"
        )
    if declared in IMAGE_TYPES:
        raise Rejected(f"the file was declared {declared} but contains text, not an image")
    if declared == "application/json":
        try:
            json.loads(text, parse_constant=_refuse_non_json_constant)
        except json.JSONDecodeError as exc:
            raise Rejected(f"the file was declared application/json but is not valid JSON ({exc.msg})") from exc
        return "application/json"
    if declared == "text/csv":
        if not _looks_like_csv(text):
            raise Rejected("the file was declared text/csv but its rows do not have a consistent column structure")
        return "text/csv"
    return "text/plain"
