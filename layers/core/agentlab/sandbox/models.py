"""What a sandbox session is given (limits) and what a cell gives back (its result and the files it wrote)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LimitHit = Literal["timeout", "cpu", "memory", "processes", "file_size", "output"]


class SandboxLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu: float = Field(
        default=1.0,
        ge=0.25,
        le=4,
        description="vCPUs: the Fargate task size; locally the number of cores the kernel may use (rounded up)",
    )
    cpu_s: int = Field(default=60, ge=1, description="RLIMIT_CPU of the kernel process, over its whole life")
    memory_mb: int = Field(default=1024, ge=64, description="RLIMIT_AS of the kernel and each process it starts")
    cell_timeout_s: float = Field(default=120, gt=0, description="wall clock per cell")
    max_processes: int = Field(default=64, ge=1, description="RLIMIT_NPROC, enforced when the kernel has its own uid")
    max_file_mb: int = Field(default=100, ge=1, description="RLIMIT_FSIZE")
    max_output_bytes: int = Field(default=1_000_000, ge=1, description="kept of stdout and of stderr, per cell")
    idle_timeout_s: float = Field(default=900, gt=0, description="an idle session is reaped after this long")


class WorkspaceFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str = Field(description="relative to the workspace, with / separators")
    size: int
    sha256: str
    content_type: str


class CellResult(BaseModel):
    """One executed cell.

    exit_code is 0 when the cell ran to its end, 1 when user code raised, and anything else when the kernel itself
    died (128 + the signal that ended it, as a shell reports it); a kernel that died lost its state and is restarted
    for the next cell (kernel_restarted).
    """

    stdout: str
    stderr: str
    exit_code: int
    duration_ms: int
    limit: LimitHit | None = None
    files: list[WorkspaceFile] = Field(default_factory=list)
    kernel_restarted: bool = False
    # The kernel process that ran the cell (random per kernel start): another id than the previous cell's means the
    # cell ran in a new kernel, without the earlier cells' state.
    kernel_id: str = ""
