"""The demo city's open backlog is what a real city shows: small, young, and only a little of it overdue —
counted from the generator's own case rows (the small demo, as ``chengyun demo`` makes it), before any database."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pyarrow as pa

from chengyun.cases import lifecycle
from chengyun.demo.generator import build_world, fact_chunk, months

TODAY = date(2026, 11, 26)
END = np.datetime64(datetime(2026, 11, 26, 16))  # the end of the demo's last day in Asia/Shanghai, naive UTC


def _cases() -> dict[str, np.ndarray]:
    w, _ = build_world(seed=11, scale="small", today=TODAY)
    chunks = [fact_chunk(w, "cases", m, d) for m in range(len(months(w.start, w.end))) for d in range(len(w.districts))]
    out = {}
    for name in ("status", "created_at", "due_at", "resolved_at"):
        col = pa.chunked_array([c[name] for c in chunks])
        col = col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
        out[name] = col.to_numpy(zero_copy_only=False)
    return out


def test_the_open_backlog_is_small_and_young() -> None:
    c = _cases()
    n = len(c["status"])
    still_open = np.isin(c["status"], sorted(lifecycle.OPEN))
    overdue = still_open & (c["due_at"] < END)
    assert n > 100_000
    # a real city resolves nearly everything: under 5 % open, under 2 % open past its due time
    assert still_open.sum() < 0.05 * n, f"{still_open.sum()} of {n} cases open"
    assert overdue.sum() < 0.02 * n, f"{overdue.sum()} of {n} cases open past their due time"
    # open cases are mostly recent: none from the first quarter, three in four from the last month
    created = c["created_at"][still_open]
    assert (created >= END - np.timedelta64(30, "D")).mean() > 0.75
    assert created.min() > np.datetime64(datetime(2026, 1, 1))
    # and an open case is never marked resolved
    assert np.isnat(c["resolved_at"][still_open]).all()
