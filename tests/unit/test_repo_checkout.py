"""Checkout of real repositories made with dulwich in tmp_path: what is fetched, what is refused, what is left out."""

from __future__ import annotations

import io
import os
import socket
import stat
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from dulwich import porcelain
from dulwich.client import FetchPackResult, LocalGitClient
from dulwich.errors import GitProtocolError
from dulwich.objects import S_IFGITLINK, Blob, Commit, ObjectID, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo

from agentlab.repo_optimize import checkout
from agentlab.repo_optimize.checkout import (
    CheckedOut,
    CheckoutError,
    CheckoutLimits,
    default_branch,
    fetch_repository,
)

AUTHOR = b"Dev <dev@example.com>"
COMMIT_TIME = 1_700_000_000
TOKEN = "ghp_TopSecretToken1234567890"


def _commit(path: Path, files: Mapping[str, bytes], message: str, *, timestamp: int = COMMIT_TIME) -> str:
    """Write `files` into the working tree at `path`, stage them and commit; the new commit's SHA."""
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    porcelain.add(str(path), paths=[str(path / name) for name in files])
    sha = porcelain.commit(
        str(path),
        message=message.encode(),
        author=AUTHOR,
        committer=AUTHOR,
        author_timestamp=timestamp,
        commit_timestamp=timestamp,
        author_timezone=0,
        commit_timezone=0,
    )
    return sha.decode()


def _new_repo(path: Path) -> Path:
    repo = porcelain.init(str(path))
    repo.refs.set_symbolic_ref(Ref(b"HEAD"), Ref(b"refs/heads/main"))
    repo.close()
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A non-bare repository on `main` with an executable, a nested module, and two commits."""
    path = _new_repo(tmp_path / "source")
    _commit(path, {"README.md": b"old\n", "pkg/mod.py": b"x = 1\n"}, "first", timestamp=COMMIT_TIME - 100)
    script = path / "run.sh"
    script.write_bytes(b"#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    _commit(path, {"README.md": b"new\n"}, "second")
    porcelain.add(str(path), paths=[str(script)])
    _commit(path, {}, "third")
    return path


@pytest.fixture
def bare(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bare.git"
    porcelain.clone(str(source), str(target), bare=True, errstream=io.BytesIO()).close()
    return target


def _members(result: CheckedOut) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(result.tarball), mode="r:gz") as archive:
        return {member.name: member for member in archive.getmembers()}


def _contents(result: CheckedOut, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(result.tarball), mode="r:gz") as archive:
        extracted = archive.extractfile(name)
        assert extracted is not None
        return extracted.read()


def _head(path: Path, ref: bytes = b"HEAD") -> str:
    with Repo(str(path)) as repo:
        return repo.refs[Ref(ref)].decode()


def test_default_branch_head_of_a_non_bare_repository(source: Path) -> None:
    result = fetch_repository(str(source), allow_local=True)

    assert result.commit_sha == _head(source)
    assert result.branch == "main"
    members = _members(result)
    assert sorted(members) == ["README.md", "pkg/mod.py", "run.sh"]
    assert _contents(result, "README.md") == b"new\n"
    assert members["run.sh"].mode == 0o755
    assert members["README.md"].mode == 0o644
    assert {m.mtime for m in members.values()} == {COMMIT_TIME}
    assert result.files == 3
    assert result.bytes == len(b"new\n") + len(b"x = 1\n") + len(b"#!/bin/sh\necho hi\n")
    assert result.skipped == []


def test_the_tarball_holds_no_git_directory_and_is_the_same_bytes_twice(source: Path) -> None:
    first = fetch_repository(str(source), allow_local=True)
    second = fetch_repository(f"file://{source}", allow_local=True)

    assert first.tarball == second.tarball
    assert not any(name == ".git" or name.startswith(".git/") for name in _members(first))


def test_fetch_by_branch_from_a_bare_repository(source: Path, bare: Path) -> None:
    with Repo(str(bare)) as repo:
        repo.refs[Ref(b"refs/heads/feature")] = repo.refs[Ref(b"HEAD")]
    feature_tip = _commit_directly(bare, b"refs/heads/feature", {b"feature.txt": b"only on feature\n"})

    result = fetch_repository(str(bare), ref="feature", allow_local=True)

    assert result.commit_sha == feature_tip
    assert result.branch == "feature"
    assert _contents(result, "feature.txt") == b"only on feature\n"
    assert fetch_repository(str(bare), allow_local=True).commit_sha == _head(source)


def test_fetch_by_sha_of_an_older_commit(source: Path) -> None:
    with Repo(str(source)) as repo:
        first = [entry.commit.id for entry in repo.get_walker()][-1].decode()

    result = fetch_repository(str(source), sha=first.upper(), allow_local=True)

    assert result.commit_sha == first
    assert result.branch is None
    assert sorted(_members(result)) == ["README.md", "pkg/mod.py"]
    assert _contents(result, "README.md") == b"old\n"


def test_fetch_by_sha_falls_back_to_the_history_when_the_server_refuses_a_sha_want(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class TipsOnlyServer(LocalGitClient):
        """Like a server without allow-reachable-sha1-in-want: only advertised tips may be asked for."""

        def fetch_pack(self, path: Any, determine_wants: Any, *args: Any, **kwargs: Any) -> FetchPackResult:
            def tips_only(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
                wants: list[ObjectID] = determine_wants(refs, depth)
                if any(want not in refs.values() for want in wants):
                    raise GitProtocolError("upload-pack: not our ref")
                return wants

            return super().fetch_pack(path, tips_only, *args, **kwargs)

    with Repo(str(source)) as repo:
        first = [entry.commit.id for entry in repo.get_walker()][-1].decode()
    monkeypatch.setattr(checkout, "_open_remote", lambda url, **_: checkout._Remote(TipsOnlyServer(), url, url))

    result = fetch_repository(str(source), sha=first, allow_local=True)

    assert result.commit_sha == first
    assert _contents(result, "README.md") == b"old\n"


def test_default_branch_reads_the_remote_head(source: Path, bare: Path) -> None:
    assert default_branch(str(source), allow_local=True) == "main"
    assert default_branch(f"file://{bare}", allow_local=True) == "main"


def test_a_missing_repository_is_repo_not_found(tmp_path: Path) -> None:
    for call in (
        lambda: fetch_repository(str(tmp_path / "nowhere"), allow_local=True),
        lambda: default_branch(str(tmp_path / "nowhere"), allow_local=True),
    ):
        with pytest.raises(CheckoutError) as caught:
            call()
        assert caught.value.code == "repo_not_found"
        assert caught.value.status == 404


def test_an_unknown_branch_or_commit_is_ref_not_found(source: Path) -> None:
    with pytest.raises(CheckoutError) as branch:
        fetch_repository(str(source), ref="nope", allow_local=True)
    with pytest.raises(CheckoutError) as commit:
        fetch_repository(str(source), sha="0123456789abcdef0123456789abcdef01234567", allow_local=True)

    assert branch.value.code == commit.value.code == "ref_not_found"
    assert "branches: main" in branch.value.message


def test_a_sha_that_is_not_forty_hex_is_refused(source: Path) -> None:
    with pytest.raises(CheckoutError) as caught:
        fetch_repository(str(source), sha="abc123", allow_local=True)

    assert caught.value.code == "checkout_failed"
    assert "40-character" in caught.value.message


def test_an_empty_repository_has_no_default_branch(tmp_path: Path) -> None:
    empty = _new_repo(tmp_path / "empty")

    with pytest.raises(CheckoutError) as fetched:
        fetch_repository(str(empty), allow_local=True)
    with pytest.raises(CheckoutError) as asked:
        default_branch(str(empty), allow_local=True)

    assert fetched.value.code == asked.value.code == "ref_not_found"


def test_a_pack_over_the_size_cap_is_repo_too_large(tmp_path: Path) -> None:
    path = _new_repo(tmp_path / "big")
    _commit(path, {"random.bin": os.urandom(100_000)}, "big")

    with pytest.raises(CheckoutError) as caught:
        fetch_repository(str(path), limits=CheckoutLimits(max_bytes=50_000), allow_local=True)

    assert caught.value.code == "repo_too_large"
    assert caught.value.status == 413
    assert "pack" in caught.value.message


def test_a_small_pack_that_inflates_over_the_cap_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    path = _new_repo(tmp_path / "bomb")
    _commit(path, {"zeros.bin": bytes(3_000_000)}, "compressible")

    with pytest.raises(CheckoutError) as caught:
        fetch_repository(str(path), limits=CheckoutLimits(max_bytes=1_000_000), allow_local=True)

    assert caught.value.code == "repo_too_large"
    assert "unpacked" in caught.value.message


def test_a_tree_whose_files_add_up_over_the_cap_is_repo_too_large(tmp_path: Path) -> None:
    path = _new_repo(tmp_path / "sum")
    _commit(path, {f"part{index}.txt": bytes([65 + index]) * 400_000 for index in range(3)}, "parts")

    with pytest.raises(CheckoutError) as caught:
        fetch_repository(str(path), limits=CheckoutLimits(max_bytes=1_000_000), allow_local=True)

    assert caught.value.code == "repo_too_large"
    assert "files add up" in caught.value.message
    assert fetch_repository(str(path), limits=CheckoutLimits(max_bytes=1_300_000), allow_local=True).files == 3


def test_more_files_than_the_cap_is_repo_too_large(source: Path) -> None:
    with pytest.raises(CheckoutError) as caught:
        fetch_repository(str(source), limits=CheckoutLimits(max_files=2), allow_local=True)

    assert caught.value.code == "repo_too_large"
    assert fetch_repository(str(source), limits=CheckoutLimits(max_files=3), allow_local=True).files == 3


def test_the_deadline_stops_a_checkout(source: Path) -> None:
    with pytest.raises(CheckoutError) as caught:
        fetch_repository(str(source), limits=CheckoutLimits(timeout_s=1e-9), allow_local=True)

    assert caught.value.code == "checkout_timeout"


def test_symlinks_leading_outside_are_skipped_and_listed(tmp_path: Path) -> None:
    # Given links written as tree objects (a working tree would let `sneaky` drag its target's files in)
    path = _new_repo(tmp_path / "links")
    links = {b"alias.py": b"real.py", b"passwd": b"../../etc/passwd", b"up": b".", b"sneaky": b"up/.."}
    entries: dict[bytes, bytes | tuple[int, bytes]] = {b"real.py": b"real\n"}
    with Repo(str(path)) as repo:
        for name, target in links.items():
            blob = Blob.from_string(target)
            repo.object_store.add_object(blob)
            entries[name] = (stat.S_IFLNK, blob.id)
    _commit_directly(path, b"refs/heads/main", entries)

    result = fetch_repository(str(path), allow_local=True)

    members = _members(result)
    assert sorted(members) == ["alias.py", "real.py", "up"]
    assert members["alias.py"].issym()
    assert members["alias.py"].linkname == "real.py"
    assert result.skipped == [
        "passwd (symlink pointing outside the repository)",
        "sneaky (symlink pointing outside the repository)",
    ]


def _commit_directly(path: Path, ref: bytes, entries: Mapping[bytes, bytes | tuple[int, bytes]]) -> str:
    """A commit built from objects, for trees porcelain would not write (gitlinks, hostile names)."""
    with Repo(str(path)) as repo:
        tree = Tree()
        for name, value in entries.items():
            if isinstance(value, tuple):
                tree.add(name, value[0], ObjectID(value[1]))
            else:
                blob = Blob.from_string(value)
                repo.object_store.add_object(blob)
                tree.add(name, stat.S_IFREG | 0o644, blob.id)
        repo.object_store.add_object(tree)
        commit = Commit()
        commit.tree = tree.id
        commit.author = commit.committer = AUTHOR
        commit.author_time = commit.commit_time = COMMIT_TIME
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = b"built from objects\n"
        repo.object_store.add_object(commit)
        repo.refs[Ref(ref)] = commit.id
        return commit.id.decode()


def test_submodules_hostile_names_and_lfs_pointers_are_noted(tmp_path: Path) -> None:
    path = _new_repo(tmp_path / "odd")
    lfs_pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 123\n"
    dot_git = Tree()
    hook = Blob.from_string(b"#!/bin/sh\nrm -rf /\n")
    dot_git.add(b"config", stat.S_IFREG | 0o644, hook.id)
    with Repo(str(path)) as repo:
        repo.object_store.add_object(hook)
        repo.object_store.add_object(dot_git)
    _commit_directly(
        path,
        b"refs/heads/main",
        {
            b"vendor": (S_IFGITLINK, b"1" * 40),
            b".git": (stat.S_IFDIR, dot_git.id),
            b"model.bin": lfs_pointer,
            b"main.py": b"print('ok')\n",
        },
    )

    result = fetch_repository(str(path), allow_local=True)

    assert sorted(_members(result)) == ["main.py", "model.bin"]
    assert result.skipped == [
        ".git (name not allowed in a working tree)",
        "model.bin (Git LFS pointer; the large file itself is not fetched)",
        "vendor (submodule, not fetched)",
    ]


@pytest.mark.parametrize("url_form", ["plain", "file"])
def test_local_repositories_are_refused_unless_allowed(source: Path, url_form: str) -> None:
    url = str(source) if url_form == "plain" else f"file://{source}"

    with pytest.raises(CheckoutError) as caught:
        fetch_repository(url)

    assert caught.value.code == "checkout_failed"
    assert "local repositories are not accepted" in caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "ssh://git@example.com/o/r.git",
        "git@example.com:o/r.git",
        "git://example.com/o/r.git",
        "http://example.com/o/r.git",
        "relative/path",
        "https://user:secret@example.com/o/r.git",
        "file://otherhost/srv/r.git",
    ],
)
def test_other_transports_and_credentials_in_urls_are_refused(url: str) -> None:
    with pytest.raises(CheckoutError) as caught:
        fetch_repository(url, allow_local=True)

    assert caught.value.code == "checkout_failed"
    assert caught.value.message.startswith("this repository URL is not accepted")
    assert "secret" not in str(caught.value)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_token_never_appears_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    url = f"https://127.0.0.1:{_closed_port()}/owner/repo.git"

    for call in (
        lambda: fetch_repository(url, token=TOKEN, limits=CheckoutLimits(timeout_s=5)),
        lambda: default_branch(url, token=TOKEN, timeout_s=5),
    ):
        with pytest.raises(CheckoutError) as caught:
            call()
        error = caught.value
        assert error.code == "checkout_failed"
        assert "could not connect" in error.message
        assert TOKEN not in str(error)
        assert TOKEN not in error.message
        assert TOKEN not in repr(error.details)
        assert error.__cause__ is None


def test_redaction_covers_every_spelling_of_the_token() -> None:
    header = "eC1hY2Nlc3MtdG9rZW46Z2hwX1RvcFNlY3JldFRva2VuMTIzNDU2Nzg5MA=="

    redacted = checkout._redact(f"token {TOKEN} header Basic {header}", TOKEN)

    assert redacted == "token *** header Basic ***"


def test_the_tarball_stays_out_of_the_repr(source: Path) -> None:
    result = fetch_repository(str(source), allow_local=True)

    assert "tarball" not in repr(result)
    assert result.commit_sha in repr(result)


def test_an_https_remote_never_follows_a_redirect() -> None:
    from agentlab.repo_optimize.checkout import _NoRedirects, _open_remote

    class Recorder:
        headers = {"User-Agent": "git/dulwich"}

        def __init__(self) -> None:
            self.calls: list[dict[str, object]] = []

        def request(self, method: str, url: str, **kwargs: object) -> str:
            self.calls.append({"method": method, "url": url, **kwargs})
            return "answered"

    remote = _open_remote("https://example.com/o/r.git", token="t0ken", allow_local=False, timeout_s=5)
    manager = remote.client.pool_manager  # type: ignore[attr-defined]
    assert isinstance(manager, _NoRedirects)
    recorder = Recorder()
    wrapped = _NoRedirects(recorder)
    assert wrapped.request("GET", "https://example.com/o/r.git/info/refs", headers={}) == "answered"
    assert recorder.calls == [
        {"method": "GET", "url": "https://example.com/o/r.git/info/refs", "headers": {}, "redirect": False}
    ]
    assert wrapped.headers == recorder.headers
