"""The Identity construct: a user pool nobody signs up to by themselves, a public client, one group per role."""

from __future__ import annotations

from typing import Any

from infra_helpers import Synthesized


def test_user_pool_is_invite_only_with_a_strong_password_policy(template: Any) -> None:
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "Policies": {
                "PasswordPolicy": {
                    "MinimumLength": 12,
                    "RequireLowercase": True,
                    "RequireUppercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": True,
                }
            },
            "UsernameAttributes": ["email"],
        },
    )


def test_app_client_has_no_secret_and_password_and_refresh_flows_only(synth: Synthesized) -> None:
    client = synth.one("AWS::Cognito::UserPoolClient")["Properties"]
    assert client["GenerateSecret"] is False
    assert sorted(client["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"]
    assert "AllowedOAuthFlows" not in client


def test_one_group_per_role(synth: Synthesized) -> None:
    groups = synth.of_type("AWS::Cognito::UserPoolGroup").values()
    assert sorted(g["Properties"]["GroupName"] for g in groups) == ["admin", "member", "operator", "viewer"]
