"""``chengyun tenants``: administrative units (行政区划)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chengyun.cli.common import JsonOpt, WorkspaceOpt, console, open_workspace, print_json
from chengyun.tenancy.service import add_unit, list_units

app = typer.Typer(help="Administrative units (行政区划): city → district → street → grid.", no_args_is_help=True)


@app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List every tenant, parents before children."""
    with open_workspace(workspace) as (_s, session):
        units = list_units(session=session)
        rows = [{"id": u.id, "name": u.name, "level": u.level, "parent": u.parent_id, "population": u.population,
                 "area_km2": u.area_km2, "timezone": u.timezone} for u in units]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "名称 name", "层级 level", "上级 parent", "人口 population", title="tenants 行政区划")
    for r in rows:
        table.add_row(str(r["id"]), str(r["name"]), str(r["level"]), str(r["parent"] or ""),
                      f"{r['population']:,}" if r["population"] else "")
    console.print(table)


@app.command("add")
def add_cmd(
    unit_id: Annotated[str, typer.Argument(metavar="ID", help="tenant id, e.g. 350100 or city.d01")],
    name: Annotated[str, typer.Option("--name", help="name, e.g. 临江市")],
    parent: Annotated[str | None, typer.Option("--parent", help="parent tenant id")] = None,
    population: Annotated[int | None, typer.Option("--population", help="resident population")] = None,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone")] = "Asia/Shanghai",
    workspace: WorkspaceOpt = None,
) -> None:
    """Add a tenant under an optional parent."""
    with open_workspace(workspace) as (_s, session):
        unit = add_unit(session=session, unit_id=unit_id, name=name, parent_id=parent, population=population,
                        timezone=timezone)
        console.print(f"added tenant [bold]{unit.id}[/] {unit.name} ({unit.level})")
