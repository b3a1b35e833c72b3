"""Data sharing (数据共享): a department asks for a dataset, the provider decides, a grant serves rows by token.

The sharing type of the catalogue entry decides the path: 无条件共享 (``unconditional``) is granted at once by the
platform (decided by ``auto``); 有条件共享 (``conditional``) waits for the provider department; 不予共享 (``none``)
cannot be requested. A grant is a token, shown once and stored as its SHA-256, that reads the granted fields
until ``expires_at`` or a revocation; personal columns are served masked (``catalog/masking.py``). Every read
is metered (``DataAccess``, exported to the lake's ``data_access``) and every step is an audit entry.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.catalog.masking import mask_rows
from chengyun.catalog.models import DataAccess, Dataset, SharingRequest
from chengyun.catalog.personal import classes_of
from chengyun.core.db import utcnow
from chengyun.core.errors import ChengyunError, Conflict, InvalidInput, NotFound
from chengyun.core.scoping import unscoped
from chengyun.tenancy.models import Department

STATUSES = {"pending": ("待审批", "Pending"), "granted": ("已授权", "Granted"), "refused": ("已驳回", "Refused"),
            "revoked": ("已撤销", "Revoked"), "expired": ("已过期", "Expired")}
MAX_DAYS = 3 * 365
MAX_ROWS = 10_000  # rows per read; more with offset
TOKEN_PREFIX = "cyg_"


class GrantRefused(ChengyunError):
    """A grant token that is unknown, expired or revoked."""

    status = 403
    code = "grant-refused"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def status_of(req: SharingRequest, now: datetime | None = None) -> str:
    """The request's status now: a grant past its expiry reads ``expired``."""
    if req.status == "granted" and req.expires_at is not None and req.expires_at <= (now or utcnow()):
        return "expired"
    return req.status


def status_filter(status: str, now: datetime | None = None) -> Any:
    """The SQL condition for requests whose status now is ``status`` (a grant past its expiry is ``expired``
    before the tick has marked it)."""
    now = now or utcnow()
    lapsed = (SharingRequest.status == "granted") & (SharingRequest.expires_at <= now)
    if status == "expired":
        return (SharingRequest.status == "expired") | lapsed
    if status == "granted":
        return (SharingRequest.status == "granted") & ~lapsed
    return SharingRequest.status == status


def get_request(session: Session, request_id: str) -> SharingRequest:
    """A sharing request the caller may see, else NotFound."""
    req = session.get(SharingRequest, request_id)
    if req is None:
        raise NotFound(f"no sharing request {request_id!r}", fix="see `chengyun sharing list`")
    return req


def request_access(session: Session, ds: Dataset, *, department: str, purpose: str, fields: list[str] | None = None,
                   scenario: str | None = None, days: int = 365, actor: str | None = None,
                   at: datetime | None = None) -> tuple[SharingRequest, str | None]:
    """File a request (共享申请); an unconditional dataset is granted at once and its token returned."""
    if ds.sharing_type == "none":
        raise InvalidInput(f"dataset {ds.name!r} is 不予共享 (not shared)",
                           fix="ask the provider department to change its sharing type in the catalogue")
    with unscoped(session):
        dept = session.get(Department, department)
    if dept is None:
        raise NotFound(f"department: no department {department!r}", fix="use a department id of GET /api/v1/departments")
    if not purpose.strip():
        raise InvalidInput("purpose: say what the data is for (用途)", fix="give a purpose, e.g. 企业信用监管")
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days: {days} is out of range", fix=f"ask for 1 to {MAX_DAYS} days")
    columns = {c["name"] for c in ds.schema_ or []}
    unknown = [f for f in fields or [] if columns and f not in columns]
    if unknown:
        raise InvalidInput(f"fields: {', '.join(unknown)} not in dataset {ds.name!r}",
                           fix=f"choose among: {', '.join(sorted(columns))}")
    now = at or utcnow()
    req = SharingRequest(id=f"sr-{uuid.uuid4().hex[:16]}", dataset_id=ds.id, tenant_id=ds.tenant_id,
                         requester_department_id=department, requester_tenant_id=dept.tenant_id,
                         requested_by=actor, fields=list(fields) if fields else None, purpose=purpose.strip()[:1000],
                         scenario=scenario, days=days, status="pending", requested_at=now)
    session.add(req)
    session.flush()
    audit.record(session, "sharing.request", target_type="sharing_request", target_id=req.id, tenant_id=ds.tenant_id,
                 detail={"dataset": ds.id, "department": department, "fields": req.fields, "days": days}, actor=actor)
    token = None
    if ds.sharing_type == "unconditional":
        token = _grant(session, req, by="auto", note="无条件共享 unconditional sharing", at=now)
    return req, token


def _grant(session: Session, req: SharingRequest, *, by: str, note: str | None, at: datetime) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    req.status, req.decided_at, req.decided_by, req.decision_note = "granted", at, by, note
    req.expires_at, req.token_hash = at + timedelta(days=req.days), _hash(token)
    session.flush()
    audit.record(session, "sharing.grant", target_type="sharing_request", target_id=req.id, tenant_id=req.tenant_id,
                 detail={"expires_at": req.expires_at.isoformat(), "by": by}, actor=by if by == "auto" else None)
    return token


def decide(session: Session, req: SharingRequest, *, approve: bool, note: str | None = None,
           actor: str | None = None, at: datetime | None = None) -> str | None:
    """The provider's decision (审批): approve (returns the grant token, shown once) or refuse with a reason."""
    if req.status != "pending":
        raise Conflict(f"sharing request {req.id} is {req.status}, not pending", fix="only pending requests are decided")
    now = at or utcnow()
    actor = actor or session.info.get("actor") or audit.cli_actor()
    if approve:
        return _grant(session, req, by=actor, note=note, at=now)
    if not (note or "").strip():
        raise InvalidInput("note: a refusal needs its reason (驳回理由)", fix="say why, e.g. 用途与字段不符")
    req.status, req.decided_at, req.decided_by, req.decision_note = "refused", now, actor, note
    session.flush()
    audit.record(session, "sharing.refuse", target_type="sharing_request", target_id=req.id, tenant_id=req.tenant_id,
                 detail={"note": note}, actor=actor)
    return None


def revoke(session: Session, req: SharingRequest, *, note: str | None = None, actor: str | None = None) -> None:
    """Withdraw a grant (撤销授权): its token stops working at once."""
    if status_of(req) != "granted":
        raise Conflict(f"sharing request {req.id} is {status_of(req)}, not granted", fix="only live grants are revoked")
    req.status, req.revoked_at = "revoked", utcnow()
    req.decision_note = "; ".join(x for x in (req.decision_note, note) if x) or None
    session.flush()
    audit.record(session, "sharing.revoke", target_type="sharing_request", target_id=req.id, tenant_id=req.tenant_id,
                 detail={"note": note}, actor=actor)


def expire_grants(session: Session, *, now: datetime | None = None) -> int:
    """Mark grants past their expiry as ``expired`` (the tick); returns how many."""
    now = now or utcnow()
    res = session.execute(update(SharingRequest).where(SharingRequest.status == "granted",
                                                       SharingRequest.expires_at <= now).values(status="expired"))
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


def authorise(session: Session, token: str, *, now: datetime | None = None) -> SharingRequest:
    """The live grant a token belongs to, else GrantRefused (the reason says which)."""
    with unscoped(session):
        req = session.scalar(select(SharingRequest).where(SharingRequest.token_hash == _hash(token)))
    if req is None:
        raise GrantRefused("grant token: unknown", fix="use the token given when the request was granted")
    state = status_of(req, now)
    if state != "granted":
        raise GrantRefused(f"grant token: the grant is {state} ({STATUSES[state][0]})",
                           fix="file a new sharing request: chengyun sharing request")
    return req


def read_rows(settings: Any, session: Session, req: SharingRequest, *, limit: int = 1000, offset: int = 0,
              at: datetime | None = None) -> dict[str, Any]:
    """Rows of the granted fields of the dataset's snapshot, metered as one access (数据调用)."""
    import pyarrow.dataset as pads

    with unscoped(session):
        ds = session.get(Dataset, req.dataset_id)
    if ds is None or not ds.snapshot:
        raise NotFound("the dataset has no data loaded yet", fix="ask the provider to load it")
    if not 1 <= limit <= MAX_ROWS or offset < 0:
        raise InvalidInput(f"limit: {limit} / offset: {offset} out of range", fix=f"limit 1–{MAX_ROWS}, offset ≥ 0")
    data = pads.dataset(ds.snapshot, format="parquet")
    gone = [f for f in req.fields or [] if f not in data.schema.names]
    if gone:
        raise Conflict(f"the granted fields {', '.join(gone)} are no longer in dataset {ds.name!r}",
                       fix="file a new sharing request for the fields the dataset has now")
    columns = req.fields or data.schema.names
    table = data.to_table(columns=columns)
    page = table.slice(offset, limit)
    session.add(DataAccess(request_id=req.id, dataset_id=ds.id, tenant_id=ds.tenant_id,
                           consumer_department_id=req.requester_department_id, scenario=req.scenario,
                           at=at or utcnow(), rows=page.num_rows))
    session.flush()
    return {"dataset": ds.name, "fields": columns, "total": table.num_rows, "offset": offset,
            "rows": mask_rows(page.to_pylist(), classes_of(ds))}  # a grant never serves personal data in clear
