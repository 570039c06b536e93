"""The Fargate sandbox: an isolated VPC (no NAT, no internet gateway) with the endpoints a task needs to start and the
functions that run cells need to reach AWS, an ECS cluster and the hardened task definition built from sandbox-task/.

User code in a task can reach no AWS credential: the task has no task role at all. Its kernel server listens on
TASK_PORT, which only the security group of the functions that run cells (`execute`, `check_goal` and the repository
baseline, inside this VPC) may reach; they move inputs and artifacts to and from S3 themselves, scoped to the run."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack, custom_resources
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from agentlab.sandbox.fargate import TASK_PORT, FargateSandboxSettings, cpu_units, task_size
from agentlab.sandbox.models import SandboxLimits
from agentlab_cdk.config import LOG_RETENTION, SANDBOX_POOL_MAX_AGE
from agentlab_cdk.functions import FunctionNetwork, LambdaFunctions
from agentlab_cdk.grants import OBJECT_ACTIONS, TABLE_ACTIONS
from agentlab_cdk.nag import acknowledge, arn, ref
from agentlab_cdk.sandbox_image import SandboxImage

CONTAINER_NAME = str(FargateSandboxSettings.model_fields["container_name"].default)
SANDBOX_UID = "10001"
SCRATCH_VOLUME = "scratch"
SCRATCH_PATH = "/scratch"
HTTPS = ec2.Port.tcp(443)
KERNEL = ec2.Port.tcp(TASK_PORT)


def default_task_size() -> tuple[int, int]:
    """CPU units and MiB of the task definition: the default limits' vCPUs and room for their kernel memory (a run's
    own limits override both when its task starts)."""
    limits = SandboxLimits()
    return task_size(cpu_units(limits.cpu), limits.memory_mb)


def ecr_layer_bucket(stack: Stack) -> str:
    """The Region's bucket that ECR serves image layers from (through presigned URLs), for the S3 endpoint policy."""
    return f"arn:{stack.partition}:s3:::prod-{stack.region}-starport-layer-bucket"


class Sandbox(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: LambdaFunctions,
        bucket: s3.IBucket,
        table: dynamodb.ITable,
        is_prod: bool,
        pool_size: int = 0,
    ) -> None:
        super().__init__(scope, construct_id)
        self.pool_size = pool_size
        self._bucket = bucket
        self._table = table
        self._removal = RemovalPolicy.RETAIN if is_prod else RemovalPolicy.DESTROY
        self.vpc = self._add_vpc()
        self.security_group = self._add_security_group(
            "TaskSecurityGroup", "agentlab sandbox tasks: the kernel port from the cell functions; HTTPS to endpoints"
        )
        self.function_security_group = self._add_security_group(
            "FunctionSecurityGroup", "agentlab functions that run cells: the kernel port of tasks; HTTPS to endpoints"
        )
        self.endpoint_security_group = self._add_security_group(
            "EndpointSecurityGroup", "agentlab sandbox interface endpoints: HTTPS from tasks and cell functions"
        )
        self._add_endpoints()
        self._connect()
        self.cluster = self._add_cluster()
        self.log_group = logs.LogGroup(self, "TaskLogs", retention=LOG_RETENTION, removal_policy=self._removal)
        self.image = SandboxImage(self, "Image", functions=functions, is_prod=is_prod)
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

    def _add_security_group(self, construct_id: str, description: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(self, construct_id, vpc=self.vpc, description=description, allow_all_outbound=False)

    @property
    def _isolated(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)

    def _add_endpoints(self) -> None:
        stack = Stack.of(self)
        # Public: the package registries admit their asset bucket on it (agentlab_cdk.registries).
        self.s3_endpoint = s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self._isolated]
        )
        in_account = {"StringEquals": {"aws:PrincipalAccount": stack.account}}
        # The cell functions read and write objects of the platform's bucket (what grant_objects allows them);
        # Fargate pulls image layers from ECR's layer bucket with URLs ECR signs, so not as a principal of this
        # account. No other bucket is reachable.
        s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="PlatformBucket",
                principals=[iam.AnyPrincipal()],
                actions=list(OBJECT_ACTIONS),
                resources=[self._bucket.arn_for_objects("*")],
                conditions=in_account,
            )
        )
        s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="EcrImageLayers",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[f"{ecr_layer_bucket(stack)}/*"],
            )
        )
        dynamodb_endpoint = self.vpc.add_gateway_endpoint(
            "DynamoDbEndpoint", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=[self._isolated]
        )
        dynamodb_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="PlatformTable",
                principals=[iam.AnyPrincipal()],
                actions=list(TABLE_ACTIONS),
                resources=[self._table.table_arn, f"{self._table.table_arn}/index/*"],
                conditions=in_account,
            )
        )
        for name, service in (
            ("EcrApiEndpoint", ec2.InterfaceVpcEndpointAwsService.ECR),
            ("EcrDockerEndpoint", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
            ("LogsEndpoint", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
            # RunTask, DescribeTasks and StopTask from the cell functions.
            ("EcsEndpoint", ec2.InterfaceVpcEndpointAwsService.ECS),
        ):
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self._isolated,
                security_groups=[self.endpoint_security_group],
                open=False,
            )

    def _connect(self) -> None:
        """Who may talk to whom: the only way into a task is its kernel port, from the cell functions."""
        tasks, cells, endpoints = self.security_group, self.function_security_group, self.endpoint_security_group
        s3_prefix_list = ec2.Peer.prefix_list(self._prefix_list_id("S3PrefixList", "s3"))
        dynamodb_prefix_list = ec2.Peer.prefix_list(self._prefix_list_id("DynamoDbPrefixList", "dynamodb"))
        tasks.add_ingress_rule(cells, KERNEL, "the kernel server, from the functions that run cells")
        cells.add_egress_rule(tasks, KERNEL, "the sandbox tasks' kernel server")
        # Fargate pulls the image and ships the task's logs through the task's own network interface.
        tasks.add_egress_rule(endpoints, HTTPS, "ECR and CloudWatch Logs through their interface endpoints")
        tasks.add_egress_rule(s3_prefix_list, HTTPS, "image layers from S3 through the gateway endpoint")
        cells.add_egress_rule(endpoints, HTTPS, "ECS through its interface endpoint")
        cells.add_egress_rule(s3_prefix_list, HTTPS, "the data bucket through the S3 gateway endpoint")
        cells.add_egress_rule(dynamodb_prefix_list, HTTPS, "the table through the DynamoDB gateway endpoint")
        endpoints.add_ingress_rule(tasks, HTTPS, "HTTPS from sandbox tasks")
        endpoints.add_ingress_rule(cells, HTTPS, "HTTPS from the functions that run cells")

    def _prefix_list_id(self, construct_id: str, service: str) -> str:
        """The id of the Region's managed prefix list of a gateway endpoint's service (it differs per Region)."""
        region = Stack.of(self).region
        lookup = custom_resources.AwsCustomResource(
            self,
            construct_id,
            on_update=custom_resources.AwsSdkCall(
                service="EC2",
                action="describeManagedPrefixLists",
                parameters={"Filters": [{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{region}.{service}"]}]},
                physical_resource_id=custom_resources.PhysicalResourceId.of(f"{service}-prefix-list-{region}"),
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
            "ec2:DescribeManagedPrefixLists has no resource-level permissions; the lookup only reads the prefix list "
            "of a gateway endpoint's service.",
            "Resource::*",
        )
        return lookup.get_response_field("PrefixLists.0.PrefixListId")

    # compute --------------------------------------------------------------------------------------------------------
    def _add_cluster(self) -> ecs.Cluster:
        return ecs.Cluster(self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)

    def _add_task_definition(self) -> ecs.FargateTaskDefinition:
        """Graviton (ARM64) Linux tasks, the image's architecture. Ephemeral storage stays at Fargate's default of
        20 GiB: the scratch volume lives there, and more would not start a task sooner (the image pull does not
        depend on it). What shortens a start is the image's size (agentlab_cdk.sandbox_image) and the warm pool."""
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
        self._remove_task_role(task_definition)
        # The entrypoint is PID 1 itself: no init process (with its own view of the task's environment) beside it.
        linux = ecs.LinuxParameters(self, "LinuxParameters", init_process_enabled=False)
        linux.drop_capabilities(ecs.Capability.ALL)
        container = task_definition.add_container(
            "Sandbox",
            container_name=CONTAINER_NAME,
            image=self.image.container_image,
            user=f"{SANDBOX_UID}:{SANDBOX_UID}",
            readonly_root_filesystem=True,
            privileged=False,
            linux_parameters=linux,
            essential=True,
            port_mappings=[ecs.PortMapping(container_port=TASK_PORT, protocol=ecs.Protocol.TCP)],
            logging=ecs.LogDriver.aws_logs(stream_prefix="sandbox", log_group=self.log_group),
        )
        container.add_mount_points(
            ecs.MountPoint(container_path=SCRATCH_PATH, source_volume=SCRATCH_VOLUME, read_only=False)
        )
        execution_role = task_definition.obtain_execution_role()
        acknowledge(
            execution_role,
            "IAM5",
            "ecr:GetAuthorizationToken accepts no resource but '*'; Fargate needs it to pull the image. The execution "
            "role is used by Fargate itself and never reaches the container.",
            "Resource::*",
        )
        return task_definition

    @staticmethod
    def _remove_task_role(task_definition: ecs.FargateTaskDefinition) -> None:
        """aws-cdk-lib gives every task definition a task role; the sandbox's has none, so no credentials endpoint
        exists for user code to call."""
        task_role = task_definition.node.find_child("TaskRole")
        task_definition.node.try_remove_child(task_role.node.id)
        resource = task_definition.node.default_child
        assert isinstance(resource, ecs.CfnTaskDefinition)
        resource.add_property_deletion_override("TaskRoleArn")

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
            # Without a pool a cold start does not even look for a warm task.
            "AGENTLAB_SANDBOX_POOL": "true" if self.pool_size else "false",
            "AGENTLAB_SANDBOX_POOL_MAX_AGE_S": str(SANDBOX_POOL_MAX_AGE.to_seconds()),
        }

    @property
    def janitor_environment(self) -> dict[str, str]:
        """What the janitor needs to keep the warm pool: RunTask's parameters, the pool's size and max age (a size of
        0 still lets it drop what a larger pool left)."""
        values = self.environment
        return {
            name: values[name]
            for name in (
                "AGENTLAB_CLUSTER_ARN",
                "AGENTLAB_TASK_DEFINITION_ARN",
                "AGENTLAB_CONTAINER_NAME",
                "AGENTLAB_SUBNETS",
                "AGENTLAB_SECURITY_GROUPS",
                "AGENTLAB_SANDBOX_POOL_MAX_AGE_S",
            )
        } | {"AGENTLAB_SANDBOX_POOL_SIZE": str(self.pool_size)}

    def grant_keep_pool(self, role: iam.IRole) -> None:
        """The janitor's ECS rights: stopping tasks always; starting them (RunTask, tagging at RunTask, passing the
        execution role) only where the deployment keeps a pool."""
        if self.pool_size:
            self.grant_run_tasks(role)
        else:
            self.grant_stop_tasks(role)

    @property
    def function_network(self) -> FunctionNetwork:
        """Where the functions that run cells run: the sandbox subnets, behind their own security group."""
        isolated = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        return FunctionNetwork(
            vpc=self.vpc, subnets=tuple(isolated.subnets), security_group=self.function_security_group
        )

    def grant_run_tasks(self, role: iam.IRole) -> None:
        """Start, watch and stop sandbox tasks of this cluster, and pass the task's execution role to ECS."""
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
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.task_definition.obtain_execution_role().role_arn],
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
        cluster = ref(self.cluster, "")
        acknowledge(
            role,
            "IAM5",
            "Sandbox task ids are made by ECS at run time; the grant covers tasks of the sandbox cluster only.",
            f"Resource::{arn(self, 'ecs', f'task/{cluster}/*')}",
        )
