"""Compaction of closed partitions: fewer files, the same rows, and no reader ever counting a row twice."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chengyun.cli.main import app
from chengyun.core.errors import Conflict
from chengyun.lake.compact import compact
from chengyun.lake.reader import MANIFEST, read, table_files
from chengyun.lake.writer import write

T = "c.d1"
OLD = datetime(2026, 3, 1, 8, 0)  # closed partitions: 2026-03-01 .. 03-03
TODAY = datetime(2026, 11, 26, 1, 0)


def _send(lake: Path, day: datetime, batches: int, per: int, asset: str = "a") -> None:
    for b in range(batches):  # one file per batch per partition, as the ingest writes them
        ts = [day + timedelta(minutes=b * per + i) for i in range(per)]
        write(lake, "telemetry", {"tenant": [T] * per, "asset_id": [asset] * per, "metric": ["m"] * per,
                                  "ts": ts, "value": [float(b * per + i) for i in range(per)]}, durable=False)


def _rows(lake: Path) -> list[tuple[str, datetime, float]]:
    t = read(lake, "telemetry", [T]).to_pylist()
    return sorted((r["asset_id"], r["ts"], r["value"]) for r in t)


def test_closed_partitions_become_one_file_each_with_the_same_rows(tmp_path: Path) -> None:
    for d in range(3):
        _send(tmp_path, OLD + timedelta(days=d), batches=4, per=5)
    _send(tmp_path, TODAY, batches=3, per=2)
    before = _rows(tmp_path)
    assert len(before) == 3 * 4 * 5 + 3 * 2 and len(table_files(tmp_path, "telemetry", [T], None, None)) == 15
    report = compact(tmp_path, before=date(2026, 11, 25))
    assert (report.partitions, report.files_before, report.files_after, report.rows) == (3, 12, 3, 60)
    assert _rows(tmp_path) == before
    files = table_files(tmp_path, "telemetry", [T], None, None)
    assert len(files) == 3 + 3  # one per closed day, today's three untouched
    march = tmp_path / "telemetry" / f"tenant={T}" / "date=2026-03-01"
    assert len(list(march.glob("part-*.parquet"))) == 5 and (march / MANIFEST).exists()  # kept for readers
    again = compact(tmp_path, before=date(2026, 11, 25), grace_s=0)
    assert (again.partitions, again.removed) == (0, 12)
    assert len(list(march.glob("part-*.parquet"))) == 1 and not (march / MANIFEST).exists()
    assert _rows(tmp_path) == before


def test_a_compaction_cut_short_leaves_the_partition_as_it_was(tmp_path: Path) -> None:
    _send(tmp_path, OLD, batches=3, per=4)
    before = _rows(tmp_path)
    ddir = tmp_path / "telemetry" / f"tenant={T}" / "date=2026-03-01"
    names = sorted(p.name for p in ddir.glob("part-*.parquet"))
    # a crash after the manifest, before the merged file's rename: only a hidden temporary file exists
    (ddir / ".part-compact-x.parquet.1234.tmp").write_bytes(b"half")
    (ddir / MANIFEST).write_text(json.dumps({"merged": "part-compact-x.parquet", "replaces": names, "at": 0}))
    assert _rows(tmp_path) == before  # the manifest is ignored while its merged file is missing
    report = compact(tmp_path, before=date(2026, 11, 25), grace_s=0)
    assert report.partitions == 1 and not list(ddir.glob(".*.tmp")) and _rows(tmp_path) == before


def test_late_data_written_during_compaction_stays_visible(tmp_path: Path) -> None:
    _send(tmp_path, OLD, batches=3, per=4)
    compact(tmp_path, before=date(2026, 11, 25))
    _send(tmp_path, OLD + timedelta(hours=5), batches=1, per=2, asset="late")  # a file the manifest does not name
    rows = _rows(tmp_path)
    assert len(rows) == 14 and sum(1 for r in rows if r[0] == "late") == 2


def test_readers_never_count_a_row_twice_while_partitions_are_compacted(tmp_path: Path) -> None:
    for d in range(60):
        _send(tmp_path, OLD + timedelta(days=d), batches=4, per=3)
    expected = len(_rows(tmp_path))
    counts: list[int] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            counts.append(read(tmp_path, "telemetry", [T]).num_rows)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        compact(tmp_path, before=date(2026, 11, 25), grace_s=0)  # merged; the replaced files still on disk
        assert read(tmp_path, "telemetry", [T]).num_rows == expected
        compact(tmp_path, before=date(2026, 11, 25), grace_s=0)  # now they are removed
    finally:
        done.set()
        thread.join()
    assert len(counts) >= 2 and set(counts) == {expected}


def test_a_lake_batch_in_progress_stops_compaction(tmp_path: Path) -> None:
    wal = tmp_path / "wal" / "serve"
    wal.mkdir(parents=True)
    (wal / "checkpoint.json").write_text(json.dumps({"checkpoint": 10, "pending": [11, 20]}))
    with pytest.raises(Conflict, match="serve"):
        compact(tmp_path / "lake", wal_root=tmp_path / "wal")


def test_the_command_reports_what_it_merged(tmp_path: Path) -> None:
    lake = tmp_path / "ws" / "lake"
    _send(lake, OLD, batches=2, per=3)
    result = CliRunner().invoke(app, ["lake", "compact", "--workspace", str(tmp_path / "ws"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) | {"tables": None} == {"partitions": 1, "files_before": 2, "files_after": 1,
                                                            "rows": 6, "removed": 0, "tables": None}
