"""Lambda functions as code assets over one shared layer (the `agentlab` package and its pinned dependencies).

Every function gets its own role and its own log group; nothing it does not need is granted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from agentlab_cdk.config import ARCHITECTURE, FUNCTIONS_DIR, LOG_RETENTION, RUNTIME, LayerNotBuilt
from agentlab_cdk.nag import acknowledge, arn

POWERTOOLS_NAMESPACE = "agentlab"
CODE_EXCLUDES = ["__pycache__", "*.pyc"]


def construct_name(function_name: str) -> str:
    """`record_failure` -> `RecordFailure`: the construct id, and the prefix of the ASL placeholder."""
    return "".join(part.capitalize() for part in function_name.split("_"))


@dataclass(frozen=True)
class FunctionNetwork:
    """Where a function that must reach something inside a VPC runs: these subnets, behind this security group."""

    vpc: ec2.IVpc
    subnets: tuple[ec2.ISubnet, ...]
    security_group: ec2.ISecurityGroup


def check_layer(layer_dir: Path) -> None:
    if not (layer_dir / "python" / "agentlab" / "__init__.py").is_file():
        raise LayerNotBuilt(
            f"the Lambda layer is not built at {layer_dir}: run `make layer` (it installs agentlab and its pinned "
            "dependencies for python3.13 on arm64 into build/layer)"
        )


class LambdaFunctions(Construct):
    """Builds the platform's functions: python3.13 on arm64, active tracing, JSON logs, the core layer."""

    def __init__(self, scope: Construct, construct_id: str, *, layer_dir: Path, is_prod: bool) -> None:
        super().__init__(scope, construct_id)
        check_layer(layer_dir)
        self._removal = RemovalPolicy.RETAIN if is_prod else RemovalPolicy.DESTROY
        self.layer = lambda_.LayerVersion(
            self,
            "CoreLayer",
            code=lambda_.Code.from_asset(str(layer_dir), exclude=CODE_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="agentlab and its pinned dependencies (python3.13, arm64)",
        )
        self.functions: dict[str, lambda_.Function] = {}

    def add(
        self,
        scope: Construct,
        name: str,
        *,
        description: str,
        environment: dict[str, str],
        timeout: Duration,
        memory_mb: int,
        snap_start: bool = False,
        network: FunctionNetwork | None = None,
        folder: str | None = None,
        entry: str = "handler",
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> lambda_.Function:
        """The function whose handler is `entry` in functions/<folder or name>/handler.py; with a network, it runs in
        that VPC's subnets (and may manage the network interfaces Lambda makes there, nothing else of EC2)."""
        source = FUNCTIONS_DIR / (folder or name)
        if not (source / "handler.py").is_file():
            raise FileNotFoundError(f"{source}/handler.py does not exist")
        base = construct_name(name)
        role = iam.Role(
            scope,
            f"{base}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"agentlab {name} function",
        )
        log_group = logs.LogGroup(scope, f"{base}Logs", retention=LOG_RETENTION, removal_policy=self._removal)
        function = lambda_.Function(
            scope,
            f"{base}Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"handler.{entry}",
            code=lambda_.Code.from_asset(str(source), exclude=CODE_EXCLUDES),
            layers=[self.layer],
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=timeout,
            memory_size=memory_mb,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
            vpc=network.vpc if network else None,
            vpc_subnets=ec2.SubnetSelection(subnets=list(network.subnets)) if network else None,
            security_groups=[network.security_group] if network else None,
            dead_letter_queue=dead_letter_queue,
            environment={
                "POWERTOOLS_SERVICE_NAME": f"agentlab-{name.replace('_', '-')}",
                "POWERTOOLS_METRICS_NAMESPACE": POWERTOOLS_NAMESPACE,
                "AGENTLAB_ENVIRONMENT": "aws",
                **environment,
            },
        )
        log_group.grant_write(role)
        if network is not None:
            grant_network_interfaces(role, network)
        acknowledge(
            role,
            "IAM5",
            "X-Ray's PutTraceSegments and PutTelemetryRecords accept no resource but '*' (active tracing).",
            "Resource::*",
        )
        acknowledge(
            function,
            "L1",
            "Pinned to python3.13: the layer is built from cp313 wheels and the project is tested on it; moving to a "
            "newer runtime is a deliberate change of RUNTIME and the layer together.",
        )
        self.functions[name] = function
        return function


def grant_network_interfaces(role: iam.IRole, network: FunctionNetwork) -> None:
    """What Lambda does with the function's role to attach it to a VPC (the actions of AWSLambdaVPCAccessExecutionRole):
    interfaces are made only in the function's subnets and behind its security group."""
    stack = Stack.of(role)

    def ec2_arn(resource: str, name: str) -> str:
        return stack.format_arn(service="ec2", resource=resource, resource_name=name)

    interfaces = ec2_arn("network-interface", "*")
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["ec2:CreateNetworkInterface"],
            resources=[
                interfaces,
                *(ec2_arn("subnet", subnet.subnet_id) for subnet in network.subnets),
                ec2_arn("security-group", network.security_group.security_group_id),
            ],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
            resources=[interfaces],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], resources=["*"])
    )
    acknowledge(
        role,
        "IAM5",
        "Lambda names the network interfaces it makes for the function at run time, so the interface actions cover "
        "network-interface/* of this account and Region; creating one is limited to the function's subnets and "
        "security group.",
        f"Resource::{arn(role, 'ec2', 'network-interface/*')}",
    )
    acknowledge(
        role,
        "IAM5",
        "ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets accept no resource but '*'; Lambda needs them to attach "
        "the function to its subnets.",
        "Resource::*",
    )
