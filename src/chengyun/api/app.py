"""The app factory: routers, static files, security headers, request ids and the one error handler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chengyun import __version__
from chengyun.accounts.access import LoginThrottle
from chengyun.accounts.views import audit_router, auth_router, users_router
from chengyun.api.deps import SESSION_COOKIE, commit_in_view
from chengyun.api.docs import DOCS_ASSETS, add_docs
from chengyun.api.limits import BodyLimit
from chengyun.assets.alarm_views import router as alarms_router
from chengyun.assets.alarms import alarm_listener
from chengyun.assets.views import router as assets_router
from chengyun.cases.open311 import open311_router
from chengyun.cases.views import router as cases_router
from chengyun.catalog.sharing_views import router as sharing_router
from chengyun.catalog.views import router as datasets_router
from chengyun.core.db import get_engine, is_busy, migrate, retrying
from chengyun.core.errors import (
    Busy,
    ChengyunError,
    Conflict,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from chengyun.core.logging import request_id_var
from chengyun.core.settings import Settings, get_settings
from chengyun.indicators.views import router as indicators_router
from chengyun.ingest.hub import IngestHub
from chengyun.ingest.views import router as ingest_router
from chengyun.tenancy.views import router as tenancy_router
from chengyun.web.alarms import router as alarms_pages_router
from chengyun.web.assets import router as assets_pages_router
from chengyun.web.cases import router as cases_pages_router
from chengyun.web.datasets import router as datasets_pages_router
from chengyun.web.pages import error_page
from chengyun.web.pages import router as pages_router
from chengyun.web.sharing import router as sharing_pages_router

log = logging.getLogger("chengyun.api")
access_log = logging.getLogger("chengyun.access")

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
API_DOCS = "/api/v1/docs"
REQUEST_ID = "X-Request-ID"
_RID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Scripts only from our origin (ECharts is vendored, chart set-up is a static file); ECharts writes inline
# style attributes in its tooltips, hence 'unsafe-inline' for styles only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Answers to a logged-in request, and the answers that hand out credentials, are never stored by a browser or proxy.
CREDENTIAL_PATHS = frozenset({"/api/v1/auth/token", "/login"})


def _private(scope: Scope) -> bool:
    """Whether the answer belongs to one caller: the request was logged in, sent credentials, or logs in."""
    path = scope["path"]
    if path.startswith("/static/"):
        return False
    if scope["state"].get("principal") is not None or path in CREDENTIAL_PATHS:
        return True
    headers = dict(scope.get("headers") or [])
    return b"authorization" in headers or f"{SESSION_COOKIE}=".encode() in headers.get(b"cookie", b"")


class SecurityHeaders:
    """Adds a request id and security headers to every HTTP response (a view may set its own CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(REQUEST_ID.lower().encode(), b"").decode("latin-1")
        rid = incoming if _RID_RE.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                principal = scope["state"].get("principal")
                access_log.info("%s %s %s %.0f ms user=%s", scope["method"], scope["path"], message["status"],
                                (time.perf_counter() - started) * 1000, principal.name if principal else "-")
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID] = rid
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                headers.setdefault("Content-Security-Policy", CSP)  # the docs page sets its own
                if _private(scope):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            request_id_var.reset(token)


def _error(status: int, code: str, message: str, fix: str | None = None) -> ChengyunError:
    """An error of the one hierarchy for conditions raised by the web framework itself (404 routes, 405, 500)."""
    err = ChengyunError(message, fix=fix)
    err.status, err.code = status, code
    return err


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def error_response(request: Request, exc: Exception) -> Response:
    """The one error handler: a ChengyunError becomes its status with ``to_dict()`` (or the console's error page;
    a console page asked for without a login goes to the login page and comes back after it)."""
    assert isinstance(exc, ChengyunError)
    response: Response
    if _wants_html(request):
        if isinstance(exc, Unauthorized) and request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
        response = error_page(request, exc)
    else:
        response = JSONResponse(exc.to_dict(), status_code=exc.status)
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyRequests | Busy):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _stale_error(request: Request, exc: Exception) -> Response:
    """A write made from a stale read (another request changed the row in between): 409, never 500."""
    return await error_response(request, Conflict(
        "the record was changed by another request while this one was applied; nothing of this one was kept",
        fix="read it again and repeat the change if it still applies"))


async def _database_error(request: Request, exc: Exception) -> Response:
    """A database held by another writer is 503 with Retry-After; any other database error is internal."""
    if is_busy(exc):
        log.warning("state DB busy in %s %s: %s", request.method, request.url.path, exc)
        return await error_response(request, Busy("the state database is busy with another writer"))
    return await _internal_error(request, exc)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    fields = list(dict.fromkeys(_field(e["loc"]) for e in errors))
    err = InvalidInput(
        f"invalid input in {', '.join(fields)}",
        fix=f"correct the named field(s) and send the request again; the schema is at {API_DOCS}",
        details=[f"{_field(e['loc'])}: {e['msg']}" for e in errors],
    )
    return await error_response(request, err)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    err: ChengyunError
    if exc.status_code == 404:
        err = NotFound(f"no page or endpoint at {request.url.path}", fix=f"see /evaluations or {API_DOCS}")
    elif exc.status_code == 405:
        err = _error(
            405,
            "method-not-allowed",
            f"{request.method} is not allowed on {request.url.path}",
            fix=f"see {API_DOCS} for the methods of this path",
        )
    elif exc.status_code == 413:
        limit_text, _, fix = str(exc.detail).partition("; ")
        err = _error(413, "too-large", limit_text, fix=fix or None)
    else:
        err = _error(exc.status_code, "http-error", str(exc.detail))
    response = await error_response(request, err)
    response.headers.update(exc.headers or {})
    return response


async def _internal_error(request: Request, exc: Exception) -> Response:
    rid = getattr(request.state, "request_id", "?")
    log.exception(
        "unhandled error in %s %s (request %s)", request.method, request.url.path, rid, exc_info=exc
    )
    return await error_response(
        request,
        _error(
            500,
            "internal-error",
            f"internal error (request {rid})",
            fix="retry; if it persists, report it with the request id",
        ),
    )


def _operation_id(route: APIRoute) -> str:
    """Stable OpenAPI operation ids: the view function's name (list_packs, get_evaluation, …)."""
    return route.name


def _tick_once(app: FastAPI) -> None:
    from chengyun.cases.escalation import matrix_for, run_tick
    from chengyun.cases.views import case_desk_for
    from chengyun.core.db import transaction, utcnow

    settings: Settings = app.state.settings

    def tick() -> Any:
        with transaction(app.state.session_factory) as session:
            session.info["actor"] = "sla-tick"
            return run_tick(session, case_desk_for(app), now=utcnow(), matrix=matrix_for(settings))

    result = retrying(tick, what="case SLA tick")  # a case action racing the tick: the tick goes again
    log.info("case SLA tick: %s", result.to_dict())


def _sweep_once(app: FastAPI) -> None:
    from chengyun.assets.alarms import sweep_absence
    from chengyun.cases.views import case_desk_for
    from chengyun.core.db import transaction, utcnow

    def sweep() -> Any:
        with transaction(app.state.session_factory) as session:
            session.info["actor"] = "alarm-rules"
            return sweep_absence(session, utcnow(), desk=case_desk_for(app))

    changes = retrying(sweep, what="absence sweep")
    if changes.changed:
        log.info("absence sweep: %s", changes.to_dict())


async def _every(minutes: float, job: Callable[[FastAPI], None], app: FastAPI, name: str) -> None:
    """Run ``job`` every ``minutes`` while the server runs (in a worker thread); a failure is logged, not fatal."""
    while True:
        await asyncio.sleep(minutes * 60)
        try:
            await run_in_threadpool(job, app)
        except Exception:  # the next run tries again; the error is in the log with its traceback
            log.exception("%s failed", name)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The chengyun app for ``settings`` (default: from the environment); migrations run at startup."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        migrate(settings)
        app.state.session_factory = sessionmaker(bind=get_engine(settings.db_url), expire_on_commit=False)
        jobs = [asyncio.create_task(_every(minutes, job, app, name)) for minutes, job, name in (
            (settings.case_tick_minutes, _tick_once, "case SLA tick"),
            (settings.alarm_sweep_minutes, _sweep_once, "absence sweep")) if minutes > 0]
        # acknowledged readings still in a log reach the lake before the first request is answered
        await run_in_threadpool(app.state.ingest.recover_all)
        app.state.ingest.start_mqtt()
        yield
        for task in jobs:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        app.state.ingest.close()  # the lake gets what the log holds; nothing acknowledged waits for a restart

    app = FastAPI(
        title="城运 chengyun",
        version=__version__,
        lifespan=lifespan,
        description="Sustained operation and continuous evaluation of a smart city (城市长效运营与评价).",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # add_docs: the same page with local assets
        redoc_url=None,
        generate_unique_id_function=_operation_id,
    )
    add_docs(app, docs_url=API_DOCS)
    app.state.settings = settings
    app.state.secret = settings.secret()
    app.state.throttle = LoginThrottle()
    app.state.ingest = IngestHub(settings, listeners=[alarm_listener(settings)])  # alarm rules as data arrives
    app.add_middleware(BodyLimit, settings=settings)  # inside SecurityHeaders: a 413 gets the headers too
    app.add_middleware(SecurityHeaders)
    if settings.forwarded_allow_ips:  # only the named proxies may say who the client is (`serve` turns uvicorn's off)
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    app.add_exception_handler(ChengyunError, error_response)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StaleDataError, _stale_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _internal_error)
    routers = (auth_router, users_router, audit_router, indicators_router, tenancy_router, cases_router,
               open311_router, assets_router, alarms_router, ingest_router, datasets_router, sharing_router,
               cases_pages_router, assets_pages_router, datasets_pages_router, sharing_pages_router,
               alarms_pages_router, pages_router)  # the console's catch-all pages last
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC, packages=[DOCS_ASSETS]), name="static")
    for route in app.routes:
        if isinstance(route, APIRoute):
            commit_in_view(route)
    ids = [r.name for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"operation ids must be unique across routers: {dupes}"
    return app
