"""Lambda entry points for the state machine's steps: parse the event, call one step function, return its output."""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentlab import metrics
from agentlab.errors import ConcurrentUpdate
from agentlab.logs import get_logger
from agentlab.store.invocation import invocation_scope
from agentlab.store.usage import UsageStore
from agentlab.workflow.base import StepRef

if TYPE_CHECKING:
    from agentlab.settings import ProviderSecretSettings
    from agentlab.workflow.deps import StepDeps

logger = get_logger("agentlab-workflow")


def step_handler(step: Callable[..., dict[str, str]], *extra: str) -> Callable[[dict[str, Any], Any], dict[str, str]]:
    """A handler for `step`; `extra` names further event fields passed as keyword arguments (e.g. task_token).

    Dependencies are built at the first invocation and kept while the execution environment is warm.
    """
    deps: list[StepDeps] = []

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
        if not deps:
            # Settings (and pydantic_settings) load at the first invocation, not at import.
            from agentlab.settings import ProviderSecretSettings
            from agentlab.workflow.deps import StepDeps, StepSettings

            settings = StepSettings()
            metrics.configure(publish=settings.environment == "aws")
            secret = ProviderSecretSettings()
            if secret.provider_secret_arn:
                load_provider_secret(secret)
            deps.append(StepDeps.from_settings(settings))
        ref = StepRef.model_validate({"org_id": event.get("org_id"), "run_id": event.get("run_id")})
        logger.append_keys(run_id=ref.run_id, org_id=ref.org_id, step=step.__name__)
        started = time.monotonic()
        answers: list[dict[str, Any]] = []
        try:
            with invocation_scope():
                work = functools.partial(step, deps[0], ref, **kwargs(event))
                return run_once(deps[0], ref, event.get("invocation"), work, answers)
        finally:
            elapsed_ms = (time.monotonic() - started) * 1000
            metrics.step_latency(step.__name__, elapsed_ms)
            end_invocation(deps[0], ref, elapsed_ms, answers)
            metrics.flush()

    def kwargs(event: dict[str, Any]) -> dict[str, Any]:
        return {name: event[name] for name in extra}

    return handler


def run_once(
    deps: StepDeps,
    ref: StepRef,
    invocation: Any,
    work: Callable[[], dict[str, str]],
    answers: list[dict[str, Any]],
) -> dict[str, str]:
    """Do a step invocation's work once: a second delivery of the invocation (same `invocation` key, which the state
    machine makes from the state and when it was entered) answers what the first answered and writes nothing, so no
    step, message or cell is duplicated. The retry of an invocation that failed is not a second delivery of a
    finished one and does the work. An event without a key (a test calling a handler directly) just does it. The
    write that records the answer is appended to `answers`, for `end_invocation` to make with the meter's."""
    if not isinstance(invocation, str) or not invocation:
        return work()
    answered = deps.runs.step_answer(ref.org_id, ref.run_id, invocation)
    if answered is not None:
        logger.info("a second delivery of a step invocation; answering as the first did")
        return answered
    answer = work()
    answers.append(deps.runs.op_record_step_answer(ref.org_id, ref.run_id, invocation, answer))
    return answer


def end_invocation(deps: StepDeps, ref: StepRef, elapsed_ms: float, answers: list[dict[str, Any]]) -> None:
    """Add the invocation to its run's Lambda meter (agentlab/usage/rollup.py prices it) and record its answer, in
    one transaction that holds only while the run exists (a run whose org was deleted meanwhile gets neither). A
    meter that cannot be written loses one invocation's figure and never fails the step; the answer is then written
    on its own, so that a second delivery still finds it."""
    usage = UsageStore(deps.runs.table)
    try:
        usage.meter_invocation(ref.org_id, ref.run_id, elapsed_ms, also=answers)
        return
    except ConcurrentUpdate:
        if deps.runs.table.get(f"ORG#{ref.org_id}", f"RUN#{ref.run_id}") is None:
            return  # the run is gone, and so is everything it would have recorded
        logger.warning("the step's Lambda time could not be metered", exc_info=True)
    except Exception:
        logger.warning("the step's Lambda time could not be metered", exc_info=True)
    if answers:
        try:
            deps.runs.table.transact([run_exists(deps, ref), *answers])
        except Exception:
            logger.warning("the step's answer could not be recorded", exc_info=True)


def run_exists(deps: StepDeps, ref: StepRef) -> dict[str, Any]:
    from agentlab.store.table import serialize

    key = serialize({"PK": f"ORG#{ref.org_id}", "SK": f"RUN#{ref.run_id}"})
    table = deps.runs.table
    return {"ConditionCheck": {"TableName": table.name, "Key": key, "ConditionExpression": "attribute_exists(PK)"}}


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
