"""Case history in bulk (``cases.history``) and the export of cases to the lake by district."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import select

from chengyun.cases import escalation, service
from chengyun.cases.export import export_cases, partition_units
from chengyun.cases.history import HistoryLoader
from chengyun.cases.models import Case, CaseEvent
from chengyun.cases.service import CaseDesk
from chengyun.core.db import session_scope
from chengyun.core.errors import InvalidInput
from chengyun.core.settings import Settings
from chengyun.lake.reader import read
from tests.cases.conftest import CITY, EAST, EAST_CG, PORT, WATER, WEST, build_case_city
from tests.conftest import pg_schema

T0 = datetime(2026, 3, 2, 1, 0)  # Monday 09:00 in Shanghai
NOW = datetime(2026, 3, 20, 4, 0)
H = timedelta(hours=1)


def _ts(*values: datetime | None) -> pa.Array:
    return pa.array(values, pa.timestamp("us"))


def _rows() -> dict[str, pa.Array]:
    """Three cases: closed after a return (a), still in progress and overdue (b), resolved before it was created (c)."""
    return {
        "id": pa.array(["A-1", "B-2", "C-3"]), "tenant_id": pa.array([PORT, EAST, WEST]),
        "channel": pa.array(["hotline", "grid", "app"]), "category": pa.array(["E0101", "P0102", "H0301"]),
        "priority": pa.array(["normal", "high", "low"]), "department_id": pa.array([EAST_CG, WATER, None]),
        "status": pa.array(["closed", "in_progress", "resolved"]),
        "created_at": _ts(T0, T0 + 2 * H, T0 + 5 * H),
        "title": pa.array(["暴露垃圾", "路灯不亮", None]), "lat": pa.array([30.2, None, 30.1]),
        "lon": pa.array([120.1, None, 120.3]),
        "response_due_at": _ts(T0 + 2 * H, T0 + 4 * H, None), "responded_at": _ts(T0 + 4 * H, T0 + 3 * H, None),
        "due_at": _ts(T0 + 24 * H, T0 + 50 * H, T0 + 100 * H), "resolved_at": _ts(T0 + 30 * H, None, T0 + 1 * H),
        "followed_up_at": _ts(T0 + 31 * H, None, None), "closed_at": _ts(T0 + 32 * H, None, None),
        "solved": pa.array([True, None, None]), "satisfaction": pa.array([4, None, None], pa.int8()),
        "returned_count": pa.array([1, 0, 0], pa.int16()),
        "contact": pa.array(["138-0000-1111", None, "13800002222"]),
    }


@pytest.fixture()
def city(tmp_path: Path) -> tuple[Settings, CaseDesk]:
    settings = build_case_city(tmp_path / "ws")
    return settings, CaseDesk.for_settings(settings)


def _load(settings: Settings, desk: CaseDesk, rows: dict[str, pa.Array]) -> None:
    with session_scope(settings) as s, HistoryLoader(s, desk, source="history", label="test", now=NOW) as loader:
        assert loader.add(rows) == len(rows["id"])


def test_history_keeps_each_case_with_the_timeline_its_times_imply(city: tuple[Settings, CaseDesk]) -> None:
    settings, desk = city
    _load(settings, desk, _rows())
    dispatched = T0 + timedelta(minutes=2)
    back = dispatched + (T0 + 4 * H - dispatched) / 3  # returned a third of the way to the answer
    with session_scope(settings) as s:
        events = [(e.action, e.at, e.to_status, e.department_id) for e in s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == "A-1").order_by(CaseEvent.at, CaseEvent.id))]
        assert events == [
            ("accept", T0, "accepted", None), ("dispatch", dispatched, "dispatched", EAST_CG),
            ("return", back, "returned", None), ("dispatch", back + timedelta(seconds=60), "dispatched", EAST_CG),
            ("receive", T0 + 4 * H, "in_progress", EAST_CG), ("resolve", T0 + 30 * H, "resolved", EAST_CG),
            ("follow_up", T0 + 31 * H, "followed_up", None), ("close", T0 + 32 * H, "closed", None)]
        a, b, c = (s.get(Case, i) for i in ("A-1", "B-2", "C-3"))
        assert a is not None and b is not None and c is not None
        # a: answered 2 h late, resolved 6 h late; b: open, so its flags wait for the tick; c: nobody dispatched it
        assert (a.response_breached, a.breached, a.inconsistent) == (True, True, False)
        assert (b.response_breached, b.breached, b.dispatched_at) == (False, False, T0 + 2 * H + timedelta(minutes=2))
        assert (c.inconsistent, c.breached, c.dispatched_at, c.department_id) == (True, False, None, None)
        assert a.reporter_masked == "138****1111" and a.reporter_hash == desk.contact_hash("13800001111")
        assert b.reporter_hash is None and (a.lat, a.lon, a.title) == (30.2, 120.1, "暴露垃圾")
        tick = escalation.run_tick(s, desk, now=NOW)
        assert tick.breached == 1 and s.get(Case, "B-2").breached  # type: ignore[union-attr]


def test_a_bad_value_stops_the_load_naming_row_and_field(city: tuple[Settings, CaseDesk]) -> None:
    settings, desk = city
    for field, value, said in (("status", "done", "row 1: status 'done'"),
                               ("category", "Z99", "row 1: category 'Z99'"),
                               ("channel", "fax", "row 1: channel 'fax'")):
        rows = _rows()
        rows[field] = pa.array([rows[field][0].as_py(), value, rows[field][2].as_py()])
        with pytest.raises(InvalidInput, match=said):
            _load(settings, desk, rows)
    with session_scope(settings) as s:
        assert s.scalars(select(Case.id)).all() == []  # nothing of a refused batch was kept


def test_export_partitions_by_district_and_skips_what_the_lake_holds(city: tuple[Settings, CaseDesk]) -> None:
    settings, desk = city
    _load(settings, desk, _rows())
    with session_scope(settings) as s:
        assert partition_units(s) == {CITY: CITY, EAST: EAST, PORT: EAST, WEST: WEST}
        assert export_cases(settings, s) == 3
        assert export_cases(settings, s) == 0  # the overlap holds only versions the lake has
    east = read(settings.lake, "cases", [EAST]).to_pylist()
    assert sorted((r["case_id"], r["unit_id"]) for r in east) == [("A-1", PORT), ("B-2", EAST)]
    assert read(settings.lake, "cases", [PORT]).num_rows == 0
    with session_scope(settings) as s:
        service.transition(s, desk, "B-2", "resolve", actor="test")
    with session_scope(settings) as s:
        assert export_cases(settings, s) == 1  # the new version of B-2 only
    versions = [r for r in read(settings.lake, "cases", [EAST]).to_pylist() if r["case_id"] == "B-2"]
    assert sorted(r["status"] for r in versions) == ["in_progress", "resolved"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_city(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, CaseDesk]]:
    """The case city with its state DB on SQLite, and again in a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        settings = build_case_city(tmp_path / "ws")
        yield settings, CaseDesk.for_settings(settings)
        return
    with pg_schema() as url:
        settings = build_case_city(tmp_path / "ws", url)
        yield settings, CaseDesk.for_settings(settings)


def test_values_are_typed_to_their_columns(any_db_city: tuple[Settings, CaseDesk]) -> None:
    # ratings as floats with a null (numpy's way) and returns as strings: PostgreSQL's COPY refused "5.0"
    settings, desk = any_db_city
    rows = _rows() | {"satisfaction": pa.array([5.0, None, 3.0]), "returned_count": pa.array(["1", "0", "0"]),
                      "lat": pa.array([30, None, 31], pa.int64())}
    _load(settings, desk, rows)
    with session_scope(settings) as s:
        got = {c.id: (c.satisfaction, c.returned_count, c.lat) for c in s.scalars(select(Case))}
    assert got == {"A-1": (5, 1, 30.0), "B-2": (None, 0, None), "C-3": (3, 0, 31.0)}
    assert all(type(v[0]) is int for v in got.values() if v[0] is not None)


@pytest.mark.parametrize(("field", "value", "words"), [
    ("satisfaction", 4.5, "row 1: satisfaction 4.5 does not fit"),  # a fraction is not a rating: not truncated
    ("title", "长" * 201, "row 1: title is longer than 200"),
], ids=["fraction", "too-long"])
def test_a_value_that_does_not_fit_is_named(any_db_city: tuple[Settings, CaseDesk], field: str, value: object,
                                            words: str) -> None:
    settings, desk = any_db_city
    rows = _rows()
    rows[field] = pa.array([rows[field][0].as_py(), value, rows[field][2].as_py()])
    with pytest.raises(InvalidInput) as err:
        _load(settings, desk, rows)
    assert words in err.value.message
    with session_scope(settings) as s:
        assert s.scalars(select(Case)).first() is None
