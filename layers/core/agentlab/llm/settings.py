"""Which model providers are configured, the default model, and a registry that builds providers on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentlab.llm.base import ModelProvider, parse_model_ref
from agentlab.llm.errors import ModelUnavailable

if TYPE_CHECKING:
    import httpx

SCRIPTED_REF = "scripted"
# llama.cpp's server answers whatever model name it is sent; other servers need AGENTLAB_OPENAI_MODEL.
UNNAMED_OPENAI_MODEL = "default"


class ProviderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTLAB_", extra="ignore")

    bedrock_region: str | None = None
    bedrock_model_id: str | None = None
    bedrock_profile: str | None = None
    bedrock_read_timeout_s: float = 120.0
    bedrock_connect_timeout_s: float = 5.0
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str | None = None
    openai_timeout_s: float = 120.0


def default_model_ref(settings: ProviderSettings, has_aws_credentials: bool) -> str:
    """Bedrock when reachable and a model is named, else a configured OpenAI-compatible server, else scripted."""
    if has_aws_credentials and settings.bedrock_model_id:
        return f"bedrock:{settings.bedrock_model_id}"
    if settings.openai_base_url:
        return f"openai:{settings.openai_model or UNNAMED_OPENAI_MODEL}"
    return SCRIPTED_REF


def aws_credentials_available() -> bool:
    """Whether boto3's credential chain finds credentials (environment, profile, container or instance role)."""
    import boto3

    return boto3.Session().get_credentials() is not None


class ProviderRegistry:
    """Resolves model references to providers, building each provider once; the scripted one is built per call."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        bedrock_client_factory: Callable[[], Any] | None = None,
        openai_http_client: httpx.Client | None = None,
    ) -> None:
        self._settings = settings
        self._bedrock_client_factory = bedrock_client_factory
        self._openai_http_client = openai_http_client
        self._providers: dict[str, ModelProvider] = {}
        self._lock = threading.Lock()

    def resolve(self, ref: str, script: list[dict[str, Any]] | None = None) -> tuple[ModelProvider, str]:
        provider_name, model_id = parse_model_ref(ref)
        if provider_name == "scripted":
            from agentlab.llm.scripted import ScriptedProvider

            return ScriptedProvider(script), model_id
        with self._lock:
            provider = self._providers.get(provider_name)
            if provider is None:
                provider = self._build(provider_name)
                self._providers[provider_name] = provider
        return provider, model_id

    def _build(self, provider_name: str) -> ModelProvider:
        if provider_name == "bedrock":
            return self._build_bedrock()
        return self._build_openai()

    def _build_bedrock(self) -> ModelProvider:
        from agentlab.llm.bedrock import BedrockProvider, bedrock_client_factory

        factory = self._bedrock_client_factory or bedrock_client_factory(
            self._settings.bedrock_region,
            read_timeout_s=self._settings.bedrock_read_timeout_s,
            connect_timeout_s=self._settings.bedrock_connect_timeout_s,
            profile=self._settings.bedrock_profile,
        )
        return BedrockProvider(factory)

    def _build_openai(self) -> ModelProvider:
        settings = self._settings
        if not settings.openai_base_url:
            raise ModelUnavailable("no OpenAI-compatible server is configured (AGENTLAB_OPENAI_BASE_URL)")
        from agentlab.llm.openai import OpenAICompatibleProvider

        return OpenAICompatibleProvider(
            settings.openai_base_url,
            settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
            settings.openai_timeout_s,
            self._openai_http_client,
        )
