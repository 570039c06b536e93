import hashlib
import os
from pathlib import Path

import pytest

from agentlab.sandbox.errors import SandboxPathRefused
from agentlab.sandbox.workspace import (
    changed_paths,
    describe_workspace_files,
    read_workspace_file,
    snapshot_workspace,
    split_workspace_path,
    write_workspace_file,
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    directory = tmp_path / "workspace"
    directory.mkdir()
    return directory


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../outside.txt", "a/../../b", "a/..", ".", "a\x00b"])
def test_paths_that_leave_or_name_nothing_are_refused(path: str) -> None:
    with pytest.raises(SandboxPathRefused):
        split_workspace_path(path)


def test_relative_paths_are_split_into_components() -> None:
    assert split_workspace_path("inputs//data.csv") == ["inputs", "data.csv"]
    assert split_workspace_path("./out/chart.png") == ["out", "chart.png"]


def test_written_files_read_back_and_directories_are_created(workspace: Path) -> None:
    write_workspace_file(workspace, "inputs/nested/data.csv", b"a,b\n1,2\n")

    assert read_workspace_file(workspace, "inputs/nested/data.csv") == b"a,b\n1,2\n"
    assert (workspace / "inputs" / "nested" / "data.csv").read_bytes() == b"a,b\n1,2\n"


def test_a_symlink_to_a_file_outside_is_refused(workspace: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    (workspace / "link.txt").symlink_to(secret)

    with pytest.raises(SandboxPathRefused):
        read_workspace_file(workspace, "link.txt")


def test_a_symlinked_directory_is_refused_for_reading_and_writing(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file.txt").write_text("outside")
    (workspace / "inputs").symlink_to(outside)

    with pytest.raises(SandboxPathRefused):
        read_workspace_file(workspace, "inputs/file.txt")
    with pytest.raises(SandboxPathRefused):
        write_workspace_file(workspace, "inputs/planted.txt", b"x")
    assert not (outside / "planted.txt").exists()


def test_writing_through_a_planted_symlink_is_refused(workspace: Path, tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("original")
    (workspace / "out.txt").symlink_to(target)

    with pytest.raises(SandboxPathRefused):
        write_workspace_file(workspace, "out.txt", b"overwritten")
    assert target.read_text() == "original"


def test_a_fifo_is_refused_instead_of_blocking(workspace: Path) -> None:
    os.mkfifo(workspace / "pipe")

    with pytest.raises(SandboxPathRefused):
        read_workspace_file(workspace, "pipe")


def test_a_missing_file_raises_file_not_found(workspace: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_workspace_file(workspace, "nope.txt")


def test_snapshot_skips_inputs_and_symlinks_and_finds_changes(workspace: Path, tmp_path: Path) -> None:
    write_workspace_file(workspace, "inputs/data.csv", b"1")
    write_workspace_file(workspace, "kept.txt", b"same")
    write_workspace_file(workspace, "edited.txt", b"before")
    (workspace / "link").symlink_to(tmp_path)
    before = snapshot_workspace(workspace, skip_inputs=True)

    write_workspace_file(workspace, "edited.txt", b"after, longer")
    write_workspace_file(workspace, "out/new.png", b"\x89PNG")
    write_workspace_file(workspace, "inputs/data.csv", b"2")
    after = snapshot_workspace(workspace, skip_inputs=True)

    assert sorted(before) == ["edited.txt", "kept.txt"]
    assert changed_paths(before, after) == ["edited.txt", "out/new.png"]
    assert "inputs/data.csv" in snapshot_workspace(workspace, skip_inputs=False)


def test_described_files_carry_size_hash_and_type(workspace: Path) -> None:
    write_workspace_file(workspace, "chart.png", b"\x89PNG\r\n")
    write_workspace_file(workspace, "data.bin", b"\x00\x01")

    described = {file.path: file for file in describe_workspace_files(workspace, ["chart.png", "data.bin", "gone"])}

    assert set(described) == {"chart.png", "data.bin"}
    assert described["chart.png"].size == 6
    assert described["chart.png"].content_type == "image/png"
    assert described["chart.png"].sha256 == hashlib.sha256(b"\x89PNG\r\n").hexdigest()
    assert described["data.bin"].content_type == "application/octet-stream"
