"""Availability per asset, kind and department (``assets/availability.py``) on a small hand-made lake, checked
against figures computed by hand, and the whole against the infra measures themselves.

The period is ``2026-10-01..2026-10-02`` in Asia/Shanghai: [P0, P0 + 48 h) with P0 = 2026-09-30 16:00 UTC, on
an hour and a two-hour boundary. Hours below are counted from P0.

====== ======= ========= ======== ================ ======================= ====================================
asset  unit    kind      owner    interval, metrics in service          readings
====== ======= ========= ======== ================ ======================= ====================================
s1     east    sensor    east-cg  600 s, 2         48 h                    every 10 min over h 0–24 and h 34–48
                                                                           (144 + 84 reports × 2 = 456); one
                                                                           gap 23:50 → 34:00 = 10 h 10 min
s2     east    sensor    water    3600 s, 1        24 h (installed h 24)   hourly at h 24–33 and 38–47 (20);
                                                                           one gap of 5 h
c1     west    camera    west-cg  300 s, 1         12 h (retired h 12)     every 5 min over h 0–6 (72)
west-  west    camera    west-cg  7200 s, 1        48 h                    every 2 h at k = 0–3 and 7–23 (21),
cam                                                                        k = 0 twice (22); one gap of 8 h
app1   east    app.      east-cg  none             —                       3 (not expected: in no group)
ghost  east    —         —        not registered   —                       5 (in no group)
far    (another city)                                                      10 (outside the units)
late   east    sensor    east-cg  installed after the period               —
====== ======= ========= ======== ================ ======================= ====================================

s1 has an older version in the lake owned by ``water``; the newest before the period's end (``east-cg``) counts.
Buckets are one hour, or the expected interval when longer (west-cam: two hours).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chengyun.analytics.engine import connect
from chengyun.analytics.runner import make_context, run_measures
from chengyun.api.app import create_app
from chengyun.assets.availability import breakdown, period_context
from chengyun.cli.main import app as cli
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.lake.sync import mark_exported
from chengyun.lake.writer import write
from tests.analytics.test_measures import _spark_ok
from tests.api.conftest import bearer, login
from tests.conftest import need

from .conftest import CITY, EAST, PORT, WEST
from .test_asset_api import build_asset_city

PERIOD = "2026-10-01..2026-10-02"
P0 = datetime(2026, 9, 30, 16)
H, MIN = timedelta(hours=1), timedelta(minutes=1)
UNITS = [CITY, EAST, PORT, WEST]


def _asset(tenant: str, asset_id: str, kind: str, dept: str | None, interval: int | None, metrics: int,
           installed: datetime, retired: datetime | None = None, version: datetime | None = None) -> dict[str, Any]:
    return {"tenant": tenant, "asset_id": asset_id, "asset_type": kind, "department_id": dept, "unit_id": tenant,
            "criticality": "medium", "expected_interval_s": interval, "metric_count": metrics,
            "installed_at": installed, "retired_at": retired, "version_at": version or installed}


ASSETS = [
    _asset(EAST, "s1", "sensor", "water", 600, 2, datetime(2026, 1, 1)),
    _asset(EAST, "s1", "sensor", "east-cg", 600, 2, datetime(2026, 1, 1), version=datetime(2026, 6, 1)),
    _asset(EAST, "s2", "sensor", "water", 3600, 1, P0 + 24 * H),
    _asset(WEST, "c1", "camera", "west-cg", 300, 1, datetime(2025, 1, 1), retired=P0 + 12 * H),
    _asset(WEST, "west-cam", "camera", "west-cg", 7200, 1, datetime(2025, 1, 1)),
    _asset(EAST, "app1", "application", "east-cg", None, 0, datetime(2025, 1, 1)),
    _asset("elsewhere", "far", "sensor", "east-cg", 3600, 1, datetime(2025, 1, 1)),
    _asset(EAST, "late", "sensor", "east-cg", 3600, 1, P0 + 72 * H),
]


def _readings() -> list[tuple[str, str, str, datetime]]:
    out = [(EAST, "s1", m, P0 - H) for m in ("pm25", "pm10")]  # before the period: not counted
    reports = [P0 + 10 * k * MIN for k in range(144)] + [P0 + 34 * H + 10 * k * MIN for k in range(84)]
    out += [(EAST, "s1", m, ts) for ts in reports for m in ("pm25", "pm10")]
    out += [(EAST, "s2", "level_m", P0 + (24 + h) * H) for h in [*range(10), *range(14, 24)]]
    out += [(WEST, "c1", "fps", P0 + 5 * k * MIN) for k in range(72)]
    out += [(WEST, "west-cam", "fps", P0 + 2 * k * H) for k in [0, *range(4), *range(7, 24)]]
    out += [(EAST, "app1", "cpu_pct", P0 + h * H) for h in (1, 2, 3)]
    out += [(EAST, "ghost", "pm25", P0 + h * H) for h in range(1, 6)]
    out += [("elsewhere", "far", "pm25", P0 + h * H) for h in range(10)]
    return out


def write_uptime_lake(lake: Path, settings: Settings | None = None) -> None:
    """The registry's export and the readings of the table above; with ``settings`` the lake's sync is told that
    these rows are the registry's export (the state DB's own assets would otherwise be exported beside them)."""
    write(lake, "assets", {c: [a[c] for a in ASSETS] for c in ASSETS[0]}, durable=False)
    rows = _readings()
    write(lake, "telemetry", {"tenant": [r[0] for r in rows], "asset_id": [r[1] for r in rows],
                              "metric": [r[2] for r in rows], "ts": [r[3] for r in rows],
                              "value": [1.0] * len(rows)}, durable=False)
    if settings is not None:
        mark_exported(settings)


# by hand: (assets, seen buckets, expected buckets, readings, expected readings, outages, outage hours)
S1 = (1, 24 + 14, 48, 288 + 168, 48 * 6 * 2, 1, 10 + 10 / 60)
S2 = (1, 20, 24, 20, 24, 1, 5.0)
C1 = (1, 6, 12, 72, 12 * 12, 0, 0.0)
WEST_CAM = (1, 21, 24, 22, 24, 1, 8.0)


def plus(*parts: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(sum(p[i] for p in parts) for i in range(7))


BY = {
    "asset": {"c1": C1, "s1": S1, "s2": S2, "west-cam": WEST_CAM},
    "type": {"camera": plus(C1, WEST_CAM), "sensor": plus(S1, S2)},
    "department": {"west-cg": plus(C1, WEST_CAM), "east-cg": S1, "water": S2},
}
ORDER = {  # worst availability first: c1 6/12, s1 38/48, s2 20/24, west-cam 21/24; camera 27/36, sensor 58/72
    "asset": ["c1", "s1", "s2", "west-cam"], "type": ["camera", "sensor"], "department": ["west-cg", "east-cg", "water"],
}
WHOLE = plus(S1, S2, C1, WEST_CAM)  # 4 assets, 85 of 108 buckets, 578 of 768 readings with the 8 of no group
OTHER = 3 + 5


def figures(parts: tuple[float, ...], received: float | None = None) -> dict[str, Any]:
    """What a row says, from the hand-counted parts."""
    assets, seen, buckets, readings, expected, outages, hours = parts
    got = readings if received is None else received
    return {"assets": assets, "availability": pytest.approx(seen / buckets), "seen_buckets": seen,
            "expected_buckets": pytest.approx(buckets), "completeness": pytest.approx(got / expected),
            "readings": got, "expected_readings": pytest.approx(expected), "outages": outages,
            "outage_hours": pytest.approx(hours), "mttr_hours": pytest.approx(hours / outages if outages else 0.0)}


def numbers(row: Any) -> dict[str, Any]:
    data = row if isinstance(row, dict) else row.model_dump()
    return {k: data[k] for k in ("assets", "availability", "seen_buckets", "expected_buckets", "completeness",
                                 "readings", "expected_readings", "outages", "outage_hours", "mttr_hours")}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = Settings(workspace=tmp_path_factory.mktemp("uptime") / "ws")
    write_uptime_lake(settings.lake)
    yield settings
    shutil.rmtree(settings.workspace, ignore_errors=True)


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine_name(request: pytest.FixtureRequest) -> str:
    if request.param == "spark":
        need(_spark_ok(), "pyspark or java is missing (pip install '.[spark]', Java 17)")
    return str(request.param)


def _breakdown(settings: Settings, by: str, now: datetime = datetime(2030, 1, 1), engine_name: str = "duckdb") -> Any:
    engine = connect(settings, engine_name)
    try:
        return breakdown(engine, period_context(engine, UNITS, parse_period(PERIOD), "Asia/Shanghai", now), by)
    finally:
        engine.close()


# ---- the breakdown -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", list(BY))
def test_groups_by_hand(lake: Settings, by: str, engine_name: str) -> None:
    total, groups, other = _breakdown(lake, by, engine_name=engine_name)
    assert [g.key for g in groups] == ORDER[by]
    for g in groups:
        assert numbers(g) == figures(BY[by][g.key]), g.key
    assert numbers(total) == figures(WHOLE, received=WHOLE[3] + OTHER) and other == OTHER


def test_the_whole_is_the_measures_value(lake: Settings) -> None:
    names = ["infra.device_availability", "infra.data_completeness", "infra.outage_mttr_hours"]
    engine = connect(lake, "duckdb")
    try:
        ctx = make_context(engine, UNITS, parse_period(PERIOD), "Asia/Shanghai", None)  # as an evaluation does
        measured = {k: v.value for k, v in run_measures(engine, names, ctx).items()}
    finally:
        engine.close()
    total = _breakdown(lake, "department")[0]
    assert (total.availability, total.completeness, total.mttr_hours) == (
        pytest.approx(measured[names[0]]), pytest.approx(measured[names[1]]), pytest.approx(measured[names[2]]))
    # and by hand: the application without an interval is not unavailable, the ghost's readings count as received
    assert measured[names[0]] == pytest.approx(85 / 108) and measured[names[1]] == pytest.approx(578 / 768)
    assert measured[names[2]] == pytest.approx((10 + 1 / 6 + 5 + 8) / 3)


def test_a_running_period_counts_up_to_now(lake: Settings) -> None:
    total, groups, _ = _breakdown(lake, "asset", now=P0 + 24 * H)
    # s2 is installed at now: not in service yet; west-cam reported at k = 0–3 and 7–11 of its 12 buckets
    assert {g.key: (g.seen_buckets, g.expected_buckets) for g in groups} == {
        "s1": (24, 24), "c1": (6, 12), "west-cam": (9, 12)}
    assert (total.seen_buckets, total.expected_buckets, total.availability) == (39, 48, pytest.approx(39 / 48))


def test_a_subtree_sees_its_partitions_only(lake: Settings) -> None:
    engine = connect(lake, "duckdb")
    try:
        ctx = period_context(engine, [WEST], parse_period(PERIOD), "Asia/Shanghai", datetime(2030, 1, 1))
        total, groups, other = breakdown(engine, ctx, "type")
    finally:
        engine.close()
    assert [g.key for g in groups] == ["camera"] and other == 0
    assert numbers(total) == figures(plus(C1, WEST_CAM))


def test_an_empty_period_has_no_figures(lake: Settings) -> None:
    engine = connect(lake, "duckdb")
    try:
        ctx = period_context(engine, UNITS, parse_period("2024-01"), "Asia/Shanghai", datetime(2030, 1, 1))
        total, groups, other = breakdown(engine, ctx, "type")
    finally:
        engine.close()
    assert groups == [] and other == 0
    assert (total.assets, total.availability, total.completeness, total.mttr_hours) == (0, None, None, None)


# ---- through the API and the command line --------------------------------------------------------------------


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Iterator[tuple[Settings, TestClient]]:
    """The registry tests' city and users (admin on the city, op-east, op-west, citizen) over the lake above."""
    settings = build_asset_city(tmp_path_factory.mktemp("uptime-api"))
    write_uptime_lake(settings.lake, settings)
    with TestClient(create_app(settings)) as client:
        yield settings, client


def _api(city: tuple[Settings, TestClient], user: str, **params: Any) -> Any:
    client = city[1]
    return client.get("/api/v1/assets/availability", params={"period": PERIOD} | params,
                      headers=bearer(login(client, user)))


def test_api_numbers_names_and_order(city: tuple[Settings, TestClient]) -> None:
    r = _api(city, "admin", by="department")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["tenant"], body["period"], body["by"], body["start"], body["end"]) == (
        None, PERIOD, "department", "2026-09-30T16:00:00Z", "2026-10-02T16:00:00Z")
    assert [(g["key"], g["name"]) for g in body["groups"]] == [
        ("west-cg", "西区城管局"), ("east-cg", "东区城管局"), ("water", "市水务局")]
    for g in body["groups"]:
        assert numbers(g) == figures(BY["department"][g["key"]]), g["key"]
    assert numbers(body["total"]) == figures(WHOLE, received=WHOLE[3] + OTHER) and body["other_readings"] == OTHER
    named = _api(city, "admin", by="asset", limit=2).json()
    assert [(g["key"], g["name"]) for g in named["groups"]] == [("c1", None), ("s1", None)]
    assert named["groups_total"] == 4 and _api(city, "admin", by="asset").json()["groups"][3]["name"] == "西区摄像机"
    assert [(g["key"], g["name"]) for g in _api(city, "admin", by="type").json()["groups"]] == [
        ("camera", "摄像机"), ("sensor", "传感器")]


def test_api_holds_the_callers_units(city: tuple[Settings, TestClient]) -> None:
    east = _api(city, "op-east", by="type").json()  # the east's partition: s1, s2, and app1's and ghost's readings
    assert [g["key"] for g in east["groups"]] == ["sensor"] and east["other_readings"] == OTHER
    assert numbers(east["total"]) == figures(plus(S1, S2), received=S1[3] + S2[3] + OTHER)
    west = _api(city, "op-west", by="asset", tenant=WEST).json()
    assert [g["key"] for g in west["groups"]] == ["c1", "west-cam"] and west["tenant"] == WEST
    assert _api(city, "op-west", by="asset", tenant=EAST).status_code == 404
    assert _api(city, "citizen", by="type").status_code == 403
    assert _api(city, "admin", by="street").status_code == 422
    assert _api(city, "admin", by="type", period="2026Q5").status_code == 422


def test_cli_json(city: tuple[Settings, TestClient]) -> None:
    settings = city[0]
    result = CliRunner().invoke(cli, ["assets", "availability", "--period", PERIOD, "--by", "type", "--json",
                                      "--workspace", str(settings.workspace)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [g["key"] for g in out["groups"]] == ORDER["type"]
    for g in out["groups"]:
        assert numbers(g) == figures(BY["type"][g["key"]]), g["key"]
    assert numbers(out["total"]) == figures(WHOLE, received=WHOLE[3] + OTHER)
    west = CliRunner().invoke(cli, ["assets", "availability", "--period", PERIOD, "--by", "department", "--tenant",
                                    WEST, "--workspace", str(settings.workspace)])
    assert west.exit_code == 0, west.output
    assert "west-cg" in west.output and "75.0%" in west.output and "east-cg" not in west.output
