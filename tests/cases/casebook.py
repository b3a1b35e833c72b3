"""Builders shared by the SLA, lifecycle, escalation, duplicate and alarm tests: a small city and its cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from chengyun.cases.models import Case
from chengyun.cases.service import CaseDesk, create_case
from chengyun.tenancy.service import add_department, add_unit

SHANGHAI = ZoneInfo("Asia/Shanghai")
CITY, D1, D2, STREET = "c1", "c1.d1", "c1.d2", "c1.d1.s1"
ROADS, WATER = "cgj", "swj"  # 城管局 city management, 水务局 water authority


def utc(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Shanghai local wall-clock time as the naive UTC the database stores."""
    return datetime(y, m, d, h, mi, tzinfo=SHANGHAI).astimezone(UTC).replace(tzinfo=None)


def local(ts: datetime | None) -> datetime | None:
    """A stored naive UTC time as Shanghai local wall-clock time (naive), for comparing with hand-written ones."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC).astimezone(SHANGHAI).replace(tzinfo=None)


def build_city(session: Session) -> None:
    """A city with two districts, a street in the first, and two departments of the city."""
    add_unit(session=session, unit_id=CITY, name="测试市")
    add_unit(session=session, unit_id=D1, name="一区", parent_id=CITY)
    add_unit(session=session, unit_id=D2, name="二区", parent_id=CITY)
    add_unit(session=session, unit_id=STREET, name="一街道", parent_id=D1)
    add_department(session=session, department_id=ROADS, tenant_id=CITY, name="城管局")
    add_department(session=session, department_id=WATER, tenant_id=CITY, name="水务局")


def new_case(session: Session, desk: CaseDesk, **fields: Any) -> Case:
    """A case through the service (a hotline report of exposed rubbish in district 1 unless told otherwise)."""
    args: dict[str, Any] = {"tenant_id": D1, "channel": "hotline", "category": "E0101"} | fields
    return create_case(session, desk, **args)
