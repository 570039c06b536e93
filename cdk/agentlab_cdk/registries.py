"""Package registries for a repository's install phase: a CodeArtifact domain with a PyPI and an npm repository that
pull from the public registries, reached from the sandbox VPC through interface endpoints.

The sandbox keeps no internet route. Its tasks reach the repositories endpoint (and S3 for npm's package assets) and
nothing else of the registries; what lets them read is a short-lived, read-only token that the baseline step obtains
through RepoInstallRole and hands to the task for the install phase only. The endpoints' policies admit principals of
this account on this domain and its two repositories alone, so no other account's registry (a way out for data) can be
reached through them."""

from __future__ import annotations

from aws_cdk import Stack, custom_resources
from aws_cdk import aws_codeartifact as codeartifact
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from agentlab_cdk.nag import acknowledge
from agentlab_cdk.sandbox import HTTPS, Sandbox

PYPI_REPOSITORY = "pypi-store"
NPM_REPOSITORY = "npm-store"
PYPI_CONNECTION = "public:pypi"
NPM_CONNECTION = "public:npmjs"
CODEARTIFACT_SERVICE = "codeartifact.amazonaws.com"
# What a package manager needs to read through the install token: the repositories' URLs and their packages.
REPOSITORY_READ_ACTIONS = ("codeartifact:ReadFromRepository", "codeartifact:GetRepositoryEndpoint")
# CodeArtifact's tokens are STS service bearer tokens: GetAuthorizationToken needs the caller to be allowed one.
SERVICE_BEARER_ACTION = "sts:GetServiceBearerToken"
SERVICE_BEARER_CONDITION = {"StringEquals": {"sts:AWSServiceName": CODEARTIFACT_SERVICE}}
ASSET_BUCKET_FIELD = "domain.s3BucketArn"


def domain_name_of(stack: Stack) -> str:
    """A domain name is unique per account and Region and is lower case: one per stack."""
    return f"{stack.stack_name.lower()}-packages"


class PackageRegistries(Construct):
    """The CodeArtifact domain, its two repositories, their endpoints in the sandbox VPC and the install role."""

    def __init__(self, scope: Construct, construct_id: str, *, sandbox: Sandbox) -> None:
        super().__init__(scope, construct_id)
        self._sandbox = sandbox
        stack = Stack.of(self)
        self.domain_name = domain_name_of(stack)
        self.domain_owner = stack.account
        # Encrypted with CodeArtifact's AWS managed key: the stack keeps no KMS key of its own.
        self.domain = codeartifact.CfnDomain(self, "Domain", domain_name=self.domain_name)
        self.pypi = self._add_repository("PypiRepository", PYPI_REPOSITORY, PYPI_CONNECTION)
        self.npm = self._add_repository("NpmRepository", NPM_REPOSITORY, NPM_CONNECTION)
        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=sandbox.vpc,
            description="agentlab package registry endpoints: HTTPS from sandbox tasks and cell functions",
            allow_all_outbound=False,
        )
        self.api_endpoint, self.repositories_endpoint, self.sts_endpoint = self._add_endpoints()
        self._connect()
        self._allow_package_assets()
        self.install_role: iam.Role | None = None

    @property
    def repository_arns(self) -> list[str]:
        return [self.pypi.attr_arn, self.npm.attr_arn]

    @property
    def environment(self) -> dict[str, str]:
        """What the baseline step is told to mint an install token and point the package managers at."""
        values = {
            "AGENTLAB_CODEARTIFACT_DOMAIN": self.domain_name,
            "AGENTLAB_CODEARTIFACT_DOMAIN_OWNER": self.domain_owner,
            "AGENTLAB_CODEARTIFACT_PYPI_REPOSITORY": PYPI_REPOSITORY,
            "AGENTLAB_CODEARTIFACT_NPM_REPOSITORY": NPM_REPOSITORY,
            # boto3 reaches STS through the VPC's endpoint only at the Region's own STS endpoint.
            "AWS_STS_REGIONAL_ENDPOINTS": "regional",
        }
        if self.install_role is not None:
            values["AGENTLAB_REPO_INSTALL_ROLE_ARN"] = self.install_role.role_arn
        return values

    def _add_repository(self, construct_id: str, name: str, connection: str) -> codeartifact.CfnRepository:
        return codeartifact.CfnRepository(
            self,
            construct_id,
            # The domain's attribute, so the repository is made after the domain.
            domain_name=self.domain.attr_name,
            domain_owner=self.domain_owner,
            repository_name=name,
            description=f"agentlab installs for repo_optimize runs, pulled through from {connection}",
            external_connections=[connection],
        )

    # network --------------------------------------------------------------------------------------------------------
    def _add_endpoints(
        self,
    ) -> tuple[ec2.InterfaceVpcEndpoint, ec2.InterfaceVpcEndpoint, ec2.InterfaceVpcEndpoint]:
        """codeartifact.api (tokens, repository URLs), codeartifact.repositories (the packages; private DNS, so the
        repository's own hostname resolves to it) and STS (the baseline step assumes the install role from inside the
        VPC)."""
        endpoints = []
        for construct_id, service in (
            ("CodeArtifactApiEndpoint", ec2.InterfaceVpcEndpointAwsService.CODEARTIFACT_API),
            ("CodeArtifactRepositoriesEndpoint", ec2.InterfaceVpcEndpointAwsService.CODEARTIFACT_REPOSITORIES),
            ("StsEndpoint", ec2.InterfaceVpcEndpointAwsService.STS),
        ):
            endpoints.append(
                self._sandbox.vpc.add_interface_endpoint(
                    construct_id,
                    service=service,
                    subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
                    security_groups=[self.endpoint_security_group],
                    private_dns_enabled=True,
                    open=False,
                )
            )
        api, repositories, sts = endpoints
        for endpoint in (api, repositories):
            self._allow_registry_calls(endpoint)
        # The install role's own statement joins once the role exists (connect_installer).
        sts.add_to_policy(self._bearer_token_statement(sid="CodeArtifactToken"))
        return api, repositories, sts

    @property
    def _in_account(self) -> dict[str, dict[str, str]]:
        return {"StringEquals": {"aws:PrincipalAccount": Stack.of(self).account}}

    def _bearer_token_statement(self, *, sid: str) -> iam.PolicyStatement:
        conditions = {"StringEquals": {**SERVICE_BEARER_CONDITION["StringEquals"], **self._in_account["StringEquals"]}}
        return iam.PolicyStatement(
            sid=sid,
            principals=[iam.AnyPrincipal()],
            actions=[SERVICE_BEARER_ACTION],
            resources=["*"],
            conditions=conditions,
        )

    def _allow_registry_calls(self, endpoint: ec2.InterfaceVpcEndpoint) -> None:
        endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="Domain",
                principals=[iam.AnyPrincipal()],
                actions=["codeartifact:GetAuthorizationToken"],
                resources=[self.domain.attr_arn],
                conditions=self._in_account,
            )
        )
        endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="Repositories",
                principals=[iam.AnyPrincipal()],
                actions=list(REPOSITORY_READ_ACTIONS),
                resources=self.repository_arns,
                conditions=self._in_account,
            )
        )
        endpoint.add_to_policy(self._bearer_token_statement(sid="BearerToken"))

    def _connect(self) -> None:
        """HTTPS into the endpoints from the sandbox tasks (installs) and the cell functions (the baseline step's
        token); nothing else."""
        sandbox, endpoints = self._sandbox, self.endpoint_security_group
        endpoints.add_ingress_rule(sandbox.security_group, HTTPS, "package installs from sandbox tasks")
        endpoints.add_ingress_rule(sandbox.function_security_group, HTTPS, "install tokens from the cell functions")
        sandbox.security_group.add_egress_rule(endpoints, HTTPS, "package registries through their endpoints")
        sandbox.function_security_group.add_egress_rule(endpoints, HTTPS, "install tokens through the endpoints")

    def _allow_package_assets(self) -> None:
        """npm's package tarballs come from the Region's CodeArtifact asset bucket (through URLs CodeArtifact signs,
        so not as a principal of this account); the domain names its bucket, which the S3 endpoint then admits for
        reads, and no other bucket of that name pattern."""
        lookup = custom_resources.AwsCustomResource(
            self,
            "AssetBucketLookup",
            on_update=custom_resources.AwsSdkCall(
                service="CodeArtifact",
                action="describeDomain",
                parameters={"domain": self.domain.attr_name, "domainOwner": self.domain_owner},
                physical_resource_id=custom_resources.PhysicalResourceId.of(f"{self.domain_name}-asset-bucket"),
                output_paths=[ASSET_BUCKET_FIELD],
            ),
            policy=custom_resources.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["codeartifact:DescribeDomain"], resources=[self.domain.attr_arn])]
            ),
            install_latest_aws_sdk=False,
        )
        self._sandbox.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="CodeArtifactAssets",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[f"{lookup.get_response_field(ASSET_BUCKET_FIELD)}/*"],
            )
        )

    # the install role -----------------------------------------------------------------------------------------------
    def connect_installer(self, function: lambda_.Function) -> iam.Role:
        """The baseline step: it may only assume RepoInstallRole, whose rights are reading the two repositories and
        minting a CodeArtifact token; the token it hands to the sandbox therefore reads packages and nothing else."""
        if self.install_role is not None:
            raise ValueError("the install role trusts one function only")
        role = function.role
        assert role is not None
        install_role = iam.Role(
            self,
            "RepoInstallRole",
            assumed_by=iam.ArnPrincipal(role.role_arn),
            description="agentlab repo_optimize installs: read-only CodeArtifact tokens for the sandbox",
        )
        install_role.add_to_policy(
            iam.PolicyStatement(actions=list(REPOSITORY_READ_ACTIONS), resources=self.repository_arns)
        )
        install_role.add_to_policy(
            iam.PolicyStatement(actions=["codeartifact:GetAuthorizationToken"], resources=[self.domain.attr_arn])
        )
        install_role.add_to_policy(
            iam.PolicyStatement(actions=[SERVICE_BEARER_ACTION], resources=["*"], conditions=SERVICE_BEARER_CONDITION)
        )
        acknowledge(
            install_role,
            "IAM5",
            "sts:GetServiceBearerToken accepts no resource but '*'; the sts:AWSServiceName condition limits it to "
            "CodeArtifact tokens, which CodeArtifact's GetAuthorizationToken needs.",
            "Resource::*",
        )
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[install_role.role_arn]))
        self.sts_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="InstallRole",
                principals=[iam.AnyPrincipal()],
                actions=["sts:AssumeRole"],
                resources=[install_role.role_arn],
                conditions=self._in_account,
            )
        )
        self.install_role = install_role
        for name, value in self.environment.items():
            function.add_environment(name, value)
        return install_role
