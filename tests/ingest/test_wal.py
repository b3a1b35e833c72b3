"""The ingest write-ahead log: framing, resume, torn tails, corruption, checkpoints, group commit, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chengyun.core.errors import InvalidInput
from chengyun.ingest.wal import HEADER, Wal, WalCorrupt, batch_name, parse_batch_name, segment_name

from .wal_crash_writer import payload as crash_payload

WRITER = Path(__file__).with_name("wal_crash_writer.py")


def _payload(seq: int) -> bytes:
    return f"record-{seq}-".encode() + bytes([seq % 256]) * (seq % 37)


def _fill(wal: Wal, first: int, last: int, batch: int = 5) -> None:
    for start in range(first, last + 1, batch):
        end = min(start + batch - 1, last)
        assert wal.append([_payload(s) for s in range(start, end + 1)]) == end
    wal.sync()


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def _offset_of(seq: int, first: int = 1) -> int:
    """Byte offset of record ``seq`` in a segment starting at ``first`` filled by ``_fill``."""
    return sum(HEADER.size + len(_payload(s)) for s in range(first, seq))


def test_round_trip(tmp_path: Path) -> None:
    with Wal(tmp_path / "wal") as wal:
        assert wal.append([b"a", b"", b"\x00" * 1000]) == 3
        assert wal.append_durable([b"d"]) == 4
        assert list(wal.replay()) == [(1, b"a"), (2, b""), (3, b"\x00" * 1000), (4, b"d")]
        assert list(wal.replay(after_seq=2)) == [(3, b"\x00" * 1000), (4, b"d")]
        assert wal.append([]) == 4
        assert wal.durable_seq == 4


def test_seq_continues_across_reopen_and_rotation(tmp_path: Path) -> None:
    d = tmp_path / "wal"
    with Wal(d, segment_bytes=400) as wal:
        _fill(wal, 1, 60)
    segments = sorted(p.name for p in d.glob("wal-*.log"))
    assert len(segments) > 3
    with Wal(d, segment_bytes=400) as wal:
        assert wal.last_seq == 60
        assert wal.append([_payload(61)]) == 61
        _fill(wal, 62, 100)
    with Wal(d, segment_bytes=400) as wal:
        assert list(wal.replay()) == [(s, _payload(s)) for s in range(1, 101)]
        assert wal.dropped_bytes == 0
    for path in d.glob("wal-*.log"):  # every segment is named after its first record
        first = int(path.name[4:24])
        assert path.name == segment_name(first)
        assert HEADER.unpack_from(path.read_bytes(), 0)[2] == first


@pytest.mark.parametrize("damage", ["cut", "flip-payload", "flip-length", "cut-header"])
def test_torn_tail_is_dropped_and_reported(tmp_path: Path, damage: str) -> None:
    d = tmp_path / "wal"
    with Wal(d) as wal:
        _fill(wal, 1, 20)
    seg = d / segment_name(1)
    size, last_at = seg.stat().st_size, _offset_of(20)
    if damage == "cut":
        os.truncate(seg, size - 3)
    elif damage == "cut-header":
        os.truncate(seg, last_at + 5)
    else:
        _flip(seg, size - 1 if damage == "flip-payload" else last_at)
    expected_drop = (seg.stat().st_size - last_at)
    with Wal(d) as wal:
        assert wal.dropped_bytes == expected_drop > 0
        assert list(wal.replay()) == [(s, _payload(s)) for s in range(1, 20)]
        assert wal.append_durable([b"new"]) == 20
    assert seg.stat().st_size == last_at + HEADER.size + 3
    with Wal(d) as wal:
        assert wal.dropped_bytes == 0
        assert list(wal.replay(19)) == [(20, b"new")]


@pytest.mark.parametrize("field", ["payload", "seq", "length"])
def test_mid_file_corruption_raises_naming_the_file(tmp_path: Path, field: str) -> None:
    d = tmp_path / "wal"
    with Wal(d) as wal:
        _fill(wal, 1, 30)
    seg = d / segment_name(1)
    at = _offset_of(12)
    _flip(seg, at + {"payload": HEADER.size + 2, "seq": 8, "length": 0}[field])
    with pytest.raises(WalCorrupt) as err:
        Wal(d)
    text = str(err.value)
    assert seg.name in text and f"byte {at}" in text and "seq 12" in text and "truncate_corrupt=True" in text
    with Wal(d, truncate_corrupt=True) as wal:  # the documented fix: cut the log there
        assert wal.last_seq == 11
        assert [s for s, _ in wal.replay()] == list(range(1, 12))


def test_corruption_in_an_older_segment_raises_on_replay(tmp_path: Path) -> None:
    d = tmp_path / "wal"
    with Wal(d, segment_bytes=400) as wal:
        _fill(wal, 1, 60)
    seg = sorted(d.glob("wal-*.log"))[1]
    first = int(seg.name[4:24])
    _flip(seg, _offset_of(first + 1, first) + HEADER.size)
    with Wal(d, segment_bytes=400) as wal:
        with pytest.raises(WalCorrupt, match=seg.name):
            list(wal.replay())
        assert list(wal.replay(after_seq=int(sorted(d.glob("wal-*.log"))[2].name[4:24]) - 1))  # later ones read
    seg.write_bytes(seg.read_bytes()[:_offset_of(first + 1, first)])  # a whole record missing, cleanly cut
    with Wal(d, segment_bytes=400) as wal, pytest.raises(WalCorrupt, match="ends before seq"):
        list(wal.replay())


def test_checkpoint_and_prune(tmp_path: Path) -> None:
    d = tmp_path / "wal"
    with Wal(d, segment_bytes=400) as wal:
        _fill(wal, 1, 60)
        firsts = sorted(int(p.name[4:24]) for p in d.glob("wal-*.log"))
        assert wal.checkpointed() == 0
        mid = firsts[2] + 1  # inside the third segment
        wal.checkpoint(mid)
        with pytest.raises(InvalidInput):
            wal.checkpoint(mid - 1)  # never backwards
        with pytest.raises(InvalidInput):
            wal.checkpoint(61)  # never past the log
        deleted = wal.prune()
        assert [p.name for p in deleted] == [segment_name(f) for f in firsts[:2]]
        assert sorted(int(p.name[4:24]) for p in d.glob("wal-*.log")) == firsts[2:]
        assert [s for s, _ in wal.replay(wal.checkpointed())] == list(range(mid + 1, 61))
    with Wal(d, segment_bytes=400) as wal:
        assert wal.checkpointed() == mid
        wal.checkpoint(60)
        wal.prune()
        assert [p.name for p in d.glob("wal-*.log")] == [segment_name(firsts[-1])]  # the open one stays
        assert wal.append_durable([b"x"]) == 61


def test_pending_batch_survives_a_restart(tmp_path: Path) -> None:
    d = tmp_path / "wal"
    with Wal(d) as wal:
        _fill(wal, 1, 10)
        wal.checkpoint(4)
        assert wal.begin_batch(8) == (5, 8)
    with Wal(d) as wal:
        assert wal.pending_batch() == (5, 8)
        wal.checkpoint(8)
        assert wal.pending_batch() is None
    with Wal(d) as wal:
        assert (wal.checkpointed(), wal.pending_batch()) == (8, None)


def test_batch_name_is_deterministic_and_sorts_by_seq() -> None:
    names = [batch_name(9, 10), batch_name(11, 200), batch_name(1, 8)]
    assert batch_name(11, 200) == names[1]
    assert [parse_batch_name(n) for n in sorted(names)] == [(1, 8), (9, 10), (11, 200)]
    assert parse_batch_name("part-abc.parquet") is None


def test_concurrent_append_durable_groups_fsyncs(tmp_path: Path) -> None:
    threads, per_thread = 8, 2000
    wal = Wal(tmp_path / "wal", segment_bytes=256 * 1024)
    got: list[dict[int, bytes]] = [{} for _ in range(threads)]
    late: list[int] = []

    def work(tid: int) -> None:
        for i in range(per_thread):
            body = f"{tid}-{i}".encode()
            seq = wal.append_durable([body])
            if wal.durable_seq < seq:  # returned before its sync
                late.append(seq)
            got[tid][seq] = body

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wal.close()
    expected = {seq: body for part in got for seq, body in part.items()}
    assert not late
    assert len(expected) == threads * per_thread
    assert dict(Wal(tmp_path / "wal").replay()) == expected
    assert wal.fsyncs < threads * per_thread / 3, f"{wal.fsyncs} fsyncs for {threads * per_thread} appends"


def _acknowledged(stdout: bytes) -> dict[int, bytes]:
    acked = {}
    for line in stdout.decode().splitlines(keepends=True):
        if line.endswith("\n"):  # a line cut by the kill was never complete
            seq, tid, counter = map(int, line.split())
            acked[seq] = crash_payload(tid, counter)
    return acked


def test_kill_9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    d = tmp_path / "wal"
    acked: dict[int, bytes] = {}
    for _ in range(2):  # the second round resumes the log the first one left
        proc = subprocess.Popen([sys.executable, str(WRITER), str(d), "4"], stdout=subprocess.PIPE)
        time.sleep(1.0)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        round_acked = _acknowledged(out)
        assert round_acked, "the writer acknowledged nothing"
        acked.update(round_acked)
        with Wal(d, segment_bytes=64 * 1024) as wal:
            stored = dict(wal.replay())
            assert sorted(stored) == list(range(1, wal.last_seq + 1))
        missing = [s for s, body in acked.items() if stored.get(s) != body]
        assert not missing, f"{len(missing)} acknowledged records lost or changed, first {sorted(missing)[:5]}"
        assert max(acked) <= wal.last_seq
    assert len(list(d.glob("wal-*.log"))) > 1  # rotations happened under the kill
