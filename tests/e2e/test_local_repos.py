"""Repositories on the local stack as a user runs it (`agentlab dev`): connect the python-pytest fixture by path, run
its baseline (the install reaches PyPI, every other phase has no network), read it back through the API and the CLI,
and see another org get nothing of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import fixture_repo, head
from run_checks import wait_for
from stack_process import LocalStackProcess, free_port

pytestmark = pytest.mark.e2e
TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStackProcess]:
    stack = LocalStackProcess(
        tmp_path / "data", free_port(), extra_env={"AGENTLAB_ALLOW_LOCAL_REPOS": "1", "AGENTLAB_REPO_BENCH_RUNS": "2"}
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def test_a_python_repository_gets_a_baseline_on_the_local_stack(stack: LocalStackProcess, tmp_path: Path) -> None:
    path = fixture_repo("python-pytest", tmp_path)
    with stack.client() as client:
        repo = client.post("/v1/repos", json={"url": f"file://{path}"})
        assert repo.status_code == 201, repo.text
        repo_id = repo.json()["id"]

        # The CLI starts the run and follows it to its end, then prints the baseline's figures
        env = {**os.environ, "AGENTLAB_URL": stack.url, "AGENTLAB_API_KEY": stack.admin_key}
        cli = Path(sys.executable).parent / "agentlab"
        followed = subprocess.run(
            [str(cli), "repos", "run", repo_id, "--follow"], capture_output=True, text=True, env=env, timeout=600
        )
        assert followed.returncode == 0, followed.stdout + followed.stderr
        runs = client.get(f"/v1/repos/{repo_id}/runs").json()["items"]
        (run,) = runs
        run = wait_for(client, run["id"], TERMINAL)
        assert run["status"] == "succeeded" and run["repo"]["commit_sha"] == head(path)
        baseline = client.get(f"/v1/runs/{run['id']}/baseline").json()
        assert baseline["tests"]["failed"] == 0 and baseline["tests"]["total"] >= 4
        assert [p["phase"] for p in baseline["phases"]].count("bench") == 2
        assert all(p["network"] == (p["phase"] == "install") for p in baseline["phases"])
        assert "median" in followed.stdout

        # The CLI shows the detected commands with their origin
        shown = subprocess.run(
            [str(cli), "repos", "config", repo_id, "--json"], capture_output=True, text=True, env=env, timeout=60
        )
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["effective"]["test"]["command"] == "pytest"

        # Another org sees nothing of it
        other = client.post("/v1/orgs", json={"name": "elsewhere"}).json()["api_key"]["key"]
        intruder = {"Authorization": f"Bearer {other}"}
        assert client.get(f"/v1/repos/{repo_id}", headers=intruder).status_code == 404
        assert client.get(f"/v1/runs/{run['id']}/baseline", headers=intruder).status_code == 404
        assert client.get("/v1/repos", headers=intruder).json()["items"] == []
