"""The data resources console (数据资源): the catalogue with search and filters (/datasets), one dataset with its
entry, load, profile, quality report, charts, quality case, sharing requests and usage (/datasets/{id}), the
sharing inbox with its approve / refuse / revoke forms (/sharing) and the overview's data panel — through their
pages, and one round in Chromium.

::

    lj 临江市 ─┬─ lj-east 东区   departments east-amr 东区市场监管局, east-tax 东区税务局
               └─ lj-west 西区   department  west-cg 西区城管局
    city department: city-data 市大数据局

Datasets: ``enterprises`` 企业登记信息 (东区, east-amr, its faults counted by hand below, target 90),
``licences`` 食品经营许可证 (东区, east-tax, 无条件共享, every rule passes), ``west-cases`` (西区, west-cg, never
catalogued, half its categories missing) and ``population`` 人口基础信息 (the city's, catalogued first, no data).
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chengyun.api.app import create_app
from chengyun.catalog import quality, service, sharing
from chengyun.catalog import ranking as ranking_module
from chengyun.catalog.entry import CatalogEntry
from chengyun.catalog.models import Dataset, SharingRequest
from chengyun.core.db import migrate, session_scope, utcnow
from chengyun.core.settings import Settings
from chengyun.tenancy.service import add_department, add_unit
from chengyun.web.datasets import ranking_rows
from tests.api.conftest import PASSWORD, make_user
from tests.conftest import CHROMIUM_ARGS
from tests.e2e.conftest import HTML, _free_port, login
from tests.e2e.test_console import _INK, Watch

SHOTS = Path("/tmp/shots")
CITY, EAST, WEST = "lj", "lj-east", "lj-west"
DEPARTMENTS = {"east-amr": (EAST, "东区市场监管局"), "east-tax": (EAST, "东区税务局"), "west-cg": (WEST, "西区城管局"),
               "city-data": (CITY, "市大数据局")}
USERS = {"admin": ("admin", CITY), "dept-east": ("department", EAST), "dept-west": ("department", WEST),
         "auditor": ("auditor", CITY)}

# The enterprise registry (企业登记信息): 9 data rows. By hand:
#   the last row has 6 fields (the header 5): put aside, so 8 rows load (1 rejected);
#   企业名称: rows 3 and 6 empty → not-null fails 2 of 8 (75.0); 6 distinct names; sparsity 25.0%
#   成立日期: all 8 present → 100.0
#   注册资本: row 4 is −50 → range (min 0) fails 1 of 8 (87.5); min −50, max 2,000
#   企业编号: E004 twice → unique fails 1 of 8 (the extra copy, 87.5)
#   联系电话: row 7 empty (not checked), rows 4 (12345) and 8 (1380000000x) are no mobile number → 2 of 7 (71.4)
# Overall: (75 + 100 + 87.5 + 87.5 + 71.43) / 5 = 84.29, under the target 90, so a case goes to east-amr.
# Dimensions: 规范性 71.4 (phone), 完整性 87.5 (75, 100), 准确性 87.5 (87.5, 87.5); the other three unchecked.
ENTERPRISES = """企业编号,企业名称,注册资本,成立日期,联系电话
E001,临江机械有限公司,500,2015-06-18,13800000001
E002,临江百货商贸,1200,2016-03-01,13800000002
E003,,300,2018-09-10,13800000003
E004,东区信息科技,-50,2019-01-15,12345
E004,东区餐饮管理,800,2020-05-20,13800000005
E006,,2000,2021-07-07,13800000006
E007,临江环保科技,750,2022-11-11,
E008,东区五金店,1000,2017-12-12,1380000000x
E009,临江坏行,1,2020-01-01,13800000009,多余
"""
RULES = {"rules": [
    {"id": "name-present", "kind": "not-null", "column": "企业名称"},
    {"id": "founded-known", "kind": "not-null", "column": "成立日期"},
    {"id": "capital-positive", "kind": "range", "column": "注册资本", "min": 0},
    {"id": "id-unique", "kind": "unique", "column": "企业编号"},
    {"id": "phone-valid", "kind": "cn-mobile", "column": "联系电话"},
]}
BY_HAND = {"name-present": "2 / 8", "founded-known": "0 / 8", "capital-positive": "1 / 8", "id-unique": "1 / 8",
           "phone-valid": "2 / 7"}
# the first run had two rules: (75 + 100) / 2
HISTORY = [87.5, 84.29]
LICENCES = "许可证号,企业名称,许可事项\nJY1,临江机械有限公司,食品经营\nJY2,临江百货商贸,食品经营\nJY3,东区五金店,食品经营\n"
WEST_CASES = "案件编号,类别\nC1,E01\nC2,\n"  # 类别 not-null: 1 of 2 → 50.0


def entry(code: str, title: str, provider: str, sharing_type: str = "有条件共享", **more: Any) -> CatalogEntry:
    """A catalogue entry as a cataloguer types it (Chinese terms for coded values)."""
    return CatalogEntry.model_validate({"code": code, "name": title, "provider": provider, "summary": f"{title}（测试）",
                                        "format": "CSV", "sharing_type": sharing_type, "update_cycle": "每月"} | more)


@dataclass
class World:
    settings: Settings
    app: FastAPI
    ids: dict[str, str]  # dataset name → id
    requests: dict[str, str]  # r1 … r5 → request id
    case_id: str


def _load(s: Any, settings: Settings, folder: Path, name: str, text: str, unit: str, provider: str,
          **kw: Any) -> Dataset:
    path = folder / f"{name}.csv"
    path.write_text(text, encoding="utf-8")
    ds, _ = service.add_dataset(s, settings, source=str(path), name=name, tenant=unit, provider=provider, **kw)
    return ds


def build_world(root: Path) -> tuple[Settings, dict[str, str], dict[str, str], str]:
    """The city, its datasets, two quality runs of the registry, one of the others, and five sharing requests:
    r1 西区城管局 and r2 东区税务局 ask for the registry (pending), r3 西区城管局 got the licences at once and read
    them twice (2 + 3 rows), r4 none, r5 市大数据局's grant of the licences expired."""
    settings = Settings(workspace=root / "ws")
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id=CITY, name="临江市")
        add_unit(session=s, unit_id=EAST, name="东区", parent_id=CITY)
        add_unit(session=s, unit_id=WEST, name="西区", parent_id=CITY)
        for dept, (unit, name) in DEPARTMENTS.items():
            add_department(session=s, department_id=dept, tenant_id=unit, name=name)
    for name, (role, unit) in USERS.items():
        make_user(settings, name, role, unit)
    now = utcnow()
    with session_scope(settings) as s:
        ent = _load(s, settings, root, "enterprises", ENTERPRISES, EAST, "east-amr", max_reject_share=0.2)
        service.apply_entry(s, ent, entry("330106-AMR-001", "企业登记信息", "east-amr", keywords=["营商环境", "市场主体"],
                                          related_services=["企业开办"],
                                          landing_page="https://data.example.gov.cn/ent"))
        quality.set_rules(s, ent, RULES, target=90)
        quality.run_quality(settings, s, ent, rules={"rules": RULES["rules"][:2]}, now=now - timedelta(days=7))
        run, _ = quality.run_quality(settings, s, ent, now=now - timedelta(hours=1))
        assert run.case_id, "a score under the target opens a case"
        lic = _load(s, settings, root, "licences", LICENCES, EAST, "east-tax")
        service.apply_entry(s, lic, entry("330106-TAX-002", "食品经营许可证", "east-tax", "无条件共享",
                                          keywords=["食品安全"], update_cycle="每日"))
        quality.run_quality(settings, s, lic, rules={"rules": [{"id": "name", "kind": "not-null", "column": "企业名称"}]})
        west = _load(s, settings, root, "west-cases", WEST_CASES, WEST, "west-cg", title="西区城管案件")
        quality.run_quality(settings, s, west, rules={"rules": [{"id": "cat", "kind": "not-null", "column": "类别"}]})
        pop = service.create_entry(s, name="population", tenant=CITY,
                                   entry=entry("330100-POP-001", "人口基础信息", "city-data", "不予共享",
                                               sharing_condition="涉及个人信息"))
        ids = {"enterprises": ent.id, "licences": lic.id, "west-cases": west.id, "population": pop.id}
        r1, _ = sharing.request_access(s, ent, department="west-cg", purpose="执法核查企业主体信息",
                                       fields=["企业名称", "注册资本"], scenario="执法核查", days=90, at=now - timedelta(days=2))
        r2, _ = sharing.request_access(s, ent, department="east-tax", purpose="税源比对", at=now - timedelta(days=1))
        r3, _ = sharing.request_access(s, lic, department="west-cg", purpose="食品安全巡查", scenario="巡查")
        r5, _ = sharing.request_access(s, lic, department="city-data", purpose="归集", days=1, at=now - timedelta(days=3))
        requests = {"r1": r1.id, "r2": r2.id, "r3": r3.id, "r5": r5.id}
        case_id = run.case_id
    with session_scope(settings) as s:
        grant = s.get(SharingRequest, requests["r3"])
        assert grant is not None
        sharing.read_rows(settings, s, grant, limit=2)
        sharing.read_rows(settings, s, grant, limit=10)
    return settings, ids, requests, case_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Iterator[World]:
    settings, ids, requests, case_id = build_world(tmp_path_factory.mktemp("datasets-console"))
    with TestClient(create_app(settings)) as client:
        yield World(settings, client.app, ids, requests, case_id)  # type: ignore[arg-type]


def as_user(w: World, name: str) -> TestClient:
    client = TestClient(w.app, headers=HTML)
    assert login(client, name, PASSWORD).status_code == 303
    return client


def part(page: str, marker: str, end: str = "</section>") -> str:
    """The page from the tag holding ``marker`` to the next ``end``."""
    rest = page[page.rindex("<", 0, page.index(marker)):]
    return rest[:rest.index(end)]


def text(fragment: str) -> str:
    """The words of an HTML fragment, tags dropped and spaces squeezed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


_ROW = re.compile(r'<tr class="dataset-row" data-dataset="([^"]+)">(.*?)</tr>', re.S)
_DATA = re.compile(r'<script type="application/json" id="quality-data">(.*?)</script>', re.S)


def listed(page: str) -> dict[str, str]:
    """Dataset id → the words of its row."""
    return {k: text(v) for k, v in _ROW.findall(page)}


def counts(page: str) -> dict[str, str]:
    return dict(re.findall(r'id="count-(\w+)"[^>]*><span class="count-label">[^<]*</span><span class="count-value">([^<]+)<',
                           page))


# ---- the catalogue ------------------------------------------------------------------------------------------


def test_catalogue_lists_counts_and_colours_scores(world: World) -> None:
    page = as_user(world, "admin").get("/datasets").text
    rows, ids = listed(page), world.ids
    assert list(rows) == [ids["population"], ids["enterprises"], ids["licences"], ids["west-cases"]]  # unit, name
    ent = rows[ids["enterprises"]]
    for words in ("企业登记信息", "330106-AMR-001", "东区市场监管局", "有条件共享", "每月", "8", "84.3"):
        assert words in ent, words
    assert "无条件共享" in rows[ids["licences"]] and "每日" in rows[ids["licences"]]
    assert "编目要素不全" in rows[ids["west-cases"]] and "未检测" in rows[ids["population"]]
    scores = {k: m.group(1) for k, v in _ROW.findall(page) if (m := re.search(r'class="status [\w-]+ score-(\w+)"', v))}
    assert scores == {ids["enterprises"]: "low", ids["licences"]: "ok", ids["west-cases"]: "low"}  # 84.3 < 90, 50 < 80
    # 4 datasets, 3 catalogued (west-cases never was); mean of 84.29, 100 and 50
    assert counts(page) == {"datasets": "4", "coverage": "75.0%", "score": "78.1", "scored": "3"}
    assert 'class="active" id="tab-datasets"' in page and "<script>" not in page


def test_catalogue_search_and_filters(world: World) -> None:
    client, ids = as_user(world, "admin"), world.ids

    def found(**params: str) -> list[str]:
        return list(listed(client.get("/datasets", params=params).text))

    assert found(q="营商") == [ids["enterprises"]]  # a keyword, in neither title nor summary
    assert found(q="许可") == [ids["licences"]] and found(q="330106-TAX") == [ids["licences"]]
    assert found(department="east-tax") == [ids["licences"]]
    assert found(sharing_type="none") == [ids["population"]]
    assert found(unit=WEST) == [ids["west-cases"]]
    assert found(unit=EAST, sharing_type="conditional") == [ids["enterprises"]]
    east = client.get("/datasets", params={"unit": EAST}).text
    assert counts(east) == {"datasets": "2", "coverage": "100.0%", "score": "92.1", "scored": "2"}
    assert 'id="no-datasets"' in client.get("/datasets", params={"q": "不存在的资源"}).text
    assert client.get("/datasets", params={"sharing_type": "maybe"}).status_code == 422


def test_catalogue_pages_keep_the_filters(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import chengyun.web.datasets as pages

    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    client, ids = as_user(world, "admin"), world.ids
    first = client.get("/datasets", params={"unit": CITY}).text  # the whole city: four datasets
    assert 'id="next-page"' in first and "第 1 / 2 页" in first
    assert list(listed(first)) == [ids["population"], ids["enterprises"]]
    link = html.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))  # type: ignore[union-attr]
    assert link == f"/datasets?unit={CITY}&page=2"
    second = client.get(link).text
    assert list(listed(second)) == [ids["licences"], ids["west-cases"]] and 'rel="prev"' in second


def test_another_districts_department_sees_neither_list_entry_nor_page(world: World) -> None:
    west = as_user(world, "dept-west")
    page = west.get("/datasets").text
    assert list(listed(page)) == [world.ids["west-cases"]] and "企业登记信息" not in page
    r = west.get(f"/datasets/{world.ids['enterprises']}")
    assert r.status_code == 404 and "企业登记信息" not in r.text and "330106-AMR-001" not in r.text
    assert west.get("/datasets", params={"unit": EAST}).status_code == 404


# ---- one dataset -----------------------------------------------------------------------------------------------


def test_dataset_page_entry_load_and_profile(world: World) -> None:
    page = as_user(world, "admin").get(f"/datasets/{world.ids['enterprises']}").text
    card = part(page, 'id="dataset-entry"')
    fields = {f: text(v) for f, v in re.findall(r'<dd data-field="(\w+)">(.*?)</dd>', card, re.S)}
    assert fields["code"] == "330106-AMR-001" and fields["name"] == "企业登记信息"
    assert fields["provider"] == "东区市场监管局" and fields["sharing_type"] == "有条件共享"
    assert fields["update_cycle"] == "每月" and fields["keywords"] == "营商环境、市场主体"
    assert fields["related_services"] == "企业开办" and fields["open_type"] == "—"
    for label in ("资源代码", "资源名称", "资源提供方", "资源摘要", "资源格式", "共享类型", "开放类型", "发布日期"):
        assert f"<dt>{label}</dt>" in card, label
    assert 'href="https://data.example.gov.cn/ent"' in card
    load = text(part(page, 'id="dataset-load"'))
    assert "行数 8" in load and "字段数 5" in load and "隔离行数 1" in load and "UTF-8" in load.upper()
    profile = {c: text(v) for c, v in re.findall(r'<tr class="profile-row" data-column="([^"]+)">(.*?)</tr>',
                                                 part(page, 'id="profile-table"', "</table>"), re.S)}
    assert profile["企业名称"] == "企业名称 文本 2 6 东区五金店 临江百货商贸 25.0% —"  # — : not personal
    assert profile["注册资本"] == "注册资本 整数 0 8 -50 2,000 0.0% —"
    assert 'style="width: 25.0%"' in part(page, 'data-column="企业名称"', "</tr>")


def test_dataset_page_quality_report_case_and_charts(world: World) -> None:
    page = as_user(world, "admin").get(f"/datasets/{world.ids['enterprises']}").text
    quality_part = part(page, 'id="dataset-quality"')
    assert text(part(quality_part, 'id="quality-total"', "</p>")) == "84.3 / 100"
    assert "低于目标 90" in quality_part and "有未通过的规则" in quality_part
    rules = {r: text(v) for r, v in re.findall(r'data-rule="([^"]+)">(.*?)</tr>\s*(?=<tr class="rule-row|</tbody>)',
                                               quality_part, re.S)}
    got = {r: re.search(r"\d+ / \d+", v).group(0) for r, v in rules.items()}  # type: ignore[union-attr]
    assert got == BY_HAND
    assert "cn-mobile" in rules["phone-valid"] and "规范性" in rules["phone-valid"] and "71.4" in rules["phone-valid"]
    # the failing sample rows, 联系电话 masked (a personal column): 12345 is too short to keep any digit
    assert "*****" in rules["phone-valid"] and "138****000x" in rules["phone-valid"]
    assert "1380000000x" not in rules["phone-valid"] and "13800000001" not in page
    assert "通过" in rules["founded-known"] and "样例" not in rules["founded-known"]
    dims = dict(re.findall(r"<tr><td>(\w+)</td><td[^>]*>([^<]+)</td></tr>", part(page, 'id="dimension-table"', "</table>")))
    assert dims == {"规范性": "71.4", "完整性": "87.5", "准确性": "87.5", "一致性": "未检测", "时效性": "未检测",
                    "可访问性": "未检测"}
    charts = json.loads(_DATA.search(page).group(1))  # type: ignore[union-attr]
    assert charts["dimensions"]["scores"] == [71.43, 87.5, 87.5, None, None, None]
    assert charts["history"]["scores"] == HISTORY and charts["target"] == 90
    notice = part(page, 'id="quality-case"', "</div>")
    assert f'href="/cases/{world.case_id}"' in notice and "质量整改案件办理中" in notice
    assert 'src="/static/js/datasets.js"' in page and "<script>" not in page


def test_dataset_page_sharing_requests_and_usage(world: World) -> None:
    client = as_user(world, "admin")
    ent = client.get(f"/datasets/{world.ids['enterprises']}").text
    requests = text(part(ent, 'id="request-table"', "</table>"))
    assert "西区城管局" in requests and "执法核查企业主体信息" in requests and "企业名称, 注册资本" in requests
    assert "东区税务局" in requests and "待审批" in requests and 'id="no-usage"' in ent
    lic = client.get(f"/datasets/{world.ids['licences']}").text
    usage = dict(re.findall(r'data-consumer="([^"]+)">(.*?)</tr>', part(lic, 'id="usage-table"', "</table>")))
    assert text(usage["west-cg"]) == "西区城管局 巡查 2 5"  # two reads: 2 rows and the remaining 3
    assert "已过期" in part(lic, 'id="request-table"', "</table>")  # 市大数据局's one-day grant
    empty = client.get(f"/datasets/{world.ids['population']}").text
    assert 'id="load-none"' in empty and 'id="quality-none"' in empty and 'id="quality-data"' not in empty
    assert "不予共享" in empty and "涉及个人信息" in empty


# ---- the overview --------------------------------------------------------------------------------------------


def panel(page: str) -> dict[str, str]:
    found = part(page, 'id="panel-data"')
    return dict(re.findall(r'id="panel-(dataset-count|coverage|mean-score|pending)"[^>]*><span class="case-num">([^<]+)<',
                           found))


def test_overview_panel_counts_and_ranks(world: World) -> None:
    client = as_user(world, "admin")
    page = client.get("/overview", params={"unit": CITY}).text
    assert panel(page) == {"dataset-count": "4", "coverage": "75.0%", "mean-score": "78.1", "pending": "2"}
    ranking = part(page, 'id="panel-quality-ranking"', "</table>")
    rows = [text(r) for r in re.findall(r'<tr data-department="[^"]*"[^>]*>(.*?)</tr>', ranking, re.S)]
    assert rows == ["1 东区税务局 100.0", "2 东区市场监管局 84.3", "3 西区城管局 50.0"]
    assert "暂无评价数据" in part(page, 'id="panel-data"')  # the evaluation part, as before
    east = client.get("/overview", params={"unit": EAST}).text
    assert panel(east) == {"dataset-count": "2", "coverage": "100.0%", "mean-score": "92.1", "pending": "2"}
    assert 'href="/sharing?status=pending"' in part(east, 'id="panel-data"')


# ---- the sharing inbox ---------------------------------------------------------------------------------------


_REQ = re.compile(r'<tr class="request-row[^"]*" id="request-([^"]+)"[^>]*>(.*?)</tr>', re.S)


def tab_counts(page: str) -> dict[str, str]:
    return dict(re.findall(r'id="status-(\w+)" data-status="\w+">[^<]*<span class="tab-count">(\d+)</span>', page))


def test_inbox_tabs_and_who_may_decide(world: World) -> None:
    r = world.requests
    east = as_user(world, "dept-east").get("/sharing").text
    assert tab_counts(east) == {"pending": "2", "granted": "1", "refused": "0", "revoked": "0", "expired": "1"}
    rows = dict(_REQ.findall(east))
    assert list(rows) == [r["r2"], r["r1"]]  # newest first
    assert "执法核查企业主体信息" in rows[r["r1"]] and "<code>企业名称</code>" in rows[r["r1"]] and "90 天" in rows[r["r1"]]
    assert "批准" in rows[r["r1"]] and "驳回" in rows[r["r1"]] and 'name="csrf"' in rows[r["r1"]]
    west = as_user(world, "dept-west").get("/sharing").text  # the requester: its own request, no forms
    rows = dict(_REQ.findall(west))
    assert list(rows) == [r["r1"]] and "等待提供方审批" in rows[r["r1"]] and "<form" not in rows[r["r1"]]
    assert "税源比对" not in west and tab_counts(west)["granted"] == "1"
    one = as_user(world, "dept-west").get("/sharing", params={"dataset": world.ids["licences"], "status": "granted"})
    assert "共享申请 · 食品经营许可证" in one.text and list(dict(_REQ.findall(one.text))) == [r["r3"]]
    unseen = as_user(world, "dept-west").get("/sharing", params={"dataset": world.ids["population"]}).text
    assert "人口基础信息" not in unseen and 'id="no-requests"' in unseen  # no title for an id it cannot see
    granted = dict(_REQ.findall(as_user(world, "dept-west").get("/sharing", params={"status": "granted"}).text))
    assert list(granted) == [r["r3"]] and "撤销授权" not in granted[r["r3"]]
    expired = as_user(world, "admin").get("/sharing", params={"status": "expired"}).text
    assert list(dict(_REQ.findall(expired))) == [r["r5"]] and "到期" in dict(_REQ.findall(expired))[r["r5"]]
    assert as_user(world, "auditor").get("/sharing").status_code == 403  # may read datasets, not requests


def _pending(world: World, department: str = "west-cg", purpose: str = "审批测试") -> str:
    with session_scope(world.settings) as s:
        ds = s.get(Dataset, world.ids["enterprises"])
        assert ds is not None
        req, _ = sharing.request_access(s, ds, department=department, purpose=purpose)
        return req.id


def _csrf(page: str) -> str:
    found = re.search(r'<input type="hidden" name="csrf" value="([^"]+)">', page)
    assert found
    return html.unescape(found.group(1))


def _state(world: World, request_id: str) -> SharingRequest:
    with session_scope(world.settings) as s:
        req = s.get(SharingRequest, request_id)
        assert req is not None
        s.expunge(req)
        return req


def test_approving_through_the_form_grants_and_shows_the_token_once(world: World) -> None:
    req_id, client = _pending(world), as_user(world, "dept-east")
    csrf = _csrf(client.get("/sharing").text)
    r = client.post(f"/sharing/{req_id}/decision", data={"csrf": csrf, "decision": "approve", "note": "同意"},
                    follow_redirects=False)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    token = text(part(r.text, 'id="grant-token"', "</code>").split(">", 1)[1])
    assert token.startswith("cyg_") and "只显示这一次" in r.text
    assert 'href="/sharing?status=granted&amp;lang=en"' in r.text  # the language switch leads back to the inbox
    state = _state(world, req_id)
    assert (state.status, state.decided_by, state.decision_note) == ("granted", "dept-east", "同意")
    with session_scope(world.settings) as s:
        assert sharing.authorise(s, token).id == req_id  # the token shown is the grant's
    again = client.get("/sharing", params={"status": "granted"}).text
    assert req_id in again and token not in again and 'id="grant-token"' not in again
    repeat = client.post(f"/sharing/{req_id}/decision", data={"csrf": csrf, "decision": "approve"})
    assert repeat.status_code == 409 and "not pending" in part(repeat.text, 'id="sharing-error"', "</div>")


def test_refusing_needs_a_reason(world: World) -> None:
    req_id, client = _pending(world, purpose="驳回测试"), as_user(world, "dept-east")
    csrf = _csrf(client.get("/sharing").text)
    r = client.post(f"/sharing/{req_id}/decision", data={"csrf": csrf, "decision": "refuse", "note": "  "})
    assert r.status_code == 422 and "驳回理由" in part(r.text, 'id="sharing-error"', "</div>")
    assert _state(world, req_id).status == "pending"
    assert 'class="active" id="status-pending"' in r.text and f'id="request-{req_id}"' in r.text
    r = client.post(f"/sharing/{req_id}/decision", data={"csrf": csrf, "decision": "refuse", "note": "用途与字段不符"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/sharing?status=refused#request-{req_id}"
    state = _state(world, req_id)
    assert (state.status, state.decision_note) == ("refused", "用途与字段不符")
    assert "用途与字段不符" in dict(_REQ.findall(client.get(r.headers["location"]).text))[req_id]


def test_revoking_a_grant(world: World) -> None:
    req_id, client = _pending(world, purpose="撤销测试"), as_user(world, "dept-east")
    with session_scope(world.settings) as s:
        req = s.get(SharingRequest, req_id)
        assert req is not None
        sharing.decide(s, req, approve=True, actor="dept-east")
    page = client.get("/sharing", params={"status": "granted"}).text
    assert f'action="/sharing/{req_id}/revoke"' in page
    r = client.post(f"/sharing/{req_id}/revoke", data={"csrf": _csrf(page), "note": "项目结束"}, follow_redirects=False)
    assert r.status_code == 303 and _state(world, req_id).status == "revoked"


def test_forms_refuse_the_wrong_caller_and_a_missing_csrf(world: World) -> None:
    r1 = world.requests["r1"]
    west = as_user(world, "dept-west")  # sees r1 (its department asked) but decides nothing in 东区
    csrf = _csrf(west.get("/sharing").text)
    assert west.post(f"/sharing/{r1}/decision", data={"csrf": csrf, "decision": "approve"}).status_code == 403
    east = as_user(world, "dept-east")
    assert east.post(f"/sharing/{r1}/decision", data={"decision": "approve"}).status_code == 403  # no CSRF field
    assert east.post("/sharing/sr-nothing/decision", data={"csrf": _csrf(east.get("/sharing").text),
                                                           "decision": "approve"}).status_code == 404
    assert _state(world, r1).status == "pending"


# ---- English ---------------------------------------------------------------------------------------------------


def test_pages_in_english(world: World) -> None:
    client = as_user(world, "admin")
    page = client.get("/datasets", params={"lang": "en"}).text
    assert "Data resource catalogue" in page and "Conditional" in page and "Monthly" in page
    assert "有条件共享" not in page and "每月" not in page
    ds = client.get(f"/datasets/{world.ids['enterprises']}").text  # the choice is remembered
    assert "Catalogue entry" in ds and "Resource code" in ds and "Rows put aside" in ds
    assert "Conformity" in part(ds, 'id="dimension-table"', "</table>") and "under the target 90" in ds
    assert "Pending" in client.get("/sharing").text
    data = part(client.get("/overview", params={"unit": CITY}).text, 'id="panel-data"')
    assert "Catalogue and quality" in data and "Data quality ranking" in data and "No evaluation data yet" in data


def test_panel_ranking_keeps_the_best_and_the_worst(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    ten = [{"department_id": f"d{i}", "rank": i, "score": 100.0 - i, "datasets": 1, "below_target": 0, "invalid": 0}
           for i in range(1, 11)] + [{"department_id": "d11", "rank": 11, "score": None, "datasets": 1,
                                      "below_target": 0, "invalid": 1}]
    monkeypatch.setattr(ranking_module, "ranking", lambda session, tenant_ids: ten)
    with session_scope(world.settings) as s:
        shown = ranking_rows(s, {CITY})
    assert [(r["rank"], r["gap"]) for r in shown] == [(1, False), (2, False), (3, False), (4, False), (5, False),
                                                      (8, True), (9, False), (10, False)]  # unscored d11 left out


# ---- in Chromium ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(world.settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.mark.browser
def test_datasets_console_in_chromium(world: World, server: str, chromium: str) -> None:
    """Search the catalogue by a Chinese keyword, open the dataset (both charts drawn), approve a request through
    the inbox's form and see its token, look at the overview's panel, switch to English."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    req_id = _pending(world, purpose="浏览器审批测试")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            watch = Watch(page)
            page.goto(f"{server}/login?lang=zh&next=/datasets")
            page.fill("#username", "dept-east")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_url("**/datasets")
            assert page.get_attribute("#main-nav a.active", "data-key") == "data"
            page.screenshot(path=str(SHOTS / "datasets-list.png"), full_page=True)
            page.fill("#catalogue-q", "市场主体")
            page.click("#catalogue-filters button[type=submit]")
            page.wait_for_url("**/datasets?q=*")
            assert page.locator("#catalogue-table tbody tr").count() == 1
            page.click("#catalogue-table a.dataset-title")
            page.wait_for_url(f"**/datasets/{world.ids['enterprises']}")
            page.wait_for_function("window.__qualityChartsReady === true")
            assert page.eval_on_selector("#dimension-chart canvas", _INK) > 0.01, "the dimension bars drew nothing"
            assert page.eval_on_selector("#history-chart canvas", _INK) > 0.01, "the score line drew nothing"
            page.click("#rule-table tr[data-rule='phone-valid'] summary")
            assert "138****000x" in page.inner_text("#rule-table tr[data-rule='phone-valid'] .sample-table")
            page.screenshot(path=str(SHOTS / "datasets-dataset.png"), full_page=True)

            page.click(".crumbs a[href='/datasets']")
            page.click("#tab-sharing")
            page.wait_for_url("**/sharing")
            page.screenshot(path=str(SHOTS / "datasets-sharing.png"), full_page=True)
            page.click(f"#request-{req_id} .approve-form button")
            page.wait_for_selector("#grant-token")
            assert page.inner_text("#grant-token").startswith("cyg_")
            assert page.get_attribute("#status-granted", "class") == "active"
            page.screenshot(path=str(SHOTS / "datasets-granted.png"), full_page=True)
            assert _state(world, req_id).status == "granted"

            page.goto(f"{server}/overview")
            assert page.inner_text("#panel-dataset-count .case-num") == "2"
            page.locator("#panel-data").screenshot(path=str(SHOTS / "datasets-overview.png"))

            page.goto(f"{server}/datasets/{world.ids['enterprises']}")
            page.click("#lang-switch")
            page.wait_for_selector("text=Catalogue entry")
            page.wait_for_function("window.__qualityChartsReady === true")
            assert "Conformity" in page.inner_text("#dimension-table")
            page.screenshot(path=str(SHOTS / "datasets-dataset-en.png"), full_page=True)
        finally:
            browser.close()
    assert not watch.problems, watch.problems
