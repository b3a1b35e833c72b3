"""Writing imported cases in bulk (导入入库): ``COPY`` on PostgreSQL, one prepared ``executemany`` on SQLite, in
the caller's transaction, with one ``import`` event per case. The only database-specific code of the import.

One batch is written on a worker thread while the importer prepares the next one (the database driver and Arrow
release the GIL for most of their work). The connection is never used by both threads at once: every other use
of it here waits for the batch in flight first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from itertools import repeat
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Boolean, DateTime, Float, Integer, String, Table, select
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.cases.models import Case, CaseEvent
from chengyun.core.errors import InvalidInput
from chengyun.lake.changes import touch

BATCH = 10_000  # rows per executemany
LOOKUP = 5_000  # ids per "already imported?" query (SQLite allows 32,766 variables)
# case fields taken from the prepared rows, in insert order
FIELDS = ("external_id", "channel", "category", "priority", "title", "description", "lat", "lon", "address",
          "reporter_hash", "reporter_masked", "department_id", "status", "created_at", "resolved_at", "closed_at",
          "due_at", "sla_rule", "breached", "solved", "satisfaction", "inconsistent")
CASES, EVENTS = cast(Table, Case.__table__), cast(Table, CaseEvent.__table__)
EVENT_COLUMNS = ("case_id", "at", "actor", "action", "to_status", "department_id", "reason")


def _stamp(value: datetime) -> str:
    # the form SQLAlchemy stores a DateTime in on SQLite; PostgreSQL reads it as a timestamp
    return f"{value:%Y-%m-%d %H:%M:%S.%f}"


def values(array: pa.Array) -> list[Any]:
    """A column as Python values for the driver, None where null (``to_pylist`` is ten times slower)."""
    if pa.types.is_timestamp(array.type):
        array = array.cast(pa.string())  # 2022-05-01 04:00:03.000000, the form _stamp writes
    nulls = array.null_count
    if nulls and (pa.types.is_integer(array.type) or pa.types.is_boolean(array.type)):
        # numpy holds a null as NaN, so an integer column with nulls would come out as floats (5.0)
        out = array.fill_null(0 if pa.types.is_integer(array.type) else False).to_numpy(zero_copy_only=False)
    else:
        out = array.to_numpy(zero_copy_only=False)
    if nulls and out.dtype != object:
        out = out.astype(object)
        out[array.is_null().to_numpy(zero_copy_only=False)] = None
    return out.tolist()  # type: ignore[no-any-return]


def _arrow_type(table: Table, name: str) -> pa.DataType | None:
    """The Arrow type a column's values are cast to before the write; None: passed as they are (JSON)."""
    kind = table.c[name].type
    for sql, arrow in ((Boolean, pa.bool_()), (Integer, pa.int64()), (Float, pa.float64()),
                       (DateTime, pa.timestamp("us")), (String, pa.string())):  # Text is a String
        if isinstance(kind, sql):
            return arrow
    return None


def _first_unfit(array: pa.Array, want: pa.DataType) -> int:
    """The first value that cannot be cast (only on the error path: one value at a time)."""
    for i in range(len(array)):
        try:
            array.slice(i, 1).cast(want)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return i
    return 0


def typed(table: Table, name: str, array: pa.Array, offset: int = 0) -> pa.Array:
    """``array`` as the type of ``table``'s column ``name``: PostgreSQL's ``COPY`` reads every value as text and
    refuses ``5.0`` for an integer (SQLite's type affinity would store it as given), so every column is typed first.
    A value that does not fit (a fraction for an integer, a string longer than the column) raises, naming the row."""
    want = _arrow_type(table, name)
    if want is None or array.type == want:
        out = array
    else:
        try:
            out = array.cast(want)  # safe: 5.5 → integer or "x" → float raise instead of truncating
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            row = _first_unfit(array, want)
            raise InvalidInput(f"row {offset + row}: {name} {array[row].as_py()!r} does not fit the column "
                               f"({exc})", fix=f"give {name} as {want}") from exc
    length = getattr(table.c[name].type, "length", None)
    if length and pa.types.is_string(out.type) and len(out):
        too_long = pc.greater(pc.utf8_length(out), length)
        if pc.any(too_long).as_py():
            row = int(pc.indices_nonzero(pc.fill_null(too_long, False))[0].as_py())
            raise InvalidInput(f"row {offset + row}: {name} is longer than {length} characters",
                               fix=f"shorten {name} to at most {length} characters")
    return out


class Store:
    """Bulk writer of one import: case ids, constants, and the database's fastest way to add many rows."""

    def __init__(self, session: Session, tenant_id: str | None, source: str, now: datetime, label: str, *,
                 fields: Sequence[str] = FIELDS, keep_ids: bool = False) -> None:
        """``tenant_id`` None: each row names its unit (``tenant_id`` among ``fields``); ``keep_ids``: the rows'
        ``id`` is the case id itself (history the platform made), not an external id to map."""
        self.session, self.tenant_id, self.source = session, tenant_id, source
        self.fields, self.keep_ids = tuple(fields), keep_ids
        if (tenant_id is None) != ("tenant_id" in self.fields):
            raise ValueError("name the tenant once: as tenant_id, or as a field of every row")
        self.conn = session.connection()
        self.dialect = self.conn.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise InvalidInput(f"bulk import into a {self.dialect} state DB is not supported",
                               fix="use SQLite or PostgreSQL (CHENGYUN_DATABASE_URL)")
        self.prior = tenant_id is not None and session.scalar(
            select(Case.id).where(Case.tenant_id == tenant_id, Case.source == source).limit(1)) is not None
        self.prefix = os.urandom(4).hex()  # ids: a random prefix per import, then a counter (B-tree friendly)
        self.counter = 0
        self.written = 0  # rows written so far: the offset of a batch's rows in error messages
        self.actor = session.info.get("actor") or audit.cli_actor()
        self.reason = f"imported from {label}"[:500]
        self.constants = self._constants(now)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="case-import")
        self._pending: Future[None] | None = None

    def _constants(self, now: datetime) -> dict[str, Any]:
        """Values the same for every imported row, including the defaults of required columns not set here."""
        out: dict[str, Any] = {"tenant_id": self.tenant_id, "source": self.source, "extension": 0.0,
                               "returned_count": 0, "reopened_count": 0, "escalation_level": 0,
                               "updated_at": _stamp(now)}
        for name in self.fields:
            out.pop(name, None)
        for col in CASES.columns:
            if col.name in out or col.name in self.fields or col.name == "id" or col.nullable:
                continue
            default = col.default
            value = getattr(default, "arg", None)
            if callable(value):
                value = value(None)
            out[col.name] = _stamp(value) if isinstance(value, datetime) else value
        return out

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._pool.shutdown(wait=True)  # on an error too: the rollback must not race a batch still being written

    def flush(self) -> None:
        """Wait for the batch in flight; its error, if any, is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def already_imported(self, ids: list[str]) -> dict[str, str]:
        """Which of these external ids the tenant has imported before: external id → case id."""
        if not self.prior or not ids:
            return {}
        self.flush()
        out: dict[str, str] = {}
        for i in range(0, len(ids), LOOKUP):
            found = self.session.execute(select(Case.external_id, Case.id).where(
                Case.tenant_id == self.tenant_id, Case.source == self.source,
                Case.external_id.in_(ids[i:i + LOOKUP])))
            out.update({str(ext): cid for ext, cid in found})
        return out

    def insert(self, rows: dict[str, pa.Array], events: dict[str, pa.Array] | None = None) -> None:
        """Store the prepared rows as cases (in the background; see ``flush``), each with its ``import`` event, or
        with ``events`` (columns of ``EVENT_COLUMNS`` but ``actor``, ``case_id`` holding the rows' ``id``)."""
        self.flush()
        self._pending = self._pool.submit(self._write, rows, events)

    def _write(self, rows: dict[str, pa.Array], events: dict[str, pa.Array] | None) -> None:
        n = len(rows["id"])
        if self.keep_ids:
            ids = values(typed(CASES, "id", rows["id"], self.written))
        else:
            ids = [f"{self.prefix}{i:08x}" for i in range(self.counter, self.counter + n)]
            self.counter += n
            rows = {**rows, "external_id": rows["id"]}
        fields = [values(typed(CASES, f, rows[f], self.written)) for f in self.fields]
        names = ("id", *self.fields, *self.constants)
        cases = zip(ids, *fields, *(repeat(v) for v in self.constants.values()), strict=False)
        self._bulk(CASES, names, cases)
        if events is not None:
            cols = [values(typed(EVENTS, c, events[c])) if c != "actor" else repeat(self.actor)
                    for c in EVENT_COLUMNS]
            self._bulk(EVENTS, EVENT_COLUMNS, zip(*cols, strict=False))
            self.written += n
            return
        created, status, dept = (fields[self.fields.index(f)] for f in ("created_at", "status", "department_id"))
        imported = zip(ids, created, repeat(self.actor), repeat("import"), status, dept, repeat(self.reason),
                       strict=False)
        self._bulk(EVENTS, EVENT_COLUMNS, imported)
        self.written += n

    def _bulk(self, table: Table, names: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
        touch(self.session, table.name)  # written past the session: the lake's sync must still see it changed
        cols = ", ".join(names)
        if self.dialect == "postgresql":
            raw = self.conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table.name} ({cols}) VALUES ({', '.join('?' * len(names))})"  # SQLite
        batch = list(rows)
        for i in range(0, len(batch), BATCH):
            self.conn.exec_driver_sql(sql, batch[i:i + BATCH])  # type: ignore[arg-type]

