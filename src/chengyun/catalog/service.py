"""The data resource catalogue (政务数据资源目录): register datasets from files or database tables, keep a
snapshot of each refresh, describe them in the catalogue, find them.

The platform keeps its own Parquet snapshot of every dataset (``<workspace>/datasets/<id>/<time>.parquet``): the
quality rules, the profile and the shared rows all read that snapshot, on DuckDB or Spark, so a slow or far source
database is read once per refresh. Every change is an audit entry.
"""

from __future__ import annotations

import csv
import re
import uuid
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.catalog.entry import CatalogEntry, cycle_days
from chengyun.catalog.models import Dataset, DatasetUpdate
from chengyun.catalog.personal import classify
from chengyun.catalog.sources import Loaded, read_source
from chengyun.core.db import utcnow
from chengyun.core.errors import Conflict, InvalidInput, NotFound
from chengyun.core.scoping import unscoped
from chengyun.core.settings import Settings
from chengyun.tenancy.models import AdminUnit, Department

LIST_FIX = "see `chengyun datasets list` (or GET /api/v1/datasets)"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
REQUIRED = ("code", "title", "department_id", "summary", "format", "update_cycle")  # a catalogued entry has these


def parse_entry(data: Any, *, source: str = "entry") -> CatalogEntry:
    """A catalogue entry from its fields, or InvalidInput naming each bad field (中文 label too) and the fix."""
    from chengyun.catalog.entry import validate_records

    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: a catalogue entry is a mapping of fields",
                           fix="give code, name, sharing_type and the other fields as keys")
    return validate_records([(source, data)], source=source, terms={})[0]


def get_dataset(session: Session, ref: str, *, tenant: str | None = None) -> Dataset:
    """A dataset by id, or by name (within ``tenant`` when names repeat across units), else NotFound."""
    found = session.get(Dataset, ref)
    if found is not None:
        return found
    q = select(Dataset).where(Dataset.name == ref)
    if tenant:
        q = q.where(Dataset.tenant_id == tenant)
    hits = list(session.scalars(q.limit(2)))
    if not hits:
        raise NotFound(f"no dataset {ref!r}" + (f" in {tenant}" if tenant else ""), fix=LIST_FIX)
    if len(hits) > 1:
        raise InvalidInput(f"dataset {ref!r} exists in several units", fix="add --tenant ID (or use the dataset id)")
    return hits[0]


def get_by_id(session: Session, dataset_id: str) -> Dataset:
    """The dataset (within the session's scope), else NotFound."""
    found = session.get(Dataset, dataset_id)
    if found is None:
        raise NotFound(f"no dataset {dataset_id!r}", fix=LIST_FIX)
    return found


def unit_ids(session: Session, tenant: str) -> list[str]:
    """The ids of a unit and of every unit under it."""
    from chengyun.tenancy.service import subtree

    return [u.id for u in subtree(session=session, unit_id=tenant)]


def _check_refs(session: Session, tenant: str, department: str | None) -> None:
    if session.get(AdminUnit, tenant) is None:
        raise NotFound(f"tenant: no unit {tenant!r}", fix="see `chengyun tenants list`")
    if department is None:
        return
    with unscoped(session):
        found = session.get(Department, department)
    if found is None:
        raise NotFound(f"provider: no department {department!r}", fix="use a department id of `GET /api/v1/departments`")


def _snapshot_path(settings: Settings, dataset_id: str, at: datetime) -> Path:
    return settings.workspace / "datasets" / dataset_id / f"{at:%Y%m%dT%H%M%S%f}.parquet"


def _write_snapshot(table: pa.Table, path: Path) -> None:
    """Write to a temporary name and rename, so a reader never opens half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def _write_rejects(loaded: Loaded, path: Path) -> Path | None:
    if not loaded.rejects:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "reason", "raw"])
        for r in loaded.rejects:
            w.writerow([r.row, r.reason, r.raw])
    return path


def _profile(settings: Settings, path: Path) -> dict[str, Any]:
    from chengyun.analytics.engine import DuckDBEngine
    from chengyun.catalog.profile import profile

    eng = DuckDBEngine.from_settings(settings, threads=2)
    try:
        return profile(eng.con.read_parquet(str(path)))
    finally:
        eng.close()


def catalogued(ds: Dataset) -> bool:
    """Whether the entry's required catalogue fields (编目要素) are all filled."""
    return all(getattr(ds, f) not in (None, "") for f in REQUIRED)


def _store_load(session: Session, settings: Settings, ds: Dataset, loaded: Loaded, *, actor: str | None,
                rejects_path: Path | None) -> DatasetUpdate:
    """Keep the snapshot of one load and record it as a refresh (数据更新)."""
    now = utcnow()
    path = _snapshot_path(settings, ds.id, now)
    _write_snapshot(loaded.table, path)
    rejects = _write_rejects(loaded, rejects_path or path.with_suffix(".rejects.csv"))
    ds.snapshot, ds.rows = str(path), loaded.table.num_rows
    ds.schema_ = classify(loaded.table, ds.schema_)  # personal-data classes: detected, or kept when set by hand
    ds.load_notes = {k: v for k, v in loaded.notes.items()} | {"format": loaded.format}
    ds.profile = _profile(settings, path)
    ds.last_updated_at, ds.updated_at = now, now
    ds.format = ds.format or loaded.format.upper()
    ds.catalogued = catalogued(ds)
    update = DatasetUpdate(dataset_id=ds.id, updated_at=now, rows=loaded.table.num_rows, rejected=len(loaded.rejects),
                           rejects_file=str(rejects) if rejects else None, snapshot=str(path), actor=actor)
    session.add(update)
    session.flush()
    return update


def add_dataset(session: Session, settings: Settings, *, source: str, name: str, tenant: str,
                provider: str | None = None, table: str | None = None, title: str | None = None,
                actor: str | None = None, rejects_path: Path | None = None, **read: Any) -> tuple[Dataset, DatasetUpdate]:
    """Register a dataset (登记): read the source, keep a snapshot, profile it, and enter it in the catalogue."""
    if not NAME.match(name):
        raise InvalidInput(f"name: {name!r} is not a dataset name",
                           fix="use letters, digits, '.', '_' or '-' (up to 100), e.g. enterprise-registry")
    _check_refs(session, tenant, provider)
    with unscoped(session):
        taken = session.scalar(select(Dataset.id).where(Dataset.tenant_id == tenant, Dataset.name == name))
    if taken:
        raise Conflict(f"name: dataset {name!r} exists in {tenant}", fix=f"refresh it: chengyun datasets refresh {name}")
    loaded = read_source(source, table=table, **read)
    now = utcnow()
    ds = Dataset(id=f"ds-{uuid.uuid4().hex[:12]}", tenant_id=tenant, name=name, title=title or name,
                 department_id=provider, source=str(source), source_table=table, sharing_type="conditional",
                 quality_target=80.0, created_at=now, updated_at=now)
    session.add(ds)
    session.flush()
    update = _store_load(session, settings, ds, loaded, actor=actor, rejects_path=rejects_path)
    audit.record(session, "dataset.create", target_type="dataset", target_id=ds.id, tenant_id=tenant,
                 detail={"name": name, "rows": ds.rows, "rejected": update.rejected, "format": loaded.format},
                 actor=actor)
    return ds, update


def refresh_dataset(session: Session, settings: Settings, ds: Dataset, *, actor: str | None = None,
                    source: str | None = None, rejects_path: Path | None = None,
                    keep_source: bool = True, **read: Any) -> DatasetUpdate:
    """Read the dataset's source again (or a new file) and keep the new snapshot (数据更新); ``keep_source``
    false: the file is an upload, not a place to read again."""
    src = source or ds.source
    if not src or src == "upload":
        raise InvalidInput(f"dataset {ds.name!r} has no source to read",
                           fix="give the file: chengyun datasets refresh NAME --source FILE")
    loaded = read_source(src, table=ds.source_table if source is None else None, **read)
    ds.source = str(src) if keep_source else "upload"
    update = _store_load(session, settings, ds, loaded, actor=actor, rejects_path=rejects_path)
    audit.record(session, "dataset.refresh", target_type="dataset", target_id=ds.id, tenant_id=ds.tenant_id,
                 detail={"rows": update.rows, "rejected": update.rejected}, actor=actor)
    return update


def list_datasets(session: Session, *, tenant: str | None = None, q: str | None = None,
                  department: str | None = None, sharing_type: str | None = None,
                  limit: int = 100, offset: int = 0) -> tuple[list[Dataset], int]:
    """Datasets of the caller's units, searched in name, title, code, summary and keywords (目录检索)."""
    stmt = select(Dataset).where(Dataset.retired_at.is_(None))
    if tenant:
        stmt = stmt.where(Dataset.tenant_id.in_(unit_ids(session, tenant)))
    if department:
        stmt = stmt.where(Dataset.department_id == department)
    if sharing_type:
        stmt = stmt.where(Dataset.sharing_type == sharing_type)
    if q:
        words = q.strip()  # % and _ are letters here, not wildcards
        stmt = stmt.where(or_(*(col.icontains(words, autoescape=True) for col in
                                (Dataset.name, Dataset.title, Dataset.code, Dataset.summary, Dataset.keywords))))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Dataset.tenant_id, Dataset.name).limit(limit).offset(offset))
    return list(rows), int(total)


# ---- the catalogue entry ---------------------------------------------------------------------------------------

_COLUMNS = {"code": "code", "name": "title", "provider": "department_id", "summary": "summary", "format": "format",
            "sharing_type": "sharing_type", "sharing_condition": "sharing_condition", "open_type": "open_type",
            "update_cycle": "update_cycle"}


def entry_of(ds: Dataset) -> CatalogEntry:
    """The dataset's catalogue entry (目录条目)."""
    extra = dict(ds.entry or {})
    values = {k: getattr(ds, col) for k, col in _COLUMNS.items()}
    named = extra.pop("provider_name", None)  # the provider as an imported catalogue named it
    values["provider"] = values["provider"] or named
    values["code"] = values["code"] or ds.id
    values["published"] = ds.published_at.date() if ds.published_at else None
    return CatalogEntry.model_validate(extra | {k: v for k, v in values.items() if v is not None})


def apply_entry(session: Session, ds: Dataset, entry: CatalogEntry, *, actor: str | None = None) -> Dataset:
    """Describe the dataset with a catalogue entry: its columns get the entry's fields, the rest is kept whole."""
    if entry.code and entry.code != ds.code:
        with unscoped(session):
            other = session.scalar(select(Dataset.id).where(Dataset.code == entry.code, Dataset.id != ds.id))
        if other:
            raise Conflict(f"code: resource code {entry.code!r} is used by another dataset",
                           fix="give each resource its own code (资源代码)")
    data = entry.model_dump(mode="json")
    department = _provider(session, ds.tenant_id, entry.provider)
    for key, col in _COLUMNS.items():
        setattr(ds, col, data.get(key) if key != "name" else (data.get("name") or ds.title))
    ds.department_id = department
    ds.sharing_type = entry.sharing_type
    ds.update_cycle_days = cycle_days(entry.update_cycle) if entry.update_cycle else None
    ds.published_at = datetime.combine(entry.published, time()) if isinstance(entry.published, date) else None
    ds.entry = {k: v for k, v in data.items() if k not in _COLUMNS and k != "published"}
    if entry.provider and department != entry.provider:
        ds.entry["provider_name"] = entry.provider  # an imported publisher that is not one of the city's departments
    ds.keywords = " ".join([*entry.keywords, *entry.themes])[:1000] or None
    ds.catalogued, ds.updated_at = catalogued(ds), utcnow()
    session.flush()
    audit.record(session, "dataset.catalogue", target_type="dataset", target_id=ds.id, tenant_id=ds.tenant_id,
                 detail={"code": ds.code, "sharing_type": ds.sharing_type, "catalogued": ds.catalogued}, actor=actor)
    return ds


def create_entry(session: Session, *, name: str, tenant: str, entry: CatalogEntry,
                 actor: str | None = None) -> Dataset:
    """Describe a dataset before its data is loaded (目录先行)."""
    if not NAME.match(name):
        raise InvalidInput(f"name: {name!r} is not a dataset name", fix="use letters, digits, '.', '_' or '-'")
    _check_refs(session, tenant, None)
    with unscoped(session):
        taken = session.scalar(select(Dataset.id).where(Dataset.tenant_id == tenant, Dataset.name == name))
    if taken:
        raise Conflict(f"name: dataset {name!r} exists in {tenant}", fix="choose another name")
    ds = Dataset(id=f"ds-{uuid.uuid4().hex[:12]}", tenant_id=tenant, name=name, title=entry.name,
                 created_at=utcnow(), updated_at=utcnow())
    session.add(ds)
    session.flush()
    audit.record(session, "dataset.create", target_type="dataset", target_id=ds.id, tenant_id=tenant,
                 detail={"name": name, "rows": None}, actor=actor)
    return apply_entry(session, ds, entry, actor=actor)


def _provider(session: Session, tenant: str, provider: str | None) -> str | None:
    """The department a catalogue's provider names: its id, else its name (an imported catalogue names its
    publisher), else none — the name is kept in the entry."""
    if not provider:
        return None
    with unscoped(session):
        if session.get(Department, provider) is not None:
            return provider
        found = session.scalar(select(Department.id).where(Department.name == provider).limit(1))
    return found


def import_entries(session: Session, entries: list[CatalogEntry], *, tenant: str,
                   actor: str | None = None) -> dict[str, int]:
    """Enter catalogue entries (from DCAT-AP or CKAN): an entry whose code is known updates its dataset, the others
    become datasets described but not yet loaded (目录先行)."""
    _check_refs(session, tenant, None)
    added = updated = 0
    for e in entries:
        ds = session.scalar(select(Dataset).where(Dataset.code == e.code))
        if ds is None:
            with unscoped(session):
                elsewhere = session.scalar(select(Dataset.id).where(Dataset.code == e.code))
            if elsewhere:
                raise Conflict(f"code: resource code {e.code!r} belongs to a dataset of another unit",
                               fix="give the resource its own code, or import it as a user of that unit")
            ds = Dataset(id=f"ds-{uuid.uuid4().hex[:12]}", tenant_id=tenant, name=_free_name(session, tenant, e.code),
                         title=e.name, created_at=utcnow(), updated_at=utcnow())
            session.add(ds)
            session.flush()
            added += 1
        else:
            updated += 1
        apply_entry(session, ds, e, actor=actor)
    return {"added": added, "updated": updated}


def _free_name(session: Session, tenant: str, code: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_.\-]+", "-", code).strip("-.")[:90] or "dataset"
    name, n = base, 1
    while session.scalar(select(Dataset.id).where(Dataset.tenant_id == tenant, Dataset.name == name)):
        n += 1
        name = f"{base}-{n}"
    return name
