"""Starts a session's kernel at the strongest isolation level that works on this machine."""

from __future__ import annotations

import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentlab.sandbox.errors import SandboxUnavailable
from agentlab.sandbox.isolation import (
    LAUNCH_PATH,
    WORKSPACE_IN_SANDBOX,
    IsolationLevel,
    PythonInstall,
    SessionPaths,
    bubblewrap_command,
    kernel_command,
    sandbox_environment,
)
from agentlab.sandbox.kernel_process import KernelProcess, KernelStartFailed, LaunchSpec
from agentlab.sandbox.models import SandboxLimits
from agentlab.sandbox.uids import kill_processes_of_uid

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KernelRequest:
    paths: SessionPaths
    limits: SandboxLimits
    env: dict[str, str]
    uid: int | None


@dataclass
class LaunchedKernel:
    process: KernelProcess
    level: IsolationLevel


class KernelLauncher:
    """Tries bubblewrap, then the dedicated uid alone, then rlimits alone, and says which one it got."""

    def __init__(self, install: PythonInstall, kernel_file: Path, bwrap: str | None, start_timeout_s: float) -> None:
        self._install = install
        self._kernel_file = kernel_file
        self._bwrap = bwrap
        self._start_timeout_s = start_timeout_s
        # bubblewrap's --die-with-parent follows the thread that forked it, so kernels are forked from one thread
        # that lives as long as the backend, never from a request thread that may end before the session does.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawn")

    def launch(self, request: KernelRequest) -> LaunchedKernel:
        failures: list[str] = []
        for level in self._levels(request.uid):
            try:
                return LaunchedKernel(self._start(level, request), level)
            except (KernelStartFailed, OSError) as exc:
                failures.append(f"{level.value}: {exc}")
                logger.warning("sandbox kernel did not start at level %s: %s", level.value, exc)
        raise SandboxUnavailable("no sandbox kernel could be started: " + "; ".join(failures))

    def shutdown(self) -> None:
        self._spawner.shutdown(wait=False)

    def _levels(self, uid: int | None) -> list[IsolationLevel]:
        levels = [IsolationLevel.BUBBLEWRAP] if self._bwrap else []
        if uid is not None:
            levels.append(IsolationLevel.UID)
        return [*levels, IsolationLevel.RLIMITS]

    def _start(self, level: IsolationLevel, request: KernelRequest) -> KernelProcess:
        marker = f"\x00\x1e<agentlab-cell-end:{secrets.token_hex(16)}>\x1e\x00"
        spec = self._launch_spec(level, request)
        uid = request.uid

        def kill_sandbox_user() -> None:
            if uid is not None:
                kill_processes_of_uid(uid)

        process = self._spawner.submit(
            KernelProcess, spec, marker.encode(), request.limits.max_output_bytes, kill_sandbox_user
        ).result()
        try:
            process.handshake(self._init_message(level, request, marker), self._start_timeout_s)
        except BaseException:
            process.close()
            raise
        return process

    def _launch_spec(self, level: IsolationLevel, request: KernelRequest) -> LaunchSpec:
        paths = request.paths
        env = {"PATH": LAUNCH_PATH, "LANG": "C.UTF-8"}
        if level is IsolationLevel.BUBBLEWRAP:
            bwrap, install, kernel_file = self._bwrap or "bwrap", self._install, self._kernel_file
            as_root = request.uid is not None
            return LaunchSpec(
                command=lambda fd: bubblewrap_command(bwrap, install, paths, kernel_file, fd, as_root=as_root),
                env=env,
                cwd=str(paths.root),
            )
        executable, kernel_path = self._install.executable, str(self._kernel_file)
        return LaunchSpec(
            command=lambda fd: kernel_command(executable, kernel_path, fd),
            env=env,
            cwd=str(paths.workspace),
            user=request.uid if level is IsolationLevel.UID else None,
        )

    @staticmethod
    def _init_message(level: IsolationLevel, request: KernelRequest, marker: str) -> dict[str, Any]:
        in_bubblewrap = level is IsolationLevel.BUBBLEWRAP
        has_own_uid = request.uid is not None and level is not IsolationLevel.RLIMITS
        limits = request.limits
        return {
            "op": "init",
            "marker": marker,
            "cwd": WORKSPACE_IN_SANDBOX if in_bubblewrap else str(request.paths.workspace),
            "env": sandbox_environment(level, request.paths, request.env),
            # Under bubblewrap the kernel starts as root without a user namespace and drops to the uid itself.
            "uid": request.uid if in_bubblewrap else None,
            # Whether kill(-1) from the kernel reaches only the sandbox's own processes.
            "contained": in_bubblewrap or has_own_uid,
            "gid": request.uid if in_bubblewrap else None,
            "limits": {
                "cpu_s": limits.cpu_s,
                "memory_mb": limits.memory_mb,
                "max_file_mb": limits.max_file_mb,
                # Without a uid of its own the count would include every other process of the host user.
                "max_processes": limits.max_processes if has_own_uid else None,
            },
        }
