"""The case console's boards: the workbench map, the dispatch-rules editor (/cases/rules) and the department ranking
(/cases/ranking) — through their pages, and one round in Chromium.

The city is the case tests' (``tests/cases/conftest.py``): 临江市 lj with 东区 lj-east (and its street lj-east-port)
and 西区 lj-west. Open cases with known due times and positions feed the map; closed cases with hand-set timestamps
in 2026Q3, exported to the lake, feed the ranking, whose numbers are worked out by hand below.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from chengyun.accounts.models import AuditEntry
from chengyun.analytics.engine import connect
from chengyun.analytics.runner import make_context
from chengyun.api.app import create_app
from chengyun.cases.export import export_cases
from chengyun.cases.measures import department_ranking, hotline_weights
from chengyun.cases.models import DispatchRule
from chengyun.cases.service import CaseDesk, create_case
from chengyun.core.db import session_scope, utcnow
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.web import cases as case_pages
from tests.cases.conftest import (
    CITY,
    EAST,
    EAST_CG,
    PASSWORD,
    PORT,
    PORT_OFFICE,
    WATER,
    WEST,
    WEST_CG,
    build_case_city,
)
from tests.conftest import CHROMIUM_ARGS
from tests.e2e.conftest import HTML, _free_port, login

SHOTS = Path("/tmp")
PERIOD = "2026Q3"  # the ranking's cases were all created in this quarter
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_MAP = re.compile(r'<script type="application/json" id="case-map-data">(.*?)</script>', re.S)
_TEXTAREA = re.compile(r'<textarea name="text" id="rules-text"[^>]*>(.*?)</textarea>', re.S)
_RANK_ROW = re.compile(r'<tr data-department="([^"]*)">(.*?)</tr>', re.S)
_CELL = re.compile(r'data-key="(\w+)">([^<]*)</td>')
VALID = ("rules:\n  - {category: 'E0101', department: east-cg, hours: '08:00-18:00', note: 白天由城管处置}\n"
         "  - {category: 'P01*', department: port-office}\n")
BAD = "rules:\n  - {category: 'E0101', department: east-cg}\n  - {category: 'P01*', department: no-such-dept}\n"


@dataclass
class Board:
    settings: Settings
    app: FastAPI
    ids: dict[str, str]  # label → case id


def _open(s: Any, desk: CaseDesk, label: str, due_in: float, **fields: Any) -> str:
    args = {"tenant_id": EAST, "channel": "hotline", "category": "E0101", "title": f"地图案件 {label}",
            "auto_dispatch": False} | fields
    case = create_case(s, desk, **args)
    case.due_at = utcnow() + timedelta(hours=due_in)
    return case.id


# The ranking's cases (all closed, created 2026-08-10 10:00 Shanghai), one line each:
# (unit, department, responded after h (limit 1 h), resolved after h or None (limit 48 h), solved, satisfaction,
#  returned)
RANKED_CASES = [
    (EAST, EAST_CG, 0.5, 24, True, 5, 0),
    (EAST, EAST_CG, 2.0, 72, False, 3, 1),
    (EAST, EAST_CG, 0.2, None, None, None, 0),
    (EAST, WATER, 0.5, 10, True, 4, 0),
    (PORT, WATER, 0.9, 47, True, 5, 0),
    (WEST, WEST_CG, 3.0, None, None, None, 0),
]
# Worked out by hand from the lines above; weights 30/35/35 (response, resolution, satisfaction).
# east-cg: response 2/3, on time 1/2, resolved 1/2, satisfied 1/2, returned 1/3 → 0.3·2/3 + 0.35·½ + 0.35·½ = 0.55
# water: everything 1, returned 0 → 1.00; west-cg: only a (late) response → 0.00
EXPECTED_EAST = {
    WATER: {"cases": "2", "response_rate": "100.0%", "ontime_closure_rate": "100.0%", "resolution_rate": "100.0%",
            "satisfaction_rate": "100.0%", "return_rate": "0.0%", "composite": "100.0"},
    EAST_CG: {"cases": "3", "response_rate": "66.7%", "ontime_closure_rate": "50.0%", "resolution_rate": "50.0%",
              "satisfaction_rate": "50.0%", "return_rate": "33.3%", "composite": "55.0"},
}
EXPECTED_WEST_CG = {"cases": "1", "response_rate": "0.0%", "ontime_closure_rate": "—", "resolution_rate": "—",
                    "satisfaction_rate": "—", "return_rate": "0.0%", "composite": "0.0"}


def _closed(s: Any, desk: CaseDesk, unit: str, dept: str, responded: float, resolved: float | None,
            solved: bool | None, satisfaction: int | None, returned: int) -> None:
    created = datetime(2026, 8, 10, 2, 0)  # naive UTC: 10:00 in Shanghai
    case = create_case(s, desk, tenant_id=unit, channel="hotline", category="E0101", title="排名案件",
                       auto_dispatch=False)
    case.created_at, case.department_id, case.status = created, dept, "closed"
    case.response_due_at, case.responded_at = created + timedelta(hours=1), created + timedelta(hours=responded)
    case.due_at = created + timedelta(hours=48)
    case.resolved_at = None if resolved is None else created + timedelta(hours=resolved)
    case.solved, case.satisfaction, case.returned_count = solved, satisfaction, returned


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Iterator[Board]:
    """The city with open cases on the map, a city-level dispatch rule, 2026Q3 cases in the lake, and an app."""
    settings = build_case_city(tmp_path_factory.mktemp("case-board") / "ws")
    desk = CaseDesk.for_settings(settings)
    with session_scope(settings) as s:
        ids = {
            "overdue": _open(s, desk, "overdue", -3, lat=30.25, lon=120.17),
            "soon": _open(s, desk, "soon", 2, lat=30.27, lon=120.21),
            "ok": _open(s, desk, "ok", 30, lat=30.22, lon=120.15),
            "nowhere": _open(s, desk, "nowhere", 10),
            "west": _open(s, desk, "west", -1, tenant_id=WEST, lat=30.20, lon=120.05),
        }
        s.add(DispatchRule(tenant_id=CITY, position=1000, category="E01*", department_id=WATER, note="全市兜底"))
        for line in RANKED_CASES:
            _closed(s, desk, *line)
    with session_scope(settings) as s:
        export_cases(settings, s)
    with TestClient(create_app(settings)) as client:
        yield Board(settings, client.app, ids)  # type: ignore[arg-type]




def as_user(board: Board, name: str) -> TestClient:
    client = TestClient(board.app, headers=HTML)
    assert login(client, name, PASSWORD).status_code == 303
    return client


def map_data(page: str) -> dict[str, Any]:
    found = _MAP.search(page)
    assert found, "no map data on the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def east_rules(settings: Settings) -> list[tuple[Any, ...]]:
    with session_scope(settings) as s:
        rows = s.scalars(select(DispatchRule).where(DispatchRule.tenant_id == EAST)
                         .order_by(DispatchRule.position, DispatchRule.id))
        return [(r.position, r.category, r.area, r.hours, r.department_id, r.enabled, r.note) for r in rows]


def set_east_rules(settings: Settings, rules: list[tuple[str, str]]) -> None:
    with session_scope(settings) as s:
        s.execute(delete(DispatchRule).where(DispatchRule.tenant_id == EAST))
        for i, (category, dept) in enumerate(rules, 1):
            s.add(DispatchRule(tenant_id=EAST, position=i * 10, category=category, department_id=dept))


def post_rules(client: TestClient, text: str, unit: str = EAST, csrf: str | None = None) -> Any:
    if csrf is None:
        token = _CSRF.search(client.get("/cases/rules", params={"unit": unit}).text)
        assert token
        csrf = token.group(1)
    return client.post("/cases/rules", data={"csrf": csrf, "unit": unit, "text": text}, follow_redirects=False)


# ---- the workbench map ---------------------------------------------------------------------------------------


def test_the_map_holds_the_callers_cases_with_a_position(board: Board) -> None:
    ids = board.ids
    page = as_user(board, "dept-east").get("/cases").text
    data = map_data(page)
    points = {p["id"]: p for p in data["points"]}
    assert set(points) == {ids["overdue"], ids["soon"], ids["ok"]}  # not the west's, not the one without position
    assert {k: p["urgency"] for k, p in points.items()} == {
        ids["overdue"]: "overdue", ids["soon"]: "soon", ids["ok"]: "ok"}
    assert (points[ids["soon"]]["lon"], points[ids["soon"]]["lat"]) == (120.21, 30.27)
    assert points[ids["overdue"]]["name"] == "暴露垃圾" and points[ids["overdue"]]["left"].startswith("超时 ")
    note = page[page.index('id="case-map-note"'):]
    assert "3 件有位置" in note[:300] and "1 件无位置" in note[:300] and "case-map-capped" not in note[:300]
    assert 'src="/static/vendor/echarts.min.js"' in page and "<script>" not in page  # no inline script


def test_the_map_follows_the_filters(board: Board) -> None:
    data = map_data(as_user(board, "admin").get("/cases", params={"overdue": "true"}).text)
    assert {p["id"] for p in data["points"]} == {board.ids["overdue"], board.ids["west"]}


def test_the_map_is_capped_to_the_most_urgent(board: Board, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(case_pages, "MAP_CAP", 2)
    page = as_user(board, "admin").get("/cases").text
    # most urgent first: the east case 3 h overdue, then the west case 1 h overdue
    assert [p["id"] for p in map_data(page)["points"]] == [board.ids["overdue"], board.ids["west"]]
    assert 'id="case-map-capped">仅显示最紧急的 2 件' in page and "4 件有位置" in page
    english = as_user(board, "admin").get("/cases", params={"lang": "en"}).text
    assert "only the 2 most urgent are drawn" in english and "1 without a position" in english


def test_the_workbench_links_to_the_boards(board: Board) -> None:
    operator = as_user(board, "op-east").get("/cases").text
    assert 'href="/cases/rules"' in operator and 'href="/cases/ranking"' in operator
    department = as_user(board, "dept-east").get("/cases").text  # no cases.rules: no link to the editor
    assert 'href="/cases/rules"' not in department and 'href="/cases/ranking"' in department


# ---- the dispatch rules editor -------------------------------------------------------------------------------


def test_rules_page_shows_own_and_inherited_rules_and_the_apis_yaml(board: Board) -> None:
    set_east_rules(board.settings, [("E0102", EAST_CG)])
    client = as_user(board, "op-east")
    r = client.get("/cases/rules", params={"unit": EAST})
    assert r.status_code == 200
    page = r.text
    own = page[page.index('id="own-rule-table"'):]
    own = own[:own.index("</table>")]
    assert "E0102" in own and "道路不洁" in own and "东区城管局" in own and "市水务局" not in own
    inherited = page[page.index('id="inherited-rule-table"'):]
    inherited = inherited[:inherited.index("</table>")]
    assert "临江市" in inherited and "E01*" in inherited and "市容环境" in inherited and "市水务局" in inherited
    assert "全市兜底" in inherited
    api = client.get("/api/v1/dispatch-rules.yaml", params={"tenant": EAST})
    assert api.status_code == 200
    found = _TEXTAREA.search(page)
    assert found and html.unescape(found.group(1)) == api.text
    picker = page[page.index('id="unit-select"'):]
    units = re.findall(r'<option value="([^"]+)"', picker[:picker.index("</select>")])
    assert units == [EAST, PORT]  # the operator's units only


def test_saving_valid_yaml_replaces_the_rules_and_is_audited(board: Board) -> None:
    set_east_rules(board.settings, [("E0102", EAST_CG)])
    client = as_user(board, "op-east")
    r = post_rules(client, VALID)
    assert (r.status_code, r.headers["location"]) == (303, f"/cases/rules?unit={EAST}&saved=true")
    assert east_rules(board.settings) == [(10, "E0101", None, "08:00-18:00", EAST_CG, True, "白天由城管处置"),
                                          (20, "P01*", None, None, PORT_OFFICE, True, None)]
    page = client.get(r.headers["location"]).text
    assert 'id="rules-saved"' in page and "港口街道办" in page
    with session_scope(board.settings) as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "dispatch_rules.replace")))
        assert entries and (entries[-1].actor, entries[-1].target_id, entries[-1].detail) == (
            "op-east", EAST, {"rules": 2})


def test_a_bad_rule_is_named_and_nothing_changes(board: Board) -> None:
    set_east_rules(board.settings, [("E0102", EAST_CG)])
    before = east_rules(board.settings)
    client = as_user(board, "op-east")
    r = post_rules(client, BAD)
    assert r.status_code == 422
    notice = r.text[r.text.index('id="rules-error"'):]
    notice = notice[:notice.index("</div>")]
    assert "rules[1].department" in notice and "no-such-dept" in notice and "rules[0]" not in notice
    found = _TEXTAREA.search(r.text)
    assert found and html.unescape(found.group(1)) == BAD  # the text as sent, to correct it
    assert east_rules(board.settings) == before
    r = post_rules(client, "rules: [unclosed")  # not YAML at all
    assert r.status_code == 422 and "not valid YAML" in r.text and east_rules(board.settings) == before


def test_saving_needs_the_csrf_token_the_permission_and_the_unit(board: Board) -> None:
    set_east_rules(board.settings, [("E0102", EAST_CG)])
    before = east_rules(board.settings)
    operator = as_user(board, "op-east")
    assert post_rules(operator, VALID, csrf="forged").status_code == 403
    assert as_user(board, "dept-east").get("/cases/rules").status_code == 403  # 部门 holds no cases.rules
    assert operator.get("/cases/rules", params={"unit": WEST}).status_code == 404
    token = _CSRF.search(operator.get("/cases/rules").text)
    assert token
    assert post_rules(operator, "rules: []\n", unit=WEST, csrf=token.group(1)).status_code == 404
    assert east_rules(board.settings) == before


def test_trying_a_case_shows_the_winning_rule(board: Board) -> None:
    set_east_rules(board.settings, [])
    client = as_user(board, "op-east")
    assert post_rules(client, VALID).status_code == 303

    def winner(**params: str) -> str:
        page = client.get("/cases/rules", params={"unit": EAST} | params).text
        result = page[page.index('id="trial-result"'):]
        return result[:result.index("</div>")]

    day = winner(test_category="E0101", test_unit=PORT, test_hour="10")
    assert "派至 东区城管局" in day and "白天由城管处置" in day
    night = winner(test_category="E0101", test_unit=PORT, test_hour="20")  # outside 08-18: the city's rule
    assert "派至 市水务局" in night and "临江市" in night
    assert "进入待分拨" in winner(test_category="H01", test_hour="10")
    assert "派至 港口街道办" in winner(test_category="P0101", test_hour="3")


# ---- the department ranking ----------------------------------------------------------------------------------


def ranking_table(page: str) -> dict[str, dict[str, str]]:
    table = page[page.index('id="ranking-table"'):]
    return {dept: dict(_CELL.findall(cells)) for dept, cells in _RANK_ROW.findall(table[:table.index("</table>")])}


def test_ranking_values_are_those_worked_out_by_hand(board: Board) -> None:
    page = as_user(board, "admin").get("/cases/ranking", params={"tenant": EAST, "period": PERIOD}).text
    table = ranking_table(page)
    assert list(table) == [WATER, EAST_CG]  # best first
    assert table == EXPECTED_EAST
    assert "市水务局" in page and "东区城管局" in page and "西区城管局" not in page
    chart = json.loads(re.search(r'id="ranking-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert chart["names"] == ["东区城管局", "市水务局"] and chart["scores"] == [55.0, 100.0]  # bottom to top
    city = ranking_table(as_user(board, "admin").get("/cases/ranking", params={"tenant": CITY, "period": PERIOD}).text)
    assert list(city) == [WATER, EAST_CG, WEST_CG] and city[WEST_CG] == EXPECTED_WEST_CG


def test_ranking_agrees_with_department_ranking(board: Board) -> None:
    engine = connect(board.settings)
    try:
        ctx = make_context(engine, [CITY, EAST, PORT, WEST], parse_period(PERIOD), "Asia/Shanghai", None)
        rows = department_ranking(engine, ctx, hotline_weights())
    finally:
        engine.close()
    table = ranking_table(as_user(board, "admin").get("/cases/ranking", params={"tenant": CITY, "period": PERIOD}).text)
    assert list(table) == [r["department"] for r in rows]
    for r in rows:
        assert table[r["department"]]["composite"] == f"{r['composite'] * 100:.1f}"
        assert table[r["department"]]["cases"] == str(int(r["cases"]))


def test_ranking_without_cases_says_so_and_shows_no_zeros(board: Board) -> None:
    page = as_user(board, "admin").get("/cases/ranking", params={"tenant": EAST, "period": "2025Q1"}).text
    assert "暂无案件数据" in page and 'id="ranking-table"' not in page and "0.0%" not in page


def test_ranking_periods_default_and_scope(board: Board) -> None:
    client = as_user(board, "dept-east")
    page = client.get("/cases/ranking").text  # today is 2026-11-26 (the demo's day) or later
    options = re.findall(r'<option value="(\d{4}(?:Q\d|-\d\d))"( selected)?', page)
    labels = [o for o, _ in options]
    assert len([o for o in labels if "Q" in o]) == 5 and len([o for o in labels if "-" in o]) == 6
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    latest_complete = parse_period(f"{today.year}Q{(today.month - 1) // 3 + 1}").previous().label
    assert [o for o, sel in options if sel] == [latest_complete]
    assert client.get("/cases/ranking", params={"tenant": WEST}).status_code == 404
    assert client.get("/cases/ranking", params={"tenant": EAST, "period": "not-a-period"}).status_code == 422


# ---- in Chromium ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(board: Board) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(board.settings), host="127.0.0.1", port=port, log_level="warning"))
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
def test_boards_in_chromium(board: Board, server: str, chromium: str) -> None:
    """The map draws the cases and a click opens one; the editor saves and refuses; the ranking draws its bars."""
    from playwright.sync_api import sync_playwright

    set_east_rules(board.settings, [("E0102", EAST_CG)])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/login?lang=zh&next=/cases")
            page.fill("#username", "op-east")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_url("**/cases")
            page.wait_for_function("window.__caseMapReady === true")
            drawn = page.evaluate("""() => {
                const chart = echarts.getInstanceByDom(document.getElementById('case-map'));
                return chart.getOption().series.flatMap(s => s.data.map(d => d.id));
            }""")
            assert sorted(drawn) == sorted([board.ids["overdue"], board.ids["soon"], board.ids["ok"]])
            page.screenshot(path=str(SHOTS / "board-workbench.png"), full_page=True)
            target = board.ids["soon"]
            xy = page.evaluate("""(id) => {
                const chart = echarts.getInstanceByDom(document.getElementById('case-map'));
                const series = chart.getOption().series;
                const i = series.findIndex(s => s.data.some(d => d.id === id));
                const d = series[i].data.find(d => d.id === id);
                return chart.convertToPixel({seriesIndex: i}, d.value);
            }""", target)
            box = page.locator("#case-map").bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
            page.wait_for_url(f"**/cases/{target}")

            page.goto(f"{server}/cases/rules?unit={EAST}")
            page.fill("#rules-text", BAD)
            page.click("#rules-save")
            assert "rules[1].department" in page.inner_text("#rules-error")
            assert page.input_value("#rules-text") == BAD
            assert east_rules(board.settings) == [(10, "E0102", None, None, EAST_CG, True, None)]
            page.fill("#rules-text", VALID)
            page.click("#rules-save")
            page.wait_for_url("**/cases/rules?unit=*&saved=true")
            assert "港口街道办" in page.inner_text("#own-rule-table")
            assert [r[1] for r in east_rules(board.settings)] == ["E0101", "P01*"]
            page.goto(f"{server}/cases/rules?unit={EAST}&test_category=E0101&test_unit={PORT}&test_hour=20")
            assert "市水务局" in page.inner_text("#trial-department")
            page.screenshot(path=str(SHOTS / "board-rules.png"), full_page=True)

            page.goto(f"{server}/cases/ranking?tenant={EAST}&period={PERIOD}")
            page.wait_for_function("window.__rankingReady === true")
            bars = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('ranking-chart'))
                                        .getOption().series[0].data""")
            assert bars == [55.0, 100.0]
            assert page.inner_text(f"#ranking-table tr[data-department='{EAST_CG}'] td[data-key='composite']") == "55.0"
            page.screenshot(path=str(SHOTS / "board-ranking.png"), full_page=True)
            page.goto(f"{server}/cases/ranking?tenant={EAST}&period={PERIOD}&lang=en")
            assert "Department ranking" in page.inner_text("h1")
            page.screenshot(path=str(SHOTS / "board-ranking-en.png"), full_page=True)
            page.goto(f"{server}/cases/ranking?tenant={EAST}&period=2025Q1&lang=zh")
            assert "暂无案件数据" in page.inner_text("#ranking-empty")
            page.screenshot(path=str(SHOTS / "board-ranking-empty.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
