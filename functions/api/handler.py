"""API Lambda: API Gateway HTTP API (v2) events in, JSON out."""

from __future__ import annotations

from typing import Any

from agentlab import metrics
from agentlab.api.app import create_app, handle_event
from agentlab.api.deps import ApiDeps, ApiSettings
from agentlab.logs import get_logger

logger = get_logger("agentlab-api")
_app: Any = None
_deps: ApiDeps | None = None


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _app, _deps
    if _deps is None:
        _deps = ApiDeps.from_settings(ApiSettings())
        _app = create_app(_deps)
        metrics.configure(publish=_deps.settings.environment == "aws")
    try:
        return handle_event(_app, _deps, event, context)
    finally:
        metrics.flush()
