"""Faults injected into the local engine, to show that a run loses nothing when AWS misbehaves as it does in production.

Three faults, each at a rate (a probability per occasion, drawn from a seeded generator) and/or by count (the next n
occasions, for tests that need one exact fault):

- `step_error`: a step invocation fails once before its handler runs, reported as `Lambda.ServiceException` (the
  error Lambda gives when the service, not the function, failed), which the state machines retry. The retry of that
  invocation is let through, so a fault costs one retry and never a run.
- `duplicate`: a step invocation is delivered twice, the second after the first answered, with the same payload, and
  the second answer is the one the workflow gets (Lambda and Step Functions deliver at least once). Only invocations
  that carry an `invocation` key are duplicated: that key is what makes a step idempotent
  (agentlab/workflow/lambda_entry.py), and the agent_run state machine gives one to every step.
- `throttle`: a model call starts a burst of `throttle_burst` throttled calls to that model (ModelThrottled, the
  provider's own error for a 429 or ThrottlingException), the call itself included; the workflow passes the turn to
  the agent's next model and, when every model is throttled, retries the state with backoff.

The local stack turns them on from AGENTLAB_LOCAL_FAULTS, e.g.
`AGENTLAB_LOCAL_FAULTS="step_error=0.05,duplicate=0.05,throttle=0.1,throttle_burst=2,seed=7"`; tests build a
`Faults` and hand it to `install_lambda_dispatch`. `Faults.injected` counts what was injected.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from agentlab.llm.errors import ModelThrottled

logger = logging.getLogger(__name__)

FAULTS_ENV = "AGENTLAB_LOCAL_FAULTS"
INVOCATION_KEY = "invocation"
# Named as Step Functions names the error of a Lambda invocation the service could not run, so the state machines'
# Retry rules for it apply (a class name may hold a dot when made with type()).
LambdaServiceException: type[Exception] = type(
    "Lambda.ServiceException", (Exception,), {"__doc__": "Lambda could not run the invocation (an injected fault)."}
)

Handler = Callable[[dict[str, Any], Any], Any]


class Faults:
    def __init__(
        self,
        *,
        step_error: float = 0.0,
        duplicate: float = 0.0,
        throttle: float = 0.0,
        throttle_burst: int = 2,
        seed: int | None = None,
    ) -> None:
        for name, rate in (("step_error", step_error), ("duplicate", duplicate), ("throttle", throttle)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, not {rate}")
        if throttle_burst < 1:
            raise ValueError("throttle_burst must be at least 1")
        self.step_error = step_error
        self.duplicate = duplicate
        self.throttle = throttle
        self.throttle_burst = throttle_burst
        self.injected: Counter[str] = Counter()
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not cryptography
        self._lock = threading.Lock()
        self._next_errors: Counter[str] = Counter()
        self._next_duplicates: Counter[str] = Counter()
        self._bursts: Counter[str] = Counter()
        self._failed_once: set[str] = set()

    @classmethod
    def parse(cls, text: str) -> Faults:
        """`name=value` pairs separated by commas, as AGENTLAB_LOCAL_FAULTS holds them."""
        rates: dict[str, float] = {}
        numbers: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep:
                raise ValueError(f"{FAULTS_ENV}: {part!r} is not name=value")
            if name in ("step_error", "duplicate", "throttle"):
                rates[name] = float(value)
            elif name in ("throttle_burst", "seed"):
                numbers[name] = int(value)
            else:
                raise ValueError(f"{FAULTS_ENV}: unknown fault {name!r} (step_error, duplicate, throttle, ...)")
        return cls(**rates, **numbers)  # type: ignore[arg-type]

    @classmethod
    def from_environment(cls) -> Faults | None:
        text = os.environ.get(FAULTS_ENV, "").strip()
        return cls.parse(text) if text else None

    # faults by count, for tests --------------------------------------------------------------------------------------
    def fail_next(self, function: str, times: int = 1) -> None:
        """The next `times` invocations of `function` (e.g. "think") each fail once."""
        with self._lock:
            self._next_errors[function] += times

    def duplicate_next(self, function: str, times: int = 1) -> None:
        """The next `times` invocations of `function` that carry an invocation key are each delivered twice."""
        with self._lock:
            self._next_duplicates[function] += times

    def throttle_next(self, model_ref: str, times: int) -> None:
        """The next `times` calls to the model `model_ref` (e.g. "openai:big") are throttled."""
        with self._lock:
            self._bursts[model_ref] += times

    # step invocations ------------------------------------------------------------------------------------------------
    def deliver(self, function: str, handler: Handler, event: dict[str, Any], context: Callable[[], Any]) -> Any:
        """Invoke `handler` as a faulty Lambda would; `context` makes a fresh Lambda context per delivery."""
        identity = f"{function}:{json.dumps(event, sort_keys=True, default=str)}"
        with self._lock:
            fail = identity not in self._failed_once and self._draw(self._next_errors, function, self.step_error)
            if fail:
                self._failed_once.add(identity)
                self.injected["step_error"] += 1
            twice = not fail and bool(event.get(INVOCATION_KEY))
            twice = twice and self._draw(self._next_duplicates, function, self.duplicate)
            if twice:
                self.injected["duplicate"] += 1
        if fail:
            logger.warning("injected fault: step_error in %s", function)
            raise LambdaServiceException(f"injected fault: the invocation of {function} failed before it ran")
        if twice:
            logger.warning("injected fault: duplicate delivery of %s", function)
            handler(copy.deepcopy(event), context())
        return handler(event, context())

    def _draw(self, counts: Counter[str], key: str, rate: float) -> bool:
        if counts[key] > 0:
            counts[key] -= 1
            return True
        return rate > 0 and self._random.random() < rate

    # model calls -----------------------------------------------------------------------------------------------------
    def model_call(self, model_ref: str) -> None:
        """Raise ModelThrottled when this call to `model_ref` falls in a burst."""
        with self._lock:
            if self._bursts[model_ref] == 0 and self.throttle > 0 and self._random.random() < self.throttle:
                self._bursts[model_ref] = self.throttle_burst
            throttled = self._bursts[model_ref] > 0
            if throttled:
                self._bursts[model_ref] -= 1
                self.injected["throttle"] += 1
        if throttled:
            logger.warning("injected fault: throttle of %s", model_ref)
            raise ModelThrottled(f"{model_ref}: injected fault: throttled")

    def install_model_faults(self) -> Callable[[], None]:
        """Every provider the step functions resolve in this process goes through `model_call` first. Returns a
        function that undoes it."""
        from agentlab.llm.settings import ProviderRegistry

        original = ProviderRegistry.resolve
        faults = self

        def resolve(registry: Any, ref: str, script: list[dict[str, Any]] | None = None) -> tuple[Any, str]:
            provider, model_id = original(registry, ref, script)
            return ThrottlingProvider(provider, ref, faults), model_id

        ProviderRegistry.resolve = resolve  # type: ignore[method-assign,assignment]

        def undo() -> None:
            ProviderRegistry.resolve = original  # type: ignore[method-assign]

        return undo

    def summary(self) -> str:
        counts = ", ".join(f"{name}={self.injected[name]}" for name in ("step_error", "duplicate", "throttle"))
        return f"faults injected: {counts}"


class ThrottlingProvider:
    """A provider whose calls may be throttled by `Faults` before they reach it."""

    def __init__(self, provider: Any, model_ref: str, faults: Faults) -> None:
        self._provider = provider
        self._model_ref = model_ref
        self._faults = faults
        self.name = provider.name

    def complete(self, **kwargs: Any) -> Any:
        self._faults.model_call(self._model_ref)
        return self._provider.complete(**kwargs)
