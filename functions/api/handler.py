"""API Lambda: API Gateway HTTP API (v2) events in, JSON out.

The function runs with SnapStart: before the snapshot is taken, a runtime hook builds the dependencies and the
resolver's route table and resolves one public route, so a restored environment starts warm. Outside the Lambda
runtime (locally, in tests) `snapshot_restore_py` is absent and the first request does that work instead.
"""

from __future__ import annotations

import random
from typing import Any

from agentlab import metrics
from agentlab.api.app import create_app, handle_event
from agentlab.api.deps import ApiDeps, ApiSettings
from agentlab.logs import get_logger

logger = get_logger("agentlab-api")
_app: Any = None
_deps: ApiDeps | None = None

# The event the snapshot hook resolves: a public route that reads nothing from AWS.
PRIMING_EVENT: dict[str, Any] = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/v1/health",
    "rawQueryString": "",
    "headers": {"x-request-id": "snapstart-priming"},
    "requestContext": {
        "requestId": "snapstart-priming",
        "http": {"method": "GET", "path": "/v1/health", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
        "stage": "$default",
    },
    "isBase64Encoded": False,
}


def _ensure_app() -> tuple[Any, ApiDeps]:
    global _app, _deps
    if _deps is None:
        deps = ApiDeps.from_settings(ApiSettings())
        _app = create_app(deps)
        metrics.configure(publish=deps.settings.environment == "aws")
        _deps = deps
    return _app, _deps


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    app, deps = _ensure_app()
    try:
        return handle_event(app, deps, event, context)
    finally:
        metrics.flush()


def prime_before_snapshot() -> dict[str, Any]:
    """Build what every request needs and resolve GET /v1/health once, so the snapshot holds a warm environment.

    The boto3 clients are built (botocore loads its service models from disk); no AWS call is made: the health route
    reads nothing, and an anonymous caller of a public route is not rate-limited. The answer is returned for tests.
    """
    app, deps = _ensure_app()
    deps.clients.dynamodb  # noqa: B018 - built now, so the snapshot holds the client
    deps.clients.s3  # noqa: B018
    try:
        return handle_event(app, deps, PRIMING_EVENT, None)
    finally:
        metrics.flush()


def refresh_after_restore() -> None:
    """Every environment restored from one snapshot would otherwise draw the same `random` sequence (the table's
    retry jitter), so colliding writers in two environments would back off in step."""
    random.seed()


try:
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # not in the Lambda runtime
    pass
else:
    register_before_snapshot(prime_before_snapshot)
    register_after_restore(refresh_after_restore)
