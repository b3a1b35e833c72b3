"""Compaction of the lake (湖文件合并): the many small files of a closed partition merged into one, so scans open
fewer files — without a reader ever counting a row twice or missing one.

A partition (one tenant, one day) is closed once its day is over (before yesterday, UTC, by default). For each
closed partition with several files: the merged file is written under a hidden name and synced; a manifest
(``_compaction.json``) naming the merged file and the files it replaces is put in place; then one rename makes the
merged file visible. From that instant the platform's readers (``lake.reader.partition_files``) skip the replaced
files; before it they read the old files, which stay until a grace period has passed (a reader that listed them
just before may still be reading), and are then removed with the manifest by the next run. A crash at any step
leaves the partition readable as it was. Files that arrive in a partition while it is compacted (late data) are
not in the manifest and stay visible.

Tools that read the Parquet files directly, without the manifest, see the replaced files beside the merged one
until the grace period is over: keep it short (``--grace``), or run compaction when they are not reading.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from chengyun.core.errors import Conflict
from chengyun.lake.reader import MANIFEST, partition_files
from chengyun.lake.tables import TABLES, get_table
from chengyun.lake.writer import fsync_dir


@dataclass
class CompactReport:
    """What one run did: partitions merged, files before and after, rows moved, replaced files removed."""

    partitions: int = 0
    files_before: int = 0
    files_after: int = 0
    rows: int = 0
    removed: int = 0
    tables: dict[str, int] = field(default_factory=dict)  # table → partitions merged

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _write_json(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _tidy(ddir: Path, grace_s: float, now: float) -> int:
    """Finish an earlier compaction of ``ddir``: remove what it replaced once the grace period is over, or undo
    one that never became visible (a crash before its last rename). Returns the files removed."""
    manifest = ddir / MANIFEST
    if not manifest.exists():
        return 0
    plan = json.loads(manifest.read_text(encoding="utf-8"))
    if not (ddir / plan["merged"]).exists():  # never visible: drop its leftovers, the old files are the data
        for stray in ddir.glob(f".{plan['merged']}.*.tmp"):
            stray.unlink()
        manifest.unlink()
        fsync_dir(ddir)
        return 0
    if now - float(plan["at"]) < grace_s:
        return -1  # still within its grace period: leave the partition alone this time
    removed = 0
    for name in plan["replaces"]:
        if (ddir / name).exists():
            (ddir / name).unlink()
            removed += 1
    manifest.unlink()
    fsync_dir(ddir)
    return removed


def _merge(ddir: Path, table: str, names: list[str], now: float) -> int:
    """Merge ``names`` of one partition into one file (see the module docstring); returns the rows."""
    spec = get_table(table)
    parts = [pq.read_table(ddir / n, schema=spec.schema) for n in names]
    merged = pa.concat_tables(parts).sort_by([(spec.time_column, "ascending")])
    if merged.num_rows != sum(p.num_rows for p in parts):
        raise RuntimeError(f"compaction of {ddir}: rows do not add up")
    name = f"part-compact-{uuid.uuid4().hex}.parquet"
    tmp = ddir / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "wb") as fh:
        pq.write_table(merged, fh, compression="zstd")
        fh.flush()
        os.fsync(fh.fileno())
    _write_json(ddir / MANIFEST, {"merged": name, "replaces": names, "at": now})
    os.replace(tmp, ddir / name)  # the one step readers see: from here they read the merged file only
    fsync_dir(ddir)
    return merged.num_rows


def pending_batches(wal_root: Path) -> list[str]:
    """Ingest logs under ``wal_root`` with a lake batch begun and not finished (a redo would rewrite its files)."""
    out = []
    for checkpoint in sorted(wal_root.glob("*/checkpoint.json")):
        if json.loads(checkpoint.read_text(encoding="utf-8")).get("pending"):
            out.append(checkpoint.parent.name)
    return out


def _partitions(root: Path, tables: Iterable[str], before: date) -> Iterable[tuple[str, Path]]:
    for table in tables:
        base = root / table
        if not base.is_dir():
            continue
        for tdir in sorted(p for p in base.iterdir() if p.name.startswith("tenant=")):
            for ddir in sorted(p for p in tdir.iterdir() if p.name.startswith("date=")):
                if date.fromisoformat(ddir.name[5:]) < before:
                    yield table, ddir


def compact(root: Path, *, tables: Iterable[str] | None = None, before: date | None = None, min_files: int = 2,
            grace_s: float = 60.0, wal_root: Path | None = None, advance: object = None) -> CompactReport:
    """Merge the files of every closed partition holding ``min_files`` or more (see the module docstring)."""
    if wal_root is not None and (busy := pending_batches(wal_root)):
        raise Conflict(f"ingest logs {busy} have a lake batch in progress",
                       fix="let the ingest finish it (or run `chengyun ingest flush`), then compact")
    names = list(tables) if tables is not None else list(TABLES)
    for t in names:
        get_table(t)
    before = before or (datetime.now(UTC).date() - timedelta(days=1))
    report, now = CompactReport(), time.time()
    for table, ddir in _partitions(root, names, before):
        tidied = _tidy(ddir, grace_s, now)
        if callable(advance):
            advance()
        if tidied < 0:
            continue
        report.removed += tidied
        files = partition_files(ddir)
        if len(files) < min_files:
            continue
        report.rows += _merge(ddir, table, files, now)
        report.partitions += 1
        report.files_before += len(files)
        report.files_after += 1
        report.tables[table] = report.tables.get(table, 0) + 1
    return report
