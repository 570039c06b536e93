"""One HTTP port for the local stack: the API (as API Gateway HTTP API v2 events for the real handler), S3 for
presigned uploads and downloads (moto's S3 app, same backend), and the dashboard's static files.

Presigned URLs name another host than the dashboard's (the same port), so the browser reaches storage cross-origin
as it reaches S3 in AWS, and S3's CORS answers are given here from the bucket's own CORS configuration."""

from __future__ import annotations

import base64
import json
import mimetypes
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from agentlab.ids import new_ulid
from agentlab.local.functions import LambdaContext

S3_PREFIX = "/_s3"
COGNITO_PREFIX = "/_cognito"
ApiHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
EventStream = Callable[[str, dict[str, str]], Iterator[bytes] | None]
# A bucket's CORS rules in the S3 API's shape (GetBucketCors' CORSRules); [] when it has none.
BucketCors = Callable[[str], list[dict[str, Any]]]


def dashboard_headers(storage_origin: str | None) -> dict[str, str]:
    """The dashboard's pages get the same headers CloudFront adds in AWS: scripts and styles only from this origin;
    images also from data:/blob: URLs and storage (artifacts); API calls to this origin, uploads and downloads to
    storage."""
    storage = f" {storage_origin}" if storage_origin else ""
    csp = (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{storage}; "
        f"connect-src 'self'{storage}; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    }


# S3's CORS, as S3 evaluates it: the first rule whose origins match the request's Origin (a pattern holds at most
# one `*`), whose methods hold the method (a preflight's Access-Control-Request-Method) and, for a preflight, whose
# headers match every requested header decides; a request no rule allows gets no CORS headers (the browser then
# keeps the answer from the page) and a preflight no rule allows gets a 403. moto keeps the rules but applies them
# loosely (it ignores the method, and answers a presigned POST without any CORS header), so they are applied here.
_CORS_VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
_CORS_DENIED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method "
    "/ Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
)


def _wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def matching_cors_rule(
    rules: Sequence[dict[str, Any]], origin: str, method: str, request_headers: Sequence[str] = ()
) -> tuple[dict[str, Any], str] | None:
    """The first rule that allows the request, with the allowed origin that matched; None when no rule does."""
    for rule in rules:
        allowed = next((o for o in rule.get("AllowedOrigins") or [] if _wildcard_match(o, origin)), None)
        if allowed is None or method not in (rule.get("AllowedMethods") or []):
            continue
        allowed_headers = rule.get("AllowedHeaders") or []
        if all(any(_wildcard_match(h, name, ignore_case=True) for h in allowed_headers) for name in request_headers):
            return rule, allowed
    return None


def cors_headers(rule: dict[str, Any], allowed_origin: str, origin: str) -> dict[str, str]:
    headers = {
        "Access-Control-Allow-Origin": "*" if allowed_origin == "*" else origin,
        "Access-Control-Allow-Methods": ", ".join(rule.get("AllowedMethods") or []),
        "Vary": _CORS_VARY,
    }
    if allowed_origin != "*":
        headers["Access-Control-Allow-Credentials"] = "true"
    if rule.get("ExposeHeaders"):
        headers["Access-Control-Expose-Headers"] = ", ".join(rule["ExposeHeaders"])
    if rule.get("MaxAgeSeconds") is not None:
        headers["Access-Control-Max-Age"] = str(rule["MaxAgeSeconds"])
    return headers


def s3_preflight(rules: Sequence[dict[str, Any]], headers: Any) -> tuple[int, dict[str, str], bytes]:
    """S3's answer to an OPTIONS request, from the bucket's rules."""
    origin = headers.get("Origin")
    method = headers.get("Access-Control-Request-Method")
    if not origin:
        return _s3_error(400, "BadRequest", "Insufficient information. Origin request header needed.")
    if not method:
        return _s3_error(400, "BadRequest", "Invalid Access-Control-Request-Method: null")
    if not rules:
        return _s3_error(403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", method)
    requested = [h.strip().lower() for h in (headers.get("Access-Control-Request-Headers") or "").split(",")]
    requested = [name for name in requested if name]
    match = matching_cors_rule(rules, origin, method, requested)
    if match is None:
        return _s3_error(403, "AccessForbidden", _CORS_DENIED, method)
    answer = cors_headers(match[0], match[1], origin)
    if requested:
        answer["Access-Control-Allow-Headers"] = ", ".join(requested)
    return 200, answer, b""


def _s3_error(status: int, code: str, message: str, method: str = "") -> tuple[int, dict[str, str], bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        + (f"<Method>{escape(method)}</Method><ResourceType>OBJECT</ResourceType>" if method else "")
        + f"<RequestId>{new_ulid()}</RequestId></Error>"
    )
    return status, {"Content-Type": "application/xml"}, body.encode()


def api_event(method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    """An API Gateway HTTP API payload-format-2.0 event, as API Gateway builds it."""
    parts = urlsplit(target)
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    now = time.time()
    request_id = new_ulid()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": headers,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text if body else None,
        "isBase64Encoded": is_base64,
    }


class LocalGateway:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        api_handler: ApiHandler,
        s3_app: Any,
        frontend_dir: Path | None,
        max_api_body: int,
        max_upload_body: int,
        event_stream: EventStream | None = None,
        cognito_app: Any = None,
        region: str = "us-east-1",
        runtime_config: dict[str, Any] | None = None,
        storage_host: str | None = None,
        bucket_cors: BucketCors | None = None,
    ) -> None:
        self.api_handler = api_handler
        self.s3_app = s3_app
        # Where each bucket's CORS rules come from (none: every cross-origin request is refused, as S3 does).
        self.bucket_cors: BucketCors = bucket_cors or (lambda _bucket: [])
        self.cognito_app = cognito_app
        self.region = region
        # The dashboard's /config.json; filled in by the stack once the user pool exists.
        self.runtime_config: dict[str, Any] = runtime_config or {}
        self.frontend_dir = frontend_dir
        self.max_api_body = max_api_body
        self.max_upload_body = max_upload_body
        self.event_stream = event_stream
        gateway = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "agentlab-local"
            # Headers and body go out in separate writes; without this, delayed ACKs stall every response ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _dispatch(self) -> None:
                gateway.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _dispatch

            def __getattr__(self, name: str) -> Any:
                # Any other method (TRACE, QUERY, ...) reaches the router too, which answers 405 as API Gateway would.
                if name.startswith("do_"):
                    return self._dispatch
                raise AttributeError(name)

        self.server = ThreadingHTTPServer((host, port), RequestHandler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None
        # The origin presigned URLs name: this port under another host name than the dashboard's.
        self.storage_origin = f"http://{storage_host}:{self.port}" if storage_host else None
        self.dashboard_headers = dashboard_headers(self.storage_origin)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # request handling -------------------------------------------------------------------------------------------
    def handle(self, request: BaseHTTPRequestHandler) -> None:
        path = urlsplit(request.path).path
        try:
            if path.startswith(S3_PREFIX + "/"):
                self._s3(request)
            elif path.startswith(COGNITO_PREFIX + "/") and self.cognito_app is not None:
                self._cognito(request)
            elif path == "/config.json":
                self._send(
                    request,
                    200,
                    {"Content-Type": "application/json", "Cache-Control": "no-cache", **self.dashboard_headers},
                    json.dumps({"apiUrl": "", **self.runtime_config}).encode(),
                )
            elif path.startswith("/v1/") or path == "/v1":
                self._api(request)
            else:
                self._static(request, path)
        except (BrokenPipeError, ConnectionResetError):
            return

    def _read_body(self, request: BaseHTTPRequestHandler, limit: int) -> bytes | None:
        length = int(request.headers.get("Content-Length") or 0)
        if length > limit:
            self._send(
                request,
                413,
                {"Content-Type": "application/json"},
                json.dumps(
                    {
                        "error": {
                            "code": "payload_too_large",
                            "message": f"request bodies are limited to {limit} bytes",
                            "request_id": new_ulid(),
                        }
                    }
                ).encode(),
                close=True,
            )
            return None
        return request.rfile.read(length) if length else b""

    def _api(self, request: BaseHTTPRequestHandler) -> None:
        body = self._read_body(request, self.max_api_body)
        if body is None:
            return
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            key = key.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        if self.event_stream is not None and request.command == "GET":
            stream = self.event_stream(request.path, headers)
            if stream is not None:
                self._stream(request, stream)
                return
        event = api_event(request.command, request.path, headers, body, request.client_address[0])
        result = self.api_handler(event, LambdaContext("agentlab-api", event["requestContext"]["requestId"]))
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else str(payload).encode()
        response_headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response_headers[name] = ", ".join(str(v) for v in values)
        self._send(
            request, int(result.get("statusCode", 200)), response_headers, data, cookies=result.get("cookies") or []
        )

    def _stream(self, request: BaseHTTPRequestHandler, chunks: Iterator[bytes]) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/event-stream")
        request.send_header("Cache-Control", "no-cache")
        request.send_header("Connection", "close")
        request.end_headers()
        request.close_connection = True
        for chunk in chunks:
            request.wfile.write(chunk)
            request.wfile.flush()

    def _s3(self, request: BaseHTTPRequestHandler) -> None:
        body = self._read_body(request, self.max_upload_body)
        if body is None:
            return
        bucket = urlsplit(request.path).path[len(S3_PREFIX) + 1 :].split("/", 1)[0]
        if request.command == "OPTIONS":
            self._send(request, *s3_preflight(self.bucket_cors(bucket), request.headers))
            return
        status, headers, data = self._wsgi(request, self.s3_app, S3_PREFIX, "s3.amazonaws.com", body)
        headers = {k: v for k, v in headers.items() if not k.lower().startswith("access-control-")}
        origin = request.headers.get("Origin")
        # As in S3, the request itself is carried out either way; only whether the page may read the answer depends
        # on the rules.
        match = matching_cors_rule(self.bucket_cors(bucket), origin, request.command) if origin else None
        if origin and match is not None:
            headers.update(cors_headers(match[0], match[1], origin))
        self._send(request, status, headers, data)

    def _cognito(self, request: BaseHTTPRequestHandler) -> None:
        """moto's Cognito endpoints, for the pool's key set (`/<pool id>/.well-known/jwks.json`), as AWS serves it."""
        if request.command != "GET":
            self._send(request, 405, {"Content-Type": "text/plain"}, b"only GET\n")
            return
        host = f"cognito-idp.{self.region}.amazonaws.com"
        status, headers, data = self._wsgi(request, self.cognito_app, COGNITO_PREFIX, host, b"")
        self._send(request, status, headers, data)

    def _wsgi(
        self, request: BaseHTTPRequestHandler, app: Any, prefix: str, host: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        parts = urlsplit(request.path)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
        headers.append(("Host", host))
        builder = EnvironBuilder(
            path=parts.path[len(prefix) :],
            query_string=parts.query,
            method=request.command,
            headers=headers,
            data=body,
        )
        app_iter, status, response_headers = run_wsgi_app(app, builder.get_environ())
        try:
            data = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close:
                close()
        out = {
            k: v
            for k, v in response_headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "connection")
        }
        return int(status.split()[0]), out, data

    def _static(self, request: BaseHTTPRequestHandler, path: str) -> None:
        if request.command not in ("GET", "HEAD"):
            self._send(request, 405, {"Content-Type": "text/plain; charset=utf-8", "Allow": "GET, HEAD"}, b"GET only\n")
            return
        root = self.frontend_dir
        if root is None or not (root / "index.html").is_file():
            message = (
                b"agentlab local stack: the API is at /v1 (see /v1/docs). The dashboard is not built: run "
                b"`npm ci && npm run build` in frontend/.\n"
            )
            self._send(
                request,
                200 if path == "/" else 404,
                {"Content-Type": "text/plain; charset=utf-8", **self.dashboard_headers},
                message,
            )
            return
        candidate = (root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
            candidate = root / "index.html"  # client-side routes
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        cache = "no-cache" if candidate.name in ("index.html", "config.json") else "public, max-age=31536000"
        headers = {"Content-Type": content_type, "Cache-Control": cache, **self.dashboard_headers}
        self._send(request, 200, headers, candidate.read_bytes())

    def _send(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str],
        data: bytes,
        *,
        cookies: list[str] | None = None,
        close: bool = False,
    ) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        for cookie in cookies or []:
            request.send_header("Set-Cookie", cookie)
        # A HEAD answer from the API comes without the body it describes, so it cannot say the body's length; a static
        # file's HEAD has its content at hand and says it.
        if request.command != "HEAD" or data:
            request.send_header("Content-Length", str(len(data)))
        if close:
            request.send_header("Connection", "close")
            request.close_connection = True
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)
