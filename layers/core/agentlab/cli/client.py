"""HTTP access to the agentlab API: auth header, error answers turned into CLI errors, cursor paging, uploads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from agentlab.cli.config import CliConfig
from agentlab.cli.errors import ApiError, AuthenticationFailed, ConnectionFailed, PermissionDenied

JsonObject = dict[str, Any]
ClientFactory = Callable[[CliConfig], httpx.Client]

REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
UPLOAD_TIMEOUT = httpx.Timeout(300.0, connect=5.0)
USER_AGENT = "agentlab-cli"


def build_http_client(config: CliConfig) -> httpx.Client:
    return httpx.Client(base_url=config.url, timeout=REQUEST_TIMEOUT, headers={"User-Agent": USER_AGENT})


def path_segment(value: str) -> str:
    return quote(value, safe="")


class ApiClient:
    """One deployment's API. The key goes only to the API, never to presigned upload URLs."""

    def __init__(self, http: httpx.Client, config: CliConfig) -> None:
        self._http = http
        self._config = config

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> JsonObject:
        return _json_object(self.request("GET", path, params=params))

    def post(self, path: str, body: JsonObject | None = None, headers: Mapping[str, str] | None = None) -> JsonObject:
        return _json_object(self.request("POST", path, body=body, headers=headers))

    def post_with_status(
        self, path: str, body: JsonObject | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, JsonObject]:
        response = self.request("POST", path, body=body, headers=headers)
        return response.status_code, _json_object(response)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: JsonObject | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = {**self._auth_headers(), **(headers or {})}
        clean_params = {key: value for key, value in (params or {}).items() if value is not None}
        response = self._send(
            lambda: self._http.request(method, path, params=clean_params, json=body, headers=all_headers)
        )
        if response.is_error:
            raise api_error_from(response)
        return response

    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int | None = None
    ) -> Iterator[JsonObject]:
        """Every item of a list endpoint, following `next_cursor` until it is null."""
        cursor: str | None = None
        while True:
            page = self.get(path, {**(params or {}), "limit": page_size, "cursor": cursor})
            yield from page.get("items") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def upload_presigned(self, url: str, fields: Mapping[str, str], path: Path, content_type: str) -> None:
        """An S3 presigned POST: the policy fields first, the content last as `file`."""
        with path.open("rb") as content:
            response = self._send(
                lambda: self._http.post(
                    url,
                    data=dict(fields),
                    files={"file": (path.name, content, content_type)},
                    timeout=UPLOAD_TIMEOUT,
                )
            )
        if response.is_error:
            raise ApiError(response.status_code, "upload_failed", _upload_failure_message(response))

    def _send(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        try:
            return send()
        except httpx.TimeoutException as exc:
            raise ConnectionFailed(self._config.url, f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise ConnectionFailed(self._config.url, str(exc) or type(exc).__name__) from exc

    def _auth_headers(self) -> dict[str, str]:
        if self._config.api_key is None:
            return {}
        return {"Authorization": f"Bearer {self._config.api_key.get_secret_value()}"}


def api_error_from(response: httpx.Response) -> ApiError:
    code, message, request_id = _error_fields(response)
    if response.status_code == 401:
        return AuthenticationFailed(401, code, message, request_id)
    if response.status_code == 403:
        return PermissionDenied(403, code, message, request_id)
    if response.status_code == 429 and "retry-after" in response.headers:
        message = f"{message} (retry after {response.headers['retry-after']} s)"
    return ApiError(response.status_code, code, message, request_id)


def _error_fields(response: httpx.Response) -> tuple[str, str, str | None]:
    header_request_id = response.headers.get("x-request-id")
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        return (
            str(error.get("code") or f"http_{response.status_code}"),
            str(error.get("message") or response.reason_phrase),
            error.get("request_id") or header_request_id,
        )
    # A gateway or proxy in front of the API answers in its own format.
    snippet = response.text.strip()[:200] or response.reason_phrase
    return f"http_{response.status_code}", snippet, header_request_id


def _upload_failure_message(response: httpx.Response) -> str:
    return f"the upload URL answered {response.status_code} {response.reason_phrase}: {response.text.strip()[:200]}"


def _json_object(response: httpx.Response) -> JsonObject:
    try:
        content = response.json()
    except json.JSONDecodeError as exc:
        raise ApiError(response.status_code, "invalid_response", "the API answered with something not JSON") from exc
    if not isinstance(content, dict):
        raise ApiError(response.status_code, "invalid_response", "the API answered with JSON that is not an object")
    return content
