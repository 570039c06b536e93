"""The API application: one resolver, authentication before routing, one error shape for every failure."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from agentlab.api import routes
from agentlab.api.auth import is_public, resolve_caller
from agentlab.api.deps import ApiDeps
from agentlab.errors import AgentlabError, InvalidRequest, PayloadTooLarge, RateLimited, Unprocessable
from agentlab.ids import new_ulid

logger = Logger(service="agentlab-api")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
API_TITLE = "agentlab API"


def error_response(
    status: int, code: str, message: str, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": {"code": code, "message": message, "request_id": request_id}}),
        headers={"X-Request-ID": request_id, **(headers or {})},
    )


def _describe_validation_error(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:10]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        message = str(error.get("msg", error.get("type", "invalid")))
        parts.append(f"{location}: {message}")
    return "; ".join(parts) or "the request is not valid"


def _body_text(event: dict[str, Any]) -> str:
    """API Gateway base64-encodes a body that is not UTF-8 text; every body of this API is JSON, which is text."""
    body: str = event.get("body") or ""
    if not body or not event.get("isBase64Encoded"):
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequest("the request body is not valid JSON (not UTF-8 text)", code="invalid_json") from exc


def _require_no_top_level_list(text: str) -> None:
    # The resolver would validate the first element of a list as the body (a form-data convenience); every body of
    # this API is one JSON object, so a list is refused instead of half-read.
    if text.lstrip().startswith("["):
        raise Unprocessable("the request body must be a JSON object, not a list")


def create_app(deps: ApiDeps) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    app.enable_swagger(
        path="/v1/docs", title=API_TITLE, version="1.0.0", description="Run AI agents that write and execute code."
    )

    def request_id() -> str:
        return str(app.context.get("request_id") or "unknown")

    @app.exception_handler(AgentlabError)
    def _domain_error(exc: AgentlabError) -> Response:
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited) else None
        if exc.status >= 500:
            logger.exception("request failed", extra={"code": exc.code})
        return error_response(exc.status, exc.code, exc.message, request_id(), headers)

    @app.exception_handler(RequestValidationError)
    def _validation_error(exc: RequestValidationError) -> Response:
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            return error_response(400, "invalid_json", "the request body is not valid JSON", request_id())
        return error_response(422, "validation_error", _describe_validation_error(exc), request_id())

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_content_type(exc: RequestUnsupportedContentType) -> Response:
        return error_response(415, "unsupported_media_type", "request bodies must be application/json", request_id())

    @app.exception_handler(Exception)
    def _unexpected_error(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "an internal error occurred", request_id())

    @app.not_found
    def _route_not_found(exc: Exception) -> Response:
        return error_response(404, "route_not_found", "no such route", request_id())

    routes.register(app, deps)
    return app


def handle_event(app: APIGatewayHttpResolver, deps: ApiDeps, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Resolve one API Gateway HTTP API (v2) event: request id, size cap and caller first, then the route."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    supplied = headers.get("x-request-id", "")
    rid = supplied if _REQUEST_ID.match(supplied) else new_ulid()
    http = event.get("requestContext", {}).get("http", {})
    method, path = http.get("method", "GET"), event.get("rawPath", "/")
    try:
        body = event.get("body") or ""
        if len(body) > deps.settings.max_body_bytes:
            raise PayloadTooLarge(f"request bodies are limited to {deps.settings.max_body_bytes} bytes")
        caller = None if is_public(method, path) else resolve_caller(headers, deps.orgs)
        _require_no_top_level_list(_body_text(event))
    except AgentlabError as exc:
        return {
            "statusCode": exc.status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON, "X-Request-ID": rid},
            "body": json.dumps({"error": {"code": exc.code, "message": exc.message, "request_id": rid}}),
            "isBase64Encoded": False,
        }
    app.append_context(request_id=rid, caller=caller)
    response = app.resolve(event, context)
    response.setdefault("headers", {})["X-Request-ID"] = rid
    return response
