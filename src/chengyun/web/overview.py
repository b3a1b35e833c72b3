"""The city overview (城市运行一张图): one panel per operation object plus evaluation, from a small registry.

A panel is a function ``func(session, principal, lang, *, unit) -> dict`` registered under a stable key with
``register_panel``. The built-in panels below fill each object from the latest run of the ``chengyun-operations``
pack; a domain (assets, cases, catalogue …) replaces its panel with live data by registering the same key again.
The dict is what the panel's template reads: ``template`` names it (default ``panels/metrics.html``), and a panel
without data says so with ``empty`` (never zeros).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from chengyun.accounts.access import Principal
from chengyun.accounts.policy import PERMISSIONS
from chengyun.core.errors import NotFound
from chengyun.core.periods import parse_period
from chengyun.indicators import catalog
from chengyun.indicators.models import EvaluationRun
from chengyun.indicators.report.common import STATUS
from chengyun.indicators.service import list_runs
from chengyun.indicators.view import run_view
from chengyun.tenancy.models import AdminUnit
from chengyun.tenancy.service import list_units


class PanelFunc(Protocol):
    """What fills a panel: the dict its template reads, for one unit, in the caller's language."""

    def __call__(self, session: Session, principal: Principal, lang: str, *, unit: AdminUnit) -> dict[str, Any]: ...


OPERATIONS_PACK = "chengyun-operations"
CHART_PACK = OPERATIONS_PACK  # the per-district bar chart compares this pack's latest totals
LEAVES_SHOWN = 4
_CACHE_KEY = "overview.latest_views"


@dataclass(frozen=True)
class Panel:
    """One overview panel: its key, titles, the permission it reads with, and the function that fills it."""

    key: str
    title_zh: str
    title_en: str
    func: PanelFunc
    permission: str = "evaluations.read"

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_zh


_PANELS: dict[str, Panel] = {}


def register_panel(key: str, title_zh: str, title_en: str, func: PanelFunc, *,
                   permission: str = "evaluations.read") -> Panel:
    """Add the panel ``key``, or replace it in place (a domain swapping in live data keeps the panel's position)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"panel {key!r}: unknown permission {permission!r}; use one of {sorted(PERMISSIONS)}")
    panel = Panel(key, title_zh, title_en, func, permission)
    _PANELS[key] = panel
    return panel


def registered_panels() -> list[Panel]:
    """The panels in the order the overview shows them."""
    return list(_PANELS.values())


def _t(lang: str) -> Callable[[str, str], str]:
    return lambda zh, en: en if lang == "en" else zh


def empty(lang: str, hint_zh: str = "", hint_en: str = "") -> dict[str, Any]:
    """What a panel without data shows: an honest 暂无评价数据, never zeros."""
    t = _t(lang)
    return {"empty": True, "empty_text": t("暂无评价数据", "No evaluation data yet"), "hint": t(hint_zh, hint_en)}


def latest_view(session: Session, unit_id: str, pack_id: str = OPERATIONS_PACK) -> dict[str, Any] | None:
    """The run view of the newest run of ``pack_id`` for the unit, or None; memoised on the request's session."""
    cache: dict[tuple[str, str], dict[str, Any] | None] = session.info.setdefault(_CACHE_KEY, {})
    if (pack_id, unit_id) not in cache:
        runs = list_runs(session=session, pack_id=pack_id, tenant_id=unit_id)
        cache[(pack_id, unit_id)] = run_view(session=session, run_id=runs[0].id) if runs else None
    return cache[(pack_id, unit_id)]


def period_note(view: dict[str, Any], lang: str) -> str:
    """'截至 2026-11-26' when the run's period was still running (its end clipped at the day it ran)."""
    run = view["run"]
    full = parse_period(run["period"])
    if full.end.isoformat() == run["period_end"]:
        return ""
    last = date.fromisoformat(run["period_end"]) - timedelta(days=1)
    return _t(lang)(f"截至 {last.isoformat()}", f"to {last.isoformat()}")


def _leaves(nodes: list[dict[str, Any]], root_id: str) -> list[dict[str, Any]]:
    """The leaves under ``root_id``, in pack order."""
    parents = {n["parent_id"] for n in nodes}
    inside, out = {root_id}, []
    for n in nodes:  # pre-order: a parent comes before its children
        if n["parent_id"] in inside:
            inside.add(n["id"])
            if n["id"] not in parents:
                out.append(n)
    return out


def _leaf_row(node: dict[str, Any], run_id: str, lang: str) -> dict[str, Any]:
    t = _t(lang)
    return {
        "label": t(node["name"], node["name_en"]),
        "value": node["value"],
        "unit": node["unit"],
        "score": node["score"],
        "max": node["max_score"],
        "status": node["status"],
        "status_text": t(*STATUS.get(node["status"], (node["status"], node["status"]))),
        "href": f"/evaluations/{run_id}/nodes/{node['id']}",
    }


def object_panel(node_id: str) -> PanelFunc:
    """A panel filled from one first-level node of the latest operations run: score, change, main measures."""

    def panel(session: Session, principal: Principal, lang: str, *, unit: AdminUnit) -> dict[str, Any]:
        view = latest_view(session, unit.id)
        if view is None:
            return empty(lang, f"{unit.name}尚未进行运营评价（{OPERATIONS_PACK}）。",
                         f"{unit.name} has no run of {OPERATIONS_PACK} yet.")
        by_id = {n["id"]: n for n in view["nodes"]}
        node, run, t = by_id.get(node_id), view["run"], _t(lang)
        if node is None:
            return empty(lang, f"评价结果中没有指标 {node_id}。", f"The run has no node {node_id}.")
        # the measures that carry the most points, shown in pack order
        leaves = _leaves(view["nodes"], node_id)
        top = sorted(leaves, key=lambda n: -n["max_score"])[:LEAVES_SHOWN]
        shown = [n for n in leaves if n in top]
        previous = parse_period(run["period"]).previous().label
        return {
            "empty": False,
            "score": node["score"],
            "max": node["max_score"],
            "share": None if node["score"] is None or not node["max_score"] else node["score"] / node["max_score"],
            "delta": node["delta"],
            "delta_label": t(f"较上期 {previous}", f"vs {previous}"),
            "status": node["status"],
            "status_text": t(*STATUS.get(node["status"], (node["status"], node["status"]))),
            "node_name": t(node["name"], node["name_en"]),
            "rows": [_leaf_row(n, run["id"], lang) for n in shown],
            "more": len(leaves) - len(shown),
            "href": f"/evaluations/{run['id']}/nodes/{node_id}",
            "source": t(f"运营评价 {run['period']}", f"Operations evaluation {run['period']}"),
            "source_title": f"{t(run['pack_title'], run['pack_title_en'])} · {run['period']} {period_note(view, lang)}",
        }

    panel.__doc__ = f"Overview panel from node {node_id} of the latest {OPERATIONS_PACK} run."
    return panel


def _latest_by_pack(runs: list[EvaluationRun]) -> dict[str, list[EvaluationRun]]:
    """Runs grouped by pack, newest first (``list_runs`` already orders them)."""
    out: dict[str, list[EvaluationRun]] = {}
    for r in runs:
        out.setdefault(r.pack_id, []).append(r)
    return out


def evaluation_panel(session: Session, principal: Principal, lang: str, *, unit: AdminUnit) -> dict[str, Any]:
    """The latest total and stage of every pack evaluated for the unit, with links to the runs (评价)."""
    t, packs = _t(lang), catalog.available_packs()
    rows = []
    for pack_id, runs in sorted(_latest_by_pack(list_runs(session=session, tenant_id=unit.id)).items()):
        run, pack = runs[0], packs.get(pack_id)
        before = next((r for r in runs[1:] if r.period == parse_period(run.period).previous().label), None)
        stage = pack.stage_for(run.total) if pack else None
        rows.append({
            "pack": pack_id,
            "title": t(pack.title, pack.title_en) if pack else pack_id,
            "period": run.period,
            "total": run.total,
            "max": run.max_total,
            "stage": (stage.name_en if lang == "en" else stage.name) if stage else run.stage,
            "delta": None if before is None or before.total is None or run.total is None
            else round(run.total - before.total, 2),
            "delta_label": t(f"较上期 {parse_period(run.period).previous().label}",
                             f"vs {parse_period(run.period).previous().label}"),
            "href": f"/evaluations/{run.id}",
        })
    if not rows:
        return empty(lang, f"{unit.name}还没有评价记录。", f"{unit.name} has no evaluation runs yet.")
    return {"empty": False, "template": "panels/evaluation.html", "rows": rows, "href": "/evaluations"}


def district_chart(*, session: Session, lang: str, selected: str | None = None,
                   pack_id: str = CHART_PACK) -> dict[str, Any]:
    """The latest total of ``pack_id`` per district the session may see (bars), and the districts without runs."""
    t = _t(lang)
    districts = [u for u in list_units(session=session) if u.level == "district"]
    latest = {r.tenant_id: r for r in reversed(list_runs(session=session, pack_id=pack_id))}  # newest wins
    pack = catalog.available_packs().get(pack_id)
    bars: list[dict[str, Any]] = []
    missing: list[str] = []
    for u in districts:
        run = latest.get(u.id)
        if run is None or run.total is None:
            missing.append(u.name)
            continue
        stage = pack.stage_for(run.total) if pack else None
        bars.append({"unit": u.id, "name": u.name, "total": round(run.total, 2), "period": run.period,
                     "stage": (stage.name_en if lang == "en" else stage.name) if stage else (run.stage or ""),
                     "href": f"/evaluations/{run.id}"})
    bars.sort(key=lambda b: -b["total"])
    return {
        "pack": pack_id,
        "title": t(pack.title, pack.title_en) if pack else pack_id,
        "bars": bars,
        "missing": missing,
        "districts": len(districts),
        "selected": selected,
        "max": pack.scale if pack else 100,
        "stages": [{"name": t(s.name, s.name_en), "min": s.min} for s in (pack.stages if pack else [])],
        "labels": {"total": t("总分", "Total"), "period": t("周期", "Period"), "stage": t("阶段", "Stage")},
    }


def choose_unit(units: list[AdminUnit], asked: str | None) -> AdminUnit:
    """The unit asked for, if the caller may see it; else the top-most unit of the caller's scope."""
    if asked is None or asked == "":
        return units[0]
    found = next((u for u in units if u.id == asked), None)
    if found is None:
        raise NotFound(f"unit {asked!r} does not exist or is outside the units you may see",
                       fix="choose a unit from the list on /overview")
    return found


def unit_choices(units: list[AdminUnit], chosen: AdminUnit) -> list[dict[str, Any]]:
    """The units offered by the unit selector: every visible unit down to streets (grids only when asked for)."""
    depth: dict[str, int] = {}
    out = []
    for u in units:  # parents before children
        depth[u.id] = depth.get(u.parent_id or "", -1) + 1
        if u.level != "grid" or u.id == chosen.id or len(units) == 1:
            out.append({"id": u.id, "name": u.name, "depth": depth[u.id], "selected": u.id == chosen.id})
    return out


def fill_panels(*, sessions: Mapping[str, Session], principal: Principal, lang: str,
                unit: AdminUnit) -> list[dict[str, Any]]:
    """Every registered panel the caller may read for ``unit``, filled."""
    out = []
    for panel in registered_panels():
        if not principal.can(panel.permission, unit.id):
            continue
        session = sessions.get(panel.permission)
        if session is None:  # a programming error: the overview route opens one scoped session per permission
            raise RuntimeError(f"overview panel {panel.key!r} reads with {panel.permission!r}: add a "
                               f"scoped({panel.permission!r}) session to overview_page in web/pages.py")
        data = panel.func(session, principal, lang, unit=unit)
        out.append({"key": panel.key, "title": panel.title(lang), "template": "panels/metrics.html"} | data)
    return out


# The built-in panels: the five operation objects (五大运营对象) and evaluation, keyed by the console's sections.
for _key, _zh, _en, _node in (
    ("infrastructure", "基础设施", "Infrastructure", "L1"),
    ("data", "数据资源", "Data resources", "L2"),
    ("systems", "信息系统", "Information systems", "L3"),
    ("portal", "统一门户", "Service portal", "L4"),
    ("security", "安全保障", "Security", "L5"),
):
    register_panel(_key, _zh, _en, object_panel(_node))
register_panel("evaluation", "评价", "Evaluation", evaluation_panel)
