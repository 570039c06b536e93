"""The user directory: Cognito users in one pool, one group per role. The same calls run against moto locally."""

from __future__ import annotations

import contextlib
import secrets
import string
from typing import Any

from agentlab.errors import Conflict, RateLimited, Unauthorized, Unprocessable
from agentlab.models import ROLES, Role


def generate_password(length: int = 20) -> str:
    """Meets Cognito's default policy: upper, lower, digit and symbol."""
    alphabet = string.ascii_letters + string.digits
    body = [secrets.choice(alphabet) for _ in range(length - 4)]
    required = [
        secrets.choice(string.ascii_uppercase),
        secrets.choice(string.ascii_lowercase),
        secrets.choice(string.digits),
        secrets.choice("!#%+-.=?@^_"),
    ]
    chars = body + required
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def _tokens(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "access_token": result["AccessToken"],
        "id_token": result.get("IdToken"),
        "refresh_token": result.get("RefreshToken"),
        "expires_in": int(result.get("ExpiresIn", 3600)),
        "token_type": "Bearer",
    }


class Directory:
    def __init__(self, client_factory: Any, *, user_pool_id: str, client_id: str) -> None:
        self._client_factory = client_factory
        self.user_pool_id = user_pool_id
        self.client_id = client_id

    @property
    def client(self) -> Any:
        return self._client_factory()

    # sign-in --------------------------------------------------------------------------------------------------
    def login(self, email: str, password: str) -> dict[str, Any]:
        client = self.client
        try:
            response = client.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        except (client.exceptions.NotAuthorizedException, client.exceptions.UserNotFoundException) as exc:
            # One answer for a wrong password and an unknown user: nothing to learn about which addresses exist.
            raise Unauthorized("invalid email or password", code="invalid_credentials") from exc
        except client.exceptions.TooManyRequestsException as exc:
            raise RateLimited("too many sign-in attempts; wait a minute", retry_after_s=60) from exc
        if "AuthenticationResult" not in response:
            raise Unauthorized(
                f"sign-in needs a further step ({response.get('ChallengeName')}) the API does not support",
                code="challenge_required",
            )
        return _tokens(response["AuthenticationResult"])

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        client = self.client
        try:
            response = client.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        except (client.exceptions.NotAuthorizedException, client.exceptions.UserNotFoundException) as exc:
            raise Unauthorized(
                "the refresh token is invalid or expired; sign in again", code="invalid_refresh"
            ) from exc
        except Exception as exc:  # moto answers an unknown token with a KeyError-shaped server error
            if type(exc).__name__ in {"ClientError", "ResourceNotFoundException"}:
                raise Unauthorized(
                    "the refresh token is invalid or expired; sign in again", code="invalid_refresh"
                ) from exc
            raise
        return _tokens(response["AuthenticationResult"])

    # users ----------------------------------------------------------------------------------------------------
    def create_user(self, email: str, password: str, role: Role) -> str:
        """Create a confirmed user with a permanent password in the role's group; returns their subject (`sub`)."""
        client = self.client
        try:
            response = client.admin_create_user(
                UserPoolId=self.user_pool_id,
                Username=email,
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
                MessageAction="SUPPRESS",
                TemporaryPassword=generate_password(),
            )
        except client.exceptions.UsernameExistsException as exc:
            raise Conflict(f"{email} already has an account", code="member_exists") from exc
        except client.exceptions.InvalidParameterException as exc:
            raise Unprocessable(f"the user directory refused this address: {exc.response['Error']['Message']}") from exc
        try:
            client.admin_set_user_password(
                UserPoolId=self.user_pool_id, Username=email, Password=password, Permanent=True
            )
        except client.exceptions.InvalidPasswordException as exc:
            client.admin_delete_user(UserPoolId=self.user_pool_id, Username=email)
            raise Unprocessable(
                f"the password does not meet the policy: {exc.response['Error']['Message']}", code="weak_password"
            ) from exc
        client.admin_add_user_to_group(UserPoolId=self.user_pool_id, Username=email, GroupName=role)
        attributes = {a["Name"]: a["Value"] for a in response["User"].get("Attributes", [])}
        if "sub" in attributes:
            return attributes["sub"]
        user = client.admin_get_user(UserPoolId=self.user_pool_id, Username=email)
        return next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")

    def set_role(self, email: str, role: Role) -> None:
        client = self.client
        for other in ROLES:
            if other != role:
                client.admin_remove_user_from_group(UserPoolId=self.user_pool_id, Username=email, GroupName=other)
        client.admin_add_user_to_group(UserPoolId=self.user_pool_id, Username=email, GroupName=role)
        self.sign_out(email)

    def sign_out(self, email: str) -> None:
        """Revoke the user's refresh tokens, so a changed role or a removal cannot be outlived by a refresh."""
        client = self.client
        with contextlib.suppress(client.exceptions.UserNotFoundException):
            client.admin_user_global_sign_out(UserPoolId=self.user_pool_id, Username=email)

    def delete_user(self, email: str) -> None:
        client = self.client
        try:
            client.admin_user_global_sign_out(UserPoolId=self.user_pool_id, Username=email)
            client.admin_delete_user(UserPoolId=self.user_pool_id, Username=email)
        except client.exceptions.UserNotFoundException:
            pass
