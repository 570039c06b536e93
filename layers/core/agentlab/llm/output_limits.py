"""How many tokens a model may write in one reply: a sensible default per model, and the most it accepts.

An agent may set `limits.max_output_tokens`; it is held to the model's maximum where that is known. Figures are the
providers' documented output limits for the Bedrock model families; an OpenAI-compatible server's model is unknown
here, so it gets the general default and no maximum.
"""

from __future__ import annotations

from typing import NamedTuple

from agentlab.llm.pricing import base_model_id

DEFAULT_OUTPUT_TOKENS = 4_096


class OutputLimit(NamedTuple):
    default: int
    maximum: int


# Longest prefix first: the first family whose prefix the foundation model id starts with applies.
BEDROCK_OUTPUT_LIMITS: tuple[tuple[str, OutputLimit], ...] = (
    ("anthropic.claude-3-5-", OutputLimit(8_192, 8_192)),
    ("anthropic.claude-3-7-sonnet", OutputLimit(8_192, 64_000)),
    ("anthropic.claude-3-", OutputLimit(4_096, 4_096)),
    ("anthropic.claude-opus-4", OutputLimit(8_192, 32_000)),
    ("anthropic.claude-sonnet-4", OutputLimit(8_192, 64_000)),
    ("anthropic.claude-haiku-4", OutputLimit(8_192, 64_000)),
    ("amazon.nova-premier", OutputLimit(8_192, 32_000)),
    ("amazon.nova-", OutputLimit(5_000, 10_000)),
    ("meta.llama3", OutputLimit(2_048, 2_048)),
    ("mistral.mixtral-", OutputLimit(4_096, 4_096)),
    ("mistral.", OutputLimit(8_192, 8_192)),
)


def output_limit(provider: str, model_id: str) -> OutputLimit | None:
    if provider != "bedrock":
        return None
    base = base_model_id(model_id)
    for prefix, limit in BEDROCK_OUTPUT_LIMITS:
        if base.startswith(prefix):
            return limit
    return None


def output_tokens_for(provider: str, model_id: str, requested: int | None) -> int:
    """The max_tokens to send: the agent's setting (held to the model's maximum) or the model's default."""
    limit = output_limit(provider, model_id)
    if requested is None:
        return limit.default if limit else DEFAULT_OUTPUT_TOKENS
    return min(requested, limit.maximum) if limit else requested
