"""The workflows: one Standard state machine per statemachines/*.asl.json, its step functions, logs and traces."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Annotations, ArnFormat, RemovalPolicy, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from agentlab.llm.pricing import INFERENCE_PROFILE_PREFIXES, base_model_id
from agentlab_cdk.config import (
    LOG_RETENTION,
    REPO_CHECKOUT_EPHEMERAL_STORAGE_MB,
    STATEMACHINES_DIR,
    STEP_MEMORY_MB,
    STEP_TIMEOUT,
    ProfileRegionMismatch,
)
from agentlab_cdk.functions import LambdaFunctions, construct_name
from agentlab_cdk.grants import grant_named_secrets, grant_object_reads, grant_objects, grant_secret_read, grant_table
from agentlab_cdk.nag import acknowledge, ref
from agentlab_cdk.registries import PackageRegistries
from agentlab_cdk.sandbox import Sandbox

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
FUNCTION_SUFFIX = "FunctionArn"
ORG_OBJECTS = "orgs/"
# A repository's access token is kept as agentlab/<org id>/repos/<repo id>.
REPO_SECRETS = "agentlab/*/repos/*"

# What each step does besides reading and writing the table. A step not named here gets the table only.
MODEL_STEPS = frozenset({"think", "evaluate"})
BLOB_STEPS = frozenset(
    {"think", "execute", "check_goal", "evaluate", "repo_checkout", "repo_baseline", "repo_discover"}
)
# Read the checked-out tree and write nothing to the bucket.
BLOB_READING_STEPS = frozenset({"repo_detect"})
# Talk to a task's kernel: they run inside the sandbox VPC, start, watch and stop tasks.
KERNEL_STEPS = frozenset({"execute", "check_goal", "repo_baseline"})
# Fetch a repository from its Git host with the stored token: outside any VPC (the sandbox's has no internet route),
# with room in /tmp to unpack it.
REPO_TOKEN_STEPS = frozenset({"repo_checkout"})
# Hand the sandbox a read-only package registry token for a repository's install phase.
PACKAGE_INSTALL_STEPS = frozenset({"repo_baseline"})
# Only end a run's session: they stop its task through the ECS API and never reach the task.
TASK_STOPPING_STEPS = frozenset({"finalize", "record_failure"})
TASK_TOKEN_STEPS = frozenset({"request_approval"})
# The first use of a third-party model in an account subscribes the account to it through AWS Marketplace; Bedrock
# makes that call with the caller's permissions.
MARKETPLACE_ACTIONS = ("aws-marketplace:Subscribe", "aws-marketplace:ViewSubscriptions")
BEDROCK_SERVICE = "bedrock.amazonaws.com"
# Where each geography's cross-region inference profiles may be called from (their source Regions), by Region name
# prefix; a `global.` profile may be called from any commercial Region.
PROFILE_SOURCE_REGIONS: dict[str, tuple[str, ...]] = {
    "us.": ("us-east-", "us-west-"),
    "us-gov.": ("us-gov-",),
    "eu.": ("eu-",),
    "apac.": ("ap-", "me-central-1"),
    "jp.": ("ap-northeast-1", "ap-northeast-3"),
    "au.": ("ap-southeast-2", "ap-southeast-4"),
    "ca.": ("ca-",),
}
GLOBAL_PROFILE = "global."
NON_COMMERCIAL_REGIONS = ("us-gov-", "cn-", "us-iso", "eu-isoe-", "eusc-")
PROFILE_REGION_WARNING = "agentlab:bedrockProfileRegion"


def placeholders(definition: str) -> set[str]:
    return set(PLACEHOLDER.findall(definition))


def function_of(placeholder: str) -> str | None:
    """`RecordFailureFunctionArn` -> `record_failure` (the inverse of the local engine's placeholder_for)."""
    if not placeholder.endswith(FUNCTION_SUFFIX):
        return None
    words = re.findall(r"[A-Z][a-z0-9]*", placeholder[: -len(FUNCTION_SUFFIX)])
    return "_".join(word.lower() for word in words)


def workflow_name(path: Path) -> str:
    return path.name.removesuffix(".asl.json")


def model_resources(stack: Stack, model_ids: tuple[str, ...]) -> list[str]:
    """The Bedrock ARNs of the configured models: a cross-region profile and the foundation model it routes to."""
    resources: list[str] = []
    for model_id in model_ids:
        base = base_model_id(model_id)
        if model_id.startswith(INFERENCE_PROFILE_PREFIXES):
            resources.append(stack.format_arn(service="bedrock", resource="inference-profile", resource_name=model_id))
            # A profile routes to the model in any region of its geography.
            resources.append(f"arn:{stack.partition}:bedrock:*::foundation-model/{base}")
        else:
            resources.append(
                stack.format_arn(service="bedrock", account="", resource="foundation-model", resource_name=base)
            )
    return resources


def profile_prefix(model_id: str) -> str | None:
    """`eu.` for `eu.anthropic...`; None for a foundation model id or an ARN."""
    if model_id.startswith("arn:"):
        return None
    return next((prefix for prefix in INFERENCE_PROFILE_PREFIXES if model_id.startswith(prefix)), None)


def profile_serves(prefix: str, region: str) -> bool:
    if prefix == GLOBAL_PROFILE:
        return not region.startswith(NON_COMMERCIAL_REGIONS)
    return region.startswith(PROFILE_SOURCE_REGIONS[prefix])


def check_profile_region(model_id: str, region: str) -> None:
    """A cross-region inference profile can only be called from a Region of its geography: refuse one that the
    stack's Region cannot call, and say what would fit."""
    prefix = profile_prefix(model_id)
    if prefix is None or profile_serves(prefix, region):
        return
    base = base_model_id(model_id)
    fits = [p for p in (*PROFILE_SOURCE_REGIONS, GLOBAL_PROFILE) if profile_serves(p, region)]
    suggestion = " or ".join(f"{p}{base}" for p in fits) or f"the foundation model id {base}"
    raise ProfileRegionMismatch(
        f"bedrockModelIds: {model_id} is a cross-region inference profile of the '{prefix.rstrip('.')}' geography, "
        f"which cannot be called from {region}, the stack's Region. Use {suggestion} (if the model offers it there), "
        "or deploy to a Region of that geography."
    )


def check_model_regions(scope: Construct, model_ids: tuple[str, ...]) -> None:
    """At synth: every configured inference profile fits the stack's Region; an environment-agnostic stack (Region
    unknown until deploy) gets a warning instead."""
    region = Stack.of(scope).region
    profiles = [model_id for model_id in model_ids if profile_prefix(model_id) is not None]
    if not profiles:
        return
    if Token.is_unresolved(region):
        Annotations.of(scope).add_warning_v2(
            PROFILE_REGION_WARNING,
            f"the stack's Region is not known at synth, so the inference profiles {', '.join(profiles)} were not "
            "checked against it; synthesize with CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION set (as `cdk deploy` "
            "does) to check them",
        )
        return
    for model_id in profiles:
        check_profile_region(model_id, region)


@dataclass(frozen=True)
class OrchestrationInputs:
    table: dynamodb.ITable
    bucket: s3.IBucket
    provider_secret: secretsmanager.ISecret
    sandbox: Sandbox
    registries: PackageRegistries
    bedrock_model_ids: tuple[str, ...]
    is_prod: bool


class Orchestration(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, functions: LambdaFunctions, inputs: OrchestrationInputs
    ) -> None:
        super().__init__(scope, construct_id)
        check_model_regions(self, inputs.bedrock_model_ids)
        self._functions = functions
        self._inputs = inputs
        self._removal = RemovalPolicy.RETAIN if inputs.is_prod else RemovalPolicy.DESTROY
        self.definitions = {workflow_name(p): p.read_text() for p in sorted(STATEMACHINES_DIR.glob("*.asl.json"))}
        self.state_machine_names = {name: self._state_machine_name(name) for name in self.definitions}
        self.steps: dict[str, lambda_.Function] = {}
        for definition in self.definitions.values():
            for placeholder in sorted(placeholders(definition)):
                name = function_of(placeholder)
                if name is not None and name not in self.steps:
                    self.steps[name] = self._add_step(name)
        self.state_machines = {name: self._add_state_machine(name, text) for name, text in self.definitions.items()}

    @property
    def default_model_ref(self) -> str:
        ids = self._inputs.bedrock_model_ids
        return f"bedrock:{ids[0]}" if ids else "scripted"

    def _state_machine_name(self, workflow: str) -> str:
        return f"{Stack.of(self).stack_name}-{workflow.replace('_', '-')}"

    def state_machine_arn(self, workflow: str) -> str:
        """Spelled from the fixed name, so the steps can be granted on it without a reference cycle."""
        return Stack.of(self).format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self.state_machine_names[workflow],
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    # steps ----------------------------------------------------------------------------------------------------------
    def _add_step(self, name: str) -> lambda_.Function:
        inputs = self._inputs
        environment = {
            "AGENTLAB_TABLE_NAME": inputs.table.table_name,
            "AGENTLAB_BUCKET_NAME": inputs.bucket.bucket_name,
            "AGENTLAB_DEFAULT_MODEL_REF": self.default_model_ref,
            **inputs.sandbox.environment,
        }
        if name in MODEL_STEPS:
            environment["AGENTLAB_PROVIDER_SECRET_ARN"] = inputs.provider_secret.secret_arn
            if inputs.bedrock_model_ids:
                environment["AGENTLAB_BEDROCK_MODEL_ID"] = inputs.bedrock_model_ids[0]
        function = self._functions.add(
            self,
            name,
            description=f"agentlab workflow step: {name}",
            environment=environment,
            timeout=STEP_TIMEOUT,
            memory_mb=STEP_MEMORY_MB,
            network=inputs.sandbox.function_network if name in KERNEL_STEPS else None,
        )
        role = function.role
        assert role is not None
        grant_table(role, inputs.table)
        if name in BLOB_STEPS:
            grant_objects(role, inputs.bucket, ORG_OBJECTS)
        if name in BLOB_READING_STEPS:
            grant_object_reads(role, inputs.bucket, ORG_OBJECTS)
        if name in REPO_TOKEN_STEPS:
            self._add_checkout_room(function)
            grant_named_secrets(
                role,
                REPO_SECRETS,
                ("secretsmanager:GetSecretValue",),
                reason="Each repository's access token is stored when the repository is connected and named after its "
                "org and id; the checkout reads those secrets only, never the stack's other secrets.",
            )
        if name in PACKAGE_INSTALL_STEPS:
            inputs.registries.connect_installer(function)
        if name in KERNEL_STEPS:
            inputs.sandbox.grant_run_tasks(role)
        if name in TASK_STOPPING_STEPS:
            inputs.sandbox.grant_stop_tasks(role)
        if name in MODEL_STEPS:
            self._grant_models(role)
            grant_secret_read(role, inputs.provider_secret)
        if name in TASK_TOKEN_STEPS:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                    resources=[self.state_machine_arn(w) for w in self.definitions],
                )
            )
        return function

    @staticmethod
    def _add_checkout_room(function: lambda_.Function) -> None:
        """The checkout downloads the repository's archive and unpacks it in /tmp before it writes the tarball."""
        resource = function.node.default_child
        assert isinstance(resource, lambda_.CfnFunction)
        resource.ephemeral_storage = lambda_.CfnFunction.EphemeralStorageProperty(
            size=REPO_CHECKOUT_EPHEMERAL_STORAGE_MB
        )

    def _grant_models(self, role: iam.IRole) -> None:
        resources = model_resources(Stack.of(self), self._inputs.bedrock_model_ids)
        if not resources:
            return
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"], resources=resources
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(MARKETPLACE_ACTIONS),
                resources=["*"],
                conditions={"StringEquals": {"aws:CalledViaLast": BEDROCK_SERVICE}},
            )
        )
        acknowledge(
            role,
            "IAM5",
            "AWS Marketplace subscriptions have no resource-level permissions; the grant only lets Bedrock subscribe "
            "the account to a model on its first use (aws:CalledViaLast is bedrock.amazonaws.com), not a direct call.",
            "Resource::*",
        )
        for model_id in self._inputs.bedrock_model_ids:
            if model_id.startswith(INFERENCE_PROFILE_PREFIXES):
                acknowledge(
                    role,
                    "IAM5",
                    "A cross-region inference profile routes to its foundation model in any region of its geography; "
                    "the grant names that one model only.",
                    f"Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{base_model_id(model_id)}",
                )

    # state machines -------------------------------------------------------------------------------------------------
    def _substitutions(self, workflow: str, definition: str) -> dict[str, str]:
        known = {
            "TableName": self._inputs.table.table_name,
            "BucketName": self._inputs.bucket.bucket_name,
            **{f"{construct_name(n)}StateMachineArn": self.state_machine_arn(n) for n in self.definitions},
        }
        values: dict[str, str] = {}
        for placeholder in sorted(placeholders(definition)):
            name = function_of(placeholder)
            if name is not None:
                values[placeholder] = self.steps[name].function_arn
            elif placeholder in known:
                values[placeholder] = known[placeholder]
            else:
                raise ValueError(f"statemachines/{workflow}.asl.json: no substitution for ${{{placeholder}}}")
        return values

    def _add_state_machine(self, workflow: str, definition: str) -> sfn.StateMachine:
        base = construct_name(workflow)
        log_group = logs.LogGroup(
            self,
            f"{base}Logs",
            log_group_name=f"/aws/vendedlogs/states/{self.state_machine_names[workflow]}",
            retention=LOG_RETENTION,
            removal_policy=self._removal,
        )
        state_machine = sfn.StateMachine(
            self,
            f"{base}StateMachine",
            state_machine_name=self.state_machine_names[workflow],
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions=self._substitutions(workflow, definition),
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )
        for placeholder in placeholders(definition):
            name = function_of(placeholder)
            if name is None:
                continue
            step = self.steps[name]
            step.grant_invoke(state_machine)
            acknowledge(
                state_machine,
                "IAM5",
                "Lambda's invoke grant covers the function's versions and aliases (<arn>:*) next to the function.",
                f"Resource::{ref(step)}:*",
            )
        acknowledge(
            state_machine,
            "IAM5",
            "CloudWatch Logs delivery and X-Ray actions of a state machine accept no resource but '*'.",
            "Resource::*",
        )
        return state_machine
