"""The sandbox image's custom resource handlers (agentlab.deploy.image_build, functions/image_build) against stubbed
CodeBuild and ECR clients: what each lifecycle event starts, when the wait is over, and how a failed build reads."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from agentlab.deploy.image_build import (
    ImageBuildEvent,
    ImageBuildFailed,
    check_image_build,
    start_image_build,
)

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "ab" * 32
TAG = "0f" * 32
PROPERTIES = {
    "ServiceToken": "arn:aws:lambda:eu-west-1:111122223333:function:provider",
    "ProjectName": "SandboxImageProject",
    "RepositoryName": "agentlab-sandbox",
    "ImageTag": TAG,
    "SourceLocation": f"cdk-hnb659fds-assets-111122223333-eu-west-1/{TAG}.zip",
}
BUILD_ID = "SandboxImageProject:7c0b2f9e-1d7e-4a35-9d53-0e4c5b0b7a11"


def event(request_type: str = "Create", **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "RequestId": "5c8f7a8e-3b6e-4b0e-9a7b-6f1f7c2a9d10",
        "ResourceType": "Custom::SandboxImage",
        "LogicalResourceId": "SandboxImageBuild",
        "StackId": "arn:aws:cloudformation:eu-west-1:111122223333:stack/Agentlab/1",
        "ResourceProperties": PROPERTIES,
        **extra,
    }


@pytest.fixture
def codebuild() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("codebuild", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def ecr() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ecr", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def image_missing(stubber: Stubber) -> None:
    stubber.add_client_error(
        "describe_images",
        service_error_code="ImageNotFoundException",
        expected_params={"repositoryName": "agentlab-sandbox", "imageIds": [{"imageTag": TAG}]},
    )


def build(status: str, **extra: Any) -> dict[str, Any]:
    return {"builds": [{"id": BUILD_ID, "buildStatus": status, **extra}]}


def test_a_new_build_context_starts_a_build_of_exactly_that_context(codebuild: Any, ecr: Any) -> None:
    (cb, cb_stub), (registry, ecr_stub) = codebuild, ecr
    image_missing(ecr_stub)
    cb_stub.add_response(
        "start_build",
        {"build": {"id": BUILD_ID}},
        {
            "projectName": "SandboxImageProject",
            "sourceTypeOverride": "S3",
            "sourceLocationOverride": PROPERTIES["SourceLocation"],
            "environmentVariablesOverride": [{"name": "IMAGE_TAG", "value": TAG, "type": "PLAINTEXT"}],
            "idempotencyToken": "5c8f7a8e-3b6e-4b0e-9a7b-6f1f7c2a9d10",
        },
    )

    result = start_image_build(ImageBuildEvent.model_validate(event()), codebuild=cb, ecr=registry)

    assert result == {"PhysicalResourceId": f"agentlab-sandbox:{TAG}", "BuildId": BUILD_ID}


def test_an_image_already_built_from_the_same_context_is_reused_without_a_build(codebuild: Any, ecr: Any) -> None:
    (cb, _), (registry, ecr_stub) = codebuild, ecr
    ecr_stub.add_response(
        "describe_images",
        {"imageDetails": [{"imageDigest": DIGEST, "imageTags": [TAG]}]},
        {"repositoryName": "agentlab-sandbox", "imageIds": [{"imageTag": TAG}]},
    )

    started = start_image_build(
        ImageBuildEvent.model_validate(event("Update", PhysicalResourceId="agentlab-sandbox:old")),
        codebuild=cb,
        ecr=registry,
    )
    done = check_image_build(ImageBuildEvent.model_validate(event("Update", **started)), codebuild=cb)

    assert started["Data"] == {"ImageDigest": DIGEST, "ImageSha256": "ab" * 32, "ImageTag": TAG}
    assert "BuildId" not in started
    assert done == {"IsComplete": True}


def test_delete_leaves_the_images_to_the_repository(codebuild: Any, ecr: Any) -> None:
    (cb, _), (registry, _) = codebuild, ecr
    physical_id = f"agentlab-sandbox:{TAG}"
    deleted = ImageBuildEvent.model_validate(event("Delete", PhysicalResourceId=physical_id))

    assert start_image_build(deleted, codebuild=cb, ecr=registry) == {"PhysicalResourceId": physical_id}
    assert check_image_build(deleted, codebuild=cb) == {"IsComplete": True}


def test_a_running_build_is_not_complete(codebuild: Any) -> None:
    cb, stub = codebuild
    stub.add_response("batch_get_builds", build("IN_PROGRESS", currentPhase="BUILD"), {"ids": [BUILD_ID]})

    assert check_image_build(ImageBuildEvent.model_validate(event(BuildId=BUILD_ID)), codebuild=cb) == {
        "IsComplete": False
    }


def test_a_succeeded_build_gives_the_digest_it_pushed(codebuild: Any) -> None:
    cb, stub = codebuild
    exported = [{"name": "IMAGE_DIGEST", "value": DIGEST}]
    stub.add_response(
        "batch_get_builds", build("SUCCEEDED", exportedEnvironmentVariables=exported), {"ids": [BUILD_ID]}
    )

    result = check_image_build(ImageBuildEvent.model_validate(event(BuildId=BUILD_ID)), codebuild=cb)

    assert result == {"IsComplete": True, "Data": {"ImageDigest": DIGEST, "ImageSha256": "ab" * 32, "ImageTag": TAG}}


@pytest.mark.parametrize("status", ["FAILED", "FAULT", "TIMED_OUT", "STOPPED"])
def test_a_build_that_did_not_succeed_fails_the_deploy_with_its_reason_and_logs(codebuild: Any, status: str) -> None:
    cb, stub = codebuild
    phases = [
        {"phaseType": "PRE_BUILD", "phaseStatus": "SUCCEEDED"},
        {
            "phaseType": "BUILD",
            "phaseStatus": "FAILED",
            "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": "exit status 1"}],
        },
    ]
    logs = {"deepLink": "https://console.aws.amazon.com/cloudwatch/home#logsV2:log-groups/build"}
    stub.add_response("batch_get_builds", build(status, phases=phases, logs=logs), {"ids": [BUILD_ID]})

    with pytest.raises(ImageBuildFailed) as raised:
        check_image_build(ImageBuildEvent.model_validate(event(BuildId=BUILD_ID)), codebuild=cb)

    message = str(raised.value)
    assert f"ended {status}" in message
    assert "BUILD: exit status 1" in message
    assert logs["deepLink"] in message


def test_a_succeeded_build_without_a_digest_fails_rather_than_pointing_at_nothing(codebuild: Any) -> None:
    cb, stub = codebuild
    exported = [{"name": "IMAGE_DIGEST", "value": ""}]
    stub.add_response(
        "batch_get_builds", build("SUCCEEDED", exportedEnvironmentVariables=exported), {"ids": [BUILD_ID]}
    )

    with pytest.raises(ImageBuildFailed, match="not an image digest"):
        check_image_build(ImageBuildEvent.model_validate(event(BuildId=BUILD_ID)), codebuild=cb)


def test_an_unknown_build_fails(codebuild: Any) -> None:
    cb, stub = codebuild
    stub.add_response("batch_get_builds", {"builds": [], "buildsNotFound": [BUILD_ID]}, {"ids": [BUILD_ID]})

    with pytest.raises(ImageBuildFailed, match="does not know"):
        check_image_build(ImageBuildEvent.model_validate(event(BuildId=BUILD_ID)), codebuild=cb)


def test_a_tag_that_is_not_a_valid_image_tag_is_refused() -> None:
    with pytest.raises(ValueError, match="ImageTag"):
        ImageBuildEvent.model_validate(event(ResourceProperties={**PROPERTIES, "ImageTag": "not a tag"}))


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_build_handler", ROOT / "functions/image_build/handler.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="image-build",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:eu-west-1:111122223333:function:image-build",
        aws_request_id="4a2f",
    )


def test_the_handlers_parse_the_framework_events_and_call_the_logic(codebuild: Any, ecr: Any) -> None:
    (cb, cb_stub), (registry, ecr_stub) = codebuild, ecr
    handler = load_handler()
    handler._clients.update({"codebuild": cb, "ecr": registry})
    image_missing(ecr_stub)
    cb_stub.add_response("start_build", {"build": {"id": BUILD_ID}})
    exported = [{"name": "IMAGE_DIGEST", "value": DIGEST}]
    cb_stub.add_response("batch_get_builds", build("SUCCEEDED", exportedEnvironmentVariables=exported))

    started = handler.on_event(event(), lambda_context())
    done = handler.is_complete({**event(), **started}, lambda_context())

    assert started["BuildId"] == BUILD_ID
    assert done["IsComplete"] is True and done["Data"]["ImageDigest"] == DIGEST
