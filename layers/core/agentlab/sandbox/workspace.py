"""Workspace file access from the host side, safe against a sandbox that plants symlinks, FIFOs or deep trees.

Every path is walked one component at a time from the workspace's own directory descriptor with O_NOFOLLOW, so a
symlink anywhere on the way is refused rather than followed out of the workspace, even by a process running as root.
"""

from __future__ import annotations

import errno
import hashlib
import mimetypes
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agentlab.sandbox.errors import SandboxPathRefused
from agentlab.sandbox.models import WorkspaceFile

INPUTS_DIR = "inputs"
MAX_LISTED_FILES = 10_000
HASH_CHUNK_BYTES = 1024 * 1024
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
REFUSED_ERRNOS = (errno.ELOOP, errno.ENOTDIR, errno.ENXIO)


@dataclass(frozen=True)
class FileStamp:
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int


Snapshot = dict[str, FileStamp]


def split_workspace_path(path: str) -> list[str]:
    """The components of a path relative to the workspace; absolute paths and .. are refused."""
    if not path or "\x00" in path:
        raise SandboxPathRefused(f"invalid workspace path {path!r}")
    if path.startswith("/"):
        raise SandboxPathRefused(f"absolute path {path!r} refused: paths are relative to the workspace")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts:
        raise SandboxPathRefused(f"path {path!r} names the workspace itself, not a file")
    if ".." in parts:
        raise SandboxPathRefused(f"path {path!r} refused: .. would leave the workspace")
    return parts


@contextmanager
def workspace_directory(
    workspace: Path, parts: list[str], *, create: bool = False, owner: tuple[int, int] | None = None
) -> Iterator[int]:
    """A descriptor of the directory at parts under the workspace, created (and chowned) on the way if asked."""
    fd = os.open(workspace, DIRECTORY_FLAGS)
    try:
        for part in parts:
            next_fd = _open_child_directory(fd, part, create=create, owner=owner)
            os.close(fd)
            fd = next_fd
        yield fd
    finally:
        os.close(fd)


def _open_child_directory(parent_fd: int, name: str, *, create: bool, owner: tuple[int, int] | None) -> int:
    try:
        return os.open(name, DIRECTORY_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            raise
    except OSError as exc:
        if exc.errno in REFUSED_ERRNOS:
            raise SandboxPathRefused(f"{name!r} is a symlink or not a directory") from exc
        raise
    os.mkdir(name, 0o755, dir_fd=parent_fd)
    if owner is not None:
        os.chown(name, *owner, dir_fd=parent_fd, follow_symlinks=False)
    return os.open(name, DIRECTORY_FLAGS, dir_fd=parent_fd)


def _open_regular_file(dir_fd: int, name: str, flags: int, mode: int = 0o644) -> int:
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in REFUSED_ERRNOS:
            raise SandboxPathRefused(f"{name!r} is a symlink or not a regular file") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SandboxPathRefused(f"{name!r} is not a regular file")
    return fd


def read_workspace_file(workspace: Path, path: str) -> bytes:
    parts = split_workspace_path(path)
    with workspace_directory(workspace, parts[:-1]) as dir_fd:
        fd = _open_regular_file(dir_fd, parts[-1], os.O_RDONLY)
    with os.fdopen(fd, "rb") as file:
        return file.read()


def write_workspace_file(workspace: Path, path: str, data: bytes, owner: tuple[int, int] | None = None) -> None:
    parts = split_workspace_path(path)
    with workspace_directory(workspace, parts[:-1], create=True, owner=owner) as dir_fd:
        fd = _open_regular_file(dir_fd, parts[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "wb") as file:
        if owner is not None:
            os.fchown(file.fileno(), *owner)
        file.write(data)


def snapshot_workspace(workspace: Path, *, skip_inputs: bool) -> Snapshot:
    """Regular files under the workspace (symlinks are not followed nor listed), up to MAX_LISTED_FILES entries."""
    found: Snapshot = {}
    pending = [""]
    visited = 0
    while pending and visited < MAX_LISTED_FILES:
        relative_dir = pending.pop()
        try:
            entries = list(os.scandir(workspace / relative_dir if relative_dir else workspace))
        except OSError:
            continue
        for entry in sorted(entries, key=lambda item: item.name):
            visited += 1
            if visited > MAX_LISTED_FILES:
                break
            relative = f"{relative_dir}/{entry.name}" if relative_dir else entry.name
            if skip_inputs and relative == INPUTS_DIR:
                continue
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                pending.append(relative)
            elif stat.S_ISREG(info.st_mode):
                found[relative] = FileStamp(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
    return found


def changed_paths(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(path for path, stamp in after.items() if before.get(path) != stamp)


def describe_workspace_file(workspace: Path, path: str) -> WorkspaceFile | None:
    """Size, hash and type of one file; None when it vanished or turned into something else meanwhile."""
    parts = split_workspace_path(path)
    try:
        with workspace_directory(workspace, parts[:-1]) as dir_fd:
            fd = _open_regular_file(dir_fd, parts[-1], os.O_RDONLY)
    except (OSError, SandboxPathRefused):
        return None
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "rb") as file:
        while chunk := file.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return WorkspaceFile(path=path, size=size, sha256=digest.hexdigest(), content_type=content_type)


def describe_workspace_files(workspace: Path, paths: list[str]) -> list[WorkspaceFile]:
    described = (describe_workspace_file(workspace, path) for path in paths)
    return [file for file in described if file is not None]
