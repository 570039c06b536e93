"""The sandbox kernel: one process per run session that executes Python cells and keeps their state.

It runs the same way on a laptop (under bubblewrap or as a plain process) and inside the sandbox container, so it
imports only the standard library and can be started either as ``python -m agentlab.sandbox.kernel`` or by its file
path. The process that starts it (the host) speaks to it in frames over stdin/stdout: a 4-byte big-endian length,
then a UTF-8 JSON object.

    host -> kernel  {"op": "init", "marker": str, "cwd": str, "env": {..}, "limits": {..}, "uid": int | None, ...}
    kernel -> host  {"op": "ready", "pid": int, "uid": int, "python": str}
    host -> kernel  {"op": "execute", "id": int, "code": str}
    kernel -> host  {"op": "result", "id": int, "status": "ok" | "error", "limit": str | None, "cpu_s": float, ...}

User output never travels in frames: the cell's stdout goes to the file descriptor named by ``--stdout-fd`` and its
stderr to the kernel's own fd 2, both read by the host. After each cell the kernel writes the session's marker to
both, so the host can tell where one cell's output ends even when a background process keeps writing.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import contextlib
import errno
import json
import linecache
import math
import os
import resource
import signal
import struct
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any, BinaryIO

FRAME_HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 64 * 1024 * 1024
MIB = 1024 * 1024
FIGURE_MODULE = "matplotlib.figure"
SAVED_FLAG = "_agentlab_saved"
NPROC_SLACK = 2
STRAY_REAP_S = 1.0
STRAY_SAMPLES = 10
STRAY_SAMPLE_INTERVAL_S = 0.05


class ProtocolError(Exception):
    """A frame that is too large or not a JSON object: the channel cannot be trusted any more."""


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return FRAME_HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a JSON object")
    return message


class FrameBuffer:
    """Collects bytes as they arrive and hands out whole frames (used by the host, which reads without blocking)."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._max_frame_bytes = max_frame_bytes

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buffer += data
        frames: list[dict[str, Any]] = []
        while len(self._buffer) >= FRAME_HEADER.size:
            (length,) = FRAME_HEADER.unpack_from(self._buffer)
            if length > self._max_frame_bytes:
                raise ProtocolError(f"frame of {length} bytes is over the limit")
            end = FRAME_HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append(decode_body(bytes(self._buffer[FRAME_HEADER.size : end])))
            del self._buffer[:end]
        return frames


class Channel:
    """Blocking frame reader/writer on two file objects (the kernel's side)."""

    def __init__(self, reader: BinaryIO, writer: BinaryIO) -> None:
        self._reader = reader
        self._writer = writer

    def receive(self) -> dict[str, Any] | None:
        header = self._reader.read(FRAME_HEADER.size)
        if len(header) < FRAME_HEADER.size:
            return None
        (length,) = FRAME_HEADER.unpack(header)
        if length > MAX_FRAME_BYTES:
            raise ProtocolError(f"frame of {length} bytes is over the limit")
        body = self._reader.read(length)
        if len(body) < length:
            return None
        return decode_body(body)

    def send(self, message: dict[str, Any]) -> None:
        self._writer.write(encode_frame(message))
        self._writer.flush()


def drop_privileges(uid: int, gid: int) -> None:
    """Become the sandbox user for good; refuse to go on if the switch did not stick."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid:
        raise PermissionError(f"could not switch to uid {uid}")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise PermissionError("privileges could be regained after the switch")


def cores_for(cpu: float, allowed: set[int]) -> set[int]:
    """The first ceil(cpu) cores of those allowed now (at least one, never more than there are)."""
    count = max(1, min(len(allowed), math.ceil(cpu)))
    return set(sorted(allowed)[:count])


def pin_to_cores(cpu: float) -> None:
    """Let the kernel and every process it starts use ceil(cpu) cores, the local counterpart of a task's vCPUs.

    Affinity shares the machine fairly between well-behaved sessions; it is no boundary (code may widen its own
    affinity again), RLIMIT_CPU is what bounds the CPU time a session can take.
    """
    if not hasattr(os, "sched_setaffinity"):
        return
    os.sched_setaffinity(0, cores_for(cpu, os.sched_getaffinity(0)))


def apply_limits(limits: dict[str, Any]) -> None:
    """Soft and hard limits alike, so user code cannot raise them again (except CPU: hard = soft + 1 for SIGXCPU)."""
    if limits.get("cpu") is not None:
        pin_to_cores(float(limits["cpu"]))
    cpu_s = int(limits["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    memory = int(limits["memory_mb"]) * MIB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    file_size = int(limits["max_file_mb"]) * MIB
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.get("max_processes") is not None:
        processes = int(limits["max_processes"])
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def cpu_seconds_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 3)


def limit_of(exc: BaseException) -> str | None:
    """Which resource limit, if any, an exception from user code stems from (following the exception chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return "memory"
        if isinstance(current, OSError) and current.errno == errno.EAGAIN:
            return "processes"
        if isinstance(current, RuntimeError) and "can't start new thread" in str(current):
            return "processes" if near_process_limit() else "memory"
        if isinstance(current, OSError) and current.errno in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
            return "file_size"
        current = current.__cause__ or current.__context__
    return None


def uid_task_count() -> int:
    """This uid's tasks (threads count, as they do for RLIMIT_NPROC)."""
    uid = os.getuid()
    tasks = 0
    with os.scandir("/proc") as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.name.isdigit() and entry.stat().st_uid == uid:
                    tasks += len(os.listdir(f"/proc/{entry.name}/task"))
    return tasks


def near_process_limit() -> bool:
    """Whether this uid's tasks fill RLIMIT_NPROC, telling a thread refused for that from one refused for want of
    address space."""
    limit, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if limit == resource.RLIM_INFINITY:
        return False
    return uid_task_count() >= limit - NPROC_SLACK


def strays_fill_process_limit(samples: int = STRAY_SAMPLES, interval_s: float = STRAY_SAMPLE_INTERVAL_S) -> bool:
    """Whether processes a cell left running fill the process limit. A fork bomb's processes die and respawn, so one
    look can land in a trough: while other processes of this uid are alive, look a few times."""
    own_tasks = len(os.listdir("/proc/self/task"))
    for sample in range(samples):
        if near_process_limit():
            return True
        if uid_task_count() <= own_tasks:
            return False
        if sample + 1 < samples:
            time.sleep(interval_s)
    return False


def mark_figures_saved_by(figure_module: ModuleType) -> None:
    """Wrap Figure.savefig so the end-of-cell sweep knows which figures the user already saved."""
    figure_class = figure_module.Figure
    original_savefig = figure_class.savefig

    def savefig(self: Any, *args: Any, **kwargs: Any) -> Any:
        setattr(self, SAVED_FLAG, True)
        return original_savefig(self, *args, **kwargs)

    figure_class.savefig = savefig


class FigureImportWatcher:
    """A meta path finder that patches matplotlib.figure as it is first imported, in whichever cell that happens."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != FIGURE_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                self._wrap_loader(spec.loader)
                return spec
        return None

    @staticmethod
    def _wrap_loader(loader: Any) -> None:
        original_exec_module = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec_module(module)
            mark_figures_saved_by(module)

        loader.exec_module = exec_module


def save_open_figures(workspace: Path, stderr: Callable[[str], object]) -> None:
    """Save figures left open and unsaved as figure-<n>.png, then close every figure, as a notebook would show them."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    for number in list(pyplot.get_fignums()):
        figure = pyplot.figure(number)
        try:
            if not getattr(figure, SAVED_FLAG, False):
                figure.savefig(workspace / next_figure_name(workspace))
        except Exception as exc:
            stderr(f"could not save figure {number}: {type(exc).__name__}: {exc}\n")
        finally:
            pyplot.close(figure)


def next_figure_name(workspace: Path) -> str:
    index = 1
    while (workspace / f"figure-{index}.png").exists():
        index += 1
    return f"figure-{index}.png"


def compile_cell(code: str, filename: str) -> tuple[CodeType, CodeType | None]:
    """Compile a cell; a trailing expression is compiled apart so its value can be shown, like a notebook's Out."""
    tree = ast.parse(code, filename=filename, mode="exec")
    last_statement = tree.body[-1] if tree.body else None
    if isinstance(last_statement, ast.Expr):
        tree.body.pop()
        last = ast.Expression(last_statement.value)
        return compile(tree, filename, "exec"), compile(last, filename, "eval")
    return compile(tree, filename, "exec"), None


class Kernel:
    def __init__(self, channel: Channel, stdout_fd: int, stderr_fd: int) -> None:
        self._channel = channel
        self._pid = os.getpid()
        self._namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self._cell_count = 0
        self._marker = b""
        self._contained = False
        self._save_figures = True
        self._workspace = Path.cwd()
        self._saved_stdout_fd = os.dup(stdout_fd)
        self._saved_stderr_fd = os.dup(stderr_fd)
        self._stdout = sys.stdout
        self._stderr = sys.stderr

    def serve(self) -> int:
        init = self._channel.receive()
        if init is None or init.get("op") != "init":
            return 2
        self._start(init)
        while True:
            message = self._channel.receive()
            if message is None or message.get("op") == "shutdown":
                return 0
            if message.get("op") == "execute":
                self._channel.send({**self._execute(str(message.get("code", ""))), "id": message.get("id")})
            else:
                self._channel.send({"op": "error", "error": f"unknown op {message.get('op')!r}"})

    def _start(self, init: dict[str, Any]) -> None:
        if init.get("uid") is not None:
            drop_privileges(int(init["uid"]), int(init["gid"]))
        apply_limits(init["limits"])
        self._check_interpreter_readable()
        os.environ.clear()
        os.environ.update({str(key): str(value) for key, value in init.get("env", {}).items()})
        self._workspace = Path(init["cwd"])
        os.chdir(self._workspace)
        self._marker = str(init["marker"]).encode()
        self._contained = bool(init.get("contained"))
        self._save_figures = bool(init.get("save_figures", True))
        sys.meta_path.insert(0, FigureImportWatcher())
        self._channel.send({"op": "ready", "pid": self._pid, "uid": os.getuid(), "python": sys.version.split()[0]})

    @staticmethod
    def _check_interpreter_readable() -> None:
        """Fail at start, not at a user's first import, when the sandbox user cannot read the standard library."""
        stdlib = Path(os.__file__).parent
        if not os.access(stdlib, os.R_OK | os.X_OK):
            raise PermissionError(f"the standard library at {stdlib} is not readable by uid {os.getuid()}")

    def _execute(self, code: str) -> dict[str, Any]:
        self._cell_count += 1
        filename = f"<cell-{self._cell_count}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
        status, limit = "error", None
        try:
            body, last_expression = compile_cell(code, filename)
        except (SyntaxError, ValueError) as exc:
            self._write_stderr("".join(traceback.format_exception_only(type(exc), exc)))
        else:
            status, limit = self._run(body, last_expression)
        self._leave_if_forked_child(status)
        if limit is None and self._contained and strays_fill_process_limit():
            # Processes the cell left running fill the limit (a shell fork bomb in the background, say).
            limit = "processes"
        if limit == "processes":
            self._stop_stray_processes()
        if self._save_figures:
            save_open_figures(self._workspace, self._write_stderr)
        markers = self._end_output()
        return {"op": "result", "status": status, "limit": limit, "cpu_s": cpu_seconds_used(), "markers": markers}

    def _run(self, body: CodeType, last_expression: CodeType | None) -> tuple[str, str | None]:
        """Run a compiled cell; the status and the limit an exception points at, the traceback already written."""
        try:
            exec(body, self._namespace)  # noqa: S102 - executing the user's cell is this module's purpose
            if last_expression is not None:
                value = eval(last_expression, self._namespace)  # noqa: S307 - same: the cell's trailing expression
                if value is not None:
                    self._namespace["_"] = value
                    print(repr(value))
        except SystemExit as exc:
            if exc.code in (None, 0):
                return "ok", None
            self._report_exception(exc)
            return "error", None
        except BaseException as exc:
            # A process the cell forked that fails (a fork bomb's, typically) leaves quietly: its traceback would
            # only land in some later cell's output.
            self._leave_if_forked_child("error")
            self._report_exception(exc)
            return "error", limit_of(exc)
        return "ok", None

    def _report_exception(self, exc: BaseException) -> None:
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        try:
            text = "".join(traceback.format_exception(type(exc), exc, tb))
        except MemoryError:
            text = f"{type(exc).__name__}\n"
        self._write_stderr(text)

    def _write_stderr(self, text: str) -> None:
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except (OSError, ValueError):
            os.write(self._saved_stderr_fd, text.encode(errors="replace"))

    def _stop_stray_processes(self) -> None:
        """After the process limit was hit (a fork bomb), free the slots for the next cell: kill every other process
        of this uid and reap the kernel's own children. Only where kill(-1) cannot reach beyond the sandbox: a pid
        namespace or a uid of its own, never as root."""
        if not self._contained or os.getuid() == 0:
            return
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)
        self._write_stderr("[process limit reached: the cell's other processes were stopped]\n")
        deadline = time.monotonic() + STRAY_REAP_S
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                time.sleep(0.01)

    def _leave_if_forked_child(self, status: str) -> None:
        """A process the cell forked must not come back into the kernel loop and answer the host."""
        if os.getpid() == self._pid:
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(0 if status == "ok" else 1)

    def _end_output(self) -> list[bool]:
        """Put stdout/stderr back if the cell redirected them, then mark the end of this cell's output on both."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdout, sys.stderr = self._stdout, self._stderr
        written = []
        for fd, saved in ((1, self._saved_stdout_fd), (2, self._saved_stderr_fd)):
            self._restore_fd(fd, saved)
            try:
                os.write(fd, self._marker)
                written.append(True)
            except OSError:
                written.append(False)
        return written

    @staticmethod
    def _restore_fd(fd: int, saved: int) -> None:
        try:
            current = os.fstat(fd)
        except OSError:
            os.dup2(saved, fd)
            return
        original = os.fstat(saved)
        if (current.st_dev, current.st_ino) != (original.st_dev, original.st_ino):
            os.dup2(saved, fd)


def take_over_standard_streams(stdout_fd: int) -> Channel:
    """Move the protocol off fds 0/1 (kept private, close-on-exec) and give fd 1 to user output, fd 0 to /dev/null."""
    protocol_in = os.dup(0)
    protocol_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(stdout_fd, 1)
    if stdout_fd not in (0, 1, 2):
        os.close(stdout_fd)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)  # noqa: SIM115
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    return Channel(open(protocol_in, "rb"), open(protocol_out, "wb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stdout-fd", type=int, required=True, help="where user stdout goes (stderr stays on fd 2)")
    args = parser.parse_args(argv)
    channel = take_over_standard_streams(args.stdout_fd)
    try:
        return Kernel(channel, 1, 2).serve()
    except ProtocolError as exc:
        os.write(2, f"kernel protocol error: {exc}\n".encode())
        return 3


if __name__ == "__main__":
    sys.exit(main())
