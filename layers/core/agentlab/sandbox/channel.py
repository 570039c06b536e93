"""The channel between the host and a sandbox task: HTTP inside the VPC, a bearer token on every request.

The host (agentlab.sandbox.fargate) makes a token per task and keeps it in the run's session record; the task
(agentlab.sandbox.task_server) knows only its SHA-256, from its environment, so nothing in the task can hand the
token out. Nothing else travels: no S3 exchange, no polling.

    GET  /health                          -> TaskHealth
    POST /session   StartSession          -> TaskHealth      starts the run's kernel; again is a no-op
    POST /execute   RunCode               -> CellResult      a cell of the run's kernel
    POST /check     RunCode               -> CellResult      a fresh process over the workspace (goal checks)
    PUT  /file?path=<workspace path>      raw bytes -> 204
    GET  /file?path=<workspace path>      -> raw bytes
    GET  /files                           -> [WorkspaceFile]
    POST /stop                            -> 202, the task ends

Errors answer {"error": <code>, "message": <text>}: 400 a refused body or path, 401 a missing or wrong token (nothing
ran), 404 no such file, 409 the session was not started, 411/413 a body without a length or over its cap, 503 no
kernel could be started.

The standard library and pydantic only: the task imports this module inside the sandbox image.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pydantic import BaseModel, ConfigDict, Field

TASK_PORT = 8700  # the task's kernel server; only the functions that run cells may reach it
TOKEN_BYTES = 32
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # a JSON body: a code cell, or the run's environment
MIB = 1024 * 1024

HEALTH = "/health"
SESSION = "/session"
EXECUTE = "/execute"
CHECK = "/check"
FILE = "/file"
FILES = "/files"
STOP = "/stop"

# The task's environment (set by RunTask's container overrides: nothing secret travels there).
ENV_RUN_ID = "AGENTLAB_SANDBOX_RUN_ID"
ENV_LIMITS = "AGENTLAB_SANDBOX_LIMITS"
ENV_TOKEN_SHA256 = "AGENTLAB_SANDBOX_TOKEN_SHA256"  # noqa: S105 - a variable name; it holds a digest

UNAUTHORIZED = "unauthorized"
NOT_STARTED = "session_not_started"


class StartSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    env: dict[str, str] = Field(default_factory=dict)


class RunCode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    timeout_s: float | None = Field(default=None, gt=0)


class TaskHealth(BaseModel):
    run_id: str
    started: bool
    # The kernel the last cell ran in ("" before the first cell, and after a kernel died).
    kernel_id: str = ""
    workspace: str = ""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def authorized(header: str | None, expected_digest: str) -> bool:
    """Whether an Authorization header carries the token whose digest the task was given (constant time)."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or not expected_digest:
        return False
    return hmac.compare_digest(token_digest(token.strip()), expected_digest)
