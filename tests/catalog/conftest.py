"""Fixtures of the data resource tests: a small city on SQLite, and again on PostgreSQL (``ws`` is parametrised),
and an enterprise registry file with hand-counted faults.

::

    jc 江城市 (city) ─┬─ jc-east 东区
                      └─ jc-west 西区

Departments: ``market`` 市市场监管局 (the city's), ``east-data`` 东区数据局, ``west-cg`` 西区城管局.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from chengyun.catalog.validators import credit_check_char
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from chengyun.tenancy.service import add_department, add_unit

CITY, EAST, WEST = "jc", "jc-east", "jc-west"


def credit_code(n: int) -> str:
    """A valid 统一社会信用代码: registration authority 9 (工商), type 1 (企业), region 110105, body, check."""
    body = f"91110105{n:09d}"
    return body + credit_check_char(body)


def bad_code(n: int) -> str:
    """A credit code whose check character is wrong."""
    good = credit_code(n)
    wrong = "0" if good[-1] != "0" else "1"
    return good[:-1] + wrong


@pytest.fixture
def city(ws: Settings) -> Settings:
    """The workspace with the city above and its departments."""
    with session_scope(ws) as s:
        add_unit(session=s, unit_id=CITY, name="江城市")
        add_unit(session=s, unit_id=EAST, name="东区", parent_id=CITY)
        add_unit(session=s, unit_id=WEST, name="西区", parent_id=CITY)
        add_department(session=s, department_id="market", tenant_id=CITY, name="市市场监管局")
        add_department(session=s, department_id="east-data", tenant_id=EAST, name="东区数据局")
        add_department(session=s, department_id="west-cg", tenant_id=WEST, name="西区城管局")
    return ws


# The enterprise registry (企业登记): 10 rows. Faults, counted by hand:
#   row 3: the credit code's check character is wrong; row 7: the code has 17 characters;
#   row 5: no name; row 9: registered capital negative; row 10: founded after it was cancelled.
ENTERPRISES = [
    (credit_code(1), "江城一号科技有限公司", "2019-03-01", "", "500"),
    (credit_code(2), "江城港务集团", "2001-07-15", "", "12000"),
    (bad_code(3), "东区餐饮管理有限公司", "2015-01-09", "", "50"),
    (credit_code(4), "西区建材商行", "2010-05-20", "2020-06-30", "30"),
    (credit_code(5), "", "2021-11-11", "", "100"),
    (credit_code(6), "江城数据服务有限公司", "2022-02-02", "", "1000"),
    (credit_code(7)[:17], "江城物流有限公司", "2018-08-08", "", "800"),
    (credit_code(8), "江城环保科技有限公司", "2016-06-16", "", "300"),
    (credit_code(9), "东区五金店", "2012-12-12", "", "-5"),
    (credit_code(10), "西区旧货市场", "2023-03-03", "2022-01-01", "20"),
]


def write_enterprises(path: Path, rows: list[tuple[str, ...]] = ENTERPRISES, encoding: str = "gb18030") -> Path:
    """The registry as a CSV in the encoding Chinese offices often use."""
    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(["credit_code", "name", "founded", "cancelled", "capital_10k"])
        w.writerows(rows)
    return path


RULES = {"rules": [
    {"id": "code-valid", "kind": "cn-credit-code", "column": "credit_code"},
    {"id": "name-present", "kind": "not-null", "column": "name"},
    {"id": "capital-positive", "kind": "range", "column": "capital_10k", "min": 0},
    {"id": "cancelled-after-founded", "kind": "compare", "column": "cancelled", "op": ">=", "other": "founded"},
    {"id": "code-unique", "kind": "unique", "column": "credit_code"},
]}
