"""``chengyun quality``: run a dataset's rules (GB/T 36344), store its rules, rank departments by quality."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from chengyun.catalog import quality, ranking, service
from chengyun.catalog.masking import mask_report
from chengyun.catalog.personal import classes_of
from chengyun.catalog.rules import DIMENSIONS
from chengyun.cli.common import EngineOpt, JsonOpt, WorkspaceOpt, console, open_workspace, print_json

app = typer.Typer(help="Data quality (数据质量, GB/T 36344): run rules, store them, rank the departments.",
                  no_args_is_help=True)

TenantFilter = Annotated[str | None, typer.Option("--tenant", help="the dataset's unit (when names repeat)")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="the dataset's name (or id)")]


def _score(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _print_report(name: str, out: dict[str, Any]) -> None:
    verdict = "[green]通过 valid[/]" if out["valid"] else "[red]未通过 rules failed[/]"
    console.print(f"[bold]{name}[/]: {verdict} · score 得分 [bold]{_score(out['score'])}[/] over {out.get('rows', 0):,} rows",
                  highlight=False)
    dims = Table("维度 dimension", "score", title="GB/T 36344")
    for key, value in out["dimensions"].items():
        dims.add_row(f"{DIMENSIONS.get(key, key)} {key}", _score(value))
    console.print(dims)
    rules = Table("rule", "kind", "dimension", "failed", "checked", title="rules 规则")
    for r in out["rules"]:
        style = "red" if r["failed"] else ""
        rules.add_row(r["id"], r["kind"], r["dimension"], f"[{style}]{r['failed']:,}[/]" if style else "0",
                      f"{r['checked']:,}")
    console.print(rules)
    if out.get("case_id"):
        console.print(f"score under the target: case {out['case_id']} sent to the provider department", highlight=False)


@app.command("run")
def run_cmd(
    name: NameArg,
    rules: Annotated[Path | None, typer.Option("--rules", help="a YAML/JSON rules file (default: the dataset's "
                                               "stored rules)")] = None,
    engine: EngineOpt = None,
    tenant: TenantFilter = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Run the quality rules on the dataset's latest snapshot; exit 1 when a rule fails."""
    if engine not in (None, "duckdb", "spark"):
        raise typer.BadParameter("use duckdb or spark", param_hint="--engine")
    with open_workspace(workspace, engine) as (settings, session):
        ds = service.get_dataset(session, name, tenant=tenant)
        run, report = quality.run_quality(settings, session, ds, rules=rules, engine=engine)
        out = (mask_report(report.to_dict(), classes_of(ds)) or {}) | {"run": run.id, "case_id": run.case_id}
    if as_json:
        print_json(out)
    else:
        _print_report(name, out)
    if not report.valid:
        raise typer.Exit(1)


@app.command("rules")
def rules_cmd(name: NameArg, file: Annotated[Path, typer.Argument(metavar="FILE", help="rules: [{id, kind, column, …}]")],
              target: Annotated[float | None, typer.Option("--target", help="the score under which a case opens")] = None,
              tenant: TenantFilter = None, workspace: WorkspaceOpt = None) -> None:
    """Store the dataset's quality rules (checked against its columns)."""
    with open_workspace(workspace) as (_settings, session):
        ds = service.get_dataset(session, name, tenant=tenant)
        stored = quality.set_rules(session, ds, file, target=target)
        console.print(f"{len(stored)} rules stored for {ds.name}; target {ds.quality_target:.0f}", highlight=False)


@app.command("ranking")
def ranking_cmd(tenant: Annotated[str | None, typer.Option("--tenant", help="a unit and its subtree")] = None,
                period: Annotated[str | None, typer.Option("--period", help="over a period's runs in the lake "
                                                           "(2026Q3, 2026-10 …); default: each dataset's latest run")]
                = None,
                engine: EngineOpt = None, as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """数据质量排行榜: departments by the quality of their datasets, best first."""
    from chengyun.core.periods import parse_period
    from chengyun.tenancy.models import AdminUnit, Department

    with open_workspace(workspace, engine) as (settings, session):
        units = service.unit_ids(session, tenant) if tenant else None
        if period:
            tz = (session.get(AdminUnit, tenant).timezone if tenant else None) or settings.timezone  # type: ignore[union-attr]
            rows = ranking.period_ranking(settings, tenants=units or [u.id for u in session.query(AdminUnit)],
                                          period=parse_period(period), tz=tz, engine=engine)
        else:
            rows = ranking.ranking(session, tenant_ids=units)
        names = {d.id: d.name for d in session.query(Department)}
    for r in rows:
        r["department"] = names.get(r["department_id"] or "")
    if as_json:
        print_json(rows)
        return
    extra = ["rows checked 检查行数", "failed 问题行数"] if period else ["below target 未达标", "invalid 未通过"]
    table = Table("#", "部门 department", "datasets", "score 得分", *extra,
                  title=f"数据质量排行榜 data quality ranking{' ' + period if period else ''}")
    for r in rows:
        cells = [f"{r['checked']:,}", f"{r['failed']:,}"] if period else [str(r["below_target"]), str(r["invalid"])]
        table.add_row(str(r["rank"]), r["department"] or r["department_id"] or "—", str(r["datasets"]),
                      _score(r["score"]), *cells)
    console.print(table)
