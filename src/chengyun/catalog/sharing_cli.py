"""``chengyun sharing``: request a dataset, decide, revoke, list the inbox, read usage (数据共享)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from chengyun.catalog import service, sharing
from chengyun.catalog.models import SharingRequest
from chengyun.catalog.schemas import GrantRead, SharingRead
from chengyun.catalog.usage import usage
from chengyun.cli.common import JsonOpt, WorkspaceOpt, console, open_workspace, print_json

app = typer.Typer(help="Data sharing (数据共享): requests, decisions, grants and their usage.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(metavar="ID", help="the sharing request's id")]
NoteOpt = Annotated[str | None, typer.Option("--note", help="the reason (required to refuse)")]


def _grant_out(req: SharingRequest, token: str | None) -> dict[str, object]:
    return GrantRead(**SharingRead.from_request(req, sharing.status_of(req)).model_dump(), token=token).model_dump(mode="json")


def _print_grant(out: dict[str, object]) -> None:
    console.print(f"{out['id']}: {out['status_zh']} {out['status']}", highlight=False)
    if out.get("token"):
        console.print(f"grant token (shown once, send as X-Grant-Token): [bold]{out['token']}[/]", highlight=False)


@app.command("request")
def request_cmd(
    dataset: Annotated[str, typer.Argument(metavar="DATASET", help="the dataset's name or id")],
    department: Annotated[str, typer.Option("--department", help="the requesting department's id")],
    purpose: Annotated[str, typer.Option("--purpose", help="用途: what the data is for")],
    fields: Annotated[str | None, typer.Option("--fields", help="comma-separated fields (default: all)")] = None,
    scenario: Annotated[str | None, typer.Option("--scenario", help="应用场景, counted in usage")] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=1095, help="how long the grant should last")] = 365,
    tenant: Annotated[str | None, typer.Option("--tenant", help="the dataset's unit (when names repeat)")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """File a sharing request; a 无条件共享 dataset is granted at once."""
    with open_workspace(workspace) as (_settings, session):
        ds = service.get_dataset(session, dataset, tenant=tenant)
        req, token = sharing.request_access(session, ds, department=department, purpose=purpose, scenario=scenario,
                                            fields=[f.strip() for f in fields.split(",")] if fields else None, days=days)
        out = _grant_out(req, token)
    print_json(out) if as_json else _print_grant(out)


@app.command("approve")
def approve_cmd(request_id: IdArg, note: NoteOpt = None, as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Grant a pending request (审批通过); prints the token once."""
    with open_workspace(workspace) as (_settings, session):
        req = sharing.get_request(session, request_id)
        token = sharing.decide(session, req, approve=True, note=note)
        out = _grant_out(req, token)
    print_json(out) if as_json else _print_grant(out)


@app.command("refuse")
def refuse_cmd(request_id: IdArg, note: NoteOpt = None, as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Refuse a pending request (驳回), with the reason."""
    with open_workspace(workspace) as (_settings, session):
        req = sharing.get_request(session, request_id)
        sharing.decide(session, req, approve=False, note=note)
        out = _grant_out(req, None)
    print_json(out) if as_json else _print_grant(out)


@app.command("revoke")
def revoke_cmd(request_id: IdArg, note: NoteOpt = None, as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Withdraw a grant (撤销): its token stops working at once."""
    with open_workspace(workspace) as (_settings, session):
        req = sharing.get_request(session, request_id)
        sharing.revoke(session, req, note=note)
        out = _grant_out(req, None)
    print_json(out) if as_json else _print_grant(out)


@app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option("--status", help="pending, granted, refused, revoked or expired")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="a dataset's id")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Sharing requests, newest first (the inbox: --status pending)."""
    with open_workspace(workspace) as (_settings, session):
        q = select(SharingRequest).order_by(SharingRequest.requested_at.desc()).limit(limit)
        if status:
            q = q.where(sharing.status_filter(status))
        if dataset:
            q = q.where(SharingRequest.dataset_id == dataset)
        rows = [SharingRead.from_request(r, sharing.status_of(r)).model_dump(mode="json") for r in session.scalars(q)]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "dataset", "requester 申请部门", "purpose 用途", "status", "requested", "expires",
                  title=f"sharing requests 共享申请 ({len(rows)})")
    for r in rows:
        table.add_row(r["id"], r["dataset_id"], r["requester_department_id"], r["purpose"][:30],
                      f"{r['status_zh']} {r['status']}", r["requested_at"][:10], (r["expires_at"] or "—")[:10])
    console.print(table)


@app.command("usage")
def usage_cmd(tenant: Annotated[str | None, typer.Option("--tenant", help="a unit and its subtree")] = None,
              as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Calls and rows served per dataset, consumer and scenario (数据调用), with each dataset's reuse."""
    with open_workspace(workspace) as (_settings, session):
        out = usage(session, tenant=tenant)
    if as_json:
        print_json(out)
        return
    table = Table("dataset", "consumer 使用部门", "scenario 场景", "calls", "rows", title="usage 数据调用")
    for r in out["rows"]:
        table.add_row(r["dataset_id"], r["consumer_department_id"], r["scenario"] or "—", f"{r['calls']:,}",
                      f"{r['rows']:,}")
    console.print(table)
    console.print(f"datasets used by two or more departments (复用): {out['reused']} of {out['used']} used",
                  highlight=False)
