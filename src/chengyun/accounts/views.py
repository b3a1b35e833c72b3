"""REST API of logins, tokens, users and the audit trail under /api/v1."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.accounts import audit, service
from chengyun.accounts.access import Principal, password_login
from chengyun.accounts.models import Grant, Token, User
from chengyun.accounts.policy import PERMISSIONS
from chengyun.accounts.schemas import (
    AccessToken,
    AuditRead,
    AuditVerification,
    GrantCreate,
    GrantRead,
    Me,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserCreated,
    UserRead,
)
from chengyun.api.deps import PrincipalDep, SessionDep, SettingsDep, client_of, principal_of, scoped
from chengyun.api.pagination import Page, PageDep
from chengyun.core.db import utcnow
from chengyun.core.errors import NotFound
from chengyun.core.scoping import unscoped
from chengyun.core.types import naive_utc

auth_router = APIRouter(prefix="/api/v1", tags=["accounts 账号"])
users_router = APIRouter(prefix="/api/v1", tags=["accounts 账号"])
audit_router = APIRouter(prefix="/api/v1", tags=["audit 审计"])

UserName = Annotated[str, Path(description="user name", min_length=2, max_length=64)]
TokenId = Annotated[str, Path(description="token id (the part after 'cy_')", max_length=32)]


def user_read(user: User, grants: list[Grant]) -> UserRead:
    now = utcnow()
    return UserRead(
        name=user.name, display_name=user.display_name, disabled=user.disabled,
        locked=user.locked_until is not None and user.locked_until > now, created_at=user.created_at,
        last_login_at=user.last_login_at, grants=[GrantRead(role=g.role, unit=g.unit_id) for g in grants],  # type: ignore[arg-type]
    )


# ---- auth ---------------------------------------------------------------------------------------------------


@auth_router.post("/auth/token")
def login_for_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
) -> AccessToken:
    """OAuth2 password flow: a user name and password (form fields) for a bearer token."""
    result = password_login(session, settings, request.app.state.throttle, client=client_of(request),
                            name=username, password=password, kind="access", key=request.app.state.secret)
    if isinstance(result, Exception):
        session.commit()  # keep the audit entry
        raise result
    _user, _row, token = result
    return AccessToken(access_token=token, expires_in=int(settings.access_token_hours * 3600))


@auth_router.get("/auth/me")
def who_am_i(principal: PrincipalDep) -> Me:
    """The caller, its grants and the permissions it holds on at least one unit."""
    return Me(name=principal.name, display_name=principal.display_name,
              grants=[GrantRead(role=r, unit=u) for r, u in principal.grants],  # type: ignore[arg-type]
              permissions=sorted(p for p in PERMISSIONS if principal.can(p)), via=principal.via)  # type: ignore[arg-type]


@auth_router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(principal: PrincipalDep, session: SessionDep) -> Response:
    """Revoke the token or session the request was made with."""
    session.info["actor"] = principal.name
    service.revoke_token(session, principal.token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- own tokens ---------------------------------------------------------------------------------------------


def _own_token(session: Session, principal: Principal, token_id: str) -> Token:
    row = session.get(Token, token_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFound(f"you have no token {token_id!r}", fix="see GET /api/v1/tokens")
    return row


@auth_router.get("/tokens")
def list_my_tokens(principal: PrincipalDep, session: SessionDep) -> list[TokenRead]:
    """The caller's own tokens and sessions, newest first (never the secrets)."""
    rows = session.scalars(select(Token).where(Token.user_id == principal.user_id).order_by(Token.created_at.desc()))
    return [TokenRead.model_validate(t, from_attributes=True) for t in rows]


@auth_router.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_my_token(body: TokenCreate, principal: PrincipalDep, session: SessionDep,
                    settings: SettingsDep) -> TokenCreated:
    """A machine API token for the caller, lasting at most CHENGYUN_TOKEN_MAX_DAYS (shown only in this answer)."""
    session.info["actor"] = principal.name
    days = body.expires_days if "expires_days" in body.model_fields_set else settings.token_max_days
    row, token = service.create_api_token(session, name=principal.name, expires_days=days, label=body.name,
                                          max_days=settings.token_max_days)
    return TokenCreated(id=row.id, token=token, expires_at=row.expires_at)


@auth_router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_my_token(token_id: TokenId, principal: PrincipalDep, session: SessionDep) -> Response:
    """Revoke one of the caller's tokens."""
    session.info["actor"] = principal.name
    _own_token(session, principal, token_id)
    service.revoke_token(session, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- users (administrators) ---------------------------------------------------------------------------------

UsersRead = Annotated[Session, scoped("users.read")]
UsersManage = Annotated[Session, scoped("users.manage")]


@users_router.get("/users")
def list_users(session: UsersRead, page: PageDep) -> Page[UserRead]:
    """Users holding a grant in the caller's units, by name (the read is audited: it is personal data)."""
    rows = service.list_users(session)
    audit.record(session, "users.read", target_type="user", detail={"count": len(rows)})
    items = [user_read(u, g) for u, g in rows[page.offset : page.offset + page.limit]]
    return Page[UserRead](items=items, total=len(rows), limit=page.limit, offset=page.offset)


@users_router.get("/users/{name}")
def get_user(name: UserName, session: UsersRead) -> UserRead:
    """One user and its grants (audited)."""
    user = service.get_user(session, name)
    audit.record(session, "users.read", target_type="user", target_id=name)
    return user_read(user, service.grants_of(session, user.id))


@users_router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: UsersManage) -> UserCreated:
    """A new user with a first grant inside the caller's units."""
    principal_of(session).require("users.manage", body.unit)
    user, generated = service.add_user(session, name=body.name, role=body.role, unit_id=body.unit,
                                       password=body.password, display_name=body.display_name)
    return UserCreated(user=user_read(user, service.grants_of(session, user.id)), password=generated)


def _require_over_all_grants(session: Session, name: str) -> None:
    """Acting on a whole account (disable, reset) needs users.manage over every unit it holds a grant on, also
    those outside the caller's view: a district administrator may not disable a city administrator."""
    service.get_user(session, name)  # 404 outside the caller's units, before anything else
    principal = principal_of(session)
    with unscoped(session):
        units = {g.unit_id for g in service.grants_of(session, service.get_user(session, name).id)}
    for unit in sorted(units):
        principal.require("users.manage", unit)


@users_router.post("/users/{name}/disable")
def disable_user(name: UserName, session: UsersManage) -> UserRead:
    """Disable a user and revoke its sessions and tokens (needs users.manage over all of its grants)."""
    _require_over_all_grants(session, name)
    user = service.disable_user(session, name)
    return user_read(user, service.grants_of(session, user.id))


@users_router.post("/users/{name}/grants", status_code=status.HTTP_201_CREATED)
def grant_role(name: UserName, body: GrantCreate, session: UsersManage) -> UserRead:
    """Give a user a role on a unit inside the caller's units."""
    principal_of(session).require("users.manage", body.unit)
    service.get_user(session, name)  # 404 outside the caller's units, before anything is written
    service.grant(session, name=name, role=body.role, unit_id=body.unit)
    user = service.get_user(session, name)
    return user_read(user, service.grants_of(session, user.id))


@users_router.delete("/users/{name}/grants", status_code=status.HTTP_204_NO_CONTENT)
def revoke_role(
    name: UserName,
    session: UsersManage,
    role: Annotated[str, Query(max_length=16)],
    unit: Annotated[str, Query(max_length=64)],
) -> Response:
    """Take a role on a unit away from a user."""
    principal_of(session).require("users.manage", unit)
    service.revoke_grant(session, name=name, role=role, unit_id=unit)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- audit --------------------------------------------------------------------------------------------------

AuditSession = Annotated[Session, scoped("audit.read")]


@audit_router.get("/audit")
def list_audit(
    session: AuditSession,
    page: PageDep,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100, description="exact, or a prefix ending in *")] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    target_type: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="UTC, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="UTC, exclusive")] = None,
) -> Page[AuditRead]:
    """Audit entries in the caller's units, newest first."""
    items, total = audit.list_entries(session, actor=actor, action=action, tenant=tenant, target_type=target_type,
                                      target_id=target_id, since=naive_utc(since, "since"), until=naive_utc(until, "until"),
                                      limit=page.limit, offset=page.offset)
    return Page[AuditRead](items=[AuditRead.model_validate(e, from_attributes=True) for e in items], total=total,
                           limit=page.limit, offset=page.offset)


@audit_router.get("/audit/verify")
def verify_audit(session: AuditSession) -> AuditVerification:
    """Recompute the whole hash chain (all units: a chain cannot be checked in part)."""
    with unscoped(session):
        return AuditVerification(**audit.verify(session).to_dict())
