"""The stack synthesized once per session (cdk-nag runs during synth), from a stand-in layer and dashboard build, so
these tests depend on neither `make layer` nor the frontend build."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "cdk"))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from infra_helpers import Synthesized, synthesize  # noqa: E402


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("synth"), alarmEmail="ops@example.com")


@pytest.fixture(scope="session")
def template(synth: Synthesized) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_json(synth.template)
