"""The Sandbox construct: an isolated network that only the functions running cells may cross into a task, the
endpoints (and their policies) that tasks and those functions need, and the hardened task definition without a role."""

from __future__ import annotations

from typing import Any

from infra_helpers import Synthesized, actions_of_role, as_list, flat, role_of_function, statements_of_role

from agentlab.sandbox.fargate import TASK_PORT

OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
CELL_FUNCTIONS = {"execute", "check_goal", "repo_baseline"}


def container(synth: Synthesized) -> dict[str, Any]:
    definitions = synth.one("AWS::ECS::TaskDefinition")["Properties"]["ContainerDefinitions"]
    assert len(definitions) == 1
    return dict(definitions[0])


def group_id(synth: Synthesized, group: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [synth.logical_id(group), "GroupId"]}


def rules(synth: Synthesized, kind: str, group: Any) -> list[dict[str, Any]]:
    """Every rule of one direction ("Egress" or "Ingress") of a group: inline, and separate rule resources."""
    inline = synth.resources[synth.logical_id(group)]["Properties"].get(f"SecurityGroup{kind}", [])
    separate = [
        rule["Properties"]
        for rule in synth.of_type(f"AWS::EC2::SecurityGroup{kind}").values()
        if rule["Properties"]["GroupId"] == group_id(synth, group)
    ]
    return [*inline, *separate]


def prefix_list_of(synth: Synthesized, service: str) -> dict[str, Any]:
    """The prefix list id the stack looks up for a gateway endpoint's service (com.amazonaws.<region>.<service>)."""
    lookups = [
        logical_id
        for logical_id, resource in synth.of_type("Custom::AWS").items()
        if f'"com.amazonaws.<AWS::Region>.{service}"' in flat(resource["Properties"]["Create"])
    ]
    assert len(lookups) == 1, (service, lookups)
    return {"Fn::GetAtt": [lookups[0], "PrefixLists.0.PrefixListId"]}


def endpoint_policy(synth: Synthesized, service: str) -> list[dict[str, Any]]:
    (endpoint,) = [
        e["Properties"]
        for e in synth.of_type("AWS::EC2::VPCEndpoint").values()
        if flat(e["Properties"]["ServiceName"]).endswith(f".{service}")
    ]
    return list(endpoint["PolicyDocument"]["Statement"])


def test_network_has_no_route_to_the_internet(synth: Synthesized) -> None:
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EgressOnlyInternetGateway"):
        assert not synth.of_type(kind), kind
    assert not synth.of_type("AWS::EC2::Route"), "isolated subnets have no routes beyond the VPC and the gateways"
    subnets = synth.of_type("AWS::EC2::Subnet").values()
    assert subnets and all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets)
    synth.one("AWS::EC2::FlowLog")


def test_endpoints_serve_s3_dynamodb_ecr_logs_and_ecs(synth: Synthesized) -> None:
    endpoints = {
        flat(e["Properties"]["ServiceName"]): e["Properties"].get("VpcEndpointType", "Gateway")
        for e in synth.of_type("AWS::EC2::VPCEndpoint").values()
    }
    by_service = {
        name.rsplit(".", 1)[-1] if not name.endswith(("ecr.api", "ecr.dkr")) else name[-7:]: kind
        for name, kind in endpoints.items()
    }
    # ECR and S3 pull the image, Logs ships the task's logs; ECS serves RunTask/DescribeTasks/StopTask to the
    # functions that run cells, DynamoDB and S3 their table and bucket. The package registries' endpoints
    # (CodeArtifact, STS) belong to agentlab_cdk.registries and are checked in test_infra_repo_optimize.
    assert by_service == {
        "s3": "Gateway",
        "dynamodb": "Gateway",
        "ecr.api": "Interface",
        "ecr.dkr": "Interface",
        "logs": "Interface",
        "ecs": "Interface",
        "api": "Interface",
        "repositories": "Interface",
        "sts": "Interface",
    }
    endpoint_group = group_id(synth, synth.stack.sandbox.endpoint_security_group)
    registry_group = group_id(synth, synth.stack.registries.endpoint_security_group)
    for endpoint in synth.of_type("AWS::EC2::VPCEndpoint").values():
        if endpoint["Properties"].get("VpcEndpointType") == "Interface":
            assert endpoint["Properties"]["SecurityGroupIds"] in ([endpoint_group], [registry_group])
            assert endpoint["Properties"]["PrivateDnsEnabled"] is True


def test_only_the_cell_functions_may_reach_a_task_and_only_on_the_kernel_port(synth: Synthesized) -> None:
    sandbox = synth.stack.sandbox
    assert rules(synth, "Ingress", sandbox.security_group) == [
        {
            "Description": "the kernel server, from the functions that run cells",
            "FromPort": TASK_PORT,
            "ToPort": TASK_PORT,
            "IpProtocol": "tcp",
            "GroupId": group_id(synth, sandbox.security_group),
            "SourceSecurityGroupId": group_id(synth, sandbox.function_security_group),
        }
    ]
    ingress_from_cells = [
        rule
        for rule in synth.of_type("AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"].get("SourceSecurityGroupId") == group_id(synth, sandbox.function_security_group)
    ]
    assert {flat(r["Properties"]["GroupId"]) for r in ingress_from_cells} == {
        flat(group_id(synth, sandbox.security_group)),
        flat(group_id(synth, sandbox.endpoint_security_group)),
        flat(group_id(synth, synth.stack.registries.endpoint_security_group)),
    }


def test_task_security_group_reaches_only_the_endpoints_and_s3_over_https(synth: Synthesized) -> None:
    sandbox = synth.stack.sandbox
    egress = rules(synth, "Egress", sandbox.security_group)
    destinations = sorted(
        (flat(rule.get("DestinationSecurityGroupId") or rule.get("DestinationPrefixListId")), rule["FromPort"])
        for rule in egress
    )
    # Fargate pulls the image (ECR, layers from S3) and ships logs through the task's interface; a repository's
    # install phase reaches the package registries' endpoints (and npm's package assets in S3).
    assert destinations == sorted(
        [
            (flat(group_id(synth, sandbox.endpoint_security_group)), 443),
            (flat(group_id(synth, synth.stack.registries.endpoint_security_group)), 443),
            (flat(prefix_list_of(synth, "s3")), 443),
        ]
    )
    assert all((r["IpProtocol"], r["ToPort"]) == ("tcp", 443) for r in egress)


def test_cell_functions_reach_the_kernel_port_s3_dynamodb_and_the_endpoints_only(synth: Synthesized) -> None:
    sandbox = synth.stack.sandbox
    egress = rules(synth, "Egress", sandbox.function_security_group)
    destinations = sorted(
        (
            flat(rule.get("DestinationSecurityGroupId") or rule.get("DestinationPrefixListId")),
            rule["FromPort"],
            rule["ToPort"],
        )
        for rule in egress
    )
    assert destinations == sorted(
        [
            (flat(group_id(synth, sandbox.security_group)), TASK_PORT, TASK_PORT),
            (flat(group_id(synth, sandbox.endpoint_security_group)), 443, 443),
            (flat(group_id(synth, synth.stack.registries.endpoint_security_group)), 443, 443),
            (flat(prefix_list_of(synth, "s3")), 443, 443),
            (flat(prefix_list_of(synth, "dynamodb")), 443, 443),
        ]
    )
    assert all(r["IpProtocol"] == "tcp" for r in egress)
    assert rules(synth, "Ingress", sandbox.function_security_group) == [], "nothing connects to a cell function"


def test_endpoints_admit_https_from_tasks_and_cell_functions_only(synth: Synthesized) -> None:
    sandbox = synth.stack.sandbox
    ingress = rules(synth, "Ingress", sandbox.endpoint_security_group)
    assert sorted((flat(r["SourceSecurityGroupId"]), r["FromPort"], r["ToPort"]) for r in ingress) == sorted(
        [
            (flat(group_id(synth, sandbox.security_group)), 443, 443),
            (flat(group_id(synth, sandbox.function_security_group)), 443, 443),
        ]
    )


def test_no_security_group_anywhere_allows_traffic_to_or_from_everywhere(synth: Synthesized) -> None:
    for logical_id, group in synth.of_type("AWS::EC2::SecurityGroup").items():
        for rule in [
            *group["Properties"].get("SecurityGroupEgress", []),
            *group["Properties"].get("SecurityGroupIngress", []),
        ]:
            assert rule.get("CidrIp") not in OPEN_CIDRS and rule.get("CidrIpv6") not in OPEN_CIDRS, logical_id
    for kind in ("AWS::EC2::SecurityGroupEgress", "AWS::EC2::SecurityGroupIngress"):
        for logical_id, rule in synth.of_type(kind).items():
            props = rule["Properties"]
            assert props.get("CidrIp") not in OPEN_CIDRS and props.get("CidrIpv6") not in OPEN_CIDRS, logical_id
            assert props["IpProtocol"] != "-1", logical_id


def test_s3_endpoint_allows_only_the_data_bucket_ecr_image_layers_and_package_assets(synth: Synthesized) -> None:
    bucket = synth.logical_id(synth.stack.data.bucket)
    statements = {s["Sid"]: s for s in endpoint_policy(synth, "s3")}
    # CodeArtifactAssets is checked in test_infra_repo_optimize.
    assert set(statements) == {"PlatformBucket", "EcrImageLayers", "CodeArtifactAssets"}
    platform = statements["PlatformBucket"]
    assert [flat(r) for r in as_list(platform["Resource"])] == [f"<{bucket}.Arn>/*"]
    assert sorted(as_list(platform["Action"])) == ["s3:GetObject", "s3:PutObject"]
    assert platform["Condition"] == {"StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}}
    layers = statements["EcrImageLayers"]
    # ECR hands out presigned URLs to its own bucket, so no condition on the caller's account can hold there.
    assert [flat(r) for r in as_list(layers["Resource"])] == [
        "arn:<AWS::Partition>:s3:::prod-<AWS::Region>-starport-layer-bucket/*"
    ]
    assert as_list(layers["Action"]) == ["s3:GetObject"]
    assert "Condition" not in layers
    assert all(s["Effect"] == "Allow" for s in statements.values())


def test_dynamodb_endpoint_allows_only_the_table_and_its_indexes(synth: Synthesized) -> None:
    from agentlab_cdk.grants import TABLE_ACTIONS

    table = synth.logical_id(synth.stack.data.table)
    (statement,) = endpoint_policy(synth, "dynamodb")
    assert sorted(flat(r) for r in as_list(statement["Resource"])) == [f"<{table}.Arn>", f"<{table}.Arn>/index/*"]
    assert sorted(as_list(statement["Action"])) == sorted(TABLE_ACTIONS)
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}}


def test_only_the_functions_that_run_cells_are_in_the_vpc(synth: Synthesized) -> None:
    sandbox = synth.stack.sandbox
    in_vpc = {
        name
        for name, function in synth.stack.functions.functions.items()
        if "VpcConfig" in synth.resources[synth.logical_id(function)]["Properties"]
    }
    assert in_vpc == CELL_FUNCTIONS
    subnets = sorted(flat({"Ref": synth.logical_id(s)}) for s in sandbox.vpc.isolated_subnets)
    for name in CELL_FUNCTIONS:
        function = synth.resources[synth.logical_id(synth.stack.orchestration.steps[name])]
        config = function["Properties"]["VpcConfig"]
        assert sorted(flat(s) for s in config["SubnetIds"]) == subnets
        assert config["SecurityGroupIds"] == [group_id(synth, sandbox.function_security_group)]
        # Lambda makes the interfaces with the function's role when the function is created: its grants come first.
        role = role_of_function(function)
        policies = {
            logical_id
            for logical_id, policy in synth.of_type("AWS::IAM::Policy").items()
            if {"Ref": role} in policy["Properties"]["Roles"]
        }
        assert policies and policies <= set(function["DependsOn"])


def test_cell_functions_may_make_network_interfaces_only_in_their_subnets_and_group(synth: Synthesized) -> None:
    sandbox = synth.stack.sandbox
    subnets = {
        f"arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:subnet/<{synth.logical_id(s)}>"
        for s in sandbox.vpc.isolated_subnets
    }
    ec2_arn = "arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>"
    group = f"{ec2_arn}:security-group/<{synth.logical_id(sandbox.function_security_group)}.GroupId>"
    interfaces = f"{ec2_arn}:network-interface/*"
    for name, function in synth.stack.functions.functions.items():
        role = role_of_function(synth.resources[synth.logical_id(function)])
        ec2_statements = [
            s
            for s in statements_of_role(synth.resources, role)
            if any(a.startswith("ec2:") for a in as_list(s["Action"]))
        ]
        if name not in CELL_FUNCTIONS:
            assert not ec2_statements, name
            continue
        granted = {
            a: {flat(r) for r in as_list(s["Resource"])}
            for s in ec2_statements
            for a in as_list(s["Action"])
            if a.startswith("ec2:")
        }
        assert granted["ec2:CreateNetworkInterface"] == {interfaces, group, *subnets}
        for action in ("ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"):
            assert granted[action] == {interfaces}, action
        for action in ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"):
            assert granted[action] == {"*"}, action
        assert set(granted) == {
            "ec2:CreateNetworkInterface",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets",
        }


def test_cluster_has_container_insights(synth: Synthesized) -> None:
    cluster = synth.one("AWS::ECS::Cluster")["Properties"]
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["ClusterSettings"]


def test_task_definition_is_arm64_fargate_sized_from_the_default_limits(synth: Synthesized) -> None:
    from agentlab_cdk.sandbox import default_task_size

    props = synth.one("AWS::ECS::TaskDefinition")["Properties"]
    cpu, memory = default_task_size()
    assert (props["Cpu"], props["Memory"]) == (str(cpu), str(memory))
    assert props["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["NetworkMode"] == "awsvpc"
    assert props["Volumes"] == [{"Name": "scratch"}]


def test_task_has_no_task_role_so_user_code_has_no_credentials_to_reach(synth: Synthesized) -> None:
    props = synth.one("AWS::ECS::TaskDefinition")["Properties"]
    assert "TaskRoleArn" not in props
    task_roles = [
        logical_id
        for logical_id, role in synth.of_type("AWS::IAM::Role").items()
        if any(
            s["Principal"].get("Service") == "ecs-tasks.amazonaws.com"
            for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        )
    ]
    # Only the execution role, which Fargate itself uses to pull the image and write the logs.
    execution_role = props["ExecutionRoleArn"]["Fn::GetAtt"][0]
    assert task_roles == [execution_role]
    actions = actions_of_role(synth.resources, execution_role)
    assert actions and all(a.startswith(("ecr:", "logs:")) for a in actions), actions


def test_container_is_non_root_read_only_without_capabilities_or_init_and_serves_the_kernel_port(
    synth: Synthesized,
) -> None:
    sandbox = container(synth)
    assert sandbox["Name"] == "sandbox"
    assert sandbox["User"] == "10001:10001"
    assert sandbox["ReadonlyRootFilesystem"] is True
    assert sandbox["Privileged"] is False
    assert sandbox["LinuxParameters"]["Capabilities"] == {"Drop": ["ALL"]}
    assert "Add" not in sandbox["LinuxParameters"]["Capabilities"]
    # The entrypoint is PID 1: no init process beside it.
    assert sandbox["LinuxParameters"]["InitProcessEnabled"] is False
    assert sandbox["PortMappings"] == [{"ContainerPort": TASK_PORT, "Protocol": "tcp"}]
    assert sandbox["MountPoints"] == [{"ContainerPath": "/scratch", "ReadOnly": False, "SourceVolume": "scratch"}]
    assert "Environment" not in sandbox and "Secrets" not in sandbox
    assert sandbox["LogConfiguration"]["LogDriver"] == "awslogs"


def test_functions_get_the_fargate_settings_and_no_sandbox_bucket(synth: Synthesized) -> None:
    sandbox = synth.stack.sandbox
    variables = synth.resources[synth.logical_id(synth.stack.orchestration.steps["execute"])]["Properties"][
        "Environment"
    ]["Variables"]
    assert variables["AGENTLAB_SANDBOX_BACKEND"] == "fargate"
    assert variables["AGENTLAB_CLUSTER_ARN"] == {"Fn::GetAtt": [synth.logical_id(sandbox.cluster), "Arn"]}
    assert variables["AGENTLAB_TASK_DEFINITION_ARN"] == {"Ref": synth.logical_id(sandbox.task_definition)}
    assert variables["AGENTLAB_CONTAINER_NAME"] == container(synth)["Name"]
    # The tasks' own group: RunTask puts each task behind it.
    assert variables["AGENTLAB_SECURITY_GROUPS"] == group_id(synth, sandbox.security_group)
    subnets = sorted(f"<{synth.logical_id(s)}>" for s in sandbox.vpc.isolated_subnets)
    assert sorted(flat(variables["AGENTLAB_SUBNETS"]).split(",")) == subnets
    assert variables["AGENTLAB_TABLE_NAME"] == {"Ref": synth.logical_id(synth.stack.data.table)}
    assert not any("SANDBOX_BUCKET" in name for name in variables)
