"""Provider health for the settings page: an OpenAI-compatible server is probed, Bedrock is described, not called."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from agentlab.llm.health import describe_providers
from agentlab.llm.settings import ProviderSettings


def by_name(statuses: list) -> dict:  # type: ignore[type-arg]
    return {status.name: status for status in statuses}


def test_nothing_configured_leaves_the_scripted_stand_in_as_default() -> None:
    statuses = by_name(describe_providers(ProviderSettings(), has_aws_credentials=False))
    assert statuses["scripted"].default and statuses["scripted"].healthy
    assert not statuses["bedrock"].configured and not statuses["openai"].configured
    assert statuses["openai"].healthy is None


def test_an_answering_openai_server_is_healthy_and_lists_its_models() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [{"id": "llama3"}, {"id": "qwen"}]})

    settings = ProviderSettings(openai_base_url="http://models.local/v1", openai_api_key=SecretStr("sk-test-123"))
    client = httpx.Client(transport=httpx.MockTransport(answer))
    openai = by_name(describe_providers(settings, has_aws_credentials=False, http_client=client))["openai"]
    assert openai.healthy and openai.default and openai.models == ["llama3", "qwen"]
    assert seen[0].url == "http://models.local/v1/models"
    assert seen[0].headers["authorization"] == "Bearer sk-test-123"
    assert "sk-test-123" not in openai.detail


def test_an_unreachable_or_failing_server_is_unhealthy_with_a_reason() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    settings = ProviderSettings(openai_base_url="http://models.local/v1")
    down = describe_providers(
        settings, has_aws_credentials=False, http_client=httpx.Client(transport=httpx.MockTransport(refuse))
    )
    assert by_name(down)["openai"].healthy is False and "not reachable" in by_name(down)["openai"].detail
    failing = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(503)))
    status = by_name(describe_providers(settings, has_aws_credentials=False, http_client=failing))["openai"]
    assert status.healthy is False and "503" in status.detail


def test_bedrock_without_credentials_cannot_work_and_says_so() -> None:
    settings = ProviderSettings(bedrock_model_id="anthropic.claude-x")
    without = by_name(describe_providers(settings, has_aws_credentials=False))["bedrock"]
    assert without.configured and without.healthy is False and "no AWS credentials" in without.detail
    with_credentials = by_name(describe_providers(settings, has_aws_credentials=True))["bedrock"]
    assert with_credentials.healthy is None and with_credentials.default
