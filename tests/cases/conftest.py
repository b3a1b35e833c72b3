"""Fixtures of the case API and Open311 tests (``test_api.py``, ``test_open311.py``): a city, its staff, an app.

::

    lj 临江市 (city) ─┬─ lj-east 东区 ── lj-east-port 港口街道
                      └─ lj-west 西区

Departments: ``water`` 市水务局 (the city's), ``east-cg`` 东区城管局, ``port-office`` 港口街道办, ``west-cg`` 西区城管局.
Staff, one grant each: ``admin`` (管理员 on the city), ``op-east`` (运营 on 东区), ``dept-east`` / ``dept-west``
(部门 on their district), ``auditor`` (审计 on the city), ``citizen`` (公众 on the city).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chengyun.accounts.access import Throttle
from chengyun.accounts.service import add_user
from chengyun.api.app import create_app
from chengyun.cases.open311 import open311_router
from chengyun.cases.service import CaseDesk
from chengyun.cases.views import router as cases_router
from chengyun.core.db import migrate, session_scope
from chengyun.core.settings import Settings
from chengyun.tenancy.service import add_department, add_unit

CITY, EAST, PORT, WEST = "lj", "lj-east", "lj-east-port", "lj-west"
WATER, EAST_CG, PORT_OFFICE, WEST_CG = "water", "east-cg", "port-office", "west-cg"
PASSWORD = "correct-horse-battery"
STAFF = {  # user → (role, unit)
    "admin": ("admin", CITY),
    "op-east": ("operator", EAST),
    "dept-east": ("department", EAST),
    "dept-west": ("department", WEST),
    "auditor": ("auditor", CITY),
    "citizen": ("citizen", CITY),
}


def build_case_city(workspace: Path, database_url: str | None = None) -> Settings:
    """A migrated workspace holding the city above, its departments and its staff (the state DB on SQLite, or at
    ``database_url``)."""
    settings = Settings(workspace=workspace, database_url=database_url) if database_url else Settings(workspace=workspace)
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id=CITY, name="临江市")
        add_unit(session=s, unit_id=EAST, name="东区", parent_id=CITY)
        add_unit(session=s, unit_id=PORT, name="港口街道", parent_id=EAST)
        add_unit(session=s, unit_id=WEST, name="西区", parent_id=CITY)
        for dept, unit, name in (
            (WATER, CITY, "市水务局"),
            (EAST_CG, EAST, "东区城管局"),
            (PORT_OFFICE, PORT, "港口街道办"),
            (WEST_CG, WEST, "西区城管局"),
        ):
            add_department(session=s, department_id=dept, tenant_id=unit, name=name)
        for name, (role, unit) in STAFF.items():
            add_user(s, name=name, role=role, unit_id=unit, password=PASSWORD)
    return settings


def case_app(settings: Settings) -> FastAPI:
    """The app with the case routers (added here only while the app factory does not register them yet)."""
    app = create_app(settings)
    paths = [getattr(r, "path", "") for r in app.routes]
    if not any(p.startswith("/api/v1/cases") for p in paths):
        app.include_router(cases_router)
    if not any(p.startswith("/open311") for p in paths):
        app.include_router(open311_router)
    return app




@pytest.fixture(scope="module")
def case_city(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Settings:
    """Settings of the module's city (one workspace per test module)."""
    return build_case_city(tmp_path_factory.mktemp("case-city") / "ws")


@pytest.fixture(scope="module")
def case_desk(case_city: Settings) -> CaseDesk:
    """The case desk of the city's workspace, for cases made through the service in a test."""
    return CaseDesk.for_settings(case_city)


@pytest.fixture(scope="module")
def api(case_city: Settings) -> Iterator[TestClient]:
    """A client of the app over the city (no credentials of its own; Open311 posting not throttled)."""
    with TestClient(case_app(case_city)) as client:
        client.app.state.open311_throttle = Throttle(limit=10_000, window=300)  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="module")
def auth(api: TestClient, cheap_hashes: None) -> Callable[[str], dict[str, str]]:
    """``auth("op-east")``: the Authorization header of a staff member (logged in once per module)."""
    tokens: dict[str, str] = {}

    def header(name: str) -> dict[str, str]:
        if name not in tokens:
            r = api.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            tokens[name] = r.json()["access_token"]
        return {"Authorization": f"Bearer {tokens[name]}"}

    return header
