"""Repo runs end to end on moto: connect a local repository, run Checkout -> Detect -> Baseline -> Finalize through the
real ASL file and handlers, with the repository's commands in the local sandbox.

These repositories need no registry: Node projects without dependencies, whose install (`npm install`) has nothing to
fetch. The ones that install from the registries are in test_repo_baseline_installs.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from apiclient import EventClient
from repo_helpers import commit, head, make_repo
from run_checks import error_of, wait_for

TERMINAL = {"succeeded", "failed", "cancelled", "budget_exceeded"}
BENCH = (
    "const samples = [];\n"
    "for (let r = 0; r < 15; r++) {\n"
    "  const t = process.hrtime.bigint();\n"
    "  let x = 0; for (let i = 0; i < 20000; i++) { x += i % 7; }\n"
    "  samples.push(Number(process.hrtime.bigint() - t) / 1e6);\n"
    "}\n"
    "console.log(JSON.stringify({name: 'sum', samples_ms: samples}));\n"
)
PASSING_TESTS = (
    "const test = require('node:test');\nconst assert = require('node:assert');\n"
    "test('adds', () => assert.strictEqual(1 + 1, 2));\n"
    "test('joins', () => assert.strictEqual(['a', 'b'].join(''), 'ab'));\n"
)


def node_repo(path: Path, *, scripts: dict[str, str], files: dict[str, str] | None = None) -> Path:
    package = {"name": "tiny", "version": "1.0.0", "private": True, "scripts": scripts}
    return make_repo(path, {"package.json": json.dumps(package, indent=2), **(files or {})})


@pytest.fixture(autouse=True)
def local_repos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLAB_ALLOW_LOCAL_REPOS", "1")
    monkeypatch.setenv("AGENTLAB_REPO_BENCH_RUNS", "3")


def connect(api: EventClient, path: Path, **extra: Any) -> dict[str, Any]:
    response = api.post("/v1/repos", {"url": f"file://{path}", **extra})
    assert response.status == 201, response.text
    return response.json()


def run_baseline(api: EventClient, repo_id: str, body: dict[str, Any] | None = None) -> tuple[dict, dict | None]:
    started = api.post(f"/v1/repos/{repo_id}/runs", body or {})
    assert started.status == 201, started.text
    run = wait_for(api, started.json()["id"], TERMINAL, timeout_s=180)
    baseline = api.get(f"/v1/runs/{run['id']}/baseline")
    return run, baseline.json() if baseline.status == 200 else None


def test_a_node_repository_gets_its_commands_detected_and_a_baseline_with_raw_samples(
    api: EventClient, tmp_path: Path
) -> None:
    # Given a repository with tests and a benchmark script, connected by path
    path = node_repo(
        tmp_path / "tiny",
        scripts={"test": "node --test test/", "bench": "node bench.js"},
        files={"test/basic.test.js": PASSING_TESTS, "bench.js": BENCH},
    )
    repo = connect(api, path)
    assert repo["default_branch"] == "main" and repo["name"] == "tiny" and repo["has_credentials"] is False

    # When a repo run goes through
    run, baseline = run_baseline(api, repo["id"])

    # Then the run succeeded at the repository's head, with the figures kept raw
    assert run["status"] == "succeeded", (run["error"], baseline and baseline["phases"])
    assert run["workflow"] == "repo_optimize" and run["repo"]["commit_sha"] == head(path)
    assert baseline is not None and baseline["status"] == "succeeded"
    assert baseline["commit_sha"] == head(path)
    assert [p["phase"] for p in baseline["phases"]] == [
        "prepare",
        "install",
        "test",
        "bench",
        "bench",
        "bench",
        "profile",
    ]
    install = baseline["phases"][1]
    assert install["network"] is True and install["exit_code"] == 0
    assert all(not p["network"] for p in baseline["phases"] if p["phase"] != "install")
    assert baseline["tests"]["total"] == 2 and baseline["tests"]["passed"] == 2
    (series,) = baseline["benchmark"]["series"]
    assert series["name"] == "sum" and baseline["benchmark"]["runs"] == 3
    assert len(series["samples"]) == 45  # 15 samples a run, three runs, every one kept
    assert series["summary"]["n"] == 45 and series["summary"]["min"] <= series["summary"]["median"]
    artifacts = {a["name"] for a in api.get(f"/v1/runs/{run['id']}/artifacts").json()["items"]}
    assert {"baseline.json", "logs.txt", "trace.json", "profile.json", "candidates.json"} <= artifacts
    steps = [s["type"] for s in api.get(f"/v1/runs/{run['id']}/steps").json()["items"]]
    assert steps[:2] == ["checkout", "detect"] and steps.count("phase") == 7 and steps[-1] == "discover"
    assert run["result"].endswith("candidate patches found (not validated yet)")

    # And the detection is on the repository's config, with its evidence
    config = api.get(f"/v1/repos/{repo['id']}/config").json()
    assert config["detected"]["commit_sha"] == head(path)
    assert config["effective"]["test"]["command"] == "npm test"
    assert config["effective"]["test"]["origin"] == "detected"
    assert any(e["file"] == "package.json" for e in config["effective"]["test"]["evidence"])
    assert api.get(f"/v1/repos/{repo['id']}").json()["last_run_id"] == run["id"]
    listed = api.get(f"/v1/repos/{repo['id']}/runs").json()["items"]
    assert [r["id"] for r in listed] == [run["id"]]


def test_overrides_win_and_a_given_sha_is_checked_out(api: EventClient, tmp_path: Path) -> None:
    path = node_repo(
        tmp_path / "tiny",
        scripts={"test": "node --test test/"},
        files={"test/basic.test.js": PASSING_TESTS, "bench.js": BENCH},
    )
    first = head(path)
    commit(path, {"test/basic.test.js": "throw new Error('broken at the head')\n"})
    repo = connect(api, path)
    put = api.put(
        f"/v1/repos/{repo['id']}/config", {"overrides": {"bench": "node bench.js", "install": "true"}, "bench_runs": 2}
    )
    assert put.status == 200, put.text
    assert put.json()["effective"]["bench"] == {
        "command": "node bench.js",
        "origin": "override",
        "confidence": None,
        "evidence": [],
        "working_directory": ".",
        "needs_confirmation": False,
    }

    run, baseline = run_baseline(api, repo["id"], {"sha": first})

    assert run["status"] == "succeeded", (run["error"], baseline and baseline["phases"])
    assert baseline is not None and baseline["commit_sha"] == first
    assert baseline["commands"]["install"] == "true" and baseline["commands"]["bench"] == "node bench.js"
    assert [p["phase"] for p in baseline["phases"]].count("bench") == 2


@pytest.mark.parametrize(
    ("scripts", "files", "code"),
    [
        ({"test": "node --test test/", "bench": "node bench.js"}, {"test/a.test.js": PASSING_TESTS}, None),
        (
            {"build": 'node -e "process.exit(3)"', "test": "node --test test/"},
            {"test/a.test.js": PASSING_TESTS},
            "build_failed",
        ),
        (
            {"test": "node --test test/", "bench": "node bench.js"},
            {
                "test/a.test.js": "const test = require('node:test');\n"
                "test('always fails', () => { throw new Error('nope'); });\n",
                "bench.js": BENCH,
            },
            "tests_failed",
        ),
        ({"test": "node --test test/"}, {"test/a.test.js": PASSING_TESTS}, "benchmark_missing"),
        ({"bench": "node bench.js"}, {"bench.js": BENCH}, "no_tests_found"),
    ],
    ids=["bench-script-missing-file", "build-fails", "tests-fail", "benchmark-missing", "no-tests"],
)
def test_failure_modes_end_the_run_with_their_code_and_evidence(
    api: EventClient, tmp_path: Path, scripts: dict[str, str], files: dict[str, str], code: str | None
) -> None:
    repo = connect(api, node_repo(tmp_path / "repo", scripts=scripts, files=files))
    run, baseline = run_baseline(api, repo["id"])
    assert run["status"] == "failed", run
    assert baseline is not None and baseline["status"] == "failed"
    expected = code or "benchmark_failed"
    assert run["error"]["code"] == expected and baseline["failure"]["code"] == expected
    if expected in ("tests_failed", "benchmark_missing"):
        assert baseline["tests"] is not None  # the baseline still records the tests
    if expected == "tests_failed":
        assert baseline["tests"]["failures"] and [p["phase"] for p in baseline["phases"]][-1] == "test_rerun"
    logs = [a for a in api.get(f"/v1/runs/{run['id']}/artifacts").json()["items"] if a["name"] == "logs.txt"]
    assert logs, "the evidence is kept"


def test_an_install_that_fails_ends_the_run_install_failed(api: EventClient, tmp_path: Path) -> None:
    path = node_repo(tmp_path / "repo", scripts={"test": "node --test test/"}, files={"test/a.test.js": PASSING_TESTS})
    repo = connect(api, path)
    api.put(f"/v1/repos/{repo['id']}/config", {"overrides": {"install": "echo cannot install >&2; exit 7"}})
    run, baseline = run_baseline(api, repo["id"])
    assert run["error"]["code"] == "install_failed"
    assert baseline is not None and baseline["phases"][-1]["exit_code"] == 7
    assert "cannot install" in baseline["phases"][-1]["output_tail"]
    assert baseline["tests"] is None


def test_a_test_that_fails_once_then_passes_is_flaky_not_failed(api: EventClient, tmp_path: Path) -> None:
    flaky = (
        "const test = require('node:test');\nconst fs = require('node:fs');\n"
        "test('steady', () => {});\n"
        "test('wobbly', () => {\n"
        "  if (!fs.existsSync('seen')) { fs.writeFileSync('seen', ''); throw new Error('x'); }\n"
        "});\n"
    )
    repo = connect(
        api,
        node_repo(
            tmp_path / "repo",
            scripts={"test": "node --test test/", "bench": "node bench.js"},
            files={"test/a.test.js": flaky, "bench.js": BENCH},
        ),
    )
    run, baseline = run_baseline(api, repo["id"])
    assert run["status"] == "succeeded", (run["error"], baseline and baseline["phases"])
    assert baseline is not None
    assert baseline["tests"]["flaky"] == ["wobbly"] and baseline["tests"]["failures"] == []
    assert "test_rerun" in [p["phase"] for p in baseline["phases"]]


def test_a_repository_that_does_not_exist_or_is_not_allowed_is_refused(api: EventClient, tmp_path: Path) -> None:
    error_of(api.post("/v1/repos", {"url": f"file://{tmp_path}/nothing-here"}), 422, "url_not_allowed")
    error_of(api.post("/v1/repos", {"url": "http://example.com/repo.git"}), 422, "url_not_allowed")
    error_of(api.post("/v1/repos", {"url": "https://127.0.0.1/repo.git"}), 422, "url_not_allowed")
    error_of(api.post("/v1/repos", {"url": "https://user:pw@example.com/repo.git"}), 422, "url_not_allowed")
    assert api.get("/v1/repos").json()["items"] == []


def test_local_paths_are_refused_unless_the_stack_allows_them(
    api: EventClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API reads its settings at its first request, which comes after this.
    monkeypatch.setenv("AGENTLAB_ALLOW_LOCAL_REPOS", "0")
    path = node_repo(tmp_path / "repo", scripts={})
    error_of(api.post("/v1/repos", {"url": f"file://{path}"}), 422, "url_not_allowed")


def test_the_token_is_stored_apart_and_never_answered(api: EventClient, tmp_path: Path, platform: Any) -> None:
    path = node_repo(tmp_path / "repo", scripts={})
    secret = "ghp_verysecretvalue1234567890"
    created = api.post("/v1/repos", {"url": f"file://{path}", "credentials": {"token": secret}})
    assert created.status == 201, created.text
    repo = created.json()
    assert repo["has_credentials"] is True
    for response in (created, api.get(f"/v1/repos/{repo['id']}"), api.get("/v1/repos")):
        assert secret not in response.text
    stored = platform.clients.secretsmanager.get_secret_value(SecretId=f"agentlab/{repo['org_id']}/repos/{repo['id']}")
    assert stored["SecretString"] == secret
    removed = api.patch(f"/v1/repos/{repo['id']}", {"credentials": None})
    assert removed.status == 200 and removed.json()["has_credentials"] is False
    deleted = api.delete(f"/v1/repos/{repo['id']}")
    assert deleted.status == 200
    error_of(api.get(f"/v1/repos/{repo['id']}"), 404)


def test_a_repository_over_the_size_cap_fails_its_checkout(
    api: EventClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("AGENTLAB_REPO_MAX_CHECKOUT_MB", "1")
    path = make_repo(tmp_path / "big", {"blob.bin": os.urandom(3 * 1024 * 1024), "package.json": "{}"})
    repo = connect(api, path)
    run, baseline = run_baseline(api, repo["id"])
    assert run["status"] == "failed" and run["error"]["code"] == "repo_too_large", run
    assert baseline is None
    (checkout,) = [s for s in api.get(f"/v1/runs/{run['id']}/steps").json()["items"] if s["type"] == "checkout"]
    assert checkout["detail"]["ok"] is False


def test_a_branch_that_does_not_exist_fails_the_checkout(api: EventClient, tmp_path: Path) -> None:
    repo = connect(api, node_repo(tmp_path / "repo", scripts={}))
    run, _ = run_baseline(api, repo["id"], {"branch": "no-such-branch"})
    assert run["status"] == "failed" and run["error"]["code"] == "ref_not_found", run


def test_bad_input_is_refused_and_changes_nothing(api: EventClient, tmp_path: Path) -> None:
    repo = connect(api, node_repo(tmp_path / "repo", scripts={}))
    error_of(api.put(f"/v1/repos/{repo['id']}/config", {"overrides": {"deploy": "make deploy"}}), 422)
    error_of(api.put(f"/v1/repos/{repo['id']}/config", {"bench_runs": 0}), 422)
    error_of(api.post(f"/v1/repos/{repo['id']}/runs", {"sha": "not-a-sha"}), 422)
    error_of(api.post(f"/v1/repos/{repo['id']}/runs", {"branch": "--upload-pack=evil"}), 422)
    error_of(api.patch(f"/v1/repos/{repo['id']}", {"name": None}), 422)
    assert api.get(f"/v1/repos/{repo['id']}/config").json()["revision"] == 0
    assert api.get(f"/v1/repos/{repo['id']}/runs").json()["items"] == []


HOSTILE_TESTS = r"""
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const net = require('node:net');
const { spawn } = require('node:child_process');

test('cannot reach the network', async () => {
  const outcome = await new Promise((resolve) => {
    const socket = net.connect({ host: '1.1.1.1', port: 443, timeout: 3000 });
    socket.on('connect', () => { socket.destroy(); resolve('connected'); });
    socket.on('error', (e) => resolve('error ' + e.code));
    socket.on('timeout', () => { socket.destroy(); resolve('timeout'); });
  });
  fs.writeFileSync('network.txt', outcome);
  assert.notStrictEqual(outcome, 'connected');
});

test('cannot read host files', () => {
  let shadow = 'unreadable';
  try { shadow = fs.readFileSync('/etc/shadow', 'utf8'); } catch (e) { shadow = 'refused ' + e.code; }
  fs.writeFileSync('shadow.txt', shadow);
  assert.ok(!shadow.includes('root:'));
  assert.ok(!fs.existsSync('/root/.ssh'));
});

test('leaves a daemon behind', () => {
  const child = spawn('/bin/sh', ['-c', 'sleep 300'], { detached: true, stdio: 'ignore' });
  child.unref();
  fs.writeFileSync('daemon.pid', String(child.pid));
});
"""
FORK_BOMB = "const { spawn } = require('node:child_process');\n" + (
    "for (let i = 0; i < 100000; i++) { try { spawn('/bin/sh', ['-c', 'sleep 30'], {detached: true}); } "
    "catch (e) { console.log('spawn refused', e.code); break; } }\nconsole.log('done');\n"
)


def test_hostile_tests_are_contained_and_leave_nothing_running(api: EventClient, tmp_path: Path) -> None:
    import subprocess

    repo = connect(
        api,
        node_repo(
            tmp_path / "hostile",
            scripts={"test": "node --test test/", "bench": "node bench.js"},
            files={"test/hostile.test.js": HOSTILE_TESTS, "bench.js": BENCH},
        ),
    )
    run, baseline = run_baseline(api, repo["id"])
    assert run["status"] == "succeeded", (run["error"], baseline and baseline["phases"])
    assert baseline is not None and baseline["tests"]["passed"] == 3
    # The daemon the tests started did not outlive their phase: nothing sleeps for 300 s on this machine.
    sleeping = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True)
    assert sleeping.stdout.strip() == ""


def test_a_fork_bomb_in_the_build_is_stopped_by_its_limits(
    api: EventClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    monkeypatch.setenv("AGENTLAB_REPO_PHASE_TIMEOUT_S", "20")
    repo = connect(
        api,
        node_repo(
            tmp_path / "bomb",
            scripts={"build": "node bomb.js", "test": "node --test test/"},
            files={"bomb.js": FORK_BOMB, "test/a.test.js": PASSING_TESTS},
        ),
    )
    run, baseline = run_baseline(api, repo["id"])
    assert baseline is not None, run
    build = baseline["phases"][[p["phase"] for p in baseline["phases"]].index("build")]
    # Either the process limit refused the spawns (and the build went on) or the phase hit a limit; either way the
    # machine is not flooded and nothing of it is left running.
    assert build["limit"] in (None, "timeout", "memory", "cpu") and build["duration_s"] < 60
    leftover = subprocess.run(["pgrep", "-f", "sleep 30"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
