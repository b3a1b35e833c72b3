"""Bulk import of case history (历史案件导入) from 311 / 12345 exports, CSV or Excel, through a mapping file.

How rows are counted: every data row read is either *imported* (stored as a case, source ``import``) or *rejected*
(written to the rejects file with the original values and a ``reason`` naming the field and the fix), so
``imported + rejected = read``. *Flagged* rows are imported rows whose data contradict themselves (closed before
they were created): they carry ``inconsistent = true`` and duration measures leave them out.

A row is rejected when it has no id or creation time, a date that cannot be read, a latitude or longitude that
is not on Earth, a field count that does not match the header, an id seen earlier in the same file, or an id this
tenant has already imported (external ids are unique per tenant and source ``import``). Importing the same file
again therefore stores nothing new: every row comes back as rejected with ``already imported``.

A historical status sets the timestamps that go with it: a close date is ``resolved_at`` and ``closed_at`` of a
closed case, ``resolved_at`` of a resolved or followed-up one and ``closed_at`` of a cancelled one; an open status
keeps no close date (and the warnings say how many rows had one). A status the mapping does not know becomes
closed when the row has a close date, else accepted, and is reported. Each case gets one ``import`` event dated
when it was created, naming the file.

Imported history keeps the due time the source gives and otherwise has none: the workspace's SLA policy is not
applied after the fact, so old cases neither all look breached nor count in on-time measures they were never
held to. Response times are not in 311 exports, so response measures have no data for imported cases.

The whole import is one transaction: a failure part-way leaves nothing behind, and the audit trail gets one entry
per import. Rows are inserted in bulk (``executemany`` on SQLite, ``COPY`` on PostgreSQL) with one ``import``
event per case; nothing goes through ``create_case`` row by row.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.cases import import_rows as rows_mod
from chengyun.cases.import_dates import DAY_FIRST, MONTH_FIRST, Inference, example, infer
from chengyun.cases.import_mapping import DATE_FIELDS, Mapping, load_mapping
from chengyun.cases.import_source import BadRow, Source, open_source, size_hint
from chengyun.cases.import_store import Store
from chengyun.cases.import_store import values as store_values
from chengyun.cases.service import CaseDesk, mask_contact
from chengyun.core.db import utcnow
from chengyun.core.errors import InvalidInput, NotFound
from chengyun.tenancy.models import AdminUnit

SOURCE = "import"


@dataclass
class ImportResult:
    """What an import did: rows read, imported (flagged among them) and rejected, with the date formats used."""

    file: str
    mapping: str
    tenant_id: str
    read: int = 0
    imported: int = 0
    flagged: int = 0
    rejected: int = 0
    formats: dict[str, str] = field(default_factory=dict)  # source column → strptime format
    warnings: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)  # rejected rows per kind of reason
    encoding: str | None = None
    delimiter: str | None = None
    timezone: str | None = None
    rejects_path: str | None = None
    seconds: float = 0.0

    @property
    def valid(self) -> bool:
        """Whether anything could be read at all (rejected rows do not make an import fail)."""
        return self.read > 0

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (``chengyun cases import --json``)."""
        rate = self.read / self.seconds if self.seconds else None
        return {"imported": self.imported, "flagged": self.flagged, "rejected": self.rejected, "read": self.read,
                "file": self.file, "mapping": self.mapping, "tenant": self.tenant_id, "formats": self.formats,
                "timezone": self.timezone, "encoding": self.encoding, "delimiter": self.delimiter,
                "reasons": self.reasons, "warnings": self.warnings, "rejects": self.rejects_path,
                "seconds": round(self.seconds, 3), "rows_per_s": round(rate) if rate else None}


class _Rejects:
    """The rejects file: the source's columns and a ``reason`` (``reject_reason`` when the source has a column
    named reason), opened on the first rejected row; no file when nothing was rejected."""

    def __init__(self, path: Path | None, header: list[str]) -> None:
        self.path, self.header = path, header
        self.column = "reason" if "reason" not in header else "reject_reason"  # Boston exports have a "reason"
        self._fh: Any = None
        self._writer: Any = None

    def write(self, rows: list[list[str]]) -> None:
        if self.path is None or not rows:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8-sig", newline="")  # BOM: Excel then reads Chinese
            self._writer = csv.writer(self._fh)
            self._writer.writerow([*self.header, self.column])
        self._writer.writerows(rows)

    @property
    def written(self) -> bool:
        return self._writer is not None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _decide(name: str, col: str, inf: Inference, seen: str, m: Mapping, orders: dict[str, str],
            result: ImportResult) -> str:
    """The format of one date column from its sample: ties between day-first and month-first are settled by the
    mapping's ``dayfirst``, else by another column of the file, else the import stops."""
    if inf.format is None or inf.share < 0.5:
        raise InvalidInput(f"column '{col}' ({name}): cannot tell how its dates are written "
                           f"(e.g. {seen or 'no readable values'})",
                           fix=f"set datetime_format in the mapping, e.g. datetime_format: {{{name}: '%d.%m.%Y %H:%M'}}")
    if not inf.ambiguous:
        return inf.format
    assert inf.monthfirst and inf.dayfirst
    if m.dayfirst is not None:
        return inf.dayfirst if m.dayfirst else inf.monthfirst
    other = next((o for c, o in orders.items() if c != col), None)
    if other is not None:
        result.warnings.append(f"column '{col}': every date reads both day-first and month-first; read "
                               f"{'day' if other == 'dmy' else 'month'}-first like the file's other date columns")
        return inf.dayfirst if other == "dmy" else inf.monthfirst
    raise InvalidInput(f"column '{col}' ({name}): every date reads both as day/month and as month/day "
                       f"(e.g. {inf.monthfirst} or {inf.dayfirst}), so the order cannot be told from the data",
                       fix="add `dayfirst: true` (DD/MM/YYYY) or `dayfirst: false` (MM/DD/YYYY) to the mapping, "
                           "or set datetime_format")


def _formats(table: pa.Table, m: Mapping, plan: dict[str, str], result: ImportResult) -> None:
    """Decide the format of every date column that has values and no format yet (given or inferred)."""
    pending: dict[str, tuple[Inference, str]] = {}
    for name in DATE_FIELDS:
        col = m.columns.get(name)
        if col is None or name in plan:
            continue
        if name in m.formats:
            plan[name] = m.formats[name]
            result.formats[col] = m.formats[name]
            continue
        values = rows_mod.text(table, m, name)
        assert values is not None
        if values.null_count == len(values):
            continue  # nothing to tell from yet
        pending[name] = (infer(values), example(values))
    orders = {m.columns[n]: ("dmy" if f in DAY_FIRST else "mdy") for n, f in plan.items()
              if f in DAY_FIRST or f in MONTH_FIRST}
    orders |= {m.columns[n]: i.order for n, (i, _e) in pending.items() if not i.ambiguous and i.order}
    for name, (inf, seen) in pending.items():
        col = m.columns[name]
        plan[name] = _decide(name, col, inf, seen, m, orders, result)
        result.formats[col] = plan[name]


def _missing_columns(m: Mapping, src: Source) -> None:
    missing = [f"{k} → '{v}'" for k, v in m.columns.items() if v not in src.header]
    if missing:
        raise InvalidInput(f"{src.path.name}: the mapping {m.name} names columns the file does not have: "
                           f"{', '.join(missing)}",
                           fix=f"use the file's column names ({', '.join(src.header[:15])}"
                               f"{' …' if len(src.header) > 15 else ''}) in the mapping's columns")


def _bad_rows(bad: list[BadRow], header: list[str]) -> list[list[str]]:
    out = []
    for b in bad:
        if b.actual > b.expected:
            extra = ", ".join(repr(x) for x in b.fields[b.expected:][:3])
            why = f"row has {b.actual} fields but the header has {b.expected} (extra: {extra})"
        else:
            why = f"row has {b.actual} fields but the header has {b.expected}"
        out.append([*(b.fields + [""] * len(header))[: len(header)],
                    f"row: {why}; fix the quoting or the delimiter in this row"])
    return out


class _Run:
    """One import in progress: the store, the ids seen so far and the running counts."""

    def __init__(self, session: Session, desk: CaseDesk, m: Mapping, tenant_id: str, tz: str, label: str,
                 result: ImportResult, rejects: _Rejects, header: list[str]) -> None:
        self.session, self.desk, self.m, self.tz = session, desk, m, tz
        self.result, self.rejects, self.header = result, rejects, header
        self.now = utcnow()
        self.store = Store(session, tenant_id, SOURCE, self.now, label)
        self.seen: set[str] = set()
        self.plan: dict[str, str] = {}
        self.unmapped = rows_mod.Unmapped()
        self.kinds: Counter[str] = Counter()

    def batch(self, table: pa.Table) -> None:
        _formats(table, self.m, self.plan, self.result)
        checks, values = rows_mod.check(table, self.m, self.plan, self.tz)
        ok = pc.is_null(checks.reasons)
        ids = store_values(pc.filter(values["id"], ok))
        taken = self.store.already_imported([i for i in ids if i not in self.seen])
        keep: list[bool] = []
        reasons = checks.reasons.to_pylist() if checks.kinds else [None] * table.num_rows
        positions = [i for i, r in enumerate(reasons) if r is None]
        for pos, ext in zip(positions, ids, strict=True):
            if ext in self.seen:
                reasons[pos] = f"id: '{ext}' appears earlier in this file; only its first row was imported"
                checks.kinds["id: duplicate in the file"] += 1
            elif ext in taken:
                reasons[pos] = (f"id: '{ext}' already imported for tenant {self.store.tenant_id} (case {taken[ext]});"
                                " nothing to do — importing a file again only adds rows not imported before")
                checks.kinds["id: already imported"] += 1
            else:
                self.seen.add(ext)
                keep.append(True)
                continue
            keep.append(False)
        self._reject(table, reasons)
        self.kinds.update(checks.kinds)
        mask = pa.array(keep, pa.bool_())
        passed = table.filter(ok).filter(mask)
        rows = {k: pc.filter(pc.filter(v, ok), mask) for k, v in values.items()}
        if passed.num_rows:
            rows = rows_mod.build(rows, passed, self.m, set(self.desk.categories), self.now, self.unmapped)
            self._reporters(rows)
            self.store.insert(rows)
            self.result.imported += passed.num_rows
            self.result.flagged += pc.sum(rows["inconsistent"]).as_py() or 0

    def _reporters(self, rows: dict[str, pa.Array]) -> None:
        contacts = rows.pop("reporter").to_pylist()
        rows["reporter_hash"] = pa.array([self.desk.contact_hash(c) if c else None for c in contacts], pa.string())
        rows["reporter_masked"] = pa.array([mask_contact(c) if c else None for c in contacts], pa.string())

    def _reject(self, table: pa.Table, reasons: list[str | None]) -> None:
        idx = [i for i, r in enumerate(reasons) if r is not None]
        self.result.rejected += len(idx)
        if not idx or self.rejects.path is None:
            return
        picked = table.take(pa.array(idx)).to_pylist()
        self.rejects.write([[("" if r[h] is None else r[h]) for h in self.header] + [reasons[i] or ""]
                            for r, i in zip(picked, idx, strict=True)])

    def drain(self, src: Source) -> None:
        bad, src.bad_rows[:] = list(src.bad_rows), []
        if bad:
            self.result.read += len(bad)
            self.result.rejected += len(bad)
            self.kinds["row: wrong number of fields"] += len(bad)
            self.rejects.write(_bad_rows(bad, self.header))

    def warnings(self) -> list[str]:
        out = []
        fixes = {"status_map": "stored as closed when the row has a close date, else accepted",
                 "channel_map": f"stored as {self.m.default_channel}", "priority_map": "stored as normal",
                 "category_map": "kept as the case title, category left empty",
                 "satisfaction_map": "left empty", "solved_map": "left empty"}
        for name, counter in self.unmapped.values.items():
            if counter:
                top = ", ".join(f"{v!r} ×{n}" for v, n in counter.most_common(5))
                more = f" and {len(counter) - 5} more" if len(counter) > 5 else ""
                out.append(f"{name}: {sum(counter.values())} rows with {len(counter)} values it does not map "
                           f"({top}{more}): {fixes[name]}; add them to {name} in the mapping")
        out += [f"{n} {what}" for what, n in self.unmapped.counts.items() if n]
        out += [f"column '{col}' ({name}) is empty in every row" for name, col in self.m.columns.items()
                if name in DATE_FIELDS and name not in self.plan]
        return out


def import_cases(session: Session, desk: CaseDesk, path: Path, mapping: str | Path | Mapping, tenant_id: str,
                 rejects_path: Path | None = None, progress: Any = None) -> ImportResult:
    """Import a 311/12345 export into ``tenant_id`` as history (source ``import``); see the module docstring."""
    started = time.perf_counter()
    m = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    unit = session.get(AdminUnit, tenant_id)
    if unit is None:
        raise NotFound(f"tenant: no unit {tenant_id!r}", fix="see `chengyun tenants list`")
    tz = m.timezone or unit.timezone or desk.tz
    path = Path(path)
    task = progress.add_task(f"importing {path.name}", total=size_hint(path)) if progress is not None else None
    src = open_source(path, sheet=m.sheet,
                      advance=(lambda n: progress.update(task, advance=n)) if progress is not None else None)
    _missing_columns(m, src)
    result = ImportResult(str(path), m.name, tenant_id, encoding=src.encoding, delimiter=src.delimiter, timezone=tz)
    rejects = _Rejects(rejects_path, src.header)
    run = _Run(session, desk, m, tenant_id, tz, path.name, result, rejects, src.header)
    try:
        with run.store:
            for table in src.batches():
                result.read += table.num_rows
                run.batch(table)
                run.drain(src)
            run.drain(src)
            run.store.flush()
    finally:
        rejects.close()
    result.rejects_path = str(rejects_path) if rejects.written else None
    result.reasons = dict(run.kinds.most_common())
    result.warnings += run.warnings()
    if result.rejected and rejects_path is None:
        result.warnings.append(f"{result.rejected} rows rejected and no rejects file was asked for")
    result.seconds = time.perf_counter() - started
    audit.record(session, "case.import", target_type="import", target_id=path.name[:100], tenant_id=tenant_id,
                 detail={k: v for k, v in result.to_dict().items() if k not in ("warnings", "tenant")})
    return result
