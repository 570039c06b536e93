"""The local stack's user pool: moto's Cognito, created like the CDK stack creates it, and kept across restarts.

moto keeps users in memory only, so the pool's users (with their subjects, passwords and groups) are written to
`<data dir>/users.json` (mode 0600, beside the admin key) and created again on start. Pool and client ids are stable
across restarts (moto's HASH id strategy), so the settings and the dashboard's config stay valid.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from agentlab.identity.policy import cognito_password_policy
from agentlab.models import ROLES

POOL_NAME = "agentlab-local"
CLIENT_NAME = "agentlab-dashboard"
ID_STRATEGY_ENV = {
    "MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY": "HASH",
    "MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY": "HASH",
}


def ensure_user_pool(cognito: Any) -> tuple[str, str]:
    """The pool, its app client and one group per role; returns (pool id, client id)."""
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    pool_id = next((p["Id"] for p in pools if p["Name"] == POOL_NAME), None)
    if pool_id is None:
        pool_id = cognito.create_user_pool(
            PoolName=POOL_NAME,
            UsernameAttributes=["email"],
            AutoVerifiedAttributes=["email"],
            Policies={"PasswordPolicy": cognito_password_policy()},
        )["UserPool"]["Id"]
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = next((c["ClientId"] for c in clients if c["ClientName"] == CLIENT_NAME), None)
    if client_id is None:
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=CLIENT_NAME,
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
    groups = {g["GroupName"] for g in cognito.list_groups(UserPoolId=pool_id)["Groups"]}
    for role in ROLES:
        if role not in groups:
            cognito.create_group(UserPoolId=pool_id, GroupName=role, Description=f"agentlab {role}s")
    return pool_id, client_id


def _pool(region: str, account_id: str, pool_id: str) -> Any:
    from moto.cognitoidp.models import cognitoidp_backends

    return cognitoidp_backends[account_id][region].user_pools[pool_id]


def save_users(path: Path, *, region: str, account_id: str, pool_id: str) -> None:
    pool = _pool(region, account_id, pool_id)
    users = [
        {
            "username": user.username,
            "sub": user.id,
            "password": user.password,
            "status": user.status,
            "enabled": user.enabled,
            "attributes": [a for a in user.attributes if a["Name"] != "sub"],
            "groups": sorted(group.group_name for group in user.groups),
        }
        for user in list(pool.users.values())
    ]
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as handle:
        json.dump(users, handle)
    os.replace(temporary, path)


def restore_users(path: Path, cognito: Any, *, region: str, account_id: str, pool_id: str) -> int:
    if not path.exists():
        return 0
    pool = _pool(region, account_id, pool_id)
    count = 0
    for saved in json.loads(path.read_text()):
        email = next(a["Value"] for a in saved["attributes"] if a["Name"] == "email")
        if pool._get_user(email) is not None:
            continue
        cognito.admin_create_user(
            UserPoolId=pool_id, Username=email, UserAttributes=saved["attributes"], MessageAction="SUPPRESS"
        )
        user = pool._get_user(email)
        # The member items refer to the subject, so it must survive the restart (users are keyed by it here).
        named_by_sub = user.username == user.id
        pool.users.pop(user.username)
        user.id = saved["sub"]
        if named_by_sub:
            user.username = saved["sub"]
        user.update_attributes([{"Name": "sub", "Value": saved["sub"]}])
        user.password, user.status, user.enabled = saved["password"], saved["status"], saved["enabled"]
        pool.users[user.username] = user
        for group in saved["groups"]:
            cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)
        count += 1
    return count
