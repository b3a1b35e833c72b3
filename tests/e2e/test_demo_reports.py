"""Integration: the demo city evaluated for every pack and quarter, and its reports open."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook

import chengyun
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from chengyun.indicators.catalog import available_packs
from chengyun.indicators.service import list_runs
from tests.conftest import CHROMIUM_ARGS

BUILTIN = {"chengyun-operations", "cn-smartcity-2016", "cn-smartcity-2018"}
# every pack shipped in the package: the demo evaluates and reports each of them
SHIPPED = sorted(p.stem for p in (Path(chengyun.__file__).parent / "indicators" / "packs").glob("*.yaml"))


def test_every_pack_every_quarter(demo_workspace: Settings) -> None:
    with session_scope(demo_workspace) as s:
        runs = [r for r in list_runs(session=s, tenant_id="linjiang") if r.pack_id in BUILTIN]
        got = {(r.pack_id, r.period) for r in runs}
        totals = {(r.pack_id, r.period): r.total for r in runs}
    quarters = ["2025Q4", "2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    assert set(available_packs()) >= BUILTIN
    assert got == {(p, q) for p in BUILTIN for q in quarters}
    for pack in BUILTIN:
        series = [totals[(pack, q)] for q in quarters[:4]]
        assert all(t is not None and 0 < t <= 100 for t in series), (pack, series)
        assert series[-1] > series[0], f"{pack}: the demo city should improve over the year: {series}"


def test_reports_open(demo_workspace: Settings) -> None:
    folder = demo_workspace.workspace / "reports"
    for pack in BUILTIN:
        wb = load_workbook(folder / f"{pack}-2026Q4.xlsx")
        assert len(wb.sheetnames) >= 3
        doc = Document(str(folder / f"{pack}-2026Q4.docx"))
        assert len(doc.tables) >= 1
        html = (folder / f"{pack}-2026Q4.html").read_text(encoding="utf-8")
        assert "echarts" in html
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']https?:", html), "reports must work offline"


@pytest.mark.browser
def test_html_report_draws_charts(demo_workspace: Settings, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    path = demo_workspace.workspace / "reports" / "chengyun-operations-2026Q4.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_function("window.__chartsReady === true", timeout=15000)
        for chart in ("chart-radar", "chart-bars", "chart-trend"):
            size = page.eval_on_selector(f"#{chart} canvas", "c => c.width * c.height")
            assert size > 0, chart
        browser.close()
    assert not errors


def test_demo_prints_periods_trees_and_reports(demo_run: tuple[Settings, str]) -> None:
    settings, out = demo_run
    assert "评价周期 periods evaluated: 2025Q4, 2026Q1, 2026Q2, 2026Q3, 2026Q4 (to date)" in out
    for title in ("智慧城市长效运营评价", "新型智慧城市评价指标（2016年）", "新型智慧城市评价指标（2018年）"):
        assert title in out
    assert set(SHIPPED) >= BUILTIN
    assert out.count("总分 total") == len(SHIPPED) and "阶段" in out
    reports = sorted(p.name for p in (settings.workspace / "reports").iterdir())
    assert reports == sorted(f"{pack}-2026Q4.{ext}" for pack in SHIPPED for ext in ("docx", "html", "xlsx"))
    assert all(str(settings.workspace / "reports" / r) in out for r in reports)
