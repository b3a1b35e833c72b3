"""The demo's accounts (演示账号): one per role plus two district department users, printed with passwords that
log in, kept in demo-users.json (0600), and the same when the demo is reused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import select
from tests.conftest import DEMO_TODAY

from chengyun.accounts import service
from chengyun.accounts.models import Grant, User
from chengyun.core.db import session_factory, session_scope
from chengyun.core.settings import Settings
from chengyun.demo.users import USERS_FILE, ensure_demo_users
from chengyun.tenancy.models import AdminUnit
from chengyun.tenancy.service import add_unit

CITY = "linjiang"
EXPECTED = {  # name → (role, unit)
    "admin": ("admin", CITY), "supervisor": ("supervisor", CITY), "operator": ("operator", CITY),
    "auditor": ("auditor", CITY), "citizen": ("citizen", CITY),
    "dept-jiangcheng": ("department", f"{CITY}.d01"), "dept-binjiang": ("department", f"{CITY}.d02"),
}


def kept(settings: Settings) -> dict[str, dict]:
    """The accounts file as written, read without the module that writes it."""
    data = json.loads((settings.workspace / USERS_FILE).read_text(encoding="utf-8"))
    return {u["name"]: u for u in data["users"]}


def grants(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    with session_scope(settings) as s:
        rows = s.execute(select(User.name, Grant.role, Grant.unit_id).join(Grant, Grant.user_id == User.id))
        out: dict[str, list[tuple[str, str]]] = {}
        for name, role, unit in rows:
            out.setdefault(name, []).append((role, unit))
        return out


def refused(settings: Settings, name: str, password: str) -> str | None:
    """None when the password logs in, else why not; nothing is committed (the demo workspace is shared)."""
    session = session_factory(settings)()
    try:
        result = service.check_login(session, name, password, key="test-key")
        return None if result.user is not None else result.reason
    finally:
        session.rollback()
        session.close()


def test_demo_prints_one_account_per_role_that_logs_in(demo_run: tuple[Settings, str]) -> None:
    settings, printed = demo_run
    path = settings.workspace / USERS_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    accounts = kept(settings)
    assert {n: (u["role"], u["unit"]) for n, u in accounts.items()} == EXPECTED
    held = grants(settings)
    for name, (role, unit) in EXPECTED.items():
        assert held[name] == [(role, unit)], name
        assert name in printed and accounts[name]["password"] in printed
        assert refused(settings, name, accounts[name]["password"]) is None, name
    assert refused(settings, "admin", accounts["citizen"]["password"]) == "bad-credentials"
    assert "http://127.0.0.1:8000/login" in printed
    for header in ("用户名 user", "角色 role", "辖区 unit", "密码 password"):
        assert header in printed


def test_the_two_department_users_hold_different_districts(demo_workspace: Settings) -> None:
    with session_scope(demo_workspace) as s:
        units = [s.get(AdminUnit, EXPECTED[n][1]) for n in ("dept-jiangcheng", "dept-binjiang")]
    assert all(u is not None and u.level == "district" and u.parent_id == CITY for u in units)
    assert units[0].id != units[1].id  # type: ignore[union-attr]


def test_a_reused_demo_prints_the_same_accounts(demo_run: tuple[Settings, str]) -> None:
    settings, _printed = demo_run
    before = (settings.workspace / USERS_FILE).read_bytes()
    cmd = [sys.executable, "-m", "chengyun.cli.main", "demo", "--workspace", str(settings.workspace), "--scale",
           "small", "--seed", "11", "--no-serve", "--port", "8123", "--today", DEMO_TODAY.isoformat()]
    env = {**os.environ, "COLUMNS": "120", "CHENGYUN_DATABASE_URL": ""}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "using the existing demo" in done.stdout
    assert (settings.workspace / USERS_FILE).read_bytes() == before
    for name, u in kept(settings).items():
        assert name in done.stdout and u["password"] in done.stdout
    assert "http://127.0.0.1:8123/login" in done.stdout


def test_accounts_are_made_once_and_remade_when_their_file_is_lost(ws: Settings) -> None:
    with session_scope(ws) as s:
        add_unit(session=s, unit_id=CITY, name="临江市")
        add_unit(session=s, unit_id=f"{CITY}.d01", name="江城区", parent_id=CITY)
        add_unit(session=s, unit_id=f"{CITY}.d02", name="滨江区", parent_id=CITY)
    first = {u.name: u.password for u in ensure_demo_users(ws)}
    assert first == {n: u["password"] for n, u in kept(ws).items()}
    assert len(set(first.values())) == len(EXPECTED)
    assert {u.name: u.password for u in ensure_demo_users(ws)} == first  # kept, not regenerated
    (ws.workspace / USERS_FILE).unlink()
    second = {u.name: u.password for u in ensure_demo_users(ws)}
    assert set(second) == set(EXPECTED) and all(second[n] != first[n] for n in EXPECTED)
    assert refused(ws, "admin", first["admin"]) == "bad-credentials"
    assert refused(ws, "dept-binjiang", second["dept-binjiang"]) is None
    assert grants(ws) == {n: [ru] for n, ru in EXPECTED.items()}  # no grant added twice
