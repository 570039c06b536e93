"""People sign in through Cognito: one user pool, one public app client, one group per role."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from agentlab.identity.policy import MIN_PASSWORD_LENGTH
from agentlab_cdk.nag import acknowledge

ROLE_GROUPS = ("admin", "operator", "member", "viewer")


class Identity(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, is_prod: bool) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = self._add_user_pool(is_prod)
        self.client = self._add_client()
        self.groups = {name: self._add_group(name) for name in ROLE_GROUPS}

    def _add_user_pool(self, is_prod: bool) -> cognito.UserPool:
        pool = cognito.UserPool(
            self,
            "UserPool",
            # Admins invite people through the API; nobody signs themselves up.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=MIN_PASSWORD_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            mfa=cognito.Mfa.OFF,
            deletion_protection=is_prod,
            removal_policy=RemovalPolicy.RETAIN if is_prod else RemovalPolicy.DESTROY,
        )
        acknowledge(
            pool,
            "COG2",
            "The API signs people in with USER_PASSWORD_AUTH and does not answer MFA challenges yet; API keys, not "
            "passwords, are the credential for programs.",
        )
        for rule in ("COG3", "COG8"):
            acknowledge(
                pool,
                rule,
                "Threat protection needs the Plus feature plan, billed per active user; the API adds its own rate "
                "limits and audit records. Enable it per deployment when the cost is wanted.",
            )
        return pool

    def _add_client(self) -> cognito.UserPoolClient:
        return self.user_pool.add_client(
            "DashboardClient",
            # A browser app and the API sign in with it; neither can keep a client secret.
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True),
            # No hosted UI: sign-in goes through the API, so no OAuth flows or callback URLs.
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            enable_token_revocation=True,
        )

    def _add_group(self, name: str) -> cognito.UserPoolGroup:
        return cognito.UserPoolGroup(
            self,
            f"{name.capitalize()}Group",
            user_pool=self.user_pool,
            group_name=name,
            description=f"agentlab role: {name}",
        )
