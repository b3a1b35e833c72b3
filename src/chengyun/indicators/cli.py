"""``chengyun evaluate | report | packs | inputs | evaluations``: the indicator engine from the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from chengyun.analytics.engine import connect
from chengyun.analytics.registry import get_registry
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
from chengyun.core.errors import PackError
from chengyun.core.periods import parse_period
from chengyun.indicators import inputs as inputs_svc
from chengyun.indicators.catalog import available_packs, get_pack
from chengyun.indicators.pack import load_pack_file
from chengyun.indicators.service import evaluate, list_runs, run_summary
from chengyun.indicators.view import run_json, run_view

packs_app = typer.Typer(help="Indicator packs (指标体系).", no_args_is_help=True)
inputs_app = typer.Typer(help="Manual inputs (人工填报) with evidence.", no_args_is_help=True)
runs_app = typer.Typer(help="Evaluation runs (评价记录).", no_args_is_help=True)


def score_tree(view: dict[str, Any], max_depth: int = 9) -> Tree:
    """A rich tree of a run: total, stage, and each node's score, value and status."""
    run = view["run"]
    head = (f"[bold]{run['pack_title']}[/] · {run['tenant_name']} · {run['period']} — "
            f"总分 total [bold cyan]{run['total'] if run['total'] is not None else '—'}[/] / {run['max_total']:g} · "
            f"阶段 stage [bold]{run['stage'] or '—'}[/]")
    tree = Tree(head)
    branches: dict[str | None, Tree] = {None: tree}
    for n in view["nodes"]:
        if n["depth"] > max_depth:
            continue
        score = "—" if n["score"] is None else f"{n['score']:.2f}"
        delta = "" if n["delta"] is None else (f" [green]▲{n['delta']:.2f}[/]" if n["delta"] > 0 else
                                               f" [red]▼{abs(n['delta']):.2f}[/]" if n["delta"] < 0 else " =")
        status = {"no-data": " [yellow]无数据 no data[/]", "partial": " [yellow]部分 partial[/]"}.get(n["status"], "")
        value = "" if n["kind"] == "group" else f"  ({fmt_value(n['value'], n['unit'])})"
        label = f"{n['id']} {n['name']}  [bold]{score}[/]/{n['max_score']:.2f}{value}{delta}{status}"
        parent = branches.get(n["parent_id"], tree)
        branches[n["id"]] = parent.add(label)
    return tree


@packs_app.command("list")
def packs_list(as_json: JsonOpt = False) -> None:
    """List the installed packs."""
    packs = available_packs()
    rows = [{"id": p.id, "version": p.version, "title": p.title, "standard": p.standard, "nodes": len(p.walk()),
             "measures": sum(1 for n in p.walk() if n.kind == "measure"),
             "manual": sum(1 for n in p.walk() if n.kind == "manual")} for p in packs.values()]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "version", "名称 title", "nodes", "度量 measured", "填报 manual", title="packs 指标体系")
    for r in rows:
        table.add_row(str(r["id"]), str(r["version"]), str(r["title"]), str(r["nodes"]), str(r["measures"]), str(r["manual"]))
    console.print(table)


@packs_app.command("show")
def packs_show(pack_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonOpt = False) -> None:
    """Show a pack's tree: weights, bindings, scoring rules and provenance."""
    pack = get_pack(pack_id)
    if as_json:
        print_json([{"id": n.id, "name": n.name, "weight": n.weight, "kind": n.kind, "measure": n.measure,
                     "scoring": n.scoring, "provenance": n.provenance} for n in pack.walk()])
        return
    tree = Tree(f"[bold]{pack.id}[/] {pack.title} v{pack.version} — {pack.standard} · scale {pack.scale:g} · no-data: {pack.no_data}")

    def add(branch: Tree, node: Any) -> None:
        bind = f" → {node.measure}" if node.measure else (" → 人工填报 manual input" if node.kind == "manual" else "")
        rule = f" \\[{node.scoring.get('rule')}]" if node.scoring else ""
        sub = branch.add(f"{node.id} {node.name} [dim]{node.name_en}[/] w={node.weight:g}{bind}{rule} [dim]({node.provenance})[/]")
        for c in node.children:
            add(sub, c)

    for n in pack.nodes:
        add(tree, n)
    console.print(tree)
    console.print("阶段 stages: " + ", ".join(f"{s.name} ≥{s.min:g}" for s in pack.stages) + (f"  [dim]{pack.stage_note}[/]" if pack.stage_note else ""))


@packs_app.command("validate")
def packs_validate(file: Annotated[Path, typer.Argument(metavar="FILE", exists=True, dir_okay=False)]) -> None:
    """Validate a pack file; exit 1 listing each error with file and node path."""
    try:
        pack = load_pack_file(file, set(get_registry().measures))
    except PackError as exc:
        # Messages quote the file's own text, which may hold [brackets] that rich would read as markup.
        console.print(f"[red]{escape(exc.message)}[/]", highlight=False)
        for d in exc.details:
            console.print(f"  - {d}", markup=False, highlight=False)
        if exc.fix:
            console.print(f"  fix: {exc.fix}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"[green]valid[/] {escape(pack.id)} v{escape(pack.version)}: {len(pack.walk())} nodes", highlight=False)


def evaluate_cmd(pack: Annotated[str, typer.Option("--pack", help="pack id")], tenant: TenantOpt, period: PeriodOpt,
                 engine: EngineOpt = None, as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Evaluate a pack for a tenant (and its whole subtree) and period."""
    per = parse_period(period)
    with open_workspace(workspace, engine) as (settings, session):
        eng = connect(settings, engine)
        try:
            run = evaluate(session=session, settings=settings, engine=eng, pack_id=pack, tenant_id=tenant, period=per)
        finally:
            eng.close()
        if as_json:
            print_json(run_json(session, run))
            return
        console.print(score_tree(run_view(session=session, run_id=run.id)))
        console.print(f"run id: [bold]{run.id}[/]   report: chengyun report {run.id} --format html --out report.html")
        for w in run.warnings:
            console.print(f"[yellow]warning:[/] {w}")


def report_cmd(run_id: Annotated[str, typer.Argument(metavar="RUN_ID")],
               fmt: Annotated[str, typer.Option("--format", help="html, xlsx or docx")],
               out: Annotated[Path, typer.Option("--out", help="output file")], workspace: WorkspaceOpt = None) -> None:
    """Write a run's report as self-contained HTML, an Excel workbook or a Word document."""
    from chengyun.indicators.report import render

    with open_workspace(workspace) as (_s, session):
        path = render(run_view(session=session, run_id=run_id), fmt, out)
    console.print(f"wrote {path}")


@runs_app.command("list")
def runs_list(pack: Annotated[str | None, typer.Option("--pack")] = None, tenant: Annotated[str | None, typer.Option("--tenant")] = None,
              as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """List finished evaluation runs, newest period first."""
    with open_workspace(workspace) as (_s, session):
        rows = [run_summary(r) for r in list_runs(session=session, pack_id=pack, tenant_id=tenant)]
    if as_json:
        print_json(rows)
        return
    table = Table("run id", "pack", "tenant", "period", "total", "stage", "engine", title="evaluations 评价记录")
    for r in rows:
        table.add_row(r["run_id"], r["pack"], r["tenant"], r["period"], "—" if r["total"] is None else f"{r['total']:.2f}",
                      r["stage"] or "—", r["engine"])
    console.print(table)


@inputs_app.command("set")
def inputs_set(pack: Annotated[str, typer.Argument(metavar="PACK")], node: Annotated[str, typer.Argument(metavar="NODE")],
               tenant: TenantOpt, period: PeriodOpt, value: Annotated[float, typer.Option("--value")],
               evidence: Annotated[str | None, typer.Option("--evidence", help="where the figure comes from")] = None,
               workspace: WorkspaceOpt = None) -> None:
    """Enter a figure for a manual node, with its evidence."""
    with open_workspace(workspace) as (_s, session):
        row = inputs_svc.set_input(session=session, pack_id=pack, node_id=node, tenant_id=tenant, period=period,
                                   value=value, evidence=evidence)
        console.print(f"stored {row.pack_id}/{row.node_id} = {row.value:g} for {row.tenant_id} {row.period}")


@inputs_app.command("template")
def inputs_template(pack: Annotated[str, typer.Argument(metavar="PACK")], tenant: TenantOpt, period: PeriodOpt,
                    out: Annotated[Path, typer.Option("--out", help="FILE.xlsx")], workspace: WorkspaceOpt = None) -> None:
    """Export an Excel template of a pack's manual nodes to fill in."""
    with open_workspace(workspace) as (_s, session):
        path = inputs_svc.write_template(session=session, pack_id=pack, tenant_id=tenant, period=period, out=out)
    console.print(f"wrote {path} — fill the yellow columns, then: chengyun inputs load {path}")


@inputs_app.command("load")
def inputs_load(file: Annotated[Path, typer.Argument(metavar="FILE.xlsx", exists=True, dir_okay=False)],
                workspace: WorkspaceOpt = None) -> None:
    """Load a filled template; nothing is stored unless every filled row is valid."""
    with open_workspace(workspace) as (_s, session):
        counts = inputs_svc.load_template(session=session, path=file)
    console.print(f"loaded {counts['loaded']} value(s); {counts['blank']} row(s) left blank")
