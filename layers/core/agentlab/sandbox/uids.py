"""Dedicated host uids for sandbox kernels: one per live session, so that RLIMIT_NPROC counts only that session's
processes, sessions cannot signal one another, and every process a session started can be found, stopped for a while
(freeze/thaw) and killed by uid.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection
from pathlib import Path

from agentlab.sandbox.errors import SandboxUnavailable

PROC = Path("/proc")
KILL_ROUNDS = 20
FREEZE_ROUNDS = 50
FREEZE_PAUSE_S = 0.002
# /proc/<pid>/stat states: stopped by a signal or held by a tracer; and processes that can no longer run at all.
STOPPED_STATES = frozenset("Tt")
ENDED_STATES = frozenset("ZX")


def process_uids() -> dict[int, int]:
    """The real uid of every process, by pid, read from /proc."""
    found: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:"):
                found[int(entry.name)] = int(line.split()[1])
                break
    return found


def processes_of_uid(uid: int) -> list[int]:
    return [pid for pid, owner in process_uids().items() if owner == uid]


def process_state(pid: int) -> str | None:
    """The one-letter scheduler state of a process (R, S, D, T, t, Z, ...), or None when it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may hold spaces and parentheses itself: the state follows the last ")".
    fields = stat.rpartition(")")[2].split()
    return fields[0] if fields else None


def can_run(state: str | None) -> bool:
    return state is not None and state not in STOPPED_STATES and state not in ENDED_STATES


def freeze_processes_of_uid(uid: int, keep: Collection[int] = ()) -> list[int]:
    """SIGSTOP every process running as uid but those in keep (and the caller); return the pids stopped, for thaw().

    Passes over /proc repeat, a bounded number of times, until one finds none of them still able to run: a stopped
    process can neither fork nor continue another, so the processes that a pass missed (forked meanwhile, or continued
    by one not yet stopped) are caught by the next. A process owned by uid can be frozen from outside (root freezing a
    sandbox uid, keep empty) or from inside (a server running as uid freezing the rest of its uid, keep={its pid}).
    uid 0 is refused: that would stop the machine.
    """
    if uid == 0:
        raise ValueError("refusing to freeze the processes of root")
    spared = {*keep, os.getpid()}
    stopped: dict[int, None] = {}
    for _ in range(FREEZE_ROUNDS):
        running = [pid for pid in processes_of_uid(uid) if pid not in spared and can_run(process_state(pid))]
        if not running:
            break
        for pid in running:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            stopped[pid] = None
        # Signals are delivered asynchronously: give the stop the time to land before the next pass looks.
        time.sleep(FREEZE_PAUSE_S)
    return list(stopped)


def thaw(pids: Collection[int]) -> None:
    """SIGCONT the processes freeze_processes_of_uid() stopped; those that ended meanwhile are skipped."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            continue


def kill_processes_of_uid(uid: int, keep: Collection[int] = ()) -> None:
    """SIGKILL everything running as uid but the processes in keep, fork bombs included.

    kill(-1) issued as that uid reaches all of its processes in one pass of the kernel's task list, which a fork bomb
    cannot outrun the way it outruns a scan of /proc; the scan only confirms, and mops up if kill is missing. With
    processes to keep, kill(-1) would reach them too: the others are frozen first, so none can fork while it is killed.
    """
    if keep:
        _kill_processes_of_uid_but(uid, {*keep, os.getpid()})
        return
    kill = shutil.which("kill", path="/usr/bin:/bin")
    for _ in range(KILL_ROUNDS):
        pids = processes_of_uid(uid)
        if not pids:
            return
        if kill is not None:
            subprocess.run(  # noqa: S603 - fixed argv, run as the sandbox uid so -1 means "all of that uid"
                [kill, "-KILL", "-1"], user=uid, group=uid, extra_groups=[], env={}, check=False
            )
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue


def _kill_processes_of_uid_but(uid: int, spared: set[int]) -> None:
    for _ in range(KILL_ROUNDS):
        freeze_processes_of_uid(uid, spared)
        doomed = [pid for pid in processes_of_uid(uid) if pid not in spared and process_state(pid) not in ENDED_STATES]
        if not doomed:
            return
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue


def claims_dir() -> Path:
    """Where uid claims are kept: one folder per host user, for every process of that user on this machine."""
    return Path(
        os.environ.get("AGENTLAB_SANDBOX_UID_CLAIMS") or Path(tempfile.gettempdir()) / f"agentlab-uids-{os.geteuid()}"
    )


class SandboxUidPool:
    """Hands out uids from a range, one at a time per uid on the whole machine: a uid is claimed by an exclusive
    lock on its file in `claims_dir()` (held while the session lives, dropped by the kernel when the process that holds
    it dies, even killed), and a uid that still owns a process (a leftover) is skipped too. Two local stacks, or a
    stack and a test process, therefore never give one uid to two sessions, where ending one would kill the other's
    kernel. The folder must be the caller's own and closed to others: a sandboxed uid must not be able to take or
    hold claims."""

    def __init__(self, uids: range, directory: Path | None = None) -> None:
        self._uids = uids
        self._directory = directory
        self._claims: dict[int, int] = {}  # uid -> the descriptor holding its lock
        self._lock = threading.Lock()

    def _claims_dir(self) -> Path:
        directory = self._directory or claims_dir()
        directory.mkdir(mode=0o700, exist_ok=True)
        info = directory.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise SandboxUnavailable(f"{directory} must be a folder of uid {os.geteuid()} open to nobody else")
        return directory

    def _claim(self, directory: Path, uid: int) -> bool:
        descriptor = os.open(directory / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._claims[uid] = descriptor
        return True

    def acquire(self) -> int:
        with self._lock:
            directory = self._claims_dir()
            busy = self._claims.keys() | set(process_uids().values())
            for uid in self._uids:
                if uid not in busy and self._claim(directory, uid):
                    return uid
        raise SandboxUnavailable(f"no free sandbox uid in {self._uids.start}..{self._uids.stop - 1}")

    def release(self, uid: int) -> None:
        with self._lock:
            descriptor = self._claims.pop(uid, None)
        if descriptor is not None:
            os.close(descriptor)  # closing the last descriptor of the lock drops it
