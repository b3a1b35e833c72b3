"""Case measures on a small hand-made lake, against values worked out by hand, on DuckDB and Spark; and the same
measures over the NYC and Boston samples imported with the presets, against values computed from the CSV files
with nothing but the ``csv`` module."""

from __future__ import annotations

import csv
import shutil
import statistics
from datetime import UTC, datetime
from datetime import datetime as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chengyun.analytics.engine import connect
from chengyun.analytics.runner import make_context, run_measures
from chengyun.cases.export import export_cases
from chengyun.cases.importer import import_cases
from chengyun.cases.service import CaseDesk
from chengyun.core.db import migrate, session_scope
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.lake.writer import write
from chengyun.tenancy.service import add_unit
from tests.conftest import need

CITY, T, T2 = "c", "c.t", "c.t2"
COLS = ("tenant", "case_id", "channel", "category", "department_id", "created_at", "response_due_at",
        "responded_at", "due_at", "resolved_at", "solved", "satisfaction", "returned_count", "reopened_count",
        "inconsistent", "reporter_hash", "version_at")
# Q3 2026 in Asia/Shanghai is [2026-06-30 16:00, 2026-09-30 16:00) UTC.
ROWS = [
    # a: answered and resolved in time; an earlier version (not yet resolved) must not count
    (T, "a", "hotline", "E0101", "d1", D(2026, 7, 1, 2), D(2026, 7, 1, 4), D(2026, 7, 1, 3), D(2026, 7, 3),
     D(2026, 7, 2), True, 5, 0, 0, False, "r1", D(2026, 7, 2)),
    (T, "a", "hotline", "E0101", "d1", D(2026, 7, 1, 2), D(2026, 7, 1, 4), None, D(2026, 7, 3),
     None, None, None, 0, 0, False, "r1", D(2026, 7, 1, 2)),
    # b: never answered, "resolved" before it was created (left out of durations), returned once
    (T, "b", "grid", "E0101", "d1", D(2026, 7, 2, 3), D(2026, 7, 2, 5), None, D(2026, 7, 4),
     D(2026, 7, 1), False, 2, 1, 0, False, None, D(2026, 7, 2, 3)),
    # c: imported (no limits); the same citizen and category as a, nine days later: a repeat
    (T, "c", "app", "E0101", "d2", D(2026, 7, 10), None, None, None,
     D(2026, 7, 10, 10), None, None, 0, 0, False, "r1", D(2026, 7, 10)),
    # d: flagged inconsistent by an import: out of durations and on-time closure though its dates look fine
    (T, "d", "app", "H0301", "d2", D(2026, 8, 1), None, None, D(2026, 8, 2),
     D(2026, 8, 1, 5), None, None, 0, 0, True, None, D(2026, 8, 1)),
    # e: answered late, resolved late (48 h), reopened once
    (T, "e", "iot-alarm", "P0102", "d2", D(2026, 8, 5), D(2026, 8, 5, 2), D(2026, 8, 5, 3), D(2026, 8, 6),
     D(2026, 8, 7), True, 4, 0, 1, False, None, D(2026, 8, 7)),
    # f: 1 October local time: outside the quarter
    (T, "f", "hotline", "H0301", "d1", D(2026, 9, 30, 20), None, None, None,
     D(2026, 10, 1), True, 5, 0, 0, False, "r2", D(2026, 9, 30, 20)),
    # g: before the quarter; h repeats it 15 days later (looked up across the period's start)
    (T, "g", "hotline", "H0301", "d1", D(2026, 6, 20), None, None, None,
     D(2026, 6, 21), None, None, 0, 0, False, "r2", D(2026, 6, 20)),
    (T, "h", "hotline", "H0301", "d1", D(2026, 7, 5), D(2026, 7, 5, 2), D(2026, 7, 5, 1), D(2026, 7, 8),
     None, None, None, 0, 0, False, "r2", D(2026, 7, 5)),
    # i resolved in 6 h by its due time; j is the same citizen and category 45 days later: not a repeat
    (T, "i", "app", "E0101", "d2", D(2026, 7, 1), None, None, D(2026, 7, 2),
     D(2026, 7, 1, 6), None, None, 0, 0, False, "r3", D(2026, 7, 1)),
    (T, "j", "app", "E0101", "d2", D(2026, 8, 15), None, None, None,
     None, None, None, 0, 0, False, "r3", D(2026, 8, 15)),
    # k: a's citizen, another category: not a repeat
    (T, "k", "hotline", "E0102", "d1", D(2026, 7, 20), None, None, None,
     None, None, None, 0, 0, False, "r1", D(2026, 7, 20)),
    # m in the other district, then n by the same citizen and category in this one: not a repeat (other unit)
    (T2, "m", "hotline", "H0301", "d3", D(2026, 7, 3), None, None, None,
     None, None, None, 0, 0, False, "r4", D(2026, 7, 3)),
    (T, "n", "hotline", "H0301", "d1", D(2026, 7, 6), None, None, None,
     None, None, None, 0, 0, False, "r4", D(2026, 7, 6)),
]
# by hand: cases a b c d e h i j k m n (11); with a response limit a b e h, answered in time a h; consistent
# resolutions a 22 h, c 10 h, e 48 h, i 6 h, of which with a due time a (in time) e (late) i (in time);
# resolved a b c d e i; asked a b e (solved a e); rated a 5, b 2, e 4; repeats: e reopened, c after a, h after g;
# open at the quarter's end past its due time: h only (due 8 July, never resolved), a late case of the rate too
EXPECTED = {
    "cases.count": 11,
    "cases.response_rate": 2 / 4,
    "cases.ontime_closure_rate": 2 / 4,
    "cases.overdue_open": 1,
    "cases.closure_rate": 6 / 11,
    "cases.resolution_rate": 2 / 3,
    "cases.satisfaction_rate": 2 / 3,
    "cases.mean_resolution_hours": (22 + 10 + 48 + 6) / 4,
    "cases.median_hours_to_close": (10 + 22) / 2,
    "cases.p90_hours_to_close": 22 + 0.7 * (48 - 22),  # rank 0.9 × 3 = 2.7 between 22 h and 48 h
    "cases.proactive_rate": 2 / 11,
    "cases.return_rate": 1 / 11,
    "cases.repeat_rate": 3 / 11,
}


def _spark_ok() -> bool:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return shutil.which("java") is not None


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(workspace=tmp_path_factory.mktemp("cm") / "ws")
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id=CITY, name="城")
        add_unit(session=s, unit_id=T, name="区", parent_id=CITY)
        add_unit(session=s, unit_id=T2, name="二区", parent_id=CITY)
    data: dict[str, list[Any]] = {c: [r[i] for r in ROWS] for i, c in enumerate(COLS)}
    n = len(ROWS)
    data |= {"priority": ["normal"] * n, "unit_id": data["tenant"], "closed_at": [None] * n, "status": ["x"] * n}
    write(settings.lake, "cases", data)
    return settings


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=[pytest.mark.spark, pytest.mark.slow])])
def engine_name(request: pytest.FixtureRequest) -> str:
    if request.param == "spark":
        need(_spark_ok(), "pyspark or java is missing (pip install '.[spark]', Java 17)")
    return str(request.param)


def test_case_measures_by_hand(lake: Settings, engine_name: str) -> None:
    eng = connect(lake, engine_name)
    try:
        ctx = make_context(eng, [CITY, T, T2], parse_period("2026Q3"), "Asia/Shanghai", None)
        got = run_measures(eng, list(EXPECTED), ctx)
    finally:
        eng.close()
    wrong = {k: (v, got[k].value) for k, v in EXPECTED.items() if got[k].value != pytest.approx(v)}
    assert not wrong, f"(expected, got): {wrong}"


def test_no_cases_is_no_data(lake: Settings) -> None:
    eng = connect(lake, "duckdb")
    try:
        ctx = make_context(eng, [T], parse_period("2025Q1"), "Asia/Shanghai", None)
        got = run_measures(eng, list(EXPECTED), ctx)
    finally:
        eng.close()
    assert all(r.value is None for r in got.values()), {k: r.value for k, r in got.items()}


def test_repeat_rate_without_reporters_is_reopened_share(tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path / "ws")
    rows = {c: [r[i] for r in ROWS if r[1] in "abce"] for i, c in enumerate(COLS)}
    rows["reporter_hash"] = [None] * len(rows["case_id"])
    n = len(rows["case_id"])
    rows |= {"priority": ["normal"] * n, "unit_id": rows["tenant"], "closed_at": [None] * n, "status": ["x"] * n}
    write(settings.lake, "cases", rows)
    eng = connect(settings, "duckdb")
    try:
        ctx = make_context(eng, [T], parse_period("2026Q3"), "Asia/Shanghai", None)
        assert run_measures(eng, ["cases.repeat_rate"], ctx)["cases.repeat_rate"].value == pytest.approx(1 / 4)
    finally:
        eng.close()


# ---------------------------------------------------------------- the public samples, imported with the presets

NY = ZoneInfo("America/New_York")


def _utc(text: str, fmt: str) -> datetime:
    return datetime.strptime(text, fmt).replace(tzinfo=NY).astimezone(UTC).replace(tzinfo=None)


def _by_hand(path: Path, cols: dict[str, str], fmt: str, closed_value: str, end: datetime) -> dict[str, float | None]:
    """The measures of a 311 file as chengyun defines them, from the CSV alone; ``end``: the period's end (UTC)."""
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    hours, due_known, ontime = [], 0, 0
    for r in rows:
        closed = r[cols["closed"]].strip()
        due = r.get(cols.get("due", ""), "").strip() if cols.get("due") else ""
        if r[cols["status"]] != closed_value or not closed:
            due_known += bool(due) and _utc(due, fmt) < end  # open past its due time at the end: late
            continue
        created, done = _utc(r[cols["created"]], fmt), _utc(closed, fmt)
        if done < created:
            continue  # flagged: left out
        hours.append((done - created).total_seconds() / 3600)
        if due:
            due_known += 1
            ontime += _utc(due, fmt) >= done
    q = statistics.quantiles(hours, n=10, method="inclusive")  # linear interpolation between ranks
    return {
        "cases.count": len(rows),
        "cases.closure_rate": len([r for r in rows if r[cols["status"]] == closed_value and r[cols["closed"]].strip()]) / len(rows),
        "cases.mean_resolution_hours": sum(hours) / len(hours),
        "cases.median_hours_to_close": statistics.median(hours),
        "cases.p90_hours_to_close": q[8],
        "cases.ontime_closure_rate": ontime / due_known if due_known else None,
        "cases.response_rate": None,  # 311 exports carry no response limit
        "cases.satisfaction_rate": None,
        "cases.repeat_rate": 0.0,  # no reporter data, nothing reopened
        "cases.proactive_rate": None,  # checked per preset below
    }


SAMPLES = {
    "nyc311": ("nyc311/nyc311_2022-05-01_sample.csv", "2022-05",
               {"created": "Created Date", "closed": "Closed Date", "status": "Status"},
               "%m/%d/%Y %I:%M:%S %p", "Closed", None),
    "boston311": ("boston311-qsv/boston311-100.csv", "2022-01",
                  {"created": "open_dt", "closed": "closed_dt", "status": "case_status", "due": "target_dt"},
                  "%Y-%m-%d %H:%M:%S", "Closed", ("source", {"City Worker App", "Employee Generated"})),
}


@pytest.mark.parametrize("preset", sorted(SAMPLES))
def test_sample_measures_match_the_csv(preset: str, shared_data: Path, tmp_path: Path) -> None:
    rel, period, cols, fmt, closed_value, proactive = SAMPLES[preset]
    path = shared_data / rel
    settings = Settings(workspace=tmp_path / "ws")
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id="city", name=preset, timezone="America/New_York")
    with session_scope(settings) as s:
        res = import_cases(s, CaseDesk.for_settings(settings), path, preset, "city")
        assert res.rejected == 0 and res.imported == res.read
        export_cases(settings, s)
    want = _by_hand(path, cols, fmt, closed_value, parse_period(period).bounds_utc("America/New_York")[1])
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    if proactive is not None:
        col, values = proactive
        want["cases.proactive_rate"] = sum(r[col] in values for r in rows) / len(rows)
    else:
        want["cases.proactive_rate"] = 0.0
    eng = connect(settings, "duckdb")
    try:
        # the whole month in New York time: every case of the sample falls in it
        ctx = make_context(eng, ["city"], parse_period(period), "America/New_York", None)
        got = {k: r.value for k, r in run_measures(eng, list(want), ctx).items()}
    finally:
        eng.close()
    wrong = {k: (v, got[k]) for k, v in want.items() if not (v is None and got[k] is None or v == pytest.approx(got[k]))}
    assert not wrong, f"(by hand, chengyun): {wrong}"


def test_boston_on_time_agrees_with_the_city_flag(shared_data: Path) -> None:
    """Boston marks each closed case ONTIME or OVERDUE against its target: the same count as our due check."""
    rows = list(csv.DictReader((shared_data / "boston311-qsv/boston311-100.csv").open(encoding="utf-8")))
    fmt = "%Y-%m-%d %H:%M:%S"
    ours = [datetime.strptime(r["closed_dt"], fmt) <= datetime.strptime(r["target_dt"], fmt)
            for r in rows if r["case_status"] == "Closed" and r["closed_dt"] and r["target_dt"].strip()]
    city = [r["ontime"] == "ONTIME" for r in rows if r["case_status"] == "Closed" and r["closed_dt"] and r["target_dt"].strip()]
    assert ours == city


def test_benchmark_baselines_agree_on_the_hand_lake(lake: Settings) -> None:
    """The benchmark's hand-written SQL and pandas re-implementations give the same case measures (a second and
    third computation of the definitions above, versions and repeats included)."""
    from bench.baselines import MEASURES, Window, pandas_impl, sql

    start, end = parse_period("2026Q3").bounds_utc("Asia/Shanghai")
    window = Window(lake.lake, (CITY, T, T2), start, end, None)
    names = [n for n in EXPECTED if n in MEASURES]
    assert "cases.repeat_rate" in names and "cases.ontime_closure_rate" in names
    for impl in (sql, pandas_impl):
        got = impl.compute(window)
        wrong = {n: (EXPECTED[n], got[n]) for n in names if got[n] != pytest.approx(EXPECTED[n])}
        assert not wrong, f"{impl.__name__}: (expected, got) {wrong}"
