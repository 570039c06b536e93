"""Custom resource handlers (CDK Provider framework) that build the sandbox image in CodeBuild during a deploy."""

from __future__ import annotations

from typing import Any

from agentlab.deploy.image_build import ImageBuildEvent, check_image_build, start_image_build
from agentlab.logs import get_logger

logger = get_logger("agentlab-image-build")
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    if service not in _clients:
        import boto3

        _clients[service] = boto3.client(service)
    return _clients[service]


@logger.inject_lambda_context(clear_state=True)
def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return start_image_build(ImageBuildEvent.model_validate(event), codebuild=client("codebuild"), ecr=client("ecr"))


@logger.inject_lambda_context(clear_state=True)
def is_complete(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return check_image_build(ImageBuildEvent.model_validate(event), codebuild=client("codebuild"))
