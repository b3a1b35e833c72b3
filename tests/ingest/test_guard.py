"""The ingest guard: a district cannot write readings of (nor raise alarms on) another district's devices by any
path — HTTP, NGSI-LD, MQTT —, and readings dated far in the future or the past, or with unusable metric names,
are put aside with the reason instead of reaching the lake."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chengyun.assets.alarms import evaluate_batch
from chengyun.assets.models import Alarm, Asset
from chengyun.assets.schemas import AssetCreate
from chengyun.assets.service import add_asset
from chengyun.core.db import session_scope
from chengyun.core.scoping import unscoped
from chengyun.core.settings import Settings
from chengyun.ingest.cli import quarantine_dir
from chengyun.ingest.guard import Guard, Owners
from chengyun.ingest.mqtt import MqttIngest
from chengyun.ingest.pipeline import Ingestor
from chengyun.ingest.quarantine import list_quarantine
from chengyun.lake.reader import read
from tests.cases.conftest import EAST, WEST
from tests.ingest.mqtt_support import publish

LINES = {"Content-Type": "application/x-ndjson"}
WEST_SENSOR = "aq-west-guard"


@pytest.fixture(scope="module")
def west_sensor(case_city: Settings) -> str:
    with session_scope(case_city) as s:
        add_asset(s, AssetCreate(id=WEST_SENSOR, tenant=WEST, name="西区空气站", kind="sensor"))
    return WEST_SENSOR


def _flush(api: TestClient) -> None:
    api.app.state.ingest.ingestor().flush()  # type: ignore[attr-defined]


def _rows(settings: Settings, asset: str) -> list[dict[str, object]]:
    table = read(settings.lake, "telemetry", [EAST, WEST])
    return [r for r in table.to_pylist() if r["asset_id"] == asset]


def _untouched(settings: Settings, asset: str) -> None:
    """No reading of ``asset`` in the lake, no alarm on it, never seen."""
    with session_scope(settings) as s, unscoped(s):
        a = s.get(Asset, asset)
        assert a is not None and a.last_seen_at is None and a.status != "online"
        assert s.scalars(select(Alarm).where(Alarm.asset_id == asset)).all() == []
    assert _rows(settings, asset) == []


def _now_ts() -> float:
    return time.time() - 60


def test_http_lines_naming_another_districts_sensor_are_refused(
        api: TestClient, auth: Callable[[str], dict[str, str]], case_city: Settings, west_sensor: str) -> None:
    line = {"tenant": EAST, "asset_id": west_sensor, "ts": _now_ts(), "values": {"pm25": 900.0}}
    r = api.post("/api/v1/telemetry", content=json.dumps(line).encode(), headers=auth("op-east") | LINES)
    assert r.status_code == 403, r.text
    assert west_sensor in r.json()["error"]["message"]
    one = api.post(f"/api/v1/telemetry?tenant={EAST}&asset_id={west_sensor}",
                   json={"ts": _now_ts(), "values": {"pm25": 900.0}}, headers=auth("op-east"))
    assert one.status_code == 403, one.text
    _flush(api)
    _untouched(case_city, west_sensor)


def test_ngsi_upsert_and_notify_naming_another_districts_sensor_are_refused(
        api: TestClient, auth: Callable[[str], dict[str, str]], case_city: Settings, west_sensor: str) -> None:
    observed = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    entity = {"id": west_sensor, "type": "AirQualityObserved",
              "pm25": {"type": "Property", "value": 900.0, "observedAt": observed}}
    headers = auth("op-east") | {"NGSILD-Tenant": EAST}
    up = api.post("/ngsi-ld/v1/entityOperations/upsert", json=[entity], headers=headers)
    assert up.status_code == 403 and west_sensor in up.text
    note = api.post("/ngsi-ld/v1/notify", headers=headers,
                    json={"id": "urn:n:1", "type": "Notification", "subscriptionId": "urn:s:1", "data": [entity]})
    assert note.status_code == 403 and west_sensor in note.text
    _flush(api)
    _untouched(case_city, west_sensor)


def test_a_city_user_naming_the_wrong_unit_is_put_aside(
        api: TestClient, auth: Callable[[str], dict[str, str]], case_city: Settings, west_sensor: str) -> None:
    # the admin may write both districts, but a reading must name the unit its asset is registered under
    before = len(list_quarantine(quarantine_dir(case_city)))
    line = {"tenant": EAST, "asset_id": west_sensor, "ts": _now_ts(), "values": {"pm25": 900.0}}
    r = api.post("/api/v1/telemetry", content=json.dumps(line).encode(), headers=auth("admin") | LINES)
    assert r.status_code == 422, r.text
    assert f"registered under unit {WEST}, not {EAST} nor a unit above it" in r.json()["error"]["message"]
    assert len(list_quarantine(quarantine_dir(case_city))) == before + 1
    _flush(api)
    _untouched(case_city, west_sensor)


@pytest.mark.parametrize("ts, why", [
    ("9999-12-31T00:00:00Z", "more than 5 min after it was received"),
    ("0001-01-01T00:00:00Z", "is before 2000-01-01"),
    ("1999-12-31T23:59:59Z", "is before 2000-01-01"),
    (4_102_444_800, "more than 5 min after"),  # 2100-01-01 in epoch seconds
])
def test_far_future_and_far_past_readings_are_put_aside(
        api: TestClient, auth: Callable[[str], dict[str, str]], case_city: Settings, ts: object, why: str) -> None:
    asset = f"clock-{uuid.uuid4().hex[:6]}"
    line = {"tenant": EAST, "asset_id": asset, "ts": ts, "values": {"t": 1.0}}
    r = api.post("/api/v1/telemetry", content=json.dumps(line).encode(), headers=auth("op-east") | LINES)
    assert r.status_code == 422, r.text
    assert why in r.json()["error"]["message"]
    _flush(api)
    assert _rows(case_city, asset) == []
    partitions = {p.name for p in (case_city.lake / "telemetry" / f"tenant={EAST}").glob("date=*")}
    assert not {d for d in partitions if not "2000" <= d[5:9] <= "2100"}


def test_a_clock_a_little_ahead_is_accepted(
        api: TestClient, auth: Callable[[str], dict[str, str]], case_city: Settings) -> None:
    asset = f"clock-{uuid.uuid4().hex[:6]}"
    ahead = time.time() + 240  # four minutes: within the five allowed
    line = {"tenant": EAST, "asset_id": asset, "ts": ahead, "values": {"t": 1.0}}
    r = api.post("/api/v1/telemetry", content=json.dumps(line).encode(), headers=auth("op-east") | LINES)
    assert r.status_code == 202, r.text
    _flush(api)
    assert [row["value"] for row in _rows(case_city, asset)] == [1.0]


@pytest.mark.parametrize("metric", ["pm\x0025", "", "x" * 129, "a\nb"])
def test_unusable_metric_names_are_put_aside_not_500(
        api: TestClient, auth: Callable[[str], dict[str, str]], metric: str) -> None:
    line = {"tenant": EAST, "asset_id": "m-1", "ts": _now_ts(), "values": {metric: 1.0}}
    r = api.post("/api/v1/telemetry", content=json.dumps(line).encode(), headers=auth("op-east") | LINES)
    assert r.status_code == 422, r.text
    assert "name" in r.json()["error"]["message"]


def test_the_alarm_pass_ignores_a_reading_under_the_wrong_unit(case_city: Settings, west_sensor: str) -> None:
    # defence in depth: even a batch that reached the lake some other way raises nothing on another unit's asset
    now = datetime.now(UTC).replace(tzinfo=None)
    batch = pa.table({"tenant": [EAST], "asset_id": [west_sensor], "metric": ["pm25"],
                      "ts": pa.array([now], pa.timestamp("us")), "value": [900.0]})
    with session_scope(case_city) as s:
        changes = evaluate_batch(s, batch, now)
    assert (changes.unknown, len(changes.raised)) == (1, 0)
    _untouched(case_city, west_sensor)


def test_mqtt_reading_under_the_wrong_unit_is_quarantined(tmp_path: Path, mqtt_url: str, client_id: str) -> None:
    east, west = f"e{uuid.uuid4().hex[:6]}", f"w{uuid.uuid4().hex[:6]}"
    guard = Guard(owners=Owners(lambda: {"pump-1": (f"{west}.g1", west)}))  # a grid's device of the west
    ing = Ingestor(tmp_path / "lake", tmp_path / "wal", tmp_path / "q", flush_seconds=0.2, guard=guard).start()
    sub = MqttIngest(ing, mqtt_url, client_id=client_id).start()
    ts = int(time.time()) - 30
    try:
        assert sub.connected.wait(10)
        time.sleep(0.3)  # the SUBACK
        publish(mqtt_url, [(f"chengyun/{east}/pump-1/telemetry", json.dumps({"ts": ts, "values": {"v": 1}}).encode()),
                           (f"chengyun/{west}/pump-1/telemetry", json.dumps({"ts": ts, "values": {"v": 2}}).encode()),
                           (f"chengyun/{west}.g1/pump-1/telemetry",
                            json.dumps({"ts": ts + 1, "values": {"v": 4}}).encode()),
                           (f"chengyun/{west}/pump-1/telemetry",
                            json.dumps({"ts": ts + 86400 * 365, "values": {"v": 3}}).encode())])
        deadline = time.monotonic() + 20
        while ing.stats.messages < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.stop()
        ing.close()
    assert read(tmp_path / "lake", "telemetry", [west]).column("value").to_pylist() == [2.0]  # under its district
    assert read(tmp_path / "lake", "telemetry", [f"{west}.g1"]).column("value").to_pylist() == [4.0]  # its grid
    assert read(tmp_path / "lake", "telemetry", [east]).num_rows == 0
    reasons = sorted(q.reason for q in list_quarantine(tmp_path / "q"))
    assert len(reasons) == 2
    assert any(f"registered under unit {west}.g1, not {east}" in r for r in reasons)
    assert any("after it was received" in r for r in reasons)


def test_owners_are_reloaded_after_their_ttl() -> None:
    calls: list[int] = []

    def load() -> dict[str, str]:
        calls.append(1)
        return {"a": str(len(calls))}

    owners = Owners(load, ttl=0.2)
    assert owners.current() == {"a": "1"} and owners.current() == {"a": "1"}
    time.sleep(0.25)
    assert owners.current() == {"a": "2"}
    owners.forget()
    assert owners.current() == {"a": "3"}


def test_the_guard_reports_every_problem_of_a_message() -> None:
    from chengyun.ingest.telemetry import Decoded, Sample, to_us

    now = datetime.now(UTC)
    d = Decoded(readings=[Sample("e", "x", "t", to_us(now + timedelta(days=1)), 1.0),
                          Sample("e", "x", "t\x00", to_us(now), 1.0)])
    Guard(owners=Owners(lambda: {"x": ("w",)})).check(d, now)
    assert not d.valid and d.readings == []
    assert len(d.problems) == 3
