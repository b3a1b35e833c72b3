"""A small city (临江测试区) with hand-checkable numbers, its accounts, and API clients over it.

The pack ``api-test`` is tiny on purpose: every score in it can be worked out by hand from the rows below.
It is registered the way a third-party plugin registers a pack folder, only while a module of this folder runs,
so other suites (and the demo city) never see it.

The city has two districts and a street for the permission tests; they carry no lake rows and no population, so
the city's evaluations (which cover its whole subtree) keep the numbers worked out below::

    testcity 临江测试区 ─┬─ tc-east 临江东区 ── tc-east-harbour 港口街道
                         └─ tc-west 临江西区

Clients log in as ``city-admin`` (管理员 on the city, password ``PASSWORD``) through the real OAuth2 password flow;
``make_user`` and ``login`` give other tests users of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chengyun.accounts.models import Grant, User
from chengyun.accounts.service import add_user
from chengyun.analytics.engine import connect
from chengyun.analytics.registry import get_registry
from chengyun.core.db import migrate, session_scope
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.indicators import catalog
from chengyun.indicators.inputs import set_input
from chengyun.indicators.service import evaluate
from chengyun.lake.writer import write
from chengyun.tenancy.service import add_unit

TENANT = "testcity"
TARGET, CHILD, SIBLING = "tc-east", "tc-east-harbour", "tc-west"
UNITS = [  # (id, name, parent): parents first
    (TARGET, "临江东区", TENANT),
    (CHILD, "港口街道", TARGET),
    (SIBLING, "临江西区", TENANT),
]
ADMIN = "city-admin"
PASSWORD = "correct-horse-battery"  # every test user's password unless a test says otherwise
PACK = "api-test"
PACK_YAML = """\
id: api-test
version: "1.0"
title: 接口测试指标
title_en: API test indicators
standard: "test only"
provenance: practice
provenance_note: "Written for the API tests; every number can be checked by hand."
scale: 100
no_data: zero
stages:
  note: "Test bands."
  bands:
    - {name: 准备期, name_en: Preparation, min: 0}
    - {name: 起步期, name_en: Starting, min: 40}
    - {name: 成长期, name_en: Growing, min: 60}
    - {name: 成熟期, name_en: Mature, min: 80}
nodes:
  - id: C1
    name: 案件办理
    name_en: Case handling
    weight: 60
    children:
      - id: C1-1
        name: 按时办结率
        name_en: On-time closure
        weight: 30
        measure: cases.ontime_closure_rate
        scoring: {rule: linear, worst: 0.5, best: 1.0}
      - id: C1-2
        name: 满意率
        name_en: Satisfaction
        weight: 20
        measure: cases.satisfaction_rate
        scoring: {rule: target, target: 0.9}
      - id: C1-3
        name: 好评率
        name_en: Positive ratings
        weight: 10
        measure: portal.satisfaction_rate
        scoring: {rule: linear, worst: 0.6, best: 0.95}
  - id: M1
    name: 人工填报
    name_en: Reported figures
    weight: 40
    children:
      - id: M1-1
        name: 公众满意度调查
        name_en: Public satisfaction survey
        weight: 40
        input: {unit: ratio, min: 0, max: 1, description: "survey share satisfied", source_hint: "统计局"}
        scoring: {rule: target, target: 0.8}
  - id: D1
    name: 安全事件扣分
    name_en: Security incident deduction
    weight: 0
    measure: security.incident_count
    scoring: {rule: deduction, per: 1, points: 1, max: 5}
"""

# Hand-worked expectations (see the rows written in _cases / _incidents):
# 2025Q1: on-time 6 of (8 resolved + 2 still open past their 48 h at the quarter's end) = 0.6 → linear(0.5..1)
#         = 0.2 × 30 = 6; satisfied 6/8 = 0.75 → 0.75/0.9 × 20 = 16.667; ratings: no data → 0 (policy zero);
#         survey 0.6 → 0.6/0.8 × 40 = 30; 2 incidents → −2.                                        total 50.67 (起步期)
# 2024Q4: on-time 1 of (2 resolved + 2 open past due) = 0.25 → 0; satisfied 1/2 → 0.5/0.9 × 20 = 11.111; survey 0.4 → 20; no security rows at all
#         (no data: no deduction, but listed).                                                          total 31.11
EXPECTED = {
    "2025Q1": {
        "total": 50.67,
        "stage": "起步期",
        "C1-1": 6.0,
        "C1-2": 20 * 0.75 / 0.9,
        "C1-3": 0.0,
        "M1-1": 30.0,
        "D1": -2.0,
    },
    "2024Q4": {
        "total": 31.11,
        "stage": "准备期",
        "C1-1": 0.0,
        "C1-2": 20 * 0.5 / 0.9,
        "C1-3": 0.0,
        "M1-1": 20.0,
        "D1": None,
    },
}

_CASE_COLUMNS = [
    "case_id",
    "channel",
    "category",
    "priority",
    "department_id",
    "unit_id",
    "created_at",
    "response_due_at",
    "responded_at",
    "due_at",
    "resolved_at",
    "closed_at",
    "status",
    "solved",
    "satisfaction",
    "returned_count",
]


def _case(
    cid: str, created: datetime, resolved_after_h: float | None, due_h: float, satisfaction: int | None
) -> dict:
    resolved = None if resolved_after_h is None else created + timedelta(hours=resolved_after_h)
    return {
        "case_id": cid,
        "channel": "12345",
        "category": "市容",
        "priority": "normal",
        "department_id": None,
        "unit_id": TENANT,
        "created_at": created,
        "response_due_at": created + timedelta(hours=2),
        "responded_at": created + timedelta(hours=1),
        "due_at": created + timedelta(hours=due_h),
        "resolved_at": resolved,
        "closed_at": resolved,
        "status": "closed" if resolved else "open",
        "solved": None,
        "satisfaction": satisfaction,
        "returned_count": 0,
    }


def _cases() -> list[dict]:
    q1 = datetime(2025, 2, 10, 2, 0)  # UTC, well inside 2025Q1 in Asia/Shanghai
    rows = []
    # 2025Q1: 10 cases, 8 resolved: 6 within their 48 h limit, 2 late; 8 rated, 6 of them 4 or 5.
    for i in range(10):
        resolved = None if i >= 8 else (24.0 if i < 6 else 72.0)
        sat = None if i >= 8 else (5 if i < 6 else 2)
        rows.append(_case(f"q1-{i}", q1 + timedelta(days=i), resolved, 48.0, sat))
    # 2024Q4: 4 cases, 2 resolved: 1 on time, 1 late; 2 rated, 1 satisfied.
    q4 = datetime(2024, 11, 5, 3, 0)
    rows += [
        _case("q4-0", q4, 10.0, 48.0, 4),
        _case("q4-1", q4 + timedelta(days=1), 60.0, 48.0, 1),
        _case("q4-2", q4 + timedelta(days=2), None, 48.0, None),
        _case("q4-3", q4 + timedelta(days=3), None, 48.0, None),
    ]
    return rows


def _columns(rows: list[dict], names: list[str]) -> dict[str, list]:
    return {"tenant": [TENANT] * len(rows), **{n: [r[n] for r in rows] for n in names}}


def _incidents() -> dict[str, list]:
    at = datetime(2025, 3, 1, 1, 0)
    rows = [
        {
            "event_id": f"e{i}",
            "asset_id": None,
            "kind": "intrusion",
            "severity": "high",
            "occurred_at": at,
            "detected_at": at + timedelta(hours=1),
            "resolved_at": at + timedelta(hours=5),
            "is_incident": True,
        }
        for i in range(2)
    ]
    return _columns(rows, list(rows[0]))


@contextmanager
def api_test_pack_registered(folder: Path) -> Iterator[None]:
    """Register a folder holding ``api-test`` for the duration of the block (a no-op when one is registered)."""
    reg = get_registry()
    if any((Path(d) / f"{PACK}.yaml").exists() for d in reg.pack_dirs):  # pack ids must be unique
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{PACK}.yaml").write_text(PACK_YAML, encoding="utf-8")
    reg.add_pack_dir(folder)
    catalog._CACHE = None
    try:
        yield
    finally:
        reg.pack_dirs.remove(folder)
        catalog._CACHE = None


def add_city_units(session: Session) -> None:
    """The city and the units below it (no population on them: the city's own figure stays the one used)."""
    add_unit(session=session, unit_id=TENANT, name="临江测试区", population=120000)
    for unit_id, name, parent in UNITS:
        add_unit(session=session, unit_id=unit_id, name=name, parent_id=parent)


def run_evaluation(session: Session, settings: Settings, tenant: str, period: str) -> str:
    """Evaluate ``api-test`` for ``tenant`` and ``period`` (the pack must be registered); the run id."""
    engine = connect(settings)
    try:
        run = evaluate(
            session=session,
            settings=settings,
            engine=engine,
            pack_id=PACK,
            tenant_id=tenant,
            period=parse_period(period),
        )
    finally:
        engine.close()
    return run.id


def make_user(
    settings: Settings,
    name: str,
    role: str | None,
    unit: str | None,
    *,
    password: str = PASSWORD,
    display_name: str | None = None,
) -> None:
    """A user with one grant (``role`` None: a user without any grant), unless one of that name exists."""
    with session_scope(settings) as session:
        if session.scalar(select(User.id).where(User.name == name)) is not None:
            return
        user, _ = add_user(
            session,
            name=name,
            role=role or "citizen",
            unit_id=unit or TENANT,
            password=password,
            display_name=display_name,
        )
        if role is None:
            session.execute(delete(Grant).where(Grant.user_id == user.id))


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """A bearer token for ``name`` from ``POST /api/v1/auth/token`` (the OAuth2 password flow)."""
    r = client.post("/api/v1/auth/token", data={"username": name, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def build_accounts_city(settings: Settings) -> Settings:
    """A workspace with the city's units and its administrator, and no data (for account tests)."""
    migrate(settings)
    with session_scope(settings) as session:
        add_city_units(session)
    make_user(settings, ADMIN, "admin", TENANT, display_name="市管理员")
    return settings


def build_small_city(root: Path) -> Settings:
    """A workspace with the city and its units, cases and incidents, survey inputs, runs for 2024Q4 and 2025Q1,
    and the city's administrator."""
    settings = Settings(workspace=root / "ws")
    migrate(settings)
    write(settings.lake, "cases", _columns(_cases(), _CASE_COLUMNS))
    write(settings.lake, "security_events", _incidents())
    with api_test_pack_registered(root / "packs"), session_scope(settings) as session:
        add_city_units(session)
        for period, value in (("2024Q4", 0.4), ("2025Q1", 0.6)):
            set_input(
                session=session,
                pack_id=PACK,
                node_id="M1-1",
                tenant_id=TENANT,
                period=period,
                value=value,
                evidence="2025 年第一季度公众满意度抽样调查",
                source_document="survey.pdf",
            )
        for period in ("2024Q4", "2025Q1"):
            run_evaluation(session, settings, TENANT, period)
    make_user(settings, ADMIN, "admin", TENANT, display_name="市管理员")
    return settings


@pytest.fixture(scope="module", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    """argon2id at its lowest cost while a module of this folder runs: the tests log in hundreds of times, and the
    cost parameters are not what they check (a hash records its own parameters, so verifying is unchanged)."""
    from argon2 import PasswordHasher

    from chengyun.accounts import service

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(service, "HASHER", cheap)
        mp.setattr(service, "_DUMMY_HASH", cheap.hash("timing-equaliser"))
        yield


@pytest.fixture(scope="module", autouse=True)
def _api_test_pack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The ``api-test`` pack is known while each module of this folder runs (loading packs is not free)."""
    with api_test_pack_registered(tmp_path_factory.getbasetemp() / "api-test-pack"):
        yield


@pytest.fixture(scope="module")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the small city workspace (built once per module, with the module's password hashing)."""
    return build_small_city(tmp_path_factory.mktemp("small-city"))


@contextmanager
def admin_client(settings: Settings) -> Iterator[TestClient]:
    """A client of the app over ``settings`` (lifespan run), logged in as the city's administrator."""
    from chengyun.api.app import create_app

    with TestClient(create_app(settings)) as c:
        c.headers.update(bearer(login(c, ADMIN)))
        yield c


@pytest.fixture
def client(small_city: Settings) -> Iterator[TestClient]:
    """A test client of the app over the small city, with the city administrator's bearer token."""
    with admin_client(small_city) as c:
        yield c


@pytest.fixture
def fresh_client(tmp_path: Path) -> Iterator[TestClient]:
    """A client over a small city of its own, for tests that add runs (the city administrator's token)."""
    with admin_client(build_small_city(tmp_path)) as c:
        yield c


@pytest.fixture
def accounts_city(tmp_path: Path) -> Settings:
    """A workspace of its own with the city's units and administrator, and no data."""
    return build_accounts_city(Settings(workspace=tmp_path / "ws"))


@pytest.fixture
def city_client(accounts_city: Settings) -> Iterator[TestClient]:
    """A client over ``accounts_city`` with the city administrator's bearer token."""
    with admin_client(accounts_city) as c:
        yield c
