"""REST API of tenants (administrative units: city → district → street → grid) under /api/v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.orm import Session

from chengyun.api.deps import scoped
from chengyun.tenancy.service import list_units

router = APIRouter(prefix="/api/v1", tags=["tenancy 辖区"])


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


@router.get("/tenants")
def list_tenants(session: Annotated[Session, scoped("tenants.read")]) -> list[TenantRead]:
    """The tenants in the caller's units, parents before children."""
    return [TenantRead.model_validate(u, from_attributes=True) for u in list_units(session=session)]
