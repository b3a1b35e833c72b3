"""Commits immutable Parquet files to the lake: write to a hidden temporary name, fsync, atomic rename."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chengyun.core.errors import InvalidInput
from chengyun.lake.tables import LakeTable, get_table

PARALLEL_FROM = 8  # partitions in one write from which files are written by several threads
WRITERS = 4
_TENANT_RE = re.compile(r"^[A-Za-z0-9._-]+\Z")


def fsync_dir(path: Path) -> None:
    """Sync a directory, so a file created or renamed in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomic(table: pa.Table, target: Path, *, durable: bool = True) -> Path:
    """Write one Parquet file so that readers see all of it or nothing; ``durable`` also fsyncs it before the
    rename (bulk loads that sync once at the end, like the demo, pass False)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        pq.write_table(table, fh, compression="zstd")
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, target)
    if durable:
        fsync_dir(target.parent)
    return target


def _conform(spec: LakeTable, data: pa.Table) -> pa.Table:
    """Cast ``data`` to the declared schema, naming the column that does not fit."""
    if "date" not in data.column_names:
        ts = data.column(spec.time_column)
        data = data.append_column("date", pc.cast(ts, pa.date32()))
    for f in spec.schema:
        if f.name in spec.optional and f.name not in data.column_names:
            data = data.append_column(f.name, pa.nulls(data.num_rows, f.type))
    missing = [f.name for f in spec.schema if f.name not in data.column_names]
    if missing:
        raise InvalidInput(f"lake table {spec.name}: missing columns {missing}", fix="add them (null where unknown)")
    columns = []
    for field in spec.schema:
        col = data.column(field.name)
        try:
            col = col.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInput(
                f"lake table {spec.name}: column {field.name!r} cannot be read as {field.type}: {exc}",
                fix=f"send {field.type} values in {field.name!r}",
            ) from exc
        if not field.nullable and col.null_count:
            raise InvalidInput(
                f"lake table {spec.name}: column {field.name!r} has {col.null_count} empty values",
                fix=f"{field.name!r} is required in every row",
            )
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=spec.schema)


def _as_arrow(data: pa.Table | Mapping[str, Sequence[Any]] | Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, Mapping):
        return pa.table(dict(data))
    return pa.Table.from_pandas(data, preserve_index=False)


def partition_dir(root: Path, table: str, tenant: str, day: date) -> Path:
    """The Hive partition folder of one tenant and day."""
    return root / table / f"tenant={tenant}" / f"date={day.isoformat()}"


def write(root: Path, table_name: str, data: pa.Table | Mapping[str, Sequence[Any]] | Any, *,
          durable: bool = True, name: str | None = None) -> list[Path]:
    """Validate rows against the table's schema and commit one new file per (tenant, date) partition; with
    ``name`` each file is ``part-<name>.parquet``, so writing the same rows again replaces them (WAL redo)."""
    spec = get_table(table_name)
    tbl = _conform(spec, _as_arrow(data))
    if tbl.num_rows == 0:
        return []
    bad = [t for t in pc.unique(tbl.column("tenant")).to_pylist() if not _TENANT_RE.match(t)]
    if bad:
        raise InvalidInput(f"tenant ids {bad[:3]} contain characters not allowed in a lake path",
                           fix="use letters, digits, '.', '_' or '-' in tenant ids")
    tbl = tbl.sort_by([("tenant", "ascending"), ("date", "ascending")])
    tenants = tbl.column("tenant").to_numpy(zero_copy_only=False)
    days = tbl.column("date").cast(pa.int32()).to_numpy(zero_copy_only=False)
    change = np.flatnonzero((tenants[1:] != tenants[:-1]) | (days[1:] != days[:-1])) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [tbl.num_rows]])

    def one(a: int, b: int) -> Path:
        part = tbl.slice(a, b - a)
        folder = partition_dir(root, spec.name, str(tenants[a]), part.column("date")[0].as_py())
        return write_file_atomic(part, folder / f"part-{name or uuid.uuid4().hex}.parquet", durable=durable)

    spans = list(zip(starts.tolist(), ends.tolist(), strict=True))
    if len(spans) < PARALLEL_FROM:
        return [one(a, b) for a, b in spans]
    with ThreadPoolExecutor(WRITERS, thread_name_prefix="lake-write") as pool:  # encoding and fsync drop the GIL
        return list(pool.map(lambda span: one(*span), spans))
