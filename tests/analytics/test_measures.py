"""Built-in measures on a small hand-made lake, checked against values computed by hand, on both engines."""

from __future__ import annotations

import shutil
from datetime import datetime as D
from datetime import timedelta

import pytest

from chengyun.analytics.engine import connect
from chengyun.analytics.runner import make_context, run_measures
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.lake.writer import write
from tests.conftest import need

T = "c.d1"
CASES = {
    "tenant": [T] * 4, "case_id": list("abcd"), "channel": ["hotline", "grid", "app", "iot-alarm"],
    "category": ["x"] * 4, "priority": ["p"] * 4, "department_id": ["d"] * 4, "unit_id": ["u"] * 4,
    # Q3 2026 in Asia/Shanghai is [2026-06-30 16:00, 2026-09-30 16:00) UTC: d (Oct 1 local) is outside
    "created_at": [D(2026, 7, 1, 2), D(2026, 7, 2, 3), D(2026, 8, 1), D(2026, 9, 30, 20)],
    "response_due_at": [D(2026, 7, 1, 4)] * 4,
    "responded_at": [D(2026, 7, 1, 3), None, D(2026, 8, 1, 1), D(2026, 9, 30, 21)],
    "due_at": [D(2026, 7, 3)] * 4,
    "resolved_at": [D(2026, 7, 2), D(2026, 7, 1), None, D(2026, 10, 1)],  # b resolved before created: inconsistent
    "closed_at": [None] * 4, "status": ["closed"] * 4, "solved": [True, False, None, True],
    "satisfaction": [5, 2, None, 4], "returned_count": [0, 1, 0, 0],
}
ASSETS = {
    "tenant": [T] * 2, "asset_id": ["a1", "a2"], "asset_type": ["aq", "aq"], "department_id": ["d", "d"],
    "unit_id": ["u", "u"], "criticality": ["h", "h"], "expected_interval_s": [3600, 7200], "metric_count": [1, 2],
    "installed_at": [D(2026, 1, 1), D(2026, 8, 16)], "retired_at": [None, None],
}
# a1 reports hourly for the first 10 days, then is silent for 5 days, then 24 more hours
HOURS = [D(2026, 7, 1) + timedelta(hours=h) for h in range(240)] + [D(2026, 7, 16) + timedelta(hours=h) for h in range(24)]
TELEMETRY = {"tenant": [T] * len(HOURS), "asset_id": ["a1"] * len(HOURS), "metric": ["pm25"] * len(HOURS),
             "ts": HOURS, "value": [1.0] * len(HOURS)}
EVENTS = {
    "tenant": [T] * 3, "event_id": ["e1", "e2", "e3"], "asset_id": ["a1"] * 3, "kind": ["intrusion"] * 3,
    "severity": ["high", "low", "critical"],
    "occurred_at": [D(2026, 7, 5), D(2026, 7, 6), D(2026, 8, 1)],
    "detected_at": [D(2026, 7, 5, 6), D(2026, 7, 6, 1), D(2026, 8, 1, 2)],
    "resolved_at": [D(2026, 7, 5, 16), None, None], "is_incident": [True, False, True],
}

# hand-computed: Q3 UTC span is 92 days = 2208 h; a2 runs from 08-16 00:00 to 09-30 16:00 = 1096 h
EXPECTED = {
    "cases.count": 3,
    "cases.per_10k": 3 / 200_000 * 10_000,
    "cases.response_rate": 1 / 3,
    "cases.ontime_closure_rate": 1.0,
    "cases.closure_rate": 2 / 3,
    "cases.resolution_rate": 1 / 2,
    "cases.satisfaction_rate": 1 / 2,
    "cases.mean_resolution_hours": 22.0,
    "cases.proactive_rate": 1 / 3,
    "cases.return_rate": 1 / 3,
    "infra.asset_count": 2,
    "infra.online_rate": 0.0,
    "infra.device_availability": 264 / (2208 + 1096 / 2),
    "infra.data_completeness": 264 / (2208 + 1096 * 3600 / 7200 * 2),
    "infra.outage_mttr_hours": 15 * 24 - 239,  # one gap: from 07-10 23:00 to 07-16 00:00 = 121 h
    "security.incident_count": 2,
    "security.mttd_hours": (6 + 2) / 2,
    "security.mttr_hours": 10.0,
    "security.open_high_risks": 1,
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from chengyun.core.db import migrate, session_scope
    from chengyun.tenancy.service import add_unit

    settings = Settings(workspace=tmp_path_factory.mktemp("m") / "ws")
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id="c", name="城", population=200_000)
        add_unit(session=s, unit_id=T, name="区", parent_id="c", population=200_000)
    write(settings.lake, "cases", CASES)
    write(settings.lake, "assets", ASSETS)
    write(settings.lake, "telemetry", TELEMETRY)
    write(settings.lake, "security_events", EVENTS)
    yield settings
    shutil.rmtree(settings.workspace, ignore_errors=True)


def _spark_ok() -> bool:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return shutil.which("java") is not None


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine_name(request: pytest.FixtureRequest) -> str:
    if request.param == "spark":
        need(_spark_ok(), "pyspark or java is missing (pip install '.[spark]', Java 17)")
    return request.param


def test_measures_by_hand(lake: Settings, engine_name: str) -> None:
    eng = connect(lake, engine_name)
    try:
        ctx = make_context(eng, ["c", T], parse_period("2026Q3"), "Asia/Shanghai", 200_000)
        got = run_measures(eng, list(EXPECTED), ctx)
    finally:
        eng.close()
    for name, expected in EXPECTED.items():
        assert got[name].value == pytest.approx(expected), name


def test_empty_tables_are_no_data_not_zero(lake: Settings) -> None:
    eng = connect(lake, "duckdb")
    try:
        ctx = make_context(eng, ["c", T], parse_period("2026Q3"), "Asia/Shanghai", 200_000)
        got = run_measures(eng, ["portal.satisfaction_rate", "data.quality_score", "security.incident_count"], ctx)
        other = make_context(eng, ["c", T], parse_period("2025Q1"), "Asia/Shanghai", 200_000)
        before = run_measures(eng, ["security.incident_count"], other)
    finally:
        eng.close()
    assert got["portal.satisfaction_rate"].value is None
    assert got["data.quality_score"].value is None
    assert before["security.incident_count"].value is None
    assert before["security.incident_count"].warnings


def test_subtree_only(lake: Settings) -> None:
    eng = connect(lake, "duckdb")
    try:
        ctx = make_context(eng, ["other"], parse_period("2026Q3"), "Asia/Shanghai", 1000)
        assert run_measures(eng, ["cases.count"], ctx)["cases.count"].value is None
    finally:
        eng.close()


@pytest.mark.parametrize("engine_name", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_registries_read_the_latest_version_of_each_entity(tmp_path, engine_name: str) -> None:
    if engine_name == "spark":
        need(_spark_ok(), "pyspark or java is missing (pip install '.[spark]', Java 17)")
    settings = Settings(workspace=tmp_path / "ws")
    write(settings.lake, "services", {
        "tenant": [T] * 3, "service_id": ["s1", "s1", "s2"], "name": ["办证", "办证", "缴费"],
        "department_id": ["d"] * 3, "online": [False, True, False], "one_stop": [False, False, True],
        "e_license": [False] * 3, "mobile": [False] * 3,
        # s1 is upgraded to online on 2026-08-01 (a new version of the same service)
        "published_at": [D(2026, 1, 1), D(2026, 8, 1), D(2026, 2, 1)],
    })
    eng = connect(settings, engine_name)
    try:
        def rate(period: str, name: str) -> float | None:
            ctx = make_context(eng, [T], parse_period(period), "Asia/Shanghai", 1)
            return run_measures(eng, [name], ctx)[name].value

        assert rate("2026Q2", "portal.online_service_rate") == pytest.approx(0 / 2)
        assert rate("2026Q3", "portal.online_service_rate") == pytest.approx(1 / 2)
        assert rate("2026Q3", "portal.one_stop_rate") == pytest.approx(1 / 2)  # s1's new version is not one-stop
    finally:
        eng.close()
