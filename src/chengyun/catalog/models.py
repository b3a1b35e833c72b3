"""State tables of the data resource domain (数据资源): the catalogue and its datasets, their refreshes, quality
runs, sharing requests with their grants, and every access a grant serves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from chengyun.core.db import Base, utcnow
from chengyun.core.scoping import scope_rule


class Dataset(Base):
    """One data resource (数据资源) and its catalogue entry (目录条目); ``name`` is how the command line calls it
    within its unit, ``code`` the catalogue's resource code (资源代码)."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_datasets_tenant_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("admin_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str | None] = mapped_column(String(500), nullable=True, unique=True)  # 资源代码 (DCAT: often a URI)
    title: Mapped[str] = mapped_column(String(300))  # 资源名称
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), nullable=True,
                                                      index=True)  # 资源提供方
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)  # 资源摘要
    format: Mapped[str | None] = mapped_column(String(64), nullable=True)  # 资源格式
    sharing_type: Mapped[str] = mapped_column(String(16), default="conditional")  # unconditional|conditional|none
    sharing_condition: Mapped[str | None] = mapped_column(String(500), nullable=True)  # 共享条件
    open_type: Mapped[str | None] = mapped_column(String(16), nullable=True)  # open|conditional|closed
    update_cycle: Mapped[str | None] = mapped_column(String(16), nullable=True)  # 更新周期
    update_cycle_days: Mapped[float | None] = mapped_column(Float, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # 发布日期
    entry: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the rest of the catalogue entry
    keywords: Mapped[str | None] = mapped_column(String(1000), nullable=True)  # 关键字 and themes, for search
    catalogued: Mapped[bool] = mapped_column(Boolean, default=False)  # the entry's required fields are filled
    # where the data comes from and the snapshot the platform keeps
    source: Mapped[str | None] = mapped_column(String(1000), nullable=True)  # a file path or a SQLAlchemy URL
    source_table: Mapped[str | None] = mapped_column(String(200), nullable=True)
    snapshot: Mapped[str | None] = mapped_column(String(1000), nullable=True)  # Parquet under the workspace
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    schema_: Mapped[list[dict[str, Any]] | None] = mapped_column("schema", JSON, nullable=True)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    load_notes: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    rules: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)  # its quality rules
    quality_target: Mapped[float] = mapped_column(Float, default=80.0)  # below it a case goes to the owner
    last_updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # optimistic lock (乐观锁): every change bumps it, and a change made from a stale read fails with 409
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class DatasetUpdate(Base):
    """One refresh of a dataset (数据更新): when, how many rows, how many were put aside."""

    __tablename__ = "dataset_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    rejects_file: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    snapshot: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)


class QualityRun(Base):
    """One run of a dataset's quality rules (质量检测): the report and the case it opened, if any."""

    __tablename__ = "quality_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("admin_units.id"), index=True)
    department_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    run_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    engine: Mapped[str] = mapped_column(String(16), default="duckdb")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    valid: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    case_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)


class SharingRequest(Base):
    """A department's request to use a dataset (共享申请) and, once granted, its grant (授权): a token that
    reads the granted fields through the API until it expires or is revoked."""

    __tablename__ = "sharing_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("admin_units.id"), index=True)  # the dataset's unit
    requester_department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    requester_tenant_id: Mapped[str] = mapped_column(ForeignKey("admin_units.id"), index=True)  # its unit
    requested_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    fields: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # null: every field
    purpose: Mapped[str] = mapped_column(String(1000))  # 用途
    scenario: Mapped[str | None] = mapped_column(String(200), nullable=True)  # 应用场景
    days: Mapped[int] = mapped_column(Integer, default=365)  # the period asked for
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)  # "auto" for 无条件共享
    decision_note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    # optimistic lock (乐观锁): every change bumps it, and a change made from a stale read fails with 409
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class DataAccess(Base):
    """One read of a dataset through a grant (数据调用), metered for usage and reuse; exported to the lake."""

    __tablename__ = "data_accesses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("sharing_requests.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(String(64), index=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    consumer_department_id: Mapped[str] = mapped_column(String(64), index=True)
    scenario: Mapped[str | None] = mapped_column(String(200), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    exported: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


scope_rule(Dataset, lambda cls, scope: cls.tenant_id.in_(scope.ids))
scope_rule(QualityRun, lambda cls, scope: cls.tenant_id.in_(scope.ids))
# a request is seen by the provider's units and by the requester's
scope_rule(SharingRequest,
           lambda cls, scope: cls.tenant_id.in_(scope.ids) | cls.requester_tenant_id.in_(scope.ids))
scope_rule(DataAccess, lambda cls, scope: cls.tenant_id.in_(scope.ids))
scope_rule(DatasetUpdate,
           lambda cls, scope: cls.dataset_id.in_(select(Dataset.id).where(Dataset.tenant_id.in_(scope.ids))))
