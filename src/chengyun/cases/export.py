"""Cases into the lake (案件入湖): each change of a case becomes a new row of the lake's ``cases`` table, in the
partition of the day it was created; measures read the latest row of each case (``version_at``).

Exports are incremental from a watermark kept in ``<lake>/cases/_watermark.json``. Each export starts a little
before the watermark (``OVERLAP``), so a transaction that committed late with an earlier ``updated_at`` is still
picked up; rows of that overlap the lake already holds are skipped — the watermark keeps their (case, version)
pairs, so an export reads no lake file (one written before it kept them reads the overlap from the lake once). A row written twice all the same (a crash
between writing and moving the watermark) is the same version again, which reading the latest version absorbs.

The lake's ``tenant`` is the case's district (see ``partition_units``) and ``unit_id`` the unit it belongs to.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.cases.models import Case
from chengyun.core.settings import Settings
from chengyun.lake.reader import table_files, tenants_present
from chengyun.lake.sync import Exporter
from chengyun.lake.writer import write
from chengyun.tenancy.models import AdminUnit

BATCH = 50_000
OVERLAP = timedelta(minutes=10)
# the lake's columns, then the state DB's columns they are read from (in the same order but for the renamed ones)
COLUMNS = ("case_id", "channel", "category", "priority", "department_id", "unit_id", "created_at", "response_due_at",
           "responded_at", "due_at", "resolved_at", "closed_at", "status", "solved", "satisfaction",
           "returned_count", "reopened_count", "inconsistent", "source", "reporter_hash", "duplicate_of",
           "version_at")
FIELDS = ("id", "tenant_id", *(c for c in COLUMNS if c not in ("case_id", "unit_id", "version_at")), "updated_at")
TS = pa.timestamp("us")


def _watermark_file(settings: Settings) -> Path:
    return settings.lake / "cases" / "_watermark.json"


def _state(settings: Settings) -> dict[str, Any] | None:
    path = _watermark_file(settings)
    if not path.exists():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


def read_watermark(settings: Settings) -> datetime | None:
    """The ``updated_at`` of the last case exported, or None before the first export."""
    state = _state(settings)
    return None if state is None else datetime.fromisoformat(state["updated_at"])


def _recent(state: dict[str, Any] | None) -> set[tuple[str, datetime]] | None:
    """The (case, version) pairs of the overlap the last export left in the lake, kept with the watermark so that
    an export need not read the lake to skip them; None when the watermark predates them."""
    if state is None or "recent" not in state:
        return None
    return {(cid, datetime.fromisoformat(at)) for cid, at in state["recent"]}


def _save_watermark(settings: Settings, when: datetime, recent: set[tuple[str, datetime]]) -> None:
    path = _watermark_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    kept = sorted((cid, at.isoformat()) for cid, at in recent if at > when - OVERLAP)
    tmp.write_text(json.dumps({"updated_at": when.isoformat(), "recent": kept}), encoding="utf-8")
    os.replace(tmp, path)


def partition_units(session: Session) -> dict[str, str]:
    """Each unit's lake partition: its district (区县), or the unit itself at or above district level.

    Cases belong to the unit where they happened (often a grid); the lake files are kept per district, with that
    unit in ``unit_id``, so a city's cases make a few partitions a day rather than one per grid.
    """
    units = {uid: (parent, level) for uid, parent, level in
             session.execute(select(AdminUnit.id, AdminUnit.parent_id, AdminUnit.level)).tuples()}

    def district(uid: str) -> str:
        current: str | None = uid
        while current is not None and current in units:
            parent, level = units[current]
            if level == "district" or parent is None:
                return current
            current = parent
        return uid

    return {uid: district(uid) for uid in units}


def _already_exported(settings: Settings, since: datetime) -> set[tuple[str, datetime]]:
    """(case id, version) pairs the lake holds with a version after ``since`` (row-group statistics skip the rest)."""
    files = table_files(settings.lake, "cases", tenants_present(settings.lake, "cases"), None, None)
    if not files:
        return set()
    data = ds.dataset(files, format="parquet")
    got = data.to_table(columns=["case_id", "version_at"], filter=ds.field("version_at") > pa.scalar(since, TS))
    return set(zip(got.column("case_id").to_pylist(), got.column("version_at").to_pylist(), strict=True))


def _write_batch(settings: Settings, rows: list[Any], partition: dict[str, str], durable: bool) -> None:
    cols = {name: [r[i] for r in rows] for i, name in enumerate(FIELDS)}
    cols["tenant"] = [partition.get(t, t) for t in cols["tenant_id"]]
    cols["unit_id"] = cols.pop("tenant_id")
    cols["case_id"], cols["version_at"] = cols.pop("id"), cols.pop("updated_at")
    write(settings.lake, "cases", {k: cols[k] for k in ("tenant", *COLUMNS)}, durable=durable)


def export_cases(settings: Settings, session: Session, *, durable: bool = True) -> int:
    """Write every case changed since the last export to the lake; returns how many rows were written.

    Run it on an unscoped session: the watermark is global, so a scoped one would skip other units' cases. Rows
    of the overlap that the lake already holds (same case, same version) are not written again.
    """
    if session.info.get("scope") is not None:
        raise RuntimeError("export_cases needs an unscoped session (the watermark covers every unit)")
    state = _state(settings)
    mark = read_watermark(settings)
    partition = partition_units(session)
    stmt = select(*(getattr(Case, f) for f in FIELDS)).order_by(Case.updated_at, Case.id)
    seen: set[tuple[str, datetime]] = set()
    if mark is not None:
        stmt = stmt.where(Case.updated_at > mark - OVERLAP)
        recent = _recent(state)
        seen = _already_exported(settings, mark - OVERLAP) if recent is None else recent
    held, written, last = set(seen), 0, mark
    at = FIELDS.index("updated_at")
    for part in session.execute(stmt.execution_options(yield_per=BATCH)).partitions():
        rows = [r for r in part if (r[0], r[at]) not in seen] if seen else list(part)
        last = part[-1][at]
        if rows:
            _write_batch(settings, rows, partition, durable)
            written += len(rows)
            held.update((r[0], r[at]) for r in rows if last - r[at] < OVERLAP)  # the overlap only: small
    if last is not None and (last != mark or state is None or "recent" not in state):
        _save_watermark(settings, last, held)
    return written


EXPORTERS = (Exporter("cases", ("cases",), export_cases, "cases → cases (each change a new version)"),)
