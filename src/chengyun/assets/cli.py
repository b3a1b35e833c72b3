"""``chengyun assets``: import the registry (台账), list and show assets, the impact of an outage, availability over a
period, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree

from chengyun.assets import kinds
from chengyun.assets.availability import availability_report
from chengyun.assets.export import export_assets
from chengyun.assets.graph import impact
from chengyun.assets.importer import import_assets
from chengyun.assets.schemas import AssetDetail, AssetRead, DependencyRead
from chengyun.assets.service import dependants, dependencies, get_asset, list_assets
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
from chengyun.core.periods import parse_period

app = typer.Typer(help="Asset registry (设备/系统台账): import, list, show, impact of an outage, availability, export.",
                  no_args_is_help=True)


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="a CSV (UTF-8 or GBK/GB18030, any delimiter) or .xlsx file")],
    tenant: TenantOpt,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="where rejected rows go "
                                                 "(default <workspace>/imports/<file>-<time>.rejects.csv)")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Import or update assets from a registry file: counts added, updated and rejected."""
    with open_workspace(workspace) as (settings, session):
        target = rejects_file(settings, file, rejects)
        report = import_assets(session, file, tenant, rejects_path=target)
    out = report.to_dict()
    if as_json:
        print_json(out)
    else:
        console.print(f"[bold]{out['added']:,}[/] added, [bold]{out['updated']:,}[/] updated "
                      f"({out['unchanged']:,} unchanged), [bold]{out['rejected']:,}[/] rejected, of {out['read']:,} "
                      f"rows read; {out['dependencies']:,} dependencies", highlight=False)
        for why, n in out["reasons"].items():
            console.print(f"  rejected: {n:,} × {why}", highlight=False)
        if out["rejects"]:
            console.print(f"  rejected rows, each with its reason: {out['rejects']}", highlight=False)
        for w in out["warnings"]:
            console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if not report.valid:
        raise typer.Exit(1)


@app.command("list")
def list_cmd(
    tenant: Annotated[str | None, typer.Option("--tenant", help="a unit: its assets and its subtree's")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="a kind (camera, server, …) or a class (device, link, "
                                             "compute, application, resource)")] = None,
    department: Annotated[str | None, typer.Option("--department", help="the owning department's id")] = None,
    status: Annotated[str | None, typer.Option("--status", help="online, offline, unknown or retired")] = None,
    search: Annotated[str | None, typer.Option("--search", help="a piece of the name or the id")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List assets by id."""
    with open_workspace(workspace) as (_settings, session):
        items, total = list_assets(session, tenant=tenant, kind=kind, department=department, status=status,
                                   q=search, limit=limit)
        rows = [AssetRead.from_asset(a).model_dump(mode="json") for a in items]
    if as_json:
        print_json({"items": rows, "total": total, "limit": limit, "offset": 0})
        return
    table = Table("id", "名称 name", "kind", "unit", "责任单位 department", "criticality", "status",
                  title=f"assets 设备/系统台账 ({len(rows)} of {total})")
    for r in rows:
        table.add_row(r["id"], r["name"], f"{r['kind_zh']} {r['kind']}", r["tenant_id"], r["department_id"] or "—",
                      r["criticality"], f"{r['status_zh']} {r['status']}")
    console.print(table)


@app.command("show")
def show_cmd(asset_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonOpt = False,
             workspace: WorkspaceOpt = None) -> None:
    """One asset with what it depends on and what depends on it."""
    with open_workspace(workspace) as (_settings, session):
        asset = get_asset(session, asset_id)
        detail = AssetDetail(**AssetRead.from_asset(asset).model_dump(),
                             dependencies=[DependencyRead.from_dependency(d) for d in dependencies(session, asset_id)],
                             dependants=[DependencyRead.from_dependency(d) for d in dependants(session, asset_id)])
        out = detail.model_dump(mode="json")
    if as_json:
        print_json(out)
        return
    console.print(f"[bold]{out['id']}[/] {out['name']} · {out['kind_zh']} {out['kind']} · {out['tenant_id']} · "
                  f"{out['status_zh']} {out['status']}", highlight=False)
    for key in ("department_id", "operator", "address", "installed_at", "retired_at", "criticality",
                "expected_interval_s", "metric_count", "last_seen_at"):
        if out.get(key) is not None:
            console.print(f"  {key}: {out[key]}", highlight=False)
    for d in out["dependencies"]:
        console.print(f"  depends on → {d['depends_on_id']} ({d['kind_zh']} {d['kind']})", highlight=False)
    for d in out["dependants"]:
        console.print(f"  needed by ← {d['asset_id']} ({d['kind_zh']} {d['kind']})", highlight=False)


def _tree(report: dict[str, Any]) -> Tree:
    root = Tree(f"[bold red]{report['asset_id']}[/] {report['name']} ({report['kind']}) — outage 故障")
    nodes: dict[tuple[str, ...], Tree] = {(report["asset_id"],): root}
    for item in report["affected"]:  # nearest first, so a node's parent is in the tree before it
        path = tuple(item["path"])
        parent = nodes.get(path[:-1], root)
        style = "bold" if item["asset_class"] in kinds.IMPACT_CLASSES else ""
        label = f"[{style}]{item['id']}[/] {item['name']} ({item['kind']}, {item['criticality']})" if style else \
            f"{item['id']} {item['name']} ({item['kind']}, {item['criticality']})"
        nodes[path] = parent.add(label)
    return root


@app.command("impact")
def impact_cmd(asset_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonOpt = False,
               workspace: WorkspaceOpt = None) -> None:
    """What an outage of the asset touches (影响分析): every asset depending on it, as a tree."""
    with open_workspace(workspace) as (_settings, session):
        out = impact(session, asset_id).model_dump(mode="json")
    if as_json:
        print_json(out)
        return
    console.print(_tree(out))
    console.print(f"{len(out['affected'])} assets affected, {out['applications']} of them applications, systems or "
                  "services", highlight=False)
    if out["measures"]:
        console.print(f"measures that may move: {', '.join(out['measures'])}", highlight=False)


def _availability_table(out: dict[str, Any]) -> Table:
    what = {"asset": "asset 设备", "type": "type 类型", "department": "department 责任单位"}[out["by"]]
    table = Table("#", what, "assets 设备数", "可用率 availability", "数据完整率 completeness", "故障次数 outages",
                  "平均修复时长 MTTR", title=f"availability 可用率 · {out['tenant'] or 'all units 全部单位'} · "
                                           f"{out['period']} (worst first 最差在前)")
    for i, g in enumerate(out["groups"], 1):
        label = f"{g['name']} {g['key']}" if g["name"] and g["name"] != g["key"] else (g["key"] or "(none 无)")
        table.add_row(str(i), label, f"{g['assets']:,}", fmt_value(g["availability"], "ratio"),
                      fmt_value(g["completeness"], "ratio"), f"{g['outages']:,}", fmt_value(g["mttr_hours"], "h"))
    t = out["total"]
    table.add_section()
    table.add_row("", "total 合计", f"{t['assets']:,}", fmt_value(t["availability"], "ratio"),
                  fmt_value(t["completeness"], "ratio"), f"{t['outages']:,}", fmt_value(t["mttr_hours"], "h"))
    return table


@app.command("availability")
def availability_cmd(
    period: PeriodOpt,
    by: Annotated[str, typer.Option("--by", help="group per type (kind), department or asset")] = "type",
    tenant: Annotated[str | None, typer.Option("--tenant", help="a unit: its subtree (default: every unit)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="the worst groups only")] = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Availability (可用率), data completeness, outages and MTTR per type, department or asset, worst first."""
    per = parse_period(period)
    with open_workspace(workspace, engine) as (settings, session):
        out = availability_report(session=session, settings=settings, period=per, by=by, tenant=tenant,
                                  limit=limit, engine_name=engine).model_dump(mode="json")
    if as_json:
        print_json(out)
        return
    if not out["groups"] and out["total"]["availability"] is None:
        console.print(f"[yellow]no reporting asset in the lake for {out['tenant'] or 'any unit'} in {per.label}[/]: "
                      "register assets with an expected interval, then run `chengyun assets export`", highlight=False)
        return
    console.print(_availability_table(out))
    if out["other_readings"]:
        console.print(f"{out['other_readings']:,} readings of assets not in the registry's export or without an "
                      "expected interval count in the total's completeness only", highlight=False)


@app.command("export")
def export_cmd(as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Write every new or changed asset to the lake's assets table (台账入湖)."""
    with open_workspace(workspace) as (settings, session):
        written = export_assets(settings, session)
    if as_json:
        print_json({"written": written})
        return
    console.print(f"{written:,} asset rows written to {settings.lake / 'assets'}")
