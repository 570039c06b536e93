"""The host's handle on one kernel process: its pipes, its cells, its death."""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentlab.sandbox.kernel import FrameBuffer, ProtocolError, encode_frame
from agentlab.sandbox.streams import MarkedStream

READ_BYTES = 1024 * 1024
PIPE_BYTES = 1024 * 1024
F_SETPIPE_SZ = 1031
MARKER_GRACE_S = 2.0
DRAIN_S = 2.0
EXIT_WAIT_S = 2.0
EXIT_POLL_S = 0.005


class KernelStartFailed(Exception):
    """The kernel exited or stayed silent before it was ready; the message carries what it wrote to stderr."""


@dataclass(frozen=True)
class CellOutcome:
    reply: dict[str, Any] | None
    stdout: tuple[bytes, int]
    stderr: tuple[bytes, int]
    timed_out: bool
    stop_reason: str | None
    returncode: int | None
    duration_s: float


@dataclass(frozen=True)
class LaunchSpec:
    """What to run and as whom; command receives the fd number that the kernel's stdout pipe will have."""

    command: Callable[[int], list[str]]
    env: dict[str, str]
    cwd: str
    user: int | None = None


class KernelProcess:
    def __init__(self, spec: LaunchSpec, marker: bytes, output_cap: int, kill_sandbox_user: Callable[[], None]) -> None:
        self._kill_sandbox_user = kill_sandbox_user
        stdout_read, stdout_write = os.pipe()
        stderr_read, stderr_write = os.pipe()
        for fd in (stdout_read, stderr_read):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
        try:
            self._process = subprocess.Popen(  # noqa: S603 - argv built by isolation.py, no shell
                spec.command(stdout_write),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr_write,
                pass_fds=(stdout_write,),
                env=spec.env,
                cwd=spec.cwd,
                start_new_session=True,
                user=spec.user,
                group=spec.user,
                extra_groups=[] if spec.user is not None else None,
            )
        except BaseException:
            for fd in (stdout_read, stdout_write, stderr_read, stderr_write):
                os.close(fd)
            raise
        os.close(stdout_write)
        os.close(stderr_write)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin = self._process.stdin
        self._reply_fd = self._process.stdout.fileno()
        self._stdout_fd = stdout_read
        self._stderr_fd = stderr_read
        self._frames = FrameBuffer()
        self._replies: list[dict[str, Any]] = []
        self._reply_closed = False
        self.stdout = MarkedStream(marker, output_cap)
        self.stderr = MarkedStream(marker, output_cap)
        self._selector = selectors.DefaultSelector()
        for fd in (self._reply_fd, self._stdout_fd, self._stderr_fd):
            self._selector.register(fd, selectors.EVENT_READ)
        self.cpu_s = 0.0
        self.stop_reason: str | None = None
        self._cell_id = 0
        self._channel_broken = False

    @property
    def alive(self) -> bool:
        return not self._reply_closed and not self._exited()

    def _exited(self) -> bool:
        """Whether the kernel exited, without reaping it (see stop())."""
        if self._process.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, self._process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def handshake(self, init: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        self._send(init)
        self._pump(lambda: bool(self._replies) or self._reply_closed, time.monotonic() + timeout_s)
        if self._replies and self._replies[0].get("op") == "ready":
            return self._replies.pop(0)
        reason = "exited" if self._reply_closed else f"was not ready within {timeout_s:g}s"
        self._await_exit()
        self.stop("the kernel did not start")
        self._pump(lambda: False, time.monotonic() + DRAIN_S)
        stderr, _ = self.stderr.take_cell()
        raise KernelStartFailed(
            f"kernel {reason} (status {self._process.returncode}): {stderr.decode(errors='replace').strip()}"
        )

    def run_cell(self, code: str, timeout_s: float) -> CellOutcome:
        started = time.monotonic()
        self._cell_id += 1
        self.stdout.begin_cell()
        self.stderr.begin_cell()
        self._send({"op": "execute", "id": self._cell_id, "code": code})
        self._pump(lambda: self._reply_for(self._cell_id) is not None or self._reply_closed, started + timeout_s)
        reply = self._reply_for(self._cell_id)
        self._replies.clear()
        timed_out = reply is None and not self._reply_closed
        if reply is None:
            self._await_exit()
            self.stop("the cell timed out" if timed_out else "the cell broke the kernel's private channel")
            self._pump(lambda: False, time.monotonic() + DRAIN_S)
        else:
            self.cpu_s = float(reply.get("cpu_s") or 0.0)
            self._await_markers(reply)
        return CellOutcome(
            reply=reply,
            stdout=self.stdout.take_cell(),
            stderr=self.stderr.take_cell(),
            timed_out=timed_out,
            stop_reason=self.stop_reason,
            returncode=self._process.returncode if reply is None else None,
            duration_s=time.monotonic() - started,
        )

    def _reply_for(self, cell_id: int) -> dict[str, Any] | None:
        """The result frame of this cell; anything else on the channel (a stale or forged frame) is ignored."""
        for reply in self._replies:
            if reply.get("op") == "result" and reply.get("id") == cell_id:
                return reply
        return None

    def stop(self, reason: str = "the kernel was stopped") -> None:
        """Kill the kernel and everything it started; bubblewrap's pid namespace and the uid sweep catch the rest.

        The first reason given while the kernel still ran is kept, to tell a kill by the host from a death. The kernel
        is reaped only after its process group was signalled: until then the group id cannot have been reused.
        """
        if self.stop_reason is None and not self._exited():
            self.stop_reason = reason
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
        self._kill_sandbox_user()
        try:
            self._process.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reply_closed = True

    def close(self, reason: str = "the kernel was stopped") -> None:
        self.stop(reason)
        self._selector.close()
        for fd in (self._stdout_fd, self._stderr_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        for stream in (self._stdin, self._process.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()

    def _await_exit(self) -> None:
        """Give a dying kernel (or the bubblewrap around it) the time to exit by itself and so report what killed it,
        before stop() would overwrite that with its own SIGKILL. It is left unreaped, for stop() to signal its group.
        """
        if not self._reply_closed or self._channel_broken or self._process.returncode is not None:
            return
        deadline = time.monotonic() + EXIT_WAIT_S
        while not self._exited() and time.monotonic() < deadline:
            time.sleep(EXIT_POLL_S)

    def _await_markers(self, reply: dict[str, Any]) -> None:
        """The kernel wrote its markers before replying, so they are already in the pipes unless the cell moved fd 1
        or 2 elsewhere; a short grace covers the reader being behind."""
        written = reply.get("markers") or [True, True]
        expected = [stream for stream, wrote in zip((self.stdout, self.stderr), written, strict=False) if wrote]
        self._pump(lambda: all(stream.cell_complete for stream in expected), time.monotonic() + MARKER_GRACE_S)

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self._stdin.write(encode_frame(message))
            self._stdin.flush()
        except (BrokenPipeError, ValueError):
            self._reply_closed = True

    def _pump(self, done: Callable[[], bool], deadline: float) -> None:
        """Read whatever the kernel writes until done() holds, the deadline passes or every pipe is closed."""
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.get_map():
                return
            for key, _ in self._selector.select(remaining):
                self._read(key.fd)

    def _read(self, fd: int) -> None:
        data = os.read(fd, READ_BYTES)
        if not data:
            self._selector.unregister(fd)
            if fd == self._reply_fd:
                self._reply_closed = True
            return
        if fd == self._stdout_fd:
            self.stdout.feed(data)
        elif fd == self._stderr_fd:
            self.stderr.feed(data)
        else:
            self._read_replies(data)

    def _read_replies(self, data: bytes) -> None:
        try:
            self._replies.extend(self._frames.feed(data))
        except ProtocolError:
            # The cell can write to the protocol pipe too; a garbled channel is treated as a dead kernel.
            self._selector.unregister(self._reply_fd)
            self._reply_closed = True
            self._channel_broken = True
