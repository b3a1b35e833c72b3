"""Request dependencies: settings, the caller (``PrincipalDep``) and sessions scoped to the caller's units.

Every route that touches the state DB declares what it needs with ``scoped("permission")``: the caller must hold
the permission somewhere, and the session it gets sees only the units where it holds it (``core/scoping.py``).
A write through such a session that did not record its own audit entry gets a generic one.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from chengyun.accounts import audit
from chengyun.accounts.access import Principal, csrf_ok, principal_for, require_login
from chengyun.accounts.service import resolve_token
from chengyun.core.db import transaction
from chengyun.core.errors import Forbidden
from chengyun.core.settings import Settings

SESSION_COOKIE = "cy_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def _factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] | None = getattr(request.app.state, "session_factory", None)
    if factory is None:  # the lifespan did not run (a TestClient used without ``with``)
        raise RuntimeError("the app has not started: run it under uvicorn, or use `with TestClient(app)`")
    return factory


def client_of(request: Request) -> str:
    """The caller's address: the connection's, or what a proxy named in CHENGYUN_FORWARDED_ALLOW_IPS says it is
    (the app's own middleware decides; `chengyun serve` turns uvicorn's proxy-header handling off)."""
    return request.client.host if request.client else "unknown"


def request_context(request: Request) -> dict[str, Any]:
    """What the audit trail records about where a request came from."""
    return {"client": client_of(request), "request_id": getattr(request.state, "request_id", None)}


def get_session(request: Request) -> Iterator[Session]:
    """An unscoped session (public routes only): commits when the view returns, rolls back when it raises."""
    with transaction(_factory(request)) as session:
        # a public request is nobody in particular until a view says who (never the server's own login name)
        session.info.update(request_context(request), actor="anonymous")
        yield session


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _authenticate(request: Request, token: str, via: str) -> Principal | None:
    kinds = ("session",) if via == "session" else ("access", "api")
    with transaction(_factory(request)) as session:
        found = resolve_token(session, token, kinds=kinds)
        if found is None:
            return None
        return principal_for(session, found[1], found[0], via=via, secret=request.app.state.secret)


# Declares the bearer scheme in the OpenAPI document (Swagger's Authorize button); the check itself is below.
_BEARER_DOC = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def optional_principal(
    request: Request, _documented: Annotated[str | None, Security(_BEARER_DOC)] = None
) -> Principal | None:
    """The caller if it sent valid credentials (bearer token, else the console's session cookie), else None."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    token, via = _bearer(request), "bearer"
    if token is None:
        token, via = request.cookies.get(SESSION_COOKIE), "session"
    principal = await run_in_threadpool(_authenticate, request, token, via) if token else None
    if principal is not None and via == "session" and request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER)
        if given is None and "form" in request.headers.get("content-type", ""):
            given = str((await request.form()).get("csrf") or "") or None
        if not csrf_ok(principal.csrf, given):
            raise Forbidden("the form's CSRF token is missing or wrong",
                            fix="reload the page and submit the form again")
    request.state.principal = principal
    return principal


async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    """The caller; 401 (or the login page, in the console) without valid credentials."""
    if principal is None:
        raise require_login()
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
# scope="function": the commit happens before the response is sent, so a failed commit is an error response.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def finish(session: Session) -> None:
    """Commit a request's work: a write that recorded no audit entry of its own gets a generic one first.

    Called in the view's own thread as soon as it returns (``commit_in_view``), and again, harmlessly, when the
    dependency closes. Committing before the response is serialised matters: serialising a sync view's answer
    waits for a free worker thread, and a transaction held across that wait keeps its connection and write lock
    (SQLite's, or the audit head's row lock) while every thread may be waiting for them.
    """
    write = session.info.pop("write", None)
    if write is not None and not session.info.get("audited"):
        method, path, params = write
        audit.record(session, f"{method} {path}", detail={"path_params": params})
    session.commit()


def scoped(permission: str) -> Any:
    """A dependency giving a session that sees only the caller's units for ``permission`` (403 if none)."""

    def scoped_session(request: Request, principal: PrincipalDep) -> Iterator[Session]:
        principal.require(permission)
        with transaction(_factory(request)) as session:
            session.info.update(request_context(request), scope=principal.scope(permission), actor=principal.name,
                                principal=principal, permission=permission)
            if request.method not in SAFE_METHODS:
                route = request.scope.get("route")
                session.info["write"] = (request.method, getattr(route, "path", request.url.path),
                                         dict(request.path_params))
            yield session
            finish(session)

    # read by the route-coverage test: every route names its permission
    scoped_session.__permission__ = permission  # type: ignore[attr-defined]
    return Depends(scoped_session, scope="function")


def commit_in_view(route: APIRoute) -> None:
    """Make a sync view commit its sessions in its own thread, before FastAPI serialises the answer."""
    call = route.dependant.call
    if call is None or inspect.iscoroutinefunction(call):
        return

    @functools.wraps(call)
    def committed(*args: Any, **kwargs: Any) -> Any:
        result = call(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session):
                finish(value)
        return result

    route.dependant.call = committed


def principal_of(session: Session) -> Principal:
    """The caller a scoped session was opened for."""
    principal: Principal = session.info["principal"]
    return principal
