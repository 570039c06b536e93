"""The sandbox image, built in AWS during a deploy: a custom resource (CDK's Provider framework) starts a CodeBuild
build of the staged build context and polls it until the image is pushed to ECR; the task definition then points at
the digest the build reports.

- `start_image_build` (onEvent): on Create and Update, if the repository already holds the image of this build context
  (its tag is the context's hash, and tags are immutable), its digest is the answer and nothing is built; otherwise a
  build of exactly that context starts. Delete leaves the images alone: the repository's removal policy decides.
- `check_image_build` (isComplete): done when the build succeeded (its exported IMAGE_DIGEST is the answer); a build
  that failed, timed out or was stopped fails the deployment with the build's own reason and a link to its logs.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
DIGEST_VARIABLE = "IMAGE_DIGEST"
TAG_VARIABLE = "IMAGE_TAG"
IN_PROGRESS = "IN_PROGRESS"
SUCCEEDED = "SUCCEEDED"


class ImageBuildFailed(RuntimeError):
    """The sandbox image could not be built; the message says why and where the build's logs are."""


class ImageBuildProperties(BaseModel):
    """The custom resource's properties, as the stack sets them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    project_name: str = Field(alias="ProjectName", min_length=1)
    repository_name: str = Field(alias="RepositoryName", min_length=1)
    image_tag: str = Field(alias="ImageTag", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    source_location: str = Field(alias="SourceLocation", min_length=3, description="<bucket>/<key> of the zip")


class ImageBuildEvent(BaseModel):
    """A lifecycle event as the Provider framework hands it over (isComplete also gets what onEvent returned)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    request_type: Literal["Create", "Update", "Delete"] = Field(alias="RequestType")
    request_id: str = Field(alias="RequestId")
    properties: ImageBuildProperties = Field(alias="ResourceProperties")
    physical_resource_id: str | None = Field(default=None, alias="PhysicalResourceId")
    build_id: str | None = Field(default=None, alias="BuildId")
    data: dict[str, str] = Field(default_factory=dict, alias="Data")


def image_data(properties: ImageBuildProperties, digest: str) -> dict[str, str]:
    """The resource's attributes: the digest, and its hex part (the stack writes `<repository>@sha256:<hex>`)."""
    if not DIGEST.fullmatch(digest):
        raise ImageBuildFailed(f"the build of {properties.image_tag} reported {digest!r}, which is not an image digest")
    return {"ImageDigest": digest, "ImageSha256": digest.removeprefix("sha256:"), "ImageTag": properties.image_tag}


def existing_digest(ecr: Any, properties: ImageBuildProperties) -> str | None:
    """The digest of the image already tagged with this build context's hash, if the repository has it."""
    try:
        response = ecr.describe_images(
            repositoryName=properties.repository_name, imageIds=[{"imageTag": properties.image_tag}]
        )
    except ecr.exceptions.ImageNotFoundException:
        return None
    details = response.get("imageDetails", [])
    return str(details[0]["imageDigest"]) if details else None


def start_image_build(event: ImageBuildEvent, *, codebuild: Any, ecr: Any) -> dict[str, Any]:
    """onEvent: the physical id is the image's tag in its repository, so a new build context is a replacement (whose
    Delete of the old id does nothing)."""
    properties = event.properties
    physical_id = f"{properties.repository_name}:{properties.image_tag}"
    if event.request_type == "Delete":
        return {"PhysicalResourceId": event.physical_resource_id or physical_id}
    digest = existing_digest(ecr, properties)
    if digest is not None:
        return {"PhysicalResourceId": physical_id, "Data": image_data(properties, digest)}
    build = codebuild.start_build(
        projectName=properties.project_name,
        sourceTypeOverride="S3",
        sourceLocationOverride=properties.source_location,
        environmentVariablesOverride=[{"name": TAG_VARIABLE, "value": properties.image_tag, "type": "PLAINTEXT"}],
        # A retried onEvent of the same request starts no second build.
        idempotencyToken=event.request_id,
    )["build"]
    return {"PhysicalResourceId": physical_id, "BuildId": build["id"]}


def check_image_build(event: ImageBuildEvent, *, codebuild: Any) -> dict[str, Any]:
    """isComplete: polled until the build has ended."""
    if event.request_type == "Delete" or "ImageDigest" in event.data:
        return {"IsComplete": True}
    if not event.build_id:
        raise ImageBuildFailed("no build was started for the sandbox image and no image was found")
    builds = codebuild.batch_get_builds(ids=[event.build_id]).get("builds", [])
    if not builds:
        raise ImageBuildFailed(f"CodeBuild does not know the build {event.build_id}")
    build = builds[0]
    status = build.get("buildStatus", IN_PROGRESS)
    if status == IN_PROGRESS:
        return {"IsComplete": False}
    if status != SUCCEEDED:
        raise ImageBuildFailed(failure_reason(build))
    exported = {item["name"]: item.get("value", "") for item in build.get("exportedEnvironmentVariables", [])}
    return {"IsComplete": True, "Data": image_data(event.properties, exported.get(DIGEST_VARIABLE, ""))}


def failure_reason(build: dict[str, Any]) -> str:
    """What the build's failed phase says, and where its logs are."""
    failed = [phase for phase in build.get("phases", []) if phase.get("phaseStatus") not in (None, SUCCEEDED)]
    reasons = [
        f"{phase.get('phaseType', '?')}: {context.get('message') or context.get('statusCode') or phase['phaseStatus']}"
        for phase in failed
        for context in (phase.get("contexts") or [{}])
    ]
    logs = build.get("logs", {}).get("deepLink")
    text = f"the sandbox image build {build.get('id', '?')} ended {build.get('buildStatus')}"
    if reasons:
        text += " (" + "; ".join(reasons) + ")"
    return text + (f"; logs: {logs}" if logs else "")
