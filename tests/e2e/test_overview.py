"""The city overview (城市运行一张图) over a copy of the demo city: what an administrator, a district department
and a citizen see. Expected numbers come straight from the stored node results, not from the page."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from chengyun.indicators.models import EvaluationRun, NodeResult
from chengyun.tenancy.models import AdminUnit
from tests.e2e.conftest import OPERATIONS, UNEVALUATED, client_for

OBJECTS = {"infrastructure": "L1", "data": "L2", "systems": "L3", "portal": "L4", "security": "L5"}
PACKS = ("chengyun-operations", "cn-smartcity-2016", "cn-smartcity-2018")


def _runs(settings: Settings, unit: str, pack: str = OPERATIONS) -> list[EvaluationRun]:
    with session_scope(settings) as s:
        stmt = select(EvaluationRun).where(EvaluationRun.tenant_id == unit, EvaluationRun.pack_id == pack,
                                           EvaluationRun.status == "done")
        return list(s.scalars(stmt.order_by(EvaluationRun.period_start.desc())))


def _nodes(settings: Settings, run_id: str) -> dict[str, NodeResult]:
    with session_scope(settings) as s:
        return {n.node_id: n for n in s.scalars(select(NodeResult).where(NodeResult.run_id == run_id))}


def _arrow(delta: float) -> str:
    return "= 0.00" if abs(delta) < 0.005 else (f"▲ {delta:.2f}" if delta > 0 else f"▼ {abs(delta):.2f}")


def _shown(value: float, unit: str | None) -> str:
    """How the console writes a measured value (Chinese page)."""
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    suffix = {"h": " 小时", "d": " 天", "score": " 分", "per 10k": " /万人"}
    if unit in suffix:
        return f"{value:,.1f}{suffix[unit]}"
    return f"{value:,.0f}" if unit == "count" else f"{value:,.2f}"


def _section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    end = html.find("<section", start)
    return html[start:end if end > 0 else None]


def _measures(panel: str) -> list[tuple[str, str]]:
    rows = re.findall(r'class="measure-name">(.*?)</a>\s*<span class="measure-value">(.*?)</span>\s*</li>', panel,
                      re.S)
    return [(name.strip(), value.strip()) for name, value in rows]


def _chart(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="overview-data">(.*?)</script>', html, re.S)
    assert found, "no chart data on the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _expected_panel(settings: Settings, unit: str, node_id: str) -> dict[str, Any]:
    """Score, maximum, change and the biggest leaves of ``node_id`` in the unit's latest run, from the DB."""
    latest, previous = _runs(settings, unit)[:2]
    now, before = _nodes(settings, latest.id), _nodes(settings, previous.id)
    parents = {n.parent_id for n in now.values()}
    below = {node_id}
    for n in sorted(now.values(), key=lambda n: n.id):  # pre-order
        if n.parent_id in below:
            below.add(n.node_id)
    leaves = sorted((n for n in now.values() if n.node_id in below and n.node_id not in parents), key=lambda n: n.id)
    biggest = sorted(leaves, key=lambda n: -n.max_score)[:4]
    node = now[node_id]
    assert node.score is not None and before[node_id].score is not None
    return {
        "score": f"{node.score:.2f}",
        "max": f"{node.max_score:.2f}",
        "delta": _arrow(node.score - before[node_id].score),  # 较上期: against the previous quarter's run
        "previous": previous.period,
        "measures": [(n.name, _shown(n.value, n.unit)) for n in leaves if n in biggest and n.value is not None],
        "run": latest.id,
    }


@pytest.fixture(scope="module")
def admin(city_app: TestClient) -> TestClient:
    return client_for(city_app, "e2e-admin")


def test_admin_sees_every_object_of_the_city(admin: TestClient, console_city: Settings) -> None:
    html = admin.get("/overview?lang=zh").text
    assert "城市运行一张图" in html and "临江市" in _section(html, "overview-scope")
    for key, node_id in OBJECTS.items():
        expected = _expected_panel(console_city, "linjiang", node_id)
        panel = _section(html, f"panel-{key}")
        assert f'{expected["score"]}<span class="of"> / {expected["max"]}' in panel, (key, expected, panel)
        assert expected["delta"] in panel and f"较上期 {expected['previous']}" in panel, (key, expected)
        assert _measures(panel) == expected["measures"], key
        assert 3 <= len(expected["measures"]) <= 4
        assert f'/evaluations/{expected["run"]}/nodes/{node_id}' in panel


def test_admin_sees_the_latest_of_every_pack(admin: TestClient, console_city: Settings) -> None:
    panel = _section(admin.get("/overview?lang=zh").text, "panel-evaluation")
    for pack in PACKS:
        latest = _runs(console_city, "linjiang", pack)[0]
        row = _section(panel, f"latest-{pack}")
        assert latest.total is not None and f"{latest.total:.2f}" in row and latest.period in row
        assert f'href="/evaluations/{latest.id}"' in row and latest.stage and latest.stage in row


def test_the_district_chart_holds_each_districts_latest_total(admin: TestClient, console_city: Settings) -> None:
    chart = _chart(admin.get("/overview?lang=zh").text)
    with session_scope(console_city) as s:
        districts = {u.id: u.name for u in s.scalars(select(AdminUnit).where(AdminUnit.level == "district"))}
    expected = []
    for unit in districts:
        runs = _runs(console_city, unit)
        if runs and runs[0].total is not None:
            expected.append((unit, round(runs[0].total, 2), runs[0].period))
    assert {u for u, _, _ in expected} == set(districts) - {UNEVALUATED}  # every district but the one forgotten
    assert [(b["unit"], b["total"], b["period"]) for b in chart["bars"]] == sorted(expected, key=lambda e: -e[1])
    assert chart["missing"] == [districts[UNEVALUATED]]


def test_a_unit_without_runs_says_so(admin: TestClient) -> None:
    html = admin.get("/overview?unit=linjiang.d03&lang=zh").text
    assert "望湖区" in _section(html, "overview-scope")
    for key in [*OBJECTS, "evaluation"]:
        panel = _section(html, f"panel-{key}")
        assert "暂无评价数据" in panel and "0.00" not in panel and 'class="big"' not in panel, key


def test_overview_in_english(admin: TestClient, console_city: Settings) -> None:
    html = admin.get("/overview?lang=en").text
    previous = _runs(console_city, "linjiang")[1].period
    assert "City operations overview" in html and "Latest operations evaluation" in html
    infra = _section(html, "panel-infrastructure")
    assert "Infrastructure" in infra and f"vs {previous}" in infra and "Device availability" in infra
    assert not re.search(r"[\u4e00-\u9fff]", re.sub(r"<[^>]+>", "", infra)), "Chinese left in an English panel"
    assert "Unit" in html and "Latest operations total by district" in html
    empty = admin.get("/overview?unit=linjiang.d03&lang=en").text
    assert "No evaluation data yet" in _section(empty, "panel-data")


def test_district_user_sees_only_their_district(city_app: TestClient, console_city: Settings) -> None:
    dept = client_for(city_app, "e2e-dept")
    html = dept.get("/overview?lang=zh").text
    assert "江城区" in _section(html, "overview-scope")
    options = re.findall(r'<option value="([^"]+)"', html)
    assert options[0] == "linjiang.d01" and all(o.startswith("linjiang.d01") for o in options)
    assert "临江市" not in html and "滨江区" not in html
    expected = _expected_panel(console_city, "linjiang.d01", "L1")
    assert f'{expected["score"]}<span class="of"> / {expected["max"]}' in _section(html, "panel-infrastructure")
    assert [b["unit"] for b in _chart(html)["bars"]] == ["linjiang.d01"] and _chart(html)["missing"] == []
    evaluation = _section(html, "panel-evaluation")
    assert "cn-smartcity" not in evaluation and "智慧城市长效运营评价" in evaluation  # only what d01 has
    for unit in ("linjiang", "linjiang.d02"):  # units outside the scope are not found
        assert dept.get(f"/overview?unit={unit}").status_code == 404


def test_district_user_is_refused_other_districts_runs(city_app: TestClient, console_city: Settings) -> None:
    dept = client_for(city_app, "e2e-dept")
    other, city = _runs(console_city, "linjiang.d02")[0], _runs(console_city, "linjiang")[0]
    for path in (f"/evaluations/{other.id}", f"/evaluations/{city.id}/nodes/L1"):
        r = dept.get(path, headers={"accept": "text/html"})
        assert r.status_code == 404 and "找不到" in r.text and f"{other.total:.2f}" not in r.text, path
        assert "e2e-dept" in r.text and "部门@linjiang.d01" in r.text  # what the caller has
    listed = dept.get("/evaluations").text
    assert other.id not in listed and city.id not in listed
    assert _runs(console_city, "linjiang.d01")[0].id in listed


def test_citizen_gets_a_friendly_refusal(city_app: TestClient) -> None:
    citizen = client_for(city_app, "e2e-citizen")
    assert citizen.get("/", follow_redirects=False).headers["location"] == "/packs"  # not a refusal first
    r = citizen.get("/overview?lang=zh", headers={"accept": "text/html"})
    assert r.status_code == 403
    nav = r.text[r.text.index('id="main-nav"'):r.text.index("</nav>")]
    assert "<a " not in nav  # no menu entry the citizen cannot use
    assert "没有权限" in r.text and "GET /overview" in r.text and "公众@linjiang" in r.text  # tried, has
    assert "<code>console.read</code>" in r.text  # the permission checked first
    needed = r.text[r.text.index('id="error-needed"'):]
    assert needed.index("管理员") < needed.index("监管") < needed.index("部门")  # roles that would do
    assert "chengyun users grant e2e-citizen" in r.text  # who to ask, and how
    assert 'href="/packs"' in r.text and citizen.get("/packs").status_code == 200  # what they can open
    assert citizen.get("/evaluations", headers={"accept": "text/html"}).status_code == 403
    en = citizen.get("/overview?lang=en", headers={"accept": "text/html"}).text
    assert "Not allowed" in en and "Who to ask" in en and "Citizen@linjiang" in en and "没有权限" not in en


def test_nav_follows_permissions(admin: TestClient) -> None:
    html = admin.get("/overview?lang=zh").text
    nav = html[html.index('id="main-nav"'):html.index("</nav>")]
    assert re.findall(r'data-key="([a-z]+)"', nav) == [
        "overview", "infrastructure", "data", "systems", "portal", "security", "evaluations", "contracts"]
    assert 'aria-current="page"' in nav and 'id="user-menu"' in html and "测试 e2e-admin" in html
