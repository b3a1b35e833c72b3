"""Duplicate cases (重复件): suggesting them by place, category and time, and merging one into another.

A suggestion is a case of the same category, within ``radius_m`` metres (great-circle, haversine) and within
``window_hours`` of the case's creation either way, not cancelled. The database narrows the candidates with a
latitude/longitude box that contains the whole circle; the exact distance is computed here.

Merging (合并) cancels the duplicate (作废, ``duplicate_of`` set) and writes a 'merge' event on both cases; both
histories stay whole. Cases merge only along one branch of the administrative tree: the tenant of one must be the
other's or an ancestor of it (a city-level hotline case and the district's grid report of the same pothole), never
across sibling units — each sibling handles, and is measured on, its own cases.
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.cases.models import Case
from chengyun.cases.service import CaseDesk, _actor, _event, ancestors, get_case, transition
from chengyun.core.errors import Conflict, InvalidInput

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), the sphere the haversine distance is measured on


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points, on the mean-radius sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float | None, float | None]:
    """(south, north, west, east) in degrees holding every point within ``radius_m``; west/east None when the
    circle reaches a pole or crosses the ±180° meridian (then only latitude narrows)."""
    angle = radius_m / EARTH_RADIUS_M
    dlat = math.degrees(angle)
    south, north = lat - dlat, lat + dlat
    cos_lat = math.cos(math.radians(lat))
    if north >= 90 or south <= -90 or math.sin(angle) >= cos_lat:
        return south, north, None, None
    dlon = math.degrees(math.asin(math.sin(angle) / cos_lat))  # the widest longitude the circle reaches
    if lon - dlon < -180 or lon + dlon > 180:
        return south, north, None, None
    return south, north, lon - dlon, lon + dlon


def same_branch(session: Session, a: str, b: str) -> bool:
    """Whether one of the two units is the other or an ancestor of it."""
    return a in ancestors(session, b) or b in ancestors(session, a)


def suggest_duplicates(session: Session, case_id: str, *, radius_m: float = 200, window_hours: float = 72
                       ) -> list[tuple[Case, float]]:
    """Cases that may report the same problem (疑似重复件), nearest first, with their distance in metres."""
    if radius_m <= 0 or window_hours <= 0:
        raise InvalidInput("radius_m and window_hours must be positive", fix="use e.g. radius_m=200, window_hours=72")
    case = get_case(session, case_id)
    if case.lat is None or case.lon is None or case.category is None:
        return []  # without a place and a category there is nothing to compare
    south, north, west, east = bounding_box(case.lat, case.lon, radius_m)
    window = timedelta(hours=window_hours)
    stmt = select(Case).where(
        Case.id != case.id, Case.category == case.category, Case.status != "cancelled",
        Case.lat.between(south, north), Case.lon.is_not(None),
        Case.created_at.between(case.created_at - window, case.created_at + window),
    )
    if west is not None and east is not None:
        stmt = stmt.where(Case.lon.between(west, east))
    near, branch = [], {case.tenant_id: True}
    for other in session.scalars(stmt):
        assert other.lat is not None and other.lon is not None
        d = haversine_m(case.lat, case.lon, other.lat, other.lon)
        if d > radius_m:
            continue
        if other.tenant_id not in branch:  # only cases that could be merged are suggested
            branch[other.tenant_id] = same_branch(session, case.tenant_id, other.tenant_id)
        if branch[other.tenant_id]:
            near.append((other, d))
    return sorted(near, key=lambda pair: (pair[1], pair[0].created_at, pair[0].id))


def merge(session: Session, desk: CaseDesk, duplicate_id: str, into_id: str, *, actor: str | None = None) -> Case:
    """Merge a duplicate into the case that stays (合并): the duplicate is cancelled with ``duplicate_of`` set,
    both get a 'merge' event, nothing is deleted. Returns the cancelled duplicate."""
    if duplicate_id == into_id:
        raise InvalidInput(f"case {duplicate_id} cannot be merged into itself", fix="name the case it duplicates")
    dup, into = get_case(session, duplicate_id), get_case(session, into_id)
    if into.status == "cancelled":
        hint = f"merge into {into.duplicate_of}, the case it was merged into" if into.duplicate_of else \
            "merge into a case that is not cancelled"
        raise Conflict(f"case {into.id} is cancelled (作废); nothing can be merged into it", fix=hint)
    if not same_branch(session, dup.tenant_id, into.tenant_id):
        raise Conflict(f"cases {dup.id} ({dup.tenant_id}) and {into.id} ({into.tenant_id}) belong to sibling units",
                       fix="merge only cases of the same unit or of a unit and one above it; hand one case over first")
    actor = _actor(session, actor)
    transition(session, desk, dup.id, "cancel", actor=actor, duplicate_of=into.id, audit_it=False,
               reason=f"重复件 duplicate of {into.id}, merged")
    _event(session, dup, "merge", actor, before=dup.status, reason=f"merged into {into.id}",
           detail={"into": into.id, "role": "duplicate"})
    _event(session, into, "merge", actor, before=into.status, reason=f"{dup.id} merged into this case",
           detail={"duplicate": dup.id, "role": "kept", "channel": dup.channel, "reporter": dup.reporter_masked,
                   "created_at": dup.created_at.isoformat()})
    session.flush()
    audit.record(session, "case.merge", target_type="case", target_id=dup.id, tenant_id=dup.tenant_id,
                 detail={"into": into.id})
    return dup
