"""Starts a session's kernel at the strongest isolation level that works on this machine."""

from __future__ import annotations

import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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

KERNEL_ID_BYTES = 8


@dataclass(frozen=True)
class KernelRequest:
    """What to start. check asks for a goal check's kernel: one cell and gone, the workspace read-only under
    bubblewrap, and no figure saved into it. Its paths are the session's for_check() ones, and spared_pids the
    processes of the uid it must leave alone when it stops (the agent's, frozen while the check runs). floor is the
    weakest level acceptable: a session's later kernels never get less isolation than its first, whatever its cells
    did to make the stronger levels fail."""

    paths: SessionPaths
    limits: SandboxLimits
    env: dict[str, str]
    uid: int | None
    check: bool = False
    spared_pids: frozenset[int] = frozenset()
    floor: IsolationLevel | None = None
    # Keep the host's network (under bubblewrap; the weaker levels never take it away): a repository's install.
    network: bool = False


@dataclass
class LaunchedKernel:
    process: KernelProcess
    level: IsolationLevel
    # Random per kernel start, carried by every CellResult it gives: a new id tells the caller its state is gone.
    kernel_id: str = field(default_factory=lambda: secrets.token_hex(KERNEL_ID_BYTES))


class KernelLauncher:
    """Tries bubblewrap, then the dedicated uid alone, then rlimits alone (never below the request's floor), and says
    which one it got."""

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
        for level in self._levels(request.uid, request.floor):
            try:
                return LaunchedKernel(self._start(level, request), level)
            except (KernelStartFailed, OSError) as exc:
                failures.append(f"{level.value}: {exc}")
                logger.warning("sandbox kernel did not start at level %s: %s", level.value, exc)
        raise SandboxUnavailable("no sandbox kernel could be started: " + "; ".join(failures))

    def shutdown(self) -> None:
        self._spawner.shutdown(wait=False)

    def _levels(self, uid: int | None, floor: IsolationLevel | None) -> list[IsolationLevel]:
        levels = [IsolationLevel.BUBBLEWRAP] if self._bwrap else []
        if uid is not None:
            levels.append(IsolationLevel.UID)
        levels.append(IsolationLevel.RLIMITS)
        if floor is None:
            return levels
        strength = list(IsolationLevel)
        return [level for level in levels if strength.index(level) <= strength.index(floor)]

    def _start(self, level: IsolationLevel, request: KernelRequest) -> KernelProcess:
        marker = f"\x00\x1e<agentlab-cell-end:{secrets.token_hex(16)}>\x1e\x00"
        spec = self._launch_spec(level, request)
        uid, spared = request.uid, request.spared_pids

        def kill_sandbox_user() -> None:
            if uid is not None:
                kill_processes_of_uid(uid, keep=spared)

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
            as_root, read_only, network = request.uid is not None, request.check, request.network
            return LaunchSpec(
                command=lambda fd: bubblewrap_command(
                    bwrap,
                    install,
                    paths,
                    kernel_file,
                    fd,
                    as_root=as_root,
                    read_only_workspace=read_only,
                    network=network,
                ),
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
            # Whether kill(-1) from the kernel reaches only the sandbox's own processes: a check's kernel outside
            # bubblewrap shares its uid with the agent's frozen processes.
            "contained": in_bubblewrap or (has_own_uid and not request.check),
            "gid": request.uid if in_bubblewrap else None,
            "save_figures": not request.check,
            "limits": {
                "cpu": limits.cpu,
                "cpu_s": limits.cpu_s,
                "memory_mb": limits.memory_mb,
                "max_file_mb": limits.max_file_mb,
                # Without a uid of its own the count would include every other process of the host user.
                "max_processes": limits.max_processes if has_own_uid else None,
            },
        }
