"""Scheduled every few minutes: stop idle sandbox tasks, fail runs stuck beyond their wall-clock budget, refill the
warm pool of sandbox tasks."""

from __future__ import annotations

from typing import Any

from agentlab import metrics
from agentlab.logs import get_logger
from agentlab.workflow.janitor import Janitor, JanitorSettings, build_janitor

logger = get_logger("agentlab-janitor")
_janitor: list[Janitor] = []


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not _janitor:
        settings = JanitorSettings()
        metrics.configure(publish=settings.environment == "aws")
        _janitor.append(build_janitor(settings))
    try:
        return _janitor[0].sweep().as_dict()
    finally:
        metrics.flush()
