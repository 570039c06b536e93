"""The HTTPS API: an HTTP API in front of the API function (SnapStart, through its alias), throttled, logged."""

from __future__ import annotations

from dataclasses import dataclass

import jsii
from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from agentlab_cdk.config import API_MEMORY_MB, API_TIMEOUT, LOG_RETENTION
from agentlab_cdk.functions import LambdaFunctions
from agentlab_cdk.grants import grant_named_secrets, grant_objects, grant_table
from agentlab_cdk.nag import acknowledge, arn, ref
from agentlab_cdk.orchestration import ORG_OBJECTS, REPO_SECRETS

LIVE_ALIAS = "live"
COGNITO_ADMIN_ACTIONS = (
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminSetUserPassword",
    "cognito-idp:AdminAddUserToGroup",
    "cognito-idp:AdminRemoveUserFromGroup",
    "cognito-idp:AdminDeleteUser",
    "cognito-idp:AdminGetUser",
    "cognito-idp:AdminUserGlobalSignOut",
    "cognito-idp:AdminUpdateUserAttributes",
    "cognito-idp:ListUsers",
    "cognito-idp:InitiateAuth",
)
CORS_HEADERS = ["authorization", "content-type", "idempotency-key", "x-request-id"]
EXPOSED_HEADERS = ["x-request-id", "retry-after"]
# Connect a repository (its token stored, tagged with its org), replace its token, disconnect it.
REPO_SECRET_ACTIONS = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:DeleteSecret",
    "secretsmanager:TagResource",
)


@dataclass(frozen=True)
class ApiInputs:
    table: dynamodb.ITable
    bucket: s3.IBucket
    state_machine: sfn.IStateMachine
    state_machine_name: str
    repo_optimize_state_machine: sfn.IStateMachine
    repo_optimize_state_machine_name: str
    user_pool: cognito.IUserPool
    user_pool_client: cognito.IUserPoolClient
    dashboard_origin: str
    default_model_ref: str
    rate_limit: int
    burst_limit: int
    is_prod: bool


class Api(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: LambdaFunctions, inputs: ApiInputs) -> None:
        super().__init__(scope, construct_id)
        self._inputs = inputs
        self.function = self._add_function(functions)
        self.alias = lambda_.Alias(self, "LiveAlias", alias_name=LIVE_ALIAS, version=self.function.current_version)
        self.http_api = self._add_http_api()
        self.stage = self._add_stage()

    @property
    def url(self) -> str:
        """The API's base URL (routes are under /v1)."""
        return self.http_api.api_endpoint

    def _add_function(self, functions: LambdaFunctions) -> lambda_.Function:
        inputs = self._inputs
        function = functions.add(
            self,
            "api",
            description="agentlab HTTPS API",
            environment={
                "AGENTLAB_TABLE_NAME": inputs.table.table_name,
                "AGENTLAB_BUCKET_NAME": inputs.bucket.bucket_name,
                "AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN": inputs.state_machine.state_machine_arn,
                "AGENTLAB_REPO_OPTIMIZE_STATE_MACHINE_ARN": inputs.repo_optimize_state_machine.state_machine_arn,
                "AGENTLAB_COGNITO_USER_POOL_ID": inputs.user_pool.user_pool_id,
                "AGENTLAB_COGNITO_CLIENT_ID": inputs.user_pool_client.user_pool_client_id,
                "AGENTLAB_CORS_ORIGINS": inputs.dashboard_origin,
                "AGENTLAB_DEFAULT_MODEL_REF": inputs.default_model_ref,
            },
            timeout=API_TIMEOUT,
            memory_mb=API_MEMORY_MB,
            snap_start=True,
        )
        role = function.role
        assert role is not None
        grant_table(role, inputs.table, bulk=True)
        grant_objects(role, inputs.bucket, ORG_OBJECTS, delete=True, list_=True)
        # A large org export is written with its expiry tag (api/admin_routes.py); a PutObject carrying tags also needs
        # s3:PutObjectTagging.
        exports = f"{ORG_OBJECTS}*/exports/*"
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObjectTagging"], resources=[inputs.bucket.arn_for_objects(exports)])
        )
        acknowledge(
            role,
            "IAM5",
            "Exports are keyed by org and export ids made at run time.",
            f"Resource::{ref(inputs.bucket)}/{exports}",
        )
        inputs.state_machine.grant_start_execution(role)
        inputs.state_machine.grant_task_response(role)
        self._grant_stop_executions(role, inputs.state_machine_name)
        inputs.repo_optimize_state_machine.grant_start_execution(role)
        self._grant_stop_executions(role, inputs.repo_optimize_state_machine_name)
        grant_named_secrets(
            role,
            REPO_SECRETS,
            REPO_SECRET_ACTIONS,
            reason="Each repository's access token is stored when the repository is connected and named after its org "
            "and id; the grant covers the repository tokens' path only, not the stack's other secrets.",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(COGNITO_ADMIN_ACTIONS), resources=[inputs.user_pool.user_pool_arn])
        )
        return function

    def _grant_stop_executions(self, role: iam.IRole, state_machine_name: str) -> None:
        """Cancel a run (and read its execution) of one state machine."""
        executions = f"{state_machine_name}:*"
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:StopExecution", "states:DescribeExecution"],
                resources=[
                    Stack.of(self).format_arn(
                        service="states",
                        resource="execution",
                        resource_name=executions,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        acknowledge(
            role,
            "IAM5",
            "Executions are named after runs, made at run time; the grant covers executions of this state machine.",
            f"Resource::{arn(self, 'states', f'execution:{executions}')}",
        )

    def _add_http_api(self) -> apigw.HttpApi:
        inputs = self._inputs
        http_api = apigw.HttpApi(
            self,
            "HttpApi",
            description="agentlab API (routes under /v1)",
            create_default_stage=False,
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=[inputs.dashboard_origin],
                allow_methods=[apigw.CorsHttpMethod.ANY],
                allow_headers=CORS_HEADERS,
                expose_headers=EXPOSED_HEADERS,
                max_age=Duration.hours(1),
            ),
        )
        integration = integrations.HttpLambdaIntegration("ApiIntegration", self.alias)
        http_api.add_routes(path="/{proxy+}", methods=[apigw.HttpMethod.ANY], integration=integration)
        acknowledge(
            http_api,
            "APIG4",
            "The API authenticates every request itself (Cognito JWTs verified in code, hashed API keys) and answers "
            "public routes (health, OpenAPI); a route authorizer cannot accept both credentials, so routes use NONE.",
        )
        return http_api

    def _add_stage(self) -> apigw.HttpStage:
        inputs = self._inputs
        log_group = logs.LogGroup(
            self,
            "AccessLogs",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.RETAIN if inputs.is_prod else RemovalPolicy.DESTROY,
        )
        return self.http_api.add_stage(
            "DefaultStage",
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=inputs.rate_limit, burst_limit=inputs.burst_limit),
            access_log_settings=_AccessLogs(log_group),
        )


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogs:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return apigw_v1.AccessLogFormat.json_with_standard_fields(
            caller=False,
            http_method=True,
            ip=True,
            protocol=True,
            request_time=True,
            resource_path=True,
            response_length=True,
            status=True,
            user=False,
        )
