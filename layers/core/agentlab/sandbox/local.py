"""The local sandbox backend: a kernel process per run, on this machine, as locked down as the machine allows."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agentlab.sandbox import kernel as kernel_module
from agentlab.sandbox.errors import SandboxEnvRefused, SandboxSessionClosed
from agentlab.sandbox.isolation import IsolationLevel, PythonInstall, SessionPaths, isolation_label
from agentlab.sandbox.kernel_process import CellOutcome
from agentlab.sandbox.launcher import KernelLauncher, KernelRequest, LaunchedKernel
from agentlab.sandbox.models import CellResult, LimitHit, SandboxLimits, WorkspaceFile
from agentlab.sandbox.streams import render_output
from agentlab.sandbox.uids import (
    SandboxUidPool,
    freeze_processes_of_uid,
    kill_processes_of_uid,
    processes_of_uid,
    thaw,
)
from agentlab.sandbox.workspace import (
    changed_paths,
    describe_workspace_files,
    read_workspace_file,
    snapshot_workspace,
    write_workspace_file,
)

logger = logging.getLogger(__name__)

DEFAULT_SANDBOX_UIDS = range(620_000, 621_000)
DEFAULT_START_TIMEOUT_S = 30.0
SHARED_DIR_MODE = 0o711
PRIVATE_DIR_MODE = 0o700
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LIMIT_NAMES: frozenset[str] = frozenset({"timeout", "cpu", "memory", "processes", "file_size", "output"})
STATE_LOST = "its state was lost; a new kernel starts at the next cell"
SESSION_ENDED = "the sandbox session was ended"


class LocalSandboxSession:
    """One run's kernel and workspace. Cells run one at a time; the kernel is restarted on demand after it died."""

    def __init__(
        self,
        run_id: str,
        paths: SessionPaths,
        limits: SandboxLimits,
        env: dict[str, str],
        uid: int | None,
        launcher: KernelLauncher,
        on_close: Callable[[LocalSandboxSession], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_id = run_id
        self.workspace = paths.workspace
        self.limits = limits
        self.isolation = ""
        self._paths = paths
        self._env = dict(env)
        self._uid = uid
        self._launcher = launcher
        self._on_close = on_close
        self._kernel: LaunchedKernel | None = None
        self._checking: LaunchedKernel | None = None
        self._floor: IsolationLevel | None = None
        self._ending = False
        self._lock = threading.RLock()
        self._closed = False
        self._busy = False
        self._clock = clock
        self.last_used = clock()

    @property
    def closed(self) -> bool:
        return self._closed

    def idle_for(self, now: float) -> float:
        return 0.0 if self._busy else now - self.last_used

    def start(self) -> None:
        with self._lock:
            self._live_kernel()

    def execute(self, code: str, timeout_s: float | None = None) -> CellResult:
        with self._lock:
            self._busy = True
            try:
                return self._execute(code, timeout_s or self.limits.cell_timeout_s)
            finally:
                self._busy = False
                self.last_used = self._clock()

    def check(self, code: str, timeout_s: float | None = None) -> CellResult:
        """Run code once in a kernel of its own over the workspace; the session's kernel and its state are untouched.

        Under bubblewrap the check's kernel sees the workspace read-only and a fresh home and /tmp of its own, in a pid
        namespace of its own. With a dedicated uid every process of the session (its kernel included) is frozen for
        the duration, so that none can signal, trace or rewrite the files of the check: without bubblewrap the check
        runs as that same uid, since it must read the workspace (which it could then write to as well, although
        nothing it writes counts: its result lists no files). Frozen processes are continued afterwards.
        """
        with self._lock:
            self._ensure_open()
            self._busy = True
            paths = self._paths.for_check()
            frozen: list[int] = []
            try:
                spared: frozenset[int] = frozenset()
                if self._uid is not None:
                    frozen = freeze_processes_of_uid(self._uid)
                    # Every process of the session, those it had stopped itself included, outlives the check's kernel.
                    spared = frozenset(processes_of_uid(self._uid))
                self._make_scratch_dirs(paths)
                request = KernelRequest(
                    paths, self.limits, self._env, self._uid, check=True, spared_pids=spared, floor=self._floor
                )
                return self._run_check(request, code, timeout_s or self.limits.cell_timeout_s)
            finally:
                for directory in (paths.home, paths.tmp):
                    remove_tree(directory)
                thaw(frozen)
                self._busy = False
                self.last_used = self._clock()

    def run_phase(self, code: str, *, limits: SandboxLimits, network: bool = False) -> CellResult:
        """Run one phase of a repository's commands: a kernel of its own over the writable workspace, under the
        phase's limits, with the host's network only when `network` (an install); the session's kernel is stopped
        first and every process of the session (whatever the phase left running) is stopped after it."""
        with self._lock:
            self._ensure_open()
            self._busy = True
            try:
                self._stop_kernel()
                self._reopen_session_dirs()
                request = KernelRequest(self._paths, limits, self._env, self._uid, floor=self._floor, network=network)
                launched = self._kernel = self._launcher.launch(request)
                if self._ending:
                    launched.process.stop(SESSION_ENDED)
                if self._floor is None:
                    self._floor = launched.level
                self.isolation = isolation_label(launched.level, dedicated_uid=self._uid is not None)
                cpu_before = launched.process.cpu_s
                outcome = launched.process.run_cell(code, limits.cell_timeout_s)
                return cell_result(
                    outcome, [], limits, launched.level, cpu_before, kernel_id=launched.kernel_id, lasting=False
                )
            finally:
                self._stop_kernel()
                if self._uid is not None:
                    # What the phase started in sessions of its own (daemons, detached children) is the uid's too.
                    kill_processes_of_uid(self._uid)
                self._busy = False
                self.last_used = self._clock()

    def _stop_kernel(self) -> None:
        if self._kernel is not None:
            self._kernel.process.close()
            self._kernel = None

    def _run_check(self, request: KernelRequest, code: str, timeout_s: float) -> CellResult:
        self._reopen_session_dirs()
        fresh = self._launcher.launch(request)
        self._checking = fresh
        try:
            if self._ending:
                fresh.process.stop(SESSION_ENDED)
            cpu_before = fresh.process.cpu_s
            outcome = fresh.process.run_cell(code, timeout_s)
            return cell_result(
                outcome, [], self.limits, fresh.level, cpu_before, kernel_id=fresh.kernel_id, lasting=False
            )
        finally:
            self._checking = None
            fresh.process.close()

    def _make_scratch_dirs(self, paths: SessionPaths) -> None:
        for directory in (paths.home, paths.tmp):
            remove_tree(directory)
            make_private_dir(directory, self._uid)

    def put_file(self, path: str, data: bytes) -> None:
        with self._lock:
            self._ensure_open()
            owner = (self._uid, self._uid) if self._uid is not None else None
            write_workspace_file(self.workspace, path, data, owner=owner)
            self.last_used = self._clock()

    def read_file(self, path: str) -> bytes:
        self._ensure_open()
        return read_workspace_file(self.workspace, path)

    def list_files(self) -> list[WorkspaceFile]:
        self._ensure_open()
        return describe_workspace_files(self.workspace, sorted(snapshot_workspace(self.workspace, skip_inputs=False)))

    def close(self) -> None:
        self._ending = True
        # Stop a check or cell that is still running first, so that ending a run does not wait for its timeout; the
        # check first, since stopping the session's kernel kills every process of its uid, the check's among them.
        for running in (self._checking, self._kernel):
            if running is not None:
                running.process.stop(SESSION_ENDED)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._kernel is not None:
                self._kernel.process.close(SESSION_ENDED)
                self._kernel = None
            remove_tree(self._paths.root)
        self._on_close(self)

    def _execute(self, code: str, timeout_s: float) -> CellResult:
        launched = self._live_kernel()
        cpu_before = launched.process.cpu_s
        before = snapshot_workspace(self.workspace, skip_inputs=True)
        outcome = launched.process.run_cell(code, timeout_s)
        files = describe_workspace_files(
            self.workspace, changed_paths(before, snapshot_workspace(self.workspace, skip_inputs=True))
        )
        if outcome.reply is None:
            launched.process.close()
            self._kernel = None
        return cell_result(outcome, files, self.limits, launched.level, cpu_before, kernel_id=launched.kernel_id)

    def _live_kernel(self) -> LaunchedKernel:
        self._ensure_open()
        if self._kernel is not None and self._kernel.process.alive:
            return self._kernel
        if self._kernel is not None:
            self._kernel.process.close()
        self._reopen_session_dirs()
        launched = self._launcher.launch(
            KernelRequest(self._paths, self.limits, self._env, self._uid, floor=self._floor)
        )
        self._kernel = launched
        if self._ending:
            launched.process.stop(SESSION_ENDED)
        if self._floor is None:
            self._floor = launched.level
        self.isolation = isolation_label(launched.level, dedicated_uid=self._uid is not None)
        return launched

    def _reopen_session_dirs(self) -> None:
        """Give the workspace, home and tmp back their modes: a cell may have closed them to make the next kernel
        fail to start (as its own uid, that is, hoping for a weaker level)."""
        for directory in (self._paths.workspace, self._paths.home, self._paths.tmp):
            with contextlib.suppress(FileNotFoundError):
                directory.chmod(PRIVATE_DIR_MODE)

    def _ensure_open(self) -> None:
        if self._closed:
            raise SandboxSessionClosed(f"sandbox session of run {self.run_id} is closed")


def cell_result(
    outcome: CellOutcome,
    files: list[WorkspaceFile],
    limits: SandboxLimits,
    level: IsolationLevel,
    cpu_before: float,
    *,
    kernel_id: str = "",
    lasting: bool = True,
) -> CellResult:
    """The result of a cell as the workflow sees it. lasting is False for a goal check, whose kernel is discarded
    anyway: its death costs no state and restarts nothing."""
    stdout = render_output(*outcome.stdout)
    stderr = render_output(*outcome.stderr)
    lost = STATE_LOST if lasting else ""
    truncated = outcome.stdout[1] > 0 or outcome.stderr[1] > 0
    limit: LimitHit | None
    if outcome.reply is not None:
        exit_code = 0 if outcome.reply.get("status") == "ok" else 1
        reported = outcome.reply.get("limit")
        limit = reported if isinstance(reported, str) and reported in LIMIT_NAMES else None  # type: ignore[assignment]
    elif outcome.timed_out:
        exit_code, limit = 128 + signal.SIGKILL, "timeout"
        stderr += f"\n[cell timed out after {outcome.duration_s:.1f}s and its kernel was stopped{lost and ': ' + lost}]"
    elif outcome.stop_reason is not None:
        exit_code, limit = 128 + signal.SIGKILL, None
        stderr += f"\n[{outcome.stop_reason}, so the kernel was stopped{lost and ': ' + lost}]"
    else:
        exit_code, limit, reason = kernel_death(outcome, limits, level, cpu_before)
        stderr += f"\n[kernel died: {reason}{lost and '; ' + lost}]"
    if limit is None and truncated:
        limit = "output"
    return CellResult(
        stdout=stdout,
        stderr=stderr,
        exit_code=exit_code,
        duration_ms=round(outcome.duration_s * 1000),
        limit=limit,
        files=files,
        kernel_restarted=lasting and outcome.reply is None,
        kernel_id=kernel_id,
    )


def kernel_death(
    outcome: CellOutcome, limits: SandboxLimits, level: IsolationLevel, cpu_before: float
) -> tuple[int, LimitHit | None, str]:
    """Exit code, limit and a readable reason for a kernel that died during a cell."""
    returncode = outcome.returncode
    number = death_signal(returncode, level)
    if number is None:
        status = returncode if returncode is not None and returncode >= 2 else 2
        return status, None, f"the kernel exited with status {returncode}"
    if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu_before + outcome.duration_s >= limits.cpu_s - 1):
        return 128 + number, "cpu", f"CPU time limit of {limits.cpu_s}s reached"
    if number == signal.SIGXFSZ:
        return 128 + number, "file_size", f"file size limit of {limits.max_file_mb} MB reached"
    if number == signal.SIGKILL:
        return 128 + number, "memory", f"killed (SIGKILL), most likely out of memory (limit {limits.memory_mb} MB)"
    return 128 + number, None, f"killed by {signal.Signals(number).name}"


def death_signal(returncode: int | None, level: IsolationLevel) -> int | None:
    """The signal that ended the kernel: a negative return code from Popen, or 128 + n as bubblewrap reports it."""
    if returncode is None:
        return None
    if returncode < 0:
        return -returncode
    if level is IsolationLevel.BUBBLEWRAP and returncode > 128:
        return returncode - 128
    return None


def remove_tree(path: Path) -> None:
    """rmtree that also gets through directories the sandbox made unreadable (which only stop a non-root host)."""

    def make_writable_and_retry(function: Callable[[str], object], failed: str, *_: object) -> None:
        for target in (os.path.dirname(failed), failed):
            with contextlib.suppress(OSError):
                os.chmod(target, PRIVATE_DIR_MODE, follow_symlinks=False)
        with contextlib.suppress(OSError):
            if os.path.isdir(failed) and not os.path.islink(failed):
                shutil.rmtree(failed, ignore_errors=True)
            else:
                function(failed)

    if not path.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=make_writable_and_retry)
    else:
        shutil.rmtree(path, onerror=make_writable_and_retry)


def make_private_dir(directory: Path, uid: int | None) -> None:
    """A directory only the session's uid (or, without one, this process's user) may enter."""
    directory.mkdir(mode=PRIVATE_DIR_MODE)
    if uid is not None:
        os.chown(directory, uid, uid)


def session_dir_name(run_id: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)[:48].lstrip(".") or "run"
    return f"{readable}-{hashlib.sha256(run_id.encode()).hexdigest()[:12]}"


def check_env(env: dict[str, str]) -> dict[str, str]:
    """The run's variables, refused when one could not reach a process intact."""
    for name, value in env.items():
        if not ENV_NAME.fullmatch(name):
            raise SandboxEnvRefused(f"environment variable name {name!r} is not a valid identifier")
        if "\x00" in value:
            raise SandboxEnvRefused(f"environment variable {name} holds a NUL byte")
    return dict(env)


class LocalSandboxBackend:
    """Kernels as local processes under bubblewrap, a dedicated uid per session when running as root, and rlimits.

    root_dir holds one directory per live session (its workspace, home and tmp) and a copy of the kernel module
    that the sandbox user can read wherever this package is installed. Run as root, each session gets a uid of its
    own from sandbox_uids, a range no account on the machine should use: everything running as that uid is killed
    when the session's kernel stops. use_bubblewrap=False (or a bubblewrap that fails to start) falls back to the
    strongest level left, which each session reports in its isolation attribute.
    """

    def __init__(
        self,
        root_dir: Path,
        python: str | None = None,
        *,
        use_bubblewrap: bool = True,
        bwrap_path: str | None = None,
        sandbox_uids: range = DEFAULT_SANDBOX_UIDS,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root_dir = Path(root_dir).resolve()
        self._sessions_dir = self.root_dir / "sessions"
        self._sessions_dir.mkdir(parents=True, exist_ok=True)
        for directory in (self.root_dir, self._sessions_dir):
            directory.chmod(SHARED_DIR_MODE)
        bwrap = (bwrap_path or shutil.which("bwrap")) if use_bubblewrap else None
        self._dedicated_uids = os.geteuid() == 0
        self._uids = SandboxUidPool(sandbox_uids)
        self._clock = clock
        self._launcher = KernelLauncher(PythonInstall.inspect(python), self._install_kernel(), bwrap, start_timeout_s)
        self._sessions: dict[str, LocalSandboxSession] = {}
        self._lock = threading.Lock()

    def session(self, run_id: str, limits: SandboxLimits, env: dict[str, str]) -> LocalSandboxSession:
        self.reap_idle()
        with self._lock:
            existing = self._sessions.get(run_id)
            if existing is not None and not existing.closed:
                existing.last_used = self._clock()
                return existing
            session = self._create_session(run_id, limits, check_env(env))
            self._sessions[run_id] = session
        try:
            session.start()
        except BaseException:
            session.close()
            raise
        return session

    def end(self, run_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(run_id, None)
        if session is not None:
            session.close()

    def reap_idle(self) -> list[str]:
        now = self._clock()
        with self._lock:
            idle = [
                run_id
                for run_id, session in self._sessions.items()
                if session.idle_for(now) > session.limits.idle_timeout_s
            ]
        for run_id in idle:
            logger.info("reaping idle sandbox session of run %s", run_id)
            self.end(run_id)
        return idle

    def close(self) -> None:
        self._ending = True
        """End every session and stop the spawner thread."""
        with self._lock:
            run_ids = list(self._sessions)
        for run_id in run_ids:
            self.end(run_id)
        self._launcher.shutdown()

    def _create_session(self, run_id: str, limits: SandboxLimits, env: dict[str, str]) -> LocalSandboxSession:
        uid = self._uids.acquire() if self._dedicated_uids else None
        try:
            paths = self._create_session_dirs(run_id, uid)
        except BaseException:
            if uid is not None:
                self._uids.release(uid)
            raise

        def forget(session: LocalSandboxSession) -> None:
            with self._lock:
                if self._sessions.get(session.run_id) is session:
                    del self._sessions[session.run_id]
            if uid is not None:
                self._uids.release(uid)

        return LocalSandboxSession(run_id, paths, limits, env, uid, self._launcher, forget, self._clock)

    def _create_session_dirs(self, run_id: str, uid: int | None) -> SessionPaths:
        paths = SessionPaths(self._sessions_dir / session_dir_name(run_id))
        remove_tree(paths.root)
        paths.root.mkdir(mode=SHARED_DIR_MODE)
        paths.root.chmod(SHARED_DIR_MODE)
        for directory in (paths.workspace, paths.home, paths.tmp):
            make_private_dir(directory, uid)
        owner_uid = uid if uid is not None else os.getuid()
        owner_gid = uid if uid is not None else os.getgid()
        paths.passwd.write_text(f"sandbox:x:{owner_uid}:{owner_gid}:sandbox:/home/sandbox:/usr/sbin/nologin\n")
        paths.group.write_text(f"sandbox:x:{owner_gid}:\n")
        for file in (paths.passwd, paths.group):
            file.chmod(0o644)
        return paths

    def _install_kernel(self) -> Path:
        kernel_dir = self.root_dir / "kernel"
        kernel_dir.mkdir(mode=0o755, exist_ok=True)
        kernel_dir.chmod(0o755)
        target = kernel_dir / "kernel.py"
        source = Path(kernel_module.__file__).read_bytes()
        if not target.exists() or target.read_bytes() != source:
            target.write_bytes(source)
        target.chmod(0o644)
        return target
