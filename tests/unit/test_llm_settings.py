"""Provider settings from the environment, the default model choice and the provider registry."""

from typing import Any

import httpx
import pytest

from agentlab.llm.base import complete_with_fallback
from agentlab.llm.bedrock import BedrockProvider
from agentlab.llm.errors import InvalidModelRef, ModelUnavailable
from agentlab.llm.openai import OpenAICompatibleProvider
from agentlab.llm.scripted import ScriptedProvider
from agentlab.llm.settings import ProviderRegistry, ProviderSettings, default_model_ref
from agentlab.llm.types import Message


@pytest.fixture(autouse=True)
def no_agentlab_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment; a developer's own AGENTLAB_* variables must not leak into these tests."""
    for name in ProviderSettings.model_fields:
        monkeypatch.delenv(f"AGENTLAB_{name.upper()}", raising=False)


def test_settings_are_read_from_agentlab_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLAB_BEDROCK_REGION", "eu-central-1")
    monkeypatch.setenv("AGENTLAB_BEDROCK_MODEL_ID", "eu.amazon.nova-lite-v1:0")
    monkeypatch.setenv("AGENTLAB_OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("AGENTLAB_OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("AGENTLAB_OPENAI_MODEL", "qwen2.5:7b")

    settings = ProviderSettings()

    assert settings.bedrock_region == "eu-central-1"
    assert settings.bedrock_model_id == "eu.amazon.nova-lite-v1:0"
    assert settings.openai_base_url == "http://127.0.0.1:11434/v1"
    assert settings.openai_api_key is not None and settings.openai_api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(settings)
    assert settings.openai_model == "qwen2.5:7b"


@pytest.mark.parametrize(
    ("configured", "has_credentials", "expected"),
    [
        ({"bedrock_model_id": "amazon.nova-pro-v1:0"}, True, "bedrock:amazon.nova-pro-v1:0"),
        (
            {"bedrock_model_id": "amazon.nova-pro-v1:0", "openai_base_url": "http://h/v1", "openai_model": "m"},
            False,
            "openai:m",
        ),
        ({"openai_base_url": "http://h/v1"}, True, "openai:default"),
        ({"bedrock_model_id": "amazon.nova-pro-v1:0"}, False, "scripted"),
        ({}, True, "scripted"),
    ],
)
def test_default_model_ref(configured: dict[str, str], has_credentials: bool, expected: str) -> None:
    settings = ProviderSettings(**configured)

    assert default_model_ref(settings, has_aws_credentials=has_credentials) == expected


def test_registry_builds_each_provider_once_and_lazily() -> None:
    built: list[str] = []

    def client_factory() -> Any:
        built.append("client")
        return object()

    registry = ProviderRegistry(
        ProviderSettings(openai_base_url="http://127.0.0.1:9/v1"), bedrock_client_factory=client_factory
    )

    bedrock, model_id = registry.resolve("bedrock:us.amazon.nova-lite-v1:0")
    again, _ = registry.resolve("bedrock:amazon.nova-pro-v1:0")
    openai, openai_model = registry.resolve("openai:llama3.1:8b")

    assert isinstance(bedrock, BedrockProvider) and again is bedrock
    assert model_id == "us.amazon.nova-lite-v1:0"
    assert isinstance(openai, OpenAICompatibleProvider) and openai_model == "llama3.1:8b"
    assert registry.resolve("openai:other")[0] is openai
    assert built == []


def test_registry_builds_a_scripted_provider_per_call_with_the_run_script() -> None:
    registry = ProviderRegistry(ProviderSettings())

    provider, model_id = registry.resolve("scripted", script=[{"tool": "finish", "answer": "from the script"}])
    other, _ = registry.resolve("scripted")

    assert isinstance(provider, ScriptedProvider) and other is not provider
    response = provider.complete(model_id=model_id, system="", messages=[Message(role="user", text="go")], tools=[])
    assert response.tool_calls[0].arguments == {"answer": "from the script"}


def test_openai_ref_without_a_server_is_unavailable() -> None:
    with pytest.raises(ModelUnavailable, match="AGENTLAB_OPENAI_BASE_URL"):
        ProviderRegistry(ProviderSettings()).resolve("openai:llama3.1:8b")


def test_registry_rejects_unknown_refs() -> None:
    with pytest.raises(InvalidModelRef):
        ProviderRegistry(ProviderSettings()).resolve("vertex:gemini")


def test_registry_passes_the_api_key_and_http_client() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}
        return httpx.Response(200, json=body)

    settings = ProviderSettings(openai_base_url="http://llm.test/v1", openai_api_key="sk-xyz", openai_model="m")
    registry = ProviderRegistry(settings, openai_http_client=httpx.Client(transport=httpx.MockTransport(handler)))

    provider, model_id = registry.resolve(default_model_ref(settings, has_aws_credentials=False))
    response = provider.complete(model_id=model_id, system="", messages=[Message(role="user", text="hi")], tools=[])

    assert response.text == "hi"
    assert str(seen[0].url) == "http://llm.test/v1/chat/completions"
    assert seen[0].headers["Authorization"] == "Bearer sk-xyz"


def test_fallback_skips_a_provider_that_is_not_configured() -> None:
    registry = ProviderRegistry(ProviderSettings())

    response = complete_with_fallback(
        registry.resolve,
        ["openai:llama3.1:8b", "scripted"],
        system="",
        messages=[Message(role="user", text="hi")],
        tools=[],
    )

    assert response.provider == "scripted"
    assert response.attempts == ["openai:llama3.1:8b"]
