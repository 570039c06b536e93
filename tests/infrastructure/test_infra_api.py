"""The Api construct: the HTTP API, its stage and route, and the API function behind its SnapStart alias."""

from __future__ import annotations

from typing import Any

from infra_helpers import Synthesized, actions_of_role, role_of_function, statements_of_role


def api_function(synth: Synthesized) -> dict[str, Any]:
    return synth.resources[synth.logical_id(synth.stack.api.function)]


def test_api_function_is_python313_on_arm64_with_snapstart_behind_an_alias(synth: Synthesized) -> None:
    function_id = synth.logical_id(synth.stack.api.function)
    props = synth.resources[function_id]["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["Layers"] == [{"Ref": synth.logical_id(synth.stack.functions.layer)}]
    alias = synth.one("AWS::Lambda::Alias")["Properties"]
    assert alias["Name"] == "live"
    assert alias["FunctionName"] == {"Ref": function_id}
    version_id = alias["FunctionVersion"]["Fn::GetAtt"][0]
    assert synth.resources[version_id]["Type"] == "AWS::Lambda::Version"


def test_api_function_is_configured_from_the_other_constructs(synth: Synthesized) -> None:
    env = api_function(synth)["Properties"]["Environment"]["Variables"]
    stack = synth.stack
    assert env["AGENTLAB_ENVIRONMENT"] == "aws"
    assert env["AGENTLAB_COGNITO_USER_POOL_ID"] == {"Ref": synth.logical_id(stack.identity.user_pool)}
    assert env["AGENTLAB_COGNITO_CLIENT_ID"] == {"Ref": synth.logical_id(stack.identity.client)}
    assert env["AGENTLAB_CORS_ORIGINS"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [synth.logical_id(stack.hosting.distribution), "DomainName"]}]]
    }
    assert env["AGENTLAB_TABLE_NAME"] == {"Ref": synth.logical_id(stack.data.table)}
    assert env["AGENTLAB_BUCKET_NAME"] == {"Ref": synth.logical_id(stack.data.bucket)}
    state_machine = stack.orchestration.state_machines["agent_run"]
    assert env["AGENTLAB_AGENT_RUN_STATE_MACHINE_ARN"] == {"Ref": synth.logical_id(state_machine)}


def test_http_api_routes_everything_to_the_alias_with_cors_for_the_dashboard(synth: Synthesized) -> None:
    api = synth.one("AWS::ApiGatewayV2::Api")["Properties"]
    assert api["ProtocolType"] == "HTTP"
    distribution = synth.logical_id(synth.stack.hosting.distribution)
    assert api["CorsConfiguration"]["AllowOrigins"] == [
        {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}]]}
    ]
    assert "authorization" in api["CorsConfiguration"]["AllowHeaders"]
    route = synth.one("AWS::ApiGatewayV2::Route")["Properties"]
    assert route["RouteKey"] == "ANY /{proxy+}"
    # The API authenticates in code (JWTs and API keys); see the cdk-nag acknowledgement on the HTTP API.
    assert route["AuthorizationType"] == "NONE"
    integration = synth.one("AWS::ApiGatewayV2::Integration")["Properties"]
    assert integration["IntegrationUri"] == {"Ref": synth.logical_id(synth.stack.api.alias)}


def test_stage_is_throttled_and_logged(synth: Synthesized) -> None:
    stage = synth.one("AWS::ApiGatewayV2::Stage")["Properties"]
    assert stage["StageName"] == "$default"
    assert stage["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50}
    destination = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert synth.resources[destination]["Type"] == "AWS::Logs::LogGroup"
    assert "$context.status" in stage["AccessLogSettings"]["Format"]


def test_api_may_administer_the_user_pool_and_start_runs(synth: Synthesized) -> None:
    role = role_of_function(api_function(synth))
    actions = actions_of_role(synth.resources, role)
    for action in (
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
        "states:StartExecution",
        "states:StopExecution",
        "states:SendTaskSuccess",
    ):
        assert action in actions, action
    cognito = [s for s in statements_of_role(synth.resources, role) if "cognito-idp:AdminCreateUser" in s["Action"]]
    pool = synth.logical_id(synth.stack.identity.user_pool)
    assert [s["Resource"] for s in cognito] == [{"Fn::GetAtt": [pool, "Arn"]}]
    # The API never talks to a model.
    assert not any(a.startswith("bedrock:") for a in actions)
