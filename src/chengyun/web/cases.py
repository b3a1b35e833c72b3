"""The case console (案件工作台): the workbench of open cases with their SLA countdown, one case with its timeline
and the actions it allows, and the live ``systems`` panel of the city overview.

Pages read with ``cases.read`` and act with ``cases.write``, through the same services and checks as the REST API
(``cases/views.py``); an action that fails is shown on the case page with the actions its status allows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.accounts.access import Principal
from chengyun.api.deps import scoped
from chengyun.cases import lifecycle, service
from chengyun.cases.models import Case
from chengyun.cases.schemas import CaseAction
from chengyun.cases.views import CaseId, DeskDep, act_on_case, acting_as_system, case_desk_for
from chengyun.core.db import utcnow
from chengyun.core.display import local_time
from chengyun.core.errors import ChengyunError, InvalidInput, NotFound
from chengyun.tenancy.models import AdminUnit, Department
from chengyun.tenancy.service import subtree
from chengyun.web.case_board import router as board_router
from chengyun.web.overview import object_panel, register_panel
from chengyun.web.pages import Lang, render

router = APIRouter(include_in_schema=False)
# the rules editor and the department ranking (/cases/rules, /cases/ranking) come before /cases/{case_id}
router.include_router(board_router)
CasesRead = Annotated[Session, scoped("cases.read")]
CasesWrite = Annotated[Session, scoped("cases.write")]
PAGE_SIZE = 25
MAP_CAP = 2000  # the workbench map draws at most this many cases, the most urgent first
DUE_SOON = timedelta(hours=4)  # 即将超时: the workbench marks cases due within this in amber
# steps of a case's history that are not lifecycle actions (the SLA tick, intake, merges)
EVENTS: dict[str, tuple[str, str]] = lifecycle.ACTIONS | {
    "accept": ("受理", "Accepted"),
    "warn": ("超时预警", "Breach warning"),
    "breach": ("超时", "Breached"),
    "response_breach": ("响应超时", "Response breached"),
    "escalate": ("督办升级", "Escalated"),
    "merge": ("合并", "Merged"),
}
PRIORITY_NAMES = {"urgent": ("特急", "Urgent"), "high": ("紧急", "High"), "normal": ("一般", "Normal"),
                  "low": ("较低", "Low")}
# a panel is given no settings: "this month" is counted in the default display time zone (Settings.timezone)
MONTH_TZ = "Asia/Shanghai"
NEEDS_REASON = frozenset({"return", "suspend", "cancel", "reopen", "extend"})


def left_text(hours: float | None, lang: str) -> str:
    """The SLA countdown in words: 剩余 3小时20分 / 超时 1天2小时 (— while the clock stands)."""
    if hours is None:
        return "—"
    minutes = round(abs(hours) * 60)
    days, rest = divmod(minutes, 1440)
    h, m = divmod(rest, 60)
    en = lang == "en"
    if days:
        span = f"{days} d {h} h" if en else f"{days}天{h}小时"
    elif h:
        span = f"{h} h {m} min" if en else f"{h}小时{m}分"
    else:
        span = f"{m} min" if en else f"{m}分"
    if hours < 0:
        return f"{span} overdue" if en else f"超时 {span}"
    return f"{span} left" if en else f"剩余 {span}"


def urgency(hours: float | None) -> str:
    """overdue (red), soon (amber, within ``DUE_SOON``), ok, or none (no running clock)."""
    if hours is None:
        return "none"
    if hours < 0:
        return "overdue"
    return "soon" if hours <= DUE_SOON / timedelta(hours=1) else "ok"



def _hours_left(case: Case, now: datetime) -> float | None:
    left = service.time_left(case, now)
    return None if left is None else left / timedelta(hours=1)


def _department_names(session: Session, ids: set[str]) -> dict[str, str]:
    """Names of the departments cases are at; a city bureau is above a district caller's scope, so read unscoped
    (only ids of cases the caller sees are asked for)."""
    if not ids:
        return {}
    with acting_as_system(session):
        rows = session.execute(select(Department.id, Department.name).where(Department.id.in_(ids))).tuples()
        return {dept_id: name for dept_id, name in rows}


# ---- the workbench (案件工作台) -----------------------------------------------------------------------------


def open_counts(session: Session, where: Any = None) -> dict[str, int]:
    """Open cases, overdue, due within ``DUE_SOON`` and waiting in triage (待分拨), optionally within ``where``."""
    now, c = utcnow(), Case
    running = c.status.in_(lifecycle.OPEN) & c.due_at.is_not(None) & (c.status != "suspended")
    stmt = select(
        func.count().filter(c.status.in_(lifecycle.OPEN)),
        func.count().filter(running & (c.due_at < now)),
        func.count().filter(running & (c.due_at >= now) & (c.due_at <= now + DUE_SOON)),
        func.count().filter((c.status == "accepted") & c.department_id.is_(None)),
    ).select_from(c)
    if where is not None:
        stmt = stmt.where(where)
    row = session.execute(stmt).one()
    return {"open": row[0] or 0, "overdue": row[1] or 0, "soon": row[2] or 0, "triage": row[3] or 0}


def _filtered(status: str, department: str, category: str, channel: str, overdue: bool) -> Select[tuple[Case]]:
    stmt = select(Case).where(Case.status.in_([status] if status in lifecycle.OPEN else lifecycle.OPEN))
    if department:
        stmt = stmt.where(Case.department_id == department)
    if category:
        stmt = stmt.where(Case.category.startswith(category, autoescape=True))
    if channel:
        stmt = stmt.where(Case.channel == channel)
    if overdue:
        stmt = stmt.where(Case.status != "suspended", Case.due_at.is_not(None), Case.due_at < utcnow())
    # the most urgent first: the earliest due time, cases without a running clock last
    return stmt.order_by(Case.due_at.is_(None), Case.due_at, Case.created_at, Case.id)


def _row(case: Case, desk: Any, names: dict[str, str], now: datetime, lang: str, tz: str) -> dict[str, Any]:
    hours = _hours_left(case, now) if case.status != "suspended" else None
    cat = desk.categories.get(case.category or "")
    return {
        "id": case.id,
        "text": (case.title or case.description or "")[:60],
        "category": case.category,
        "category_name": (cat.name_en if lang == "en" else cat.name) if cat else "",
        "channel": service.CHANNELS.get(case.channel, (case.channel, case.channel))[lang == "en"],
        "department": names.get(case.department_id or "", case.department_id or ""),
        "status": case.status,
        "status_text": lifecycle.STATUSES.get(case.status, (case.status, case.status))[lang == "en"],
        "created": local_time(case.created_at, tz),
        "due": local_time(case.due_at, tz),
        "due_iso": case.due_at.isoformat() + "Z" if case.due_at and hours is not None else "",
        "left": left_text(hours, lang),
        "urgency": urgency(hours),
    }


def case_map(session: Session, stmt: Select[tuple[Case]], total: int, desk: Any, now: datetime,
             lang: str) -> dict[str, Any]:
    """The filtered open cases that have a position, most urgent first and at most ``MAP_CAP``, for the map
    (drawn by static/js/case-charts.js), with how many were left off and how many have no position (无位置)."""
    placed = stmt.where(Case.lat.is_not(None), Case.lon.is_not(None))
    with_position = session.scalar(select(func.count()).select_from(placed.order_by(None).subquery())) or 0
    points = []
    for case in session.scalars(placed.limit(MAP_CAP)):
        hours = _hours_left(case, now) if case.status != "suspended" else None
        cat = desk.categories.get(case.category or "")
        points.append({"id": case.id, "lon": case.lon, "lat": case.lat, "category": case.category or "",
                       "name": (cat.name_en if lang == "en" else cat.name) if cat else "",
                       "left": left_text(hours, lang), "urgency": urgency(hours)})
    return {"points": points, "placed": with_position, "unplaced": total - with_position,
            "capped": with_position > MAP_CAP, "cap": MAP_CAP}


@router.get("/cases")
def workbench_page(
    request: Request,
    lang: Lang,
    session: CasesRead,
    status: Annotated[str, Query(max_length=16)] = "",
    department: Annotated[str, Query(max_length=64)] = "",
    category: Annotated[str, Query(max_length=32)] = "",
    channel: Annotated[str, Query(max_length=16)] = "",
    overdue: Annotated[bool, Query()] = False,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Open cases of the caller's units, most urgent first, with counts, filters and the SLA countdown."""
    desk, tz = case_desk_for(request.app), request.app.state.settings.timezone
    stmt = _filtered(status, department, category, channel, overdue)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    cases = list(session.scalars(stmt.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    dept_ids = set(session.scalars(select(Case.department_id).distinct().where(
        Case.status.in_(lifecycle.OPEN), Case.department_id.is_not(None))))
    names = _department_names(session, {d for d in dept_ids if d} | {c.department_id for c in cases if c.department_id})
    now = utcnow()
    filters = {"status": status, "department": department, "category": category, "channel": channel,
               "overdue": "true" if overdue else ""}
    kept = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-total // PAGE_SIZE))
    return render(
        request, "cases/workbench.html", lang, section="systems", counts=open_counts(session),
        case_map=case_map(session, stmt, total, desk, now, lang),
        rows=[_row(c, desk, names, now, lang, tz) for c in cases], total=total, page=page, pages=pages,
        filters=filters, statuses=[(s, lifecycle.STATUSES[s]) for s in lifecycle.STATUSES if s in lifecycle.OPEN],
        departments=sorted(names.items(), key=lambda kv: kv[1]), channels=service.CHANNELS,
        prev_url=f"/cases?{urlencode(kept | {'page': page - 1})}" if page > 1 else None,
        next_url=f"/cases?{urlencode(kept | {'page': page + 1})}" if page < pages else None,
        overdue_url=f"/cases?{urlencode({'overdue': 'true'})}", triage_url="/cases?status=accepted",
    )


# ---- one case (案件详情) -----------------------------------------------------------------------------------


def _dispatch_targets(session: Session, case: Case) -> list[tuple[str, str]]:
    """Departments a case may be dispatched to: of its unit, a unit above it or below it (as the API allows)."""
    units = service.reachable_units(session, case.tenant_id)
    with acting_as_system(session):
        rows = session.execute(select(Department.id, Department.name).where(
            Department.tenant_id.in_(units)).order_by(Department.name)).tuples()
        return list(rows)


def _timeline(session: Session, case: Case, lang: str, tz: str) -> list[dict[str, Any]]:
    en = lang == "en"
    events = service.history(session, case.id)
    depts = _department_names(session, {e.department_id for e in events if e.action == "dispatch" and e.department_id})
    out = []
    for ev in events:
        names = EVENTS.get(ev.action, (ev.action, ev.action))
        status = lifecycle.STATUSES.get(ev.to_status or "")
        moved = status is not None and ev.from_status is not None and ev.to_status != ev.from_status
        dept = ev.department_id if ev.action == "dispatch" else None
        out.append({"at": local_time(ev.at, tz), "actor": ev.actor, "action": ev.action, "name": names[en],
                    "to": status[en] if moved and status else "", "department": depts.get(dept, dept) if dept else None,
                    "reason": ev.reason, "detail": ev.detail or {}})
    return out


def _sla(case: Case, lang: str, tz: str, now: datetime) -> dict[str, Any]:
    hours = _hours_left(case, now) if case.paused_since is None else None
    pauses = [(local_time(datetime.fromisoformat(a), tz), local_time(datetime.fromisoformat(b), tz) if b else "")
              for a, b in (case.pauses or [])]
    return {"response_due": local_time(case.response_due_at, tz), "responded": local_time(case.responded_at, tz),
            "due": local_time(case.due_at, tz), "left": left_text(hours, lang), "urgency": urgency(hours),
            "due_iso": case.due_at.isoformat() + "Z" if case.due_at and hours is not None else "",
            "rule": case.sla_rule or "—", "pauses": pauses, "paused_since": local_time(case.paused_since, tz)
            if case.paused_since else "", "extension": case.extension or 0.0, "level": case.escalation_level,
            "breached": case.breached, "response_breached": case.response_breached}


def _case_page(request: Request, session: Session, case: Case, lang: str, error: ChengyunError | None = None,
               asked: dict[str, Any] | None = None) -> HTMLResponse:
    desk, tz, now = case_desk_for(request.app), request.app.state.settings.timezone, utcnow()
    unit_name = session.scalar(select(AdminUnit.name).where(AdminUnit.id == case.tenant_id))
    names = _department_names(session, {case.department_id} if case.department_id else set())
    me: Principal = request.state.principal
    allowed = lifecycle.allowed_actions(case.status)
    return render(
        request, "cases/case.html", lang, status_code=error.status if error else 200, section="systems",
        case=case, row=_row(case, desk, names, now, lang, tz), unit_name=unit_name or case.tenant_id,
        priority=PRIORITY_NAMES.get(case.priority, (case.priority, case.priority))[lang == "en"], sla=_sla(case, lang, tz, now), timeline=_timeline(session, case, lang, tz),
        actions=[(a, lifecycle.ACTIONS[a]) for a in allowed], needs_reason=NEEDS_REASON,
        can_act=me.can("cases.write", case.tenant_id),
        targets=_dispatch_targets(session, case) if "dispatch" in allowed else [],
        error=error, asked=asked or {}, created=local_time(case.created_at, tz),
    )


@router.get("/cases/{case_id}")
def case_page(case_id: CaseId, request: Request, lang: Lang, session: CasesRead) -> HTMLResponse:
    """One case: its fields (the contact masked), SLA clocks, timeline and action buttons; the read is audited."""
    case = service.get_case(session, case_id)
    audit.record(session, "case.read", target_type="case", target_id=case.id, tenant_id=case.tenant_id)
    return _case_page(request, session, case, lang)


def _action_of(fields: dict[str, str]) -> CaseAction:
    """The form's fields as the API's action body (empty fields are left out)."""
    given: dict[str, Any] = {k: v.strip() for k, v in fields.items() if v and v.strip()}
    if "solved" in given:
        given["solved"] = given["solved"] in ("1", "true", "yes", "on")
    try:
        return CaseAction(**given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"the form has invalid fields: {problems}", fix="correct the field and send it again") from exc


@router.post("/cases/{case_id}/actions")
def case_action_submit(
    case_id: CaseId,
    request: Request,
    lang: Lang,
    session: CasesWrite,
    desk: DeskDep,
    action: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    department: Annotated[str, Form(max_length=64)] = "",
    amount: Annotated[str, Form(max_length=20)] = "",
    solved: Annotated[str, Form(max_length=8)] = "",
    satisfaction: Annotated[str, Form(max_length=4)] = "",
) -> HTMLResponse:
    """Apply an action from the case page (the form carries the CSRF token) and go back to the case; a refused
    action is shown on the page, with the actions the case's status allows."""
    case = service.get_case(session, case_id)  # 404 outside the caller's units, before anything else
    fields = {"action": action, "reason": reason, "department": department, "amount": amount, "solved": solved,
              "satisfaction": satisfaction}
    try:
        act_on_case(case.id, _action_of(fields), session, desk)
    except ChengyunError as exc:
        if isinstance(exc, NotFound) and not exc.message.startswith("department"):
            raise
        session.rollback()  # nothing of a refused action is kept
        return _case_page(request, session, service.get_case(session, case_id), lang, exc, fields)
    return RedirectResponse(f"/cases/{case.id}#timeline", status_code=303)  # type: ignore[return-value]


# ---- the overview's systems panel (信息系统：案件实况) ---------------------------------------------------------


def live_cases(session: Session, principal: Principal, unit: AdminUnit) -> dict[str, Any] | None:
    """Open, overdue and breached-this-month cases of the unit's subtree and the departments most overdue; None
    when the caller may not read cases there or the subtree has none."""
    units = {u.id for u in subtree(session=session, unit_id=unit.id)} & principal.units("cases.read")
    inside = Case.tenant_id.in_(units)
    if not units or not session.scalar(select(func.count()).select_from(Case).where(inside)):
        return None
    now = utcnow()
    local_now = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(MONTH_TZ))
    month = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(ZoneInfo("UTC"))
    missed = Case.resolved_at.is_(None) | (Case.resolved_at > Case.due_at)
    breached = session.scalar(select(func.count()).select_from(Case).where(
        inside, Case.status != "cancelled", Case.due_at >= month.replace(tzinfo=None), Case.due_at < now, missed))
    overdue = (Case.status.in_(lifecycle.OPEN) & (Case.status != "suspended") & Case.due_at.is_not(None)
               & (Case.due_at < now))
    top = session.execute(
        select(Case.department_id, func.count()).where(inside, overdue, Case.department_id.is_not(None))
        .group_by(Case.department_id).order_by(func.count().desc(), Case.department_id).limit(3)).tuples().all()
    names = _department_names(session, {d for d, _n in top if d})
    return {"counts": open_counts(session, inside), "breached_month": breached or 0, "month": local_now.strftime("%Y-%m"),
            "top": [{"id": d, "name": names.get(d or "", d), "overdue": n} for d, n in top]}


_EVALUATED = object_panel("L3")


def systems_panel(session: Session, principal: Principal, lang: str, *, unit: AdminUnit) -> dict[str, Any]:
    """The systems object's evaluation (L3) as before, with the unit's live case numbers below it (案件实况)."""
    data = _EVALUATED(session, principal, lang, unit=unit)
    live = live_cases(session, principal, unit)
    if live is None:
        return data
    # the head's 明细 link stays the evaluation's; the case part links to the workbench itself
    return data | {"empty": False, "evaluated": not data.get("empty"), "template": "cases/panel.html", "cases": live,
                   "href": data.get("href")}


# the same key, titles and permission as the built-in panel: it keeps its place and its evaluation part
register_panel("systems", "信息系统", "Information systems", systems_panel)
