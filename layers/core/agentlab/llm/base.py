"""The provider protocol, model references and the fallback across an agent's ordered model list."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from agentlab.llm.errors import AllModelsFailed, InvalidModelRef, ModelThrottled, ModelUnavailable
from agentlab.llm.types import Message, ModelResponse, ToolSpec

logger = logging.getLogger(__name__)

PROVIDER_NAMES = ("bedrock", "openai", "scripted")
SCRIPTED_MODEL_ID = "scripted"


class ModelProvider(Protocol):
    name: str

    def complete(
        self,
        *,
        model_id: str,
        system: str,
        messages: list[Message],
        tools: list[ToolSpec],
        max_tokens: int = 4096,
        temperature: float = 0.0,
    ) -> ModelResponse: ...


def parse_model_ref(ref: str) -> tuple[str, str]:
    """Split "bedrock:<model id>", "openai:<model>" or "scripted" into (provider, model_id).

    Only the first colon separates: Bedrock ids ("...-v1:0") and Ollama tags ("llama3.1:8b") contain colons.
    """
    provider, sep, model_id = ref.strip().partition(":")
    if provider == "scripted" and model_id in ("", SCRIPTED_MODEL_ID):
        return "scripted", SCRIPTED_MODEL_ID
    if provider in ("bedrock", "openai") and sep and model_id.strip():
        return provider, model_id.strip()
    raise InvalidModelRef(
        f"invalid model reference {ref!r}: expected 'bedrock:<model id>', 'openai:<model>' or 'scripted'"
    )


def complete_with_fallback(
    resolve: Callable[[str], tuple[ModelProvider, str]],
    model_refs: list[str],
    *,
    max_tokens: int | Callable[[str, str], int] = 4096,
    **kwargs: Any,
) -> ModelResponse:
    """Ask each model in order until one answers. `max_tokens` is a number or a function of (provider, model id).

    A throttled or unavailable model passes the turn to the next one; a permanent error stops at once. When every
    model failed and at least one was only throttled, that throttling is raised so the caller can retry later with
    backoff; otherwise AllModelsFailed.
    """
    attempts: list[str] = []
    failures: list[str] = []
    last_throttled: ModelThrottled | None = None
    for ref in model_refs:
        # A provider that is not configured here is unavailable like a model that is not enabled.
        model_id = ref
        try:
            provider, model_id = resolve(ref)
            tokens = max_tokens(provider.name, model_id) if callable(max_tokens) else max_tokens
            response = provider.complete(model_id=model_id, max_tokens=tokens, **kwargs)
        except (ModelThrottled, ModelUnavailable) as exc:
            logger.warning("model %s failed (%s: %s); trying the next one", ref, type(exc).__name__, exc)
            attempts.append(model_id)
            failures.append(f"{ref}: {type(exc).__name__}: {exc}")
            if isinstance(exc, ModelThrottled):
                last_throttled = exc
            continue
        return response.model_copy(update={"attempts": attempts, "max_tokens": tokens})
    if last_throttled is not None:
        raise last_throttled
    detail = "; ".join(failures) if failures else "no model configured"
    raise AllModelsFailed(f"all models failed: {detail}")
