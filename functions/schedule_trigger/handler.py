"""Invoked by EventBridge Scheduler (locally, by the ticker) at a schedule's fire: start its run or record the skip."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentlab import metrics
from agentlab.logs import get_logger
from agentlab.schedules.trigger import handle

if TYPE_CHECKING:
    from agentlab.api.deps import ApiDeps

logger = get_logger("agentlab-schedule-trigger")
_deps: list[ApiDeps] = []


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not _deps:
        from agentlab.api.deps import ApiDeps, ApiSettings

        settings = ApiSettings()
        metrics.configure(publish=settings.environment == "aws")
        _deps.append(ApiDeps.from_settings(settings))
    try:
        return handle(_deps[0], event)
    finally:
        metrics.flush()
