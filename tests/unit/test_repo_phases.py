"""The cells that run a repository's phases, read back as outcomes; the registry env an install is handed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentlab.repo_optimize.baseline_step import PlannedPhase, command_for, redact
from agentlab.repo_optimize.phases import RESULT_MARKER, PhaseSpec, parse_outcome, prepare_code, runner_code
from agentlab.repo_optimize.registries import registry_env
from agentlab.repo_optimize.settings import RepoSettings
from agentlab.sandbox.models import CellResult


def spec(command: str, **changes: Any) -> PhaseSpec:
    values: dict[str, Any] = {
        "name": "test",
        "command": command,
        "timeout_s": 10,
        "cpu_s": 30,
        "memory_mb": 512,
        "max_file_mb": 10,
        "disk_mb": 50,
        "log_name": "01-test.log",
        **changes,
    }
    return PhaseSpec(**values)


def run_cell(code: str, workspace: Path) -> CellResult:
    """The cell as a kernel would run it: Python in the workspace, its stdout the cell's output."""
    done = subprocess.run([sys.executable, "-c", code], cwd=workspace, capture_output=True, text=True, timeout=60)
    return CellResult(stdout=done.stdout, stderr=done.stderr, exit_code=done.returncode, duration_ms=1)


def test_both_cells_are_valid_python_whatever_the_command_holds() -> None:
    hostile = "echo '''\"\"\"'; exit 3 # __MARKER__ __SPEC__"
    compile(runner_code(spec(hostile)), "runner", "exec")
    compile(prepare_code(python=True), "prepare", "exec")


def test_a_phase_reports_its_exit_code_output_tail_and_log(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    outcome = parse_outcome(run_cell(runner_code(spec("echo hello; echo oops >&2; exit 3")), tmp_path))
    assert outcome.exit_code == 3 and outcome.limit is None and not outcome.ok
    assert "hello" in outcome.output_tail and "oops" in outcome.output_tail
    log = (tmp_path / outcome.log_path).read_text()
    assert log.startswith("$ echo hello") and "oops" in log


def test_a_phase_over_its_timeout_is_killed_with_what_it_started(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    outcome = parse_outcome(run_cell(runner_code(spec("sleep 30 & sleep 30", timeout_s=1)), tmp_path))
    assert outcome.limit == "timeout" and outcome.duration_s < 10


def test_a_phase_over_its_memory_is_stopped(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    grow = f'{sys.executable} -c "import time; b = bytearray(400 * 1024 * 1024); time.sleep(5)"'
    outcome = parse_outcome(run_cell(runner_code(spec(grow, memory_mb=100)), tmp_path))
    assert outcome.limit == "memory"


def test_a_phase_that_fills_the_disk_beyond_its_limit_says_so(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    fill = "for i in 1 2 3; do head -c 4000000 /dev/zero > big$i; done"
    outcome = parse_outcome(run_cell(runner_code(spec(fill, disk_mb=5, max_file_mb=10)), tmp_path))
    assert outcome.limit == "disk" and outcome.disk_mb > 5


def test_a_working_directory_outside_the_checkout_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "repo" / "app").mkdir(parents=True)
    inside = parse_outcome(run_cell(runner_code(spec("pwd", working_directory="app")), tmp_path))
    assert inside.output_tail.strip().endswith("/repo/app")
    outside = parse_outcome(run_cell(runner_code(spec("pwd", working_directory="../..")), tmp_path))
    assert outside.output_tail.strip().endswith("/repo")


def test_a_cell_that_printed_no_result_is_an_outcome_with_an_error() -> None:
    dead = CellResult(stdout="", stderr="[kernel died: killed]", exit_code=137, duration_ms=900, limit="memory")
    outcome = parse_outcome(dead)
    assert outcome.error is not None and outcome.limit == "memory" and not outcome.ok
    forged = CellResult(stdout=RESULT_MARKER + "{not json", stderr="", exit_code=0, duration_ms=1)
    assert parse_outcome(forged).error is not None


@pytest.mark.parametrize(
    ("command", "phase", "expected"),
    [
        ("pytest", "test", 'pytest --junitxml="R"'),
        ("python -m pytest -q", "test", 'python -m pytest -q --junitxml="R"'),
        ("pytest --benchmark-only", "bench", 'pytest --benchmark-only --benchmark-json="R"'),
        ("npm test", "test", "npm test"),
        ("node bench.js", "bench", "node bench.js"),
    ],
)
def test_pytest_commands_write_the_report_the_baseline_reads(command: str, phase: str, expected: str) -> None:
    assert command_for(PlannedPhase(phase=phase, command=command), report="R") == expected  # type: ignore[arg-type]


class FakeCodeArtifact:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_authorization_token(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("token", kwargs))
        return {"authorizationToken": "tok3n-secret"}

    def get_repository_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("endpoint", kwargs))
        host = "https://agentlab-packages-111122223333.d.codeartifact.eu-west-1.amazonaws.com"
        return {"repositoryEndpoint": f"{host}/{kwargs['format']}/{kwargs['repository']}/"}


def test_no_registry_env_without_codeartifact(monkeypatch: pytest.MonkeyPatch) -> None:
    assert registry_env(RepoSettings(), clients=None) == ({}, [])


def test_the_install_is_handed_codeartifact_urls_with_a_short_lived_token() -> None:
    settings = RepoSettings(
        codeartifact_domain="agentlab-packages",
        codeartifact_domain_owner="111122223333",
        codeartifact_pypi_repository="pypi-store",
        codeartifact_npm_repository="npm-store",
        repo_install_role_arn="arn:aws:iam::111122223333:role/RepoInstallRole",
    )
    fake = FakeCodeArtifact()
    env, secrets = registry_env(settings, clients=None, codeartifact=fake)
    assert secrets == ["tok3n-secret"]
    assert env["PIP_INDEX_URL"] == (
        "https://aws:tok3n-secret@agentlab-packages-111122223333.d.codeartifact.eu-west-1.amazonaws.com"
        "/pypi/pypi-store/simple/"
    )
    assert env["NPM_CONFIG_REGISTRY"].endswith("/npm/npm-store/")
    assert "_authToken=tok3n-secret" in env["AGENTLAB_NPMRC"]
    (token_call,) = [kwargs for name, kwargs in fake.calls if name == "token"]
    assert token_call == {"domain": "agentlab-packages", "durationSeconds": 900, "domainOwner": "111122223333"}
    assert redact(json.dumps(env), secrets).count("tok3n-secret") == 0


def test_a_phase_finds_git_node_corepack_python_pip_and_uv(tmp_path: Path) -> None:
    import shutil

    (tmp_path / "repo").mkdir()
    tools = ["git", "node", "npm", "corepack", "python3", "uv"]
    missing = [
        tool
        for tool in tools
        if shutil.which(tool, path=f"/usr/local/bin:/usr/bin:/bin:{Path(sys.executable).parent}") is None
    ]
    if missing:
        pytest.skip(f"this machine lacks {missing}, which `make system-deps` and the venv provide")
    command = "git --version && node --version && corepack --version && python3 -m pip --version && uv --version"
    outcome = parse_outcome(run_cell(runner_code(spec(command)), tmp_path))
    assert outcome.ok, outcome.output_tail
    assert "git version" in outcome.output_tail and "uv " in outcome.output_tail
