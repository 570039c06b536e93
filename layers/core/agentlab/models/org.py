from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentlab.models.common import utc_now

Role = Literal["admin", "operator", "member", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "operator", "member", "viewer")
# Org names, key names: printable, no control characters.
_NAME_PATTERN = r"^[^\x00-\x1f\x7f]{1,100}$"


class OrgQuotas(BaseModel):
    """Per-org limits; a missing value means the platform default (ApiSettings)."""

    model_config = ConfigDict(extra="forbid")

    runs_per_day: int | None = Field(default=None, ge=0, le=10_000_000)
    tokens_per_month: int | None = Field(default=None, ge=0, le=10**13)


class Org(BaseModel):
    id: str
    name: str
    created_at: datetime
    quotas: OrgQuotas = Field(default_factory=OrgQuotas)


class OrgCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=_NAME_PATTERN)
    quotas: OrgQuotas = Field(default_factory=OrgQuotas)


class ApiKeyRecord(BaseModel):
    id: str
    org_id: str
    name: str
    role: Role
    prefix: str
    key_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked: bool = False
    platform_admin: bool = False


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=_NAME_PATTERN)
    role: Role
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("expires_at needs a time zone (e.g. 2030-01-01T00:00:00Z)")
        if value <= utc_now():
            raise ValueError("expires_at must be in the future")
        return value


class ApiKeyView(BaseModel):
    """What the API shows of a key: never the key or its hash."""

    id: str
    name: str
    role: Role
    prefix: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked: bool = False

    @classmethod
    def of(cls, record: ApiKeyRecord) -> ApiKeyView:
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


class ApiKeyIssued(ApiKeyView):
    """The one response that carries the key itself: on creation and on rotation."""

    key: str

    @classmethod
    def issue(cls, record: ApiKeyRecord, key: str) -> ApiKeyIssued:
        return cls(**ApiKeyView.of(record).model_dump(), key=key)


class Member(BaseModel):
    """A person in an org. They sign in through Cognito; `user_sub` is their Cognito subject."""

    id: str
    org_id: str
    email: str
    role: Role
    user_sub: str
    created_at: datetime
    updated_at: datetime


class MemberView(BaseModel):
    id: str
    email: str
    role: Role
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, member: Member) -> MemberView:
        return cls.model_validate(member.model_dump(include=set(cls.model_fields)))


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=6, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,63}$")
    role: Role
    # When omitted the server generates one and returns it once.
    password: str | None = Field(default=None, min_length=12, max_length=256)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class MemberCreated(MemberView):
    password: str | None = None


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class Caller(BaseModel):
    """Who is calling: resolved once per request from the credentials, then used for every scoped read and write."""

    org_id: str
    identity: str
    role: Role
    platform_admin: bool = False
    kind: Literal["api_key", "user"] = "api_key"
    email: str | None = None
    # The API key's or member's id, the target of 'revoke on delete' checks.
    principal_id: str | None = None


class AuditRecord(BaseModel):
    id: str
    org_id: str
    time: datetime
    actor: str
    role: Role | None = None
    action: str
    method: str
    path: str
    target: str | None = None
    status: int
    outcome: Literal["success", "denied", "failed"]
    request_id: str
    source_ip: str | None = None
