"""Installed packs, evaluation runs (评价), node results with evidence, manual inputs (人工填报)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from chengyun.core.db import Base, utcnow
from chengyun.core.scoping import scope_rule


class InstalledPack(Base):
    """An indicator pack known to this workspace, at the version last installed."""

    __tablename__ = "installed_packs"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    installed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class EvaluationRun(Base):
    """One evaluation of (pack@version, tenant, period), with its total, stage and snapshot."""

    __tablename__ = "evaluation_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pack_id: Mapped[str] = mapped_column(String(100), index=True)
    pack_version: Mapped[str] = mapped_column(String(40))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("admin_units.id"), index=True)
    period: Mapped[str] = mapped_column(String(40), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    engine: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    total: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_total: Mapped[float] = mapped_column(Float, default=100.0)
    stage: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    no_data_policy: Mapped[str] = mapped_column(String(16), default="zero")
    snapshot: Mapped[str | None] = mapped_column(String(500), nullable=True)
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    previous_run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)


class NodeResult(Base):
    """The value, score and evidence of one pack node in one run."""

    __tablename__ = "node_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("evaluation_runs.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    depth: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))  # group | measure | manual
    weight: Mapped[float] = mapped_column(Float)
    effective_weight: Mapped[float] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str | None] = mapped_column(String(40), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))  # ok | no-data | partial
    delta: Mapped[float | None] = mapped_column(Float, nullable=True)
    provenance: Mapped[str | None] = mapped_column(String(40), nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ManualInput(Base):
    """A figure no data source can feed (a survey, a statistic), entered with its evidence; latest wins."""

    __tablename__ = "manual_inputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pack_id: Mapped[str] = mapped_column(String(100), index=True)
    node_id: Mapped[str] = mapped_column(String(100))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("admin_units.id"), index=True)
    period: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float)
    evidence: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_document: Mapped[str | None] = mapped_column(String(500), nullable=True)
    entered_by: Mapped[str] = mapped_column(String(100), default="cli")
    entered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


scope_rule(EvaluationRun, lambda cls, scope: cls.tenant_id.in_(scope.ids))
scope_rule(ManualInput, lambda cls, scope: cls.tenant_id.in_(scope.ids))
scope_rule(
    NodeResult,
    lambda cls, scope: cls.run_id.in_(select(EvaluationRun.id).where(EvaluationRun.tenant_id.in_(scope.ids))),
)
