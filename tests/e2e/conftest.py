"""Console fixtures: a copy of the demo city with test accounts and district runs, and logging in the way a person
does (through the login form, with its CSRF field)."""

from __future__ import annotations

import html
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from chengyun.accounts.service import add_user
from chengyun.analytics.engine import connect
from chengyun.api.app import create_app
from chengyun.core.db import session_scope
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.indicators.models import EvaluationRun, NodeResult
from chengyun.indicators.service import evaluate
from tests.conftest import DEMO_TODAY

PASSWORD = "e2e-password-123"
# name → (role, unit): a city administrator, department users of two districts, and a citizen
USERS = {
    "e2e-admin": ("admin", "linjiang"),
    "e2e-dept": ("department", "linjiang.d01"),
    "e2e-dept2": ("department", "linjiang.d02"),
    "e2e-citizen": ("citizen", "linjiang"),
}
# district runs of the operations pack added to the copy (the demo evaluates the city only): 江城区 for two
# quarters (so it has a change), 滨江区 for the latest; the other districts stay without runs.
DISTRICT_RUNS = (("linjiang.d01", "2026Q3"), ("linjiang.d01", "2026Q4"), ("linjiang.d02", "2026Q4"))
OPERATIONS = "chengyun-operations"

_CSRF = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')
_NEXT = re.compile(r'<input type="hidden" name="next" value="([^"]*)">')


def form_field(page: str, pattern: re.Pattern[str]) -> str:
    """A hidden field's value from a page (unescaped)."""
    found = pattern.search(page)
    assert found, f"no field matching {pattern.pattern} in the page"
    return html.unescape(found.group(1))


def login(client: TestClient | httpx.Client, name: str, password: str = PASSWORD,
          next_path: str | None = None) -> httpx.Response:
    """Log in through the real form: GET /login, read its CSRF field, POST it (redirects are not followed)."""
    page = client.get("/login" + (f"?{urlencode({'next': next_path})}" if next_path else ""))
    assert page.status_code == 200, page.text[:500]
    data = {"username": name, "password": password, "csrf": form_field(page.text, _CSRF),
            "next": form_field(page.text, _NEXT)}
    return client.post("/login", data=data, follow_redirects=False)


def add_accounts(settings: Settings, users: dict[str, tuple[str, str]]) -> None:
    """Create the test accounts, all with ``PASSWORD``."""
    with session_scope(settings) as s:
        for name, (role, unit) in users.items():
            add_user(s, name=name, role=role, unit_id=unit, password=PASSWORD, display_name=f"测试 {name}")


@pytest.fixture(scope="session")
def console_city(demo_workspace: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the demo city with the test accounts and a few district runs (the demo itself stays as built)."""
    root = tmp_path_factory.mktemp("console-city")
    shutil.copytree(demo_workspace.workspace, root / "ws")
    settings = Settings(workspace=root / "ws")
    add_accounts(settings, USERS)
    engine = connect(settings)
    try:
        with session_scope(settings) as s:
            for unit, period in DISTRICT_RUNS:
                evaluate(session=s, settings=settings, engine=engine, pack_id=OPERATIONS, tenant_id=unit,
                         period=parse_period(period).clipped(DEMO_TODAY))
    finally:
        engine.close()
    with session_scope(settings) as s:  # one district without runs, for the empty state
        runs = select(EvaluationRun.id).where(EvaluationRun.tenant_id == UNEVALUATED)
        s.execute(delete(NodeResult).where(NodeResult.run_id.in_(runs)))
        s.execute(delete(EvaluationRun).where(EvaluationRun.tenant_id == UNEVALUATED))
    return settings


@pytest.fixture(scope="module")
def city_app(console_city: Settings) -> Iterator[TestClient]:
    """A started app over the console city; tests make their own clients with ``client_for``."""
    with TestClient(create_app(console_city)) as client:
        yield client


UNEVALUATED = "linjiang.d03"  # the demo evaluates every district; the copy forgets this one's runs

HTML = {"accept": "text/html,application/xhtml+xml"}  # what a browser asks for: errors come back as pages


def client_for(app_client: TestClient, name: str | None = None) -> TestClient:
    """A new client (own cookies) of the same app that asks for HTML, logged in as ``name`` when given."""
    client = TestClient(app_client.app, headers=HTML)  # not entered: the app's lifespan already ran
    if name is not None:
        r = login(client, name)
        assert r.status_code == 303, r.text[:500]
    return client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn in a background thread; its origin, until the block ends."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(console_city: Settings) -> Iterator[str]:
    """The app over the console city, served by uvicorn in a background thread."""
    with serving(create_app(console_city)) as origin:
        yield origin

