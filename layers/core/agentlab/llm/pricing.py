"""On-demand Bedrock prices in USD per million tokens, and the cost of one model call.

Figures are the us-east-1 on-demand list prices. Cross-region inference profiles ("us.", "eu.", ...) bill at the
price of the model they route to, so the prefix is dropped before looking a model up.
"""

from __future__ import annotations

import logging
import re
from typing import NamedTuple

from agentlab.llm.types import Usage

logger = logging.getLogger(__name__)


class Price(NamedTuple):
    input_per_mtok: float
    output_per_mtok: float


PRICES: dict[str, Price] = {
    # Anthropic Claude
    "anthropic.claude-3-haiku-20240307-v1:0": Price(0.25, 1.25),
    "anthropic.claude-3-sonnet-20240229-v1:0": Price(3.00, 15.00),
    "anthropic.claude-3-opus-20240229-v1:0": Price(15.00, 75.00),
    "anthropic.claude-3-5-haiku-20241022-v1:0": Price(0.80, 4.00),
    "anthropic.claude-3-5-sonnet-20240620-v1:0": Price(3.00, 15.00),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": Price(3.00, 15.00),
    "anthropic.claude-3-7-sonnet-20250219-v1:0": Price(3.00, 15.00),
    "anthropic.claude-sonnet-4-20250514-v1:0": Price(3.00, 15.00),
    "anthropic.claude-sonnet-4-5-20250929-v1:0": Price(3.00, 15.00),
    "anthropic.claude-haiku-4-5-20251001-v1:0": Price(1.00, 5.00),
    "anthropic.claude-opus-4-20250514-v1:0": Price(15.00, 75.00),
    "anthropic.claude-opus-4-1-20250805-v1:0": Price(15.00, 75.00),
    # Amazon Nova
    "amazon.nova-micro-v1:0": Price(0.035, 0.14),
    "amazon.nova-lite-v1:0": Price(0.06, 0.24),
    "amazon.nova-pro-v1:0": Price(0.80, 3.20),
    "amazon.nova-premier-v1:0": Price(2.50, 12.50),
    # Meta Llama 3.x
    "meta.llama3-8b-instruct-v1:0": Price(0.30, 0.60),
    "meta.llama3-70b-instruct-v1:0": Price(2.65, 3.50),
    "meta.llama3-1-8b-instruct-v1:0": Price(0.22, 0.22),
    "meta.llama3-1-70b-instruct-v1:0": Price(0.72, 0.72),
    "meta.llama3-1-405b-instruct-v1:0": Price(2.40, 2.40),
    "meta.llama3-2-1b-instruct-v1:0": Price(0.10, 0.10),
    "meta.llama3-2-3b-instruct-v1:0": Price(0.15, 0.15),
    "meta.llama3-2-11b-instruct-v1:0": Price(0.16, 0.16),
    "meta.llama3-2-90b-instruct-v1:0": Price(0.72, 0.72),
    "meta.llama3-3-70b-instruct-v1:0": Price(0.72, 0.72),
    # Mistral
    "mistral.mistral-7b-instruct-v0:2": Price(0.15, 0.20),
    "mistral.mixtral-8x7b-instruct-v0:1": Price(0.45, 0.70),
    "mistral.mistral-small-2402-v1:0": Price(1.00, 3.00),
    "mistral.mistral-large-2402-v1:0": Price(4.00, 12.00),
    "mistral.mistral-large-2407-v1:0": Price(2.00, 6.00),
}

INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")

# Some foundation models are also listed with a context-window variant suffix, e.g. "...-v1:0:200k".
_CONTEXT_VARIANT = re.compile(r":\d+k$")

_TOKENS_PER_UNIT = 1_000_000


def base_model_id(model_id: str) -> str:
    """The foundation model id behind an inference profile id or ARN."""
    model = model_id.strip().rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id.strip()
    for prefix in INFERENCE_PROFILE_PREFIXES:
        if model.startswith(prefix):
            model = model.removeprefix(prefix)
            break
    return _CONTEXT_VARIANT.sub("", model)


def price_for(model_id: str) -> Price | None:
    return PRICES.get(base_model_id(model_id))


def is_priced(model_id: str) -> bool:
    return price_for(model_id) is not None


def cost_for(model_id: str, usage: Usage) -> float:
    """USD for one call; 0.0 for a model missing from the table, logged so the gap gets noticed."""
    price = price_for(model_id)
    if price is None:
        logger.warning("no price for model %s; its cost is recorded as 0.0", model_id)
        return 0.0
    return cost_at(price, usage)


def cost_at(price: Price, usage: Usage) -> float:
    return (usage.input_tokens * price.input_per_mtok + usage.output_tokens * price.output_per_mtok) / _TOKENS_PER_UNIT


FREE = Price(0.0, 0.0)


class PriceTable:
    """The built-in Bedrock prices, with the deployment's own prices on top (AGENTLAB_MODEL_PRICES).

    An override is keyed by a model reference ("openai:llama3.1:8b", "bedrock:<model id>") or a bare Bedrock model
    id, and wins over the built-in figure. The scripted stand-in costs nothing. Any other model has no price: its cost
    is unknown, never silently 0.
    """

    def __init__(self, overrides: dict[str, Price] | None = None) -> None:
        self._overrides = dict(overrides or {})

    def lookup(self, provider: str, model_id: str) -> Price | None:
        if provider == "scripted":
            return FREE
        base = base_model_id(model_id) if provider == "bedrock" else model_id
        for key in (f"{provider}:{model_id}", f"{provider}:{base}", model_id, base):
            if key in self._overrides:
                return self._overrides[key]
        return PRICES.get(base) if provider == "bedrock" else None

    def lookup_ref(self, ref: str) -> Price | None:
        """The price of a model reference ("provider:model" or "scripted")."""
        from agentlab.llm.base import parse_model_ref

        provider, model_id = parse_model_ref(ref)
        return self.lookup(provider, model_id)

    def cost(self, provider: str, model_id: str, usage: Usage) -> tuple[float, bool]:
        """USD for one call and whether that figure is known."""
        price = self.lookup(provider, model_id)
        return (cost_at(price, usage), True) if price is not None else (0.0, False)


def unpriced_refs(refs: list[str], prices: PriceTable, default_ref: str) -> list[str]:
    """The model references (with "default" resolved) that have no price."""
    resolved = dict.fromkeys(default_ref if ref == "default" else ref for ref in refs)
    return [ref for ref in resolved if prices.lookup_ref(ref) is None]


def require_priced(refs: list[str], prices: PriceTable, default_ref: str, *, budget: str) -> None:
    """A cost budget is only set where it can be checked: every model it covers must have a price."""
    from agentlab.errors import Unprocessable

    missing = unpriced_refs(refs, prices, default_ref)
    if missing:
        raise Unprocessable(
            f"{budget} is set, but {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no price, so the "
            "budget could not be checked: leave the cost budget unset, choose priced models, or have the "
            "deployment configure a price (AGENTLAB_MODEL_PRICES)",
            code="unpriced_model",
        )
