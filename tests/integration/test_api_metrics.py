"""The API publishes the one run outcome no step sees: a cancellation (stopping the execution skips finalize)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from moto_platform import Platform
from run_checks import wait_for

from agentlab import metrics

AWAIT_APPROVAL = [{"tool": "request_approval", "reason": "wait"}, {"tool": "finish", "answer": "done"}]


@pytest.fixture(autouse=True)
def local_publishing_afterwards() -> Any:
    yield
    metrics.configure(publish=False)
    metrics.flush()


def test_a_cancelled_run_is_counted_and_published_once(
    platform: Platform, org: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[metrics.Datum] = []
    monkeypatch.setattr(metrics, "_publish", published.extend)
    # The API publishes in AWS only; its settings are read at its first request, after this.
    monkeypatch.setitem(os.environ, "AGENTLAB_ENVIRONMENT", "aws")
    api = platform.api(org[1])
    agent = api.post("/v1/agents", {"name": "metrics", "models": {"reasoning": ["scripted"]}}).json()["id"]
    run = api.post("/v1/runs", {"agent_id": agent, "prompt": "wait", "script": AWAIT_APPROVAL}).json()
    wait_for(api, run["id"], {"waiting_approval"})
    assert [d.name for d in published if d.name == "RunsCancelled"] == []

    assert api.post(f"/v1/runs/{run['id']}/cancel").status == 200
    assert [d.name for d in published if d.name == "RunsCancelled"] == ["RunsCancelled"]
