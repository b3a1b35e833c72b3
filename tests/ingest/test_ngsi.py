"""The NGSI-LD / FIWARE decoder on the Smart Data Models examples, the ETSI NGSI-LD test-suite payloads and
malformed input. Expected values were read by hand from the files, not from the decoder."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from chengyun.ingest.ngsi import NOT_METRICS, Decoded, Reading, decode, decode_bytes, parse_time, short_name
from tests.conftest import SHARED, need

SDM = SHARED / "data" / "fiware-sdm"
ETSI = SHARED / "data" / "etsi-ngsi-ld-testsuite" / "data"
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
SDM_FILES = sorted(SDM.rglob("example*.json*")) if SDM.is_dir() else []
_NOT_ENTITIES = {"expectations", "fragmentEntities", "fragments"}  # broker answers and attribute fragments
ETSI_FILES = sorted(p for d in ("entities", "temporalEntities") if (ETSI / d).is_dir()
                    for p in (ETSI / d).rglob("*.json*") if not _NOT_ENTITIES & set(p.parts))
AQO = "urn:ngsi-ld:AirQualityObserved:Madrid-AmbientObserved-28079004-2016-03-15T11:00:00"


def _file(rel: str, **kw: object) -> Decoded:
    need(SDM.is_dir(), f"Smart Data Models examples not found at {SDM}")
    return decode_bytes((SDM / rel).read_bytes(), NOW, **kw)  # type: ignore[arg-type]


def _values(d: Decoded) -> dict[str, float]:
    return {r.metric: r.value for r in d.readings}


def test_data_present(shared_data: Path) -> None:
    assert len(SDM_FILES) == 40 and len(ETSI_FILES) == 135  # counted with find; a lost folder fails here


@pytest.mark.parametrize("path", SDM_FILES, ids=lambda p: str(p.relative_to(SDM)))
def test_every_sdm_example_decodes(path: Path) -> None:
    d = decode_bytes(path.read_bytes(), NOW, assume_tz=UTC)
    folder = path.parent.name
    expected_type = {"Open311_ServiceRequest_legacy": "Open311ServiceRequest"}.get(folder, folder)
    assert [e.type for e in d.entities] == [expected_type]
    for r in d.readings:
        assert r.ts.utcoffset() == timedelta(0) and math.isfinite(r.value) and r.metric not in NOT_METRICS


def test_air_quality_normalized_ld() -> None:
    d = _file("Environment/AirQualityObserved/example-normalized.jsonld", assume_tz=UTC)
    at = datetime(2016, 3, 15, 11, tzinfo=UTC)  # dateObserved "2016-03-15T11:00:00", read as UTC on request
    assert Reading(AQO, "AirQualityObserved", "no2", at, 69.0) in d.readings
    v = _values(d)
    assert (v["co"], v["windDirection"], v["precipitation"], v["relativeHumidity"]) == (500.0, 186.0, 0.0, 0.54)
    for not_reading in ("coLevel", "airQualityLevel", "areaServed", "refPointOfInterest", "address", "source"):
        assert not_reading not in v
    e = d.entities[0]
    assert (e.lat, e.lon) == (40.423852777777775, -3.712247222222222) and d.problems == []


def test_zone_less_time_is_a_problem_by_default() -> None:
    d = _file("Environment/AirQualityObserved/example-normalized.jsonld")
    assert d.readings == []
    [p] = d.problems
    assert (p.index, p.entity_id, p.attribute) == (0, AQO, "dateObserved")
    assert "no time zone" in p.reason and "no2" in p.reason and "assume_tz" in p.fix


def test_assume_tz_is_the_source_zone() -> None:
    d = _file("Environment/AirQualityObserved/example.jsonld", assume_tz=timezone(timedelta(hours=1)))
    assert {r.ts for r in d.readings} == {datetime(2016, 3, 15, 10, tzinfo=UTC)}  # Madrid winter time


def test_v2_normalized_boolean_and_unit_metadata() -> None:
    v = _values(_file("Environment/AirQualityObserved/example-normalized.json", assume_tz=UTC))
    assert v["precipitation"] == 0.0 and v["no2"] == 69.0 and v["windDirection"] == 176.0  # "Boolean" false


def test_offstreet_parking_times() -> None:
    d = _file("Parking/OffStreetParking/example-normalized.jsonld")
    by = {r.metric: r for r in d.readings}
    assert by["availableSpotNumber"].value == 132.0
    assert by["availableSpotNumber"].ts == datetime(2018, 9, 21, 12, tzinfo=UTC)  # its own observedAt
    assert by["occupiedSpotNumber"].value == 282.0 and by["totalSpotNumber"].value == 414.0
    assert by["occupiedSpotNumber"].ts == datetime(2021, 3, 11, 15, 51, 2, tzinfo=UTC)  # observationDateTime
    assert set(by) == {"availableSpotNumber", "occupancy", "occupiedSpotNumber", "totalSpotNumber",
                       "vehicleEntranceCount", "vehicleExitCount"}  # slot objects and category arrays are not
    assert d.entities[0].name == "Parque de estacionamento Trindade" and d.problems == []


def test_parking_spot_status_is_not_a_reading() -> None:
    d = _file("Parking/ParkingSpot/example.jsonld")
    e = d.entities[0]
    assert d.readings == [] and d.problems == []
    assert (e.id, e.type, e.name) == ("urn:ngsi-ld:ParkingSpot:santander:daoiz_velarde_1_5:3", "ParkingSpot", "A-13")
    assert (e.lat, e.lon) == (43.46296641666926, -3.80356167695194)


def test_traffic_flow_interval_falls_to_date_observed_to() -> None:
    d = _file("Transportation/TrafficFlowObserved/example-normalized.jsonld")
    v = _values(d)
    assert v == {"averageHeadwayTime": 0.5, "averageVehicleLength": 9.87, "averageVehicleSpeed": 52.6,
                 "intensity": 197.0, "occupancy": 0.76, "reversedLane": 0.0}  # laneId is a label
    assert {r.ts for r in d.readings} == {datetime(2016, 12, 7, 11, 15, tzinfo=UTC)}
    [p] = d.problems
    assert p.attribute == "dateObserved" and "dateObservedTo" in p.reason
    ts = {r.ts for r in _file("Transportation/TrafficFlowObserved/example-normalized.jsonld", assume_tz=UTC).readings}
    assert ts == {datetime(2016, 12, 7, 11, 15, tzinfo=UTC)}  # the interval's end


def test_noise_level_fractional_seconds() -> None:
    d = _file("Environment/NoiseLevelObserved/example-normalized.jsonld")
    assert _values(d) == {"LAS": 91.6, "LAeq": 67.8, "LAeq_d": 65.4, "LAmax": 94.5}
    assert {r.ts for r in d.readings} == {datetime(2016, 12, 28, 12, tzinfo=UTC)}  # dateObservedTo .00Z


# Differences between the normalized and key-values twins, as found by reading the files: the examples disagree.
TWIN_DIFFS = {
    "Environment/AirQualityObserved/example-normalized.json": {"co2": (None, 69.0), "no2": (69.0, None)},
    "Environment/AirQualityObserved/example-normalized.jsonld": {
        "windDirection": (186.0, 180.0), "pm4": (37.0, None), "tpc": (108.0, None), "tsp": (73.3, None),
        "pressure": (1.1, None), "charge": (5.0, None)},
    "Environment/WaterObserved/example-normalized.jsonld": {  # normalized dateObserved is a Relationship
        m: (None, v) for m, v in {"flow": 12.0, "height": 3.52, "measuredArea": 250.0, "objectArea": 35.0,
                                  "objectHeightAverage": 1.75, "objectHeightMax": 2.25, "objectVolume": 17.5}.items()},
}
TWINS = [p for p in SDM_FILES if p.stem == "example-normalized" and p.with_name("example" + p.suffix).exists()]


@pytest.mark.parametrize("normalized", TWINS, ids=lambda p: str(p.relative_to(SDM)))
def test_normalized_and_key_values_agree(normalized: Path) -> None:
    a = _values(decode_bytes(normalized.read_bytes(), NOW, assume_tz=UTC))
    b = _values(decode_bytes(normalized.with_name("example" + normalized.suffix).read_bytes(), NOW, assume_tz=UTC))
    diff = {m: (a.get(m), b.get(m)) for m in a.keys() | b.keys() if a.get(m) != b.get(m)}
    assert diff == TWIN_DIFFS.get(str(normalized.relative_to(SDM)), {})


def test_etsi_payloads_decode_or_explain(shared_data: Path) -> None:
    decoded = explained = readings = 0
    for path in ETSI_FILES:
        d = decode_bytes(path.read_bytes(), NOW)
        assert d.entities or d.problems, path
        assert all(p.reason and p.fix for p in d.problems)
        decoded += bool(d.entities)
        explained += not d.entities
        readings += len(d.readings)
    # 107 files hold an entity; 28 are queries, attribute fragments, empty arrays or broken JSON
    assert (decoded, explained, readings) == (107, 28, 273)


def test_etsi_multi_instance_speed() -> None:
    need(ETSI.is_dir(), f"ETSI test data not found at {ETSI}")
    d = decode_bytes((ETSI / "entities/vehicle-speed-multi-instances.jsonld").read_bytes(), NOW)
    assert _values(d) == {"speed": 55.0, "speed@gpsBxyz123-speed": 54.5}  # isParked is a Relationship
    temporal = decode_bytes((ETSI / "temporalEntities/2020-08-bus-temporal-representation.jsonld").read_bytes(), NOW)
    speeds = [(r.ts.minute, r.value) for r in temporal.readings if r.metric == "speed"]
    assert speeds == [(3, 45.0), (5, 25.0), (7, 67.0)]


def test_etsi_entity_without_id_names_it() -> None:
    need(ETSI.is_dir(), f"ETSI test data not found at {ETSI}")
    d = decode_bytes((ETSI / "temporalEntities/vehicle-temporal-representation-without-id.jsonld").read_bytes(), NOW)
    [p] = d.problems
    assert (p.index, p.attribute, d.readings) == (0, "id", []) and "empty" in p.reason and "urn:ngsi-ld" in p.fix


def _entity(**attrs: object) -> dict[str, object]:
    return {"id": "urn:ngsi-ld:Sensor:s1", "type": "https://smartdatamodels.org/Sensor", **attrs}


def test_notifications_ld_and_v2() -> None:
    ld = {"type": "Notification", "subscriptionId": "urn:sub:1", "notifiedAt": "2026-11-25T09:30:00.5+08:00",
          "data": [_entity(temp={"type": "Property", "value": 21.5})]}
    [r] = decode(ld, NOW).readings
    assert r == Reading("urn:ngsi-ld:Sensor:s1", "Sensor", "temp", datetime(2026, 11, 25, 1, 30, 0, 500000, UTC), 21.5)
    v2 = {"subscriptionId": "57", "data": [{"id": "Room1", "type": "Room",
          "temperature": {"type": "Number", "value": 23, "metadata": {"TimeInstant": {"value": "2026-11-25T10:00:00Z"}}},
          "pressure": {"type": "Integer", "value": 720, "metadata": {}},
          "humidity": {"type": "Number", "value": "40"}}]}
    d = decode(v2, NOW)
    assert sorted((r.metric, r.ts, r.value) for r in d.readings) == [
        ("pressure", NOW, 720.0), ("temperature", datetime(2026, 11, 25, 10, tzinfo=UTC), 23.0)]
    [p] = d.problems
    assert (p.entity_id, p.attribute) == ("Room1", "humidity") and "Number" in p.fix


def test_full_uri_names_and_upsert_list() -> None:
    body = [_entity(**{"https://smartdatamodels.org/dataModel.Environment/no2": 12, "dateObserved": "2026-11-25T10:00Z"}),
            _entity(id="urn:ngsi-ld:Sensor:s2", no2={"value": True, "observedAt": "2026-11-25t11:00:00z"})]
    d = decode(body, NOW)
    assert [(r.asset_id, r.metric, r.ts.hour, r.value) for r in d.readings] == [
        ("urn:ngsi-ld:Sensor:s1", "no2", 10, 12.0), ("urn:ngsi-ld:Sensor:s2", "no2", 11, 1.0)]
    assert short_name("http://example.org/vehicle#speed") == "speed" and short_name("speed") == "speed"


@pytest.mark.parametrize(("raw", "needle"), [
    (b"{not json", "not JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2, 3]", "entity 0 is a number"),
    (b'"hello"', "payload is a text"),
    (b"[]", "no entities"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"id": "x", "type": "T", "n": ' + b"9" * 5000 + b"}", "not usable JSON"),
    (b'{"type": "Notification", "data": {}}', "data is an object"),
])
def test_malformed_bytes(raw: bytes, needle: str) -> None:
    d = decode_bytes(raw, NOW)
    assert d.readings == [] and any(needle in p.reason for p in d.problems), d.problems
    assert all(p.fix for p in d.problems) and not d.valid


@pytest.mark.parametrize(("attr", "needle"), [
    ({"type": "Property", "value": float("nan")}, "not a finite number"),
    (float("inf"), "not a finite number"),
    (10**400, "not a finite number"),
    ({"type": "Property", "value": 3, "observedAt": "2026-11-25T10:00:00"}, "no time zone"),
    ({"type": "Property", "value": 3, "observedAt": "yesterday"}, "not an ISO 8601"),
    ({"type": "Property", "value": 3, "observedAt": {"type": "Property", "value": "2026-11-25T10:00:00Z"}}, "object"),
])
def test_bad_attribute_names_entity_and_attribute(attr: object, needle: str) -> None:
    d = decode([_entity(id="urn:a"), _entity(id="urn:b", level=attr, ok=1)], NOW)
    [p] = d.problems
    assert (p.index, p.entity_id, p.attribute) == (1, "urn:b", "level") and needle in p.reason
    assert sorted(r.asset_id for r in d.readings) == ["urn:b"]  # "ok" at now; "level" put aside


def test_nan_in_raw_json_is_an_attribute_problem() -> None:
    d = decode_bytes(b'{"id": "urn:a", "type": "T", "v": NaN, "w": 1}', NOW)
    assert [p.attribute for p in d.problems] == ["v"] and _values(d) == {"w": 1.0}


def test_entity_without_id_or_type() -> None:
    d = decode([{"type": "T", "v": 1}, {"id": "urn:x"}, "urn:y", _entity(v=2)], NOW)
    assert [(p.index, p.attribute) for p in d.problems] == [(0, "id"), (1, "type"), (2, None)]
    assert "give every entity" in d.problems[0].fix and [r.value for r in d.readings] == [2.0]


def test_too_many_entities() -> None:
    d = decode([_entity(v=1)] * 10_001, NOW)
    [p] = d.problems
    assert d.readings == [] and "10001 entities" in p.reason and "10000" in p.fix
    assert len(decode([_entity(v=1)] * 3, NOW, max_entities=3).readings) == 3
    raw = json.dumps([_entity(v=1)] * 50).encode()
    assert "bytes" in decode_bytes(raw, NOW, max_bytes=len(raw) - 1).problems[0].reason


def test_location_off_the_map() -> None:
    d = decode(_entity(location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [9.9, 109.5]}}), NOW)
    assert (d.entities[0].lat, d.problems[0].attribute) == (None, "location")
    v2 = decode({"id": "a", "type": "T", "location": {"type": "geo:point", "value": "40.42, -3.71"}}, NOW)
    assert (v2.entities[0].lat, v2.entities[0].lon) == (40.42, -3.71)


def test_time_precedence() -> None:
    times = {"dateModified": "2026-01-03T00:00:00Z", "observedAt": "2026-01-02T00:00:00Z"}
    d = decode({"type": "Notification", "notifiedAt": "2026-01-04T00:00:00Z",
                "data": [_entity(v=1, **times), _entity(v=1, dateModified=times["dateModified"]), _entity(v=1)]}, NOW)
    assert [r.ts.day for r in d.readings] == [2, 3, 4]
    assert decode(_entity(v=1), NOW).readings[0].ts == NOW  # no notification: the caller's now


def test_parse_time_forms() -> None:
    assert parse_time("2016-12-28T11:00:00.00Z")[0] == datetime(2016, 12, 28, 11, tzinfo=UTC)
    assert parse_time("2016-12-28T19:00:00+08:00")[0] == datetime(2016, 12, 28, 11, tzinfo=UTC)
    assert parse_time({"@type": "DateTime", "@value": "2016-12-28T11:00:00Z"})[0] is not None
    assert parse_time("2016-12-28")[0] is None and parse_time("2016-12-28", UTC)[0] is not None
    with pytest.raises(ValueError, match="timezone-aware"):
        decode([], datetime(2026, 1, 1))
