"""Baselines that install from the package registries (PyPI, npm) in the sandbox's install phase, the only phase with
network: the small `python-pytest` and `express-ts` fixtures, end to end on moto with the local sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from apiclient import EventClient
from repo_helpers import fixture_repo, head
from run_checks import wait_for

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}


@pytest.fixture(autouse=True)
def local_repos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLAB_ALLOW_LOCAL_REPOS", "1")
    monkeypatch.setenv("AGENTLAB_REPO_BENCH_RUNS", "3")


def baseline_of(api: EventClient, path: Path) -> tuple[dict, dict]:
    repo = api.post("/v1/repos", {"url": f"file://{path}"})
    assert repo.status == 201, repo.text
    started = api.post(f"/v1/repos/{repo.json()['id']}/runs", {})
    assert started.status == 201, started.text
    run = wait_for(api, started.json()["id"], TERMINAL, timeout_s=600)
    baseline = api.get(f"/v1/runs/{run['id']}/baseline")
    assert baseline.status == 200, (run["error"], baseline.text)
    return run, baseline.json()


def phases(baseline: dict) -> list[str]:
    return [phase["phase"] for phase in baseline["phases"]]


def test_python_pytest_installs_runs_its_tests_and_its_pytest_benchmark_k_times(
    api: EventClient, tmp_path: Path
) -> None:
    path = fixture_repo("python-pytest", tmp_path)
    run, baseline = baseline_of(api, path)
    assert run["status"] == "succeeded", (run["error"], [p["output_tail"][-3000:] for p in baseline["phases"][2:3]])
    assert baseline["commit_sha"] == head(path)
    assert phases(baseline) == ["prepare", "install", "test", "bench", "bench", "bench", "profile"]
    assert baseline["phases"][1]["command"] == "pip install -e '.[test]'" and baseline["phases"][1]["network"]
    tests = baseline["tests"]
    assert tests["source"] == "junit" and tests["failed"] == 0 and tests["passed"] == tests["total"] >= 4
    assert baseline["benchmark"]["source"] == "pytest-benchmark" and baseline["benchmark"]["runs"] == 3
    for series in baseline["benchmark"]["series"]:
        # pytest-benchmark's raw rounds, three runs of them, every one kept
        assert len(series["samples"]) == series["summary"]["n"] >= 3 * 5
        assert 0 < series["summary"]["min"] <= series["summary"]["median"] <= series["summary"]["max"]


def test_express_ts_installs_from_npm_runs_node_test_and_its_bench_script(api: EventClient, tmp_path: Path) -> None:
    path = fixture_repo("express-ts", tmp_path)
    run, baseline = baseline_of(api, path)
    assert run["status"] == "succeeded", (run["error"], [p["output_tail"][-3000:] for p in baseline["phases"][2:3]])
    assert phases(baseline) == ["prepare", "install", "test", "bench", "bench", "bench", "profile"]
    assert baseline["phases"][1]["command"] == "npm ci"
    assert baseline["tests"]["failed"] == 0 and baseline["tests"]["passed"] >= 3
    assert baseline["benchmark"]["source"] == "json-samples"
    (series,) = baseline["benchmark"]["series"]
    assert len(series["samples"]) == series["summary"]["n"] >= 3


def artifact(api: EventClient, run_id: str, name: str, platform: Any) -> Any:
    import json

    listed = api.get(f"/v1/runs/{run_id}/artifacts").json()["items"]
    found = next((a for a in listed if a["name"] == name), None)
    assert found is not None, ([a["name"] for a in listed], api.get(f"/v1/runs/{run_id}/baseline").json()["phases"][-1])
    key = f"orgs/{found['org_id']}/runs/{run_id}/artifacts/{found['id']}/{name}"
    body = platform.clients.s3.get_object(Bucket=platform.settings.bucket_name, Key=key)["Body"].read()
    return json.loads(body)


@pytest.mark.parametrize(
    ("fixture", "planted_file"), [("python-pytest", "src/fastmath/__init__.py"), ("express-ts", "src/primes.mjs")]
)
def test_the_profile_ranks_the_planted_slow_path_first_among_the_candidates(
    api: EventClient, platform: Any, tmp_path: Path, fixture: str, planted_file: str
) -> None:
    run, _ = baseline_of(api, fixture_repo(fixture, tmp_path))
    assert run["status"] == "succeeded", run["error"]
    profile = artifact(api, run["id"], "profile.json", platform)
    assert profile["files"].get(planted_file, 0) > 0, profile["files"]
    candidates = artifact(api, run["id"], "candidates.json", platform)["candidates"]
    assert candidates and candidates[0]["opportunity"]["file"] == planted_file
    assert candidates[0]["patch"]["template"] == "list-to-set-membership"
    assert run["result"].endswith("candidate patches found (not validated yet)")
