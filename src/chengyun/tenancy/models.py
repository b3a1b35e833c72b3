"""Administrative units (行政区划: city → district → street → grid) and departments (委办局)."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from chengyun.core.db import Base
from chengyun.core.scoping import scope_rule

LEVELS = ("city", "district", "street", "grid")


class AdminUnit(Base):
    """A tenant: one node of the administrative tree, with population and area."""

    __tablename__ = "admin_units"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16), default="city")
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("admin_units.id"), index=True, nullable=True)
    population: Mapped[int | None] = mapped_column(Integer, nullable=True)
    area_km2: Mapped[float | None] = mapped_column(Float, nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")


class Department(Base):
    """A department (委办局) of a tenant; it owns assets, datasets and handles cases."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("admin_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default="bureau")


scope_rule(AdminUnit, lambda cls, scope: cls.id.in_(scope.ids))
scope_rule(Department, lambda cls, scope: cls.tenant_id.in_(scope.ids))
