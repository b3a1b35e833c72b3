"""REST API of the asset registry (设备/系统台账) under /api/v1: assets, their dependencies, the impact of an
outage, their telemetry, availability over a period, and the ingest's quarantine.

Reading needs ``assets.read``, changing ``assets.write``; both see only the caller's units (an asset elsewhere is
a 404). Every change is audited by the service it goes through.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.api.deps import SettingsDep, principal_of, scoped
from chengyun.api.pagination import PageDep
from chengyun.assets import graph, service
from chengyun.assets.availability import availability_report
from chengyun.assets.models import Asset
from chengyun.assets.schemas import (
    AssetCreate,
    AssetDetail,
    AssetPage,
    AssetRead,
    AssetRetire,
    AssetUpdate,
    AvailabilityReport,
    DependencyRead,
    DependencySet,
    GroupByName,
    ImpactReport,
    QuarantineRead,
    TelemetryRead,
)
from chengyun.assets.telemetry import Window, asset_telemetry, parse_every, quarantined
from chengyun.core.db import utcnow
from chengyun.core.periods import parse_period
from chengyun.core.types import naive_utc
from chengyun.ingest.cli import quarantine_dir

router = APIRouter(prefix="/api/v1", tags=["assets 设备与系统"])

AssetsRead = Annotated[Session, scoped("assets.read")]
AssetsWrite = Annotated[Session, scoped("assets.write")]
AssetId = Annotated[str, Path(description="asset id", max_length=64)]
OtherId = Annotated[str, Path(description="the asset depended on", max_length=64)]
DEFAULT_WINDOW = timedelta(days=7)


def detail(session: Session, asset: Asset) -> AssetDetail:
    """An asset with what it depends on and what (among the caller's assets) depends on it."""
    return AssetDetail(**AssetRead.from_asset(asset).model_dump(),
                       dependencies=[DependencyRead.from_dependency(d) for d in service.dependencies(session, asset.id)],
                       dependants=[DependencyRead.from_dependency(d) for d in service.dependants(session, asset.id)])


@router.get("/assets")
def list_assets(
    session: AssetsRead,
    page: PageDep,
    tenant: Annotated[str | None, Query(max_length=64, description="a unit: its assets and its subtree's")] = None,
    kind: Annotated[str | None, Query(max_length=32, description="a kind (camera) or a class (device)")] = None,
    department: Annotated[str | None, Query(max_length=64, description="the owning department's id")] = None,
    status_: Annotated[str | None, Query(alias="status", max_length=16,
                                         description="online, offline, unknown or retired")] = None,
    q: Annotated[str | None, Query(max_length=100, description="part of the name or the id")] = None,
) -> AssetPage:
    """Assets of the caller's units, by id, filtered and paginated."""
    items, total = service.list_assets(session, tenant=tenant, kind=kind, department=department, status=status_, q=q,
                                       limit=page.limit, offset=page.offset)
    return AssetPage(items=[AssetRead.from_asset(a) for a in items], total=total, limit=page.limit,
                     offset=page.offset)


@router.get("/assets/availability")  # before /assets/{asset_id}, which would take "availability" for an id
def get_asset_availability(
    session: AssetsRead,
    settings: SettingsDep,
    period: Annotated[str, Query(max_length=40, description="2026, 2026Q3, 2026-07 or 2026-01-01..2026-03-31")],
    by: Annotated[GroupByName, Query(description="group per asset, type (kind) or department")] = "type",
    tenant: Annotated[str | None, Query(max_length=64, description="a unit: its subtree (default: all of yours)")]
    = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000, description="the worst groups only")] = None,
) -> AvailabilityReport:
    """Availability (可用率), data completeness (数据完整率), outages (故障次数) and MTTR (平均修复时长) per asset, type or
    department over a period, worst first, from the lake; ``total`` is the infra measures' value for the units."""
    return availability_report(session=session, settings=settings, period=parse_period(period), by=by,
                               tenant=tenant, limit=limit)


@router.get("/assets/{asset_id}")
def get_asset(asset_id: AssetId, session: AssetsRead) -> AssetDetail:
    """One asset with its direct dependencies and dependants."""
    return detail(session, service.get_asset(session, asset_id))


@router.post("/assets", status_code=status.HTTP_201_CREATED)
def create_asset(body: AssetCreate, session: AssetsWrite, response: Response) -> AssetDetail:
    """Register an asset in a unit of the caller's (登记); its status is ``unknown`` until it reports."""
    principal_of(session).require("assets.write", body.tenant)
    asset = service.add_asset(session, body)
    response.headers["Location"] = f"/api/v1/assets/{asset.id}"
    return detail(session, asset)


@router.patch("/assets/{asset_id}")
def update_asset(asset_id: AssetId, body: AssetUpdate, session: AssetsWrite) -> AssetDetail:
    """Change the fields given; moving an asset (``tenant``) needs ``assets.write`` on the new unit too."""
    service.get_asset(session, asset_id)  # 404 outside the caller's units, before anything else
    if body.tenant is not None:
        principal_of(session).require("assets.write", body.tenant)
    return detail(session, service.update_asset(session, asset_id, body))


@router.post("/assets/{asset_id}/retire")
def retire_asset(asset_id: AssetId, session: AssetsWrite,
                 body: Annotated[AssetRetire | None, Body()] = None) -> AssetDetail:
    """Take an asset out of service (退役); it stays in the registry for past evaluations."""
    given = body or AssetRetire()
    return detail(session, service.retire_asset(session, asset_id, at=given.at, reason=given.reason))


@router.get("/assets/{asset_id}/impact")
def get_asset_impact(asset_id: AssetId, session: AssetsRead) -> ImpactReport:
    """What an outage of the asset reaches (影响分析): dependants at every depth, nearest first."""
    service.get_asset(session, asset_id)
    return graph.impact(session, asset_id)


@router.put("/assets/{asset_id}/dependencies/{other_id}")
def put_asset_dependency(asset_id: AssetId, other_id: OtherId, session: AssetsWrite,
                         body: Annotated[DependencySet | None, Body()] = None) -> DependencyRead:
    """Record that the asset depends on ``other_id`` (or change how); a cycle is refused, naming it."""
    dep = service.add_dependency(session, asset_id, other_id, body.kind if body else None)
    return DependencyRead.from_dependency(dep)


@router.delete("/assets/{asset_id}/dependencies/{other_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_asset_dependency(asset_id: AssetId, other_id: OtherId, session: AssetsWrite) -> Response:
    """Forget that the asset depends on ``other_id``."""
    service.remove_dependency(session, asset_id, other_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/assets/{asset_id}/telemetry")
def get_asset_telemetry(
    asset_id: AssetId,
    session: AssetsRead,
    settings: SettingsDep,
    metric: Annotated[list[str] | None, Query(max_length=20, description="metrics to return (default: all)")] = None,
    since: Annotated[datetime | None, Query(description="from (UTC unless with an offset); default until − 7 d")]
    = None,
    until: Annotated[datetime | None, Query(description="before (default now)")] = None,
    every: Annotated[str | None, Query(max_length=12, description="bucket length: 300, 5m, 1h, 1d "
                                                                 "(default: only when over 2,000 readings)")] = None,
) -> TelemetryRead:
    """The asset's readings from the lake, per metric; a metric with more readings than a chart takes comes
    bucketed (min/avg/max per bucket), and the answer says so."""
    asset = service.get_asset(session, asset_id)
    end = naive_utc(until, "until") or utcnow()
    start = naive_utc(since, "since") or end - DEFAULT_WINDOW
    window = Window(start, end, tuple(metric) if metric else None, parse_every(every) if every else None)
    return asset_telemetry(settings, session, asset, window)


@router.get("/ingest/quarantine")
def list_ingest_quarantine(
    session: AssetsRead,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=500, description="at most this many, newest first")] = 50,
) -> list[QuarantineRead]:
    """Payloads the ingest put aside as malformed (隔离区), newest first, with the reason and a short preview;
    those naming no unit of the caller's only for callers over the whole city."""
    return quarantined(quarantine_dir(settings), session, limit)


def asset_names(session: Session, ids: set[str]) -> dict[str, str]:
    """Names of the assets among ``ids`` the caller may see."""
    if not ids:
        return {}
    return dict(session.execute(select(Asset.id, Asset.name).where(Asset.id.in_(ids))).tuples().all())
