"""The sandbox task's kernel server: the run's local session behind the HTTP channel of agentlab.sandbox.channel.

One run per task. The kernel is the local backend's, started without bubblewrap (the container is the boundary) as the
task's own uid with a cleared environment; the run's variables arrive in the start request. Every request must carry
the bearer token whose SHA-256 the task was given; one without it is answered 401 before its body is read, and runs
nothing. Request bodies are capped (JSON at MAX_REQUEST_BYTES, files at the kernel's own file size limit) and every
path goes through the workspace's checks. Requests are served on threads, so that a health probe is answered while a
long cell runs; cells and checks run one at a time.

A goal check runs in a fresh process over the workspace. Inside the container every process of the task's uid but
this server and init is the agent's (its kernel and whatever the kernel left running), so with freeze_own_uid they are
all stopped for the duration of the check: none can signal, trace or race the process that decides the goal.

The task ends on /stop, on SIGTERM, or after the run's idle timeout without an authenticated request.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentlab.errors import InvalidRequest
from agentlab.sandbox import channel
from agentlab.sandbox.channel import MIB, RunCode, StartSession, TaskHealth
from agentlab.sandbox.errors import SandboxError, SandboxSessionClosed, SandboxUnavailable
from agentlab.sandbox.local import LocalSandboxBackend, LocalSandboxSession
from agentlab.sandbox.models import CellResult, SandboxLimits
from agentlab.sandbox.uids import freeze_processes_of_uid, thaw

logger = logging.getLogger(__name__)

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - the host reaches the task over its VPC address; the security group decides who
INIT_PID = 1
REQUEST_IO_TIMEOUT_S = 60.0  # reading a request or writing a reply; not the cell, which runs between the two
IDLE_CHECK_S = 1.0


class TaskSettings(BaseSettings):
    """What the host put in the container's environment (see FargateSandboxBackend): nothing secret."""

    model_config = SettingsConfigDict(env_prefix="AGENTLAB_SANDBOX_", extra="ignore")

    run_id: str
    token_sha256: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")
    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    root: Path = Path("/scratch/sandbox")
    host: str = ALL_INTERFACES
    port: int = channel.TASK_PORT


class TaskRequestError(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class SandboxTask:
    """The run's session inside the task, and what the server knows of it."""

    def __init__(
        self,
        settings: TaskSettings,
        *,
        freeze_own_uid: bool = False,
        backend_factory: Callable[[Path], LocalSandboxBackend] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._freeze_own_uid = freeze_own_uid
        self._backend_factory = backend_factory or (lambda root: LocalSandboxBackend(root, use_bubblewrap=False))
        self._clock = clock
        self._backend: LocalSandboxBackend | None = None
        self._session: LocalSandboxSession | None = None
        self._kernel_id = ""
        self._start_lock = threading.Lock()
        self._cell_lock = threading.Lock()
        self._activity_lock = threading.Lock()
        self._in_flight = 0
        self._last_activity = clock()

    @property
    def file_cap(self) -> int:
        """No file can be larger than the kernel's own file size limit, in either direction."""
        return self.settings.limits.max_file_mb * MIB

    # activity -------------------------------------------------------------------------------------------------------
    def begin_request(self) -> None:
        with self._activity_lock:
            self._in_flight += 1
            self._last_activity = self._clock()

    def end_request(self) -> None:
        with self._activity_lock:
            self._in_flight -= 1
            self._last_activity = self._clock()

    def idle_for(self) -> float:
        with self._activity_lock:
            return 0.0 if self._in_flight else self._clock() - self._last_activity

    # operations -----------------------------------------------------------------------------------------------------
    def health(self) -> TaskHealth:
        session = self._session
        return TaskHealth(
            run_id=self.settings.run_id,
            started=session is not None,
            kernel_id=self._kernel_id,
            workspace=str(session.workspace) if session is not None else "",
        )

    def start(self, env: dict[str, str]) -> TaskHealth:
        """Start the run's session with its variables; a session already started is kept as it is."""
        with self._start_lock:
            if self._session is None:
                backend = self._backend_factory(self.settings.root)
                try:
                    self._session = backend.session(self.settings.run_id, self.settings.limits, env)
                except BaseException:
                    backend.close()
                    raise
                self._backend = backend
                logger.info("sandbox session of run %s started (%s)", self.settings.run_id, self._session.isolation)
        return self.health()

    def execute(self, request: RunCode) -> CellResult:
        session = self._started()
        with self._cell_lock:
            result = session.execute(request.code, request.timeout_s)
            # A kernel that died is replaced at the next cell, which then reports the new kernel's id.
            self._kernel_id = "" if result.kernel_restarted else result.kernel_id
            return result

    def check(self, request: RunCode) -> CellResult:
        session = self._started()
        with self._cell_lock:
            frozen = freeze_processes_of_uid(os.getuid(), keep={INIT_PID}) if self._freeze_own_uid else []
            try:
                return session.check(request.code, request.timeout_s)
            finally:
                thaw(frozen)

    def put_file(self, path: str, data: bytes) -> None:
        self._started().put_file(path, data)

    def read_file(self, path: str) -> bytes:
        data = self._started().read_file(path)
        if len(data) > self.file_cap:
            raise TaskRequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large", f"{path} is over the cap")
        return data

    def list_files(self) -> list[dict[str, Any]]:
        return [file.model_dump(mode="json") for file in self._started().list_files()]

    def close(self) -> None:
        backend, self._backend, self._session = self._backend, None, None
        if backend is not None:
            backend.close()

    def _started(self) -> LocalSandboxSession:
        session = self._session
        if session is None:
            raise TaskRequestError(HTTPStatus.CONFLICT, channel.NOT_STARTED, "the session was not started")
        return session


class TaskHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Never SO_REUSEPORT: no other process of the uid may bind the port beside this one and take its connections.
    allow_reuse_port = False

    def __init__(self, address: tuple[str, int], task: SandboxTask, on_stop: Callable[[], None]) -> None:
        super().__init__(address, TaskRequestHandler)
        self.task = task
        self.on_stop = on_stop


class TaskRequestHandler(BaseHTTPRequestHandler):
    server: TaskHTTPServer
    timeout = REQUEST_IO_TIMEOUT_S
    server_version = "agentlab-sandbox"
    sys_version = ""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _handle(self, method: str) -> None:
        task = self.server.task
        if not channel.authorized(self.headers.get("Authorization"), task.settings.token_sha256):
            # The body is left unread: close the connection rather than read what an unknown caller sends.
            self.close_connection = True
            self._send_error(HTTPStatus.UNAUTHORIZED, channel.UNAUTHORIZED, "a valid bearer token is required")
            return
        url = urlsplit(self.path)
        route = ROUTES.get((method, url.path))
        if route is None:
            self.close_connection = True
            self._send_error(HTTPStatus.NOT_FOUND, "not_found", f"no {method} {url.path}")
            return
        task.begin_request()
        try:
            route(self, parse_qs(url.query))
        except (BrokenPipeError, ConnectionResetError):
            # The host gave up on the answer (its function timed out): the work is done, nobody is left to tell.
            logger.warning("the caller of %s %s left before its answer", method, url.path)
            self.close_connection = True
        except TaskRequestError as exc:
            self._send_error(exc.status, exc.code, exc.message)
        except ValidationError as exc:
            self._send_error(HTTPStatus.BAD_REQUEST, "invalid_request", exc.errors(include_url=False)[0]["msg"])
        except InvalidRequest as exc:  # a refused path or environment variable
            self._send_error(HTTPStatus.BAD_REQUEST, exc.code, exc.message)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            self._send_error(HTTPStatus.NOT_FOUND, "file_not_found", str(exc))
        except SandboxSessionClosed as exc:
            self._send_error(HTTPStatus.CONFLICT, exc.code, exc.message)
        except SandboxUnavailable as exc:
            self._send_error(HTTPStatus.SERVICE_UNAVAILABLE, exc.code, exc.message)
        except SandboxError as exc:
            self._send_error(HTTPStatus.INTERNAL_SERVER_ERROR, exc.code, exc.message)
        except Exception:
            logger.exception("sandbox task request %s %s failed", method, url.path)
            self._send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "the task could not serve the request")
        finally:
            task.end_request()

    # routes ---------------------------------------------------------------------------------------------------------
    def health(self, query: dict[str, list[str]]) -> None:
        self._send_model(self.server.task.health())

    def start(self, query: dict[str, list[str]]) -> None:
        request = StartSession.model_validate_json(self._body(channel.MAX_REQUEST_BYTES))
        self._send_model(self.server.task.start(request.env))

    def execute(self, query: dict[str, list[str]]) -> None:
        request = RunCode.model_validate_json(self._body(channel.MAX_REQUEST_BYTES))
        self._send_model(self.server.task.execute(request))

    def check(self, query: dict[str, list[str]]) -> None:
        request = RunCode.model_validate_json(self._body(channel.MAX_REQUEST_BYTES))
        self._send_model(self.server.task.check(request))

    def put_file(self, query: dict[str, list[str]]) -> None:
        task = self.server.task
        path = self._path(query)
        task.put_file(path, self._body(task.file_cap))
        self._send(HTTPStatus.NO_CONTENT, b"", "application/json")

    def read_file(self, query: dict[str, list[str]]) -> None:
        self._send(HTTPStatus.OK, self.server.task.read_file(self._path(query)), "application/octet-stream")

    def list_files(self, query: dict[str, list[str]]) -> None:
        self._send(HTTPStatus.OK, json.dumps(self.server.task.list_files()).encode(), "application/json")

    def stop(self, query: dict[str, list[str]]) -> None:
        self._send(HTTPStatus.ACCEPTED, b"{}", "application/json")
        self.server.on_stop()

    # plumbing -------------------------------------------------------------------------------------------------------
    def _path(self, query: dict[str, list[str]]) -> str:
        paths = query.get("path", [])
        if len(paths) != 1:
            raise TaskRequestError(HTTPStatus.BAD_REQUEST, "invalid_request", "give exactly one path")
        return paths[0]

    def _body(self, cap: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise TaskRequestError(HTTPStatus.LENGTH_REQUIRED, "length_required", "send a Content-Length")
        header = self.headers.get("Content-Length")
        if header is None or not header.strip().isdigit():
            self.close_connection = True
            raise TaskRequestError(HTTPStatus.LENGTH_REQUIRED, "length_required", "send a Content-Length")
        length = int(header)
        if length > cap:
            self.close_connection = True
            raise TaskRequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large", f"{length} bytes is over the cap of {cap}"
            )
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            raise TaskRequestError(HTTPStatus.BAD_REQUEST, "invalid_request", "the body ended early")
        return body

    def _send_model(self, model: BaseModel) -> None:
        self._send(HTTPStatus.OK, model.model_dump_json().encode(), "application/json")

    def _send_error(self, status: HTTPStatus, code: str, message: str) -> None:
        self._send(status, json.dumps({"error": code, "message": message}).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(body)


Route = Callable[[TaskRequestHandler, dict[str, list[str]]], None]
ROUTES: dict[tuple[str, str], Route] = {
    ("GET", channel.HEALTH): TaskRequestHandler.health,
    ("POST", channel.SESSION): TaskRequestHandler.start,
    ("POST", channel.EXECUTE): TaskRequestHandler.execute,
    ("POST", channel.CHECK): TaskRequestHandler.check,
    ("PUT", channel.FILE): TaskRequestHandler.put_file,
    ("GET", channel.FILE): TaskRequestHandler.read_file,
    ("GET", channel.FILES): TaskRequestHandler.list_files,
    ("POST", channel.STOP): TaskRequestHandler.stop,
}


class SandboxTaskServer:
    """Binds the port at once (before any kernel exists), serves until stopped or idle, then ends the session."""

    def __init__(self, task: SandboxTask) -> None:
        self.task = task
        self._stopping = threading.Event()
        settings = task.settings
        self._http = TaskHTTPServer((settings.host, settings.port), task, self.request_stop)

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    def request_stop(self) -> None:
        self._stopping.set()

    def serve(self) -> str:
        """Serve until /stop, request_stop() or the idle timeout; why it ended."""
        thread = threading.Thread(target=self._http.serve_forever, name="sandbox-task-http", daemon=True)
        thread.start()
        idle_timeout_s = self.task.settings.limits.idle_timeout_s
        reason = "stopped"
        try:
            while not self._stopping.wait(IDLE_CHECK_S):
                if self.task.idle_for() > idle_timeout_s:
                    reason = f"no request for {idle_timeout_s:.0f}s"
                    break
        finally:
            self._http.shutdown()
            self._http.server_close()
            self.task.close()
            thread.join(timeout=IDLE_CHECK_S)
        logger.info("sandbox task of run %s ends: %s", self.task.settings.run_id, reason)
        return reason
