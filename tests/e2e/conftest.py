"""Fixtures for the e2e tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stack_process import LocalStackProcess, free_port


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[LocalStackProcess]:
    stack = LocalStackProcess(tmp_path / "data", free_port())
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
