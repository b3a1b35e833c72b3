"""``chengyun alarms``: list alarms (告警), show or replace a unit's alarm rules, run the absence sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chengyun.assets import alarms
from chengyun.assets.alarm_schemas import AlarmRead, AlarmRuleBase, AlarmRuleSet
from chengyun.cases.service import CaseDesk
from chengyun.cli.common import JsonOpt, TenantOpt, WorkspaceOpt, console, open_workspace, print_json
from chengyun.core.db import utcnow
from chengyun.tenancy.service import get_unit

app = typer.Typer(help="Alarms (告警): list them, show or replace a unit's rules, run the absence sweep.",
                  no_args_is_help=True)


@app.command("list")
def list_cmd(
    tenant: Annotated[str | None, typer.Option("--tenant", help="a unit: its alarms and its subtree's")] = None,
    status: Annotated[str | None, typer.Option("--status", help="raised, acknowledged, cleared or open "
                                               "(raised and acknowledged)")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Alarms, open ones first, then the most severe, then the newest."""
    open_only = status == "open"
    with open_workspace(workspace) as (_settings, session):
        items, total = alarms.list_alarms(session, tenant=tenant, status=None if open_only else status,
                                          open_only=open_only, limit=limit)
        rows = [AlarmRead.from_alarm(a).model_dump(mode="json") for a in items]
    if as_json:
        print_json({"items": rows, "total": total, "limit": limit, "offset": 0})
        return
    table = Table("id", "级别 severity", "asset", "unit", "状态 status", "raised (UTC)", "count", "message", "case",
                  title=f"alarms 告警 ({len(rows)} of {total})")
    for r in rows:
        table.add_row(r["id"], f"{r['severity_zh']} {r['severity']}", r["asset_id"], r["tenant_id"],
                      f"{r['status_zh']} {r['status']}", r["raised_at"][:19], str(r["count"]), r["message"],
                      r["case_id"] or "—")
    console.print(table)


@app.command("rules")
def rules_cmd(
    tenant: TenantOpt,
    file: Annotated[Path | None, typer.Option("--file", help="replace the unit's rules with this YAML file "
                                              "(all or nothing)")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Show a unit's own alarm rules as YAML, or replace them from a file."""
    with open_workspace(workspace) as (settings, session):
        unit = get_unit(session=session, unit_id=tenant)
        if file is not None:
            alarms.replace_rules(session, unit.id, alarms.load_rules(file), desk=CaseDesk.for_settings(settings))
        alarms.ensure_default_rules(session)
        own = alarms.rules_of(session, unit.id)
        header = f"告警规则 alarm rules of {unit.id} ({unit.name})"
        if not own:
            header += ": none of its own (the rules of the units above, or the shipped defaults, apply)"
        text = AlarmRuleSet(tenant=unit.id, rules=[AlarmRuleBase.from_rule(r) for r in own]).to_yaml(header)
    typer.echo(text, nl=False)  # plain: rich would wrap the comment lines and break the YAML


@app.command("sweep")
def sweep_cmd(as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Run the absence sweep once (for cron): raise alarms for silent assets, clear those heard from again."""
    with open_workspace(workspace) as (settings, session):
        changes = alarms.sweep_absence(session, utcnow(), desk=CaseDesk.for_settings(settings))
    out = changes.to_dict()
    if as_json:
        print_json(out)
        return
    console.print(f"{len(out['raised'])} raised, {out['repeated']} still silent, {len(out['cleared'])} cleared; "
                  f"{out['offline']} assets marked offline, {out['online']} online", highlight=False)
