"""The Fargate sandbox: an isolated VPC (no NAT, no internet gateway), the endpoints a task needs to start and to
exchange cells through S3, an ECS cluster and the hardened task definition built from sandbox-task/."""

from __future__ import annotations

from aws_cdk import IgnoreMode, RemovalPolicy, Stack, custom_resources
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from agentlab.sandbox.fargate import FargateSandboxSettings, task_size
from agentlab.sandbox.models import SandboxLimits
from agentlab_cdk.config import LOG_RETENTION, REPO_ROOT
from agentlab_cdk.data import SANDBOX_PREFIX
from agentlab_cdk.grants import grant_not_found
from agentlab_cdk.nag import acknowledge, ref

CONTAINER_NAME = str(FargateSandboxSettings.model_fields["container_name"].default)
SANDBOX_UID = "10001"
SCRATCH_VOLUME = "scratch"
SCRATCH_PATH = "/scratch"
HTTPS = ec2.Port.tcp(443)
# The image is built from the repository root; only these paths are its build context.
IMAGE_CONTEXT = [
    "*",
    "!sandbox-task/Dockerfile",
    "!sandbox-task/requirements.txt",
    "!layers/core/agentlab",
    "**/__pycache__",
]


def default_task_size() -> tuple[int, int]:
    """CPU units and MiB of the task definition: the backend's default CPU and room for the default kernel memory."""
    cpu = int(FargateSandboxSettings.model_fields["task_cpu"].default)
    return task_size(cpu, SandboxLimits().memory_mb)


class Sandbox(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, is_prod: bool) -> None:
        super().__init__(scope, construct_id)
        self._bucket = bucket
        self._removal = RemovalPolicy.RETAIN if is_prod else RemovalPolicy.DESTROY
        self.vpc = self._add_vpc()
        self.security_group = self._add_security_group()
        self._add_endpoints()
        self.cluster = self._add_cluster()
        self.log_group = logs.LogGroup(self, "TaskLogs", retention=LOG_RETENTION, removal_policy=self._removal)
        self.task_definition = self._add_task_definition()

    # network --------------------------------------------------------------------------------------------------------
    def _add_vpc(self) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="sandbox", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)
            ],
            restrict_default_security_group=False,
        )
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=LOG_RETENTION, removal_policy=self._removal)
        vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        return vpc

    def _add_security_group(self) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=self.vpc,
            description="agentlab sandbox tasks: HTTPS to the VPC endpoints only",
            allow_all_outbound=False,
        )

    def _add_endpoints(self) -> None:
        isolated = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.vpc.add_gateway_endpoint("S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[isolated])
        self.vpc.add_gateway_endpoint(
            "DynamoDbEndpoint", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=[isolated]
        )
        endpoint_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="agentlab sandbox interface endpoints: HTTPS from sandbox tasks",
            allow_all_outbound=False,
        )
        endpoint_group.add_ingress_rule(self.security_group, HTTPS, "HTTPS from sandbox tasks")
        self.security_group.add_egress_rule(endpoint_group, HTTPS, "HTTPS to the interface endpoints")
        for name, service in (
            ("EcrApiEndpoint", ec2.InterfaceVpcEndpointAwsService.ECR),
            ("EcrDockerEndpoint", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
            ("LogsEndpoint", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
        ):
            self.vpc.add_interface_endpoint(
                name, service=service, subnets=isolated, security_groups=[endpoint_group], open=False
            )
        # The S3 gateway endpoint is reached through S3's managed prefix list (image layers come from S3 as well).
        self.security_group.add_egress_rule(
            ec2.Peer.prefix_list(self._s3_prefix_list_id()), HTTPS, "HTTPS to S3 through the gateway endpoint"
        )

    def _s3_prefix_list_id(self) -> str:
        region = Stack.of(self).region
        lookup = custom_resources.AwsCustomResource(
            self,
            "S3PrefixList",
            on_update=custom_resources.AwsSdkCall(
                service="EC2",
                action="describeManagedPrefixLists",
                parameters={"Filters": [{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{region}.s3"]}]},
                physical_resource_id=custom_resources.PhysicalResourceId.of(f"s3-prefix-list-{region}"),
                output_paths=["PrefixLists.0.PrefixListId"],
            ),
            policy=custom_resources.AwsCustomResourcePolicy.from_sdk_calls(
                resources=custom_resources.AwsCustomResourcePolicy.ANY_RESOURCE
            ),
            install_latest_aws_sdk=False,
        )
        acknowledge(
            lookup,
            "IAM5",
            "ec2:DescribeManagedPrefixLists has no resource-level permissions; the lookup only reads S3's prefix list.",
            "Resource::*",
        )
        return lookup.get_response_field("PrefixLists.0.PrefixListId")

    # compute --------------------------------------------------------------------------------------------------------
    def _add_cluster(self) -> ecs.Cluster:
        return ecs.Cluster(self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)

    def _add_task_definition(self) -> ecs.FargateTaskDefinition:
        cpu, memory = default_task_size()
        task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=cpu,
            memory_limit_mib=memory,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            volumes=[ecs.Volume(name=SCRATCH_VOLUME)],
        )
        linux = ecs.LinuxParameters(self, "LinuxParameters", init_process_enabled=True)
        linux.drop_capabilities(ecs.Capability.ALL)
        container = task_definition.add_container(
            "Sandbox",
            container_name=CONTAINER_NAME,
            image=ecs.ContainerImage.from_asset(
                str(REPO_ROOT),
                file="sandbox-task/Dockerfile",
                platform=ecr_assets.Platform.LINUX_ARM64,
                exclude=IMAGE_CONTEXT,
                ignore_mode=IgnoreMode.DOCKER,
            ),
            user=f"{SANDBOX_UID}:{SANDBOX_UID}",
            readonly_root_filesystem=True,
            privileged=False,
            linux_parameters=linux,
            essential=True,
            logging=ecs.LogDriver.aws_logs(stream_prefix="sandbox", log_group=self.log_group),
        )
        container.add_mount_points(
            ecs.MountPoint(container_path=SCRATCH_PATH, source_volume=SCRATCH_VOLUME, read_only=False)
        )
        self._grant_task_role(task_definition.task_role)
        if task_definition.execution_role is not None:
            acknowledge(
                task_definition.execution_role,
                "IAM5",
                "ecr:GetAuthorizationToken accepts no resource but '*'; pulling the image needs it.",
                "Resource::*",
            )
        return task_definition

    def _grant_task_role(self, role: iam.IRole) -> None:
        """The task reads and writes its run's exchange under sandbox/ and nothing else (it may list key names, so
        that a missing object answers 404: see grant_not_found)."""
        objects = self._bucket.arn_for_objects(f"{SANDBOX_PREFIX}*")
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[objects]))
        grant_not_found(role, self._bucket)
        acknowledge(
            role,
            "IAM5",
            "The task serves one run's cells under sandbox/<run_id>/; run ids are only known at run time, so the "
            "grant covers the sandbox/ prefix and nothing else of the bucket.",
            f"Resource::{ref(self._bucket)}/{SANDBOX_PREFIX}*",
        )

    # what the functions that start tasks need ----------------------------------------------------------------------
    @property
    def environment(self) -> dict[str, str]:
        isolated = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        return {
            "AGENTLAB_SANDBOX_BACKEND": "fargate",
            "AGENTLAB_CLUSTER_ARN": self.cluster.cluster_arn,
            "AGENTLAB_TASK_DEFINITION_ARN": self.task_definition.task_definition_arn,
            "AGENTLAB_CONTAINER_NAME": CONTAINER_NAME,
            "AGENTLAB_SUBNETS": ",".join(isolated.subnet_ids),
            "AGENTLAB_SECURITY_GROUPS": self.security_group.security_group_id,
            "AGENTLAB_TASK_CPU": str(default_task_size()[0]),
        }

    def grant_run_tasks(self, role: iam.IRole) -> None:
        """Start, watch and stop sandbox tasks of this cluster, and pass the task's roles to ECS."""
        stack = Stack.of(self)
        tasks = stack.format_arn(service="ecs", resource="task", resource_name=f"{self.cluster.cluster_name}/*")
        cluster_condition = {"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}}
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ecs:RunTask"],
                resources=[self.task_definition.task_definition_arn],
                conditions=cluster_condition,
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecs:DescribeTasks", "ecs:StopTask"], resources=[tasks])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ecs:TagResource"],
                resources=[tasks],
                conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
            )
        )
        self.grant_list_tasks(role)
        passed = [self.task_definition.task_role]
        if self.task_definition.execution_role is not None:
            passed.append(self.task_definition.execution_role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[r.role_arn for r in passed],
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        self._acknowledge_tasks(role, tasks)

    def grant_list_tasks(self, role: iam.IRole) -> None:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ecs:ListTasks"],
                resources=["*"],
                conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}},
            )
        )
        acknowledge(
            role,
            "IAM5",
            "ecs:ListTasks is authorised on container instances, not tasks; the ecs:cluster condition limits it to "
            "the sandbox cluster.",
            "Resource::*",
        )

    def grant_stop_tasks(self, role: iam.IRole) -> None:
        stack = Stack.of(self)
        tasks = stack.format_arn(service="ecs", resource="task", resource_name=f"{self.cluster.cluster_name}/*")
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecs:DescribeTasks", "ecs:StopTask"], resources=[tasks])
        )
        self.grant_list_tasks(role)
        self._acknowledge_tasks(role, tasks)

    def _acknowledge_tasks(self, role: iam.IRole, tasks: str) -> None:
        acknowledge(
            role,
            "IAM5",
            "Sandbox task ids are made by ECS at run time; the grant covers tasks of the sandbox cluster only.",
            f"Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/{ref(self.cluster, '')}/*",
        )
