"""HTTP ingest through the app: /api/v1/telemetry (JSON lines), the NGSI-LD upsert and the notification endpoint.
What is sent is checked in the lake after a flush, against values read by hand from the payloads."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chengyun.assets.models import Asset
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from chengyun.ingest.cli import quarantine_dir
from chengyun.ingest.quarantine import list_quarantine
from chengyun.lake.reader import read
from tests.cases.conftest import EAST, WEST
from tests.conftest import SHARED

SDM = SHARED / "data" / "fiware-sdm"
LD = {"Content-Type": "application/ld+json"}


def _flush(api: TestClient) -> None:
    api.app.state.ingest.ingestor().flush()  # type: ignore[attr-defined]


def _lake(settings: Settings, tenant: str, asset: str | None = None) -> list[dict[str, Any]]:
    rows = read(settings.lake, "telemetry", [tenant]).to_pylist()
    return sorted((r for r in rows if asset is None or r["asset_id"] == asset),
                  key=lambda r: (r["asset_id"], r["metric"], r["ts"]))


def test_json_lines_are_stored_once_durable(api: TestClient, auth: Callable[[str], dict[str, str]],
                                            case_city: Settings) -> None:
    lines = [{"tenant": EAST, "asset_id": "wl-001", "ts": "2026-11-26T08:00:00+08:00",
              "values": {"water_level": 2.5, "pump_on": True}},
             {"tenant": EAST, "asset_id": "wl-001", "ts": 1795651260, "values": {"water_level": 2.75}}]
    body = "\n".join(json.dumps(x) for x in lines).encode()
    r = api.post("/api/v1/telemetry", content=body, headers=auth("op-east") | {"Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text
    assert r.json() == {"readings": 3, "duplicates": 0, "skipped": 0}
    again = api.post("/api/v1/telemetry", content=body, headers=auth("op-east"))
    assert again.json() == {"readings": 0, "duplicates": 3, "skipped": 0}  # a resend is stored once
    _flush(api)
    got = [(r["metric"], r["ts"], r["value"]) for r in _lake(case_city, EAST, "wl-001")]
    assert got == [("pump_on", datetime(2026, 11, 26, 0, 0), 1.0), ("water_level", datetime(2026, 11, 26, 0, 0), 2.5),
                   ("water_level", datetime(2026, 11, 26, 0, 1), 2.75)]  # epoch 1795651260 = 2026-11-26 00:01Z


def test_a_reading_for_a_unit_outside_the_callers_is_refused_whole(
        api: TestClient, auth: Callable[[str], dict[str, str]], case_city: Settings) -> None:
    lines = [{"tenant": EAST, "asset_id": "x-1", "ts": 1795651200, "values": {"t": 1}},
             {"tenant": WEST, "asset_id": "x-2", "ts": 1795651200, "values": {"t": 2}}]
    body = "\n".join(json.dumps(x) for x in lines).encode()
    assert api.post("/api/v1/telemetry", content=body, headers=auth("op-east")).status_code == 403
    assert api.post("/api/v1/telemetry", content=body, headers=auth("dept-east")).status_code == 403
    assert api.post("/api/v1/telemetry", content=body).status_code == 401
    _flush(api)
    assert _lake(case_city, EAST, "x-1") == [] and _lake(case_city, WEST) == []


def test_a_malformed_post_is_quarantined_with_the_reason(api: TestClient, auth: Callable[[str], dict[str, str]],
                                                         case_city: Settings) -> None:
    r = api.post("/api/v1/telemetry", params={"tenant": EAST, "asset_id": "bad-1"},
                 content=b'{"ts": "2026-11-26T08:00:00", "values": {"t": 1}}', headers=auth("op-east"))
    assert r.status_code == 422, r.text
    assert "quarantine" in r.json()["error"]["fix"]
    item = list_quarantine(quarantine_dir(case_city), 1)[0]
    assert (item.asset_id, item.source, item.raw) == ("bad-1", "http", b'{"ts": "2026-11-26T08:00:00", "values": {"t": 1}}')
    assert "zone" in item.reason


def _sdm(rel: str) -> bytes:
    return (SDM / rel).read_bytes()


def test_ngsi_ld_upsert_registers_new_entities_and_stores_their_readings(
        api: TestClient, auth: Callable[[str], dict[str, str]], case_city: Settings) -> None:
    parking = json.loads(_sdm("Parking/OffStreetParking/example-normalized.jsonld"))
    air = json.loads(_sdm("Environment/AirQualityObserved/example-normalized.jsonld"))
    spot = json.loads(_sdm("Parking/ParkingSpot/example.jsonld"))
    head = auth("op-east") | LD | {"NGSILD-Tenant": EAST}
    r = api.post("/ngsi-ld/v1/entityOperations/upsert", content=json.dumps([parking, air, spot]), headers=head)
    assert r.status_code == 201, r.text
    # the air-quality id is 84 characters, longer than the registry's ids: its readings are kept, it is not registered
    assert r.json() == [parking["id"], spot["id"]]
    assert api.post("/ngsi-ld/v1/entityOperations/upsert", content=json.dumps([parking]),
                    headers=head).status_code == 204
    _flush(api)
    lot = {r["metric"]: (r["ts"], r["value"]) for r in _lake(case_city, EAST, parking["id"])}
    assert lot["availableSpotNumber"] == (datetime(2018, 9, 21, 12, 0), 132.0)
    no2 = {r["metric"]: (r["ts"], r["value"]) for r in _lake(case_city, EAST, air["id"])}
    assert no2["no2"] == (datetime(2016, 3, 15, 11, 0), 69.0)  # dateObserved without a zone: UTC, as NGSI-LD says
    assert _lake(case_city, EAST, spot["id"]) == []  # a parking spot's status is text, not a reading
    with session_scope(case_city) as s:
        asset = s.scalar(select(Asset).where(Asset.id == parking["id"]))
        assert asset is not None and (asset.tenant_id, asset.kind) == (EAST, "sensor")
        assert asset.attributes == {"ngsi_type": "OffStreetParking", "source": "ngsi-ld"}


def test_an_upsert_with_a_bad_entity_answers_207_and_keeps_the_good_ones(
        api: TestClient, auth: Callable[[str], dict[str, str]], case_city: Settings) -> None:
    good = {"id": "urn:ngsi-ld:Meter:m-7", "type": "Meter",
            "power": {"type": "Property", "value": 4.5, "observedAt": "2026-11-26T01:00:00Z"}}
    bad = {"type": "Meter", "power": {"type": "Property", "value": 1}}
    r = api.post("/ngsi-ld/v1/entityOperations/upsert", content=json.dumps([good, bad]),
                 headers=auth("op-east") | {"NGSILD-Tenant": EAST, "Content-Type": "application/json"})
    assert r.status_code == 207, r.text
    body = r.json()
    assert body["success"] == ["urn:ngsi-ld:Meter:m-7"] and len(body["errors"]) == 1
    assert body["errors"][0]["entityId"] is None and "id" in body["errors"][0]["error"]["detail"]
    _flush(api)
    assert [(r["metric"], r["value"]) for r in _lake(case_city, EAST, "urn:ngsi-ld:Meter:m-7")] == [("power", 4.5)]


def test_a_broker_notification_in_ngsi_v2_is_taken_in(api: TestClient, auth: Callable[[str], dict[str, str]],
                                                      case_city: Settings) -> None:
    noise = json.loads(_sdm("Environment/NoiseLevelObserved/example-normalized.json"))
    note = {"subscriptionId": "57458eb60962ef754e7c0998", "data": [noise]}
    r = api.post("/ngsi-ld/v1/notify", params={"tenant": EAST}, content=json.dumps(note),
                 headers=auth("op-east") | {"Content-Type": "application/json"})
    assert r.status_code in (201, 204), r.text
    _flush(api)
    got = {r["metric"]: (r["ts"], r["value"]) for r in _lake(case_city, EAST, noise["id"])}
    at = datetime(2016, 12, 28, 12, 0)  # the period's end, dateObservedTo
    assert got == {"LAmax": (at, 94.5), "LAeq": (at, 67.8), "LAeq_d": (at, 65.4), "LAS": (at, 91.6)}


@pytest.mark.parametrize("headers", [{}, {"NGSILD-Tenant": "no.such.unit"}])
def test_ngsi_without_a_usable_tenant_is_refused(api: TestClient, auth: Callable[[str], dict[str, str]],
                                                 headers: dict[str, str]) -> None:
    r = api.post("/ngsi-ld/v1/entityOperations/upsert", content=_sdm("Parking/OffStreetParking/example-normalized.jsonld"),
                 headers=auth("op-east") | headers | {"Content-Type": "application/json"})
    assert r.status_code in (404, 422), r.text
    assert "tenant" in r.text.lower() or "unit" in r.text.lower()


def test_every_smart_data_models_example_goes_in_or_is_explained(
        api: TestClient, auth: Callable[[str], dict[str, str]], case_city: Settings) -> None:
    files = sorted(p for p in SDM.rglob("example*.json*") if p.is_file())
    assert len(files) >= 30
    answers: dict[int, int] = {}
    for path in files:
        r = api.post("/ngsi-ld/v1/entityOperations/upsert", content=path.read_bytes(),
                     headers=auth("admin") | {"NGSILD-Tenant": WEST, "Content-Type": "application/json"})
        assert r.status_code in (201, 204, 207), (path, r.text)
        if r.status_code == 207:
            assert all(e["error"]["detail"] for e in r.json()["errors"]), path
        answers[r.status_code] = answers.get(r.status_code, 0) + 1
    _flush(api)
    assert answers.get(201, 0) + answers.get(204, 0) >= len(files) // 2
    assert read(case_city.lake, "telemetry", [WEST]).num_rows > 100
