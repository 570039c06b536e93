"""The kernel module on its own: protocol framing, cell compilation, limit detection, and a run as
`python -m agentlab.sandbox.kernel`, the way the sandbox container starts it."""

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentlab.sandbox.kernel import FrameBuffer, ProtocolError, compile_cell, cores_for, encode_frame, limit_of

MARKER = "\x00<end:test>\x00"


def test_frames_survive_arbitrary_splits() -> None:
    data = encode_frame({"op": "ready", "pid": 7}) + encode_frame({"op": "result", "status": "ok"})
    buffer = FrameBuffer()

    frames = [frame for index in range(len(data)) for frame in buffer.feed(data[index : index + 1])]

    assert frames == [{"op": "ready", "pid": 7}, {"op": "result", "status": "ok"}]


def test_an_oversized_or_non_object_frame_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        FrameBuffer(max_frame_bytes=10).feed(encode_frame({"code": "x" * 20}))
    with pytest.raises(ProtocolError):
        FrameBuffer().feed(b"\x00\x00\x00\x02[]")


def test_a_trailing_expression_is_compiled_apart_for_display() -> None:
    body, last = compile_cell("x = 1\nx + 1", "<cell-1>")
    namespace: dict[str, Any] = {}

    exec(body, namespace)

    assert last is not None
    assert eval(last, namespace) == 2
    assert compile_cell("x = 1", "<cell-2>")[1] is None


@pytest.mark.parametrize(
    ("exception", "limit"),
    [
        (MemoryError(), "memory"),
        (BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"), "processes"),
        (OSError(errno.EFBIG, "File too large"), "file_size"),
        (OSError(errno.ENOSPC, "No space left on device"), "file_size"),
        (ValueError("plain bug"), None),
    ],
)
def test_limit_of_names_the_limit_behind_an_exception(exception: BaseException, limit: str | None) -> None:
    assert limit_of(exception) == limit


def test_limit_of_follows_the_exception_chain() -> None:
    try:
        try:
            raise MemoryError
        except MemoryError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert limit_of(wrapped) == "memory"


@pytest.mark.parametrize(
    ("cpu", "allowed", "cores"),
    [
        (1.0, {0, 1, 2, 3}, {0}),
        (0.25, {0, 1}, {0}),
        (1.5, {0, 1, 2, 3}, {0, 1}),
        (2.0, {3, 5, 7}, {3, 5}),
        (4.0, {0, 1}, {0, 1}),
    ],
)
def test_the_kernel_keeps_the_first_ceil_cpu_cores_it_is_allowed(
    cpu: float, allowed: set[int], cores: set[int]
) -> None:
    assert cores_for(cpu, allowed) == cores


def test_the_kernel_imports_nothing_heavy() -> None:
    probe = (
        "import sys, agentlab.sandbox.kernel; "
        "print(sorted(m for m in ('pydantic', 'boto3', 'botocore', 'numpy', 'agentlab.sandbox.models') "
        "if m in sys.modules))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert completed.stdout.strip() == "[]"


class KernelUnderTest:
    """Drives `python -m agentlab.sandbox.kernel` over its stdin/stdout protocol with a separate stdout pipe."""

    def __init__(self, workspace: Path) -> None:
        stdout_read, stdout_write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agentlab.sandbox.kernel", "--stdout-fd", str(stdout_write)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(stdout_write,),
            cwd=workspace,
        )
        os.close(stdout_write)
        self.user_stdout = os.fdopen(stdout_read, "rb")
        self.frames = FrameBuffer()

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(encode_frame(message))
        self.process.stdin.flush()
        while True:
            header = self.process.stdout.read(4)
            assert len(header) == 4, self.process.stderr.read() if self.process.stderr else b""
            body = self.process.stdout.read(int.from_bytes(header, "big"))
            frames = self.frames.feed(header + body)
            if frames:
                return frames[0]

    def read_user_stdout_until_marker(self) -> bytes:
        data = b""
        while not data.endswith(MARKER.encode()):
            chunk = self.user_stdout.read1(4096)
            assert chunk
            data += chunk
        return data[: -len(MARKER)]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)
        self.user_stdout.close()


def test_the_module_runs_cells_over_its_protocol(tmp_path: Path) -> None:
    kernel = KernelUnderTest(tmp_path)
    try:
        ready = kernel.request(
            {
                "op": "init",
                "marker": MARKER,
                "cwd": str(tmp_path),
                "env": {"GREETING": "hello"},
                "limits": {"cpu": 1, "cpu_s": 30, "memory_mb": 1024, "max_file_mb": 10, "max_processes": None},
            }
        )
        first = kernel.request(
            {
                "op": "execute",
                "id": 1,
                "code": "import os, resource\nx = os.environ['GREETING']\nprint(x)\n"
                "print(len(os.sched_getaffinity(0)), resource.getrlimit(resource.RLIMIT_AS)[0] >> 20)",
            }
        )
        first_output = kernel.read_user_stdout_until_marker()
        second = kernel.request({"op": "execute", "id": 2, "code": "x.upper()"})
        second_output = kernel.read_user_stdout_until_marker()
        failing = kernel.request({"op": "execute", "id": 3, "code": "bytearray(1 << 40)"})
    finally:
        kernel.close()

    assert ready["op"] == "ready"
    assert (first["id"], first["status"]) == (1, "ok")
    assert (second["id"], second["status"]) == (2, "ok")
    assert first_output == b"hello\n1 1024\n"
    assert second_output == b"'HELLO'\n"
    assert failing["status"] == "error"
    assert failing["limit"] == "memory"
    assert kernel.process.returncode == 0
