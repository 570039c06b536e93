"""Settings of webhook deliveries, shared by the API (URL checks) and the delivery function."""

from __future__ import annotations

from pydantic import Field

from agentlab.settings import CoreSettings


class WebhookSettings(CoreSettings):
    # Loopback URLs (http or https) for endpoints: the local stack and tests only (AGENTLAB_WEBHOOKS_ALLOW_LOOPBACK=1).
    webhooks_allow_loopback: bool = False
    # Where a delivery goes once every scheduled attempt failed (empty: it is only marked dead in the log).
    webhook_dead_letter_queue_url: str = ""
    # An endpoint is switched off after this many failed attempts in a row.
    webhook_disable_after_failures: int = Field(default=20, ge=1)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
