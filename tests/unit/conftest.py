"""Fixtures of the unit tests: the CLI run in an isolated home against a fake API (tests/unit/cli_harness.py)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cli_harness import CliResult, FakeApi

from agentlab.cli.main import Runtime, main


@pytest.fixture
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AGENTLAB_* configuration from the machine; a config home, a home and a working directory of its own."""
    for name in ("AGENTLAB_URL", "AGENTLAB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "cwd").mkdir()
    (tmp_path / "home").mkdir()


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., CliResult]:
    def run(argv: list[str], api: FakeApi | None = None, *, stderr: io.StringIO | None = None) -> CliResult:
        transport = httpx.MockTransport(api or FakeApi())
        out, err = io.StringIO(), stderr or io.StringIO()
        runtime = Runtime(
            client_factory=lambda config: httpx.Client(base_url=config.url, transport=transport),
            sleep=lambda _seconds: None,
            stdout=out,
            stderr=err,
            home=tmp_path / "home",
            cwd=tmp_path / "cwd",
        )
        return CliResult(main(argv, runtime), out.getvalue(), err.getvalue())

    return run
