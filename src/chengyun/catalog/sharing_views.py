"""REST API of data sharing (数据共享) under /api/v1: requests, the provider's decisions, revocations, usage,
and the rows a grant serves.

Filing a request needs ``sharing.request`` on the requesting department's unit; deciding and revoking need
``sharing.decide`` on the dataset's unit. The rows of a grant are read with its token (``X-Grant-Token``), not a
login: the token is the grant, and every read is metered.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengyun.api.deps import SessionDep, SettingsDep, principal_of, scoped
from chengyun.api.pagination import PageDep
from chengyun.catalog import service, sharing
from chengyun.catalog.models import SharingRequest
from chengyun.catalog.schemas import (
    GrantRead,
    SharedRows,
    SharingCreate,
    SharingDecision,
    SharingPage,
    SharingRead,
    SharingRevoke,
    UsageRow,
)
from chengyun.catalog.usage import usage
from chengyun.core.errors import NotFound
from chengyun.core.scoping import unscoped
from chengyun.tenancy.models import Department

router = APIRouter(prefix="/api/v1", tags=["sharing 数据共享"])

SharingRequestSession = Annotated[Session, scoped("sharing.request")]
SharingDecide = Annotated[Session, scoped("sharing.decide")]
DatasetsRead = Annotated[Session, scoped("datasets.read")]
RequestId = Annotated[str, Path(description="sharing request id", max_length=32)]


def _read(req: SharingRequest) -> SharingRead:
    return SharingRead.from_request(req, sharing.status_of(req))


def _grant(req: SharingRequest, token: str | None) -> GrantRead:
    return GrantRead(**_read(req).model_dump(), token=token)


@router.post("/sharing-requests", status_code=status.HTTP_201_CREATED)
def create_request(body: SharingCreate, session: SharingRequestSession) -> GrantRead:
    """File a request for a dataset (共享申请) for a department of the caller's units; a 无条件共享 dataset is
    granted at once and the answer carries the token (shown this once)."""
    with unscoped(session):
        dept = session.get(Department, body.department)
    if dept is None:
        raise NotFound(f"department: no department {body.department!r}", fix="see GET /api/v1/departments")
    principal_of(session).require("sharing.request", dept.tenant_id)
    with unscoped(session):  # the catalogue of other units is what a request is for
        ds = service.get_dataset(session, body.dataset, tenant=body.tenant)
        req, token = sharing.request_access(session, ds, department=body.department, purpose=body.purpose,
                                            fields=body.fields, scenario=body.scenario, days=body.days)
    return _grant(req, token)


@router.get("/sharing-requests")
def list_requests(
    session: SharingRequestSession,
    page: PageDep,
    status_: Annotated[Literal["pending", "granted", "refused", "revoked", "expired"] | None,
                       Query(alias="status")] = None,
    dataset: Annotated[str | None, Query(max_length=64, description="a dataset's id")] = None,
) -> SharingPage:
    """Requests for the caller's datasets and from the caller's departments, newest first (the inbox:
    ``?status=pending``)."""
    q = select(SharingRequest)
    if status_:
        q = q.where(sharing.status_filter(status_))
    if dataset:
        q = q.where(SharingRequest.dataset_id == dataset)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(SharingRequest.requested_at.desc()).limit(page.limit).offset(page.offset))
    return SharingPage(items=[_read(r) for r in rows], total=int(total), limit=page.limit, offset=page.offset)


@router.get("/sharing-requests/{request_id}")
def get_request(request_id: RequestId, session: SharingRequestSession) -> SharingRead:
    """One sharing request."""
    return _read(sharing.get_request(session, request_id))


@router.post("/sharing-requests/{request_id}/decision")
def decide(request_id: RequestId, body: SharingDecision, session: SharingDecide) -> GrantRead:
    """The provider's decision (审批): approve (the answer carries the token, shown this once) or refuse with
    a reason."""
    req = sharing.get_request(session, request_id)
    principal_of(session).require("sharing.decide", req.tenant_id)
    token = sharing.decide(session, req, approve=body.approve, note=body.note)
    return _grant(req, token)


@router.post("/sharing-requests/{request_id}/revoke")
def revoke(request_id: RequestId, session: SharingDecide, body: SharingRevoke | None = None) -> SharingRead:
    """Withdraw a grant (撤销授权); its token stops working at once."""
    req = sharing.get_request(session, request_id)
    principal_of(session).require("sharing.decide", req.tenant_id)
    sharing.revoke(session, req, note=body.note if body else None)
    return _read(req)


@router.get("/sharing/usage")
def sharing_usage(session: DatasetsRead,
                  tenant: Annotated[str | None, Query(max_length=64, description="a unit and its subtree")] = None,
                  dataset: Annotated[str | None, Query(max_length=64, description="a dataset's id")] = None
                  ) -> list[UsageRow]:
    """Calls and rows served per dataset, consumer and scenario (数据调用)."""
    return [UsageRow(**r) for r in usage(session, tenant=tenant, dataset_id=dataset)["rows"]]


@router.get("/shared/rows")
def shared_rows(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Header(alias="X-Grant-Token", min_length=8, max_length=200,
                                 description="the token given when the request was granted")],
    limit: Annotated[int, Query(ge=1, le=sharing.MAX_ROWS)] = 1000,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> SharedRows:
    """Rows of the granted dataset, the granted fields only; each call is metered (数据调用)."""
    req = sharing.authorise(session, token)
    session.info["actor"] = f"grant:{req.id}"
    return SharedRows(**sharing.read_rows(settings, session, req, limit=limit, offset=offset))
