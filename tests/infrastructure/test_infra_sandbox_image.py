"""The SandboxImage construct: the sandbox image is built in AWS on deploy (no Docker where `cdk deploy` runs) from the
staged build context, pushed to its own ECR repository, and the task definition pulls it by digest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra_helpers import Synthesized, actions_of_role, as_list, flat, role_of_function, statements_of_role

ROOT = Path(__file__).resolve().parents[2]


def image(synth: Synthesized) -> Any:
    return synth.stack.sandbox.image


def resource(synth: Synthesized, construct: Any) -> dict[str, Any]:
    return synth.resources[synth.logical_id(construct)]


def build_spec(synth: Synthesized) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(resource(synth, image(synth).project)["Properties"]["Source"]["BuildSpec"])
    return spec


def test_repository_scans_on_push_and_its_tags_are_immutable(synth: Synthesized) -> None:
    props = resource(synth, image(synth).repository)["Properties"]
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert props["ImageTagMutability"] == "IMMUTABLE"
    rules = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert [r["selection"]["countType"] for r in rules] == ["imageCountMoreThan"]
    assert rules[0]["selection"]["countNumber"] >= 2, "a rollback needs the previous image"


def test_project_builds_arm64_in_a_privileged_build_with_a_codebuild_image(synth: Synthesized) -> None:
    props = resource(synth, image(synth).project)["Properties"]
    repository = synth.logical_id(image(synth).repository)
    environment = props["Environment"]
    assert environment["Type"] == "ARM_CONTAINER"
    assert environment["PrivilegedMode"] is True
    assert environment["Image"].startswith("aws/codebuild/amazonlinux-aarch64-standard:")
    assert environment["ComputeType"] == "BUILD_GENERAL1_SMALL"
    (variable,) = environment["EnvironmentVariables"]
    assert variable["Name"] == "REPOSITORY_URI"
    assert variable["Value"] == synth.stack.resolve(image(synth).repository.repository_uri)
    assert flat(variable["Value"]).endswith(f"/<{repository}>")
    # Each build is given its source (the staged context) by the custom resource; the project has none of its own.
    assert props["Source"]["Type"] == "NO_SOURCE"
    assert props["Artifacts"] == {"Type": "NO_ARTIFACTS"}
    assert props["TimeoutInMinutes"] <= 60
    logs = props["LogsConfig"]["CloudWatchLogs"]
    assert logs["Status"] == "ENABLED"
    assert synth.resources[logs["GroupName"]["Ref"]]["Type"] == "AWS::Logs::LogGroup"


def test_build_spec_builds_the_dockerfile_for_arm64_pushes_by_tag_and_exports_the_digest(synth: Synthesized) -> None:
    from agentlab.deploy.image_build import DIGEST_VARIABLE

    spec = build_spec(synth)
    assert spec["env"]["exported-variables"] == [DIGEST_VARIABLE]
    phases = spec["phases"]
    # A failed login or build must not go on to push.
    assert phases["pre_build"]["on-failure"] == "ABORT"
    assert phases["build"]["on-failure"] == "ABORT"
    (build_command,) = phases["build"]["commands"]
    assert "--platform linux/arm64" in build_command
    assert "-f sandbox-task/Dockerfile" in build_command
    assert '-t "$REPOSITORY_URI:$IMAGE_TAG" .' in build_command
    post = " ".join(phases["post_build"]["commands"])
    assert 'docker push "$REPOSITORY_URI:$IMAGE_TAG"' in post
    assert f"{DIGEST_VARIABLE}=" in post and f'test -n "${DIGEST_VARIABLE}"' in post


def test_the_build_context_holds_only_what_the_dockerfile_copies(synth: Synthesized) -> None:
    asset = image(synth).context
    staged = synth.outdir / f"asset.{asset.asset_hash}"
    files = {str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file()}
    assert {"sandbox-task/Dockerfile", "sandbox-task/requirements.txt", "layers/core/agentlab/__init__.py"} <= files
    assert {f.split("/", 1)[0] for f in files} == {"sandbox-task", "layers"}
    assert all(f.startswith(("sandbox-task/", "layers/core/agentlab/")) for f in files)
    assert not any("__pycache__" in f for f in files)
    source = ROOT / "layers" / "core" / "agentlab"
    expected = {str(p.relative_to(ROOT)) for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert expected <= files


def test_a_custom_resource_builds_the_staged_context_and_waits_for_it(synth: Synthesized) -> None:
    from agentlab_cdk.sandbox_image import RESOURCE_TYPE

    sandbox_image = image(synth)
    (build_id,) = [k for k, v in synth.resources.items() if v["Type"] == RESOURCE_TYPE]
    build = synth.resources[build_id]
    props = build["Properties"]
    assert props["ProjectName"] == {"Ref": synth.logical_id(sandbox_image.project)}
    assert props["RepositoryName"] == {"Ref": synth.logical_id(sandbox_image.repository)}
    # The context's hash is the image tag: a changed context is a new build, an unchanged one none.
    assert props["ImageTag"] == sandbox_image.context.asset_hash
    bucket = flat(synth.stack.resolve(sandbox_image.context.s3_bucket_name))
    assert flat(props["SourceLocation"]) == f"{bucket}/{sandbox_image.context.asset_hash}.zip"
    # The project's role (reading the context, pushing the image) exists before a build starts.
    project_role = resource(synth, sandbox_image.project)["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    policies = {
        logical_id
        for logical_id, policy in synth.of_type("AWS::IAM::Policy").items()
        if {"Ref": project_role} in policy["Properties"]["Roles"]
    }
    assert policies and policies <= set(build["DependsOn"])
    # The Provider framework polls the build (isComplete) through its waiter state machine.
    on_event = props["ServiceToken"]["Fn::GetAtt"][0]
    variables = synth.resources[on_event]["Properties"]["Environment"]["Variables"]
    functions = synth.stack.functions.functions
    assert variables["USER_ON_EVENT_FUNCTION_ARN"] == {
        "Fn::GetAtt": [synth.logical_id(functions["image_build_start"]), "Arn"]
    }
    assert variables["USER_IS_COMPLETE_FUNCTION_ARN"] == {
        "Fn::GetAtt": [synth.logical_id(functions["image_build_check"]), "Arn"]
    }
    waiter = synth.resources[variables["WAITER_STATE_MACHINE_ARN"]["Ref"]]
    assert waiter["Properties"]["LoggingConfiguration"]["Level"] == "ALL"


def test_the_task_definition_pulls_the_image_by_the_digest_the_build_reported(synth: Synthesized) -> None:
    from agentlab_cdk.sandbox_image import RESOURCE_TYPE

    (build_id,) = [k for k, v in synth.resources.items() if v["Type"] == RESOURCE_TYPE]
    repository = synth.logical_id(image(synth).repository)
    (container,) = synth.one("AWS::ECS::TaskDefinition")["Properties"]["ContainerDefinitions"]
    separator, parts = container["Image"]["Fn::Join"]
    assert separator == ""
    # <account>.dkr.ecr.<region>.<suffix>/<repository>@sha256:<digest from the build>
    assert parts[-3:] == [{"Ref": repository}, "@sha256:", {"Fn::GetAtt": [build_id, "ImageSha256"]}]
    assert ".dkr.ecr." in parts
    assert not any(":latest" in flat(p) for p in parts)
    execution_role = synth.logical_id(synth.stack.sandbox.task_definition.execution_role)
    pulls = [
        s for s in statements_of_role(synth.resources, execution_role) if "ecr:BatchGetImage" in as_list(s["Action"])
    ]
    assert [flat(r) for s in pulls for r in as_list(s["Resource"])] == [f"<{repository}.Arn>"]


def test_the_project_reads_only_the_staged_context_and_pushes_only_to_its_repository(synth: Synthesized) -> None:
    sandbox_image = image(synth)
    role = resource(synth, sandbox_image.project)["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    statements = statements_of_role(synth.resources, role)
    s3 = {
        action: {flat(r) for r in as_list(s["Resource"])}
        for s in statements
        for action in as_list(s["Action"])
        if action.startswith("s3:")
    }
    key = f"{sandbox_image.context.asset_hash}.zip"
    assert set(s3) == {"s3:GetObject", "s3:GetObjectVersion", "s3:GetBucketAcl", "s3:GetBucketLocation"}
    bucket = flat(synth.stack.resolve(sandbox_image.context.bucket.bucket_arn))
    assert s3["s3:GetObject"] == s3["s3:GetObjectVersion"] == {f"{bucket}/{key}"}
    assert s3["s3:GetBucketAcl"] == s3["s3:GetBucketLocation"] == {bucket}
    ecr = {flat(r) for s in statements if "ecr:PutImage" in as_list(s["Action"]) for r in as_list(s["Resource"])}
    assert ecr == {f"<{synth.logical_id(sandbox_image.repository)}.Arn>"}


def test_the_handlers_may_start_and_read_builds_of_the_project_only(synth: Synthesized) -> None:
    sandbox_image = image(synth)
    project = f"<{synth.logical_id(sandbox_image.project)}.Arn>"
    functions = synth.stack.functions.functions
    start = role_of_function(synth.resources[synth.logical_id(functions["image_build_start"])])
    check = role_of_function(synth.resources[synth.logical_id(functions["image_build_check"])])
    common = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert actions_of_role(synth.resources, start) - common == {"codebuild:StartBuild", "ecr:DescribeImages"}
    assert actions_of_role(synth.resources, check) - common == {"codebuild:BatchGetBuilds"}
    for role, action in ((start, "codebuild:StartBuild"), (check, "codebuild:BatchGetBuilds")):
        resources = {
            flat(r)
            for s in statements_of_role(synth.resources, role)
            if action in as_list(s["Action"])
            for r in as_list(s["Resource"])
        }
        assert resources == {project}
    for name in ("image_build_start", "image_build_check"):
        assert "VpcConfig" not in synth.resources[synth.logical_id(functions[name])]["Properties"]
