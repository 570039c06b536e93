"""The agentlab CDK app. `make synth` runs it directly (offline); `cdk deploy` runs it through cdk.json."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from agentlab_cdk.config import DeployConfig  # noqa: E402
from agentlab_cdk.stack import AgentlabStack  # noqa: E402
from aws_cdk import App, Environment, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

STACK_NAME = "Agentlab"


def cdk_json_context() -> dict[str, object]:
    """cdk.json's context, for runs without the CDK CLI (which otherwise passes it in)."""
    if "CDK_CONTEXT_JSON" in os.environ:
        return {}
    config = json.loads((HERE.parent / "cdk.json").read_text())
    context: dict[str, object] = config.get("context", {})
    return context


def build_app(context: dict[str, object] | None = None, outdir: str | None = None) -> tuple[App, AgentlabStack]:
    """The app with the stack and cdk-nag's AwsSolutions checks (findings fail synth)."""
    app = App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None
    stack = AgentlabStack(
        app,
        STACK_NAME,
        config=DeployConfig.from_context(app.node),
        env=env,
        description="agentlab: run AI agents that write and execute code",
    )
    attach_checks(app)
    return app, stack


def attach_checks(app: App) -> None:
    """cdk-nag's AwsSolutions pack as a validation plugin: any unacknowledged finding fails synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


if __name__ == "__main__":
    application, _ = build_app(outdir=os.environ.get("CDK_OUTDIR", str(HERE.parent / "cdk.out")))
    application.synth()
