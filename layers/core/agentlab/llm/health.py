"""What model providers are configured, and whether they answer: for the admin settings page."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agentlab.llm.settings import SCRIPTED_REF, ProviderSettings, default_model_ref


class ProviderStatus(BaseModel):
    name: str
    configured: bool
    healthy: bool | None
    detail: str
    models: list[str]
    default: bool


def _openai_status(settings: ProviderSettings, default: str, http_client: Any | None) -> ProviderStatus:
    import httpx

    base = (settings.openai_base_url or "").rstrip("/")
    models = [settings.openai_model] if settings.openai_model else []
    configured = bool(base)
    healthy: bool | None = None
    detail = "set AGENTLAB_OPENAI_BASE_URL to use an OpenAI-compatible server"
    if configured:
        headers = {}
        if settings.openai_api_key:
            headers["Authorization"] = f"Bearer {settings.openai_api_key.get_secret_value()}"
        client = http_client or httpx.Client(timeout=3.0)
        try:
            response = client.get(f"{base}/models", headers=headers)
            healthy = response.status_code == 200
            if healthy:
                served = [m.get("id") for m in response.json().get("data", []) if isinstance(m, dict)]
                models = sorted({*models, *[m for m in served if isinstance(m, str)]})
                detail = f"answering at {base}"
            else:
                detail = f"{base}/models answered HTTP {response.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            healthy, detail = False, f"not reachable at {base}: {type(exc).__name__}"
        finally:
            if http_client is None:
                client.close()
    return ProviderStatus(
        name="openai",
        configured=configured,
        healthy=healthy,
        detail=detail,
        models=models,
        default=default.startswith("openai:"),
    )


def describe_providers(
    settings: ProviderSettings,
    *,
    has_aws_credentials: bool,
    default_ref: str | None = None,
    http_client: Any | None = None,
) -> list[ProviderStatus]:
    default = default_ref or default_model_ref(settings, has_aws_credentials)
    bedrock_configured = bool(settings.bedrock_model_id)
    if not bedrock_configured:
        bedrock_detail = "set AGENTLAB_BEDROCK_MODEL_ID to use Amazon Bedrock"
    elif has_aws_credentials:
        bedrock_detail = "AWS credentials found; calls are made with the function's role"
    else:
        bedrock_detail = "no AWS credentials found"
    return [
        ProviderStatus(
            name="bedrock",
            configured=bedrock_configured,
            # A model call costs money, so Bedrock is not probed: without credentials it cannot work at all.
            healthy=None if bedrock_configured and has_aws_credentials else (False if bedrock_configured else None),
            detail=bedrock_detail,
            models=[settings.bedrock_model_id] if settings.bedrock_model_id else [],
            default=default.startswith("bedrock:"),
        ),
        _openai_status(settings, default, http_client),
        ProviderStatus(
            name="scripted",
            configured=True,
            healthy=True,
            detail="built-in deterministic stand-in for demos and tests (not a real model)",
            models=[SCRIPTED_REF],
            default=default == SCRIPTED_REF,
        ),
    ]
