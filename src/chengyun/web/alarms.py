"""Console pages of alarms (告警), under the infrastructure section (基础设施): the alarm list, open ones first with
their severity colour, filters, and acknowledge / clear buttons; and the overview's live ``alarms`` panel.

The list reads with ``alarms.read``; the buttons act with ``alarms.ack`` through the same service as the REST API
(``assets/alarm_views.py``). A refused action is shown on the list, with the actions the alarm still allows.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.accounts.access import Principal
from chengyun.api.deps import scoped
from chengyun.assets import alarms
from chengyun.assets.alarm_schemas import ALARM_STATUSES, SEVERITIES
from chengyun.assets.alarm_views import AlarmId
from chengyun.assets.models import Alarm, Asset
from chengyun.cases.views import case_desk_for
from chengyun.core.display import local_time
from chengyun.core.errors import ChengyunError, NotFound
from chengyun.tenancy.models import AdminUnit
from chengyun.tenancy.service import subtree
from chengyun.web.overview import register_panel
from chengyun.web.pages import Lang, render

router = APIRouter(include_in_schema=False)
AlarmsRead = Annotated[Session, scoped("alarms.read")]
AlarmsAck = Annotated[Session, scoped("alarms.ack")]
PAGE_SIZE = 50
SECTION = "infrastructure"  # the console's 基础设施 section holds the alarms



def _row(alarm: Alarm, names: dict[str, str], me: Principal, lang: str, tz: str) -> dict[str, Any]:
    en = lang == "en"
    return {
        "id": alarm.id, "asset_id": alarm.asset_id, "asset": names.get(alarm.asset_id, alarm.asset_id),
        "tenant_id": alarm.tenant_id, "severity": alarm.severity,
        "severity_text": SEVERITIES.get(alarm.severity, (alarm.severity, alarm.severity))[en],
        "status": alarm.status, "status_text": ALARM_STATUSES.get(alarm.status, (alarm.status, alarm.status))[en],
        "message": alarm.message, "raised": local_time(alarm.raised_at, tz), "last": local_time(alarm.last_at, tz),
        "cleared": local_time(alarm.cleared_at, tz), "count": alarm.count, "case_id": alarm.case_id,
        "acknowledged_by": alarm.acknowledged_by,
        "actions": alarms.allowed_actions(alarm.status) if me.can("alarms.ack", alarm.tenant_id) else [],
    }


def _list_page(request: Request, session: Session, lang: str, *, status: str, severity: str, asset: str,
               page: int, error: ChengyunError | None = None) -> HTMLResponse:
    tz, me = request.app.state.settings.timezone, request.state.principal
    open_only = status in ("", "open")
    items, total = alarms.list_alarms(session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
                                      status=None if open_only or status == "all" else status,
                                      severity=severity or None, asset=asset or None, open_only=open_only)
    ids = {a.asset_id for a in items}
    names = dict(session.execute(select(Asset.id, Asset.name).where(Asset.id.in_(ids))).tuples().all()) if ids else {}
    filters = {"status": status, "severity": severity, "asset": asset}
    kept = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-total // PAGE_SIZE))
    counts = alarms.open_by_severity(session, me.units("alarms.read"))
    return render(
        request, "alarms/list.html", lang, status_code=error.status if error else 200, section=SECTION,
        rows=[_row(a, names, me, lang, tz) for a in items], total=total, page=page, pages=pages, filters=filters,
        counts=counts, severities=SEVERITIES, statuses=ALARM_STATUSES, error=error,
        prev_url=f"/alarms?{urlencode(kept | {'page': page - 1})}" if page > 1 else None,
        next_url=f"/alarms?{urlencode(kept | {'page': page + 1})}" if page < pages else None,
    )


@router.get("/alarms")
def alarms_page(
    request: Request,
    lang: Lang,
    session: AlarmsRead,
    status: Annotated[str, Query(max_length=16)] = "open",
    severity: Annotated[str, Query(max_length=16)] = "",
    asset: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Alarms of the caller's units: open first, the most severe first, with filters and action buttons."""
    return _list_page(request, session, lang, status=status, severity=severity, asset=asset, page=page)


def _act(request: Request, session: Session, lang: str, alarm_id: str, action: str, text: str) -> HTMLResponse:
    alarms.get_alarm(session, alarm_id)  # 404 outside the caller's units, before anything else
    try:
        if action == "acknowledge":
            alarms.acknowledge(session, alarm_id, note=text or None)
        else:
            alarms.clear(session, alarm_id, reason=text or None, desk=case_desk_for(request.app))
    except ChengyunError as exc:
        if isinstance(exc, NotFound):
            raise
        session.rollback()  # nothing of a refused action is kept
        return _list_page(request, session, lang, status="all", severity="", asset="", page=1, error=exc)
    return RedirectResponse(f"/alarms#alarm-{alarm_id}", status_code=303)  # type: ignore[return-value]


@router.post("/alarms/{alarm_id}/acknowledge")
def acknowledge_submit(alarm_id: AlarmId, request: Request, lang: Lang, session: AlarmsAck,
                       note: Annotated[str, Form(max_length=500)] = "") -> HTMLResponse:
    """Acknowledge from the list (the form carries the CSRF token) and go back to it."""
    return _act(request, session, lang, alarm_id, "acknowledge", note.strip())


@router.post("/alarms/{alarm_id}/clear")
def clear_submit(alarm_id: AlarmId, request: Request, lang: Lang, session: AlarmsAck,
                 reason: Annotated[str, Form(max_length=500)] = "") -> HTMLResponse:
    """Clear from the list by hand and go back to it."""
    return _act(request, session, lang, alarm_id, "clear", reason.strip())


# ---- the overview's alarms panel (告警实况) ------------------------------------------------------------------


def alarms_panel(session: Session, principal: Principal, lang: str, *, unit: AdminUnit) -> dict[str, Any]:
    """Open alarms of the unit's subtree by severity (a live count); 暂无告警 when there are none."""
    units = {u.id for u in subtree(session=session, unit_id=unit.id)} & principal.units("alarms.read")
    counts = alarms.open_by_severity(session, units) if units else {}
    en = lang == "en"
    if not counts:
        return {"empty": True, "empty_text": "No open alarms" if en else "暂无告警",
                "hint": "" if units else ("You may not read alarms here." if en else "你在此单位没有查看告警的权限。")}
    return {"empty": False, "template": "alarms/panel.html", "href": "/alarms", "total": sum(counts.values()),
            "rows": [{"severity": s, "text": SEVERITIES.get(s, (s, s))[en], "count": n} for s, n in counts.items()]}


# read with console.read (a session the overview opens); the alarm units are cut to the caller's alarms.read
register_panel("alarms", "告警", "Alarms", alarms_panel, permission="console.read")
