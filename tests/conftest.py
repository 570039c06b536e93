"""Shared fixtures: AWS through moto, the real API handler reached through API Gateway v2 events."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

# Tests never reach real AWS: fake credentials before anything builds a client.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "agentlab-tests",
    }
)


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def one_rate_window(monkeypatch: pytest.MonkeyPatch) -> float:
    """Hold the rate limits' clock in the middle of one minute, so counts in a test never straddle two windows."""
    import time

    from agentlab.store import limits

    moment = (time.time() // limits.WINDOW_S) * limits.WINDOW_S + limits.WINDOW_S / 2
    monkeypatch.setattr(limits, "wall_clock", lambda: moment)
    return moment


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A Standard Webhooks receiver on 127.0.0.1 (tests/webhook_receiver.py); set its secret once the endpoint is
    created."""
    from webhook_receiver import Receiver

    receiver = Receiver().start()
    yield receiver
    receiver.stop()
