"""The stack synthesized once per session (cdk-nag runs during synth), from a stand-in layer and dashboard build, so
these tests depend on neither `make layer` nor the frontend build."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "cdk"))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from infra_helpers import Synthesized  # noqa: E402


def stand_in_builds(base: Path) -> tuple[Path, Path]:
    layer = base / "layer"
    (layer / "python" / "agentlab").mkdir(parents=True)
    (layer / "python" / "agentlab" / "__init__.py").write_text('"""stand-in layer for synth tests"""\n')
    dist = base / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>agentlab</title>\n")
    return layer, dist


def synthesize(base: Path, **context: Any) -> Synthesized:
    from app import STACK_NAME, build_app

    layer, dist = stand_in_builds(base)
    outdir = base / "cdk.out"
    app, stack = build_app({"layerDir": str(layer), "frontendDist": str(dist), **context}, outdir=str(outdir))
    assembly = app.synth()
    template = assembly.get_stack_by_name(STACK_NAME).template
    (outdir / "synthesized.template.json").write_text(json.dumps(template))
    return Synthesized(template=template, outdir=outdir, stack=stack, app=app)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("synth"), alarmEmail="ops@example.com")


@pytest.fixture(scope="session")
def template(synth: Synthesized) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_json(synth.template)
