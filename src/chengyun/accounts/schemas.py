"""What the accounts and audit API takes and returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from chengyun.core.types import UtcDateTime

RoleName = Literal["admin", "supervisor", "operator", "department", "auditor", "citizen"]


class AccessToken(BaseModel):
    """The OAuth2 password flow's answer."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


class GrantRead(BaseModel):
    role: RoleName
    unit: str


class Me(BaseModel):
    """The caller: name, grants and the permissions it holds somewhere."""

    name: str
    display_name: str | None
    grants: list[GrantRead]
    permissions: list[str]
    via: Literal["session", "bearer"]


class UserRead(BaseModel):
    name: str
    display_name: str | None
    disabled: bool
    locked: bool
    created_at: UtcDateTime
    last_login_at: UtcDateTime | None
    grants: list[GrantRead]


class UserCreate(BaseModel):
    """A new user with its first grant; leave ``password`` out to get a generated one back (once)."""

    name: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
    role: RoleName
    unit: str = Field(min_length=1, max_length=64)
    password: str | None = Field(None, min_length=10, max_length=200)
    display_name: str | None = Field(None, max_length=200)


class UserCreated(BaseModel):
    user: UserRead
    password: str | None = Field(description="the generated password, shown only now; null when one was given")


class GrantCreate(BaseModel):
    role: RoleName
    unit: str = Field(min_length=1, max_length=64)


class TokenCreate(BaseModel):
    """A machine token for the caller itself."""

    name: str | None = Field(None, max_length=200, description="what the token is for")
    expires_days: int | None = Field(
        None, ge=1, le=3650,
        description="days until it expires, at most CHENGYUN_TOKEN_MAX_DAYS (default 90); left out: that maximum",
    )


class TokenRead(BaseModel):
    id: str
    kind: Literal["session", "access", "api"]
    name: str | None
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    revoked_at: UtcDateTime | None
    last_used_at: UtcDateTime | None


class TokenCreated(BaseModel):
    id: str
    token: str = Field(description="shown only now; send it as 'Authorization: Bearer <token>'")
    expires_at: UtcDateTime | None


class AuditRead(BaseModel):
    seq: int
    at: UtcDateTime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    tenant_id: str | None
    client: str | None
    request_id: str | None
    outcome: str
    detail: dict[str, Any] | None
    hash: str


class AuditVerification(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    broken_seq: int | None
    reason: str | None
