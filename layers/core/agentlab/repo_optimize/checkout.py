"""Fetch one commit of a user's repository on the trusted side and turn its tree into a tarball.

Repository code never runs here: the commit is fetched shallow (depth 1) with dulwich, in-process, into a private
temporary bare repository, and the tarball is built from the commit's tree objects rather than from a checkout, so
hooks, filters, `.gitattributes`, submodules and LFS never act. Every stage is capped, because the repository is
the user's and may be hostile or just huge: the pack is cut off past `max_bytes` while it streams in; each object's
inflated size is read from the pack headers before dulwich inflates anything (a zlib bomb stays a small file); the
tree's file count and total size are checked before a blob is read; and a wall-clock deadline runs throughout.

The token travels only as HTTP basic auth (`x-access-token`, the GitHub convention), never in a URL, and every
message is built from the shown URL and scrubbed of the token, since errors end up in logs and API answers.
"""

from __future__ import annotations

import base64
import mmap
import os
import re
import stat
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, cast
from urllib.parse import quote, unquote, urlsplit

import urllib3.exceptions
from dulwich.client import FetchPackResult, GitClient, HttpGitClient, HTTPUnauthorized, LocalGitClient
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.objects import S_ISGITLINK, Blob, Commit, ObjectID, Tree
from dulwich.pack import Pack
from dulwich.repo import Repo
from pydantic import BaseModel, ConfigDict, Field

from agentlab.errors import AgentlabError
from agentlab.repo_optimize.tarball import ArchiveMember, pack_tarball, resolves_inside

CheckoutErrorCode = Literal[
    "repo_not_found", "ref_not_found", "repo_too_large", "checkout_timeout", "auth_failed", "checkout_failed"
]

_STATUS_BY_CODE: dict[str, int] = {
    "repo_not_found": 404,
    "ref_not_found": 404,
    "repo_too_large": 413,
    "checkout_timeout": 504,
    # 422, not 401: the user's session is fine, it is their repository token the remote refused.
    "auth_failed": 422,
    "checkout_failed": 422,
}
_TOKEN_USERNAME = "x-access-token"  # noqa: S105 - the fixed basic-auth user name of a token, not a secret
_HEAD = b"HEAD"
_BRANCH_PREFIX = b"refs/heads/"
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"
_LFS_POINTER_MAX_BYTES = 1024
# Git's own limits (core.maxTreeDepth, PATH_MAX for symlink targets): beyond them a tree is an attack, not a project.
_MAX_TREE_DEPTH = 1280
_MAX_SYMLINK_TARGET_BYTES = 4096
_MAX_PATH_BYTES = 4096
# A depth-1 pack holds one commit, its trees and its blobs; trees seldom outnumber files, so this bounds the count.
_PACK_OBJECTS_PER_FILE = 3
_PACK_HEADER = b"PACK"
_OFS_DELTA = 6
_REF_DELTA = 7
_SCAN_CHUNK_BYTES = 64 * 1024
_DELTA_HEADER_BYTES = 32
_BRANCHES_NAMED_IN_ERRORS = 10
# How git and hosting servers word the refusal of a want that is not an advertised tip (no allow-*-sha1-in-want).
_REFUSED_WANT_PHRASES = ("not our ref", "unadvertised object", "want not valid")

_WantsFunction = Callable[[Mapping[bytes, bytes], int | None], list[bytes]]


class CheckoutLimits(BaseModel):
    """Caps on one checkout; `max_bytes` bounds the fetched pack and, separately, the unpacked tree."""

    model_config = ConfigDict(frozen=True)

    max_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    max_files: int = Field(default=50_000, gt=0)
    timeout_s: float = Field(default=120, gt=0)


class CheckoutError(AgentlabError):
    """A checkout that did not happen, with a reason a person can act on; never carries the token."""

    status = 422
    code = "checkout_failed"

    def __init__(self, message: str, *, code: CheckoutErrorCode, details: dict[str, str] | None = None) -> None:
        super().__init__(message, code=code, details=dict(details or {}))
        self.status = _STATUS_BY_CODE[code]


class CheckedOut(BaseModel):
    """One commit's tree as a gzipped tarball, with what was left out of it and why."""

    model_config = ConfigDict(frozen=True)

    commit_sha: str
    branch: str | None
    tarball: bytes = Field(repr=False)
    files: int
    bytes: int
    skipped: list[str]


@dataclass(frozen=True)
class _Remote:
    client: GitClient
    path: str
    shown_url: str


class _Deadline:
    """The wall-clock budget of one call, checked from dulwich's callbacks and between objects."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._ends_at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self._ends_at:
            raise CheckoutError(
                f"the checkout took longer than {self._seconds:g} s and was stopped; the repository may be too "
                "large or the server too slow",
                code="checkout_timeout",
            )


def _refused_url(reason: str) -> CheckoutError:
    return CheckoutError(f"this repository URL is not accepted: {reason}", code="checkout_failed")


def _open_remote(url: str, *, token: str | None, allow_local: bool, timeout_s: float) -> _Remote:
    """The dulwich client for `url`; only https, or a local repository when the caller allows it."""
    if url.startswith("/") or url.lower().startswith("file:"):
        if not allow_local:
            raise _refused_url("local repositories are not accepted here; use an https:// URL")
        path = url
        if url.lower().startswith("file:"):
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise _refused_url("a file: URL must be file:///absolute/path")
            path = unquote(parts.path)
        if not os.path.isabs(path):
            raise _refused_url("a local repository must be given by its absolute path")
        return _Remote(LocalGitClient(), path, path)
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        raise _refused_url("only https:// URLs are accepted (not ssh, git:// or http://)")
    if parts.username is not None or parts.password is not None:
        raise _refused_url("credentials in the URL are not accepted; pass the token separately")
    if not parts.hostname:
        raise _refused_url("it has no host")
    if parts.query or parts.fragment:
        raise _refused_url("it must not carry a query or a fragment")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        raise _refused_url("its port is not a number") from None
    origin = f"https://{parts.hostname}{port}"
    client = HttpGitClient(
        origin,
        username=_TOKEN_USERNAME if token else None,
        password=token or None,
        timeout=timeout_s,
        thin_packs=False,
        quiet=True,
    )
    # A redirect is not followed: the host was checked to resolve to public addresses only, and a redirect could
    # point anywhere (a private address, another host) after that check.
    client.pool_manager = _NoRedirects(client.pool_manager)  # type: ignore[assignment]
    return _Remote(client, parts.path or "/", f"{origin}{parts.path}")


class _NoRedirects:
    """A urllib3 pool manager that answers a redirect as it is (dulwich then reports the unexpected status)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.headers = inner.headers

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        kwargs["redirect"] = False
        return self._inner.request(method, url, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _redact(text: str, token: str | None) -> str:
    """`text` without the token in any spelling a library might print it (raw, URL-quoted, basic-auth header)."""
    if not token:
        return text
    basic = base64.b64encode(f"{_TOKEN_USERNAME}:{token}".encode()).decode("ascii")
    for spelling in sorted({token, quote(token, safe=""), basic}, key=len, reverse=True):
        text = text.replace(spelling, "***")
    return text


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and its causes, following urllib3's `MaxRetryError.reason` as well as Python's chaining."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) else (seen.__cause__ or seen.__context__)
    return chain


def _caused_by_refused_connection(exc: BaseException) -> bool:
    return any(
        isinstance(seen, urllib3.exceptions.NewConnectionError | ConnectionRefusedError)
        for seen in _exception_chain(exc)
    )


def _caused_by_timeout(exc: BaseException) -> bool:
    """Whether a socket timed out somewhere down the chain (urllib3 nests the cause in `MaxRetryError.reason`).

    urllib3 makes a refused connection (`NewConnectionError`) a subclass of its connect timeout for compatibility,
    so it is told apart first: "connection refused" must not read as "too slow".
    """
    chain = _exception_chain(exc)
    if any(isinstance(seen, urllib3.exceptions.NewConnectionError) for seen in chain):
        return False
    return any(isinstance(seen, TimeoutError | urllib3.exceptions.TimeoutError) for seen in chain)


def _translate(exc: Exception, remote: _Remote, token: str | None) -> CheckoutError:
    """A library or network failure as a CheckoutError saying what to do; its text is scrubbed of the token."""
    if isinstance(exc, CheckoutError):
        return exc
    reason = _redact(f"{type(exc).__name__}: {exc}", token)
    details = {"reason": reason}
    shown = remote.shown_url
    if isinstance(exc, NotGitRepository):
        hint = "" if token else " (a private repository also needs a token)"
        return CheckoutError(f"no Git repository at {shown}: check the URL{hint}", code="repo_not_found")
    if isinstance(exc, HTTPUnauthorized) or "http resp 403" in str(exc):
        message = (
            f"the server refused the token for {shown}: check that it is valid and can read this repository"
            if token
            else f"{shown} needs a token (a private repository, or the URL is wrong)"
        )
        return CheckoutError(message, code="auth_failed", details=details)
    if _caused_by_refused_connection(exc):
        return CheckoutError(
            f"could not connect to {shown}: the server refused the connection or cannot be reached",
            code="checkout_failed",
            details=details,
        )
    if _caused_by_timeout(exc):
        return CheckoutError(f"{shown} did not answer in time", code="checkout_timeout", details=details)
    if isinstance(exc, GitProtocolError | HangupException | OSError | urllib3.exceptions.HTTPError):
        return CheckoutError(f"could not fetch {shown}: {reason}", code="checkout_failed", details=details)
    return CheckoutError(f"could not check out {shown}: {reason}", code="checkout_failed", details=details)


def default_branch(url: str, *, token: str | None = None, allow_local: bool = False, timeout_s: float = 30) -> str:
    """The remote's default branch, read from its HEAD symref, for a repository connected without naming one."""
    remote = _open_remote(url, token=token, allow_local=allow_local, timeout_s=timeout_s)
    try:
        answer = remote.client.get_refs(remote.path)  # type: ignore[arg-type]
    except Exception as exc:
        raise _translate(exc, remote, token) from None
    head = answer.symrefs.get(_HEAD)  # type: ignore[call-overload]
    if head is None or not head.startswith(_BRANCH_PREFIX):
        raise CheckoutError(
            f"{remote.shown_url} has no default branch (it may be empty); name a branch instead", code="ref_not_found"
        )
    return bytes(head[len(_BRANCH_PREFIX) :]).decode("utf-8", "replace")


@dataclass
class _Wanted:
    """What `determine_wants` chose from the advertised refs, kept for after the fetch."""

    ref: str | None
    sha: str | None
    shown_url: str
    commit_sha: str | None = None
    refs: dict[bytes, bytes] = field(default_factory=dict)

    def __call__(self, refs: Mapping[bytes, bytes], depth: int | None = None) -> list[bytes]:
        self.refs = {name: value for name, value in refs.items() if value is not None}
        if self.ref is not None:
            name = self.ref.encode("utf-8")
            tip = self.refs.get(name if name.startswith(_BRANCH_PREFIX) else _BRANCH_PREFIX + name)
            if tip is None:
                branches = sorted(n[len(_BRANCH_PREFIX) :].decode("utf-8", "replace") for n in self._branch_names())
                listed = ", ".join(branches[:_BRANCHES_NAMED_IN_ERRORS]) or "none"
                raise CheckoutError(
                    f"branch {self.ref!r} not found in {self.shown_url} (branches: {listed})", code="ref_not_found"
                )
            self.commit_sha = self.sha or tip.decode("ascii")
        elif self.sha is not None:
            self.commit_sha = self.sha
        else:
            head = self.refs.get(_HEAD)
            if head is None:
                raise CheckoutError(
                    f"{self.shown_url} has no commit on its default branch (it may be empty)", code="ref_not_found"
                )
            self.commit_sha = head.decode("ascii")
        return [self.commit_sha.encode("ascii")]

    def _branch_names(self) -> list[bytes]:
        return [name for name in self.refs if name.startswith(_BRANCH_PREFIX)]

    def tips_for_full_fetch(self, refs: Mapping[bytes, bytes], depth: int | None = None) -> list[bytes]:
        """For a server that refuses a want by SHA: the branch tips whose history may hold the commit."""
        self.refs = {name: value for name, value in refs.items() if value is not None}
        if self.ref is not None:
            self(refs)
            name = self.ref.encode("utf-8")
            return [self.refs[name if name.startswith(_BRANCH_PREFIX) else _BRANCH_PREFIX + name]]
        return sorted({self.refs[name] for name in self._branch_names()})


class _CappedPackWriter:
    """Receives the pack as it streams in, stopping the fetch once it passes the size cap or the deadline."""

    def __init__(self, target: BinaryIO, limits: CheckoutLimits, deadline: _Deadline) -> None:
        self._target = target
        self._limits = limits
        self._deadline = deadline
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if self.written > self._limits.max_bytes:
            raise CheckoutError(
                f"the repository's pack is larger than {self._limits.max_bytes} bytes, the checkout limit",
                code="repo_too_large",
            )
        self._deadline.check()
        return self._target.write(data)

    def progress(self, _message: bytes) -> None:
        self._deadline.check()


def _read_varint(data: mmap.mmap, position: int) -> tuple[int, int, int]:
    """An object header: (type, size, next position), the size in git's little-endian 7-bit groups."""
    byte = data[position]
    type_number, size, shift = (byte >> 4) & 7, byte & 0x0F, 4
    position += 1
    while byte & 0x80:
        byte = data[position]
        size |= (byte & 0x7F) << shift
        shift += 7
        position += 1
    return type_number, size, position


def _delta_target_size(head: bytes) -> int:
    """The result size of a delta, its second size field (the first is the base's)."""
    values: list[int] = []
    value, shift = 0, 0
    for byte in head:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            values.append(value)
            value, shift = 0, 0
            if len(values) == 2:
                return values[1]
    raise CheckoutError("the server sent a malformed pack (a truncated delta)", code="checkout_failed")


def _too_large_object(max_bytes: int) -> CheckoutError:
    return CheckoutError(
        f"the repository holds an object larger than {max_bytes} bytes once unpacked, the checkout limit",
        code="repo_too_large",
    )


def _scan_pack_sizes(
    pack_file: BinaryIO, *, hash_size: int, limits: CheckoutLimits, deadline: _Deadline
) -> dict[int, int]:
    """Each object's inflated size by its offset, read before dulwich indexes (and so inflates) the pack.

    A small pack can inflate to gigabytes; dulwich holds each object whole while indexing. Reading only the headers
    (and a delta's first bytes) and inflating into nothing but a length bounds memory whatever the pack holds.
    """
    sizes: dict[int, int] = {}
    fileno = pack_file.fileno()
    if os.fstat(fileno).st_size < 12:
        raise CheckoutError("the server sent a truncated pack", code="checkout_failed")
    with mmap.mmap(fileno, 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != _PACK_HEADER:
            raise CheckoutError("the server did not send a Git pack", code="checkout_failed")
        count = int.from_bytes(data[8:12], "big")
        if count > limits.max_files * _PACK_OBJECTS_PER_FILE:
            raise CheckoutError(
                f"the repository has more than {limits.max_files} files, the checkout limit", code="repo_too_large"
            )
        position = 12
        try:
            for _ in range(count):
                deadline.check()
                offset = position
                type_number, size, position = _read_varint(data, position)
                if type_number == _OFS_DELTA:
                    while data[position] & 0x80:
                        position += 1
                    position += 1
                elif type_number == _REF_DELTA:
                    position += hash_size
                if size > limits.max_bytes:
                    raise _too_large_object(limits.max_bytes)
                head, position = _inflate_length(data, position, declared=size, deadline=deadline)
                result_size = _delta_target_size(head) if type_number in (_OFS_DELTA, _REF_DELTA) else size
                if result_size > limits.max_bytes:
                    raise _too_large_object(limits.max_bytes)
                sizes[offset] = result_size
        except IndexError:
            raise CheckoutError("the server sent a truncated pack", code="checkout_failed") from None
    return sizes


def _inflate_length(data: mmap.mmap, position: int, *, declared: int, deadline: _Deadline) -> tuple[bytes, int]:
    """Inflate one zlib stream to find where it ends, keeping only its first bytes; (head, position after it)."""
    inflater = zlib.decompressobj()
    head = b""
    produced = 0
    pending = b""
    while not inflater.eof:
        if not pending:
            pending = data[position : position + _SCAN_CHUNK_BYTES]
            position += len(pending)
            if not pending:
                raise CheckoutError("the server sent a truncated pack", code="checkout_failed")
        try:
            out = inflater.decompress(pending, _SCAN_CHUNK_BYTES)
        except zlib.error:
            raise CheckoutError("the server sent a corrupt pack", code="checkout_failed") from None
        pending = inflater.unconsumed_tail
        produced += len(out)
        if produced > declared:
            raise CheckoutError(
                "the server sent a corrupt pack (an object larger than declared)", code="checkout_failed"
            )
        if len(head) < _DELTA_HEADER_BYTES:
            head += out[: _DELTA_HEADER_BYTES - len(head)]
        deadline.check()
    return head, position - len(inflater.unused_data)


def _fetch_pack_into(
    repo: Repo,
    remote: _Remote,
    wants: _WantsFunction,
    *,
    depth: int | None,
    limits: CheckoutLimits,
    deadline: _Deadline,
) -> tuple[FetchPackResult, dict[bytes, int]]:
    """One fetch into `repo`, capped; the result and the inflated size of every object it brought, by hex SHA."""
    pack_file, commit_pack, abort_pack = repo.object_store.add_pack()
    writer = _CappedPackWriter(pack_file, limits, deadline)
    try:
        result = remote.client.fetch_pack(
            remote.path,
            wants,  # type: ignore[arg-type]
            repo.get_graph_walker(),
            writer.write,
            progress=writer.progress,
            depth=depth,
        )
        pack_file.flush()
        sizes_by_offset = (
            _scan_pack_sizes(pack_file, hash_size=repo.object_format.oid_length, limits=limits, deadline=deadline)
            if writer.written
            else {}
        )
    except BaseException:
        abort_pack()
        raise
    # add_pack() declares its commit callback as returning None, but it returns the Pack it completed.
    pack = cast("Pack | None", commit_pack())
    repo.update_shallow(result.new_shallow, result.new_unshallow)
    sizes: dict[bytes, int] = {}
    if pack is not None:
        for raw_sha, offset, _crc in pack.index.iterentries():
            if offset in sizes_by_offset:
                sizes[raw_sha.hex().encode("ascii")] = sizes_by_offset[offset]
    return result, sizes


@dataclass
class _TreeListing:
    """The commit's tree flattened: what will go into the tarball, and what will not."""

    files: dict[str, tuple[bytes, bool]] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _entry_name(raw: bytes, prefix: str, listing: _TreeListing) -> str | None:
    """The entry's path, or None (noted as skipped) for names a hostile tree could use against the unpacker."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        listing.skipped.append(f"{prefix}{raw.decode('utf-8', 'replace')} (name is not UTF-8)")
        return None
    if name in ("", ".", "..") or "/" in name or "\x00" in name or name.lower() == ".git":
        listing.skipped.append(f"{prefix}{name} (name not allowed in a working tree)")
        return None
    path = f"{prefix}{name}"
    if len(path.encode("utf-8")) > _MAX_PATH_BYTES:
        listing.skipped.append(f"{path[:80]}... (path too long)")
        return None
    return path


def _list_tree(repo: Repo, tree_sha: bytes, limits: CheckoutLimits, deadline: _Deadline) -> _TreeListing:
    """Walk the tree objects (no blob read except symlink targets), stopping at the file cap."""
    listing = _TreeListing()
    pending: list[tuple[str, bytes, int]] = [("", tree_sha, 0)]
    while pending:
        deadline.check()
        prefix, sha, depth = pending.pop()
        if depth > _MAX_TREE_DEPTH:
            raise CheckoutError(
                f"the repository's tree is deeper than {_MAX_TREE_DEPTH} levels", code="checkout_failed"
            )
        tree = repo.object_store[ObjectID(sha)]
        if not isinstance(tree, Tree):
            raise CheckoutError("the fetched commit has a malformed tree", code="checkout_failed")
        for item in tree.iteritems():
            path = _entry_name(item.path, prefix, listing)
            if path is None or path in listing.files or path in listing.symlinks:
                continue
            mode = item.mode
            if S_ISGITLINK(mode):
                listing.skipped.append(f"{path} (submodule, not fetched)")
            elif stat.S_ISDIR(mode):
                pending.append((f"{path}/", item.sha, depth + 1))
            elif stat.S_ISLNK(mode):
                target = _symlink_target(repo, item.sha)
                if target is None:
                    listing.skipped.append(f"{path} (symlink with an unreadable target)")
                else:
                    listing.symlinks[path] = target
            elif stat.S_ISREG(mode):
                listing.files[path] = (item.sha, bool(mode & 0o111))
            else:
                listing.skipped.append(f"{path} (unsupported entry type {mode:o})")
            if len(listing.files) + len(listing.symlinks) > limits.max_files:
                raise CheckoutError(
                    f"the repository has more than {limits.max_files} files, the checkout limit", code="repo_too_large"
                )
    escaping = {path for path in listing.symlinks if not resolves_inside(path, listing.symlinks)}
    listing.skipped.extend(f"{path} (symlink pointing outside the repository)" for path in sorted(escaping))
    listing.symlinks = {path: target for path, target in listing.symlinks.items() if path not in escaping}
    return listing


def _symlink_target(repo: Repo, sha: bytes) -> str | None:
    blob = repo.object_store[ObjectID(sha)]
    if not isinstance(blob, Blob) or len(blob.data) > _MAX_SYMLINK_TARGET_BYTES or b"\x00" in blob.data:
        return None
    try:
        return blob.data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _blob_size(repo: Repo, sha: bytes, sizes: dict[bytes, int]) -> int:
    known = sizes.get(sha)
    if known is not None:
        return known
    return len(repo.object_store[ObjectID(sha)].as_raw_string())


def _blob_reader(repo: Repo, sha: bytes, deadline: _Deadline) -> Callable[[], bytes]:
    def read() -> bytes:
        deadline.check()
        blob = repo.object_store[ObjectID(sha)]
        if not isinstance(blob, Blob):
            raise CheckoutError("the repository's tree names a file that is not a blob", code="checkout_failed")
        return blob.data

    return read


def _archive_members(
    repo: Repo, listing: _TreeListing, sizes: dict[bytes, int], limits: CheckoutLimits, deadline: _Deadline
) -> tuple[list[ArchiveMember], int]:
    """The tarball's members and their total size, refused when the tree is over the size cap."""
    total = 0
    members: list[ArchiveMember] = []
    for path, (sha, executable) in listing.files.items():
        size = _blob_size(repo, sha, sizes)
        total += size
        if total > limits.max_bytes:
            raise CheckoutError(
                f"the repository's files add up to more than {limits.max_bytes} bytes, the checkout limit",
                code="repo_too_large",
            )
        if size <= _LFS_POINTER_MAX_BYTES and _blob_reader(repo, sha, deadline)().startswith(_LFS_POINTER_PREFIX):
            listing.skipped.append(f"{path} (Git LFS pointer; the large file itself is not fetched)")
        members.append(ArchiveMember(path, "file", _blob_reader(repo, sha, deadline), executable))
    for path, target in listing.symlinks.items():
        encoded = target.encode("utf-8")
        total += len(encoded)
        members.append(ArchiveMember(path, "symlink", lambda encoded=encoded: encoded))  # type: ignore[misc]
    return members, total


def _fetch_commit(
    repo: Repo, remote: _Remote, wanted: _Wanted, limits: CheckoutLimits, deadline: _Deadline
) -> tuple[Commit, FetchPackResult, dict[bytes, int]]:
    """Fetch the wanted commit at depth 1; for a server that refuses a SHA it does not advertise, the branch history."""
    try:
        result, sizes = _fetch_pack_into(repo, remote, wanted, depth=1, limits=limits, deadline=deadline)
    except (GitProtocolError, KeyError) as exc:
        refused_want = any(phrase in str(exc).lower() for phrase in _REFUSED_WANT_PHRASES)
        if wanted.sha is None or not wanted.refs or not (refused_want or isinstance(exc, KeyError)):
            raise
        if isinstance(exc, KeyError):
            raise CheckoutError(f"commit {wanted.sha} not found in {remote.shown_url}", code="ref_not_found") from None
        result, sizes = _fetch_pack_into(
            repo, remote, wanted.tips_for_full_fetch, depth=None, limits=limits, deadline=deadline
        )
    assert wanted.commit_sha is not None
    try:
        commit = repo.object_store[ObjectID(wanted.commit_sha.encode("ascii"))]
    except KeyError:
        commit = None
    if not isinstance(commit, Commit):
        raise CheckoutError(f"commit {wanted.commit_sha} not found in {remote.shown_url}", code="ref_not_found")
    return commit, result, sizes


def _branch_of(wanted: _Wanted, result: FetchPackResult) -> str | None:
    if wanted.ref is not None:
        name = wanted.ref.encode("utf-8")
        return (name[len(_BRANCH_PREFIX) :] if name.startswith(_BRANCH_PREFIX) else name).decode("utf-8")
    if wanted.sha is not None:
        return None
    head = result.symrefs.get(_HEAD)  # type: ignore[call-overload]
    if head is None or not head.startswith(_BRANCH_PREFIX):
        return None
    return bytes(head[len(_BRANCH_PREFIX) :]).decode("utf-8", "replace")


def fetch_repository(
    url: str,
    *,
    ref: str | None = None,
    sha: str | None = None,
    token: str | None = None,
    limits: CheckoutLimits = CheckoutLimits(),  # noqa: B008 - frozen, so one shared default is safe
    allow_local: bool = False,
) -> CheckedOut:
    """Fetch one commit (a branch's head, the default branch's, or `sha`) and pack its tree as a tarball.

    Works in a private temporary directory removed afterwards; raises CheckoutError with one of the codes
    'repo_not_found', 'ref_not_found', 'repo_too_large', 'checkout_timeout', 'auth_failed', 'checkout_failed'.
    """
    if sha is not None and not _FULL_SHA.fullmatch(sha.lower()):
        raise CheckoutError(f"{sha!r} is not a full 40-character commit SHA", code="checkout_failed")
    deadline = _Deadline(limits.timeout_s)
    remote = _open_remote(url, token=token, allow_local=allow_local, timeout_s=limits.timeout_s)
    wanted = _Wanted(ref=ref, sha=sha.lower() if sha else None, shown_url=remote.shown_url)
    try:
        with tempfile.TemporaryDirectory(prefix="agentlab-checkout-") as workdir:
            repo = Repo.init_bare(workdir)
            try:
                commit, result, sizes = _fetch_commit(repo, remote, wanted, limits, deadline)
                listing = _list_tree(repo, commit.tree, limits, deadline)
                members, total = _archive_members(repo, listing, sizes, limits, deadline)
                tarball = pack_tarball(members, mtime=commit.commit_time)
            finally:
                repo.close()
    except Exception as exc:
        raise _translate(exc, remote, token) from None
    return CheckedOut(
        commit_sha=commit.id.decode("ascii"),
        branch=_branch_of(wanted, result),
        tarball=tarball,
        files=len(members),
        bytes=total,
        skipped=sorted(listing.skipped),
    )
