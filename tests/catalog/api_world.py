"""A small city for the data resource API and CLI tests, with files whose numbers are worked out by hand.

::

    lj 临江市 ─┬─ lj-east 东区   departments east-amr 东区市场监管局, east-tax 东区税务局
               ├─ lj-west 西区   department  west-cg 西区城管局
               └─ lj-north 北区  departments north-a 北区交通局, north-b 北区水务局 (only the ranking uses them)

Staff: ``admin`` (管理员 on the city), ``op-east``/``op-west``/``op-north`` (运营 on their district),
``dept-east``/``dept-west`` (部门 on their district), ``auditor`` (审计 on the city), ``citizen``.

The enterprise registry (企业登记, ``ENTERPRISES``) has 10 rows; counted by hand:

* 统一社会信用代码: rows 4 and 8 are invalid (row 4's check character is wrong, row 8 holds the letter I, which
  GB 32100 does not use); all 10 are distinct.
* 企业名称: row 6 is empty (a null); the other 9 are distinct.
* 注册资本: 500 1200 300 800 1200 50 2000 750 300 1000 → min 50, max 2000, 8 distinct values.
* 成立日期: min 2015-06-18, max 2024-02-29.
* 行业: 5 distinct values; by code point the least is 交通运输 (交 U+4EA4) and the greatest 批发和零售业 (批 U+6279).

The licence register (许可证, ``LICENCES``) has 5 rows and is shared unconditionally.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from chengyun.accounts.models import AuditEntry
from chengyun.api.app import create_app
from chengyun.core.db import migrate, session_scope
from chengyun.core.settings import Settings
from chengyun.tenancy.service import add_department, add_unit
from tests.api.conftest import bearer, login, make_user

CITY, EAST, WEST, NORTH = "lj", "lj-east", "lj-west", "lj-north"
DEPARTMENTS = {  # id: (unit, name)
    "east-amr": (EAST, "东区市场监管局"),
    "east-tax": (EAST, "东区税务局"),
    "west-cg": (WEST, "西区城管局"),
    "north-a": (NORTH, "北区交通局"),
    "north-b": (NORTH, "北区水务局"),
}
USERS = {  # name: (role, unit)
    "admin": ("admin", CITY),
    "op-east": ("operator", EAST),
    "op-west": ("operator", WEST),
    "op-north": ("operator", NORTH),
    "dept-east": ("department", EAST),
    "dept-west": ("department", WEST),
    "auditor": ("auditor", CITY),
    "citizen": ("citizen", CITY),
}

# ---- identifiers, built from their definition (GB 32100: weights 3**i mod 31, check = (31 - Σ mod 31) mod 31) --

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z


def credit_code(n: int) -> str:
    """A valid 统一社会信用代码: 9 (工商) 1 (企业), region 330106, a 9-digit body, the check character."""
    body = f"91330106{n:09d}"
    total = sum(CREDIT_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(body))
    return body + CREDIT_ALPHABET[(31 - total % 31) % 31]


def wrong_check(code: str) -> str:
    """The same code with another check character."""
    return code[:-1] + CREDIT_ALPHABET[(CREDIT_ALPHABET.index(code[-1]) + 1) % 31]


ENTERPRISE_HEADER = ["统一社会信用代码", "企业名称", "注册资本", "成立日期", "行业"]
ENTERPRISES = [
    (credit_code(1), "临江东港机械有限公司", "500", "2015-06-18", "制造业"),
    (credit_code(2), "临江百货商贸有限公司", "1200", "2016-03-01", "批发和零售业"),
    (credit_code(3), "东区信息科技有限公司", "300", "2018-09-10", "信息技术"),
    (wrong_check(credit_code(4)), "临江港务物流有限公司", "800", "2019-01-15", "交通运输"),
    (credit_code(5), "东区餐饮管理有限公司", "1200", "2020-05-20", "住宿和餐饮业"),
    (credit_code(6), "", "50", "2021-07-07", "批发和零售业"),
    (credit_code(7), "临江环保科技有限公司", "2000", "2022-11-11", "制造业"),
    (credit_code(8)[:12] + "I" + credit_code(8)[13:], "东区建材商行", "750", "2023-04-04", "批发和零售业"),
    (credit_code(9), "临江数据服务有限公司", "300", "2024-02-29", "信息技术"),
    (credit_code(10), "东区五金店", "1000", "2017-12-12", "批发和零售业"),
]
INDUSTRIES = ["制造业", "批发和零售业", "信息技术", "交通运输", "住宿和餐饮业"]

LICENCE_HEADER = ["许可证号", "企业名称", "许可事项", "有效期至"]
LICENCES = [
    ("JY13301060000011", "临江东港机械有限公司", "食品经营", "2026-12-31"),
    ("JY13301060000022", "临江百货商贸有限公司", "食品经营", "2027-03-31"),
    ("JY13301060000033", "东区信息科技有限公司", "出版物经营", "2025-06-30"),
    ("JY13301060000044", "东区餐饮管理有限公司", "食品经营", "2028-01-15"),
    ("JY13301060000055", "东区五金店", "危险化学品经营", "2026-08-08"),
]


def csv_bytes(header: list[str], rows: list[tuple[str, ...]], encoding: str = "utf-8") -> bytes:
    """A CSV file's bytes in ``encoding`` (GBK, as many Chinese offices still export)."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(encoding)


def entry(code: str, title: str, provider: str | None, sharing: str = "有条件共享", **more: Any) -> dict[str, Any]:
    """A catalogue entry written the way a Chinese cataloguer types it (Chinese terms for coded values)."""
    return {"code": code, "name": title, "provider": provider, "summary": f"{title}，供测试使用", "format": "CSV",
            "sharing_type": sharing, "update_cycle": "每月"} | more


# ---- the world ---------------------------------------------------------------------------------------------------


def add_city(settings: Settings) -> Settings:
    """Migrate the workspace and add the units and departments above (the command line needs no staff)."""
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id=CITY, name="临江市")
        for unit, name in ((EAST, "东区"), (WEST, "西区"), (NORTH, "北区")):
            add_unit(session=s, unit_id=unit, name=name, parent_id=CITY)
        for dept, (unit, name) in DEPARTMENTS.items():
            add_department(session=s, department_id=dept, tenant_id=unit, name=name)
    return settings


def build_city(settings: Settings) -> Settings:
    """The units and departments, and the staff above."""
    add_city(settings)
    for name, (role, unit) in USERS.items():
        make_user(settings, name, role, unit)
    return settings


@dataclass
class World:
    """The app over the city, with every staff member logged in."""

    settings: Settings
    client: TestClient
    tokens: dict[str, str]

    def as_(self, name: str) -> dict[str, str]:
        return bearer(self.tokens[name])

    def get(self, name: str, url: str, **params: Any) -> Any:
        return self.client.get(url, params=params or None, headers=self.as_(name))

    def post(self, name: str, url: str, body: Any = None) -> Any:
        return self.client.post(url, json=body, headers=self.as_(name))

    def put(self, name: str, url: str, body: Any = None) -> Any:
        return self.client.put(url, json=body, headers=self.as_(name))

    def create(self, name: str, dataset: str, tenant: str, described: dict[str, Any]) -> dict[str, Any]:
        r = self.post(name, "/api/v1/datasets", {"name": dataset, "tenant": tenant, "entry": described})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def upload(self, name: str, dataset_id: str, data: bytes, fmt: str = "csv") -> Any:
        return self.client.put(f"/api/v1/datasets/{dataset_id}/data", params={"format": fmt}, content=data,
                               headers=self.as_(name) | {"content-type": "application/octet-stream"})

    def loaded(self, name: str, dataset: str, tenant: str, described: dict[str, Any], data: bytes) -> str:
        """A dataset described and loaded; its id."""
        ds_id = str(self.create(name, dataset, tenant, described)["id"])
        r = self.upload(name, ds_id, data)
        assert r.status_code == 200, r.text
        return ds_id

    def request(self, name: str, body: dict[str, Any]) -> Any:
        return self.post(name, "/api/v1/sharing-requests", body)

    def rows(self, token: str, **params: Any) -> Any:
        return self.client.get("/api/v1/shared/rows", params=params or None, headers={"X-Grant-Token": token})


@contextmanager
def open_world(settings: Settings) -> Iterator[World]:
    """A client over ``settings`` (lifespan run) and a token for every staff member."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield World(settings, client, {name: login(client, name) for name in USERS})


def audit_of(settings: Settings, target_id: str) -> list[tuple[str, str, str | None]]:
    """(action, actor, tenant) of every audit entry about ``target_id``, oldest first."""
    with session_scope(settings) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.target_id == target_id).order_by(AuditEntry.seq))
        return [(e.action, e.actor, e.tenant_id) for e in rows]
