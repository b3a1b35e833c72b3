"""Finds the lake files of a table for a set of tenants and dates (partition pruning) and reads them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from chengyun.lake.tables import get_table

MANIFEST = "_compaction.json"  # in a partition folder: a compaction's merged file and the files it replaces


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
            out.extend(str(ddir / f) for f in partition_files(ddir))
    return out


def partition_files(ddir: Path) -> list[str]:
    """The data files of one partition folder, by name: ``part-*.parquet``, less those a finished compaction
    merged into one file (``_compaction.json`` names the merged file and the files it replaces; until the merged
    file is in place the manifest is ignored), so no reader counts a row twice while compaction tidies up."""
    names = sorted(f for f in os.listdir(ddir) if f.startswith("part-") and f.endswith(".parquet"))
    manifest = ddir / MANIFEST
    if not manifest.exists():
        return names
    try:
        plan = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # removed meanwhile by the compactor's clean-up: the folder is as listed
        return names
    if plan.get("merged") not in names:
        return names
    replaced = set(plan.get("replaces", []))
    return [n for n in names if n not in replaced]


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


def held(root: Path, table: str, columns: list[str]) -> set[tuple[Any, ...]]:
    """The ``columns`` values of every row the lake holds in ``table`` (all tenants), as tuples: what an export
    compares with so that it never writes a row twice."""
    import pyarrow.dataset as pads

    files = table_files(root, table, tenants_present(root, table), None, None)
    if not files:
        return set()
    got = pads.dataset(files, format="parquet").to_table(columns=columns).to_pylist()
    return {tuple(r[c] for c in columns) for r in got}
