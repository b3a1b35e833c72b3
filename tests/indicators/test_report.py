"""Evaluation reports (评价报告): HTML, Excel and Word must show the figures worked out by hand below."""

from __future__ import annotations

import copy
import json
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.oxml.ns import qn
from openpyxl import load_workbook

from chengyun.core.errors import InvalidInput
from chengyun.indicators.report import FORMATS, render
from tests.conftest import CHROMIUM_ARGS

FIXTURE = Path(__file__).parent / "fixtures" / "run_view.json"
CHROMIUM = Path(os.environ.get("CHENGYUN_TEST_CHROMIUM") or "/usr/bin/chromium")  # .ci/run sets the variable

# Worked by hand from the fixture's pack (scale 100, no_data: zero); share × the leaf's points.
HAND_LEAVES = {
    "L1P1-A1": 0.84 * 8,  # 网上可办率 0.92, linear 0.5 → 1.0: (0.92 − 0.5) / 0.5 = 0.84 of 8 = 6.72
    "L1P1-A2": 0.9 * 6,  # 一站式办理率 (manual) 0.81, target 0.9: 0.9 of 6 = 5.40
    "L1P1-A3": 0.625 * 6,  # 万人活跃用户数 1250, target 2000: 0.625 of 6 = 3.75
    "L1P2-A1": 0.675 * 12,  # 按时办结率 0.87, linear 0.6 → 1.0: 0.675 of 12 = 8.10
    "L1P2-A2": 0.8 * 8,  # 平均办结时长 30.5 h, band max 48 → 0.8 of 8 = 6.40
    "L2-A1": 0.72 * 14,  # 数据开放率 0.36, target 0.5: 0.72 of 14 = 10.08
    "L2-A2": 0.0,  # 共享平均响应天数: no data, policy zero
    "L2-A3": 0.7 * 10.5,  # 数据质量得分 88, linear 60 → 100: 0.7 of 10.5 = 7.35
    "L3-A1": 0.55 * 25,  # 平均处置时长 6.5 h, linear 12 → 2: 0.55 of 25 = 13.75
    "L3-D1": -3.0,  # 安全事件 3, deduction 1 point each, at most 5
}
HAND_L1 = {"L1": "30.37", "L2": "17.43", "L3": "10.75"}  # 6.72+5.40+3.75+8.10+6.40; 10.08+0+7.35; 13.75−3
HAND_TOTAL = "58.55"  # 30.37 + 17.43 + 10.75
HAND_DELTA = "2.45"  # 58.55 − 56.10 (2025Q3 in the trend)
HAND_STAGE = "起步期"  # 55 ≤ 58.55 < 70
HAND_RADAR = [75.9, 49.8, 43.0]  # 30.37/40, 17.43/35, 10.75/25 as percent


@pytest.fixture
def view() -> dict[str, Any]:
    """The hand-made run view, fresh for each test."""
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def first_run(view: dict[str, Any]) -> dict[str, Any]:
    """The same view as if it were the first evaluation: no previous period, no deltas."""
    v = copy.deepcopy(view)
    v["trend"] = v["trend"][-1:]
    for n in v["nodes"]:
        n["delta"] = None
    return v


def test_fixture_agrees_with_the_hand_figures(view: dict[str, Any]) -> None:
    scores = {n["id"]: n["score"] for n in view["nodes"]}
    for node_id, expected in HAND_LEAVES.items():
        assert scores[node_id] == pytest.approx(expected), node_id
    for node_id, expected in HAND_L1.items():
        assert f"{scores[node_id]:.2f}" == expected
    assert f"{sum(HAND_LEAVES.values()):.2f}" == HAND_TOTAL
    assert f"{view['run']['total']:.2f}" == HAND_TOTAL


def test_unknown_format_names_the_allowed_ones(view: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        render(view, "pdf", tmp_path / "r.pdf")
    assert "html, xlsx, docx" in err.value.message
    assert set(FORMATS) == {"html", "xlsx", "docx"}


def test_render_into_a_folder_names_the_file_after_the_run(view: dict[str, Any], tmp_path: Path) -> None:
    path = render(view, "html", tmp_path, tz="Asia/Shanghai")
    assert path == tmp_path / "ev-2025Q4-demo-7f3a2c.html"
    assert path.exists()


# ---- HTML -------------------------------------------------------------------------------------------------------


def html_of(view: dict[str, Any], tmp_path: Path) -> str:
    """Render HTML and return its text."""
    return render(view, "html", tmp_path / "report.html", tz="Asia/Shanghai").read_text(encoding="utf-8")


def test_html_is_self_contained(view: dict[str, Any], tmp_path: Path) -> None:
    page = html_of(view, tmp_path)
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"\b(src|href)\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"@import|url\(\s*[\"']?(https?:)?//", page, re.I)
    assert "echarts" in page and len(page) > 500_000  # the library itself is inline


def test_html_shows_the_hand_figures(view: dict[str, Any], tmp_path: Path) -> None:
    page = html_of(view, tmp_path)
    assert f'<span id="total-score">{HAND_TOTAL}</span>' in page
    assert "2025-10-01 至 2025-12-31" in page  # the stored end (2026-01-01) is exclusive
    assert f"▲ +{HAND_DELTA}" in page
    assert HAND_STAGE in page and "Starting" in page
    for node_id, score in HAND_L1.items():
        row = re.search(rf'<tr [^>]*id="node-{node_id}">(.*?)</tr>', page, re.S)
        assert row and f"{score} / " in row.group(1), node_id
    leaf = re.search(r'<tr [^>]*id="node-L1P1-A1">(.*?)</tr>', page, re.S)
    assert leaf and "92.0%" in leaf.group(1) and "6.72 / 8.00" in leaf.group(1)
    for chart in ("chart-radar", "chart-bars", "chart-trend"):
        assert f'id="{chart}"' in page
    assert "window.__chartsReady = true" in page


def test_html_sections(view: dict[str, Any], tmp_path: Path) -> None:
    page = html_of(view, tmp_path)
    no_data = page[page.index('id="no-data"') : page.index('id="provenance"')]
    assert "L2-A2" in no_data and "计零分" in no_data and "失去满分 10.50 分" in no_data
    provenance = page[page.index('id="provenance"') : page.index('id="evidence"')]
    for label in ("原文照录", "公开报道", "推断重构", "实践做法"):
        assert label in provenance
    assert "尚未得到官方确认" in provenance and "出处未经官方文件确认" in provenance
    manual = page[page.index('id="evidence-L1P1-A2"') : page.index('id="evidence-L1P1-A3"')]
    assert "《2025年第四季度政务服务统计报表》" in manual and "zhang.wei" in manual
    assert "2026-01-05 09:12" in manual  # 01:12 UTC shown in Asia/Shanghai
    per_capita = page[page.index('id="evidence-L1P1-A3"') : page.index('id="evidence-L1P2-A1"')]
    assert "2,300,000" in per_capita and "287,500" in per_capita and "portal_usage: 3,412,087" in per_capita


def test_html_escapes_names(view: dict[str, Any], tmp_path: Path) -> None:
    view["nodes"][0]["name"] = "<script>alert(1)</script>"
    page = html_of(view, tmp_path)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_html_explains_reweighting(view: dict[str, Any], tmp_path: Path) -> None:
    view["run"]["no_data_policy"] = "reweight"
    page = html_of(view, tmp_path)
    no_data = page[page.index('id="no-data"') : page.index('id="provenance"')]
    assert "权重再分配" in no_data and "数据开放率、数据质量得分" in no_data and "计零分" not in no_data


@pytest.mark.browser
def test_html_charts_draw_in_chromium(view: dict[str, Any], tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    path = render(view, "html", tmp_path / "report.html", tz="Asia/Shanghai")
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda req: requests.append(req.url))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(path.as_uri())
            page.wait_for_function("window.__chartsReady === true", timeout=30_000)
            # The screenshot comes first: what is checked below is what it shows.
            page.screenshot(path="/tmp/report.png", full_page=True)
            drawn = {
                c: page.evaluate(PAINTED_PIXELS, c) for c in ("chart-radar", "chart-bars", "chart-trend")
            }
            radar = page.evaluate(
                "echarts.getInstanceByDom(document.getElementById('chart-radar'))"
                ".getOption().series[0].data[0].value"
            )
            total = page.inner_text("#total-score")
        finally:
            browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:", "blob:"))] == []
    for chart, canvas in drawn.items():
        assert canvas is not None, f"{chart} has no canvas"
        assert canvas["w"] > 0 and canvas["h"] > 0, chart
        assert canvas["painted"] > 5000, f"{chart} looks empty: {canvas}"
        assert canvas["css"] == canvas["box"], f"{chart} does not fill its container: {canvas}"
    assert radar == HAND_RADAR
    assert total == HAND_TOTAL


# How many pixels of a chart's canvas are not transparent (an initialised but empty chart paints none).
PAINTED_PIXELS = """(id) => {
  const c = document.querySelector('#' + id + ' canvas');
  if (!c) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) painted++; }
  return {w: c.width, h: c.height, painted: painted, css: c.clientWidth, box: document.getElementById(id).clientWidth};
}"""


def _browser_or_skip() -> Any:
    """Playwright's entry point, or a skip (a failure under CI=true) when the browser cannot run."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"Debian's Chromium is not at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = problem or "playwright is not installed (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(problem)
    return sync_playwright


# ---- Excel ------------------------------------------------------------------------------------------------------


def test_xlsx_sheets_and_figures(view: dict[str, Any], tmp_path: Path) -> None:
    wb = load_workbook(render(view, "xlsx", tmp_path / "report.xlsx", tz="Asia/Shanghai"))
    assert wb.sheetnames == [
        "汇总 Summary",
        "一级指标 Level 1",
        "二级指标 Level 2",
        "三级指标 Level 3",
        "证据 Evidence",
        "趋势 Trend",
    ]
    summary = {row[0]: row[1] for row in wb["汇总 Summary"].iter_rows(values_only=True) if row[0]}
    assert f"{summary['总分 Total']:.2f}" == HAND_TOTAL
    assert f"{summary['较上期变化 Change vs previous']:.2f}" == HAND_DELTA
    assert summary["发展阶段 Stage"] == f"{HAND_STAGE} Starting"
    assert summary["运行编号 Run id"] == "ev-2025Q4-demo-7f3a2c"

    level1 = wb["一级指标 Level 1"]
    assert level1.freeze_panes == "A2"
    header = [c.value for c in level1[1]]
    col = {name: header.index(name) for name in header}
    rows = [r for r in level1.iter_rows(min_row=2, values_only=True)]
    assert {r[0]: f"{r[col['得分 Score']]:.2f}" for r in rows if r[0]} == HAND_L1
    assert rows[-1][1] == "合计 Total" and f"{rows[-1][col['得分 Score']]:.2f}" == HAND_TOTAL

    leaves = wb["三级指标 Level 3"]
    leaf = next(r for r in leaves.iter_rows(min_row=2) if r[0].value == "L1P1-A1")
    assert leaf[col["数值 Value"]].value == 0.92 and leaf[col["数值 Value"]].number_format == "0.0%"
    assert f"{leaf[col['得分 Score']].value:.2f}" == "6.72"
    hours = next(r for r in leaves.iter_rows(min_row=2) if r[0].value == "L1P2-A2")
    assert hours[col["数值 Value"]].number_format == '#,##0.0" 小时"'


def test_xlsx_evidence_and_trend(view: dict[str, Any], tmp_path: Path) -> None:
    wb = load_workbook(render(view, "xlsx", tmp_path / "report.xlsx", tz="Asia/Shanghai"))
    evidence = list(wb["证据 Evidence"].iter_rows(values_only=True))
    header = evidence[0]
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in evidence[1:]}
    assert len(by_id) == len(HAND_LEAVES)
    online = by_id["L1P1-A1"]
    assert online["组成 part: online"] == 1196 and online["组成 part: n"] == 1300
    manual = by_id["L1P1-A2"]
    assert manual["来源文件 Source document"] == "示范市政务服务管理局《2025年第四季度政务服务统计报表》"
    assert manual["填报人 Entered by"] == "zhang.wei"

    trend = list(wb["趋势 Trend"].iter_rows(values_only=True))
    assert [r[0] for r in trend[1:]] == ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    assert f"{trend[-1][1]:.2f}" == HAND_TOTAL
    assert len(wb["趋势 Trend"]._charts) == 1


# ---- Word -------------------------------------------------------------------------------------------------------


def test_docx_summary_and_tables(view: dict[str, Any], tmp_path: Path) -> None:
    doc = Document(str(render(view, "docx", tmp_path / "report.docx", tz="Asia/Shanghai")))
    summary = next(p.text for p in doc.paragraphs if "总体得分" in p.text)
    assert f"总体得分 {HAND_TOTAL} 分" in summary
    assert HAND_STAGE in summary
    assert f"上升 {HAND_DELTA} 分" in summary

    level1 = doc.tables[0]
    assert len(level1.rows) == 1 + len(HAND_L1) + 1  # header, first-level rows, 合计
    body = {row.cells[0].text: row.cells[3].text for row in level1.rows[1:-1]}
    assert body == HAND_L1
    assert level1.rows[-1].cells[3].text == HAND_TOTAL

    data_resources = doc.tables[2]  # sections follow in pack order: 惠民服务, 数据资源, 安全保障
    assert [row.cells[0].text for row in data_resources.rows[1:]] == ["L2-A1", "L2-A2", "L2-A3"]
    text = "\n".join(p.text for p in doc.paragraphs)
    for heading in ("无数据指标及处理", "指标来源说明", "附录　计算证据"):
        assert heading in text
    cells = {c.text for t in doc.tables for row in t.rows for c in row.cells}
    assert "示范市政务服务管理局《2025年第四季度政务服务统计报表》" in cells


def test_docx_sets_an_east_asian_font(view: dict[str, Any], tmp_path: Path) -> None:
    doc = Document(str(render(view, "docx", tmp_path / "report.docx", tz="Asia/Shanghai")))
    for style in ("Normal", "Heading 1"):
        fonts = doc.styles[style].element.rPr.rFonts
        assert fonts.get(qn("w:eastAsia")).startswith("Noto "), style
        assert fonts.get(qn("w:eastAsiaTheme")) is None  # a theme font would override the named one


# ---- Every format ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_first_run_without_previous_period(view: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    path = render(first_run(view), fmt, tmp_path / f"report.{fmt}", tz="Asia/Shanghai")
    if fmt == "html":
        assert "无上期评价" in path.read_text(encoding="utf-8")
    elif fmt == "xlsx":
        summary = {
            r[0]: r[1] for r in load_workbook(path)["汇总 Summary"].iter_rows(values_only=True) if r[0]
        }
        assert summary["较上期变化 Change vs previous"] is None
    else:
        assert any("首次评价" in p.text for p in Document(str(path)).paragraphs)


@pytest.mark.parametrize("fmt", FORMATS)
def test_python_dates_render_like_iso_strings(view: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    v = copy.deepcopy(view)
    v["run"]["period_start"], v["run"]["period_end"] = date(2025, 10, 1), date(2026, 1, 1)
    v["run"]["started_at"] = datetime(2026, 1, 6, 2, 0)
    v["nodes"][3]["evidence"]["entered_at"] = datetime(2026, 1, 5, 1, 12)
    path = render(v, fmt, tmp_path / f"report.{fmt}", tz="Asia/Shanghai")
    assert path.stat().st_size > 0
    if fmt == "html":
        assert "2025-10-01 至 2025-12-31" in path.read_text(encoding="utf-8")
