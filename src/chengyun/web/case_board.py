"""The case console's two boards beside the workbench: the dispatch-rules editor (派遣规则) and the department
ranking (部门排名).

The editor shows a unit's own rules, the rules of the units above it (tried too, read-only here), and the rules as
the YAML of ``GET /api/v1/dispatch-rules.yaml``; saving goes through the API's own replace
(``replace_dispatch_rules_yaml``: the same checks, all or nothing, the same audit entry). The ranking is
``cases.measures.department_ranking`` over the lake — the numbers of ``chengyun cases ranking``.
"""

from __future__ import annotations

import fnmatch
from datetime import date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.analytics.engine import connect
from chengyun.analytics.runner import make_context
from chengyun.api.deps import scoped
from chengyun.cases import service
from chengyun.cases.measures import department_ranking, hotline_weights
from chengyun.cases.models import Case, DispatchRule
from chengyun.cases.service import CaseDesk
from chengyun.cases.views import (
    acting_as_system,
    case_desk_for,
    get_dispatch_rules_yaml,
    replace_dispatch_rules_yaml,
)
from chengyun.core.errors import InvalidInput
from chengyun.core.periods import Period, parse_period, quarter_of, recent_quarters
from chengyun.lake.sync import ensure_fresh
from chengyun.tenancy.models import AdminUnit, Department
from chengyun.tenancy.service import list_units, subtree
from chengyun.web.overview import choose_unit, unit_choices
from chengyun.web.pages import Lang, render

router = APIRouter(include_in_schema=False)
CasesRead = Annotated[Session, scoped("cases.read")]
RulesSession = Annotated[Session, scoped("cases.rules")]
UnitQuery = Annotated[str, Query(max_length=64)]
# the ranking table's rate columns: (key in a department_ranking row, 中文, English)
RATES = (("response_rate", "响应率", "Response"), ("ontime_closure_rate", "按时办结率", "On-time closure"),
         ("resolution_rate", "解决率", "Resolution"), ("satisfaction_rate", "满意率", "Satisfaction"),
         ("return_rate", "退回率", "Return"))
MONTHS_OFFERED = 6


def _names(session: Session, model: type[Department] | type[AdminUnit], ids: set[str]) -> dict[str, str]:
    """Names of departments or units a rule or ranking row points to; those of higher units are above the caller's
    scope, so read unscoped (only ids the caller was already shown are asked for)."""
    if not ids:
        return {}
    with acting_as_system(session):
        return dict(session.execute(select(model.id, model.name).where(model.id.in_(ids))).tuples().all())


# ---- dispatch rules (派遣规则) -------------------------------------------------------------------------------


def _pattern_name(desk: CaseDesk, pattern: str, lang: str) -> str:
    """A category glob in words: the category's name (E01* → 市容环境), all, or how many codes it matches."""
    en = lang == "en"
    if pattern == "*":
        return "every category" if en else "全部类别"
    cat = desk.categories.get(pattern.rstrip("*"))
    if cat is not None:
        return cat.name_en if en else cat.name
    n = sum(1 for code in desk.categories if fnmatch.fnmatchcase(code, pattern))
    return f"{n} categories" if en else f"{n} 个类别"


def _rule_rows(session: Session, desk: CaseDesk, units: list[str], lang: str) -> list[dict[str, Any]]:
    """The rules of ``units`` (read unscoped: those of higher units are shown, never changed), in the order tried."""
    with acting_as_system(session):
        rules = list(session.scalars(select(DispatchRule).where(DispatchRule.tenant_id.in_(units))
                                     .order_by(DispatchRule.position, DispatchRule.id)))
    depts = _names(session, Department, {r.department_id for r in rules})
    unit_names = _names(session, AdminUnit, {r.tenant_id for r in rules} | {r.area for r in rules if r.area})
    return [{"id": r.id, "unit": r.tenant_id, "unit_name": unit_names.get(r.tenant_id, r.tenant_id),
             "position": r.position, "category": r.category, "category_name": _pattern_name(desk, r.category, lang),
             "area": unit_names.get(r.area, r.area) if r.area else "", "hours": r.hours or "",
             "department": r.department_id, "department_name": depts.get(r.department_id, r.department_id),
             "enabled": r.enabled, "note": r.note or ""} for r in rules]


def _trial(session: Session, desk: CaseDesk, unit: str, code: str, hour: int | None, lang: str) -> dict[str, Any]:
    """Which rule a new case of ``code`` in ``unit`` at ``hour`` (local, today) would meet: ``service.route`` on a
    case that is never stored."""
    tz = ZoneInfo(desk.tz)
    now = datetime.now(tz)
    local = datetime.combine(now.date(), time(now.hour if hour is None else hour), tz)
    probe = Case(tenant_id=unit, category=code, created_at=local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None))
    rule = service.route(session, desk, probe)
    cat = desk.categories.get(code)
    out: dict[str, Any] = {"code": code, "unit": unit, "hour": local.hour, "known": cat is not None,
                           "name": (cat.name_en if lang == "en" else cat.name) if cat else "", "rule": None}
    if rule is not None:
        out["rule"] = next(r for r in _rule_rows(session, desk, [rule.tenant_id], lang) if r["id"] == rule.id)
    return out


def _rules_page(request: Request, session: Session, lang: str, units: list[AdminUnit], unit: AdminUnit, *,
                text: str | None = None, error: InvalidInput | None = None, saved: bool = False,
                trial: dict[str, Any] | None = None) -> HTMLResponse:
    desk = case_desk_for(request.app)
    above = service.ancestors(session, unit.id)[1:]
    own_yaml = bytes(get_dispatch_rules_yaml(unit.id, session).body).decode()
    return render(
        request, "cases/rules.html", lang, status_code=error.status if error else 200, section="systems",
        unit=unit, units=unit_choices(units, unit), own=_rule_rows(session, desk, [unit.id], lang),
        inherited=_rule_rows(session, desk, above, lang) if above else [], text=own_yaml if text is None else text,
        error=error, saved=saved, trial=trial,
        trial_units=[(u.id, u.name) for u in subtree(session=session, unit_id=unit.id)],
    )


@router.get("/cases/rules")
def rules_page(
    request: Request,
    lang: Lang,
    session: RulesSession,
    unit: UnitQuery = "",
    saved: Annotated[bool, Query()] = False,
    test_category: Annotated[str, Query(max_length=32)] = "",
    test_unit: UnitQuery = "",
    test_hour: Annotated[int | None, Query(ge=0, le=23)] = None,
) -> HTMLResponse:
    """A unit's dispatch rules, those inherited from above, the YAML editor and a trial routing (试派)."""
    units = list_units(session=session)
    chosen = choose_unit(units, unit or None)
    trial = None
    if test_category.strip():
        probe_unit = choose_unit(units, test_unit or chosen.id)
        trial = _trial(session, case_desk_for(request.app), probe_unit.id, test_category.strip(), test_hour, lang)
    return _rules_page(request, session, lang, units, chosen, saved=saved, trial=trial)


@router.post("/cases/rules")
def rules_submit(
    request: Request,
    lang: Lang,
    session: RulesSession,
    unit: Annotated[str, Form(min_length=1, max_length=64)],
    text: Annotated[str, Form(max_length=200_000)] = "",
) -> HTMLResponse:
    """Replace the unit's rules with the YAML of the form (it carries the CSRF token), through the API's replace;
    problems are shown on the page, naming rule index and field, with the text as sent."""
    try:
        replace_dispatch_rules_yaml(tenant=unit, session=session, desk=case_desk_for(request.app), text=text)
    except InvalidInput as exc:
        session.rollback()  # all or nothing: none of the rules is kept
        units = list_units(session=session)
        return _rules_page(request, session, lang, units, choose_unit(units, unit), text=text, error=exc)
    target = f"/cases/rules?{urlencode({'unit': unit, 'saved': 'true'})}"
    return RedirectResponse(target, status_code=303)  # type: ignore[return-value]


# ---- the department ranking (部门排名) ----------------------------------------------------------------------


def period_choices(today: date) -> list[Period]:
    """The current quarter and month to date, the four quarters and five months before them, newest first."""
    quarters = list(reversed(recent_quarters(today, 4)))
    months = [parse_period(f"{today.year}-{today.month:02d}")]
    while len(months) < MONTHS_OFFERED:
        months.append(months[-1].previous())
    return quarters + months


def default_period(today: date) -> Period:
    """The latest complete quarter (the running one is still filling up)."""
    return quarter_of(today).previous()


def _ranking_rows(request: Request, unit: AdminUnit, ids: list[str], period: Period) -> list[dict[str, Any]]:
    """``department_ranking`` over the lake's cases of ``ids`` in ``period`` (as ``chengyun cases ranking``)."""
    settings = request.app.state.settings
    engine = connect(settings)
    try:
        ensure_fresh(settings, engine)
        ctx = make_context(engine, ids, period, unit.timezone, None)
        return department_ranking(engine, ctx, hotline_weights())
    finally:
        engine.close()


def _rate_names(measure: str) -> tuple[str, str]:
    """A weighted measure's names (响应率, Response) for the page, its short key when it is not a ranked rate."""
    key = measure.split(".", 1)[-1]
    return next(((zh, en) for k, zh, en in RATES if k == key), (key, key))


def _ranking_chart(rows: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """What the bar chart draws (static/js/case-charts.js): the score of each ranked department, best on top."""
    scored = [r for r in rows if r["composite"] is not None]
    return {"names": [r["name"] for r in reversed(scored)],
            "scores": [round(r["composite"] * 100, 2) for r in reversed(scored)],
            "label": "Score" if lang == "en" else "综合得分"}


@router.get("/cases/ranking")
def ranking_page(
    request: Request,
    lang: Lang,
    session: CasesRead,
    tenant: UnitQuery = "",
    period: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """Departments of a unit's subtree ranked by the 12345 weighted score (三率) over a quarter or month."""
    units = list_units(session=session)
    unit = choose_unit(units, tenant or None)
    today = datetime.now(ZoneInfo(request.app.state.settings.timezone)).date()
    chosen = parse_period(period) if period else default_period(today)
    choices = period_choices(today)
    if chosen.label not in {p.label for p in choices}:
        choices.insert(0, chosen)
    rows = _ranking_rows(request, unit, [u.id for u in subtree(session=session, unit_id=unit.id)], chosen)
    names = _names(session, Department, {r["department"] for r in rows if r["department"]})
    undispatched = "not dispatched" if lang == "en" else "未派遣"
    for r in rows:
        r["name"] = names.get(r["department"], r["department"]) if r["department"] else undispatched
    weights = hotline_weights()
    return render(
        request, "cases/ranking.html", lang, section="systems", unit=unit, units=unit_choices(units, unit),
        period=chosen, periods=[(p.label, p.end > today) for p in choices], rows=rows,
        rates=RATES, chart=_ranking_chart(rows, lang),
        weights=[(*_rate_names(m), w) for m, w in weights.items()],
    )
