"""``chengyun cases``: import history, list and show cases, rank departments, export to the lake, run the SLA tick."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from chengyun.analytics.engine import connect
from chengyun.analytics.runner import make_context
from chengyun.cases import lifecycle
from chengyun.cases.export import export_cases
from chengyun.cases.importer import import_cases
from chengyun.cases.measures import department_ranking, hotline_weights
from chengyun.cases.models import Case
from chengyun.cases.schemas import CaseDetail, CaseRead
from chengyun.cases.service import CaseDesk, get_case, history
from chengyun.cli.common import (
    EngineOpt,
    JsonOpt,
    PeriodOpt,
    TenantOpt,
    WorkspaceOpt,
    console,
    fmt_value,
    open_workspace,
    print_json,
    rejects_file,
)
from chengyun.core.db import utcnow
from chengyun.core.periods import parse_period
from chengyun.lake.sync import ensure_fresh
from chengyun.tenancy.models import Department
from chengyun.tenancy.service import get_unit, subtree

app = typer.Typer(help="City cases (一网统管 案件): import, list, rank departments, export, SLA tick.",
                  no_args_is_help=True)

MappingOpt = Annotated[str, typer.Option("--mapping", help="a preset (nyc311, boston311) or a mapping YAML file")]
RANK_COLUMNS = (("cases", "cases 案件"), ("response_rate", "响应率 response"),
                ("ontime_closure_rate", "按时办结率 on time"), ("resolution_rate", "解决率 resolved"),
                ("satisfaction_rate", "满意率 satisfied"), ("return_rate", "退回率 returned"))


def _progress(file: Path) -> Progress:
    # CSV progress counts bytes read; Excel counts rows (its size in rows is not known up front)
    amount = TextColumn("{task.completed:,.0f} rows") if file.suffix.lower() in (".xlsx", ".xlsm") else DownloadColumn()
    return Progress(TextColumn("{task.description}"), BarColumn(), amount, TimeElapsedColumn(), console=console,
                    transient=True)


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="a CSV (any delimiter, UTF-8 or GB18030) or .xlsx export")],
    mapping: MappingOpt,
    tenant: TenantOpt,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="where rejected rows go "
                                                 "(default <workspace>/imports/<file>-<time>.rejects.csv)")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Import case history (历史案件) from a 311/12345 export: counts imported, flagged and rejected."""
    with open_workspace(workspace) as (settings, session):
        target = rejects_file(settings, file, rejects)
        desk = CaseDesk.for_settings(settings)
        if as_json:
            result = import_cases(session, desk, file, mapping, tenant, rejects_path=target)
        else:
            with _progress(file) as progress:
                result = import_cases(session, desk, file, mapping, tenant, rejects_path=target, progress=progress)
    if as_json:
        print_json(result.to_dict())
    else:
        _print_import(result.to_dict())
    if not result.valid:
        raise typer.Exit(1)


def _print_import(r: dict[str, Any]) -> None:
    console.print(f"[bold]{r['imported']:,}[/] imported ({r['flagged']:,} flagged inconsistent), "
                  f"[bold]{r['rejected']:,}[/] rejected, of {r['read']:,} rows read "
                  f"in {r['seconds']:.1f} s ({r['rows_per_s'] or 0:,} rows/s)")
    for col, fmt in r["formats"].items():
        console.print(f"  dates in '{col}': {fmt}", highlight=False)
    console.print(f"  times converted from {r['timezone']} to UTC", highlight=False)
    for why, n in r["reasons"].items():
        console.print(f"  rejected: {n:,} × {why}", highlight=False)
    if r["rejected"] and r["rejects"]:
        console.print(f"  rejected rows, each with its reason: {r['rejects']}", highlight=False)
    for w in r["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if not r["read"]:
        console.print("[red]nothing could be read[/]: the file has no data rows")


@app.command("list")
def list_cmd(
    tenant: Annotated[str | None, typer.Option("--tenant", help="a unit: its cases and its subtree's")] = None,
    status: Annotated[str | None, typer.Option("--status", help="accepted, dispatched, in_progress, …")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="only open cases past their due time")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List cases, newest first, with the time left on their clock."""
    if status is not None and status not in lifecycle.STATUSES:
        raise typer.BadParameter(f"{status!r} is not a status; use one of {', '.join(lifecycle.STATUSES)}",
                                 param_hint="--status")
    now = utcnow()
    with open_workspace(workspace) as (settings, session):
        stmt = select(Case)
        if tenant:
            stmt = stmt.where(Case.tenant_id.in_([u.id for u in subtree(session=session, unit_id=tenant)]))
        if status:
            stmt = stmt.where(Case.status == status)
        if overdue:
            stmt = stmt.where(Case.status.in_(lifecycle.OPEN), Case.due_at.is_not(None), Case.due_at < now)
        cases = session.scalars(stmt.order_by(Case.created_at.desc(), Case.id.desc()).limit(limit)).all()
        categories = CaseDesk.for_settings(settings).categories
        rows = [CaseRead.from_case(c, categories, now).model_dump(mode="json") for c in cases]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "created (UTC)", "status", "category / title", "department", "hours left",
                  title=f"cases 案件 ({len(rows)} shown)")
    for r in rows:
        left = "" if r["hours_left"] is None else f"{r['hours_left']:.1f}"
        table.add_row(r["id"], r["created_at"][:16].replace("T", " "), f"{r['status_zh']} {r['status']}",
                      r["category_name"] or r["title"] or "", r["department_id"] or "—",
                      f"[red]{left}[/]" if r["overdue"] else left)
    console.print(table)


@app.command("show")
def show_cmd(case_id: Annotated[str, typer.Argument(metavar="CASE_ID")], as_json: JsonOpt = False,
             workspace: WorkspaceOpt = None) -> None:
    """One case with every step of its history."""
    with open_workspace(workspace) as (settings, session):
        case = get_case(session, case_id)
        detail = CaseDetail.build(case, CaseDesk.for_settings(settings).categories, utcnow(),
                                  history(session, case_id)).model_dump(mode="json")
    if as_json:
        print_json(detail)
        return
    console.print(f"[bold]{detail['id']}[/] {detail['status_zh']} {detail['status']} · {detail['tenant_id']} · "
                  f"{detail['channel']} · {detail['category_name'] or detail['title'] or '—'}", highlight=False)
    for key in ("created_at", "due_at", "resolved_at", "closed_at", "department_id", "address", "sla_rule"):
        if detail.get(key):
            console.print(f"  {key}: {detail[key]}", highlight=False)
    table = Table("at (UTC)", "action", "from → to", "by", "reason", title="history 办理过程")
    for ev in detail["history"]:
        table.add_row(ev["at"][:19].replace("T", " "), f"{ev['action_zh'] or ''} {ev['action']}",
                      f"{ev['from_status'] or ''} → {ev['to_status'] or ''}", ev["actor"], ev["reason"] or "")
    console.print(table)


@app.command("ranking")
def ranking_cmd(tenant: TenantOpt, period: PeriodOpt, engine: EngineOpt = None, as_json: JsonOpt = False,
                workspace: WorkspaceOpt = None) -> None:
    """Rank departments by the 12345 rates over the tenant's subtree and period (from the lake)."""
    per = parse_period(period)
    weights = hotline_weights()
    with open_workspace(workspace, engine) as (settings, session):
        unit = get_unit(session=session, unit_id=tenant)
        units = [u.id for u in subtree(session=session, unit_id=tenant)]
        names = dict(session.execute(select(Department.id, Department.name)).tuples().all())
        eng = connect(settings, engine)
        try:
            ensure_fresh(settings, eng)
            ctx = make_context(eng, units, per, unit.timezone, None)
            rows = department_ranking(eng, ctx, weights)
        finally:
            eng.close()
    for r in rows:
        r["department_name"] = names.get(r["department"] or "")
    if as_json:
        print_json({"tenant": tenant, "period": per.label, "weights": weights, "departments": rows})
        return
    _print_ranking(rows, weights, tenant, per.label)


def _print_ranking(rows: list[dict[str, Any]], weights: dict[str, float], tenant: str, label: str) -> None:
    if not rows:
        console.print(f"[yellow]no cases of {tenant} for {label}[/]: import or take cases in for that period",
                      highlight=False)
        return
    table = Table("#", "department 部门", *(h for _m, h in RANK_COLUMNS), "composite 综合",
                  title=f"departments 部门排名 · {tenant} · {label}")
    for r in rows:
        name = r["department"] or "(not dispatched 未派遣)"
        if r["department_name"]:
            name = f"{r['department_name']} {name}"
        cells = [fmt_value(r[m], "count" if m == "cases" else "ratio") for m, _h in RANK_COLUMNS]
        table.add_row(str(r["rank"]), name, *cells, fmt_value(r["composite"], "ratio"))
    console.print(table)
    share = " / ".join(f"{m.split('.')[-1]} {w:g}" for m, w in weights.items())
    console.print(f"composite: weighted mean of {share} (cn-hotline-12345); a rate without data is left out and "
                  "its weight shared among the others", highlight=False)


@app.command("export")
def export_cmd(as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Write every case changed since the last export to the lake (案件入湖)."""
    with open_workspace(workspace) as (settings, session):
        written = export_cases(settings, session)
    if as_json:
        print_json({"written": written})
        return
    console.print(f"{written:,} case rows written to {settings.lake / 'cases'}")


@app.command("tick")
def tick_cmd(
    predict_hours: Annotated[float, typer.Option("--predict-hours", help="warn about cases due within N hours")] = 4.0,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Warn, detect breaches and escalate over every open case (for cron)."""
    from chengyun.cases.escalation import run_tick  # written alongside; imported when the command runs

    with open_workspace(workspace) as (settings, session):
        result = run_tick(session, CaseDesk.for_settings(settings), now=utcnow(), predict_hours=predict_hours)
        out: dict[str, Any] = result.to_dict()
    if as_json:
        print_json(out)
        return
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in out.items() if isinstance(v, int) and not isinstance(v, bool)]
    console.print(f"tick at {out.get('now', datetime.now().isoformat())}: " + ", ".join(parts), highlight=False)
    for level, n in (out.get("escalated") or {}).items():
        console.print(f"  escalated to level {level}: {n}", highlight=False)
