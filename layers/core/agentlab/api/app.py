"""The API application: one resolver, authentication before routing, one error shape for every failure."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from agentlab.api import admin_routes, permissions, routes
from agentlab.api.auth import bearer_token, resolve_caller
from agentlab.api.deps import ApiDeps
from agentlab.api.features import FEATURE_MODULES
from agentlab.api.openapi import enable_docs
from agentlab.api.permissions import RouteMatch
from agentlab.errors import (
    AgentlabError,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from agentlab.ids import new_ulid
from agentlab.logs import get_logger
from agentlab.models import Caller

logger = get_logger("agentlab-api")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# The protection space of every credential (RFC 9110 11.6.1; RFC 6750 for bearer credentials).
REALM = "agentlab"


def error_headers(exc: AgentlabError, *, path: str = "/", invalid_token: bool = False) -> dict[str, str]:
    """The headers HTTP asks of an error answer: Retry-After on 429, Allow on 405, a challenge on 401 (with
    `error="invalid_token"` when the credential sent was refused, none when there was none)."""
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, MethodNotAllowed):
        return {"Allow": ", ".join(permissions.allowed_methods(path))}
    if isinstance(exc, Unauthorized):
        challenge = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if invalid_token else "")
        return {"WWW-Authenticate": challenge}
    return {}


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


def _require_json_body(headers: dict[str, str], body: str) -> None:
    """Every body of this API is JSON; another declared type (a form, say) is refused before anything parses it."""
    declared = headers.get("content-type", "").split(";")[0].strip().lower()
    if body and declared and declared != "application/json" and not declared.endswith("+json"):
        raise UnsupportedMediaType("request bodies must be application/json")


def _require_no_top_level_list(text: str) -> None:
    # The resolver would validate the first element of a list as the body (a form-data convenience); every body of
    # this API is one JSON object, so a list is refused instead of half-read.
    if text.lstrip().startswith("["):
        raise Unprocessable("the request body must be a JSON object, not a list")


def create_app(deps: ApiDeps) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    enable_docs(app, deps.settings)

    def request_id() -> str:
        return str(app.context.get("request_id") or "unknown")

    @app.exception_handler(AgentlabError)
    def _domain_error(exc: AgentlabError) -> Response:
        headers = error_headers(exc, path=app.current_event.path)
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
    admin_routes.register(app, deps)
    for feature in FEATURE_MODULES:
        feature.register(app, deps)
    return app


_MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PLATFORM_AUDIT = "_platform"
_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# Swagger UI (served by the API itself) needs its own script and styles.
_DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Cache-Control": "no-store",
}
_CORS_ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
_CORS_EXPOSE_HEADERS = "X-Request-ID, Retry-After"


def _security_headers(path: str) -> dict[str, str]:
    return {**SECURITY_HEADERS, "Content-Security-Policy": _DOCS_CSP if path.startswith("/v1/docs") else _API_CSP}


def _cors_headers(origin: str | None, deps: ApiDeps) -> dict[str, str]:
    if not origin or origin.rstrip("/") not in deps.settings.allowed_origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": _CORS_EXPOSE_HEADERS,
        "Vary": "Origin",
    }


def _plain_error(exc: AgentlabError, rid: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {"Content-Type": content_types.APPLICATION_JSON, "X-Request-ID": rid, **(extra or {})}
    return {
        "statusCode": exc.status,
        "headers": headers,
        "body": json.dumps({"error": {"code": exc.code, "message": exc.message, "request_id": rid}}),
        "isBase64Encoded": False,
    }


def _preflight(origin: str | None, deps: ApiDeps, rid: str) -> dict[str, Any]:
    cors = _cors_headers(origin, deps)
    if not cors:
        return _plain_error(Forbidden("this origin may not call the API from a browser", code="cors_denied"), rid)
    return {
        "statusCode": 204,
        "headers": {
            **cors,
            "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE",
            "Access-Control-Allow-Headers": _CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
            "X-Request-ID": rid,
        },
        "body": "",
        "isBase64Encoded": False,
    }


def _plain_options(path: str, rid: str) -> dict[str, Any]:
    """OPTIONS without an Origin: not a CORS preflight but a question about the path (RFC 9110 9.3.7)."""
    return {
        "statusCode": 204,
        "headers": {"Allow": ", ".join(permissions.allowed_methods(path)), "X-Request-ID": rid},
        "body": "",
        "isBase64Encoded": False,
    }


def _as_get(event: dict[str, Any]) -> dict[str, Any]:
    """A HEAD request resolved as the GET it mirrors (the resolver has GET routes only)."""
    context = event.get("requestContext", {})
    http = {**context.get("http", {}), "method": "GET"}
    return {**event, "requestContext": {**context, "http": http}}


def _apply_limits(deps: ApiDeps, caller: Caller | None, action: str | None, path: str, source_ip: str) -> None:
    settings = deps.settings
    if caller is not None:
        deps.limits.hit(caller.identity, "requests", limit=settings.rate_limit_requests_per_minute, what="requests")
        if action == "runs.create":
            deps.limits.hit(caller.identity, "runs", limit=settings.rate_limit_runs_per_minute, what="run creations")
    elif path == "/v1/auth/login":
        # Password guessing: sign-in attempts are limited per source address.
        deps.limits.hit(
            f"ip:{source_ip}", "logins", limit=settings.rate_limit_logins_per_minute, what="sign-in attempts"
        )


def _target(route: RouteMatch | None, status: int, body: Any) -> str | None:
    if route is not None and route.params:
        return ",".join(f"{k}={v}" for k, v in route.params.items())
    if status in (200, 201) and isinstance(body, str) and body.startswith("{"):
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        found = parsed.get("id") or (parsed.get("org") or {}).get("id")
        return f"id={found}" if isinstance(found, str) else None
    return None


def _audit(
    deps: ApiDeps,
    caller: Caller,
    route: RouteMatch | None,
    event: dict[str, Any],
    status: int,
    body: Any,
    rid: str,
    method: str,
    path: str,
) -> None:
    outcome = "success" if status < 400 else "denied" if status in (401, 403, 404, 429) else "failed"
    # A deleted org keeps no partition, so the record of its deletion goes to the platform's own audit trail.
    deleted_org = route is not None and route.action == "org.delete" and status == 200
    try:
        deps.audit.record(
            org_id=PLATFORM_AUDIT if deleted_org else caller.org_id,
            actor=caller.identity,
            role=caller.role,
            action=(route.action if route and route.action else f"{method} {path}")[:200],
            method=method,
            path=path[:512],
            target=_target(route, status, body),
            status=status,
            outcome=outcome,
            request_id=rid,
            source_ip=event.get("requestContext", {}).get("http", {}).get("sourceIp"),
        )
    except Exception:  # an audit write that fails must be seen, but must not turn a done mutation into an error
        logger.exception("audit record not written", extra={"request_id": rid, "path": path})


def handle_event(app: APIGatewayHttpResolver, deps: ApiDeps, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Resolve one API Gateway HTTP API (v2) event.

    In order: request id, CORS preflight, size cap, caller, route lookup (404, 405 with Allow, a plain OPTIONS), the
    role x route matrix, rate limits; then the route itself (HEAD as its GET); then security headers and, for a
    mutation, an audit record. A HEAD answer is its GET's, headers and status, without the body.
    """
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    supplied = headers.get("x-request-id", "")
    rid = supplied if _REQUEST_ID.match(supplied) else new_ulid()
    http = event.get("requestContext", {}).get("http", {})
    method, path = http.get("method", "GET").upper(), event.get("rawPath", "/")
    origin = headers.get("origin")
    if method == "OPTIONS" and origin:
        return _finish(_preflight(origin, deps, rid), path, origin, deps)
    caller: Caller | None = None
    route = permissions.match(method, path)
    try:
        body = event.get("body") or ""
        if len(body) > deps.settings.max_body_bytes:
            raise PayloadTooLarge(f"request bodies are limited to {deps.settings.max_body_bytes} bytes")
        # Anonymous callers learn nothing about routes: only a known caller hears 404 or 405, or a path's methods.
        public = route.public if route is not None else method == "OPTIONS" and permissions.has_public_route(path)
        if not public:
            caller = resolve_caller(headers, deps.orgs, verifier=deps.verifier, members=deps.members)
        if route is None:
            if not permissions.path_exists(path):
                raise NotFound("no such route", code="route_not_found")
            if method != "OPTIONS":
                raise MethodNotAllowed(f"{method} is not allowed on {path}")
        if caller is not None and route is not None and route.action is not None:
            permissions.authorize(caller, route.action)
        _apply_limits(deps, caller, route.action if route else None, path, http.get("sourceIp", "unknown"))
        _require_json_body(headers, body)
        _require_no_top_level_list(_body_text(event))
    except AgentlabError as exc:
        invalid_token = isinstance(exc, Unauthorized) and bearer_token(headers) is not None
        response = _plain_error(exc, rid, error_headers(exc, path=path, invalid_token=invalid_token))
    else:
        if route is None:
            response = _plain_options(path, rid)
        else:
            app.append_context(request_id=rid, caller=caller, route=route)
            response = app.resolve(_as_get(event) if method == "HEAD" else event, context)
            response.setdefault("headers", {})["X-Request-ID"] = rid
    if caller is not None and method in _MUTATIONS:
        _audit(
            deps, caller, route, event, int(response.get("statusCode", 200)), response.get("body"), rid, method, path
        )
    if method == "HEAD":
        response.update(body="", isBase64Encoded=False)
    return _finish(response, path, origin, deps)


def _finish(response: dict[str, Any], path: str, origin: str | None, deps: ApiDeps) -> dict[str, Any]:
    out = response.setdefault("headers", {})
    for name, value in {**_security_headers(path), **_cors_headers(origin, deps)}.items():
        out.setdefault(name, value)
    return response
