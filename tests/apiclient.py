"""Drive the real API handler with API Gateway HTTP API v2 events, as API Gateway would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from agentlab.local.functions import LambdaContext
from agentlab.local.gateway import api_event


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class EventClient:
    def __init__(self, handler: Any, key: str | None = None) -> None:
        self.handler = handler
        self.key = key

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> ApiResponse:
        all_headers = {"content-type": "application/json", "user-agent": "tests"}
        token = key if key is not None else self.key
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        if isinstance(data, str):
            data = data.encode()
        query = {k: v for k, v in (params or {}).items() if v is not None}
        target = path + ("?" + urlencode(query) if query else "")
        event = api_event(method, target, all_headers, data, "127.0.0.1")
        result = self.handler(event, LambdaContext("agentlab-api", event["requestContext"]["requestId"]))
        return ApiResponse(
            int(result["statusCode"]),
            {k.lower(): v for k, v in result.get("headers", {}).items()},
            result.get("body") or "",
        )

    def get(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("DELETE", path, **kwargs)
