"""Domain errors. Each carries a stable code and the HTTP status the API answers with, mapped in one place."""

from __future__ import annotations

from typing import Any


class AgentlabError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class InvalidRequest(AgentlabError):
    status = 400
    code = "invalid_request"


class Unauthorized(AgentlabError):
    status = 401
    code = "unauthorized"


class Forbidden(AgentlabError):
    status = 403
    code = "forbidden"


class NotFound(AgentlabError):
    status = 404
    code = "not_found"


class Conflict(AgentlabError):
    status = 409
    code = "conflict"


class PayloadTooLarge(AgentlabError):
    status = 413
    code = "payload_too_large"


class Unprocessable(AgentlabError):
    status = 422
    code = "validation_error"


class RateLimited(AgentlabError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class ConcurrentUpdate(Conflict):
    """A conditional write lost against another writer: the caller reloads and retries or reports 409."""

    code = "concurrent_update"


class MethodNotAllowed(AgentlabError):
    status = 405
    code = "method_not_allowed"


class NotConfigured(AgentlabError):
    status = 501
    code = "not_configured"


class UnsupportedMediaType(AgentlabError):
    status = 415
    code = "unsupported_media_type"
