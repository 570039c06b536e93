"""The Sandbox construct: an isolated network, the endpoints a task needs, and the hardened task definition."""

from __future__ import annotations

from typing import Any

from infra_helpers import Synthesized, as_list, flat, statements_of_role

OPEN_CIDRS = {"0.0.0.0/0", "::/0"}


def container(synth: Synthesized) -> dict[str, Any]:
    definitions = synth.one("AWS::ECS::TaskDefinition")["Properties"]["ContainerDefinitions"]
    assert len(definitions) == 1
    return dict(definitions[0])


def test_network_has_no_route_to_the_internet(synth: Synthesized) -> None:
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EgressOnlyInternetGateway"):
        assert not synth.of_type(kind), kind
    assert not synth.of_type("AWS::EC2::Route"), "isolated subnets have no routes beyond the VPC and the gateways"
    subnets = synth.of_type("AWS::EC2::Subnet").values()
    assert subnets and all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets)
    synth.one("AWS::EC2::FlowLog")


def test_endpoints_serve_s3_dynamodb_ecr_and_logs(synth: Synthesized) -> None:
    endpoints = {
        flat(e["Properties"]["ServiceName"]): e["Properties"].get("VpcEndpointType", "Gateway")
        for e in synth.of_type("AWS::EC2::VPCEndpoint").values()
    }
    by_service = {
        name.rsplit(".", 1)[-1] if not name.endswith(("ecr.api", "ecr.dkr")) else name[-7:]: kind
        for name, kind in endpoints.items()
    }
    assert by_service == {
        "s3": "Gateway",
        "dynamodb": "Gateway",
        "ecr.api": "Interface",
        "ecr.dkr": "Interface",
        "logs": "Interface",
    }


def test_task_security_group_reaches_only_the_endpoints(synth: Synthesized) -> None:
    group = synth.logical_id(synth.stack.sandbox.security_group)
    inline = synth.resources[group]["Properties"].get("SecurityGroupEgress", [])
    assert not [rule for rule in inline if rule.get("CidrIp") in OPEN_CIDRS or rule.get("CidrIpv6") in OPEN_CIDRS]
    egress = [
        e["Properties"]
        for e in synth.of_type("AWS::EC2::SecurityGroupEgress").values()
        if e["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    assert len(egress) == 2
    for rule in egress:
        assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 443, 443)
        assert "CidrIp" not in rule and "CidrIpv6" not in rule
    assert {"DestinationPrefixListId", "DestinationSecurityGroupId"} == {
        key for rule in egress for key in rule if key.startswith("Destination")
    }
    assert not synth.of_type("AWS::EC2::SecurityGroupIngress") or all(
        i["Properties"]["GroupId"] != {"Fn::GetAtt": [group, "GroupId"]}
        for i in synth.of_type("AWS::EC2::SecurityGroupIngress").values()
    ), "nothing may connect to a sandbox task"


def test_no_security_group_anywhere_allows_egress_to_everywhere(synth: Synthesized) -> None:
    for logical_id, group in synth.of_type("AWS::EC2::SecurityGroup").items():
        for rule in group["Properties"].get("SecurityGroupEgress", []):
            assert rule.get("CidrIp") not in OPEN_CIDRS, logical_id
    for logical_id, rule in synth.of_type("AWS::EC2::SecurityGroupEgress").items():
        assert rule["Properties"].get("CidrIp") not in OPEN_CIDRS, logical_id


def test_cluster_has_container_insights(synth: Synthesized) -> None:
    cluster = synth.one("AWS::ECS::Cluster")["Properties"]
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["ClusterSettings"]


def test_task_definition_is_arm64_fargate_sized_from_the_settings(synth: Synthesized) -> None:
    from agentlab_cdk.sandbox import default_task_size

    props = synth.one("AWS::ECS::TaskDefinition")["Properties"]
    cpu, memory = default_task_size()
    assert (props["Cpu"], props["Memory"]) == (str(cpu), str(memory))
    assert props["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["NetworkMode"] == "awsvpc"
    assert props["Volumes"] == [{"Name": "scratch"}]


def test_container_is_non_root_read_only_without_capabilities_and_writes_only_scratch(synth: Synthesized) -> None:
    sandbox = container(synth)
    assert sandbox["Name"] == "sandbox"
    assert sandbox["User"] == "10001:10001"
    assert sandbox["ReadonlyRootFilesystem"] is True
    assert sandbox["Privileged"] is False
    assert sandbox["LinuxParameters"]["Capabilities"] == {"Drop": ["ALL"]}
    assert "Add" not in sandbox["LinuxParameters"]["Capabilities"]
    assert sandbox["MountPoints"] == [{"ContainerPath": "/scratch", "ReadOnly": False, "SourceVolume": "scratch"}]
    assert "PortMappings" not in sandbox
    assert "Environment" not in sandbox and "Secrets" not in sandbox
    assert sandbox["LogConfiguration"]["LogDriver"] == "awslogs"


def test_task_role_reaches_only_the_sandbox_prefix(synth: Synthesized) -> None:
    task_role = synth.logical_id(synth.stack.sandbox.task_definition.task_role)
    bucket = synth.logical_id(synth.stack.data.bucket)
    statements = statements_of_role(synth.resources, task_role)
    assert statements
    for statement in statements:
        actions = as_list(statement["Action"])
        assert all(action.startswith("s3:") for action in actions), actions
        for resource in as_list(statement["Resource"]):
            text = flat(resource)
            if actions == ["s3:ListBucket"]:
                # Key names only, so that a cell not yet written answers 404 rather than 403 (see grant_not_found).
                assert text == f"<{bucket}.Arn>"
            else:
                assert text == f"<{bucket}.Arn>/sandbox/*"
