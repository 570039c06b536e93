"""One HTTP port for the local stack: the API (as API Gateway HTTP API v2 events for the real handler), S3 for
presigned uploads and downloads (moto's S3 app, same backend), and the dashboard's static files."""

from __future__ import annotations

import base64
import json
import mimetypes
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from agentlab.ids import new_ulid
from agentlab.local.functions import LambdaContext

S3_PREFIX = "/_s3"
COGNITO_PREFIX = "/_cognito"
# The dashboard's pages: the same headers CloudFront adds in AWS. Scripts and styles only from this origin; images
# also from data:/blob: URLs (charts); API calls to this origin.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
DASHBOARD_HEADERS = {
    "Content-Security-Policy": DASHBOARD_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}
ApiHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
EventStream = Callable[[str, dict[str, str]], Iterator[bytes] | None]


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
    ) -> None:
        self.api_handler = api_handler
        self.s3_app = s3_app
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
                    {"Content-Type": "application/json", "Cache-Control": "no-cache", **DASHBOARD_HEADERS},
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
        status, headers, data = self._wsgi(request, self.s3_app, S3_PREFIX, "s3.amazonaws.com", body)
        headers["Access-Control-Allow-Origin"] = "*"
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
                {"Content-Type": "text/plain; charset=utf-8", **DASHBOARD_HEADERS},
                message,
            )
            return
        candidate = (root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
            candidate = root / "index.html"  # client-side routes
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        cache = "no-cache" if candidate.name in ("index.html", "config.json") else "public, max-age=31536000"
        headers = {"Content-Type": content_type, "Cache-Control": cache, **DASHBOARD_HEADERS}
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
        request.send_header("Content-Length", str(len(data)))
        if close:
            request.send_header("Connection", "close")
            request.close_connection = True
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)
