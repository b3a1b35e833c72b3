"""The asset registry (设备/系统台账): add, change, retire, find assets and record what depends on what.

Every change is an audit entry. Ids are unique across the whole registry, so an id taken in a unit the caller
cannot see is still taken (the error does not say where). The transitive questions (what an outage reaches, whether
a new dependency closes a cycle) live in ``assets/graph.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.assets import kinds
from chengyun.assets.graph import cycle_through
from chengyun.assets.models import Asset, AssetDependency
from chengyun.assets.schemas import AssetCreate, AssetUpdate
from chengyun.core.db import utcnow
from chengyun.core.errors import Conflict, InvalidInput, NotFound
from chengyun.core.scoping import unscoped
from chengyun.core.types import naive_utc
from chengyun.tenancy.models import AdminUnit, Department
from chengyun.tenancy.service import subtree, unit_chains

LIST_FIX = "see `chengyun assets list` (or GET /api/v1/assets)"


def get_asset(session: Session, asset_id: str) -> Asset:
    """The asset (within the session's scope), else NotFound."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(f"no asset {asset_id!r}", fix=LIST_FIX)
    return asset


def check_unit(session: Session, unit_id: str) -> None:
    """The unit exists and the caller may see it, else NotFound."""
    if session.get(AdminUnit, unit_id) is None:
        raise NotFound(f"tenant: no unit {unit_id!r}", fix="see `chengyun tenants list`")


def check_department(session: Session, department_id: str | None) -> None:
    """The department exists (any unit's: a city bureau may own a district's cameras), else NotFound."""
    if department_id is None:
        return
    with unscoped(session):
        found = session.get(Department, department_id)
    if found is None:
        raise NotFound(f"department: no department {department_id!r}",
                       fix="use a department id of `GET /api/v1/departments`, or leave it empty")


def _metric_count(given: int | None, interval: int | None) -> int:
    return given if given is not None else (1 if interval else 0)


def add_asset(session: Session, asset_in: AssetCreate, *, actor: str | None = None) -> Asset:
    """Register an asset (登记); its status stays ``unknown`` until telemetry says otherwise."""
    with unscoped(session):
        taken = session.get(Asset, asset_in.id) is not None
    if taken:
        raise Conflict(f"id: asset {asset_in.id!r} exists already",
                       fix="choose another id, or change the asset with `update` (imports do this by themselves)")
    check_unit(session, asset_in.tenant)
    check_department(session, asset_in.department)
    now = utcnow()
    asset = Asset(id=asset_in.id, tenant_id=asset_in.tenant, kind=asset_in.kind, name=asset_in.name,
                  department_id=asset_in.department, operator=asset_in.operator, lat=asset_in.lat, lon=asset_in.lon,
                  address=asset_in.address, installed_at=naive_utc(asset_in.installed_at, "installed_at"),
                  criticality=asset_in.criticality, expected_interval_s=asset_in.expected_interval_s,
                  metric_count=_metric_count(asset_in.metric_count, asset_in.expected_interval_s),
                  attributes=asset_in.attributes, status="unknown", created_at=now, updated_at=now)
    session.add(asset)
    session.flush()
    audit.record(session, "asset.create", target_type="asset", target_id=asset.id, tenant_id=asset.tenant_id,
                 detail={"kind": asset.kind, "department": asset.department_id}, actor=actor)
    return asset


def update_asset(session: Session, asset_id: str, changes: AssetUpdate, *, actor: str | None = None) -> Asset:
    """Change the fields given in ``changes``; the others stay."""
    asset = get_asset(session, asset_id)
    given: dict[str, Any] = changes.model_dump(exclude_unset=True)
    if "tenant" in given:
        check_unit(session, given["tenant"])
    if "department" in given:
        check_department(session, given["department"])
    for field in ("name", "kind", "criticality"):
        if field in given and given[field] is None:
            raise InvalidInput(f"{field}: cannot be emptied", fix=f"give a {field} or leave the field out")
    lat, lon = given.get("lat", asset.lat), given.get("lon", asset.lon)
    if (lat is None) != (lon is None):
        raise InvalidInput("lat/lon: give both or neither", fix="send lat and lon in WGS-84 degrees together")
    renamed = {"tenant": "tenant_id", "department": "department_id"}
    for key, value in given.items():
        if key == "installed_at":
            value = naive_utc(value, "installed_at")
        setattr(asset, renamed.get(key, key), value)
    if "metric_count" in given:
        asset.metric_count = _metric_count(given["metric_count"], asset.expected_interval_s)
    elif given.get("expected_interval_s") and not asset.metric_count:
        asset.metric_count = 1  # it reports from now on: at least one metric
    asset.updated_at = utcnow()
    session.flush()
    audit.record(session, "asset.update", target_type="asset", target_id=asset.id, tenant_id=asset.tenant_id,
                 detail={"fields": sorted(given)}, actor=actor)
    return asset


def retire_asset(session: Session, asset_id: str, *, at: datetime | None = None, reason: str | None = None,
                 actor: str | None = None) -> Asset:
    """Take an asset out of service (退役): it stays in the registry, with ``retired_at``, for past evaluations."""
    asset = get_asset(session, asset_id)
    if asset.status == "retired":
        raise Conflict(f"asset {asset_id!r} was retired already ({asset.retired_at})", fix="nothing to do")
    asset.retired_at = naive_utc(at, "retired_at") or utcnow()
    asset.status = "retired"
    asset.updated_at = utcnow()
    session.flush()
    audit.record(session, "asset.retire", target_type="asset", target_id=asset.id, tenant_id=asset.tenant_id,
                 detail={"retired_at": asset.retired_at.isoformat(), "reason": reason}, actor=actor)
    return asset


def list_assets(
    session: Session,
    *,
    tenant: str | None = None,
    kind: str | None = None,
    department: str | None = None,
    status: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Asset], int]:
    """Assets matching every filter, by id, and how many match: ``tenant`` covers its subtree, ``kind`` is a kind
    or a class (``device`` …), ``q`` a piece of the name or the id."""
    stmt = select(Asset)
    if tenant is not None:
        stmt = stmt.where(Asset.tenant_id.in_([u.id for u in subtree(session=session, unit_id=tenant)]))
    if kind is not None:
        wanted = kinds.kinds_in(kind)
        if not wanted:
            raise InvalidInput(f"kind: {kind!r} is neither a kind nor a class of assets",
                               fix=f"use a class ({', '.join(kinds.CLASSES)}) or a kind ({', '.join(kinds.KINDS)})")
        stmt = stmt.where(Asset.kind.in_(wanted))
    if department is not None:
        stmt = stmt.where(Asset.department_id == department)
    if status is not None:
        if status not in kinds.STATUSES:
            raise InvalidInput(f"status: {status!r} is not a status", fix=f"use one of {', '.join(kinds.STATUSES)}")
        stmt = stmt.where(Asset.status == status)
    if q:
        stmt = stmt.where(or_(Asset.name.icontains(q, autoescape=True), Asset.id.icontains(q, autoescape=True)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = list(session.scalars(stmt.order_by(Asset.id).limit(limit).offset(offset)))
    return items, total


def dependencies(session: Session, asset_id: str) -> list[AssetDependency]:
    """What the asset depends on directly (its servers, links, datasets)."""
    get_asset(session, asset_id)
    stmt = select(AssetDependency).where(AssetDependency.asset_id == asset_id)
    return list(session.scalars(stmt.order_by(AssetDependency.depends_on_id)))


def dependants(session: Session, asset_id: str) -> list[AssetDependency]:
    """What depends on the asset directly (among the assets the caller may see)."""
    get_asset(session, asset_id)
    stmt = select(AssetDependency).where(AssetDependency.depends_on_id == asset_id)
    return list(session.scalars(stmt.order_by(AssetDependency.asset_id)))


def add_dependency(session: Session, asset_id: str, depends_on_id: str, kind: str | None = None, *,
                   actor: str | None = None, audit_it: bool = True) -> AssetDependency:
    """Record that ``asset_id`` depends on ``depends_on_id`` (kind by default from the target's kind); a pair
    recorded already gets the new kind. Refuses unknown assets and cycles, naming the cycle."""
    asset = get_asset(session, asset_id)
    target = _reachable_target(session, asset, depends_on_id)
    if target is None:
        raise NotFound(f"depends_on: no asset {depends_on_id!r}", fix=f"register it first; {LIST_FIX}")
    kind = kind or kinds.default_dependency(target.kind)
    if kind not in kinds.DEPENDENCY_KINDS:
        raise InvalidInput(f"kind: {kind!r} is not a kind of dependency",
                           fix=f"use one of: {', '.join(kinds.DEPENDENCY_KINDS)}")
    cycle = cycle_through(session, asset_id, depends_on_id)
    if cycle:
        visible = set(session.scalars(select(Asset.id).where(Asset.id.in_(cycle))))  # scoped: the caller's own
        shown = [a if a in visible else "(an asset outside your units)" for a in cycle]
        raise Conflict(f"depends_on: {asset_id} → {depends_on_id} would close a cycle: {' → '.join(shown)}",
                       fix="dependencies must not go round; remove one of the dependencies in the cycle first")
    with unscoped(session):
        dep = session.scalar(select(AssetDependency).where(AssetDependency.asset_id == asset_id,
                                                           AssetDependency.depends_on_id == depends_on_id))
    if dep is None:
        dep = AssetDependency(asset_id=asset_id, depends_on_id=depends_on_id, kind=kind, created_at=utcnow())
        session.add(dep)
    dep.kind = kind
    session.flush()
    if audit_it:
        audit.record(session, "asset.depend", target_type="asset", target_id=asset.id, tenant_id=asset.tenant_id,
                     detail={"depends_on": depends_on_id, "kind": kind}, actor=actor)
    return dep


def _reachable_target(session: Session, asset: Asset, target_id: str) -> Asset | None:
    """The asset ``target_id`` when the caller may make ``asset`` depend on it: one of the caller's own, or one of
    a unit above the asset's (a district's application may run on the city's cloud) — never a sibling district's,
    whose existence is not told either."""
    target = session.get(Asset, target_id)  # scoped: the caller's units
    if target is not None:
        return target
    with unscoped(session):
        target = session.get(Asset, target_id)
    above = unit_chains(session=session).get(asset.tenant_id, (asset.tenant_id,))
    return target if target is not None and target.tenant_id in above else None


def remove_dependency(session: Session, asset_id: str, depends_on_id: str, *, actor: str | None = None) -> None:
    """Forget that ``asset_id`` depends on ``depends_on_id``."""
    asset = get_asset(session, asset_id)
    dep = session.scalar(select(AssetDependency).where(AssetDependency.asset_id == asset_id,
                                                       AssetDependency.depends_on_id == depends_on_id))
    if dep is None:
        raise NotFound(f"{asset_id} does not depend on {depends_on_id}", fix=f"see `chengyun assets show {asset_id}`")
    session.delete(dep)
    session.flush()
    audit.record(session, "asset.undepend", target_type="asset", target_id=asset.id, tenant_id=asset.tenant_id,
                 detail={"depends_on": depends_on_id}, actor=actor)
