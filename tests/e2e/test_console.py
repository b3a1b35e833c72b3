"""The console: pages rendered over the small city (fast), and the evaluation page driven in Chromium."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from chengyun.api.app import create_app
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from chengyun.indicators.service import list_runs
from tests.api.conftest import PACK, api_test_pack_registered, build_small_city
from tests.conftest import CHROMIUM_ARGS

SCREENSHOT = Path("/tmp/console.png")


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client over the small city and its run ids by period."""
    root = tmp_path_factory.mktemp("console")
    with api_test_pack_registered(root / "packs"):
        settings = build_small_city(root)
        with session_scope(settings) as s:
            runs = {r.period: r.id for r in list_runs(session=s, pack_id=PACK)}
        with TestClient(create_app(settings)) as client:
            yield client, runs


def test_home_redirects_to_evaluations(pages: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = pages
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/evaluations"


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
    assert '<p class="big" id="total">59.67' in html and "起步期" in html
    assert "▲ 28.56" in html  # 59.67 − 31.11, against 2024Q4
    assert 'id="chart-radar"' in html and 'id="chart-trend"' in html and 'id="chart-data"' in html
    assert "/static/vendor/echarts.min.js" in html and "cdn" not in html.lower()
    for fmt in ("html", "xlsx", "docx"):
        assert f"/api/v1/evaluations/{rid}/report.{fmt}" in html
    assert f"/evaluations/{rid}/nodes/C1-3" in html and "无数据" in html  # the no-data note links the node
    assert "Written for the API tests" in html  # provenance note


def test_node_page_shows_measure_evidence(pages: tuple[TestClient, dict[str, str]]) -> None:
    client, runs = pages
    html = client.get(f"/evaluations/{runs['2025Q1']}/nodes/C1-1").text
    assert "cases.ontime_closure_rate" in html and "75.0%" in html
    assert "<th>ontime</th>" in html and "<th>resolved</th>" in html
    assert "2025-01-01 00:00 — 2025-04-01 00:00" in html  # the window shown in Asia/Shanghai
    assert "duckdb" in html and "15.00" in html


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
    for path, name in (("/overview", "总览"), ("/infrastructure", "基础设施"), ("/contracts", "合同")):
        page = client.get(path).text
        assert name in page and "即将推出" in page


# ---- in Chromium ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(demo_workspace: Settings) -> Iterator[str]:
    """The app over the demo city, served by uvicorn in a background thread."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(demo_workspace), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


_INK = """c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; }
  return n / (c.width * c.height);
}"""


@pytest.mark.browser
def test_evaluation_page_in_chromium(live_server: str, demo_workspace: Settings, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with session_scope(demo_workspace) as s:
        run = list_runs(session=s, pack_id="chengyun-operations", tenant_id="linjiang")[1]  # a full quarter
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on(
                "console",
                lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
            )
            page.goto(f"{live_server}/evaluations")
            page.click(f"a[href='/evaluations/{run.id}']")
            page.wait_for_url(f"**/evaluations/{run.id}")
            page.wait_for_function("() => window.__chartsReady === true", timeout=20000)
            assert page.eval_on_selector("#chart-radar canvas", _INK) > 0.02, "the radar drew next to nothing"
            assert page.eval_on_selector("#chart-trend canvas", _INK) > 0.02, (
                "the trend chart drew next to nothing"
            )
            assert page.inner_text("#total").startswith(f"{run.total:.2f}")
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            page.click("#node-tree tr.leaf.row-ok a.node-link")  # drill down into the first scored leaf
            page.wait_for_selector("#evidence")
            evidence = page.inner_text("#evidence")
            assert ("度量" in evidence and "时间窗" in evidence) or "填报值" in evidence, evidence
            page.screenshot(path=str(SCREENSHOT.with_name("console-node.png")), full_page=True)

            page.go_back()
            page.click("#node-tree tr.group .fold")  # fold the first group: its rows hide
            assert page.locator("#node-tree tr.hidden").count() > 0

            page.click("a[href$='/report.html']")  # the self-contained report draws under its own CSP
            page.wait_for_function("() => window.__chartsReady === true", timeout=20000)
        finally:
            browser.close()
    assert not problems, problems
