"""The tarball half: deterministic packing, and unpacking that refuses hostile archives before writing anything."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from agentlab.repo_optimize.tarball import (
    ArchiveMember,
    TarballError,
    pack_tarball,
    resolves_inside,
    unpack_tarball,
    write_tarball_into,
)

MTIME = 1_700_000_000


def _file(path: str, content: bytes, *, executable: bool = False) -> ArchiveMember:
    return ArchiveMember(path, "file", lambda: content, executable)


def _link(path: str, target: str) -> ArchiveMember:
    return ArchiveMember(path, "symlink", lambda: target.encode())


def _sample() -> list[ArchiveMember]:
    return [
        _file("src/app.py", b"print('hi')\n"),
        _file("run.sh", b"#!/bin/sh\necho hi\n", executable=True),
        _link("docs/app.py", "../src/app.py"),
        _file("README.md", b"# sample\n"),
    ]


def _hostile(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    """An archive written with tarfile directly, so it may hold what pack_tarball never produces."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as archive:
        for info, content in entries:
            if info.isreg():
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, *, linkname: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    return info


def test_pack_is_sorted_fixed_in_time_and_owner_and_byte_for_byte_repeatable() -> None:
    first = pack_tarball(_sample(), mtime=MTIME)
    second = pack_tarball(list(reversed(_sample())), mtime=MTIME)

    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == ["README.md", "docs/app.py", "run.sh", "src/app.py"]
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", MTIME)}
    modes = {m.name: m.mode for m in members if m.isreg()}
    assert modes == {"README.md": 0o644, "run.sh": 0o755, "src/app.py": 0o644}
    assert [m.linkname for m in members if m.issym()] == ["../src/app.py"]
    assert pack_tarball(_sample(), mtime=MTIME + 1) != first


@pytest.mark.parametrize(
    ("link", "targets", "inside"),
    [
        ("docs/a", {"docs/a": "../src/a.py"}, True),
        ("a", {"a": "b/c/../d"}, True),
        ("docs/a", {"docs/a": "../../etc/passwd"}, False),
        ("a", {"a": "/etc/passwd"}, False),
        # `up` is the root itself, so `up/..` is the root's parent although it normalises to `.`
        ("esc", {"up": ".", "esc": "up/.."}, False),
        ("d/esc", {"d/inner": "..", "d/esc": "inner/../.."}, False),
        ("loop", {"loop": "other", "other": "loop"}, False),
        ("deep", {"deep": "sub/link/..", "sub/link": "x/y"}, True),
    ],
)
def test_symlink_resolution_follows_the_trees_own_links(link: str, targets: dict[str, str], inside: bool) -> None:
    assert resolves_inside(link, targets) is inside


def test_unpack_writes_files_modes_and_inside_symlinks(tmp_path: Path) -> None:
    data = pack_tarball(_sample(), mtime=MTIME)

    written = unpack_tarball(data, tmp_path, max_bytes=10_000, max_files=10)

    assert written == 4
    assert (tmp_path / "src" / "app.py").read_bytes() == b"print('hi')\n"
    assert os.readlink(tmp_path / "docs" / "app.py") == "../src/app.py"
    assert (tmp_path / "docs" / "app.py").read_bytes() == b"print('hi')\n"
    assert stat.S_IMODE((tmp_path / "run.sh").stat().st_mode) & 0o100
    assert not stat.S_IMODE((tmp_path / "README.md").stat().st_mode) & 0o111


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [
        ([(_entry("../x"), b"evil")], "leaves its directory"),
        ([(_entry("a/../../x"), b"evil")], "leaves its directory"),
        ([(_entry("/abs/x"), b"evil")], "absolute"),
        ([(_entry("link", tarfile.SYMTYPE, linkname="/etc"), b"")], "points outside"),
        ([(_entry("link", tarfile.SYMTYPE, linkname="../../etc"), b"")], "points outside"),
        (
            [(_entry("link", tarfile.SYMTYPE, linkname="."), b""), (_entry("link/x"), b"through the link")],
            "not a directory",
        ),
        ([(_entry("hard", tarfile.LNKTYPE, linkname="../../etc/passwd"), b"")], "hard link"),
        ([(_entry("file"), b"a"), (_entry("hard", tarfile.LNKTYPE, linkname="file"), b"")], "hard link"),
        ([(_entry("dev", tarfile.CHRTYPE), b"")], "device"),
        ([(_entry("fifo", tarfile.FIFOTYPE), b"")], "device"),
        ([(_entry("twice"), b"a"), (_entry("twice"), b"b")], "twice"),
        ([(_entry("file"), b"a"), (_entry("file/under"), b"b")], "not a directory"),
    ],
)
def test_unpack_refuses_hostile_entries_before_writing_anything(
    tmp_path: Path, entries: list[tuple[tarfile.TarInfo, bytes]], fragment: str
) -> None:
    # Given a safe entry first, so a refusal after writing would leave it behind
    data = _hostile((_entry("aaa-first.txt"), b"fine"), *entries)

    with pytest.raises(TarballError) as caught:
        unpack_tarball(data, tmp_path, max_bytes=10_000, max_files=100)

    assert caught.value.code == "unsafe_archive"
    assert fragment in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_unpack_refuses_over_the_file_and_byte_caps(tmp_path: Path) -> None:
    many = _hostile(*[(_entry(f"f{index}"), b"x") for index in range(6)])
    big = _hostile((_entry("big"), b"x" * 2_000))

    with pytest.raises(TarballError) as too_many:
        unpack_tarball(many, tmp_path, max_bytes=10_000, max_files=5)
    with pytest.raises(TarballError) as too_big:
        unpack_tarball(big, tmp_path, max_bytes=1_000, max_files=5)

    assert too_many.value.code == too_big.value.code == "archive_too_large"
    assert too_many.value.status == 413
    assert list(tmp_path.iterdir()) == []
    assert unpack_tarball(many, tmp_path, max_bytes=10_000, max_files=6) == 6


def test_unpack_refuses_an_archive_that_inflates_past_its_allowance(tmp_path: Path) -> None:
    # Given a stream whose zero padding hides nothing in the members but inflates far beyond the caps
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = _entry(f"p/{'x' * 90}")
        payload = b"y" * 10
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
        info.pax_headers = {"comment": "z" * 3_000_000}
        info.name = "q"
        archive.addfile(info, io.BytesIO(payload))

    with pytest.raises(TarballError) as caught:
        unpack_tarball(buffer.getvalue(), tmp_path, max_bytes=100, max_files=2)

    assert caught.value.code == "archive_too_large"


def test_unpack_refuses_writing_through_a_symlink_already_in_the_destination(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    destination = tmp_path / "workspace"
    destination.mkdir()
    (destination / "src").symlink_to(outside)

    with pytest.raises(TarballError) as caught:
        unpack_tarball(pack_tarball([_file("src/app.py", b"x")], mtime=MTIME), destination, max_bytes=100, max_files=9)

    assert "through a symlink" in caught.value.message
    assert list(outside.iterdir()) == []


def test_unpack_reports_garbage_as_an_invalid_archive(tmp_path: Path) -> None:
    with pytest.raises(TarballError) as caught:
        unpack_tarball(b"not a tarball at all", tmp_path, max_bytes=100, max_files=10)

    assert caught.value.code == "invalid_archive"


def test_write_into_sends_files_under_the_prefix_and_names_the_executables() -> None:
    sent: dict[str, bytes] = {}

    written, executables = write_tarball_into(
        sent.__setitem__,
        pack_tarball(_sample(), mtime=MTIME),
        prefix="/workspace/repo/",
        max_bytes=10_000,
        max_files=10,
    )

    assert written == 3
    assert sorted(sent) == ["/workspace/repo/README.md", "/workspace/repo/run.sh", "/workspace/repo/src/app.py"]
    assert sent["/workspace/repo/run.sh"] == b"#!/bin/sh\necho hi\n"
    assert executables == ["/workspace/repo/run.sh"]


def test_write_into_sends_nothing_from_a_hostile_archive() -> None:
    sent: dict[str, bytes] = {}
    data = _hostile((_entry("fine.txt"), b"ok"), (_entry("../escape"), b"evil"))

    with pytest.raises(TarballError):
        write_tarball_into(sent.__setitem__, data, prefix="/workspace", max_bytes=10_000, max_files=10)

    assert sent == {}
