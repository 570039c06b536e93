from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from agentlab.identity.policy import DESCRIPTION as PASSWORD_DESCRIPTION
from agentlab.identity.policy import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, policy_problems
from agentlab.models.common import Rfc3339Time, StrictInput, utc_now

Role = Literal["admin", "operator", "member", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "operator", "member", "viewer")
AuditOutcome = Literal["success", "denied", "failed"]
# Org names, key names: printable, no control characters.
_NAME_PATTERN = r"^[^\x00-\x1f\x7f]{1,100}$"


class OrgQuotas(StrictInput):
    """Per-org limits; a missing value means the platform default (ApiSettings)."""

    runs_per_day: int | None = Field(default=None, ge=0, le=10_000_000)
    tokens_per_month: int | None = Field(default=None, ge=0, le=10**13)


class Org(BaseModel):
    id: str
    name: str
    created_at: datetime
    quotas: OrgQuotas = Field(default_factory=OrgQuotas)


class OrgCreate(StrictInput):
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


class ApiKeyCreate(StrictInput):
    name: str = Field(min_length=1, max_length=100, pattern=_NAME_PATTERN)
    role: Role
    expires_at: Rfc3339Time | None = Field(default=None, description="when the key stops working; in the future")

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
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


# An address the user directory takes as a user name: ASCII, a local part that starts with a letter, digit or `_`,
# dot-separated domain labels and a top-level domain of letters. Stricter than RFC 5321 on purpose: an address the
# directory would refuse is refused here, where the document can say so.
EMAIL_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._%+-]*@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"


class MemberCreate(StrictInput):
    email: str = Field(min_length=6, max_length=254, pattern=EMAIL_PATTERN)
    role: Role
    # When omitted the server generates one and returns it once.
    password: str | None = Field(
        default=None,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description=f"{PASSWORD_DESCRIPTION}; when left out, one is generated and returned once",
    )

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("password")
    @classmethod
    def _meets_the_policy(cls, value: str | None) -> str | None:
        problems = policy_problems(value) if value is not None else []
        if problems:
            raise ValueError(f"the password needs {', '.join(problems)}")
        return value


class MemberCreated(MemberView):
    password: str | None = None


class MemberUpdate(StrictInput):
    role: Role


class Login(StrictInput):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class Refresh(StrictInput):
    refresh_token: str = Field(min_length=1, max_length=8_192)


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
    outcome: AuditOutcome
    request_id: str
    source_ip: str | None = None
