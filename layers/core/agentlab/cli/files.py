"""`agentlab files upload`: register the file, send it straight to storage by presigned POST, then complete it."""

from __future__ import annotations

import argparse
import mimetypes
from pathlib import Path

from agentlab.cli.arguments import SubParsers, add_command
from agentlab.cli.client import ApiClient, path_segment
from agentlab.cli.context import CommandContext
from agentlab.cli.errors import ApiError, UsageError
from agentlab.cli.output import Column, JsonObject, Printer, format_size, format_timestamp

FALLBACK_CONTENT_TYPE = "application/octet-stream"

FILE_COLUMNS = [
    Column("ID", lambda file: str(file.get("id", ""))),
    Column("NAME", lambda file: str(file.get("name", ""))),
    Column("TYPE", lambda file: str(file.get("content_type", ""))),
    Column("SIZE", lambda file: format_size(file.get("size"))),
    Column("STATUS", lambda file: str(file.get("status", ""))),
    Column("CREATED", lambda file: format_timestamp(file.get("created_at"))),
]


def register(subparsers: SubParsers) -> None:
    files = subparsers.add_parser("files", help="upload files for runs")
    commands = files.add_subparsers(title="commands", metavar="COMMAND", required=True)
    upload = add_command(commands, "upload", upload_command, help="upload a file; prints its id")
    upload.add_argument("path", metavar="PATH", type=Path)
    upload.add_argument("--content-type", help="default: guessed from the extension (the server checks the content)")


def upload_command(args: argparse.Namespace, ctx: CommandContext) -> int:
    file = upload_file(ctx.api, ctx.printer, args.path, args.content_type)
    if ctx.printer.json_mode:
        ctx.printer.json(file)
    else:
        ctx.printer.table([file], FILE_COLUMNS, empty="")
    return 0


def guess_content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or FALLBACK_CONTENT_TYPE


def upload_file(api: ApiClient, printer: Printer, path: Path, content_type: str | None = None) -> JsonObject:
    size = _file_size(path)
    content_type = content_type or guess_content_type(path)
    printer.note(f"uploading {path.name} ({format_size(size)}, {content_type})")
    created = api.post("/v1/files", {"name": path.name, "content_type": content_type, "size": size})
    file, upload = created.get("file") or {}, created.get("upload") or {}
    if not file.get("id") or not upload.get("url"):
        raise ApiError(500, "invalid_response", "POST /v1/files answered without a file id or an upload URL")
    api.upload_presigned(str(upload["url"]), upload.get("fields") or {}, path, content_type)
    completed = api.post(f"/v1/files/{path_segment(str(file['id']))}/complete")
    if completed.get("status") == "rejected":
        raise ApiError(422, "file_rejected", f"{path.name} was rejected by the server")
    return completed


def _file_size(path: Path) -> int:
    try:
        if not path.exists():
            raise UsageError(f"no such file: {path}")
        if not path.is_file():
            raise UsageError(f"{path} is not a regular file")
        return path.stat().st_size
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
