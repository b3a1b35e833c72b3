"""State tables of city cases (一网统管 案件): the case, every step of its history, and dispatch rules."""

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
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from chengyun.core.db import Base, utcnow
from chengyun.core.scoping import scope_rule


class Case(Base):
    """A problem to handle: reported by a citizen or inspector, or raised by a device, until it is closed."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("tenant_id", "source", "external_id", name="uq_cases_tenant_source_external"),
        Index("ix_cases_open_due", "status", "due_at"),
        # the SLA tick's steps each read only the cases they will change (cases/escalation.py)
        Index("ix_cases_tick_breach", "status", "breached", "due_at"),
        Index("ix_cases_tick_level", "status", "escalation_level", "due_at"),
        Index("ix_cases_tick_response", "status", "response_breached", "response_due_at",
              sqlite_where=text("responded_at IS NULL"), postgresql_where=text("responded_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("admin_units.id"), index=True)  # the unit where it is
    channel: Mapped[str] = mapped_column(String(16))  # hotline | app | open311 | iot-alarm | grid | other
    source: Mapped[str] = mapped_column(String(32), default="api")  # api | open311 | import | alarm | demo
    external_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    category: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    address: Mapped[str | None] = mapped_column(String(300), nullable=True)
    reporter_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)  # keyed hash
    reporter_masked: Mapped[str | None] = mapped_column(String(40), nullable=True)  # 138****1234
    attachments: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # references, not bytes
    parent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    duplicate_of: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    department_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    responded_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    followed_up_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    response_due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # the due time the SLA tick last warned about (超时预警): a warning is given once per due time, again only
    # when suspension or an extension moves it
    warned_due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    sla_rule: Mapped[str | None] = mapped_column(String(100), nullable=True)  # which limits applied, in words
    paused_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    pauses: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # [[from, to], …] ISO, UTC
    extension: Mapped[float] = mapped_column(Float, default=0.0)  # approved, in the resolution limit's unit
    returned_count: Mapped[int] = mapped_column(Integer, default=0)
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    breached: Mapped[bool] = mapped_column(Boolean, default=False)
    response_breached: Mapped[bool] = mapped_column(Boolean, default=False)  # 响应超时: no answer by response_due_at
    solved: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    satisfaction: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1–5 at follow-up (回访)
    inconsistent: Mapped[bool] = mapped_column(Boolean, default=False)  # e.g. closed before created (imports)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # optimistic lock (乐观锁): every change bumps it, and a change made from a stale read fails with 409
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class CaseEvent(Base):
    """One step of a case's history: a transition, a dispatch, an extension, an escalation, a merge."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    department_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class DispatchRule(Base):
    """Where new cases go (派遣规则): category pattern, area and time of day → department; lowest position first."""

    __tablename__ = "dispatch_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("admin_units.id"), index=True)  # applies to its subtree
    position: Mapped[int] = mapped_column(Integer, default=100)
    category: Mapped[str] = mapped_column(String(64), default="*")  # glob over category codes
    area: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a unit id: cases in its subtree
    hours: Mapped[str | None] = mapped_column(String(16), nullable=True)  # "08:30-17:30" local; may wrap midnight
    department_id: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # optimistic lock (乐观锁): every change bumps it, and a change made from a stale read fails with 409
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


scope_rule(Case, lambda cls, scope: cls.tenant_id.in_(scope.ids))
scope_rule(DispatchRule, lambda cls, scope: cls.tenant_id.in_(scope.ids))
scope_rule(CaseEvent, lambda cls, scope: cls.case_id.in_(select(Case.id).where(Case.tenant_id.in_(scope.ids))))
