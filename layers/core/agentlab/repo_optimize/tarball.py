"""A repository's working tree as a gzipped tarball: packed deterministically, unpacked as a hostile archive.

The tarball travels from the trusted checkout to a sandbox workspace through S3, so whoever unpacks it must not
trust it: a tampered object or a bug upstream must not write outside the workspace, fill the disk or plant a device
node. Unpacking therefore validates every header in a first pass (nothing is written if any entry is refused),
then extracts with `tarfile`'s `data` filter and re-checks every symlink on disk once everything is in place.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentlab.errors import AgentlabError

TarballErrorCode = Literal["invalid_archive", "unsafe_archive", "archive_too_large"]

_STATUS_BY_CODE: dict[str, int] = {"invalid_archive": 422, "unsafe_archive": 422, "archive_too_large": 413}
# Headers, PAX records and block padding on top of the members' own bytes; a stream past this allowance is a bomb.
_ARCHIVE_OVERHEAD_PER_ENTRY = 4096
_ARCHIVE_OVERHEAD_FIXED = 1024 * 1024
# The Linux limits a path must fit, checked here so a refusal names the entry instead of surfacing as an OSError.
_MAX_PATH_BYTES = 4096
_MAX_SYMLINK_HOPS = 40
_FILE_MODE = 0o644
_EXECUTABLE_MODE = 0o755
_SYMLINK_MODE = 0o777


class TarballError(AgentlabError):
    """An archive that cannot be unpacked safely: malformed, hostile or over the caps."""

    status = 422
    code = "unsafe_archive"

    def __init__(self, message: str, *, code: TarballErrorCode) -> None:
        super().__init__(message, code=code)
        self.status = _STATUS_BY_CODE[code]


@dataclass(frozen=True)
class ArchiveMember:
    """One entry of a tree to pack: a regular file (its bytes) or a symlink (its target), read only when packed."""

    path: str
    kind: Literal["file", "symlink"]
    read: Callable[[], bytes]
    executable: bool = False


def resolves_inside(link_path: str, symlink_targets: dict[str, str]) -> bool:
    """Whether the symlink at `link_path` resolves inside the tree, following the tree's own symlinks.

    A lexical check is not enough: with `up -> .`, the target `up/..` normalises to `.` yet resolves to the parent
    of the tree. So each component is walked the way the kernel would, substituting symlinks met on the way;
    going above the root, an absolute target or a loop counts as escaping.
    """
    resolved: list[str] = link_path.split("/")[:-1]
    pending: list[str] = list(reversed(symlink_targets[link_path].split("/")))
    if symlink_targets[link_path].startswith("/"):
        return False
    hops = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return False
            resolved.pop()
            continue
        resolved.append(part)
        target = symlink_targets.get("/".join(resolved))
        if target is None:
            continue
        hops += 1
        if hops > _MAX_SYMLINK_HOPS or target.startswith("/"):
            return False
        resolved.pop()
        pending.extend(reversed(target.split("/")))
    return True


def pack_tarball(members: Iterable[ArchiveMember], *, mtime: int) -> bytes:
    """A gzipped tar of `members`, byte-for-byte the same for the same tree and time.

    Sorted paths, one fixed mtime (the commit's), owner 0:0 without names, fixed modes and a gzip header without a
    file name or a wall-clock time: two checkouts of one commit give one tarball, so its digest identifies the tree.
    """
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=mtime) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as archive,
    ):
        for member in sorted(members, key=lambda entry: entry.path.encode("utf-8")):
            info = tarfile.TarInfo(member.path)
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            content = member.read()
            if member.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = content.decode("utf-8")
                info.mode = _SYMLINK_MODE
                archive.addfile(info)
            else:
                info.type = tarfile.REGTYPE
                info.size = len(content)
                info.mode = _EXECUTABLE_MODE if member.executable else _FILE_MODE
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class _CappedStream(io.RawIOBase):
    """The decompressed archive, cut off past `limit` bytes so headers and padding cannot inflate without end."""

    def __init__(self, source: gzip.GzipFile, limit: int) -> None:
        self._source = source
        self._remaining = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._source.read(min(len(buffer), self._remaining + 1))
        self._remaining -= len(chunk)
        if self._remaining < 0:
            raise TarballError("the archive decompresses to more than its caps allow", code="archive_too_large")
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _open_stream(data: bytes, *, max_bytes: int, max_files: int) -> tarfile.TarFile:
    limit = max_bytes + (max_files + 1) * _ARCHIVE_OVERHEAD_PER_ENTRY + _ARCHIVE_OVERHEAD_FIXED
    capped = io.BufferedReader(_CappedStream(gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb"), limit))
    return tarfile.open(fileobj=capped, mode="r|", encoding="utf-8", errors="strict")


def _normalised_name(member: tarfile.TarInfo) -> str:
    """The member's relative path, or TarballError: absolute paths, `..`, NUL and over-long names are refused."""
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    parts = name.split("/")
    if not name or name.startswith("/") or "\x00" in name:
        raise TarballError(f"the archive entry {member.name!r} has an absolute or empty path", code="unsafe_archive")
    if any(part in ("", ".", "..") for part in parts):
        raise TarballError(f"the archive entry {member.name!r} leaves its directory", code="unsafe_archive")
    if len(name.encode("utf-8", "surrogateescape")) > _MAX_PATH_BYTES:
        raise TarballError(f"the archive entry {name[:80]!r}... has a path too long to write", code="unsafe_archive")
    return name


def _validated_members(data: bytes, *, max_bytes: int, max_files: int) -> dict[str, tarfile.TarInfo]:
    """Every entry checked before anything is written: types, paths, caps, and where each symlink leads."""
    members: dict[str, tarfile.TarInfo] = {}
    symlink_targets: dict[str, str] = {}
    total_bytes = 0
    with _reading_errors(), _open_stream(data, max_bytes=max_bytes, max_files=max_files) as archive:
        for member in archive:
            name = _normalised_name(member)
            if not (member.isreg() or member.isdir() or member.issym()):
                kind = "hard link" if member.islnk() else "device, fifo or other special entry"
                raise TarballError(
                    f"the archive entry {name!r} is a {kind}, which is not accepted", code="unsafe_archive"
                )
            if name in members:
                raise TarballError(f"the archive holds {name!r} twice", code="unsafe_archive")
            if len(members) + 1 > max_files:
                raise TarballError(f"the archive holds more than {max_files} entries", code="archive_too_large")
            total_bytes += member.size if member.isreg() else 0
            if total_bytes > max_bytes:
                raise TarballError(
                    f"the archive's files add up to more than {max_bytes} bytes", code="archive_too_large"
                )
            if member.issym():
                symlink_targets[name] = member.linkname
            members[name] = member
    for link_path in symlink_targets:
        if not resolves_inside(link_path, symlink_targets):
            raise TarballError(f"the symlink {link_path!r} points outside the archive", code="unsafe_archive")
    for name, member in members.items():
        _refuse_entries_under(name, member, members)
    return members


def _refuse_entries_under(name: str, member: tarfile.TarInfo, members: dict[str, tarfile.TarInfo]) -> None:
    """Entries listed later than a file or link that sits on their path would write through it: refused."""
    prefix = name.split("/")
    for depth in range(1, len(prefix)):
        parent = members.get("/".join(prefix[:depth]))
        if parent is not None and not parent.isdir():
            raise TarballError(
                f"the archive entry {member.name!r} goes through {parent.name!r}, which is not a directory",
                code="unsafe_archive",
            )


@contextmanager
def _reading_errors() -> Iterator[None]:
    """Malformed gzip or tar data becomes TarballError('invalid_archive') rather than a library exception."""
    try:
        yield
    except TarballError:
        raise
    except (tarfile.TarError, OSError, EOFError, UnicodeError, ValueError) as exc:
        raise TarballError(f"the archive cannot be read: {exc}", code="invalid_archive") from exc


def _accepted_entries(
    data: bytes, members: dict[str, tarfile.TarInfo], *, max_bytes: int, max_files: int
) -> Iterator[tuple[str, tarfile.TarInfo, tarfile.TarFile]]:
    """The archive read a second time, yielding only the entries the first pass validated, in archive order."""
    with _reading_errors(), _open_stream(data, max_bytes=max_bytes, max_files=max_files) as archive:
        for member in archive:
            name = _normalised_name(member)
            if members.get(name) is None or members[name].offset != member.offset:
                raise TarballError("the archive changed between its two readings", code="invalid_archive")
            yield name, member, archive


def unpack_tarball(data: bytes, destination: Path, *, max_bytes: int, max_files: int) -> int:
    """Unpack a gzipped tar into `destination` (an existing directory); the number of files and symlinks written.

    Refused before anything is written: absolute paths, `..`, hard links, devices and fifos, duplicate entries,
    entries under a file or symlink, symlinks leading outside, more than `max_files` entries or `max_bytes` bytes.
    While writing, a path whose parent on disk is a symlink is refused too (the destination may not be empty).
    """
    if not destination.is_dir():
        raise TarballError(f"the destination {destination} is not a directory", code="invalid_archive")
    root = os.path.realpath(destination)
    members = _validated_members(data, max_bytes=max_bytes, max_files=max_files)
    written: list[str] = []
    for name, member, archive in _accepted_entries(data, members, max_bytes=max_bytes, max_files=max_files):
        _refuse_symlinked_parents(root, name)
        member.name = name
        try:
            archive.extract(member, path=root, set_attrs=not member.issym(), filter="data")
        except tarfile.FilterError as exc:
            raise TarballError(f"the archive entry {name!r} was refused: {exc}", code="unsafe_archive") from exc
        if not member.isdir():
            written.append(name)
    _remove_escaping_symlinks(root, [name for name in written if members[name].issym()])
    return len(written)


def _refuse_symlinked_parents(root: str, name: str) -> None:
    current = root
    for part in name.split("/")[:-1]:
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise TarballError(f"the archive entry {name!r} would be written through a symlink", code="unsafe_archive")
    if os.path.islink(os.path.join(root, name)):
        raise TarballError(f"the archive entry {name!r} would replace a symlink", code="unsafe_archive")


def _remove_escaping_symlinks(root: str, links: list[str]) -> None:
    """A last look on disk, where every link now exists: one that resolves outside is removed and reported."""
    escaping = [
        link for link in links if os.path.commonpath([root, os.path.realpath(os.path.join(root, link))]) != root
    ]
    for link in escaping:
        os.unlink(os.path.join(root, link))
    if escaping:
        raise TarballError(f"the symlink {escaping[0]!r} resolves outside the destination", code="unsafe_archive")


def write_tarball_into(
    session_put_file: Callable[[str, bytes], None], data: bytes, *, prefix: str, max_bytes: int, max_files: int
) -> tuple[int, list[str]]:
    """Write a gzipped tar's files through `session_put_file(path, bytes)`: the count and the executable paths.

    For a workspace reached only through a put-file call, which carries neither modes nor links: the caller sets
    the returned paths executable itself, and symlinks are left out. The archive is validated as for
    `unpack_tarball` before the first file is sent; each path is `prefix/<entry>`.
    """
    members = _validated_members(data, max_bytes=max_bytes, max_files=max_files)
    base = prefix.rstrip("/")
    written = 0
    executables: list[str] = []
    for name, member, archive in _accepted_entries(data, members, max_bytes=max_bytes, max_files=max_files):
        if not member.isreg():
            continue
        content = archive.extractfile(member)
        if content is None:
            raise TarballError(f"the archive entry {name!r} has no content", code="invalid_archive")
        path = f"{base}/{name}"
        session_put_file(path, content.read())
        written += 1
        if member.mode & 0o100:
            executables.append(path)
    return written, executables
