"""Duplicate suggestions checked against distances computed here by another formula (unit vectors and the chord),
and merges that keep both histories; on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from chengyun.accounts.models import AuditEntry
from chengyun.cases.duplicates import EARTH_RADIUS_M, bounding_box, haversine_m, merge, suggest_duplicates
from chengyun.cases.models import Case, CaseEvent
from chengyun.cases.service import CaseDesk, history, transition
from chengyun.core.db import session_scope
from chengyun.core.errors import Conflict, InvalidInput, NotFound
from chengyun.core.settings import Settings
from tests.cases.casebook import CITY, D1, D2, STREET, build_city, new_case

LAT, LON = 31.2304, 121.4737  # People's Square, Shanghai
T0 = datetime(2026, 11, 24, 2, 0)


def chord_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance from the straight chord between the two points' unit vectors (not haversine)."""
    def unit(lat: float, lon: float) -> tuple[float, float, float]:
        p, q = math.radians(lat), math.radians(lon)
        return math.cos(p) * math.cos(q), math.cos(p) * math.sin(q), math.sin(p)
    chord = math.dist(unit(lat1, lon1), unit(lat2, lon2))
    return 2 * EARTH_RADIUS_M * math.asin(chord / 2)


def offset(north_m: float, east_m: float) -> tuple[float, float]:
    """A point roughly ``north_m``/``east_m`` metres from the centre (the exact distance is measured, not assumed)."""
    lat = LAT + math.degrees(north_m / EARTH_RADIUS_M)
    return lat, LON + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(LAT))))


def test_haversine_against_known_and_independent_distances() -> None:
    # one degree of latitude on the mean-radius sphere is R·π/180
    assert haversine_m(0, 0, 1, 0) == pytest.approx(EARTH_RADIUS_M * math.pi / 180, abs=1e-6)
    assert haversine_m(0, 0, 0, 180) == pytest.approx(EARTH_RADIUS_M * math.pi, abs=1e-6)
    # Beijing (Tiananmen) to Shanghai (People's Square): about 1,067 km
    assert haversine_m(39.9087, 116.3975, LAT, LON) == pytest.approx(1_067_000, rel=0.005)
    for north, east in [(50, 0), (0, 150), (120, -160), (-199.9, 3), (5000, 5000)]:
        lat, lon = offset(north, east)
        assert haversine_m(LAT, LON, lat, lon) == pytest.approx(chord_distance_m(LAT, LON, lat, lon), abs=1e-3)


@pytest.mark.parametrize(("lat", "lon"), [(LAT, LON), (69.65, 18.96), (-54.8, -68.3), (0.0, 179.999), (89.9999, 0.0)])
def test_the_bounding_box_holds_the_whole_circle(lat: float, lon: float) -> None:
    south, north, west, east = bounding_box(lat, lon, 200)
    for k in range(360):  # walk the circle: each point 200 m away by the independent formula
        b = math.radians(k)
        p1, l1, a = math.radians(lat), math.radians(lon), 200 / EARTH_RADIUS_M
        p2 = math.asin(math.sin(p1) * math.cos(a) + math.cos(p1) * math.sin(a) * math.cos(b))
        l2 = l1 + math.atan2(math.sin(b) * math.sin(a) * math.cos(p1), math.cos(a) - math.sin(p1) * math.sin(p2))
        plat, plon = math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180
        assert chord_distance_m(lat, lon, plat, plon) == pytest.approx(200, abs=1e-3)
        assert south - 1e-9 <= plat <= north + 1e-9
        if west is not None and east is not None:
            assert west - 1e-9 <= plon <= east + 1e-9
    if lon > 179 or lat > 89:  # across the date line or over the pole: latitude alone narrows
        assert west is None and east is None


@pytest.fixture
def desk(ws: Settings) -> CaseDesk:
    with session_scope(ws) as s:
        build_city(s)
    return CaseDesk.for_settings(ws)


def place(ws: Settings, desk: CaseDesk, name: str, north: float, east: float, **fields: object) -> str:
    """A case near the centre, titled ``name``."""
    lat, lon = offset(north, east)
    with session_scope(ws) as s:
        args = {"created_at": T0, "lat": lat, "lon": lon, "title": name, "auto_dispatch": False} | fields
        return new_case(s, desk, **args).id


def test_suggestions_are_near_recent_same_category_nearest_first(ws: Settings, desk: CaseDesk) -> None:
    origin = place(ws, desk, "origin", 0, 0)
    place(ws, desk, "north-50", 50, 0)
    place(ws, desk, "east-150", 0, 150, tenant_id=STREET)  # a street of the same district
    place(ws, desk, "diag-190", 120, -147, created_at=T0 - timedelta(hours=70))
    place(ws, desk, "city-120", -120, 0, tenant_id=CITY)  # filed with the city itself
    place(ws, desk, "far-260", 0, -260)
    place(ws, desk, "other-category", 10, 0, category="E0102")
    place(ws, desk, "too-old", 20, 0, created_at=T0 - timedelta(hours=73))
    place(ws, desk, "too-new", 20, 0, created_at=T0 + timedelta(hours=80))
    place(ws, desk, "sibling-district", 30, 0, tenant_id=D2)
    place(ws, desk, "no-place", 0, 0, lat=None, lon=None)
    cancelled = place(ws, desk, "cancelled", 5, 5)
    with session_scope(ws) as s:
        transition(s, desk, cancelled, "cancel", reason="误报")
    with session_scope(ws) as s:
        here = s.get_one(Case, origin)
        found = suggest_duplicates(s, origin)
        assert [c.title for c, _d in found] == ["north-50", "city-120", "east-150", "diag-190"]
        assert here.lat is not None and here.lon is not None
        for c, d in found:
            assert c.lat is not None and c.lon is not None
            assert d == pytest.approx(chord_distance_m(here.lat, here.lon, c.lat, c.lon), abs=1e-3)
        assert [round(d) for _c, d in found] == [50, 120, 150, 190]
        assert [c.title for c, _d in suggest_duplicates(s, origin, radius_m=100)] == ["north-50"]
        assert "too-old" in [c.title for c, _d in suggest_duplicates(s, origin, window_hours=74)]
        no_place = s.scalar(select(Case.id).where(Case.title == "no-place"))
        assert no_place is not None and suggest_duplicates(s, no_place) == []
        with pytest.raises(InvalidInput):
            suggest_duplicates(s, origin, radius_m=0)
        with pytest.raises(NotFound):
            suggest_duplicates(s, "nope")


def test_merge_cancels_the_duplicate_and_keeps_both_histories(ws: Settings, desk: CaseDesk) -> None:
    kept = place(ws, desk, "kept", 0, 0)
    dup = place(ws, desk, "dup", 40, 0, channel="app", contact="13812345678")
    with session_scope(ws) as s:
        transition(s, desk, kept, "dispatch", department_id="cgj")
        transition(s, desk, dup, "dispatch", department_id="cgj")
        before_kept = [(e.id, e.action) for e in history(s, kept)]
        before_dup = [(e.id, e.action) for e in history(s, dup)]
    with session_scope(ws) as s:  # audit entries join the chain at commit
        audits = s.scalar(select(func.count()).select_from(AuditEntry))
    with session_scope(ws) as s:
        merged = merge(s, desk, dup, kept, actor="user:zhang")
        assert (merged.id, merged.status, merged.duplicate_of) == (dup, "cancelled", kept)
    with session_scope(ws) as s:
        dup_steps, kept_steps = history(s, dup), history(s, kept)
        assert [(e.id, e.action) for e in dup_steps[:len(before_dup)]] == before_dup  # nothing lost
        assert [e.action for e in dup_steps[len(before_dup):]] == ["cancel", "merge"]
        assert dup_steps[-2].reason is not None and kept in dup_steps[-2].reason
        assert dup_steps[-1].detail == {"into": kept, "role": "duplicate"}
        assert [(e.id, e.action) for e in kept_steps[:-1]] == before_kept
        last = kept_steps[-1]
        assert (last.action, last.actor, last.from_status, last.to_status) == ("merge", "user:zhang", "dispatched",
                                                                                "dispatched")
        assert last.detail is not None and last.detail["duplicate"] == dup and last.detail["reporter"] == "138****5678"
        assert s.get_one(Case, kept).status == "dispatched"
        new_audits = s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq).offset(audits)).all()
        assert new_audits == ["case.merge"]  # one entry per merge
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id.in_([dup, kept]))) == \
            len(dup_steps) + len(kept_steps)
        assert "dup" not in [c.title for c, _d in suggest_duplicates(s, kept)]  # cancelled now


def test_merge_refusals(ws: Settings, desk: CaseDesk) -> None:
    a = place(ws, desk, "a", 0, 0)
    b = place(ws, desk, "b", 10, 0)
    c = place(ws, desk, "c", 20, 0)
    city_case = place(ws, desk, "city", 30, 0, tenant_id=CITY)
    sibling = place(ws, desk, "sibling", 30, 0, tenant_id=D2)
    with session_scope(ws) as s:
        merge(s, desk, b, a)
    with session_scope(ws) as s, pytest.raises(InvalidInput, match="into itself"):
        merge(s, desk, a, a)
    with session_scope(ws) as s, pytest.raises(Conflict) as err:
        merge(s, desk, c, b)  # b is cancelled: the fix names the case it went into
    assert err.value.fix is not None and a in err.value.fix
    with session_scope(ws) as s, pytest.raises(Conflict, match="sibling units"):
        merge(s, desk, sibling, a)
    with session_scope(ws) as s, pytest.raises(Conflict, match="sibling units"):
        merge(s, desk, a, sibling)
    with session_scope(ws) as s:
        transition(s, desk, c, "dispatch", department_id="cgj")
        transition(s, desk, c, "receive")
        transition(s, desk, c, "resolve")
    with session_scope(ws) as s, pytest.raises(Conflict, match="'cancel'"):
        merge(s, desk, c, a)  # a resolved case is not cancelled by a merge
    with session_scope(ws) as s:  # a district case merges into the city's (one branch of the tree)
        assert merge(s, desk, a, city_case).duplicate_of == city_case
    with session_scope(ws) as s:
        assert s.get_one(Case, c).status == "resolved" and s.get_one(Case, sibling).status == "accepted"
        assert {x.tenant_id for x in s.scalars(select(Case))} == {D1, D2, CITY}
