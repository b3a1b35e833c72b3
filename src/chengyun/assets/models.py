"""State tables of the asset registry (设备/系统台账): every device, link, compute resource and application the
operator runs, and what depends on what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from chengyun.core.db import Base, utcnow
from chengyun.core.scoping import scope_rule


class Asset(Base):
    """One operated thing (运营对象): where it is, who owns and runs it, how often it should report."""

    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("admin_units.id"), index=True)  # the unit where it is
    kind: Mapped[str] = mapped_column(String(32), index=True)  # see assets/kinds.py
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), nullable=True,
                                                      index=True)  # 责任单位
    operator: Mapped[str | None] = mapped_column(String(200), nullable=True)  # 运维单位, free text
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    address: Mapped[str | None] = mapped_column(String(300), nullable=True)
    installed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    criticality: Mapped[str] = mapped_column(String(16), default="medium")  # critical | high | medium | low
    expected_interval_s: Mapped[int | None] = mapped_column(Integer, nullable=True)  # null: it does not report
    metric_count: Mapped[int] = mapped_column(Integer, default=0)  # metrics per report
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # filled by the ingest from telemetry; "retired" by retire_asset
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown", index=True)  # online|offline|unknown|retired
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AssetDependency(Base):
    """``asset_id`` depends on ``depends_on_id`` (an application runs on a server): an outage of the second
    reaches the first."""

    __tablename__ = "asset_dependencies"
    __table_args__ = (UniqueConstraint("asset_id", "depends_on_id", name="uq_asset_dependencies_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    depends_on_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="depends-on")  # see assets/kinds.py
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


scope_rule(Asset, lambda cls, scope: cls.tenant_id.in_(scope.ids))
scope_rule(AssetDependency,
           lambda cls, scope: cls.asset_id.in_(select(Asset.id).where(Asset.tenant_id.in_(scope.ids))))
