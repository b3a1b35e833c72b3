"""The data resource domain into the lake (数据资源入湖), where the measures read it.

* ``datasets``: the catalogue, a dimension; a dataset new or changed since the lake last saw it gets a row.
* ``dataset_updates``: each refresh; ``quality_results``: each run, one row per GB/T 36344 dimension with the rows
  its rules checked and failed; ``data_access``: each read through a grant.
* ``sharing_requests``: a fact that changes (a request is decided after it is made): each change is a new version.

Partitions: ``tenant`` is the dataset's district (``cases.export.partition_units``). Rows the lake already holds
are not written again, so exporting twice adds nothing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chengyun.cases.export import partition_units
from chengyun.catalog.models import DataAccess, Dataset, DatasetUpdate, QualityRun, SharingRequest
from chengyun.core.settings import Settings
from chengyun.lake.reader import held
from chengyun.lake.sync import Exporter
from chengyun.lake.tables import get_table
from chengyun.lake.writer import write


def _write_new(settings: Settings, table: str, rows: list[dict[str, Any]], compared: list[str], durable: bool,
               seen: set[tuple[Any, ...]] | None = None) -> int:
    """Write the rows whose ``compared`` values the lake does not hold yet (``seen``: those values, if read)."""
    if not rows:
        return 0
    seen = held(settings.lake, table, compared) if seen is None else seen
    fresh = [r for r in rows if tuple(r[c] for c in compared) not in seen]
    if fresh:
        columns = [c for c in get_table(table).columns if c != "date"]
        write(settings.lake, table, {c: [r.get(c) for r in fresh] for c in columns}, durable=durable)
    return len(fresh)


def _dataset_row(d: Dataset, part: dict[str, str], exported: set[str]) -> dict[str, Any]:
    """A dataset's catalogue row; its first row in the lake counts from its registration (an entry described
    later must not vanish from the periods before the description)."""
    return {"tenant": part.get(d.tenant_id, d.tenant_id), "dataset_id": d.id, "name": d.title,
            "department_id": d.department_id,
            # whole days in the lake; a real-time dataset (an hour) is still judged by the day
            "update_cycle_days": None if d.update_cycle_days is None else max(1, math.ceil(d.update_cycle_days)),
            "sharing_type": d.sharing_type, "open": d.open_type == "open", "catalogued": d.catalogued,
            "registered_at": d.created_at,
            "version_at": d.updated_at if d.id in exported else min(d.created_at, d.updated_at)}


def _quality_rows(r: QualityRun, tenant: str) -> list[dict[str, Any]]:
    """One row per dimension: the rows its rules checked and failed in the run."""
    checked: dict[str, int] = defaultdict(int)
    failed: dict[str, int] = defaultdict(int)
    for rule in r.report.get("rules", []):
        checked[rule["dimension"]] += int(rule.get("checked") or 0)
        failed[rule["dimension"]] += int(rule.get("failed") or 0)
    return [{"tenant": tenant, "dataset_id": r.dataset_id, "checked_at": r.run_at, "dimension": dim,
             "rows_checked": checked[dim], "rows_failed": failed[dim]} for dim in sorted(checked)]


def _request_row(r: SharingRequest, tenant: str) -> dict[str, Any]:
    granted = None if r.decided_at is None else r.status in ("granted", "expired", "revoked")
    version: datetime = max(t for t in (r.requested_at, r.decided_at, r.revoked_at) if t is not None)
    return {"tenant": tenant, "request_id": r.id, "dataset_id": r.dataset_id,
            "requester_department_id": r.requester_department_id, "requested_at": r.requested_at,
            "decided_at": r.decided_at, "granted": granted, "version_at": version}


def _homes(session: Session) -> dict[str, str]:
    """Each dataset's lake partition (its district)."""
    part = partition_units(session)
    return {i: part.get(t, t) for i, t in session.execute(select(Dataset.id, Dataset.tenant_id)).tuples()}


def _unscoped(session: Session) -> None:
    if session.info.get("scope") is not None:
        raise RuntimeError("catalogue exports need an unscoped session (the lake holds every unit's data)")


def export_datasets(settings: Settings, session: Session, *, durable: bool = True) -> int:
    """The catalogue's new or changed entries (数据资源目录)."""
    _unscoped(session)
    part = partition_units(session)
    datasets = list(session.scalars(select(Dataset).order_by(Dataset.id)))
    compared = [c for c in get_table("datasets").columns if c not in ("date", "version_at")]
    seen = held(settings.lake, "datasets", compared) if datasets else set()  # read once: ids and versions held
    known = {k[compared.index("dataset_id")] for k in seen}
    return _write_new(settings, "datasets", [_dataset_row(d, part, known) for d in datasets], compared, durable, seen)


def export_dataset_updates(settings: Settings, session: Session, *, durable: bool = True) -> int:
    """Refreshes of datasets not in the lake yet."""
    _unscoped(session)
    home = _homes(session)
    rows = [{"tenant": home[u.dataset_id], "dataset_id": u.dataset_id, "updated_at": u.updated_at, "rows": u.rows}
            for u in session.scalars(select(DatasetUpdate)) if u.dataset_id in home]
    return _write_new(settings, "dataset_updates", rows, ["dataset_id", "updated_at"], durable)


def export_quality(settings: Settings, session: Session, *, durable: bool = True) -> int:
    """Quality runs not in the lake yet, one row per GB/T 36344 dimension."""
    _unscoped(session)
    home = _homes(session)
    rows = [row for r in session.scalars(select(QualityRun))
            for row in _quality_rows(r, home.get(r.dataset_id, r.tenant_id))]
    return _write_new(settings, "quality_results", rows, ["dataset_id", "checked_at", "dimension"], durable)


def export_sharing(settings: Settings, session: Session, *, durable: bool = True) -> int:
    """New versions of sharing requests (共享申请)."""
    _unscoped(session)
    home = _homes(session)
    rows = [_request_row(r, home.get(r.dataset_id, r.tenant_id)) for r in session.scalars(select(SharingRequest))]
    return _write_new(settings, "sharing_requests", rows, ["request_id", "version_at"], durable)


def export_access(settings: Settings, session: Session, *, durable: bool = True) -> int:
    """Reads through grants not yet in the lake."""
    _unscoped(session)
    return _export_access(settings, session, _homes(session), durable)


def export_catalog(settings: Settings, session: Session, *, durable: bool = True) -> dict[str, int]:
    """Write what the lake does not hold yet of every table of the domain; returns the rows written per table.
    Run it on an unscoped session (the lake holds every unit's data)."""
    return {table: fn(settings, session, durable=durable) for table, fn in (
        ("datasets", export_datasets), ("dataset_updates", export_dataset_updates),
        ("quality_results", export_quality), ("sharing_requests", export_sharing), ("data_access", export_access))}


def _export_access(settings: Settings, session: Session, home: dict[str, str], durable: bool) -> int:
    """Reads not yet in the lake, written once and marked (they are many, and never change)."""
    rows = list(session.scalars(select(DataAccess).where(DataAccess.exported.is_(False)).order_by(DataAccess.id)))
    if not rows:
        return 0
    write(settings.lake, "data_access", {
        "tenant": [home.get(a.dataset_id, a.tenant_id) for a in rows], "ts": [a.at for a in rows],
        "dataset_id": [a.dataset_id for a in rows], "request_id": [a.request_id for a in rows],
        "consumer_department_id": [a.consumer_department_id for a in rows], "scenario": [a.scenario for a in rows],
        "rows": [a.rows for a in rows]}, durable=durable)
    session.execute(update(DataAccess).where(DataAccess.id.in_([a.id for a in rows])).values(exported=True))
    return len(rows)


# One exporter per lake table: a read through a grant does not make the quality results be compared again. A
# dataset that moves keeps its earlier rows where they are, so the tables below need not follow ``datasets``.
EXPORTERS = (
    Exporter("catalog.datasets", ("datasets",), export_datasets, "the catalogue → datasets"),
    Exporter("catalog.dataset_updates", ("dataset_updates",), export_dataset_updates,
             "refreshes → dataset_updates"),
    Exporter("catalog.quality", ("quality_runs",), export_quality, "quality runs → quality_results"),
    Exporter("catalog.sharing", ("sharing_requests",), export_sharing,
             "sharing requests → sharing_requests"),
    Exporter("catalog.access", ("data_accesses",), export_access, "reads through grants → data_access"),
)
