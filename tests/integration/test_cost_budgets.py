"""A cost budget is only accepted where it can be checked: every model it covers must have a price, from the built-in
table or the deployment's own (AGENTLAB_MODEL_PRICES). Refused requests change nothing."""

from __future__ import annotations

import pytest
from apiclient import EventClient
from moto_platform import Platform
from run_checks import error_of, table_items

LOCAL_MODEL = "openai:llama3.1:8b"
SONNET = "bedrock:anthropic.claude-3-5-sonnet-20241022-v2:0"


def test_a_cost_budget_with_an_unpriced_model_is_refused_and_nothing_is_stored(
    platform: Platform, api: EventClient
) -> None:
    before = table_items(platform)
    response = api.post(
        "/v1/agents", {"name": "local", "models": {"reasoning": [LOCAL_MODEL]}, "limits": {"max_cost_usd": 2}}
    )
    error = error_of(response, 422, "unpriced_model")
    assert LOCAL_MODEL in error["message"] and "AGENTLAB_MODEL_PRICES" in error["message"]
    assert table_items(platform) == before


def test_without_a_cost_budget_an_unpriced_model_is_accepted(api: EventClient) -> None:
    response = api.post("/v1/agents", {"name": "local", "models": {"reasoning": [LOCAL_MODEL]}})
    assert response.status == 201, response.text
    assert response.json()["limits"]["max_cost_usd"] is None


def test_priced_models_take_a_cost_budget(api: EventClient) -> None:
    response = api.post(
        "/v1/agents",
        {"name": "claude", "models": {"reasoning": [SONNET, "scripted"]}, "limits": {"max_cost_usd": 2}},
    )
    assert response.status == 201, response.text


def test_a_price_configured_by_the_deployment_makes_the_budget_checkable(
    api: EventClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLAB_MODEL_PRICES", '{"openai:llama3.1:8b": [0, 0]}')
    response = api.post(
        "/v1/agents", {"name": "local", "models": {"reasoning": [LOCAL_MODEL]}, "limits": {"max_cost_usd": 2}}
    )
    assert response.status == 201, response.text


def test_the_default_model_is_resolved_before_its_price_is_looked_up(
    api: EventClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLAB_DEFAULT_MODEL_REF", LOCAL_MODEL)
    response = api.post(
        "/v1/agents", {"name": "deflt", "models": {"reasoning": ["default"]}, "limits": {"max_cost_usd": 2}}
    )
    assert LOCAL_MODEL in error_of(response, 422, "unpriced_model")["message"]


def test_an_update_that_would_leave_a_budget_unchecked_is_refused(platform: Platform, api: EventClient) -> None:
    created = api.post(
        "/v1/agents", {"name": "claude", "models": {"reasoning": [SONNET]}, "limits": {"max_cost_usd": 2}}
    )
    agent = created.json()
    before = table_items(platform)
    response = api.put(f"/v1/agents/{agent['id']}", {"models": {"reasoning": [LOCAL_MODEL]}})
    error_of(response, 422, "unpriced_model")
    assert table_items(platform) == before
    assert api.get(f"/v1/agents/{agent['id']}").json()["version"] == 1


def test_a_run_budget_with_an_unpriced_model_is_refused(platform: Platform, api: EventClient) -> None:
    agent = api.post("/v1/agents", {"name": "local", "models": {"reasoning": [LOCAL_MODEL]}}).json()
    before = table_items(platform)
    response = api.post("/v1/runs", {"agent_id": agent["id"], "prompt": "hi", "budget": {"max_cost_usd": 1}})
    error_of(response, 422, "unpriced_model")
    assert table_items(platform) == before
