"""The sandbox interfaces the workflow depends on; the local and Fargate backends implement them."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from agentlab.sandbox.models import CellResult, SandboxLimits, WorkspaceFile


class SandboxSession(Protocol):
    """A live kernel for one run: Python state is kept from one cell to the next."""

    run_id: str
    isolation: str
    workspace: Path

    def execute(self, code: str, timeout_s: float | None = None) -> CellResult: ...

    def check(self, code: str, timeout_s: float | None = None) -> CellResult:
        """Run `code` once in a fresh process over the workspace (read-only where the backend allows). The kernel
        and its state are untouched, and nothing the agent's code did to its kernel (patched modules or builtins,
        processes left running) reaches the check: goal checks run here."""
        ...

    def run_phase(self, code: str, *, limits: SandboxLimits, network: bool = False) -> CellResult:
        """Run one phase of a repository's commands (repo_optimize) over the writable workspace under `limits`,
        with network to package registries only when `network` (the install phase). Nothing a phase leaves running
        outlives it where the backend can tell."""
        ...

    def put_file(self, path: str, data: bytes) -> None: ...

    def read_file(self, path: str) -> bytes: ...

    def list_files(self) -> list[WorkspaceFile]: ...

    def close(self) -> None: ...


class SandboxBackend(Protocol):
    def session(self, run_id: str, limits: SandboxLimits, env: dict[str, str]) -> SandboxSession:
        """Get the run's live session or create it; a kernel that died is restarted at its next cell."""
        ...

    def end(self, run_id: str) -> None:
        """End the run's session: stop every process it started and remove its workspace."""
        ...

    def reap_idle(self) -> list[str]:
        """End the sessions idle for longer than their idle_timeout_s; return their run ids."""
        ...
