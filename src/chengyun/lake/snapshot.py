"""The evaluation snapshot (快照): the state tables a run depends on, frozen into the lake beside it, so that
every score can be recomputed later from exactly the data it was computed on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.lake.writer import write_file_atomic


def _rows(session: Session, model: Any, where: Any = None) -> pa.Table:
    stmt = select(model) if where is None else select(model).where(where)
    cols = [c.name for c in model.__table__.columns]
    records = [{c: getattr(obj, c) for c in cols} for obj in session.scalars(stmt)]
    if not records:
        return pa.table({c: pa.array([], pa.string()) for c in cols})
    return pa.Table.from_pylist(records)


def snapshot_state(lake: Path, session: Session, run_id: str, tenants: list[str], pack_id: str) -> Path:
    """Write units, departments and manual inputs of the tenants to ``_snapshots/run=<id>/``."""
    from chengyun.indicators.models import ManualInput
    from chengyun.tenancy.models import AdminUnit, Department

    folder = lake / "_snapshots" / f"run={run_id}"
    tables = {
        "admin_units": _rows(session, AdminUnit, AdminUnit.id.in_(tenants)),
        "departments": _rows(session, Department, Department.tenant_id.in_(tenants)),
        "manual_inputs": _rows(session, ManualInput, (ManualInput.tenant_id.in_(tenants)) & (ManualInput.pack_id == pack_id)),
    }
    for name, table in tables.items():
        write_file_atomic(table, folder / f"{name}.parquet")
    return folder
