"""State tables of the asset registry (设备/系统台账): every device, link, compute resource and application the
operator runs, and what depends on what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    select,
    text,
)
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


# ---- alarms (告警) -------------------------------------------------------------------------------------------


class AlarmRule(Base):
    """When an asset is in trouble (告警规则): a threshold on a metric, no readings for too long, or too fast a
    change. Applies to the assets of ``kind`` in the unit's subtree; rules without a unit are the shipped defaults,
    used for assets whose unit and the units above it have no rules of their own."""

    __tablename__ = "alarm_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("admin_units.id"), nullable=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)  # the order of the unit's YAML
    kind: Mapped[str] = mapped_column(String(32), default="*")  # a kind, a class of kinds, or "*"
    metric: Mapped[str | None] = mapped_column(String(64), nullable=True)  # threshold and rate rules
    type: Mapped[str] = mapped_column(String(16))  # threshold | absence | rate
    op: Mapped[str | None] = mapped_column(String(2), nullable=True)  # threshold: > >= < <= == !=
    value: Mapped[float | None] = mapped_column(Float, nullable=True)  # threshold: the limit; rate: per minute
    for_seconds: Mapped[int] = mapped_column(Integer, default=0)  # how long the condition must hold (and end)
    intervals: Mapped[float | None] = mapped_column(Float, nullable=True)  # absence: × expected_interval_s
    seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)  # absence: or a fixed silence
    severity: Mapped[str] = mapped_column(String(16), default="major")  # critical | major | minor | warning
    open_case: Mapped[bool] = mapped_column(Boolean, default=False)  # raise a case (设备告警立案) too
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Alarm(Base):
    """One alarm (告警) of one asset under one rule: raised → acknowledged → cleared. While it is not cleared,
    a repeat of its condition adds to ``count`` instead of raising another (one open alarm per asset and rule)."""

    __tablename__ = "alarms"
    __table_args__ = (
        # at most one alarm not cleared per (asset, rule); SQLite and PostgreSQL both have partial indexes
        Index("uq_alarms_open", "asset_id", "rule_id", unique=True, sqlite_where=text("status != 'cleared'"),
              postgresql_where=text("status != 'cleared'")),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("admin_units.id"), index=True)  # the asset's unit
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alarm_rules.id", ondelete="SET NULL"), nullable=True)
    type: Mapped[str] = mapped_column(String(16))  # the rule's type, kept when the rule is replaced
    metric: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="raised", index=True)  # raised|acknowledged|cleared
    severity: Mapped[str] = mapped_column(String(16))
    raised_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_at: Mapped[datetime] = mapped_column(DateTime)  # the latest reading (or sweep) that found it
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    ack_note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    cleared_by: Mapped[str | None] = mapped_column(String(100), nullable=True)  # "alarm-rules" when it ended
    clear_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    last_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(String(500))
    case_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    count: Mapped[int] = mapped_column(Integer, default=1)  # times the condition was found while open
    # optimistic lock (乐观锁): every change bumps it, and a change made from a stale read fails with 409
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class AlarmState(Base):
    """What evaluating a rule on an asset needs from earlier batches: the last reading seen and since when the
    current run of readings has held (breaching while no alarm is open; back to normal while one is)."""

    __tablename__ = "alarm_states"

    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alarm_rules.id", ondelete="CASCADE"), primary_key=True)
    since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_ts: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_value: Mapped[float | None] = mapped_column(Float, nullable=True)


scope_rule(AlarmRule, lambda cls, scope: cls.tenant_id.in_(scope.ids) | cls.tenant_id.is_(None))
scope_rule(Alarm, lambda cls, scope: cls.tenant_id.in_(scope.ids))
scope_rule(AlarmState,
           lambda cls, scope: cls.asset_id.in_(select(Asset.id).where(Asset.tenant_id.in_(scope.ids))))
