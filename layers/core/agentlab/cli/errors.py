"""Failures the CLI reports, each with the exit code a script can branch on."""

from __future__ import annotations

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_AUTH = 4


class CliError(Exception):
    exit_code = EXIT_API_ERROR


class UsageError(CliError):
    exit_code = EXIT_USAGE


class ConnectionFailed(CliError):
    exit_code = EXIT_CONNECTION

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach agentlab at {url}: {reason} (is `make dev` running?)")
        self.url = url
        self.reason = reason


class ApiError(CliError):
    """An error answer from the API: `{"error": {"code", "message", "request_id"}}`."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        super().__init__(self.describe())

    def describe(self) -> str:
        suffix = f" (request {self.request_id})" if self.request_id else ""
        return f"error {self.code}: {self.message}{suffix}"


class AuthenticationFailed(ApiError):
    exit_code = EXIT_AUTH

    def describe(self) -> str:
        return f"authentication failed: {self.message} (check --api-key / AGENTLAB_API_KEY)"


class PermissionDenied(ApiError):
    exit_code = EXIT_AUTH

    def describe(self) -> str:
        suffix = f" (request {self.request_id})" if self.request_id else ""
        return f"permission denied: {self.message} — the API key's role does not allow this{suffix}"
