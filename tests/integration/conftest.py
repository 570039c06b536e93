from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apiclient import EventClient
from moto_platform import Platform

from agentlab.local.aws import MOTO_CONFIG, install_lambda_dispatch


@pytest.fixture(scope="session")
def jwks_base_url() -> Iterator[str]:
    """moto's Cognito endpoints over real HTTP, as AWS serves them: the API fetches the pool's key set from here."""
    import threading

    from moto.server import create_backend_app
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, create_backend_app("cognito-idp"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def platform(root: Path, tmp_path: Path, jwks_base_url: str) -> Iterator[Platform]:
    from moto import mock_aws

    with mock_aws(config=MOTO_CONFIG):  # type: ignore[arg-type]
        # A fresh registry per test loads fresh handler modules, so no warm state crosses tests.
        platform = Platform(root, tmp_path / "sandbox", jwks_base_url)
        undo = install_lambda_dispatch(platform.registry)
        try:
            yield platform
        finally:
            executions_end(platform)
            undo()


def executions_end(platform: Platform, timeout_s: float = 3) -> None:
    """Let the test's executions end before its AWS goes: a run is terminal before its last step returns, and an
    execution still running would go on writing into the next test's fresh backend. One held on purpose (a task token
    nobody answers) is left as it is after the timeout."""
    import time

    client = platform.clients.stepfunctions
    deadline = time.monotonic() + timeout_s
    for arn in platform.state_machines.values():
        while time.monotonic() < deadline:
            running = client.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
            if not running:
                break
            time.sleep(0.05)


@pytest.fixture
def org(platform: Platform) -> tuple[str, str]:
    return platform.new_org()


@pytest.fixture
def api(platform: Platform, org: tuple[str, str]) -> EventClient:
    return platform.api(org[1])
