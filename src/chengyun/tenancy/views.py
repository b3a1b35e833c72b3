"""REST API of tenants (administrative units: city → district → street → grid) and departments under /api/v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from chengyun.api.deps import scoped
from chengyun.tenancy import service

router = APIRouter(prefix="/api/v1", tags=["tenancy 辖区"])

TenantsRead = Annotated[Session, scoped("tenants.read")]


class TenantRead(BaseModel):
    """An administrative unit (行政区划) as the API shows it."""

    # Kept beside the view until tenancy has a schemas.py of its own.
    id: str
    name: str
    level: str
    parent_id: str | None
    population: int | None
    area_km2: float | None
    timezone: str


class DepartmentRead(BaseModel):
    """A department (委办局) and the unit it belongs to."""

    id: str
    tenant_id: str
    name: str
    kind: str


@router.get("/tenants")
def list_tenants(session: TenantsRead) -> list[TenantRead]:
    """The tenants in the caller's units, parents before children."""
    return [TenantRead.model_validate(u, from_attributes=True) for u in service.list_units(session=session)]


@router.get("/departments")
def list_departments(
    session: TenantsRead,
    tenant: Annotated[
        str | None, Query(max_length=64, description="a unit: its departments and its subtree's")
    ] = None,
) -> list[DepartmentRead]:
    """The departments of the caller's units (those cases are dispatched to), by id."""
    units = [u.id for u in service.subtree(session=session, unit_id=tenant)] if tenant else None
    return [
        DepartmentRead.model_validate(d, from_attributes=True)
        for d in service.list_departments(session=session, tenant_ids=units)
    ]
