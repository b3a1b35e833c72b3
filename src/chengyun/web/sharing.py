"""Console pages of data sharing (数据共享), under the data resources section (数据资源): the inbox of sharing
requests by status (共享申请), with the provider's approve / refuse forms and the revocation of live grants.

The inbox reads with ``sharing.request`` (as ``GET /api/v1/sharing-requests``: requests for the caller's datasets
and from the caller's departments); the forms act with ``sharing.decide`` on the dataset's unit through the same
service as the REST API (``catalog/sharing_views.py``). An approval answers with the page itself, carrying the
grant token this once (never in a URL); a refused action is shown on the inbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengyun.accounts.access import Principal
from chengyun.api.deps import principal_of, scoped
from chengyun.catalog import sharing
from chengyun.catalog.models import Dataset, SharingRequest
from chengyun.core.db import utcnow
from chengyun.core.errors import ChengyunError, InvalidInput
from chengyun.core.scoping import unscoped
from chengyun.tenancy.models import AdminUnit
from chengyun.web.assets import department_names, local
from chengyun.web.datasets import SECTION
from chengyun.web.pages import Lang, render

router = APIRouter(include_in_schema=False)
SharingRead = Annotated[Session, scoped("sharing.request")]
SharingDecide = Annotated[Session, scoped("sharing.decide")]
RequestId = Annotated[str, Path(max_length=32)]
PAGE_SIZE = 25
DECISIONS = ("approve", "refuse")


def _where(status: str, now: datetime) -> Any:
    """The requests whose status now is ``status`` (a grant past its expiry reads expired, as ``status_of``)."""
    r = SharingRequest
    lapsed = (r.status == "granted") & r.expires_at.is_not(None) & (r.expires_at <= now)
    if status == "granted":
        return (r.status == "granted") & ~lapsed
    if status == "expired":
        return (r.status == "expired") | lapsed
    return r.status == status


def _titles(session: Session, ids: set[str]) -> dict[str, Dataset]:
    """The requested datasets (a requester's request names a dataset of another unit: read unscoped, only for the
    ids of requests the caller sees)."""
    if not ids:
        return {}
    with unscoped(session):
        return {d.id: d for d in session.scalars(select(Dataset).where(Dataset.id.in_(ids)))}


def _unit_names(session: Session, ids: set[str]) -> dict[str, str]:
    with unscoped(session):
        return dict(session.execute(select(AdminUnit.id, AdminUnit.name).where(AdminUnit.id.in_(ids))).tuples().all())


def _rows(session: Session, reqs: list[SharingRequest], me: Principal, lang: str, tz: str) -> list[dict[str, Any]]:
    datasets = _titles(session, {r.dataset_id for r in reqs})
    depts = department_names(session, {r.requester_department_id for r in reqs})
    units = _unit_names(session, {r.tenant_id for r in reqs} | {r.requester_tenant_id for r in reqs})
    now, en, out = utcnow(), lang == "en", []
    for r in reqs:
        state, ds = sharing.status_of(r, now), datasets.get(r.dataset_id)
        deciding = me.can("sharing.decide", r.tenant_id)
        out.append({
            "id": r.id, "dataset_id": r.dataset_id, "dataset": ds.title if ds else r.dataset_id,
            "dataset_name": ds.name if ds else "", "dataset_link": me.can("datasets.read", r.tenant_id),
            "provider_unit": units.get(r.tenant_id, r.tenant_id),
            "requester": depts.get(r.requester_department_id, r.requester_department_id),
            "requester_unit": units.get(r.requester_tenant_id, r.requester_tenant_id), "requested_by": r.requested_by,
            "purpose": r.purpose, "scenario": r.scenario, "fields": r.fields, "days": r.days,
            "status": state, "status_text": sharing.STATUSES[state][en], "requested": local(r.requested_at, tz),
            "decided": local(r.decided_at, tz), "decided_by": r.decided_by, "note": r.decision_note,
            "expires": local(r.expires_at, tz), "revoked": local(r.revoked_at, tz),
            "can_decide": state == "pending" and deciding, "can_revoke": state == "granted" and deciding,
        })
    return out


def _inbox(request: Request, session: Session, lang: str, *, status: str, dataset: str = "", page: int = 1,
           error: ChengyunError | None = None, asked: dict[str, str] | None = None,
           granted: dict[str, Any] | None = None) -> HTMLResponse:
    """The inbox on the tab of ``status``, with an error of a refused action or a token just granted above it."""
    me: Principal = request.state.principal
    tz, now = request.app.state.settings.timezone, utcnow()
    where = [SharingRequest.dataset_id == dataset] if dataset else []
    counts = session.execute(select(*(func.count().filter(_where(s, now)) for s in sharing.STATUSES))
                             .select_from(SharingRequest).where(*where)).one()
    stmt = select(SharingRequest).where(_where(status, now), *where)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    reqs = list(session.scalars(stmt.order_by(SharingRequest.requested_at.desc(), SharingRequest.id)
                                .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    kept = {k: v for k, v in {"status": status, "dataset": dataset}.items() if v}
    pages = max(1, -(-total // PAGE_SIZE))
    rows = _rows(session, reqs, me, lang, tz)
    other: dict[str, str] = {}
    if request.method == "POST":  # the page stands at the form's address: the language switch goes to the inbox
        other["switch_url"] = f"/sharing?{urlencode(kept | {'lang': 'zh' if lang == 'en' else 'en'})}"
    response = render(
        request, "datasets/sharing.html", lang, status_code=error.status if error else 200, section=SECTION,
        status=status, tabs=[(s, names, n) for (s, names), n in zip(sharing.STATUSES.items(), counts, strict=True)],
        rows=rows, total=total, page=page, pages=pages, dataset=dataset,
        # the title only from a request the caller sees (never looked up for any id put in the address)
        dataset_title=next((r["dataset"] for r in rows if r["dataset_id"] == dataset), None) if dataset else None,
        error=error, asked=asked or {}, granted=granted, **other,
        prev_url=f"/sharing?{urlencode(kept | {'page': page - 1})}" if page > 1 else None,
        next_url=f"/sharing?{urlencode(kept | {'page': page + 1})}" if page < pages else None,
    )
    if granted:
        response.headers["Cache-Control"] = "no-store"  # the token is on this page only
    return response


@router.get("/sharing")
def sharing_page(
    request: Request,
    lang: Lang,
    session: SharingRead,
    status: Annotated[str, Query(max_length=16)] = "pending",
    dataset: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Sharing requests for the caller's datasets and from the caller's departments, one status per tab, newest
    first; pending ones with the provider's approve and refuse forms, live grants with revoke."""
    if status not in sharing.STATUSES:
        raise InvalidInput(f"status: {status!r} is not a request status", fix=f"use one of {', '.join(sharing.STATUSES)}")
    return _inbox(request, session, lang, status=status, dataset=dataset, page=page)


def _decided(session: Session, request_id: str) -> SharingRequest:
    """The request, if the caller may see it (404) and decide on its dataset's unit (403), before anything else."""
    req = sharing.get_request(session, request_id)
    principal_of(session).require("sharing.decide", req.tenant_id)
    return req


def _refused(request: Request, session: Session, lang: str, req: SharingRequest, exc: ChengyunError,
             asked: dict[str, str]) -> HTMLResponse:
    """The inbox on the request's tab with what went wrong; nothing of the refused action is kept."""
    session.rollback()
    return _inbox(request, session, lang, status=sharing.status_of(req), error=exc, asked=asked | {"id": req.id})


@router.post("/sharing/{request_id}/decision")
def decision_submit(
    request_id: RequestId,
    request: Request,
    lang: Lang,
    session: SharingDecide,
    decision: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> HTMLResponse:
    """Approve (批准) or refuse (驳回, with a reason) from the inbox (the form carries the CSRF token). An
    approval shows the grant token once on the answer; a refusal goes back to the inbox."""
    req = _decided(session, request_id)
    try:
        if decision not in DECISIONS:
            raise InvalidInput(f"decision: {decision!r} is not a decision", fix="use the 批准 or 驳回 button")
        token = sharing.decide(session, req, approve=decision == "approve", note=note.strip() or None)
    except ChengyunError as exc:
        return _refused(request, session, lang, req, exc, {"decision": decision, "note": note})
    if token is None:
        return RedirectResponse(f"/sharing?status=refused#request-{req.id}", status_code=303)  # type: ignore[return-value]
    return _inbox(request, session, lang, status="granted", granted={"id": req.id, "token": token})


@router.post("/sharing/{request_id}/revoke")
def revoke_submit(
    request_id: RequestId,
    request: Request,
    lang: Lang,
    session: SharingDecide,
    note: Annotated[str, Form(max_length=1000)] = "",
) -> HTMLResponse:
    """Withdraw a grant (撤销授权) from the inbox: its token stops working at once."""
    req = _decided(session, request_id)
    try:
        sharing.revoke(session, req, note=note.strip() or None, actor=principal_of(session).name)
    except ChengyunError as exc:
        return _refused(request, session, lang, req, exc, {"note": note})
    return RedirectResponse(f"/sharing?status=revoked#request-{req.id}", status_code=303)  # type: ignore[return-value]
