"""``chengyun measures``: list the registered measures and compute one."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chengyun.analytics.engine import connect
from chengyun.analytics.registry import get_registry
from chengyun.analytics.runner import make_context, run_measures
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
)
from chengyun.core.periods import parse_period
from chengyun.lake.sync import ensure_fresh
from chengyun.tenancy.service import get_unit, subtree, subtree_population

app = typer.Typer(help="Measures (度量) computed from the lake.", no_args_is_help=True)


@app.command("list")
def list_cmd(as_json: JsonOpt = False) -> None:
    """List every registered measure."""
    rows = [{"name": m.name, "title": m.title, "title_en": m.title_en, "unit": m.unit, "direction": m.direction,
             "tables": list(m.read_tables()), "description": m.description} for m in get_registry().measures.values()]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "名称", "unit", "better", "tables", title="measures 度量")
    for r in rows:
        table.add_row(str(r["name"]), str(r["title"]), str(r["unit"]), str(r["direction"]), ", ".join(r["tables"]))
    console.print(table)


@app.command("run")
def run_cmd(name: Annotated[str, typer.Argument(metavar="NAME")], tenant: TenantOpt, period: PeriodOpt,
            engine: EngineOpt = None, as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Compute one measure for a tenant (its whole subtree) and period."""
    measure = get_registry().get(name)
    per = parse_period(period)
    with open_workspace(workspace, engine) as (settings, session):
        unit = get_unit(session=session, unit_id=tenant)
        units = subtree(session=session, unit_id=tenant)
        eng = connect(settings, engine)
        try:
            ensure_fresh(settings, eng)
            ctx = make_context(eng, [u.id for u in units], per, unit.timezone, subtree_population(units))
            res = run_measures(eng, [name], ctx)[name]
        finally:
            eng.close()
    out = {"measure": name, "value": res.value, "unit": measure.unit, "tenant": tenant, "period": per.label}
    if as_json:
        print_json(out | {"parts": res.parts, "warnings": res.warnings})
        return
    console.print(f"{measure.title} {name} · {tenant} · {per.label}: [bold]{fmt_value(res.value, measure.unit)}[/]")
    for w in res.warnings:
        console.print(f"[yellow]warning:[/] {w}")
