"""The demo city's accounts (演示账号): one user per role, and two department users on different districts so
that tenant isolation can be shown.

Passwords are generated once, when the demo is built, and kept in ``<workspace>/demo-users.json`` (mode 0600) so
that a reused demo prints the same ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.table import Column, Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.accounts import service
from chengyun.accounts.models import Grant, User
from chengyun.accounts.policy import ROLES
from chengyun.core.db import migrate, session_scope
from chengyun.core.settings import Settings
from chengyun.demo import names as N
from chengyun.tenancy.models import AdminUnit

USERS_FILE = "demo-users.json"

# (name, role, unit, display name); the districts are the generator's first two (江城区, 滨江区)
DEMO_ACCOUNTS: tuple[tuple[str, str, str, str], ...] = (
    ("admin", "admin", N.CITY_ID, "演示管理员 demo administrator"),
    ("supervisor", "supervisor", N.CITY_ID, "城运中心监管 city operations supervisor"),
    ("operator", "operator", N.CITY_ID, "运营团队 operations team"),
    ("auditor", "auditor", N.CITY_ID, "审计员 auditor"),
    ("citizen", "citizen", N.CITY_ID, "市民 citizen"),
    ("dept-jiangcheng", "department", f"{N.CITY_ID}.d01", "江城区部门 Jiangcheng district department"),
    ("dept-binjiang", "department", f"{N.CITY_ID}.d02", "滨江区部门 Binjiang district department"),
)


@dataclass(frozen=True)
class DemoUser:
    """A demo account as printed and kept in ``demo-users.json``."""

    name: str
    role: str
    unit: str
    unit_name: str
    password: str


def _ensure(session: Session, name: str, role: str, unit: str, display_name: str) -> str:
    """Create the account (or reset the password of one left by an earlier attempt); returns the password."""
    password = service.generate_password()
    exists = session.scalar(select(User.id).where(User.name == name)) is not None
    if not exists:
        service.add_user(session, name=name, role=role, unit_id=unit, password=password, display_name=display_name)
        return password
    service.set_password(session, name, password)
    user = service.get_user(session, name)
    held = session.scalar(select(Grant.id).where(Grant.user_id == user.id, Grant.role == role, Grant.unit_id == unit))
    if held is None:
        service.grant(session, name=name, role=role, unit_id=unit)
    return password


def _write(path: Path, users: list[DemoUser]) -> None:
    """Write the accounts readable by the owner only (0600), replacing the file in one step."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)  # in case a stale temporary file had wider rights
        json.dump({"users": [asdict(u) for u in users]}, f, ensure_ascii=False, indent=2)
    os.replace(tmp, path)


def load_demo_users(settings: Settings) -> list[DemoUser] | None:
    """The accounts kept in the workspace, or None when there are none yet."""
    path = settings.workspace / USERS_FILE
    if not path.exists():
        return None
    return [DemoUser(**u) for u in json.loads(path.read_text(encoding="utf-8"))["users"]]


def ensure_demo_users(settings: Settings) -> list[DemoUser]:
    """The demo accounts: those kept in the workspace, else created now (passwords generated) and kept."""
    kept = load_demo_users(settings)
    if kept is not None:
        return kept
    migrate(settings)  # a demo built before accounts existed lacks their tables
    users = []
    with session_scope(settings) as session:
        for name, role, unit, display in DEMO_ACCOUNTS:
            password = _ensure(session, name, role, unit, display)
            unit_row = session.get(AdminUnit, unit)
            users.append(DemoUser(name, role, unit, unit_row.name if unit_row else unit, password))
    _write(settings.workspace / USERS_FILE, users)  # after the commit: a failed build leaves no stale passwords
    return users


def users_table(users: list[DemoUser]) -> Table:
    """The demo accounts as a table: 用户名 user, 角色 role, 辖区 unit, 密码 password."""
    table = Table(Column("用户名 user", no_wrap=True), "角色 role", "辖区 unit", Column("密码 password", no_wrap=True),
                  title="演示账号 demo accounts")
    for u in users:
        zh, en = ROLES[u.role]
        table.add_row(u.name, f"{zh} {en}", f"{u.unit_name} ({u.unit})", u.password)
    return table
