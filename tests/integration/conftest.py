from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apiclient import EventClient
from moto_platform import Platform

from agentlab.local.aws import MOTO_CONFIG, install_lambda_dispatch


@pytest.fixture
def platform(root: Path, tmp_path: Path) -> Iterator[Platform]:
    from moto import mock_aws

    with mock_aws(config=MOTO_CONFIG):  # type: ignore[arg-type]
        # A fresh registry per test loads fresh handler modules, so no warm state crosses tests.
        platform = Platform(root, tmp_path / "sandbox")
        undo = install_lambda_dispatch(platform.registry)
        try:
            yield platform
        finally:
            undo()


@pytest.fixture
def org(platform: Platform) -> tuple[str, str]:
    return platform.new_org()


@pytest.fixture
def api(platform: Platform, org: tuple[str, str]) -> EventClient:
    return platform.api(org[1])
