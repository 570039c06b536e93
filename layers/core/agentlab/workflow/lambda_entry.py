"""Lambda entry points for the state machine's steps: parse the event, call one step function, return its output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from agentlab.workflow.deps import StepDeps, StepSettings
from agentlab.workflow.steps import StepRef

logger = Logger(service="agentlab-workflow")


def step_handler(step: Callable[..., dict[str, str]], *extra: str) -> Callable[[dict[str, Any], Any], dict[str, str]]:
    """A handler for `step`; `extra` names further event fields passed as keyword arguments (e.g. task_token).

    Dependencies are built at the first invocation and kept while the execution environment is warm.
    """
    deps: list[StepDeps] = []

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
        if not deps:
            deps.append(StepDeps.from_settings(StepSettings()))
        ref = StepRef.model_validate({"org_id": event.get("org_id"), "run_id": event.get("run_id")})
        logger.append_keys(run_id=ref.run_id, org_id=ref.org_id, step=step.__name__)
        return step(deps[0], ref, **{name: event[name] for name in extra})

    return handler
