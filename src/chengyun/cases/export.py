"""Cases into the lake (案件入湖): each change of a case becomes a new row of the lake's ``cases`` table, in the
partition of the day it was created; measures read the latest row of each case (``version_at``).

Exports are incremental from a watermark kept in ``<lake>/cases/_watermark.json``. Each export starts a little
before the watermark (``OVERLAP``), so a transaction that committed late with an earlier ``updated_at`` is still
picked up; rows written twice, like those of a crash between writing and moving the watermark, are the same
version again, which reading the latest version absorbs.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.cases.models import Case
from chengyun.core.settings import Settings
from chengyun.lake.writer import write

BATCH = 50_000
OVERLAP = timedelta(minutes=10)
COLUMNS = ("case_id", "channel", "category", "priority", "department_id", "unit_id", "created_at", "response_due_at",
           "responded_at", "due_at", "resolved_at", "closed_at", "status", "solved", "satisfaction",
           "returned_count", "reopened_count", "inconsistent", "source", "reporter_hash", "duplicate_of",
           "version_at")


def _watermark_file(settings: Settings) -> Path:
    return settings.lake / "cases" / "_watermark.json"


def read_watermark(settings: Settings) -> datetime | None:
    """The ``updated_at`` of the last case exported, or None before the first export."""
    path = _watermark_file(settings)
    if not path.exists():
        return None
    return datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["updated_at"])


def _save_watermark(settings: Settings, when: datetime) -> None:
    path = _watermark_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"updated_at": when.isoformat()}), encoding="utf-8")
    os.replace(tmp, path)


def _row(c: Case) -> dict[str, Any]:
    return {
        "tenant": c.tenant_id, "case_id": c.id, "channel": c.channel, "category": c.category,
        "priority": c.priority, "department_id": c.department_id, "unit_id": c.tenant_id,
        "created_at": c.created_at, "response_due_at": c.response_due_at, "responded_at": c.responded_at,
        "due_at": c.due_at, "resolved_at": c.resolved_at, "closed_at": c.closed_at, "status": c.status,
        "solved": c.solved, "satisfaction": c.satisfaction, "returned_count": c.returned_count,
        "reopened_count": c.reopened_count, "inconsistent": c.inconsistent, "source": c.source,
        "reporter_hash": c.reporter_hash, "duplicate_of": c.duplicate_of, "version_at": c.updated_at,
    }


def export_cases(settings: Settings, session: Session, *, durable: bool = True) -> int:
    """Write every case changed since the last export to the lake; returns how many rows were written.

    Run it on an unscoped session: the watermark is global, so a scoped one would skip other units' cases.
    """
    if session.info.get("scope") is not None:
        raise RuntimeError("export_cases needs an unscoped session (the watermark covers every unit)")
    mark = read_watermark(settings)
    stmt = select(Case).order_by(Case.updated_at, Case.id)
    if mark is not None:
        stmt = stmt.where(Case.updated_at > mark - OVERLAP)
    written, last = 0, mark
    batch: list[dict[str, Any]] = []
    for c in session.scalars(stmt.execution_options(yield_per=5000)):
        batch.append(_row(c))
        last = c.updated_at
        if len(batch) >= BATCH:
            write(settings.lake, "cases", {k: [r[k] for r in batch] for k in ("tenant", *COLUMNS)}, durable=durable)
            written += len(batch)
            batch = []
    if batch:
        write(settings.lake, "cases", {k: [r[k] for r in batch] for k in ("tenant", *COLUMNS)}, durable=durable)
        written += len(batch)
    if last is not None and last != mark:
        _save_watermark(settings, last)
    return written
