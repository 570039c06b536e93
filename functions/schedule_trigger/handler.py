"""Invoked by EventBridge Scheduler (locally, by the ticker) at a schedule's fire: start its run or record the skip."""

from __future__ import annotations

from typing import Any

from agentlab import metrics
from agentlab.api.deps import ApiDeps, ApiSettings
from agentlab.logs import get_logger
from agentlab.schedules.trigger import handle

logger = get_logger("agentlab-schedule-trigger")
_deps: list[ApiDeps] = []


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not _deps:
        settings = ApiSettings()
        metrics.configure(publish=settings.environment == "aws")
        _deps.append(ApiDeps.from_settings(settings))
    try:
        return handle(_deps[0], event)
    finally:
        metrics.flush()
