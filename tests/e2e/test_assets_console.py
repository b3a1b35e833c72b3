"""The infrastructure console (基础设施): the asset registry with its map (/assets), one asset with its dependencies,
impact and telemetry charts (/assets/{id}), availability per type and department (/assets/availability), the
quarantine (/assets/quarantine) and the overview's panel — through their pages, and one round in Chromium.

The city and its assets are the API tests' (``tests/assets/test_asset_api.py``), with a unit without assets
(北区) and readings of ``cam-1`` relative to now: ``power`` once a minute for 3,000 minutes from a 10-minute
boundary three days ago (over 2,000: the 7-day chart buckets it by 10 minutes, 300 buckets), and ``voltage``
three times in the last two hours (drawn as they are). The lake also holds the availability tests' registry export
and readings (``tests/assets/test_availability.py``) for two days of October 2026.
"""

from __future__ import annotations

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

from chengyun.api.app import create_app
from chengyun.core.db import session_scope, utcnow
from chengyun.core.periods import quarter_of
from chengyun.core.settings import Settings
from chengyun.lake.writer import write
from chengyun.tenancy.service import add_unit
from tests.api.conftest import PASSWORD
from tests.assets.conftest import CITY, EAST
from tests.assets.test_asset_api import build_asset_city
from tests.assets.test_availability import PERIOD, write_uptime_lake
from tests.conftest import CHROMIUM_ARGS
from tests.e2e.conftest import HTML, _free_port, login

SHOTS = Path("/tmp")
NORTH = "lj-north"  # a district without assets
POWER_READINGS, POWER_BUCKETS = 3000, 300  # one a minute; 10-minute buckets on the 7-day chart
_MAP = re.compile(r'<script type="application/json" id="asset-map-data">(.*?)</script>', re.S)
_CHART = re.compile(r'<script type="application/json" id="telemetry-data">(.*?)</script>', re.S)
_ROW = re.compile(r'<tr class="asset-row" data-asset="([^"]+)">(.*?)</tr>', re.S)
_UPTIME_ROW = re.compile(r'<tr class="availability-row" data-key="([^"]*)">(.*?)</tr>', re.S)


@dataclass
class Infra:
    settings: Settings
    app: FastAPI
    power_start: datetime


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Iterator[Infra]:  # noqa: F811
    settings = build_asset_city(tmp_path_factory.mktemp("assets-console"))
    with session_scope(settings) as s:
        add_unit(session=s, unit_id=NORTH, name="北区", parent_id=CITY)
    now = utcnow().replace(microsecond=0)
    base = now - timedelta(days=3)
    start = base - timedelta(seconds=(base - datetime(1970, 1, 1)).total_seconds() % 600)  # on a 10-minute boundary
    rows = [("cam-1", "power", start + timedelta(minutes=k), float(k % 7)) for k in range(POWER_READINGS)]
    rows += [("cam-1", "voltage", now - timedelta(minutes=m), v) for m, v in ((120, 220.0), (60, 221.5), (30, 219.0))]
    write(settings.lake, "telemetry", {"tenant": [EAST] * len(rows), "asset_id": [r[0] for r in rows],
                                       "metric": [r[1] for r in rows], "ts": [r[2] for r in rows],
                                       "value": [r[3] for r in rows]}, durable=False)
    write_uptime_lake(settings.lake, settings)
    with TestClient(create_app(settings)) as client:
        yield Infra(settings, client.app, start)  # type: ignore[arg-type]


def as_user(infra: Infra, name: str) -> TestClient:
    client = TestClient(infra.app, headers=HTML)
    assert login(client, name, PASSWORD).status_code == 303
    return client


def block(page: str, pattern: re.Pattern[str]) -> Any:
    found = pattern.search(page)
    assert found, f"no {pattern.pattern[:60]} on the page"
    return json.loads(found.group(1))


def section(page: str, marker: str, end: str = "</section>") -> str:
    part = page[page.index(marker):]
    return part[:part.index(end)]


# ---- the registry ----------------------------------------------------------------------------------------------


def test_list_shows_the_callers_assets_with_badges_counts_and_map(infra: Infra) -> None:
    page = as_user(infra, "op-east").get("/assets").text
    rows = dict(_ROW.findall(page))
    assert list(rows) == ["app-1", "cam-1", "cam-2", "gw-1", "srv-1", "svc-1"]  # not the west's, not the city's
    badge = {k: re.search(r'class="asset-status status-(\w+)">([^<]+)<', v).groups() for k, v in rows.items()}  # type: ignore[union-attr]
    assert badge["cam-1"] == ("online", "在线") and badge["cam-2"] == ("offline", "离线") and badge["app-1"] == ("unknown", "未知")
    assert "2026-11-20 08:00" in rows["cam-1"] and "东区城管局" in rows["cam-1"] and "摄像机" in rows["cam-1"]
    counts = {k: v for k, v in re.findall(r'id="count-(\w+)">.*?<span class="count-value">(\d+)</span>', page, re.S)}
    assert counts == {"online": "1", "offline": "1", "unknown": "4", "retired": "0"}
    data = block(page, _MAP)
    assert {p["id"]: (p["lon"], p["lat"], p["status"]) for p in data["points"]} == {
        "cam-1": (120.17, 30.25, "online"), "cam-2": (120.21, 30.27, "offline"), "gw-1": (120.19, 30.26, "unknown")}
    note = section(page, 'id="asset-map-note"', "</span>\n")
    assert "3 个有位置" in note and "3 个无位置" in note
    assert 'src="/static/vendor/echarts.min.js"' in page and "<script>" not in page  # no inline script


def test_list_filters(infra: Infra) -> None:
    client = as_user(infra, "op-east")
    assert [k for k, _ in _ROW.findall(client.get("/assets", params={"kind": "camera"}).text)] == ["cam-1", "cam-2"]
    assert [k for k, _ in _ROW.findall(client.get("/assets", params={"kind": "compute"}).text)] == ["srv-1"]
    offline = client.get("/assets", params={"status": "offline"}).text
    assert [k for k, _ in _ROW.findall(offline)] == ["cam-2"] and [p["id"] for p in block(offline, _MAP)["points"]] == ["cam-2"]
    assert [k for k, _ in _ROW.findall(client.get("/assets", params={"q": "网关"}).text)] == ["gw-1"]
    assert [k for k, _ in _ROW.findall(client.get("/assets", params={"department": "east-cg"}).text)] == ["cam-1", "cam-2"]
    assert client.get("/assets", params={"kind": "toaster"}).status_code == 422


# ---- one asset ----------------------------------------------------------------------------------------------------


def test_asset_page_card_dependencies_and_impact(infra: Infra) -> None:
    client = as_user(infra, "op-east")
    app = client.get("/assets/app-1").text
    deps, users = section(app, 'id="asset-dependencies"', "</ul>"), section(app, 'id="asset-dependants"', "</ul>")
    assert 'href="/assets/srv-1"' in deps and "东区服务器" in deps and "运行于" in deps
    assert 'href="/assets/svc-1"' in users and "占道审批" in users and "调用" in users
    impact = section(app, 'id="asset-impact"')
    assert "波及 1 个设备或系统，其中应用与服务 1 个" in impact and "app-1 → svc-1" in impact
    assert "infra.online_rate" in impact
    cam = client.get("/assets/cam-1").text
    card = section(cam, 'id="asset-card"')
    for text in ("东区城管局", "海康运维", "一般", "1 分钟", "2025-03-01 08:00", "2026-11-20 08:00"):
        assert text in card, text
    assert "东区网关" in section(cam, 'id="asset-dependencies"', "</ul>") and 'id="asset-no-dependants"' in cam
    server = client.get("/assets/srv-1").text  # it runs on the city's cloud, which the district cannot open
    outside = section(server, 'id="asset-dependencies"', "</ul>")
    assert "city-cloud" in outside and "不在你的单位内" in outside and 'href="/assets/city-cloud"' not in outside
    assert client.get("/assets/city-cloud").status_code == 404 and client.get("/assets/west-cam").status_code == 404


def test_asset_page_telemetry_chart_data(infra: Infra) -> None:
    client = as_user(infra, "op-east")
    chart = {s["metric"]: s for s in block(client.get("/assets/cam-1").text, _CHART)["series"]}
    power, voltage = chart["power"], chart["voltage"]
    assert (power["bucketed"], power["every_s"], power["readings"], len(power["points"])) == (
        True, 600, POWER_READINGS, POWER_BUCKETS)
    # the first bucket holds minutes 0–9: values 0..6, 0..2 → min 0, max 6, mean (21 + 3) / 10
    first = power["points"][0]
    assert first[1:] == [2.4, 0.0, 6.0]
    assert first[0] == int((infra.power_start + timedelta(hours=8) - datetime(1970, 1, 1)).total_seconds() * 1000)
    assert (voltage["bucketed"], [p[1] for p in voltage["points"]]) == (False, [220.0, 221.5, 219.0])
    assert [p[2] for p in voltage["points"]] == [None, None, None]
    day = block(client.get("/assets/cam-1", params={"period": "24h"}).text, _CHART)
    assert "voltage" in {s["metric"] for s in day["series"]}
    assert client.get("/assets/cam-1", params={"period": "1y"}).status_code == 422
    empty = client.get("/assets/gw-1").text
    assert 'id="telemetry-empty"' in empty and "该时间范围内没有读数" in empty


# ---- availability ----------------------------------------------------------------------------------------------


def uptime_table(page: str, key: str) -> dict[str, tuple[str, ...]]:
    """A table's rows: key → (label, devices, bar width, availability, completeness, outages, MTTR)."""
    table = section(page, f'id="availability-{key}-table"', "</table>")
    out = {}
    for k, row in _UPTIME_ROW.findall(table):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        width = re.search(r'style="width: ([\d.]+)%"', row)
        out[k] = (cells[0], cells[1], width.group(1) if width else "", cells[2], *cells[4:])
    return out


def test_availability_page_by_type_and_department(infra: Infra) -> None:
    page = as_user(infra, "admin").get("/assets/availability", params={"tenant": CITY, "period": PERIOD}).text
    # by hand (tests/assets/test_availability.py): cameras 27 of 36 buckets, 94 of 168 readings, one 8 h outage;
    # sensors 58 of 72, 476 of 600, outages of 10 h 10 min and 5 h
    assert uptime_table(page, "type") == {
        "camera": ("摄像机", "2", "75.0", "75.0%", "56.0%", "1", "8.0 小时"),
        "sensor": ("传感器", "2", "80.6", "80.6%", "79.3%", "2", "7.6 小时")}
    assert list(uptime_table(page, "department").items()) == [
        ("west-cg", ("西区城管局", "2", "75.0", "75.0%", "56.0%", "1", "8.0 小时")),
        ("east-cg", ("东区城管局", "1", "79.2", "79.2%", "79.2%", "1", "10.2 小时")),
        ("water", ("市水务局", "1", "83.3", "83.3%", "83.3%", "1", "5.0 小时"))]
    totals = dict(re.findall(r'id="total-(\w+)"><span class="count-label">[^<]*</span><span class="count-value">([^<]+)<',
                             page))
    assert totals == {"availability": "78.7%", "completeness": "75.3%", "outages": "3", "mttr_hours": "7.7 小时"}
    assert "4 台应上报设备" in section(page, 'id="availability-scope"', "</p>")
    assert "另含 8 条" in section(page, 'id="availability-note"', "</p>")
    assert 'id="tab-availability"' in page and 'class="active" id="tab-availability"' in page
    assert 'href="/assets?department=west-cg"' in page and 'href="/assets?kind=camera"' in page


def test_availability_page_holds_the_callers_units(infra: Infra) -> None:
    east = as_user(infra, "op-east")
    page = east.get("/assets/availability", params={"period": PERIOD}).text  # the east by default
    assert list(uptime_table(page, "type")) == ["sensor"] and list(uptime_table(page, "department")) == [
        "east-cg", "water"]
    assert east.get("/assets/availability", params={"tenant": "lj-west"}).status_code == 404
    english = east.get("/assets/availability", params={"period": PERIOD, "lang": "en"}).text
    assert uptime_table(english, "type")["sensor"][0] == "sensor" and "7.6 h" in english
    north = as_user(infra, "admin").get("/assets/availability", params={"tenant": NORTH, "period": PERIOD}).text
    assert 'id="availability-empty"' in north and "暂无可用率数据" in north


# ---- quarantine and overview ----------------------------------------------------------------------------------


def test_quarantine_page(infra: Infra) -> None:
    admin = as_user(infra, "admin").get("/assets/quarantine").text
    reasons = re.findall(r'<td class="quarantine-reason">([^<]*)</td>', admin)
    assert reasons == ["line 1: not JSON", "西区: no values", "values.t: NaN is not a reading"]
    east = as_user(infra, "op-east").get("/assets/quarantine").text
    table = section(east, 'id="quarantine-table"', "</table>")
    assert re.findall(r'<td class="quarantine-reason">([^<]*)</td>', table) == ["values.t: NaN is not a reading"]
    assert "chengyun/lj-east/cam-1/telemetry" in table and "2026-11-25 10:00:00" in table
    assert '{&#34;values&#34;: {&#34;t&#34;: NaN}}\\n\\x00温度' in table and "共 230 字节" in table


def panel_numbers(page: str) -> dict[str, str]:
    panel = section(page, 'id="panel-infrastructure"')
    return dict(re.findall(r'id="panel-(online|offline|unknown|online-rate)"[^>]*><span class="case-num">([^<]+)</span>',
                           panel))


def test_overview_panel_counts_assets_by_status(infra: Infra) -> None:
    admin = as_user(infra, "admin")
    # the city: online cam-1, west-cam; offline cam-2; unknown the cloud, server, application, service, gateway
    assert panel_numbers(admin.get("/overview", params={"unit": CITY}).text) == {
        "online": "2", "offline": "1", "unknown": "5", "online-rate": "25.0%"}
    assert panel_numbers(admin.get("/overview", params={"unit": EAST}).text) == {
        "online": "1", "offline": "1", "unknown": "4", "online-rate": "16.7%"}
    north = admin.get("/overview", params={"unit": NORTH}).text
    assert "暂无设备" in section(north, 'id="panel-infrastructure"') and panel_numbers(north) == {}
    assert 'id="panel-availability"' not in north


def test_overview_panel_shows_this_quarters_availability(infra: Infra) -> None:
    panel = section(as_user(infra, "admin").get("/overview", params={"unit": CITY}).text, 'id="panel-infrastructure"')
    quarter = quarter_of(datetime.now(ZoneInfo("Asia/Shanghai")).date()).label
    assert f"可用率 · {quarter}（至今）" in panel and 'href="/assets/availability?tenant=lj"' in panel
    found = dict(re.findall(r'id="panel-(availability|completeness|outages|mttr)"><span class="case-num">([^<]+)<',
                            panel))
    assert set(found) == {"availability", "completeness", "outages", "mttr"}
    assert re.fullmatch(r"\d+\.\d%", found["availability"]) and re.fullmatch(r"\d+\.\d%", found["completeness"])


# ---- in Chromium ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(infra: Infra) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(infra.settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


CHART_OF = """(metric) => {
    const box = document.querySelector(`.metric-chart-card[data-metric="${metric}"] .metric-chart`);
    return echarts.getInstanceByDom(box).getOption().series.map(s => [s.id, s.data.length]);
}"""


@pytest.mark.browser
def test_assets_console_in_chromium(infra: Infra, server: str, chromium: str) -> None:
    """The map draws one point per positioned asset and a click opens it; the asset page draws its charts; the
    quarantine lists its items; the overview panel shows the counts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/login?lang=zh&next=/assets")
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_url("**/assets")
            page.wait_for_function("window.__assetMapReady === true")
            drawn = page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('asset-map'))
                                        .getOption().series.flatMap(s => s.data.map(d => d.id))""")
            assert sorted(drawn) == ["cam-1", "cam-2", "gw-1", "west-cam"]
            assert page.get_attribute("#main-nav a.active", "data-key") == "infrastructure"
            page.screenshot(path=str(SHOTS / "assets-list.png"), full_page=True)
            xy = page.evaluate("""(id) => {
                const chart = echarts.getInstanceByDom(document.getElementById('asset-map'));
                const series = chart.getOption().series;
                const i = series.findIndex(s => s.data.some(d => d.id === id));
                return chart.convertToPixel({seriesIndex: i}, series[i].data.find(d => d.id === id).value);
            }""", "cam-1")
            box = page.locator("#asset-map").bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
            page.wait_for_url("**/assets/cam-1")
            page.wait_for_function("window.__telemetryReady === true")
            assert page.evaluate(CHART_OF, "power") == [["value", POWER_BUCKETS], ["band-min", POWER_BUCKETS],
                                                        ["band", POWER_BUCKETS]]
            assert page.evaluate(CHART_OF, "voltage") == [["value", 3]]
            assert "东区网关" in page.inner_text("#asset-dependencies")
            page.screenshot(path=str(SHOTS / "assets-asset.png"), full_page=True)
            page.click("#period-picker a[data-period='24h']")
            page.wait_for_url("**/assets/cam-1?period=24h")
            assert page.inner_text("#period-picker a.active") == "24 小时"

            page.goto(f"{server}/assets/app-1")
            assert "占道审批" in page.inner_text("#asset-dependants") and "svc-1" in page.inner_text("#impact-table")
            page.screenshot(path=str(SHOTS / "assets-app.png"), full_page=True)

            page.goto(f"{server}/assets/availability?tenant={CITY}&period={PERIOD}")
            assert page.locator("#availability-type-table tbody tr").count() == 2
            bar = page.locator("#availability-department-table tr[data-key='west-cg'] .bar > div").bounding_box()
            track = page.locator("#availability-department-table tr[data-key='west-cg'] .bar").bounding_box()
            assert bar and track and bar["width"] == pytest.approx(0.75 * track["width"], abs=1)
            page.screenshot(path=str(SHOTS / "assets-availability.png"), full_page=True)

            page.goto(f"{server}/assets/quarantine")
            assert page.locator("#quarantine-table tbody tr").count() == 3
            assert "values.t: NaN is not a reading" in page.inner_text("#quarantine-table")
            page.screenshot(path=str(SHOTS / "assets-quarantine.png"), full_page=True)

            page.goto(f"{server}/overview?unit={CITY}")
            assert page.inner_text("#panel-online .case-num") == "2"
            assert page.inner_text("#panel-online-rate .case-num") == "25.0%"
            page.locator("#panel-infrastructure").screenshot(path=str(SHOTS / "assets-overview.png"))
            assert not errors, errors
        finally:
            browser.close()
