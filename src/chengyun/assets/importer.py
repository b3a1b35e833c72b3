"""Bulk import of the asset registry (台账导入) from CSV (UTF-8 or GB18030/GBK, any common delimiter) or Excel.

Columns (English or the usual Chinese headers, see ``import_rows.ALIASES``): ``id``, ``name``, ``kind`` (required),
``unit`` (default: the tenant), ``department``, ``operator``, ``lat``, ``lon``, ``address``, ``installed_at``,
``criticality``, ``expected_interval_s``, ``metric_count`` and ``depends_on`` (asset ids separated by ``;``, each
optionally followed by its kind in brackets: ``SRV-01 (runs-on)``). Other columns are kept in ``attributes``.

Every data row is *added* (a new id), *updated* (an id already registered; ``unchanged`` counts those whose values
were all the same) or *rejected* to the rejects file with a reason naming the field and the fix: read = added +
updated + rejected. Importing the same file again therefore updates and never duplicates. A column the file has is
the truth for the assets it lists (an empty cell empties the field, ``depends_on`` replaces their dependencies); a
column it lacks leaves the field as it was.

Dependencies are resolved after every row is read, so a row may depend on a later one. A row whose dependency is on
an asset neither in the file nor in the registry, or whose dependencies would close a cycle, is rejected; rejecting
a row may leave another depending on nothing, which is then rejected too, until nothing changes. The whole import
is one transaction with one audit entry.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.assets import kinds
from chengyun.assets.import_rows import REQUIRED, Row, header_map, parse
from chengyun.assets.models import Asset, AssetDependency
from chengyun.cases.import_source import Source, open_source
from chengyun.core.db import utcnow
from chengyun.core.errors import InvalidInput, NotFound
from chengyun.core.scoping import unscoped
from chengyun.tenancy.models import AdminUnit, Department
from chengyun.tenancy.service import subtree

CHUNK = 500  # ids per IN list
FIELDS = ("name", "kind", "tenant_id", "department_id", "operator", "lat", "lon", "address", "installed_at",
          "criticality", "expected_interval_s", "metric_count")


@dataclass
class ImportReport:
    """What an import did: rows read, added, updated (unchanged among them) and rejected, and why."""

    file: str
    tenant_id: str
    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    dependencies: int = 0  # dependencies recorded for the imported assets
    reasons: dict[str, int] = field(default_factory=dict)  # rejected rows per field at fault
    warnings: list[str] = field(default_factory=list)
    encoding: str | None = None
    rejects_path: str | None = None

    @property
    def valid(self) -> bool:
        """Whether anything could be read (rejected rows do not make an import fail)."""
        return self.read > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``chengyun assets import --json``)."""
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": self.rejected, "read": self.read, "dependencies": self.dependencies,
                "file": self.file, "tenant": self.tenant_id, "encoding": self.encoding, "reasons": self.reasons,
                "warnings": self.warnings, "rejects": self.rejects_path}


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    items = list(ids)
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def _read(src: Source, columns: dict[str, str]) -> list[Row]:
    rows: list[Row] = []
    number = 1
    for table in src.batches():
        for record in table.to_pylist():
            number += 1
            cells = {columns[k]: v for k, v in record.items() if k in columns}
            extra = {k: str(v).strip() for k, v in record.items() if k not in columns and v and str(v).strip()}
            rows.append(Row(number, cells, raw=record, extra=extra))
        for bad in src.bad_rows:
            raw = dict(zip(src.header, bad.fields, strict=False))
            row = Row(0, {columns[k]: v for k, v in raw.items() if k in columns}, raw=raw)
            row.reject(f"row: has {bad.actual} fields but the header has {bad.expected}; fix the quoting or the "
                       "delimiter in this row")
            rows.append(row)
        src.bad_rows.clear()
    return rows


def _first_of_each_id(rows: list[Row]) -> None:
    first: dict[str, int] = {}
    for row in rows:
        if row.problems or not row.id:
            continue
        if row.id in first:
            row.reject(f"id: {row.id!r} appears earlier in this file (row {first[row.id]}); only that row was "
                       "imported — merge the two rows or give this one another id")
        else:
            first[row.id] = row.number


def _existing(session: Session, ids: Iterable[str]) -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    with unscoped(session):  # ids are unique across units: one registered elsewhere must not be added again
        for part in _chunks(ids):
            found |= {a.id: a for a in session.scalars(select(Asset).where(Asset.id.in_(part)))}
    return found


def _graph(session: Session, replaced: set[str]) -> dict[str, set[str]]:
    """The registry's depends-on arrows, without those of the assets whose dependencies the file replaces."""
    out: dict[str, set[str]] = {}
    with unscoped(session):
        for a, b in session.execute(select(AssetDependency.asset_id, AssetDependency.depends_on_id)).tuples():
            if a not in replaced:
                out.setdefault(a, set()).add(b)
    return out


def _path(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A depends-on path from ``start`` to ``goal`` (breadth first), else None."""
    came: dict[str, str | None] = {start: None}
    queue = [start]
    for node in queue:
        if node == goal:
            path, at = [], node
            while at is not None:
                path.append(at)
                at = came[at]  # type: ignore[assignment]
            return path[::-1]
        for nxt in sorted(graph.get(node, ())):
            if nxt not in came:
                came[nxt] = node
                queue.append(nxt)
    return None


def _resolve(session: Session, rows: list[Row], has_deps: bool) -> None:
    """Reject rows that depend on unknown assets or close a cycle, until nothing changes."""
    if not has_deps:
        return
    targets = {t for r in rows for t in r.deps}
    registered = set(_existing(session, targets))
    while True:
        alive = {r.id for r in rows if not r.problems}
        for row in rows:
            missing = [t for t in row.deps if t not in alive and t not in registered]
            if not row.problems and missing:
                row.reject(f"depends_on: {', '.join(repr(m) for m in missing)} is not in the registry, and in this "
                           "file missing or rejected; add the asset, fix the id, or remove it from depends_on")
        graph = _graph(session, {r.id for r in rows if not r.problems})
        closed = False
        for row in rows:
            if row.problems:
                continue
            for target in row.deps:
                back = _path(graph, target, row.id)
                if back is not None:
                    row.reject(f"depends_on: {row.id} → {target} would close a cycle: "
                               f"{' → '.join([row.id, *back])}; dependencies must not go round — remove one")
                    closed = True
                    break
            else:
                graph.setdefault(row.id, set()).update(row.deps)
        if not closed and {r.id for r in rows if not r.problems} == alive:
            return


def _store(session: Session, rows: list[Row], tenant_id: str, report: ImportReport, replace_deps: bool) -> None:
    good = [r for r in rows if not r.problems]
    existing = _existing(session, (r.id for r in good))
    now = utcnow()
    same: set[str] = set()
    for row in good:
        asset = existing.get(row.id)
        values = row.values
        attrs = {**((asset.attributes or {}) if asset else {}), **row.extra} or None
        if asset is None:
            interval = values.get("expected_interval_s")
            asset = Asset(id=row.id, tenant_id=values.get("tenant_id") or tenant_id, status="unknown",
                          criticality="medium", metric_count=1 if interval else 0, created_at=now, updated_at=now)
            session.add(asset)
            report.added += 1
        else:
            report.updated += 1
            if all(getattr(asset, f) == values[f] for f in FIELDS if f in values) and attrs == asset.attributes:
                same.add(row.id)
                continue
            asset.updated_at = now
        for name in FIELDS:
            if name in values and not (name == "metric_count" and values[name] is None):
                setattr(asset, name, values[name])
        asset.attributes = attrs
    session.flush()
    changed = _store_deps(session, good, report) if replace_deps else set()
    for asset_id in changed & set(existing):
        existing[asset_id].updated_at = now
    report.unchanged = len(same - changed)


def _store_deps(session: Session, rows: list[Row], report: ImportReport) -> set[str]:
    """Make each row's dependencies exactly its ``depends_on``; the ids whose dependencies changed."""
    ids = [r.id for r in rows]
    current: dict[tuple[str, str], AssetDependency] = {}
    with unscoped(session):
        for part in _chunks(ids):
            stmt = select(AssetDependency).where(AssetDependency.asset_id.in_(part))
            current |= {(d.asset_id, d.depends_on_id): d for d in session.scalars(stmt)}
        kind_of = {r.id: r.values["kind"] for r in rows}
        targets = {t for r in rows for t in r.deps if t not in kind_of}
        kind_of |= {a.id: a.kind for a in _existing(session, targets).values()}
    now, changed = utcnow(), set()
    for row in rows:
        for target, kind in row.deps.items():
            want = kind or kinds.default_dependency(kind_of[target])
            dep = current.pop((row.id, target), None)
            if dep is None:
                session.add(AssetDependency(asset_id=row.id, depends_on_id=target, kind=want, created_at=now))
                changed.add(row.id)
            elif dep.kind != want:
                dep.kind = want
                changed.add(row.id)
            report.dependencies += 1
    for dep in current.values():  # the file lists this asset's dependencies without this one
        session.delete(dep)
        changed.add(dep.asset_id)
    session.flush()
    return changed


def _write_rejects(path: Path, header: list[str], rows: list[Row]) -> None:
    column = "reason" if "reason" not in header else "reject_reason"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:  # BOM: Excel then reads the Chinese
        out = csv.writer(fh)
        out.writerow([*header, column])
        for row in rows:
            out.writerow([*(row.raw.get(c) or "" for c in header), "; ".join(row.problems)])


def import_assets(session: Session, path: Path, tenant_id: str, rejects_path: Path | None = None) -> ImportReport:
    """Import an asset registry file into ``tenant_id`` and its subtree; see the module docstring."""
    unit = session.get(AdminUnit, tenant_id)
    if unit is None:
        raise NotFound(f"tenant: no unit {tenant_id!r}", fix="see `chengyun tenants list`")
    path = Path(path)
    src = open_source(path)
    columns = header_map(src.header)
    missing = [f for f in REQUIRED if f not in columns.values()]
    if missing:
        raise InvalidInput(f"{path.name}: no column for {', '.join(missing)}",
                           fix=f"name the columns id, name, kind (or 编号, 名称, 类型); the file has: "
                               f"{', '.join(src.header[:15])}")
    report = ImportReport(str(path), tenant_id, encoding=src.encoding)
    rows = _read(src, columns)
    report.read = len(rows)
    units = {u.id for u in subtree(session=session, unit_id=tenant_id)}
    with unscoped(session):
        departments = set(session.scalars(select(Department.id)))
    for row in rows:
        if not row.problems:
            parse(row, tenant=tenant_id, tz=unit.timezone, units=units, departments=departments)
    _first_of_each_id(rows)
    _outside(session, rows, units, tenant_id)
    has_deps = "depends_on" in columns.values()
    _resolve(session, rows, has_deps)
    _store(session, rows, tenant_id, report, has_deps)
    rejected = [r for r in rows if r.problems]
    report.rejected = len(rejected)
    report.reasons = dict(Counter(r.problems[0].split(":", 1)[0] for r in rejected).most_common())
    if rejected and rejects_path is not None:
        _write_rejects(rejects_path, src.header, rejected)
        report.rejects_path = str(rejects_path)
    elif rejected:
        report.warnings.append(f"{len(rejected)} rows rejected and no rejects file was asked for")
    audit.record(session, "asset.import", target_type="import", target_id=path.name[:100], tenant_id=tenant_id,
                 detail={k: v for k, v in report.to_dict().items() if k not in ("warnings", "tenant")})
    return report


def _outside(session: Session, rows: list[Row], units: set[str], tenant_id: str) -> None:
    """Reject rows whose id is registered in a unit outside the tenant's subtree (ids are unique everywhere)."""
    found = _existing(session, (r.id for r in rows if not r.problems))
    for row in rows:
        asset = found.get(row.id)
        if not row.problems and asset is not None and asset.tenant_id not in units:
            row.reject(f"id: {row.id!r} is registered already outside {tenant_id}'s units; give this asset "
                       "another id, or import it with the tenant it belongs to")
