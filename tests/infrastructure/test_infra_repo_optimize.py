"""The repo_optimize workflow in the template: its state machine and three steps, where each step runs and what it may
do, the package registries behind the sandbox VPC's endpoints with the install role, and what the API and the janitor
are told and granted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Match, Template
from infra_helpers import Synthesized, actions_of_role, as_list, flat, role_of_function, statements_of_role

ROOT = Path(__file__).resolve().parents[2]
ASL = ROOT / "statemachines" / "repo_optimize.asl.json"
REPO_STEPS = ("repo_checkout", "repo_detect", "repo_baseline", "repo_discover")
REPO_SECRETS = "arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:agentlab/*/repos/*-??????"
EXECUTIONS = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:Agentlab-repo-optimize:*"
BEARER_CONDITION = {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}}


def function_of(synth: Synthesized, name: str) -> dict[str, Any]:
    return synth.resources[synth.logical_id(synth.stack.functions.functions[name])]


def role_statements(synth: Synthesized, name: str) -> list[dict[str, Any]]:
    return statements_of_role(synth.resources, role_of_function(function_of(synth, name)))


def statements_with(statements: list[dict[str, Any]], prefix: str) -> list[tuple[list[str], list[str]]]:
    """(sorted actions, flattened resources) of the statements with an action starting with `prefix`."""
    return [
        (sorted(as_list(s["Action"])), sorted(flat(r) for r in as_list(s["Resource"])))
        for s in statements
        if any(a.startswith(prefix) for a in as_list(s["Action"]))
    ]


def grants(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Every (action, flattened resource) pair the Allow statements grant (aws-cdk-lib merges statements)."""
    return {
        (action, flat(resource))
        for s in statements
        if s["Effect"] == "Allow"
        for action in as_list(s["Action"])
        for resource in as_list(s["Resource"])
    }


def group_id(synth: Synthesized, group: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [synth.logical_id(group), "GroupId"]}


def install_role_id(synth: Synthesized) -> str:
    role = synth.stack.registries.install_role
    assert role is not None
    return synth.logical_id(role)


def test_the_state_machine_exists_with_every_placeholder_substituted(synth: Synthesized, template: Template) -> None:
    machine = synth.stack.orchestration.state_machines["repo_optimize"]
    props = synth.resources[synth.logical_id(machine)]["Properties"]
    assert json.loads(props["DefinitionString"]) == json.loads(ASL.read_text())
    assert props["StateMachineName"] == "Agentlab-repo-optimize"
    substitutions = props["DefinitionSubstitutions"]
    expected = {
        "RepoCheckoutFunctionArn": "repo_checkout",
        "RepoDetectFunctionArn": "repo_detect",
        "RepoBaselineFunctionArn": "repo_baseline",
        "RepoDiscoverFunctionArn": "repo_discover",
        "FinalizeFunctionArn": "finalize",
        "RecordFailureFunctionArn": "record_failure",
    }
    assert set(substitutions) == set(expected)
    for placeholder, step in expected.items():
        function = synth.stack.orchestration.steps[step]
        assert substitutions[placeholder] == {"Fn::GetAtt": [synth.logical_id(function), "Arn"]}, placeholder
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {"StateMachineName": "Agentlab-repo-optimize", "StateMachineType": "STANDARD"},
    )


def test_the_repo_steps_exist_with_the_step_timeout_and_their_own_roles(synth: Synthesized) -> None:
    roles = set()
    for name in REPO_STEPS:
        props = function_of(synth, name)["Properties"]
        assert props["Timeout"] == 900, name
        assert props["MemorySize"] >= 1024, name
        roles.add(role_of_function(function_of(synth, name)))
    assert len(roles) == len(REPO_STEPS)


def test_checkout_runs_outside_any_vpc_with_room_to_unpack(synth: Synthesized) -> None:
    props = function_of(synth, "repo_checkout")["Properties"]
    assert "VpcConfig" not in props, "the sandbox subnets have no internet route to reach a Git host"
    assert props["EphemeralStorage"] == {"Size": 2048}
    assert "VpcConfig" not in function_of(synth, "repo_detect")["Properties"]
    assert "VpcConfig" not in function_of(synth, "repo_discover")["Properties"]


def test_baseline_runs_in_the_sandbox_subnets_behind_the_cell_functions_group(synth: Synthesized) -> None:
    sandbox = synth.stack.sandbox
    config = function_of(synth, "repo_baseline")["Properties"]["VpcConfig"]
    assert config["SecurityGroupIds"] == [group_id(synth, sandbox.function_security_group)]
    subnets = {flat(s) for s in config["SubnetIds"]}
    isolated = {f"<{synth.logical_id(s)}>" for s in sandbox.vpc.isolated_subnets}
    assert subnets == isolated


def test_checkout_reads_only_the_repository_tokens(synth: Synthesized) -> None:
    statements = role_statements(synth, "repo_checkout")
    assert statements_with(statements, "secretsmanager:") == [(["secretsmanager:GetSecretValue"], [REPO_SECRETS])]
    bucket = synth.logical_id(synth.stack.data.bucket)
    assert statements_with(statements, "s3:") == [(["s3:GetObject", "s3:PutObject"], [f"<{bucket}.Arn>/orgs/*"])]
    actions = actions_of_role(synth.resources, role_of_function(function_of(synth, "repo_checkout")))
    assert not {a for a in actions if a.startswith(("ecs:", "sts:", "codeartifact:", "ec2:"))}


def test_no_other_step_reads_the_repository_tokens(synth: Synthesized) -> None:
    for name in synth.stack.orchestration.steps:
        if name == "repo_checkout":
            continue
        resources = [r for _, rs in statements_with(role_statements(synth, name), "secretsmanager:") for r in rs]
        assert REPO_SECRETS not in resources, name


def test_detect_reads_the_tarball_and_writes_nothing_to_the_bucket(synth: Synthesized) -> None:
    statements = role_statements(synth, "repo_detect")
    bucket = synth.logical_id(synth.stack.data.bucket)
    assert statements_with(statements, "s3:") == [(["s3:GetObject"], [f"<{bucket}.Arn>/orgs/*"])]
    actions = actions_of_role(synth.resources, role_of_function(function_of(synth, "repo_detect")))
    assert {a.split(":")[0] for a in actions} == {"dynamodb", "s3", "logs", "xray"}


def test_baseline_may_only_assume_the_install_role_and_runs_sandbox_tasks(synth: Synthesized) -> None:
    statements = role_statements(synth, "repo_baseline")
    assert statements_with(statements, "sts:") == [(["sts:AssumeRole"], [f"<{install_role_id(synth)}.Arn>"])]
    assert not statements_with(statements, "codeartifact:"), "only through the install role"
    assert not statements_with(statements, "secretsmanager:")
    actions = actions_of_role(synth.resources, role_of_function(function_of(synth, "repo_baseline")))
    assert {"ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource", "iam:PassRole"} <= actions
    bucket = synth.logical_id(synth.stack.data.bucket)
    assert statements_with(statements, "s3:") == [(["s3:GetObject", "s3:PutObject"], [f"<{bucket}.Arn>/orgs/*"])]


def test_the_install_role_trusts_the_baseline_role_alone(synth: Synthesized) -> None:
    trust = synth.resources[install_role_id(synth)]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    baseline_role = role_of_function(function_of(synth, "repo_baseline"))
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::GetAtt": [baseline_role, "Arn"]}},
        }
    ]
    assumers = {
        role
        for role in synth.of_type("AWS::IAM::Role")
        if any(
            "sts:AssumeRole" in as_list(s["Action"])
            and f"<{install_role_id(synth)}.Arn>" in [flat(r) for r in as_list(s["Resource"])]
            for s in statements_of_role(synth.resources, role)
        )
    }
    assert assumers == {baseline_role}


def test_the_install_role_only_reads_the_two_repositories_and_mints_codeartifact_tokens(synth: Synthesized) -> None:
    registries = synth.stack.registries
    statements = statements_of_role(synth.resources, install_role_id(synth))
    repositories = sorted(f"<{synth.logical_id(r)}.Arn>" for r in (registries.pypi, registries.npm))
    domain = f"<{synth.logical_id(registries.domain)}.Arn>"
    found = sorted(
        (sorted(as_list(s["Action"])), sorted(flat(r) for r in as_list(s["Resource"])), s.get("Condition"))
        for s in statements
    )
    assert found == sorted(
        [
            (["codeartifact:GetRepositoryEndpoint", "codeartifact:ReadFromRepository"], repositories, None),
            (["codeartifact:GetAuthorizationToken"], [domain], None),
            (["sts:GetServiceBearerToken"], ["*"], BEARER_CONDITION),
        ]
    )
    assert all(s["Effect"] == "Allow" for s in statements)
    assert not synth.resources[install_role_id(synth)]["Properties"].get("ManagedPolicyArns")


def test_baseline_is_told_the_registries_and_the_install_role(synth: Synthesized) -> None:
    variables = function_of(synth, "repo_baseline")["Properties"]["Environment"]["Variables"]
    assert variables["AGENTLAB_CODEARTIFACT_DOMAIN"] == "agentlab-packages"
    assert variables["AGENTLAB_CODEARTIFACT_DOMAIN_OWNER"] == {"Ref": "AWS::AccountId"}
    assert variables["AGENTLAB_CODEARTIFACT_PYPI_REPOSITORY"] == "pypi-store"
    assert variables["AGENTLAB_CODEARTIFACT_NPM_REPOSITORY"] == "npm-store"
    assert variables["AGENTLAB_REPO_INSTALL_ROLE_ARN"] == {"Fn::GetAtt": [install_role_id(synth), "Arn"]}
    for name in ("repo_checkout", "repo_detect"):
        other = function_of(synth, name)["Properties"]["Environment"]["Variables"]
        assert "AGENTLAB_REPO_INSTALL_ROLE_ARN" not in other, name


def test_the_domain_and_its_two_repositories_pull_from_the_public_registries(template: Template) -> None:
    template.resource_count_is("AWS::CodeArtifact::Domain", 1)
    template.has_resource_properties("AWS::CodeArtifact::Domain", {"DomainName": "agentlab-packages"})
    template.resource_count_is("AWS::CodeArtifact::Repository", 2)
    for name, connection in (("pypi-store", "public:pypi"), ("npm-store", "public:npmjs")):
        template.has_resource_properties(
            "AWS::CodeArtifact::Repository",
            {
                "RepositoryName": name,
                "ExternalConnections": [connection],
                "DomainName": {"Fn::GetAtt": [Match.any_value(), "Name"]},
            },
        )


def registry_endpoints(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        flat(e["Properties"]["ServiceName"]).rsplit(".", 1)[-1]: e["Properties"]
        for e in synth.of_type("AWS::EC2::VPCEndpoint").values()
        if e["Properties"].get("SecurityGroupIds") == [group_id(synth, synth.stack.registries.endpoint_security_group)]
    }


def test_codeartifact_endpoints_are_in_the_sandbox_subnets_with_private_dns(synth: Synthesized) -> None:
    sandbox = synth.stack.sandbox
    endpoints = registry_endpoints(synth)
    assert set(endpoints) == {"api", "repositories", "sts"}
    isolated = {f"<{synth.logical_id(s)}>" for s in sandbox.vpc.isolated_subnets}
    for service, props in endpoints.items():
        assert props["VpcEndpointType"] == "Interface", service
        assert props["VpcId"] == {"Ref": synth.logical_id(sandbox.vpc)}, service
        assert {flat(s) for s in props["SubnetIds"]} == isolated, service
        assert props["PrivateDnsEnabled"] is True, service
    assert flat(endpoints["api"]["ServiceName"]) == "com.amazonaws.<AWS::Region>.codeartifact.api"
    assert flat(endpoints["repositories"]["ServiceName"]) == "com.amazonaws.<AWS::Region>.codeartifact.repositories"


def test_the_registry_endpoints_admit_https_only_from_tasks_and_cell_functions(synth: Synthesized) -> None:
    sandbox, registries = synth.stack.sandbox, synth.stack.registries
    group = group_id(synth, registries.endpoint_security_group)
    ingress = [r["Properties"] for r in synth.of_type("AWS::EC2::SecurityGroupIngress").values()]
    into_endpoints = sorted(
        (flat(r["SourceSecurityGroupId"]), r["IpProtocol"], r["FromPort"], r["ToPort"])
        for r in ingress
        if r["GroupId"] == group
    )
    assert into_endpoints == sorted(
        [
            (flat(group_id(synth, sandbox.security_group)), "tcp", 443, 443),
            (flat(group_id(synth, sandbox.function_security_group)), "tcp", 443, 443),
        ]
    )
    props = synth.resources[synth.logical_id(registries.endpoint_security_group)]["Properties"]
    assert "SecurityGroupIngress" not in props
    # No outbound rule: the group only answers.
    assert [rule.get("CidrIp") for rule in props["SecurityGroupEgress"]] == ["255.255.255.255/32"]


def test_the_registry_endpoints_serve_this_accounts_domain_and_repositories_only(synth: Synthesized) -> None:
    registries = synth.stack.registries
    repositories = sorted(f"<{synth.logical_id(r)}.Arn>" for r in (registries.pypi, registries.npm))
    in_account = {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}
    for service in ("api", "repositories"):
        statements = {s["Sid"]: s for s in registry_endpoints(synth)[service]["PolicyDocument"]["Statement"]}
        assert set(statements) == {"Domain", "Repositories", "BearerToken"}, service
        assert sorted(flat(r) for r in as_list(statements["Repositories"]["Resource"])) == repositories
        assert flat(statements["Domain"]["Resource"]) == f"<{synth.logical_id(registries.domain)}.Arn>"
        for statement in statements.values():
            assert statement["Effect"] == "Allow"
            assert statement["Condition"]["StringEquals"].items() >= in_account.items(), (service, statement["Sid"])
    sts = {s["Sid"]: s for s in registry_endpoints(synth)["sts"]["PolicyDocument"]["Statement"]}
    assert as_list(sts["InstallRole"]["Action"]) == ["sts:AssumeRole"]
    assert flat(sts["InstallRole"]["Resource"]) == f"<{install_role_id(synth)}.Arn>"


def test_the_s3_endpoint_admits_reads_of_the_domains_asset_bucket_only(synth: Synthesized) -> None:
    (endpoint,) = [
        e["Properties"]
        for e in synth.of_type("AWS::EC2::VPCEndpoint").values()
        if flat(e["Properties"]["ServiceName"]).endswith(".s3")
    ]
    (assets,) = [s for s in endpoint["PolicyDocument"]["Statement"] if s.get("Sid") == "CodeArtifactAssets"]
    assert as_list(assets["Action"]) == ["s3:GetObject"]
    # The bucket is the one the domain names (describeDomain's s3BucketArn), not a pattern of bucket names.
    resource = flat(assets["Resource"])
    (lookup,) = [
        logical_id
        for logical_id, r in synth.of_type("Custom::AWS").items()
        if '"describeDomain"' in flat(r["Properties"]["Create"])
    ]
    assert resource == f"<{lookup}.domain.s3BucketArn>/*"


def test_the_api_starts_and_stops_repo_runs_and_manages_repository_tokens(synth: Synthesized) -> None:
    api = synth.resources[synth.logical_id(synth.stack.api.function)]
    machine = synth.logical_id(synth.stack.orchestration.state_machines["repo_optimize"])
    assert api["Properties"]["Environment"]["Variables"]["AGENTLAB_REPO_OPTIMIZE_STATE_MACHINE_ARN"] == {"Ref": machine}
    granted = grants(statements_of_role(synth.resources, role_of_function(api)))
    assert {
        ("states:StartExecution", f"<{machine}>"),
        ("states:StopExecution", EXECUTIONS),
        ("states:DescribeExecution", EXECUTIONS),
    } <= granted
    on_tokens = {action for action, resource in granted if resource == REPO_SECRETS}
    assert on_tokens == {
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:DeleteSecret",
        "secretsmanager:TagResource",
    }
    assert not [r for _, r in granted if "/repos/" in r and r != REPO_SECRETS]


def test_the_janitor_watches_and_stops_repo_runs(synth: Synthesized) -> None:
    janitor = synth.resources[synth.logical_id(synth.stack.schedules.janitor)]
    machine = synth.logical_id(synth.stack.orchestration.state_machines["repo_optimize"])
    variables = janitor["Properties"]["Environment"]["Variables"]
    assert variables["AGENTLAB_REPO_OPTIMIZE_STATE_MACHINE_ARN"] == {"Ref": machine}
    granted = grants(statements_of_role(synth.resources, role_of_function(janitor)))
    assert {
        ("states:ListExecutions", f"<{machine}>"),
        ("states:DescribeExecution", EXECUTIONS),
        ("states:StopExecution", EXECUTIONS),
    } <= granted
    assert not {a for a, r in granted if r == EXECUTIONS} - {"states:DescribeExecution", "states:StopExecution"}


def test_local_repositories_are_never_allowed_in_aws(synth: Synthesized) -> None:
    assert "AGENTLAB_ALLOW_LOCAL_REPOS" not in json.dumps(synth.template)
    assert "ALLOW_LOCAL_REPOS" not in json.dumps(synth.template).upper()
