"""The local stack serves requests side by side: one slow request holds up only itself, as in Lambda."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentlab.local.stack import LocalStack, LocalStackConfig

WAIT_S = 60


@pytest.fixture
def stack(root: Path, tmp_path: Path) -> Iterator[LocalStack]:
    saved = dict(os.environ)
    local = LocalStack(LocalStackConfig(root=root, data_dir=tmp_path / "data", port=0))
    local.start()
    try:
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)


def client(stack: LocalStack) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {stack.admin_key}"}, timeout=WAIT_S)


def test_a_request_completes_while_a_slow_one_is_still_in_progress(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an export that, once started, stays in progress until the test lets it go
    import agentlab.tenancy

    real_export = agentlab.tenancy.export_org
    started, release = threading.Event(), threading.Event()

    def slow_export(*args: Any, **kwargs: Any) -> dict[str, Any]:
        started.set()
        assert release.wait(WAIT_S), "the test never released the export"
        return real_export(*args, **kwargs)

    monkeypatch.setattr(agentlab.tenancy, "export_org", slow_export)
    answers: dict[str, httpx.Response] = {}

    def export() -> None:
        with client(stack) as http:
            answers["export"] = http.get("/v1/orgs/default/export")

    exporter = threading.Thread(target=export)
    exporter.start()
    try:
        assert started.wait(WAIT_S)
        # When another caller lists agents while the export is held
        with client(stack) as http:
            agents = http.get("/v1/agents")
        # Then the listing is answered before the export is released, and the export is still in progress
        assert agents.status_code == 200, agents.text
        assert "items" in agents.json()
        assert not release.is_set()
        assert exporter.is_alive()
        assert "export" not in answers
    finally:
        release.set()
        exporter.join(WAIT_S)
    assert answers["export"].status_code == 200
    assert answers["export"].json()["org"]["id"] == "default"


def test_concurrent_requests_each_see_their_own_caller(stack: LocalStack) -> None:
    # Given two orgs, each with its own admin key and agent
    with client(stack) as http:
        created = [http.post("/v1/orgs", json={"name": f"org-{n}"}).json() for n in range(2)]
    keys = [org["api_key"]["key"] for org in created]
    names: list[str] = []
    for n, key in enumerate(keys):
        with httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {key}"}, timeout=WAIT_S) as http:
            answer = http.post("/v1/agents", json={"name": f"agent-of-{n}", "models": {"reasoning": ["scripted"]}})
            assert answer.status_code == 201, answer.text
            names.append(answer.json()["name"])
    seen: dict[int, set[str]] = {0: set(), 1: set()}
    barrier = threading.Barrier(2)

    def list_agents(n: int) -> None:
        headers = {"authorization": f"Bearer {keys[n]}"}
        with httpx.Client(base_url=stack.url, headers=headers, timeout=WAIT_S) as http:
            barrier.wait()
            for _ in range(20):
                seen[n].update(agent["name"] for agent in http.get("/v1/agents").json()["items"])

    # When both list their agents at the same time, many times over
    threads = [threading.Thread(target=list_agents, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    # Then each saw only its own org's agent
    assert seen == {0: {names[0]}, 1: {names[1]}}
