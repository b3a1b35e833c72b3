"""Durable write-ahead log (预写日志) of the ingest path: acknowledge a message only once it is in the log and synced.

On disk: a directory of segments ``wal-<first seq, 20 digits>.log`` and a ``checkpoint.json``. A segment is a run
of records, each a 16-byte little-endian header ``(length u32, crc32 u32, seq u64)`` followed by ``length`` payload
bytes; the CRC (``zlib.crc32``) covers length, seq and payload. Seqs start at 1 and run without gaps across
segments; a segment is closed once it passes ``segment_bytes``.

Crash safety: a caller acknowledges only after ``append_durable`` (or ``append`` then ``sync``) returned. A crash
can leave a torn last record; opening the log cuts it away and reports the bytes in ``dropped_bytes`` — those
records were never acknowledged, because their sync had not returned. Damage with valid records after it is not a
torn tail: it raises ``WalCorrupt`` naming the file, the offset and the fix, and is never skipped silently.

Exactly once into the lake, the consumer's protocol:

1. On start, if ``pending_batch()`` returns ``(first, last)``, redo exactly that range first (step 3 onwards).
2. Choose the next range: ``first = checkpointed() + 1`` and any ``last`` (by size or time); ``begin_batch(last)``
   records it durably, so a restart redoes the same range rather than a different one.
3. Read ``replay(first - 1)`` up to ``last`` and write each lake file under the name ``batch_name(first, last)``
   in its partition folder, atomically (``lake.writer.write_file_atomic``). A redo after a crash produces the same
   names and overwrites them, so no record is stored twice.
4. ``checkpoint(last)``; now and then ``prune()`` to delete segments the lake holds entirely.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from chengyun.core.errors import ChengyunError, InvalidInput
from chengyun.lake.writer import fsync_dir

log = logging.getLogger(__name__)

HEADER = struct.Struct("<IIQ")  # length, crc32, seq
_CRC_PREFIX = struct.Struct("<IQ")  # the header fields the CRC covers
_SEQ = struct.Struct("<Q")
_MAX_RECORD = 2**32 - 1
_LOOKAHEAD = 16  # seqs searched past a bad record before calling it a torn tail
_SEGMENT_RE = re.compile(r"^wal-(\d{20})\.log\Z")
_BATCH_RE = re.compile(r"^seq-(\d{20})-(\d{20})\.parquet\Z")
CHECKPOINT = "checkpoint.json"
# fdatasync flushes the data and the file size an append changed, skipping the mtime: half the cost of fsync here.
_sync_data = getattr(os, "fdatasync", os.fsync)


class WalCorrupt(ChengyunError):
    """The log on disk is damaged somewhere other than a torn last record, or can no longer be trusted."""

    status = 500
    code = "wal-corrupt"


def segment_name(first_seq: int) -> str:
    """The file name of the segment whose first record is ``first_seq``."""
    return f"wal-{first_seq:020d}.log"


def batch_name(first_seq: int, last_seq: int) -> str:
    """The lake file name of the records ``first_seq..last_seq``: the same range always gives the same name."""
    return f"seq-{first_seq:020d}-{last_seq:020d}.parquet"


def parse_batch_name(name: str) -> tuple[int, int] | None:
    """The ``(first_seq, last_seq)`` of a name made by ``batch_name``, else None."""
    m = _BATCH_RE.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _crc(length: int, seq: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(_CRC_PREFIX.pack(length, seq)))


def _parse(buf: bytes, pos: int, seq: int) -> int | None:
    """The end offset of the record at ``pos`` if it is whole, intact and numbered ``seq``; else None."""
    if pos + HEADER.size > len(buf):
        return None
    length, crc, rseq = HEADER.unpack_from(buf, pos)
    end = pos + HEADER.size + length
    if rseq != seq or end > len(buf) or _crc(length, seq, buf[pos + HEADER.size:end]) != crc:
        return None
    return end


def _scan(buf: bytes, seq: int) -> tuple[int, int]:
    """Walk the valid records from the start: (the offset after the last one, the seq after it)."""
    pos = 0
    while pos < len(buf):
        end = _parse(buf, pos, seq)
        if end is None:
            break
        pos, seq = end, seq + 1
    return pos, seq


def _valid_after(buf: bytes, pos: int, seq: int) -> int | None:
    """The offset of a valid record numbered seq+1..seq+_LOOKAHEAD beyond the bad record at ``pos``, if any."""
    for want in range(seq + 1, seq + 1 + _LOOKAHEAD):
        key = _SEQ.pack(want)
        hit = buf.find(key, pos + 1 + 8)
        while hit != -1:
            if _parse(buf, hit - 8, want) is not None:
                return hit - 8
            hit = buf.find(key, hit + 1)
    return None


class Wal:
    """A segmented, checksummed, group-committed append-only log; every method is thread-safe."""

    def __init__(self, directory: Path | str, segment_bytes: int = 64 * 2**20, *,
                 truncate_corrupt: bool = False) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.fsyncs = 0  # data syncs done; appends / fsyncs is the group-commit factor
        self.dropped_bytes = 0  # torn tail cut away on open
        self._lock = threading.Lock()
        self._committed = threading.Condition(self._lock)
        self._sync_lock = threading.Lock()  # one sync at a time; appends go on meanwhile
        self._state_lock = threading.Lock()
        self._syncing = False
        self._broken: BaseException | None = None
        self._closed = False
        self._retired: list[int] = []  # descriptors of closed segments not yet synced
        self._dir_dirty = False
        self._fd, self._size, self._next_seq = -1, 0, 1  # set by _open_tail
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True)
            fsync_dir(self.directory.parent)
        self._done, self._pending = self._read_state()
        self._segments = sorted(int(m.group(1)) for p in self.directory.iterdir()
                                if (m := _SEGMENT_RE.match(p.name)))
        self._open_tail(truncate_corrupt)
        self._synced = self._next_seq - 1

    def append(self, payloads: Sequence[bytes]) -> int:
        """Write the records (not yet durable) and return the last seq; an empty batch returns the current one."""
        with self._lock:
            self._check_usable()
            seq = self._next_seq
            parts: list[bytes] = []
            for payload in payloads:
                n = len(payload)
                if n > _MAX_RECORD:
                    raise InvalidInput(f"WAL record of {n} bytes is too large", fix="split it below 4 GiB")
                parts += (HEADER.pack(n, _crc(n, seq, payload), seq), payload)
                seq += 1
            data = b"".join(parts)
            if self._size and self._size + len(data) > self.segment_bytes:
                self._retired.append(self._fd)
                self._start_segment(self._next_seq)
            self._write(data)
            self._next_seq = seq
            return seq - 1

    def sync(self) -> int:
        """Make every record appended so far durable (and the directory after a new segment); the last durable seq."""
        with self._sync_lock:
            with self._lock:
                self._check_usable()
                fd, target, retired, new_dir = self._fd, self._next_seq - 1, self._retired, self._dir_dirty
                if target == self._synced and not retired and not new_dir:
                    return target
                self._retired, self._dir_dirty = [], False
            try:
                for old in retired:  # older segments first: a durable record never follows a lost one
                    _sync_data(old)
                    os.close(old)
                _sync_data(fd)
                if new_dir:
                    fsync_dir(self.directory)
            except BaseException as exc:  # after a failed fsync the page cache state is unknown: never retry
                with self._lock:
                    self._broken = exc
                    self._committed.notify_all()
                raise
            with self._lock:
                self.fsyncs += 1
                self._synced = max(self._synced, target)
                self._committed.notify_all()
            return target

    def append_durable(self, payloads: Sequence[bytes]) -> int:
        """Append and return the last seq once durable; concurrent callers share one fsync (group commit)."""
        last = self.append(payloads)
        if self._lead_or_wait(last):
            try:
                self.sync()
            finally:
                with self._lock:
                    self._syncing = False
                    self._committed.notify_all()
        return last

    def _lead_or_wait(self, last: int) -> bool:
        """Wait until ``last`` is durable, or return True when this caller must run the next sync itself."""
        with self._lock:
            while self._synced < last:
                self._check_usable()
                if not self._syncing:
                    self._syncing = True
                    return True
                self._committed.wait()
            return False

    def _write(self, data: bytes) -> None:
        view, done = memoryview(data), 0
        try:
            while done < len(data):
                done += os.write(self._fd, view[done:])
        except BaseException:
            os.ftruncate(self._fd, self._size)  # leave no half record behind a failed write (disk full)
            raise
        self._size += len(data)

    def _start_segment(self, first_seq: int) -> None:
        self._fd = os.open(self._path(first_seq), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size, self._next_seq, self._dir_dirty = 0, first_seq, True
        self._segments.append(first_seq)

    def _open_tail(self, truncate_corrupt: bool) -> None:
        """Resume after the last valid record, cutting a torn tail away."""
        if not self._segments:
            self._start_segment(self._done + 1)
            return
        first = self._segments[-1]
        path = self._path(first)
        buf = path.read_bytes()
        end, nxt = _scan(buf, first)
        if end < len(buf):
            if _valid_after(buf, end, nxt) is not None and not truncate_corrupt:
                raise self._corrupt(path, end, nxt, "valid records follow it, so this is damage, not a torn tail",
                                    f"or open it with Wal(..., truncate_corrupt=True) to cut the log at byte {end} "
                                    "(the records after it are lost)")
            self.dropped_bytes = len(buf) - end
            log.warning("WAL %s: dropped a torn tail of %d bytes at byte %d (never acknowledged)",
                        path, self.dropped_bytes, end)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        if self.dropped_bytes:
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
        self._size, self._next_seq = end, nxt
        if nxt - 1 < self._done:
            raise WalCorrupt(f"WAL {self.directory}: the checkpoint ({self._done}) is past the last record ({nxt - 1})",
                             fix=f"restore the missing segments from a backup, or delete {CHECKPOINT} if the lake "
                                 "does not hold those records")

    def _corrupt(self, path: Path, offset: int, seq: int, why: str, other_fix: str) -> WalCorrupt:
        return WalCorrupt(f"WAL segment {path} is corrupt at byte {offset} (record seq {seq}): {why}",
                          fix=f"copy {self.directory} aside first; then restore {path.name} from a backup, {other_fix}")

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, bytes]]:
        """Yield ``(seq, payload)`` of every record after ``after_seq``, oldest first (as appended when called)."""
        with self._lock:
            firsts, tail_size, stop_all = list(self._segments), self._size, self._next_seq
        for i, first in enumerate(firsts):
            last_segment = i == len(firsts) - 1
            stop = stop_all if last_segment else firsts[i + 1]
            if stop - 1 > after_seq:
                yield from self._replay_segment(first, stop, after_seq, tail_size if last_segment else None)

    def _replay_segment(self, first: int, stop: int, after_seq: int, limit: int | None) -> Iterator[tuple[int, bytes]]:
        """The records of one segment after ``after_seq``, checking that it ends just before ``stop``."""
        path = self._path(first)
        with open(path, "rb") as fh:
            buf = fh.read() if limit is None else fh.read(limit)
        pos, seq = 0, first
        while pos < len(buf):
            end = _parse(buf, pos, seq)
            if end is None:
                raise self._corrupt(path, pos, seq, f"records {seq}..{stop - 1} cannot be read",
                                    "or, if the lake already holds them, checkpoint past them and prune()")
            if seq > after_seq:
                yield seq, buf[pos + HEADER.size:end]
            pos, seq = end, seq + 1
        if seq != stop:
            raise self._corrupt(path, pos, seq, f"the segment ends before seq {stop}, where the next one starts",
                                "or, if the lake already holds them, checkpoint past them and prune()")

    def checkpointed(self) -> int:
        """The last seq known to be in the lake (0 when none)."""
        return self._done

    def pending_batch(self) -> tuple[int, int] | None:
        """The range a consumer began writing to the lake and has not checkpointed: redo exactly it."""
        return (self._done + 1, self._pending) if self._pending is not None else None

    def begin_batch(self, last_seq: int) -> tuple[int, int]:
        """Record durably that the lake batch ``checkpointed()+1..last_seq`` is being written; returns the range."""
        with self._state_lock:
            self._check_range(last_seq, self._done + 1)
            self._write_state(self._done, last_seq)
            return self._done + 1, last_seq

    def checkpoint(self, seq: int) -> None:
        """Record durably (temp file, fsync, rename, directory fsync) that every record up to ``seq`` is in the lake."""
        with self._state_lock:
            self._check_range(seq, self._done)
            pending = self._pending if self._pending is not None and self._pending > seq else None
            self._write_state(seq, pending)

    def prune(self) -> list[Path]:
        """Delete the whole segments whose records are all at or below the checkpoint; returns the files deleted."""
        with self._lock:
            k = 0
            while k + 1 < len(self._segments) and self._segments[k + 1] - 1 <= self._done:
                k += 1
            doomed, self._segments = self._segments[:k], self._segments[k:]
        paths = [self._path(first) for first in doomed]
        for path in paths:
            path.unlink(missing_ok=True)
        return paths

    def _check_range(self, seq: int, lowest: int) -> None:
        """Refuse a checkpoint outside ``lowest..last appended``; make it durable before the lake relies on it."""
        with self._lock:
            last, synced = self._next_seq - 1, self._synced
        if not lowest <= seq <= last:
            raise InvalidInput(f"WAL checkpoint {seq} is outside {lowest}..{last}",
                               fix="checkpoint a seq that was appended and is not below the current checkpoint")
        if seq > synced:
            self.sync()

    def _read_state(self) -> tuple[int, int | None]:
        path = self.directory / CHECKPOINT
        if not path.exists():
            return 0, None
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            return int(state["checkpoint"]), (None if state["pending"] is None else int(state["pending"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise WalCorrupt(f"WAL checkpoint {path} cannot be read: {exc}",
                             fix='restore it from a backup, or write {"checkpoint": <last seq in the lake>, '
                                 '"pending": null} into it') from exc

    def _write_state(self, done: int, pending: int | None) -> None:
        path = self.directory / CHECKPOINT
        tmp = path.with_name(f".{CHECKPOINT}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"checkpoint": done, "pending": pending}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(self.directory)
        self._done, self._pending = done, pending

    @property
    def last_seq(self) -> int:
        """The last seq appended (durable or not); 0 for an empty log."""
        return self._next_seq - 1

    @property
    def durable_seq(self) -> int:
        """The last seq known to be synced."""
        return self._synced

    def _path(self, first_seq: int) -> Path:
        return self.directory / segment_name(first_seq)

    def _check_usable(self) -> None:
        if self._closed:
            raise WalCorrupt(f"WAL {self.directory} is closed", fix="open a new Wal on the directory")
        if self._broken is not None:
            raise WalCorrupt(f"WAL {self.directory}: a sync failed ({self._broken}); durability is unknown",
                             fix="restart the process: opening the log again recovers what is on disk")

    def close(self) -> None:
        """Sync and release the files; later calls fail."""
        if self._closed:
            return
        if self._broken is None:
            self.sync()
        with self._sync_lock, self._lock:  # no sync may be using a descriptor we close
            self._closed = True
            for fd in [*self._retired, self._fd]:
                os.close(fd)
            self._retired = []

    def __enter__(self) -> Wal:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
