"""The backlog a period leaves (超期未办结) and the on-time closure rate that counts it as late, on a small
hand-made lake against counts worked out by hand, on DuckDB and Spark."""

from __future__ import annotations

from datetime import datetime as D
from typing import Any

import pytest

from chengyun.analytics.engine import connect
from chengyun.analytics.runner import make_context, run_measures
from chengyun.core.db import migrate, session_scope
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.lake.writer import write
from chengyun.tenancy.service import add_unit
from tests.cases.test_case_measures import engine_name  # noqa: F401  (the DuckDB / Spark fixture)

CITY, T = "c", "c.t"
COLS = ("case_id", "created_at", "due_at", "resolved_at", "closed_at", "status", "inconsistent", "version_at")
# Q3 2026 in Asia/Shanghai is [2026-06-30 16:00, 2026-09-30 16:00) UTC: the quarter's end is the cutoff.
ROWS = [
    # p: created in Q2, due in May, still open: the backlog carried into Q3 (not a case of Q3's rate)
    ("p", D(2026, 5, 1), D(2026, 5, 10), None, None, "in_progress", False, D(2026, 5, 1)),
    # q: due 5 July, resolved only on 10 October: open and overdue at the end; a late resolution for the rate
    ("q", D(2026, 7, 1), D(2026, 7, 5), D(2026, 10, 10), None, "resolved", False, D(2026, 10, 10)),
    # r, r2: suspended (挂起), their clocks stand: never overdue, with or without a stale due time
    ("r", D(2026, 7, 2), None, None, None, "suspended", False, D(2026, 7, 2)),
    ("r2", D(2026, 7, 3), D(2026, 7, 6), None, None, "suspended", False, D(2026, 7, 3)),
    # s: cancelled (作废): not open
    ("s", D(2026, 7, 4), D(2026, 7, 9), None, None, "cancelled", False, D(2026, 7, 4)),
    # u: resolved in time
    ("u", D(2026, 7, 5), D(2026, 7, 8), D(2026, 7, 7), None, "resolved", False, D(2026, 7, 7)),
    # v: open at the end but due only after it: not (yet) overdue, not in the rate
    ("v", D(2026, 9, 25), D(2026, 10, 5), None, None, "in_progress", False, D(2026, 9, 25)),
    # w: due 3 August, still open: overdue, and a late case of the rate
    ("w", D(2026, 8, 1), D(2026, 8, 3), None, None, "in_progress", False, D(2026, 8, 1)),
    # x: closed (结案) without a resolution time on 3 August: not open at the end, not in the rate
    ("x", D(2026, 8, 2), D(2026, 8, 4), None, D(2026, 8, 3), "closed", False, D(2026, 8, 3)),
    # z: an open first version, then resolved in time: only the latest version counts
    ("z", D(2026, 7, 10), D(2026, 7, 12), None, None, "in_progress", False, D(2026, 7, 10)),
    ("z", D(2026, 7, 10), D(2026, 7, 12), D(2026, 7, 11), None, "resolved", False, D(2026, 7, 11)),
    # y: flagged inconsistent by an import and open past its due time: in the backlog, out of the rate
    ("y", D(2026, 8, 10), D(2026, 8, 11), None, None, "dispatched", True, D(2026, 8, 10)),
    # fin: marked closed (结案) with no time at all: taken as done, not open
    ("fin", D(2026, 7, 20), D(2026, 7, 21), None, None, "closed", False, D(2026, 7, 20)),
    # late: created after the quarter's end (1 October local time), overdue later: not in Q3 at all
    ("late", D(2026, 9, 30, 17), D(2026, 9, 30, 18), None, None, "dispatched", False, D(2026, 9, 30, 17)),
]
# by hand, at the end of Q3: open past the due time p q w y → 4. Rate over the cases created in Q3: resolved with
# a due time q (late) u z (in time), plus open past the due time w (y is flagged) → 2 of 4.
EXPECTED = {"cases.overdue_open": 4, "cases.ontime_closure_rate": 2 / 4}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(workspace=tmp_path_factory.mktemp("backlog") / "ws")
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id=CITY, name="城")
        add_unit(session=s, unit_id=T, name="区", parent_id=CITY)
    data: dict[str, list[Any]] = {c: [r[i] for r in ROWS] for i, c in enumerate(COLS)}
    n = len(ROWS)
    data |= {"tenant": [T] * n, "unit_id": [T] * n, "channel": ["hotline"] * n, "priority": ["normal"] * n,
             "returned_count": [0] * n}
    data |= {c: [None] * n for c in ("category", "department_id", "response_due_at", "responded_at", "solved",
                                     "satisfaction")}
    write(settings.lake, "cases", data)
    return settings


def _measures(settings: Settings, engine: str, period: str) -> dict[str, float | None]:
    eng = connect(settings, engine)
    try:
        ctx = make_context(eng, [CITY, T], parse_period(period), "Asia/Shanghai", None)
        return {k: r.value for k, r in run_measures(eng, list(EXPECTED), ctx).items()}
    finally:
        eng.close()


def test_backlog_and_ontime_rate_by_hand(lake: Settings, engine_name: str) -> None:  # noqa: F811
    got = _measures(lake, engine_name, "2026Q3")
    assert got == pytest.approx(EXPECTED)


def test_backlog_of_an_earlier_quarter(lake: Settings) -> None:
    # at the end of Q2 only p existed: open, due 10 May → 1; the rate's only case is p, late → 0 of 1
    # (before backlogs counted, no case was resolved and the rate had no data at all)
    got = _measures(lake, "duckdb", "2026Q2")
    assert got == {"cases.overdue_open": 1, "cases.ontime_closure_rate": 0.0}


def test_no_cases_is_no_data(lake: Settings) -> None:
    got = _measures(lake, "duckdb", "2025Q1")
    assert got == {"cases.overdue_open": None, "cases.ontime_closure_rate": None}


def test_benchmark_baselines_agree(lake: Settings) -> None:
    """The benchmark's hand-written SQL and pandas count the same backlog and rate on this lake."""
    from bench.baselines import Window, pandas_impl, sql

    for period in ("2026Q2", "2026Q3"):
        start, end = parse_period(period).bounds_utc("Asia/Shanghai")
        want = _measures(lake, "duckdb", period)
        for impl in (sql, pandas_impl):
            got = impl.compute(Window(lake.lake, (CITY, T), start, end, None))
            assert {k: got[k] for k in want} == pytest.approx(want), (impl.__name__, period)
