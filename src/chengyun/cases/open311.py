"""Open311 GeoReport v2 at /open311/v2 (公众诉求接口). PUBLIC: every route here answers without a login.

Citizens and third-party apps list the services (our leaf categories: ``service_code`` is the category code,
``group`` its parent's name), post a request (form-encoded, as the specification says) and follow requests, in
JSON or XML. Because these routes do not use ``scoped()``, each one works on an unscoped session and filters by
the jurisdiction itself: by default the one top-most unit (the city), or the unit named by ``jurisdiction_id``
and everything below it.

Personal data: a request's phone or e-mail is kept only as a keyed hash and a mask, names are not kept at all,
and no GET answer carries any contact field. Requests that came in by another channel (a hotline call, a grid
inspector, a device) are listed with their service, status, place and times, but without their description or
media, which may hold what a caller said in confidence. Posting is rate-limited per client address; ``api_key``
is accepted and not required (nor are ``device_id`` and ``account_id`` kept).

Status: ``open`` while a case is being handled (受理 … 挂起), ``closed`` once it is resolved, followed up, closed or
cancelled (办结, 回访, 结案, 作废). Errors are Open311 error lists (``[{"code", "description"}]``) with the same
HTTP status: 400 for bad input, 404 for an unknown jurisdiction, service or request, 429 when posting too often.
"""

from __future__ import annotations

import functools
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ParamSpec
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Query, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.accounts.access import Throttle
from chengyun.api.deps import SessionDep, client_of
from chengyun.cases import lifecycle, service
from chengyun.cases.models import Case
from chengyun.cases.schemas import (
    Open311Created,
    Open311Request,
    Open311RequestCreate,
    Open311Service,
    Open311ServiceDefinition,
)
from chengyun.cases.service import CaseDesk
from chengyun.cases.views import DeskDep
from chengyun.core.db import utcnow
from chengyun.core.errors import ChengyunError, InvalidInput, NotFound, TooManyRequests
from chengyun.tenancy.models import AdminUnit, Department
from chengyun.tenancy.service import subtree

open311_router = APIRouter(prefix="/open311/v2", tags=["open311"])

MEDIA = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
WINDOW = timedelta(days=90)  # the longest span of one GET requests, and its default
MAX_REQUESTS = 1000
INTAKE_LIMIT, INTAKE_WINDOW = 30, 300.0  # new requests per client address in five minutes
ACTOR = "open311:public"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_OFFSET_AS_SPACE = re.compile(r"(T[\d:.]+) (\d\d:?\d\d)$")  # '+08:00' sent unencoded in a query string

Fmt = Annotated[str, Path(description="json or xml")]
Jurisdiction = Annotated[str | None, Query(description="a unit id; default: the top-most unit (the city)")]
FormField = Annotated[str | None, Form()]
P = ParamSpec("P")
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/xml": {}}},
    400: {"description": "Open311 error list: the input is wrong"},
    404: {"description": "Open311 error list: no such jurisdiction, service or request"},
}


# ---- rendering --------------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_ILLEGAL.sub("\ufffd", str(value))


def _fill(element: ET.Element, row: dict[str, Any]) -> None:
    for key, value in row.items():
        child = ET.SubElement(element, key)
        if isinstance(value, list):  # attributes → attribute, values → value
            for item in value:
                _fill(ET.SubElement(child, key.removesuffix("s")), item)
        elif value is not None:
            child.text = _text(value)


def render(fmt: str, root: str, item: str | None, rows: list[dict[str, Any]], status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    """JSON (a list, or one object when ``item`` is None) or XML (``<root><item>…</item></root>``)."""
    if fmt == "xml":
        top = ET.Element(root)
        for row in rows:
            _fill(top if item is None else ET.SubElement(top, item), row)
        body = XML_DECLARATION + ET.tostring(top, encoding="utf-8")
    else:
        body = json.dumps(rows[0] if item is None else rows, ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type=MEDIA.get(fmt, MEDIA["json"]), headers=headers)


def error_response(fmt: str, exc: ChengyunError) -> Response:
    """An Open311 error list; our 422 (invalid input) is the specification's 400."""
    code = 400 if exc.status == 422 else exc.status
    text = exc.message + (f" ({'; '.join(exc.details)})" if exc.details else "")
    text += f" — {exc.fix}" if exc.fix else ""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
    return render(fmt, "errors", "error", [{"code": code, "description": text}], status=code, headers=headers)


def open311(view: Callable[P, Response]) -> Callable[P, Response]:
    """Answer a route's errors as Open311 error lists in the requested format (rolling back what it wrote)."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        fmt = str(kwargs.get("fmt"))
        if fmt not in MEDIA:
            return error_response("json", NotFound(f"no format {fmt!r}", fix="end the path in .json or .xml"))
        try:
            return view(*args, **kwargs)
        except ChengyunError as exc:
            session = kwargs.get("session")
            if isinstance(session, Session):
                session.rollback()
            return error_response(fmt, exc)

    return wrapper


# ---- what the routes share ------------------------------------------------------------------------------------


def jurisdiction(session: Session, jurisdiction_id: str | None) -> AdminUnit:
    """The unit named, else the one top-most unit."""
    if jurisdiction_id:
        unit = session.get(AdminUnit, jurisdiction_id.strip())
        if unit is None:
            raise NotFound(f"jurisdiction_id {jurisdiction_id!r} was not found", fix="leave it out for the city")
        return unit
    roots = list(session.scalars(select(AdminUnit).where(AdminUnit.parent_id.is_(None)).order_by(AdminUnit.id)))
    if len(roots) == 1:
        return roots[0]
    if not roots:
        raise NotFound("this server has no jurisdiction yet", fix="the operator adds one: chengyun tenants add")
    raise InvalidInput("jurisdiction_id was not provided and this server serves several",
                       fix=f"send jurisdiction_id, one of: {', '.join(u.id for u in roots)}")


def services(desk: CaseDesk) -> list[Open311Service]:
    """The leaf categories as Open311 services, grouped by their parent's name."""
    parents = {c.parent for c in desk.categories.values() if c.parent}
    return [Open311Service(service_code=c.code, service_name=c.name, description=c.name_en, metadata=False,
                           type="realtime", keywords=None,
                           group=desk.categories[c.parent].name if c.parent in desk.categories else None)
            for c in desk.categories.values() if c.code not in parents]


def _service(desk: CaseDesk, code: str) -> Open311Service:
    for s in services(desk):
        if s.service_code == code:
            return s
    raise NotFound(f"service_code {code!r} was not found", fix="see GET /open311/v2/services.json")


def _iso(ts: datetime | None, tz: str) -> str | None:
    return None if ts is None else ts.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")


def _notes(case: Case) -> str:
    zh, en = lifecycle.STATUSES.get(case.status, (case.status, case.status))
    return f"{zh} {en}" + (f": duplicate of {case.duplicate_of}" if case.duplicate_of else "")


def request_of(case: Case, desk: CaseDesk, agencies: dict[str, str]) -> Open311Request:
    """What anyone may read about a case: no contact; the description and media only of Open311 reports."""
    public = case.source == "open311"
    closed = case.status not in lifecycle.OPEN
    cat = desk.categories.get(case.category or "")
    media = (case.attachments or [None])[0] if public else None
    return Open311Request(
        service_request_id=case.id, status="closed" if closed else "open", status_notes=_notes(case),
        service_name=cat.name if cat else None, service_code=case.category or "",
        description=case.description if public else None,
        agency_responsible=agencies.get(case.department_id or ""),
        service_notice=None, requested_datetime=_iso(case.created_at, desk.tz) or "",
        updated_datetime=_iso((case.closed_at or case.resolved_at) if closed else None, desk.tz)
        or _iso(case.updated_at, desk.tz),
        expected_datetime=_iso(case.due_at, desk.tz), address=case.address, address_id=None, zipcode=None,
        lat=case.lat, long=case.lon, media_url=media if isinstance(media, str) else None,
    )


def _requests(session: Session, desk: CaseDesk, cases: list[Case]) -> list[dict[str, Any]]:
    ids = {c.department_id for c in cases if c.department_id}
    rows = session.execute(select(Department.id, Department.name).where(Department.id.in_(ids)))
    agencies = {dept_id: name for dept_id, name in rows}
    return [request_of(c, desk, agencies).model_dump(mode="json") for c in cases]


def _when(value: str, name: str, tz: str) -> datetime:
    """An ISO 8601 date-time as naive UTC; without an offset it is the jurisdiction's local time."""
    try:
        ts = datetime.fromisoformat(_OFFSET_AS_SPACE.sub(r"\1+\2", value.strip()))
    except ValueError as exc:
        raise InvalidInput(f"{name}: {value!r} is not a date-time",
                           fix="use ISO 8601, e.g. 2026-01-05T08:00:00+08:00") from exc
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=ZoneInfo(tz))
    if not 2 <= ts.year <= 9998:  # room for the offset and the 90-day window either side
        raise InvalidInput(f"{name}: {value!r} is out of range", fix="give a date between 0002 and 9998")
    return ts.astimezone(UTC).replace(tzinfo=None)


def _window(start_date: str | None, end_date: str | None, tz: str) -> tuple[datetime, datetime]:
    end = _when(end_date, "end_date", tz) if end_date else None
    start = _when(start_date, "start_date", tz) if start_date else None
    if start is None:
        end = end or utcnow()
        return end - WINDOW, end
    end = end or start + WINDOW
    if end < start:
        raise InvalidInput("end_date is before start_date", fix="swap them")
    if end - start > WINDOW:
        raise InvalidInput("start_date to end_date spans more than 90 days", fix="ask for 90 days at a time")
    return start, end


def _listed(value: str | None, name: str, allowed: set[str] | None = None) -> list[str]:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    if len(items) > MAX_REQUESTS:
        raise InvalidInput(f"{name}: at most {MAX_REQUESTS} values", fix="ask in several calls")
    if allowed is not None and (wrong := [v for v in items if v not in allowed]):
        raise InvalidInput(f"{name}: {', '.join(map(repr, wrong))} is not one of {', '.join(sorted(allowed))}",
                           fix=f"send {name}={','.join(sorted(allowed))} or leave it out")
    return items


def intake_throttle(request: Request) -> Throttle:
    """The app's limiter of new requests per client address (Throttle counts attempts: here, every POST)."""
    throttle: Throttle | None = getattr(request.app.state, "open311_throttle", None)
    if throttle is None:
        throttle = request.app.state.open311_throttle = Throttle(limit=INTAKE_LIMIT, window=INTAKE_WINDOW)
    return throttle


def _dumped(items: list[BaseModel]) -> list[dict[str, Any]]:
    return [i.model_dump(mode="json") for i in items]


# ---- routes -----------------------------------------------------------------------------------------------------


@open311_router.get("/services.{fmt}", response_class=Response, responses=RESPONSES)
@open311
def open311_list_services(
    fmt: Fmt, session: SessionDep, desk: DeskDep, jurisdiction_id: Jurisdiction = None
) -> Response:
    """The services a citizen may request (GET Service List)."""
    jurisdiction(session, jurisdiction_id)
    return render(fmt, "services", "service", _dumped(list(services(desk))))


@open311_router.get("/services/{service_code}.{fmt}", response_class=Response, responses=RESPONSES)
@open311
def open311_get_service(
    service_code: str, fmt: Fmt, session: SessionDep, desk: DeskDep, jurisdiction_id: Jurisdiction = None
) -> Response:
    """A service's extra fields (GET Service Definition); none so far."""
    jurisdiction(session, jurisdiction_id)
    definition = Open311ServiceDefinition(service_code=_service(desk, service_code).service_code, attributes=[])
    return render(fmt, "service_definition", None, [definition.model_dump(mode="json")])


@open311_router.post("/requests.{fmt}", response_class=Response, responses=RESPONSES)
@open311
def open311_create_request(
    fmt: Fmt,
    request: Request,
    session: SessionDep,
    desk: DeskDep,
    jurisdiction_id: FormField = None,
    service_code: FormField = None,
    lat: FormField = None,
    long: FormField = None,
    address_string: FormField = None,
    address_id: FormField = None,
    description: FormField = None,
    email: FormField = None,
    phone: FormField = None,
    first_name: FormField = None,
    last_name: FormField = None,
    media_url: FormField = None,
    api_key: FormField = None,
    device_id: FormField = None,
    account_id: FormField = None,
) -> Response:
    """Report a problem (POST Service Request), form-encoded; no login. Returns the service_request_id."""
    throttle, client = intake_throttle(request), client_of(request)
    if wait := throttle.retry_after(client):
        raise TooManyRequests(f"too many requests from {client}", retry_after=wait, fix=f"wait {wait} s")
    throttle.fail(client)
    fields = dict(service_code=service_code, lat=lat, long=long, address_string=address_string,
                  address_id=address_id, description=description, email=email, phone=phone,
                  first_name=first_name, last_name=last_name, media_url=media_url)
    try:
        form = Open311RequestCreate.model_validate(fields)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg'].removeprefix('Value error, ')}"
                    for e in exc.errors()]
        raise InvalidInput("; ".join(problems), fix="see GET /open311/v2/services.json and the GeoReport v2 "
                           "specification") from exc
    unit = jurisdiction(session, jurisdiction_id or request.query_params.get("jurisdiction_id"))
    try:
        _service(desk, form.service_code)
    except NotFound as exc:  # a bad field of a submission is a 400, as the specification lists it
        raise InvalidInput(exc.message, fix=exc.fix) from exc
    session.info["actor"] = ACTOR
    case = service.create_case(session, desk, tenant_id=unit.id, channel="open311", source="open311",
                               category=form.service_code, description=form.description, lat=form.lat,
                               lon=form.long, address=form.address_string or form.address_id, contact=form.contact,
                               attachments=[form.media_url] if form.media_url else None)
    due = _iso(case.due_at, desk.tz)
    notice = "已受理 Accepted" + (f"; 预计办结 expected by {due}" if due else "")
    return render(fmt, "service_requests", "request", _dumped([Open311Created(service_request_id=case.id,
                                                                              service_notice=notice)]))


@open311_router.get("/requests.{fmt}", response_class=Response, responses=RESPONSES)
@open311
def open311_list_requests(
    fmt: Fmt,
    session: SessionDep,
    desk: DeskDep,
    jurisdiction_id: Jurisdiction = None,
    service_request_id: Annotated[str | None, Query(description="ids, comma separated; overrides all")] = None,
    service_code: Annotated[str | None, Query(description="service codes, comma separated")] = None,
    start_date: Annotated[str | None, Query(description="ISO 8601; default 90 days before end_date")] = None,
    end_date: Annotated[str | None, Query(description="ISO 8601; default now")] = None,
    status: Annotated[str | None, Query(description="open, closed or open,closed")] = None,
) -> Response:
    """Requests of the jurisdiction, newest first (GET Service Requests): at most 90 days and 1000 requests."""
    unit = jurisdiction(session, jurisdiction_id)
    units = [u.id for u in subtree(session=session, unit_id=unit.id)]
    stmt = select(Case).where(Case.tenant_id.in_(units), Case.category.is_not(None))
    if ids := _listed(service_request_id, "service_request_id"):
        stmt = stmt.where(Case.id.in_(ids))
    else:
        if codes := _listed(service_code, "service_code"):
            stmt = stmt.where(Case.category.in_(codes))
        wanted = set(_listed(status, "status", {"open", "closed"}))
        if len(wanted) == 1:
            is_open = Case.status.in_(lifecycle.OPEN)
            stmt = stmt.where(is_open if "open" in wanted else ~is_open)
        start, end = _window(start_date, end_date, desk.tz)
        stmt = stmt.where(Case.created_at >= start, Case.created_at <= end)
    cases = list(session.scalars(stmt.order_by(Case.created_at.desc(), Case.id.desc()).limit(MAX_REQUESTS)))
    return render(fmt, "service_requests", "request", _requests(session, desk, cases))


@open311_router.get("/requests/{service_request_id}.{fmt}", response_class=Response, responses=RESPONSES)
@open311
def open311_get_request(
    service_request_id: str, fmt: Fmt, session: SessionDep, desk: DeskDep, jurisdiction_id: Jurisdiction = None
) -> Response:
    """One request (GET Service Request), as a list of one."""
    unit = jurisdiction(session, jurisdiction_id)
    case = session.get(Case, service_request_id)
    if case is None or case.category is None or case.tenant_id not in {u.id for u in subtree(session=session,
                                                                                               unit_id=unit.id)}:
        raise NotFound(f"service_request_id {service_request_id!r} was not found",
                       fix="check the id the POST returned, and the jurisdiction_id")
    return render(fmt, "service_requests", "request", _requests(session, desk, [case]))
