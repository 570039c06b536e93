from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apiclient import EventClient
from moto_platform import Platform, executions_end

from agentlab.local.aws import MOTO_CONFIG, install_lambda_dispatch
from agentlab.local.faults import Faults


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
def faults() -> Faults | None:
    """Faults injected into the Lambda dispatch and the model calls: none but those AGENTLAB_LOCAL_FAULTS names; the
    fault suite (test_faults.py) gives its own."""
    return None


@pytest.fixture
def platform(root: Path, tmp_path: Path, jwks_base_url: str, faults: Faults | None) -> Iterator[Platform]:
    from moto import mock_aws

    with mock_aws(config=MOTO_CONFIG):  # type: ignore[arg-type]
        # A fresh registry per test loads fresh handler modules, so no warm state crosses tests.
        platform = Platform(root, tmp_path / "sandbox", jwks_base_url)
        undo = install_lambda_dispatch(platform.registry, faults=faults)
        try:
            yield platform
        finally:
            executions_end(platform)
            undo()


@pytest.fixture
def org(platform: Platform) -> tuple[str, str]:
    return platform.new_org()


@pytest.fixture
def api(platform: Platform, org: tuple[str, str]) -> EventClient:
    return platform.api(org[1])
