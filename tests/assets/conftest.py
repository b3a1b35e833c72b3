"""Fixtures of the asset registry tests: a small city on SQLite, and again on PostgreSQL (``ws`` is parametrised).

::

    lj 临江市 (city) ─┬─ lj-east 东区 ── lj-east-port 港口街道
                      └─ lj-west 西区

Departments: ``water`` 市水务局 (the city's), ``east-cg`` 东区城管局, ``west-cg`` 西区城管局.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.orm import Session

from chengyun.assets.schemas import AssetCreate
from chengyun.assets.service import add_asset, add_dependency
from chengyun.core.db import session_scope
from chengyun.core.scoping import Scope
from chengyun.core.settings import Settings
from chengyun.tenancy.service import add_department, add_unit

CITY, EAST, PORT, WEST = "lj", "lj-east", "lj-east-port", "lj-west"


@pytest.fixture
def city(ws: Settings) -> Settings:
    """The workspace with the city above and its departments."""
    with session_scope(ws) as s:
        add_unit(session=s, unit_id=CITY, name="临江市")
        add_unit(session=s, unit_id=EAST, name="东区", parent_id=CITY)
        add_unit(session=s, unit_id=PORT, name="港口街道", parent_id=EAST)
        add_unit(session=s, unit_id=WEST, name="西区", parent_id=CITY)
        add_department(session=s, department_id="water", tenant_id=CITY, name="市水务局")
        add_department(session=s, department_id="east-cg", tenant_id=EAST, name="东区城管局")
        add_department(session=s, department_id="west-cg", tenant_id=WEST, name="西区城管局")
    return ws


def make(s: Session, asset_id: str, kind: str, tenant: str = EAST, **fields: object) -> None:
    """Register one asset through the service."""
    add_asset(s, AssetCreate(id=asset_id, name=fields.pop("name", asset_id), kind=kind, tenant=tenant,  # type: ignore[arg-type]
                             **fields))  # type: ignore[arg-type]


def chain(s: Session, *ids: str) -> None:
    """``ids[0]`` depends on ``ids[1]``, which depends on ``ids[2]`` …"""
    for a, b in zip(ids, ids[1:], strict=False):
        add_dependency(s, a, b)


@contextmanager
def scoped(settings: Settings, *units: str) -> Iterator[Session]:
    """A session that sees only ``units`` (as a request of someone granted them would)."""
    with session_scope(settings) as s:
        s.info["scope"] = Scope(frozenset(units))
        yield s
