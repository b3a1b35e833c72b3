"""Finds the lake files of a table for a set of tenants and dates (partition pruning) and reads them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from chengyun.lake.tables import get_table


def table_files(root: Path, table: str, tenants: Iterable[str], start: date | None, end: date | None) -> list[str]:
    """Committed files of ``table`` for ``tenants`` with partition date in ``[start, end]`` (None: open)."""
    get_table(table)
    out: list[str] = []
    base = root / table
    for tenant in sorted(set(tenants)):
        tdir = base / f"tenant={tenant}"
        if not tdir.is_dir():
            continue
        for entry in sorted(os.listdir(tdir)):
            if not entry.startswith("date="):
                continue
            day = date.fromisoformat(entry[5:])
            if (start and day < start) or (end and day > end):
                continue
            ddir = tdir / entry
            out.extend(str(ddir / f) for f in sorted(os.listdir(ddir)) if f.startswith("part-") and f.endswith(".parquet"))
    return out


def tenants_present(root: Path, table: str) -> list[str]:
    """Tenants that have at least one partition of ``table``."""
    base = root / table
    if not base.is_dir():
        return []
    return sorted(d[7:] for d in os.listdir(base) if d.startswith("tenant="))


def read(root: Path, table: str, tenants: Iterable[str], start: date | None = None, end: date | None = None) -> pa.Table:
    """All rows of ``table`` for the tenants and dates, as one Arrow table with the declared schema."""
    spec = get_table(table)
    files = table_files(root, table, tenants, start, end)
    if not files:
        return spec.schema.empty_table()
    return pa.concat_tables(pq.read_table(f, schema=spec.schema) for f in files)
