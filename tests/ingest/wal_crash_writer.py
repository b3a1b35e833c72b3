"""Crash-test writer: threads append durably to a WAL and print ``seq tid counter`` for every acknowledged record.

Run as ``python wal_crash_writer.py <wal dir> <threads>``; it writes until killed. A line is printed (and flushed)
only after ``append_durable`` returned, the way an ingest server would send PUBACK.
"""

from __future__ import annotations

import sys
import threading

from chengyun.ingest.wal import Wal


def payload(tid: int, counter: int) -> bytes:
    """The payload a thread writes for one counter value; the test rebuilds it from the printed line."""
    return f"{tid}:{counter}:".encode() + bytes([counter % 251]) * (counter % 300)


def main() -> None:
    """Append batches of 1 to 4 records from every thread, forever."""
    wal = Wal(sys.argv[1], segment_bytes=64 * 1024)  # small segments: rotations happen while being killed
    out = threading.Lock()

    def work(tid: int) -> None:
        counter = 0
        while True:
            n = 1 + counter % 4
            batch = [payload(tid, counter + k) for k in range(n)]
            last = wal.append_durable(batch)
            lines = "".join(f"{last - n + 1 + k} {tid} {counter + k}\n" for k in range(n))
            with out:
                sys.stdout.write(lines)
                sys.stdout.flush()
            counter += n

    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(int(sys.argv[2]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
