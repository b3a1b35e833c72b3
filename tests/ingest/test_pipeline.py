"""The ingest pipeline: accept → WAL → lake, quarantine, dedupe of redeliveries, redo after a crash, flush policy."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chengyun.core.errors import Conflict
from chengyun.ingest.pipeline import Ingestor, Message
from chengyun.ingest.quarantine import list_quarantine
from chengyun.ingest.wal import batch_name
from chengyun.lake.reader import read
from chengyun.lake.writer import write

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
T0 = 1_700_000_000


def _open(tmp: Path, **kw: object) -> Ingestor:
    return Ingestor(tmp / "lake", tmp / "wal", tmp / "quarantine", **kw)  # type: ignore[arg-type]


def _body(i: int, **values: object) -> bytes:
    return json.dumps({"ts": T0 + i, "values": values or {"temp": i, "on": i % 2 == 0}}).encode()


def _lake(tmp: Path, tenants: tuple[str, ...] = ("t1",)) -> list[tuple[str, str, str, datetime, float]]:
    t = read(tmp / "lake", "telemetry", list(tenants))
    return sorted(zip(t.column("tenant").to_pylist(), t.column("asset_id").to_pylist(),
                      t.column("metric").to_pylist(), t.column("ts").to_pylist(), t.column("value").to_pylist(),
                      strict=True))


def _crash(ing: Ingestor) -> None:
    """Drop the ingestor as a kill -9 would: no flush, no close of the WAL beyond its descriptors."""
    ing.wal.close()
    os.close(ing._lock_fd)
    ing._lock_fd = -1


def test_accept_flush_lake_rows_equal_what_was_sent(tmp_path: Path) -> None:
    with _open(tmp_path) as ing:
        for i in range(50):
            res = ing.accept("mqtt", _body(i), "t1", f"a{i % 3}", NOW)
            assert res.stored == 2 and not res.quarantined
        assert ing.flush() == 100
        assert ing.flush() == 0  # nothing new
    want = sorted(("t1", f"a{i % 3}", m, datetime(2023, 11, 14, 22, 13, 20) + timedelta(seconds=i), v)
                  for i in range(50) for m, v in (("temp", float(i)), ("on", float(i % 2 == 0))))
    assert _lake(tmp_path) == want
    files = list((tmp_path / "lake" / "telemetry").rglob("*.parquet"))
    assert {f.name for f in files} == {f"part-{batch_name(1, 50)}"}


def test_json_lines_for_several_tenants(tmp_path: Path) -> None:
    lines = [{"tenant": t, "asset_id": "a", "ts": T0, "values": {"x": n}} for n, t in enumerate(["t1", "t2"])]
    with _open(tmp_path) as ing:
        res = ing.accept("http", "\n".join(json.dumps(x) for x in lines).encode(), None, None, NOW)
        assert res.stored == 2
    assert [r[0] for r in _lake(tmp_path, ("t1", "t2"))] == ["t1", "t2"]


def test_malformed_messages_are_quarantined_durably_and_listed(tmp_path: Path) -> None:
    with _open(tmp_path) as ing:
        first = ing.accept("mqtt", b"\xffgarbage", "t1", "a1", NOW, topic="chengyun/t1/a1/telemetry")
        second = ing.accept("http", _body(1, x="text", y={"z": 1}), "t1", "a2", NOW + timedelta(days=1))
        good = ing.accept("mqtt", _body(2), "t1", "a1", NOW)
        assert first.quarantined and "not UTF-8" in first.reason
        assert second.quarantined and "y" in second.reason
        assert not good.quarantined
        assert ing.stats.quarantined == 2
    items = list_quarantine(tmp_path / "quarantine")
    assert [i.asset_id for i in items] == ["a2", "a1"]  # newest first
    assert items[1].raw == b"\xffgarbage" and items[1].topic == "chengyun/t1/a1/telemetry"
    assert len(list((tmp_path / "quarantine").glob("quarantine-*.jsonl"))) == 2  # one file per day
    assert len(_lake(tmp_path)) == 2  # only the good message
    assert list_quarantine(tmp_path / "nowhere") == []


def test_redelivery_is_stored_once_across_flushes_and_restarts(tmp_path: Path) -> None:
    with _open(tmp_path) as ing:
        assert ing.accept("mqtt", _body(1), "t1", "a1", NOW).stored == 2
        dup = ing.accept("mqtt", _body(1), "t1", "a1", NOW)
        assert (dup.stored, dup.duplicates) == (0, 2)
        ing.flush()
        assert ing.accept("mqtt", _body(1), "t1", "a1", NOW).duplicates == 2  # after the flush
    with _open(tmp_path) as ing:  # window rebuilt from the log
        assert ing.accept("mqtt", _body(1), "t1", "a1", NOW).duplicates == 2
        part = ing.accept("mqtt", _body(1, temp=1, extra=5), "t1", "a1", NOW)  # one new metric at the same ts
        assert (part.stored, part.duplicates) == (1, 1)
        same_msg = ing.accept("mqtt", json.dumps([{"ts": T0 + 9, "values": {"x": 1}}] * 2).encode(), "t1", "a1")
        assert (same_msg.stored, same_msg.duplicates) == (1, 1)
    assert len(_lake(tmp_path)) == 4


def test_dedupe_window_forgets_old_records(tmp_path: Path) -> None:
    with _open(tmp_path, dedupe_records=3) as ing:
        for i in range(5):
            ing.accept("mqtt", _body(i), "t1", "a1", NOW)
        assert ing.accept("mqtt", _body(4), "t1", "a1", NOW).duplicates == 2
        assert ing.accept("mqtt", _body(0), "t1", "a1", NOW).stored == 2  # beyond the window: stored again


def test_redo_after_crash_between_lake_write_and_checkpoint(tmp_path: Path) -> None:
    ing = _open(tmp_path)
    for i in range(20):
        ing.accept("mqtt", _body(i), "t1", "a1", NOW)
    first, last = ing.wal.begin_batch(ing.wal.durable_seq)
    table = ing._batch_table(first, last)
    write(tmp_path / "lake", "telemetry", table, name=batch_name(first, last).removesuffix(".parquet"))
    for i in range(20, 25):  # more arrives after the batch was chosen
        ing.accept("mqtt", _body(i), "t1", "a1", NOW)
    _crash(ing)  # before checkpoint(last)
    assert len(_lake(tmp_path)) == 40
    with _open(tmp_path) as again:
        assert again.wal.pending_batch() == (1, 20)
        assert again.recover() == 50  # the redo (40 rows, same file names) and the 5 later messages
        assert again.wal.pending_batch() is None
    rows = _lake(tmp_path)
    assert len(rows) == len(set(rows)) == 50


def test_concurrent_accepts_share_fsyncs(tmp_path: Path) -> None:
    with _open(tmp_path) as ing:
        def work(k: int) -> None:
            for i in range(100):
                ing.accept("mqtt", _body(k * 1000 + i), "t1", f"a{k}", NOW)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ing.stats.messages == 800
        assert ing.wal.fsyncs < 800  # group commit: some syncs covered several messages
    assert len(_lake(tmp_path)) == 1600


def test_background_flusher_by_record_count_and_by_time(tmp_path: Path) -> None:
    ing = _open(tmp_path, flush_records=10, flush_seconds=60).start()
    try:
        for i in range(10):
            ing.accept("mqtt", _body(i), "t1", "a1", NOW)
        _wait(lambda: ing.wal.checkpointed() == 10)
        assert ing.stats.flushed_rows == 20
        ing.accept("mqtt", _body(99), "t1", "a1", NOW)
        time.sleep(0.6)
        assert ing.wal.checkpointed() == 10  # one record, far from 10 and from 60 s
    finally:
        ing.close()
    assert ing.wal.checkpointed() == 11  # close flushed it
    timed = _open(tmp_path / "timed", flush_records=10_000, flush_seconds=0.3).start()
    try:
        timed.accept("mqtt", _body(1), "t1", "a1", NOW)
        _wait(lambda: timed.wal.checkpointed() == 1)
        assert timed.lag() == (0, 0.0)
    finally:
        timed.close()


def test_prune_keeps_the_dedupe_window(tmp_path: Path) -> None:
    with _open(tmp_path, segment_bytes=2000, dedupe_records=10) as ing:
        for i in range(200):
            ing.accept("mqtt", _body(i), "t1", "a1", NOW)
            if i % 20 == 19:
                ing.flush()
        firsts = sorted(int(p.name[4:24]) for p in (tmp_path / "wal").glob("wal-*.log"))
        assert firsts[0] > 1  # old segments were pruned
        assert firsts[0] <= 200 - 10 + 1  # but the window's records are still there
    with _open(tmp_path, segment_bytes=2000, dedupe_records=10) as ing:
        assert ing.accept("mqtt", _body(195), "t1", "a1", NOW).duplicates == 2


def test_one_process_per_wal(tmp_path: Path) -> None:
    with _open(tmp_path), pytest.raises(Conflict, match=str(os.getpid())):
        _open(tmp_path)
    _open(tmp_path).close()  # released on close


def test_messages_carry_their_receive_time(tmp_path: Path) -> None:
    with _open(tmp_path) as ing:
        ing.accept_many([Message("mqtt", b'{"values": {"x": 1}}', "t1", "a1", NOW)])
    assert _lake(tmp_path)[0][3] == NOW.replace(tzinfo=None)


def _wait(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
