"""Console pages of the infrastructure (基础设施): the asset registry with its map, availability per type and
department over a period, one asset with its dependencies, the impact of an outage and its telemetry, the ingest's
quarantine, and the overview's infrastructure panel.

Pages read with ``assets.read`` through the same services as the REST API (``assets/views.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from chengyun.accounts.access import Principal
from chengyun.analytics.engine import connect
from chengyun.api.deps import scoped
from chengyun.assets import graph, kinds, service
from chengyun.assets.availability import availability_reports, breakdown, period_context
from chengyun.assets.models import Asset
from chengyun.assets.schemas import AvailabilityRow, TelemetryRead
from chengyun.assets.telemetry import Window, asset_telemetry, quarantined
from chengyun.assets.views import AssetId, asset_names
from chengyun.core.db import utcnow
from chengyun.core.display import local_time, utc_offset_seconds
from chengyun.core.errors import ChengyunError, InvalidInput
from chengyun.core.periods import parse_period, quarter_of
from chengyun.core.scoping import unscoped
from chengyun.core.settings import Settings
from chengyun.ingest.cli import quarantine_dir
from chengyun.lake.sync import ensure_fresh
from chengyun.tenancy.models import AdminUnit, Department
from chengyun.tenancy.service import list_units, subtree
from chengyun.web.case_board import period_choices
from chengyun.web.overview import choose_unit, object_panel, register_panel, unit_choices
from chengyun.web.pages import Lang, render

router = APIRouter(include_in_schema=False)
AssetsRead = Annotated[Session, scoped("assets.read")]
SECTION = "infrastructure"  # the nav's 基础设施
PAGE_SIZE = 25
MAP_CAP = 2000  # the map draws at most this many assets (by id)
QUARANTINE_SHOWN = 100
STATUS_EN = {"online": "Online", "offline": "Offline", "unknown": "Unknown", "retired": "Retired"}
CRITICALITY = {"critical": ("核心", "Critical"), "high": ("重要", "High"), "medium": ("一般", "Medium"),
               "low": ("低", "Low")}
PANEL_TTL_S = 300  # the overview's availability figure is recomputed at most every five minutes per unit
PERIODS: dict[str, tuple[timedelta, str, str]] = {
    "24h": (timedelta(hours=24), "24 小时", "24 h"),
    "7d": (timedelta(days=7), "7 天", "7 days"),
    "30d": (timedelta(days=30), "30 天", "30 days"),
}


def status_text(status: str, lang: str) -> str:
    """在线 / 离线 / 未知 / 已退役 (Online …)."""
    return STATUS_EN.get(status, status) if lang == "en" else kinds.STATUSES.get(status, status)


def kind_text(kind: str, lang: str) -> str:
    """The kind's Chinese name, or its id in English."""
    return kind if lang == "en" else kinds.KIND_NAMES.get(kind, kind)


def interval_text(seconds: int | None, lang: str) -> str:
    """An expected reporting interval in words: 5 分钟, 1 小时 (— when the asset does not report)."""
    if not seconds:
        return "—"
    for size, zh, en in ((86400, "天", "d"), (3600, "小时", "h"), (60, "分钟", "min"), (1, "秒", "s")):
        if seconds % size == 0:
            return f"{seconds // size} {en if lang == 'en' else zh}"
    return f"{seconds} s"


def local(ts: datetime | None, tz: str) -> str:
    """A naive-UTC time in the display time zone, to the minute (— when missing)."""
    return local_time(ts, tz)


def department_names(session: Session, ids: set[str]) -> dict[str, str]:
    """Names of the owning departments (a city bureau may own a district's cameras: read unscoped, only for ids
    of assets the caller sees)."""
    if not ids:
        return {}
    with unscoped(session):
        return dict(session.execute(select(Department.id, Department.name).where(Department.id.in_(ids))).tuples().all())


def status_counts(session: Session, where: Any = None) -> dict[str, int]:
    """Assets per status (online, offline, unknown, retired), optionally within ``where``."""
    stmt = select(Asset.status, func.count()).group_by(Asset.status)
    if where is not None:
        stmt = stmt.where(where)
    found = dict(session.execute(stmt).tuples().all())
    return {s: int(found.get(s, 0)) for s in kinds.STATUSES}


def online_rate(counts: dict[str, int]) -> float | None:
    """Online over assets in service (retired ones aside); None without any."""
    active = counts["online"] + counts["offline"] + counts["unknown"]
    return counts["online"] / active if active else None


# ---- the registry (设备台账) ---------------------------------------------------------------------------------


def _where(kind: str, department: str, status: str, q: str) -> list[Any]:
    """The list's filters as SQL conditions (``service.list_assets`` has checked the values already)."""
    out: list[Any] = []
    if kind:
        out.append(Asset.kind.in_(kinds.kinds_in(kind)))
    if department:
        out.append(Asset.department_id == department)
    if status:
        out.append(Asset.status == status)
    if q:
        out.append(or_(Asset.name.icontains(q, autoescape=True), Asset.id.icontains(q, autoescape=True)))
    return out


def asset_map(session: Session, where: list[Any], total: int, lang: str) -> dict[str, Any]:
    """The filtered assets that have a position (at most ``MAP_CAP``, by id) for the map drawn by
    static/js/assets.js, with how many have no position (无位置)."""
    placed = select(Asset).where(*where, Asset.lat.is_not(None), Asset.lon.is_not(None))
    with_position = session.scalar(select(func.count()).select_from(placed.subquery())) or 0
    points = [{"id": a.id, "name": a.name, "lon": a.lon, "lat": a.lat, "status": a.status,
               "status_text": status_text(a.status, lang), "kind": kind_text(a.kind, lang)}
              for a in session.scalars(placed.order_by(Asset.id).limit(MAP_CAP))]
    labels = {s: status_text(s, lang) for s in kinds.STATUSES} | {
        "lon": "Longitude" if lang == "en" else "经度", "lat": "Latitude" if lang == "en" else "纬度"}
    return {"points": points, "placed": with_position, "unplaced": total - with_position,
            "capped": with_position > MAP_CAP, "cap": MAP_CAP, "labels": labels}


def _row(a: Asset, names: dict[str, str], lang: str, tz: str) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "kind": kind_text(a.kind, lang), "status": a.status,
            "status_text": status_text(a.status, lang), "department": names.get(a.department_id or "", a.department_id),
            "criticality": CRITICALITY.get(a.criticality, (a.criticality, a.criticality))[lang == "en"],
            "last_seen": local(a.last_seen_at, tz), "unit": a.tenant_id}


@router.get("/assets")
def assets_page(
    request: Request,
    lang: Lang,
    session: AssetsRead,
    kind: Annotated[str, Query(max_length=32)] = "",
    department: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """The assets of the caller's units with filters, status counts and a map of those with a position."""
    tz = request.app.state.settings.timezone
    items, total = service.list_assets(session, kind=kind or None, department=department or None,
                                       status=status or None, q=q or None, limit=PAGE_SIZE,
                                       offset=(page - 1) * PAGE_SIZE)
    where = _where(kind, department, status, q)
    owned = set(session.scalars(select(Asset.department_id).distinct().where(Asset.department_id.is_not(None))))
    names = department_names(session, {d for d in owned if d})
    filters = {"kind": kind, "department": department, "status": status, "q": q}
    kept = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-total // PAGE_SIZE))
    classes = [(cls, zh, en, [(k, kind_text(k, lang)) for k in ks]) for cls, (zh, en, ks) in kinds.CLASSES.items()]
    return render(
        request, "assets/list.html", lang, section=SECTION, counts=status_counts(session),
        asset_map=asset_map(session, where, total, lang), rows=[_row(a, names, lang, tz) for a in items],
        total=total, page=page, pages=pages, filters=filters, classes=classes,
        statuses=[(s, status_text(s, lang)) for s in kinds.STATUSES],
        departments=sorted(names.items(), key=lambda kv: kv[1]),
        prev_url=f"/assets?{urlencode(kept | {'page': page - 1})}" if page > 1 else None,
        next_url=f"/assets?{urlencode(kept | {'page': page + 1})}" if page < pages else None,
    )


# ---- the quarantine (隔离区) ---------------------------------------------------------------------------------


def received(iso: str, tz: str) -> str:
    """A quarantine entry's receive time (ISO, with its offset) in the display zone, to the second."""
    return local_time(iso, tz, "%Y-%m-%d %H:%M:%S")


@router.get("/assets/quarantine")
def quarantine_page(request: Request, lang: Lang, session: AssetsRead) -> HTMLResponse:
    """Payloads the ingest put aside as malformed, newest first, with reason, source and a short preview."""
    settings, tz = request.app.state.settings, request.app.state.settings.timezone
    items = quarantined(quarantine_dir(settings), session, QUARANTINE_SHOWN)
    rows = [i.model_dump() | {"received": received(i.received_at, tz)} for i in items]
    return render(request, "assets/quarantine.html", lang, section=SECTION, rows=rows, cap=QUARANTINE_SHOWN)


# ---- availability (可用率) -----------------------------------------------------------------------------------


def _uptime_rows(rows: list[AvailabilityRow], by: str, lang: str) -> list[dict[str, Any]]:
    """A report's rows with a label in the page's language (未指定责任单位 for assets without an owner)."""
    def label(r: AvailabilityRow) -> str:
        if by == "type":
            return kind_text(r.key or "", lang)
        return r.name or r.key or ("No owner" if lang == "en" else "未指定责任单位")

    return [r.model_dump() | {"label": label(r)} for r in rows]


@router.get("/assets/availability")
def availability_page(
    request: Request,
    lang: Lang,
    session: AssetsRead,
    tenant: Annotated[str, Query(max_length=64)] = "",
    period: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """Availability, data completeness, outages and MTTR of a unit's subtree per type and per department over a
    quarter or month (this quarter to date by default), worst first, with a bar per row."""
    settings = request.app.state.settings
    units = list_units(session=session)
    unit = choose_unit(units, tenant or None)
    today = datetime.now(ZoneInfo(unit.timezone)).date()
    chosen = parse_period(period) if period else quarter_of(today)
    choices = period_choices(today)
    if chosen.label not in {p.label for p in choices}:
        choices.insert(0, chosen)
    reports, error = {}, None
    try:
        reports = availability_reports(session=session, settings=settings, period=chosen,
                                       bys=("type", "department"), tenant=unit.id)
    except ChengyunError as exc:  # the lake or the engine: the page still says what to do
        error = exc
    first = next(iter(reports.values()), None)
    return render(
        request, "assets/availability.html", lang, section=SECTION, unit=unit, units=unit_choices(units, unit),
        period=chosen, running=chosen.end > today, periods=[(p.label, p.end > today) for p in choices],
        total=first.total.model_dump() if first else None, other=first.other_readings if first else 0,
        by_type=_uptime_rows(reports["type"].groups, "type", lang) if reports else [],
        by_department=_uptime_rows(reports["department"].groups, "department", lang) if reports else [],
        error=error,
    )


# ---- one asset (设备详情) ------------------------------------------------------------------------------------


def _links(session: Session, pairs: list[tuple[str, str, str]], lang: str) -> list[dict[str, Any]]:
    """(asset id, dependency kind, its Chinese name) as rows with the name when the caller may open the asset."""
    names = asset_names(session, {i for i, _k, _zh in pairs})
    return [{"id": i, "name": names.get(i), "visible": i in names, "kind": k if lang == "en" else zh}
            for i, k, zh in pairs]


def chart_data(tele: TelemetryRead, tz: str, lang: str) -> dict[str, Any]:
    """What static/js/assets.js draws per metric: [time, mean, min, max] with the time shifted to the display
    zone's wall clock (the chart runs in UTC mode, so its labels read local time)."""
    def wall_ms(ts: datetime) -> int:
        return int(((ts - datetime(1970, 1, 1)).total_seconds() + utc_offset_seconds(ts, tz)) * 1000)

    def t(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    return {
        "since": wall_ms(tele.since), "until": wall_ms(tele.until),
        "series": [{"metric": s.metric, "bucketed": s.bucketed, "every_s": s.every_s, "readings": s.readings,
                    "every_text": interval_text(s.every_s, lang),
                    "points": [[wall_ms(p.ts), p.value, p.min, p.max] for p in s.points]} for s in tele.series],
        "labels": {"value": t("均值", "Mean"), "raw": t("读数", "Reading"), "band": t("最小–最大", "Min–max"),
                   "min": t("最小", "Min"), "max": t("最大", "Max")},
    }


@router.get("/assets/{asset_id}")
def asset_page(
    asset_id: AssetId,
    request: Request,
    lang: Lang,
    session: AssetsRead,
    period: Annotated[str, Query(max_length=8)] = "7d",
) -> HTMLResponse:
    """One asset: its card, dependencies and dependants, the impact of an outage, and its telemetry charts."""
    if period not in PERIODS:
        raise InvalidInput(f"period: {period!r} is not offered", fix=f"use one of {', '.join(PERIODS)}")
    settings = request.app.state.settings
    tz = settings.timezone
    asset = service.get_asset(session, asset_id)
    deps = [(d.depends_on_id, d.kind, kinds.DEPENDENCY_KINDS.get(d.kind, d.kind))
            for d in service.dependencies(session, asset.id)]
    users = [(d.asset_id, d.kind, kinds.DEPENDENCY_KINDS.get(d.kind, d.kind))
             for d in service.dependants(session, asset.id)]
    unit_name = session.scalar(select(AdminUnit.name).where(AdminUnit.id == asset.tenant_id))
    dept = department_names(session, {asset.department_id} if asset.department_id else set())
    error: ChengyunError | None = None
    tele: TelemetryRead | None = None
    try:
        tele = asset_telemetry(settings, session, asset, Window.last(PERIODS[period][0], utcnow()))
    except ChengyunError as exc:  # the lake or the engine is the problem: the rest of the page still helps
        error = exc
    return render(
        request, "assets/asset.html", lang, section=SECTION, asset=asset, unit_name=unit_name or asset.tenant_id,
        kind=kind_text(asset.kind, lang), asset_class=kinds.CLASSES.get(kinds.KINDS.get(asset.kind, ""), ("", "", ()))
        [1 if lang == "en" else 0], status=status_text(asset.status, lang),
        department=dept.get(asset.department_id or "", asset.department_id),
        criticality=CRITICALITY.get(asset.criticality, (asset.criticality, asset.criticality))[lang == "en"],
        interval=interval_text(asset.expected_interval_s, lang), installed=local(asset.installed_at, tz),
        last_seen=local(asset.last_seen_at, tz), retired=local(asset.retired_at, tz),
        dependencies=_links(session, deps, lang), dependants=_links(session, users, lang),
        impact=graph.impact(session, asset.id), kind_names=kinds.KIND_NAMES, periods=[(k, v[1], v[2]) for k, v in PERIODS.items()],
        period=period, telemetry=tele, chart=chart_data(tele, tz, lang) if tele else None, telemetry_error=error,
    )


# ---- the overview's infrastructure panel (基础设施：设备实况) ---------------------------------------------------


_PANEL_CACHE: dict[tuple[str, tuple[str, ...], str], tuple[float, dict[str, Any] | None]] = {}


def quarter_availability(units: list[str], tz: str) -> Callable[[Settings], dict[str, Any] | None]:
    """The units' availability, completeness, outages and MTTR this quarter to date (the whole of
    ``assets/availability.py``), or None without reporting assets in the lake.

    Returned as a function of the app's settings, which the panel's template calls with
    ``request.app.state.settings``: an overview panel function is given sessions, not the settings that say where
    the lake is. Memoised per lake, units and quarter for ``PANEL_TTL_S``."""
    def compute(settings: Settings) -> dict[str, Any] | None:
        period = quarter_of(datetime.now(ZoneInfo(tz)).date())
        key = (str(settings.lake), tuple(units), period.label)
        hit = _PANEL_CACHE.get(key)
        if hit is not None and time.monotonic() - hit[0] < PANEL_TTL_S:
            return hit[1]
        engine = connect(settings)
        try:
            ensure_fresh(settings, engine)
            total = breakdown(engine, period_context(engine, units, period, tz, utcnow()), "type")[0]
            value = {"period": period.label, **total.model_dump()} if total.assets else None
        except ChengyunError:  # the lake or the engine: the panel says 暂无, the page says why
            value = None
        finally:
            engine.close()
        if len(_PANEL_CACHE) > 256:
            _PANEL_CACHE.clear()
        _PANEL_CACHE[key] = (time.monotonic(), value)
        return value

    return compute


def live_assets(session: Session, principal: Principal, unit: AdminUnit) -> dict[str, Any] | None:
    """Assets of the unit's subtree per status and the online rate now, and this quarter's availability (called by
    the template); None when the caller may not read assets there. ``empty`` when there are none (暂无设备)."""
    units = {u.id for u in subtree(session=session, unit_id=unit.id)} & principal.units("assets.read")
    if not units:
        return None
    counts = status_counts(session, Asset.tenant_id.in_(units))
    rate = online_rate(counts)
    return {"counts": counts, "rate": rate, "empty": not any(counts.values()),
            "availability": quarter_availability(sorted(units), unit.timezone)}


_EVALUATED = object_panel("L1")


def infrastructure_panel(session: Session, principal: Principal, lang: str, *, unit: AdminUnit) -> dict[str, Any]:
    """The infrastructure object's evaluation (L1) as before, with the unit's assets by status below it."""
    data = _EVALUATED(session, principal, lang, unit=unit)
    live = live_assets(session, principal, unit)
    if live is None:
        return data
    return data | {"empty": False, "evaluated": not data.get("empty"), "template": "assets/panel.html",
                   "assets": live, "href": data.get("href")}


# the same key, titles and permission as the built-in panel: it keeps its place and its evaluation part
register_panel("infrastructure", "基础设施", "Infrastructure", infrastructure_panel)
