"""Sandbox errors: refused workspace paths and kernels that could not be started."""

from __future__ import annotations

from agentlab.errors import AgentlabError, InvalidRequest


class SandboxError(AgentlabError):
    code = "sandbox_error"


class SandboxPathRefused(InvalidRequest, ValueError):
    """A workspace path that is absolute, climbs out with .., goes through a symlink or is not a regular file."""

    code = "sandbox_path_refused"


class SandboxUnavailable(SandboxError):
    """No kernel could be started at any isolation level, or the backend has no free sandbox uid."""

    status = 503
    code = "sandbox_unavailable"


class SandboxSessionClosed(SandboxError):
    status = 409
    code = "sandbox_session_closed"


class SandboxEnvRefused(InvalidRequest, ValueError):
    """An environment variable whose name is not an identifier or whose value holds a NUL byte."""

    code = "sandbox_env_refused"
