"""Lambda entry points for the state machine's steps: parse the event, call one step function, return its output."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentlab import metrics
from agentlab.logs import get_logger
from agentlab.store.invocation import invocation_scope
from agentlab.store.usage import UsageStore
from agentlab.workflow.base import StepRef
from agentlab.workflow.deps import StepDeps, StepSettings

logger = get_logger("agentlab-workflow")


def step_handler(step: Callable[..., dict[str, str]], *extra: str) -> Callable[[dict[str, Any], Any], dict[str, str]]:
    """A handler for `step`; `extra` names further event fields passed as keyword arguments (e.g. task_token).

    Dependencies are built at the first invocation and kept while the execution environment is warm.
    """
    deps: list[StepDeps] = []

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
        if not deps:
            settings = StepSettings()
            metrics.configure(publish=settings.environment == "aws")
            secret = ProviderSecretSettings()
            if secret.provider_secret_arn:
                load_provider_secret(secret)
            deps.append(StepDeps.from_settings(settings))
        ref = StepRef.model_validate({"org_id": event.get("org_id"), "run_id": event.get("run_id")})
        logger.append_keys(run_id=ref.run_id, org_id=ref.org_id, step=step.__name__)
        started = time.monotonic()
        try:
            with invocation_scope():
                return step(deps[0], ref, **{name: event[name] for name in extra})
        finally:
            elapsed_ms = (time.monotonic() - started) * 1000
            metrics.step_latency(step.__name__, elapsed_ms)
            meter_invocation(deps[0], ref, elapsed_ms)
            metrics.flush()

    return handler


def meter_invocation(deps: StepDeps, ref: StepRef, elapsed_ms: float) -> None:
    """Add the invocation to its run's Lambda meter (agentlab/usage/rollup.py prices it). A meter that cannot be
    written loses one invocation's figure and never fails the step."""
    try:
        UsageStore(deps.runs.table).meter_invocation(ref.org_id, ref.run_id, elapsed_ms)
    except Exception:
        logger.warning("the step's Lambda time could not be metered", exc_info=True)


class ProviderSecretSettings(BaseSettings):
    """Where the model provider credentials are kept in AWS (set on the functions that call models)."""

    model_config = SettingsConfigDict(env_prefix="AGENTLAB_", extra="ignore")

    provider_secret_arn: str | None = None
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")


def load_provider_secret(settings: ProviderSecretSettings) -> list[str]:
    """Provider credentials (e.g. AGENTLAB_OPENAI_API_KEY) are kept in Secrets Manager as a JSON object of AGENTLAB_*
    settings. They are put into this process's environment, where the provider settings read them, unless already
    set; the names loaded are returned. Values never reach a log."""
    import boto3

    client = boto3.client("secretsmanager", region_name=settings.region)
    text = client.get_secret_value(SecretId=settings.provider_secret_arn).get("SecretString") or "{}"
    values = json.loads(text)
    loaded = []
    for name, value in values.items() if isinstance(values, dict) else ():
        if name.startswith("AGENTLAB_") and isinstance(value, str) and name not in os.environ:
            os.environ[name] = value
            loaded.append(name)
    logger.info("provider settings loaded from Secrets Manager", extra={"names": loaded})
    return loaded
