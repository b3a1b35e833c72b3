"""WAL append micro-benchmark (预写日志写入基准): durable records/s of ``Wal.append_durable`` for 200-byte payloads.

Each run starts from an empty log in a temporary folder on this disk (``--dir``, default ``bench/out``) and has
1, 4 and 16 threads call ``append_durable`` in a closed loop, ``--batch`` records per call, so the group commit
shares fsyncs among whoever is waiting. The baseline writes the same bytes (header plus payload per record) to one
file from one thread with one fdatasync per chunk as large as the WAL's average fsync group in that run: what the
disk alone costs for the same number of syncs, with no framing, locks or thread hand-offs.

    .venv/bin/python bench/wal_append.py
    .venv/bin/python bench/wal_append.py --seconds 3 --batch 1,8 --threads 1,4,16,64
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # `bench.common` when run as a script

from bench.common import hardware  # noqa: E402
from chengyun.ingest.wal import HEADER, Wal  # noqa: E402

PAYLOAD = 200
_sync_data = getattr(os, "fdatasync", os.fsync)  # the call the WAL makes


def run_wal(folder: Path, threads: int, batch: int, seconds: float) -> dict[str, float]:
    """Durable records/s and fsyncs/s of ``threads`` appenders calling ``append_durable`` for ``seconds``."""
    wal = Wal(folder)
    payloads = [os.urandom(PAYLOAD) for _ in range(batch)]
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def work(i: int) -> None:
        while time.perf_counter() < deadline:
            wal.append_durable(payloads)
            counts[i] += batch

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    wal.close()
    done = sum(counts)
    return {"rps": done / elapsed, "fsyncs": wal.fsyncs / elapsed, "group": done / wal.fsyncs}


def run_baseline(path: Path, group: float, seconds: float) -> dict[str, float]:
    """Records/s writing framed records to one file for ``seconds``, one fdatasync per ``group`` records."""
    per_sync = max(1, round(group))
    chunk = os.urandom((HEADER.size + PAYLOAD) * per_sync)
    syncs = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            os.write(fd, chunk)
            _sync_data(fd)
            syncs += 1
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
    return {"rps": syncs * per_sync / elapsed, "fsyncs": syncs / elapsed}


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def measure(folder: Path, threads: int, batch: int, seconds: float, repeats: int) -> tuple[dict, dict]:
    """WAL and baseline figures, each the median of ``repeats`` alternating runs (the disk's latency drifts)."""
    wal_runs, base_runs = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="wal-bench-", dir=folder) as tmp:
            wal_runs.append(run_wal(Path(tmp) / "wal", threads, batch, seconds))
            base_runs.append(run_baseline(Path(tmp) / "baseline.bin", wal_runs[-1]["group"], seconds))
    wal = {k: _median(wal_runs, k) for k in wal_runs[0]}
    base = {k: _median(base_runs, k) for k in base_runs[0]}
    return wal, base


def main() -> None:
    """Run every thread count and batch size and print one table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="length of each run")
    ap.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is printed")
    ap.add_argument("--threads", default="1,4,16", help="comma-separated appending thread counts")
    ap.add_argument("--batch", default="1,8", help="comma-separated records per append_durable call")
    ap.add_argument("--dir", type=Path, default=BENCH / "out", help="folder on the disk to measure")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(hardware())
    print(f"{'threads':>7} {'batch':>5} {'records/s':>10} {'fsyncs/s':>9} {'rec/fsync':>9} "
          f"{'baseline rec/s':>14} {'baseline fsyncs/s':>17} {'WAL/baseline':>12}")
    for batch in (int(b) for b in args.batch.split(",")):
        for threads in (int(t) for t in args.threads.split(",")):
            wal, base = measure(args.dir, threads, batch, args.seconds, args.repeats)
            print(f"{threads:>7} {batch:>5} {wal['rps']:>10,.0f} {wal['fsyncs']:>9,.0f} {wal['group']:>9.1f} "
                  f"{base['rps']:>14,.0f} {base['fsyncs']:>17,.0f} {wal['rps'] / base['rps']:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
