from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

Role = Literal["admin", "operator", "member", "viewer"]


class Org(BaseModel):
    id: str
    name: str
    created_at: datetime


class ApiKeyRecord(BaseModel):
    id: str
    org_id: str
    name: str
    role: Role
    prefix: str
    key_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked: bool = False
    platform_admin: bool = False


class Caller(BaseModel):
    """Who is calling: resolved once per request from the credentials, then used for every scoped read and write."""

    org_id: str
    identity: str
    role: Role
    platform_admin: bool = False
