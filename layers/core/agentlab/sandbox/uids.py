"""Dedicated host uids for sandbox kernels: one per live session, so that RLIMIT_NPROC counts only that session's
processes, sessions cannot signal one another, and every process a session started can be found and killed by uid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

from agentlab.sandbox.errors import SandboxUnavailable

PROC = Path("/proc")
KILL_ROUNDS = 20


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


def kill_processes_of_uid(uid: int) -> None:
    """SIGKILL everything running as uid, fork bombs included.

    kill(-1) issued as that uid reaches all of its processes in one pass of the kernel's task list, which a fork bomb
    cannot outrun the way it outruns a scan of /proc; the scan only confirms, and mops up if kill is missing.
    """
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


class SandboxUidPool:
    """Hands out uids from a range, skipping any uid that still owns a process (another backend's, or a leftover)."""

    def __init__(self, uids: range) -> None:
        self._uids = uids
        self._taken: set[int] = set()
        self._lock = threading.Lock()

    def acquire(self) -> int:
        with self._lock:
            busy = self._taken | set(process_uids().values())
            for uid in self._uids:
                if uid not in busy:
                    self._taken.add(uid)
                    return uid
        raise SandboxUnavailable(f"no free sandbox uid in {self._uids.start}..{self._uids.stop - 1}")

    def release(self, uid: int) -> None:
        with self._lock:
            self._taken.discard(uid)
