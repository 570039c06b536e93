"""The sandbox image, built in AWS on deploy (no Docker on the deployer's machine): the build context is staged as an
S3 asset, a CodeBuild project (arm64, privileged for `docker build`) builds and pushes it to an ECR repository, and a
custom resource runs that build whenever the context changed and waits for it. The task definition uses the digest
the build reports, never a tag.

Start cost. Fargate keeps no image cache between tasks: every task pulls the whole image, so its size is most of a
cold start; AWS's advice is an image in ECR in the task's Region, reached through VPC interface endpoints (the
sandbox VPC has ecr.api, ecr.dkr and the S3 gateway), few and small layers (sandbox-task/Dockerfile: a build stage,
no test suites, no caches, the code's layer last), and, for images over about 250 MB, lazy loading with Seekable OCI
(AWS, "Amazon ECS container image pull behavior for Linux containers on Fargate",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-pull-behavior.html). SOCI is not enabled here:
Fargate lazy-loads only an image whose SOCI index sits beside it in ECR, and an index is a separate build with the
`soci` CLI (index manifest v2 rewrites the image index the task definition pins by digest; AWS Containers blog,
"Improving Amazon ECS deployment consistency with SOCI Index Manifest v2"), which this CodeBuild project does not
run; only layers of 10 MiB and more are indexed at all. The warm pool (agentlab.sandbox.pool) takes the whole start
off a run's first cell instead, whatever the image costs.
"""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, IgnoreMode, RemovalPolicy, Stack, custom_resources
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from agentlab.deploy.image_build import DIGEST_VARIABLE, TAG_VARIABLE
from agentlab_cdk.config import LOG_RETENTION, REPO_ROOT
from agentlab_cdk.functions import LambdaFunctions
from agentlab_cdk.nag import acknowledge, arn, ref

DOCKERFILE = "sandbox-task/Dockerfile"
# The image is built from the repository root; only these paths are its build context.
IMAGE_CONTEXT = [
    "*",
    f"!{DOCKERFILE}",
    "!sandbox-task/requirements.txt",
    "!layers/core/agentlab",
    "**/__pycache__",
]
# Docker Hub limits anonymous pulls from shared build hosts; ECR Public mirrors its official images.
BASE_IMAGE_MIRROR = "public.ecr.aws/docker/library"
BUILD_TIMEOUT = Duration.minutes(30)
QUEUED_TIMEOUT = Duration.minutes(15)
POLL_INTERVAL = Duration.seconds(30)
# Longer than a queued and running build; CloudFormation waits up to an hour for a custom resource.
WAIT_TIMEOUT = Duration.minutes(50)
HANDLER_TIMEOUT = Duration.minutes(1)
HANDLER_MEMORY_MB = 256
IMAGES_KEPT = 10  # a rollback needs the previous image; older ones only cost storage
RESOURCE_TYPE = "Custom::SandboxImage"


def build_spec() -> dict[str, object]:
    """Log in to the repository, build the context's Dockerfile for arm64, push it under the context's hash, and
    export the digest the push gave it."""
    pull_base = (
        'case "$BASE" in */*|*@*) ;; *) '
        f'docker pull "{BASE_IMAGE_MIRROR}/$BASE" && docker tag "{BASE_IMAGE_MIRROR}/$BASE" "$BASE" || true ;; esac'
    )
    image = f'"$REPOSITORY_URI:${TAG_VARIABLE}"'
    return {
        "version": "0.2",
        "env": {"shell": "bash", "exported-variables": [DIGEST_VARIABLE]},
        "phases": {
            "pre_build": {
                "on-failure": "ABORT",
                "commands": [
                    f'test -n "${TAG_VARIABLE}"',
                    'aws ecr get-login-password --region "$AWS_REGION" '
                    '| docker login --username AWS --password-stdin "${REPOSITORY_URI%%/*}"',
                    f"BASE=$(awk 'toupper($1) == \"FROM\" {{print $2; exit}}' {DOCKERFILE})",
                    pull_base,
                ],
            },
            "build": {
                "on-failure": "ABORT",
                "commands": [f"docker build --platform linux/arm64 -f {DOCKERFILE} -t {image} ."],
            },
            "post_build": {
                "commands": [
                    f"docker push {image}",
                    f"export {DIGEST_VARIABLE}=$(docker inspect --format '{{{{index .RepoDigests 0}}}}' {image}"
                    " | cut -d@ -f2)",
                    f'test -n "${DIGEST_VARIABLE}"',
                ],
            },
        },
    }


class SandboxImage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: LambdaFunctions, is_prod: bool) -> None:
        super().__init__(scope, construct_id)
        self._removal = RemovalPolicy.RETAIN if is_prod else RemovalPolicy.DESTROY
        self.context = s3_assets.Asset(
            self, "Context", path=str(REPO_ROOT), exclude=IMAGE_CONTEXT, ignore_mode=IgnoreMode.DOCKER
        )
        self.repository = ecr.Repository(
            self,
            "Repository",
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            lifecycle_rules=[ecr.LifecycleRule(description="keep the newest images", max_image_count=IMAGES_KEPT)],
            removal_policy=self._removal,
            empty_on_delete=not is_prod,
        )
        self.project = self._add_project()
        self.build = self._add_build(functions)

    @property
    def container_image(self) -> ecs.ContainerImage:
        """`<repository uri>@sha256:<digest>` of the image the last build produced (its pull is granted to the task
        execution role when the container is added)."""
        return ecs.ContainerImage.from_ecr_repository(
            self.repository, f"sha256:{self.build.get_att_string('ImageSha256')}"
        )

    def _add_project(self) -> codebuild.Project:
        log_group = logs.LogGroup(self, "BuildLogs", retention=LOG_RETENTION, removal_policy=self._removal)
        project = codebuild.Project(
            self,
            "Project",
            description="agentlab: builds the sandbox image from the staged build context and pushes it to ECR",
            build_spec=codebuild.BuildSpec.from_object(build_spec()),
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0,
                compute_type=codebuild.ComputeType.SMALL,
                privileged=True,
                environment_variables={
                    "REPOSITORY_URI": codebuild.BuildEnvironmentVariable(value=self.repository.repository_uri)
                },
            ),
            timeout=BUILD_TIMEOUT,
            queued_timeout=QUEUED_TIMEOUT,
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=log_group)),
        )
        role = project.role
        assert role is not None
        # The context is the build's source (given with each build): read that one object, nothing else.
        bucket = self.context.bucket
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[bucket.arn_for_objects(self.context.s3_object_key)],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetBucketAcl", "s3:GetBucketLocation"], resources=[bucket.bucket_arn])
        )
        self.repository.grant_pull_push(role)
        project_ref = ref(project, "")
        acknowledge(
            project,
            "CB3",
            "The project runs `docker build` of the sandbox image, which needs the Docker daemon of a privileged "
            "build; it builds only the staged context of this repository, during deploys.",
        )
        acknowledge(
            project,
            "CB4",
            "The project produces no artifacts (the image goes to ECR, encrypted there); its logs and the staged "
            "context are encrypted with AWS managed keys, and a customer managed key would cost money for no gain.",
        )
        acknowledge(
            role,
            "IAM5",
            "ecr:GetAuthorizationToken accepts no resource but '*' (docker login to the repository); the grants "
            "aws-cdk-lib adds for the project's default log group and report groups name this project's only.",
            "Resource::*",
            f"Resource::{arn(self, 'codebuild', f'report-group/{project_ref}-*')}",
            f"Resource::{arn(self, 'logs', f'log-group:/aws/codebuild/{project_ref}:*')}",
        )
        return project

    def _add_build(self, functions: LambdaFunctions) -> CustomResource:
        start = functions.add(
            self,
            "image_build_start",
            folder="image_build",
            entry="on_event",
            description="agentlab deploy: starts the sandbox image build when its context changed",
            environment={},
            timeout=HANDLER_TIMEOUT,
            memory_mb=HANDLER_MEMORY_MB,
        )
        check = functions.add(
            self,
            "image_build_check",
            folder="image_build",
            entry="is_complete",
            description="agentlab deploy: waits for the sandbox image build and reads its digest",
            environment={},
            timeout=HANDLER_TIMEOUT,
            memory_mb=HANDLER_MEMORY_MB,
        )
        assert start.role is not None and check.role is not None
        start.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["codebuild:StartBuild"], resources=[self.project.project_arn])
        )
        start.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecr:DescribeImages"], resources=[self.repository.repository_arn])
        )
        check.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["codebuild:BatchGetBuilds"], resources=[self.project.project_arn])
        )
        provider = self._add_provider(start, check)
        build = CustomResource(
            self,
            "Build",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={
                "ProjectName": self.project.project_name,
                "RepositoryName": self.repository.repository_name,
                # The context's hash: a changed context is a new tag, hence a new build; the same one is never rebuilt.
                "ImageTag": self.context.asset_hash,
                "SourceLocation": f"{self.context.s3_bucket_name}/{self.context.s3_object_key}",
            },
        )
        # The build reads the context and pushes with the project's role: its grants must exist first.
        build.node.add_dependency(self.project)
        return build

    def _add_provider(self, start: lambda_.IFunction, check: lambda_.IFunction) -> custom_resources.Provider:
        framework_logs = logs.LogGroup(self, "ProviderLogs", retention=LOG_RETENTION, removal_policy=self._removal)
        waiter_logs = logs.LogGroup(
            self,
            "WaiterLogs",
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-sandbox-image-build",
            retention=LOG_RETENTION,
            removal_policy=self._removal,
        )
        provider = custom_resources.Provider(
            self,
            "Provider",
            on_event_handler=start,
            is_complete_handler=check,
            query_interval=POLL_INTERVAL,
            total_timeout=WAIT_TIMEOUT,
            log_group=framework_logs,
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=custom_resources.LogOptions(
                destination=waiter_logs, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        acknowledge(
            provider,
            "IAM4",
            "The Provider framework's own functions (made and configured by aws-cdk-lib) log through "
            "AWSLambdaBasicExecutionRole; they run only while CloudFormation deploys the stack.",
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )
        acknowledge(
            provider,
            "IAM5",
            "aws-cdk-lib's Provider framework invokes the two image build handlers (the grant covers their versions, "
            "<arn>:*), and its waiter state machine's log delivery actions accept no resource but '*'.",
            *(f"Resource::{ref(function)}:*" for function in (start, check)),
            *(f"Resource::{ref(child)}:*" for child in self._framework_functions(provider)),
            "Resource::*",
        )
        acknowledge(
            provider,
            "SF2",
            "The Provider framework's waiter state machine is made by aws-cdk-lib without a tracing option; it only "
            "polls the image build during deploys, and logs every step.",
        )
        return provider

    @staticmethod
    def _framework_functions(provider: custom_resources.Provider) -> list[lambda_.Function]:
        return [child for child in provider.node.children if isinstance(child, lambda_.Function)]
