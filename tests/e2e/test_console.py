"""The console: pages rendered over the small city (fast), and the evaluation page driven in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from chengyun.api.app import create_app
from chengyun.api.deps import SESSION_COOKIE
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from chengyun.indicators.service import list_runs
from tests.api.conftest import PACK, TENANT, api_test_pack_registered, build_small_city
from tests.conftest import CHROMIUM_ARGS
from tests.e2e.conftest import OPERATIONS, PASSWORD, add_accounts, client_for, login

SCREENSHOT = Path("/tmp/console.png")  # the browser tests leave screenshots beside it for a look


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client logged in as an administrator of the small city, and the city's run ids by period."""
    root = tmp_path_factory.mktemp("console")
    with api_test_pack_registered(root / "packs"):
        settings = build_small_city(root)
        add_accounts(settings, {"small-admin": ("admin", TENANT), "small-reader": ("supervisor", TENANT)})
        with session_scope(settings) as s:
            runs = {r.period: r.id for r in list_runs(session=s, pack_id=PACK)}
        with TestClient(create_app(settings)) as client:
            assert login(client, "small-admin").status_code == 303
            yield client, runs


def test_home_goes_to_the_overview_or_the_login(pages: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = pages
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/overview"
    anonymous = client_for(client)
    r = anonymous.get("/", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/login"


def test_evaluations_list_highlights_the_latest(pages: tuple[TestClient, dict[str, str]]) -> None:
    client, runs = pages
    html = client.get("/evaluations").text
    assert "接口测试指标" in html and "评价记录" in html
    latest = html.index('class="latest"')
    assert html.index(f"/evaluations/{runs['2025Q1']}") > latest > 0
    assert html.index(f"/evaluations/{runs['2025Q1']}") < html.index(f"/evaluations/{runs['2024Q4']}")


def test_evaluation_page(pages: tuple[TestClient, dict[str, str]]) -> None:
    client, runs = pages
    rid = runs["2025Q1"]
    html = client.get(f"/evaluations/{rid}").text
    assert '<p class="big" id="total">50.67' in html and "起步期" in html
    assert "▲ 19.56" in html  # 50.67 − 31.11, against 2024Q4
    assert 'id="chart-radar"' in html and 'id="chart-trend"' in html and 'id="chart-data"' in html
    assert "/static/vendor/echarts.min.js" in html and "cdn" not in html.lower()
    for fmt in ("html", "xlsx", "docx"):
        assert f"/api/v1/evaluations/{rid}/report.{fmt}" in html
    assert f"/evaluations/{rid}/nodes/C1-3" in html and "无数据" in html  # the no-data note links the node
    assert "Written for the API tests" in html  # provenance note


def test_node_page_shows_measure_evidence(pages: tuple[TestClient, dict[str, str]]) -> None:
    client, runs = pages
    html = client.get(f"/evaluations/{runs['2025Q1']}/nodes/C1-1").text
    assert "cases.ontime_closure_rate" in html and "60.0%" in html
    assert "<th>ontime</th>" in html and "<th>resolved</th>" in html and "<th>overdue_open</th>" in html
    assert "2025-01-01 00:00 — 2025-04-01 00:00" in html  # the window shown in Asia/Shanghai
    assert "duckdb" in html and "6.00" in html  # (0.6 − 0.5) / 0.5 × 30


def test_node_page_shows_manual_evidence(pages: tuple[TestClient, dict[str, str]]) -> None:
    client, runs = pages
    html = client.get(f"/evaluations/{runs['2025Q1']}/nodes/M1-1").text
    assert "人工填报" in html and "survey.pdf" in html and "公众满意度抽样调查" in html and "60.0%" in html


def test_english_switch_is_remembered(pages: tuple[TestClient, dict[str, str]]) -> None:
    client, runs = pages
    r = client.get(f"/evaluations/{runs['2025Q1']}?lang=en")
    assert "Total score" in r.text and "Starting" in r.text and r.cookies.get("lang") == "en"
    assert "Indicator scores" in client.get(f"/evaluations/{runs['2025Q1']}").text  # cookie kept
    assert "指标得分" in client.get(f"/evaluations/{runs['2025Q1']}?lang=zh").text


def test_packs_and_coming_sections(pages: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = pages
    client.cookies.set("lang", "zh")
    assert "接口测试指标" in client.get("/packs").text
    html = client.get(f"/packs/{PACK}").text
    assert "cases.ontime_closure_rate" in html and "倒扣分" in html and "统计局" in html
    for path, name in (("/portal", "统一门户"), ("/contracts", "合同")):
        page = client.get(path).text
        assert name in page and "即将推出" in page


def test_overview_without_operations_runs_is_honest(pages: tuple[TestClient, dict[str, str]]) -> None:
    """The small city was never evaluated with the operations pack: its object panels say so, never zeros."""
    client, runs = pages
    html = client.get("/overview?lang=zh").text
    assert "城市运行一张图" in html and "即将推出" not in html
    for key in ("infrastructure", "data", "systems", "portal", "security"):
        panel = _section(html, f"panel-{key}")
        assert "暂无评价数据" in panel and "0.00" not in panel, panel
    evaluation = _section(html, "panel-evaluation")
    assert "接口测试指标" in evaluation and "50.67" in evaluation and f"/evaluations/{runs['2025Q1']}" in evaluation
    assert "起步期" in evaluation and "▲ 19.56" in evaluation  # 50.67 − 31.11


# ---- logging in and out --------------------------------------------------------------------------------------


def test_wrong_password_shows_the_error(pages: tuple[TestClient, dict[str, str]]) -> None:
    anonymous = client_for(pages[0])
    r = login(anonymous, "small-reader", "not-the-password")
    assert r.status_code == 401 and SESSION_COOKIE not in r.cookies
    assert 'id="login-error"' in r.text and "用户名或密码错误" in r.text
    assert 'value="small-reader"' in r.text  # the name is kept, the password is not
    anonymous.cookies.set("lang", "en")
    r = login(anonymous, "small-reader", "still-not-it")
    assert r.status_code == 401 and "Wrong user name or password" in r.text and "用户名" not in r.text


def test_logout_ends_the_session(pages: tuple[TestClient, dict[str, str]]) -> None:
    client = client_for(pages[0])
    assert login(client, "small-reader").status_code == 303
    page = client.get("/overview")
    assert page.status_code == 200 and 'id="user-menu"' in page.text and "small-reader" in page.text
    old = client.cookies.get(SESSION_COOKIE)
    csrf = re.search(r'action="/logout".*?name="csrf" value="([^"]+)"', page.text, re.S)
    assert old and csrf
    r = client.post("/logout", data={"csrf": "wrong"}, follow_redirects=False)
    assert r.status_code == 403  # the form's CSRF token is checked
    r = client.post("/logout", data={"csrf": csrf.group(1)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    client.cookies.set(SESSION_COOKIE, old)  # the old cookie, replayed, no longer works
    r = client.get("/overview", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Foverview"


def test_login_returns_to_the_page_asked_for(pages: tuple[TestClient, dict[str, str]]) -> None:
    client, runs = client_for(pages[0]), pages[1]
    target = f"/evaluations/{runs['2025Q1']}?lang=zh"
    r = client.get(target, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next={quote(target, safe='')}"
    form = client.get(r.headers["location"])
    assert "登录后将打开" in form.text
    r = login(client, "small-reader", PASSWORD, next_path=target)
    assert r.status_code == 303 and r.headers["location"] == target
    assert '<p class="big" id="total">50.67' in client.get(target).text
    # a "next" pointing at another site is not followed
    other = client_for(pages[0])
    r = login(other, "small-reader", PASSWORD, next_path="//evil.example/steal")
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_login_page_is_bilingual(pages: tuple[TestClient, dict[str, str]]) -> None:
    anonymous = client_for(pages[0])
    zh = anonymous.get("/login?lang=zh").text
    assert "登录城运控制台" in zh and "用户名" in zh and "密码" in zh and ">English<" in zh
    en = anonymous.get("/login?lang=en").text
    assert "Log in to the chengyun console" in en and "User name" in en and "Password" in en and ">中文<" in en
    form = en[en.index('<h1>'):en.index("</form>")]
    assert not re.search(r"[\u4e00-\u9fff]", form), "the English login form has Chinese left in it"


def _section(html: str, element_id: str) -> str:
    """The HTML of the element with ``element_id`` up to the next section."""
    start = html.index(f'id="{element_id}"')
    end = html.find("<section", start)
    return html[start:end if end > 0 else None]


# ---- in Chromium ---------------------------------------------------------------------------------------------


_INK = """c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; }
  return n / (c.width * c.height);
}"""
_RADAR = """() => {
  const chart = echarts.getInstanceByDom(document.getElementById('chart-radar'));
  const series = chart.getOption().series[0];
  return {type: series.type, points: series.data[0].value.length};
}"""


class Watch:
    """Console errors, page errors and failed static files of a page (CSP violations arrive as console errors)."""

    def __init__(self, page: object) -> None:
        self.problems: list[str] = []
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))  # type: ignore[attr-defined]
        page.on("console", self._console)  # type: ignore[attr-defined]
        page.on("response", self._response)  # type: ignore[attr-defined]

    def _console(self, m: object) -> None:
        text, kind = m.text, m.type  # type: ignore[attr-defined]
        # a page answered with 4xx on purpose (a refused run, a wrong password) logs this; files are checked below
        if kind == "error" and not text.startswith("Failed to load resource: the server responded with a status of 4"):
            self.problems.append(f"console {kind}: {text}")

    def _response(self, r: object) -> None:
        url, status = r.url, r.status  # type: ignore[attr-defined]
        if "/static/" in url and status >= 400:
            self.problems.append(f"{status} for {url}")


def browser_login(page: object, base: str, name: str) -> None:
    """Log in through the form as a person would."""
    page.goto(f"{base}/login?lang=zh")  # type: ignore[attr-defined]
    page.fill("#username", name)  # type: ignore[attr-defined]
    page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    page.click("#login-submit")  # type: ignore[attr-defined]
    page.wait_for_url("**/overview")  # type: ignore[attr-defined]


@pytest.mark.browser
def test_console_in_chromium(live_server: str, console_city: Settings, chromium: str) -> None:
    """Log in, see the overview, open an evaluation (radar drawn), drill into a measure, switch to English."""
    from playwright.sync_api import sync_playwright

    with session_scope(console_city) as s:
        run = list_runs(session=s, pack_id=OPERATIONS, tenant_id="linjiang")[1]  # a full quarter
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            watch = Watch(page)
            browser_login(page, live_server, "e2e-admin")
            page.wait_for_function("() => window.__chartsReady === true", timeout=20000)
            assert page.locator("#panels section.panel").count() == 7  # five objects, alarms, evaluation
            assert "江城区" in page.inner_text("#district-table")
            assert page.eval_on_selector("#chart-districts canvas", _INK) > 0.01, "the district bars drew nothing"
            page.screenshot(path=str(SCREENSHOT.with_name("console-overview.png")), full_page=True)

            page.click("#main-nav a[data-key='evaluations']")
            page.click(f"a[href='/evaluations/{run.id}']")
            page.wait_for_url(f"**/evaluations/{run.id}")
            page.wait_for_function("() => window.__chartsReady === true", timeout=20000)
            assert page.evaluate(_RADAR) == {"type": "radar", "points": 7}  # the seven first-level nodes
            assert page.eval_on_selector("#chart-radar canvas", _INK) > 0.02, "the radar drew next to nothing"
            assert page.eval_on_selector("#chart-trend canvas", _INK) > 0.02, "the trend drew next to nothing"
            assert page.inner_text("#total").startswith(f"{run.total:.2f}")
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            page.click("#node-tree tr[data-id='L3P1-A2'] a.node-link")  # 按时办结率, a measure
            page.wait_for_selector("#evidence")
            evidence = page.inner_text("#evidence")
            assert "cases.ontime_closure_rate" in evidence and "按时办结率" in evidence
            assert "读取行数" in evidence and re.search(r"cases: [\d,]+\b", evidence), evidence
            assert "时间窗" in evidence and "2026-07-01 00:00 — 2026-10-01 00:00" in evidence
            page.screenshot(path=str(SCREENSHOT.with_name("console-node.png")), full_page=True)

            page.click("#lang-switch")
            page.wait_for_selector("text=Evidence")
            evidence = page.inner_text("#evidence")
            assert "Measure" in evidence and "Rows read" in evidence and "Window" in evidence
            assert "On-time closure rate" in page.inner_text("h1")
            page.goto(f"{live_server}/overview")  # the choice is remembered
            assert "City operations overview" in page.inner_text("h1")
            assert "Infrastructure" in page.inner_text("#panel-infrastructure")
            assert page.inner_text("#main-nav").split() == [
                "Overview", "Infrastructure", "Data", "resources", "Information", "systems", "Service", "portal",
                "Security", "Evaluation", "Contracts"]

            page.goto(f"{live_server}/evaluations/{run.id}")
            page.click("#node-tree tr.group .fold")  # fold the first group: its rows hide
            assert page.locator("#node-tree tr.hidden").count() > 0
            page.click("a[href$='/report.html']")  # the self-contained report draws under its own CSP
            page.wait_for_function("() => window.__chartsReady === true", timeout=20000)
        finally:
            browser.close()
    assert not watch.problems, watch.problems


@pytest.mark.browser
def test_department_user_in_chromium(live_server: str, console_city: Settings, chromium: str) -> None:
    """A department user of 江城区 sees its own district and is refused a run of another district."""
    from playwright.sync_api import sync_playwright

    with session_scope(console_city) as s:
        other = list_runs(session=s, pack_id=OPERATIONS, tenant_id="linjiang.d02")[0]
        city = list_runs(session=s, pack_id=OPERATIONS, tenant_id="linjiang")[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            watch = Watch(page)
            browser_login(page, live_server, "e2e-dept")
            page.wait_for_function("() => window.__chartsReady === true", timeout=20000)
            assert "江城区" in page.inner_text("#overview-scope")
            options = page.eval_on_selector_all("#unit-select option", "os => os.map(o => o.value)")
            assert options[0] == "linjiang.d01" and all(o.startswith("linjiang.d01") for o in options)
            assert page.locator("#district-table tbody tr").all_inner_texts()[0].startswith("江城区")
            assert page.locator("#district-table tbody tr").count() == 1  # 江城区 only
            for refused in (other, city):
                response = page.goto(f"{live_server}/evaluations/{refused.id}")
                assert response is not None and response.status == 404
                assert "找不到" in page.inner_text("h1") and str(refused.total) not in page.content()
                assert "其他区县" in page.inner_text("main")
            page.screenshot(path=str(SCREENSHOT.with_name("console-refused.png")), full_page=True)
        finally:
            browser.close()
    assert not watch.problems, watch.problems
