"""/api/v1/assets and /api/v1/ingest/quarantine: the registry through HTTP, its dependencies, the impact of an
outage, telemetry series from the lake (bucketed by hand below) and the quarantine, within the caller's units.

The city (``tests/assets/conftest.py``)::

    lj 临江市 ─┬─ lj-east 东区 ── lj-east-port 港口街道
               └─ lj-west 西区

Assets: the city's cloud ``city-cloud`` ← server ``srv-1`` (east) ← application ``app-1`` ← service ``svc-1``;
cameras ``cam-1`` (east, online, through gateway ``gw-1``) and ``cam-2`` (port street, offline); ``west-cam`` in
the west. ``cam-1`` reports ``temp`` three times and ``flow`` 2,500 times (once a minute, value = minute index).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chengyun.accounts.models import AuditEntry
from chengyun.api.app import create_app
from chengyun.assets.models import Asset
from chengyun.core.db import migrate, session_scope
from chengyun.core.settings import Settings
from chengyun.ingest.cli import quarantine_dir
from chengyun.ingest.pipeline import Message, Quarantine
from chengyun.lake.writer import write
from chengyun.tenancy.service import add_department, add_unit
from tests.api.conftest import bearer, login, make_user

from .conftest import CITY, EAST, PORT, WEST, chain, make

T0 = datetime(2026, 11, 20)  # naive UTC, a midnight: on every bucket boundary
FLOW_READINGS = 2500
# temp: three readings inside the window asked for below, one before it
TEMP = [(T0 - timedelta(hours=1), 5.0), (T0 + timedelta(minutes=1), 20.5), (T0 + timedelta(minutes=2), 21.0),
        (T0 + timedelta(hours=3), 19.25)]
USERS = {"admin": ("admin", CITY), "op-east": ("operator", EAST), "dept-east": ("department", EAST),
         "op-west": ("operator", WEST), "citizen": ("citizen", CITY)}
POINTED = b'{"values": {"t": NaN}}\n\x00' + "温度".encode() + b"x" * 200  # 230 bytes


@dataclass
class World:
    settings: Settings
    client: TestClient
    tokens: dict[str, str]

    def as_(self, name: str) -> dict[str, str]:
        return bearer(self.tokens[name])

    def get(self, name: str, url: str, **params: Any) -> Any:
        return self.client.get(url, params=params or None, headers=self.as_(name))




def build_asset_city(root: Path) -> Settings:
    """The city, its departments, users, assets, telemetry in the lake and three quarantined payloads."""
    settings = Settings(workspace=root / "ws")
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id=CITY, name="临江市")
        add_unit(session=s, unit_id=EAST, name="东区", parent_id=CITY)
        add_unit(session=s, unit_id=PORT, name="港口街道", parent_id=EAST)
        add_unit(session=s, unit_id=WEST, name="西区", parent_id=CITY)
        add_department(session=s, department_id="water", tenant_id=CITY, name="市水务局")
        add_department(session=s, department_id="east-cg", tenant_id=EAST, name="东区城管局")
        add_department(session=s, department_id="west-cg", tenant_id=WEST, name="西区城管局")
    with session_scope(settings) as s:
        make(s, "city-cloud", "cloud-resource", CITY, name="市政务云")
        make(s, "srv-1", "server", name="东区服务器")
        make(s, "app-1", "application", name="东区城管系统", criticality="high")
        make(s, "svc-1", "service", name="占道审批")
        make(s, "gw-1", "gateway", name="东区网关", lat=30.26, lon=120.19)
        make(s, "cam-1", "camera", name="东门摄像机", department="east-cg", operator="海康运维", lat=30.25,
             lon=120.17, expected_interval_s=60, installed_at=datetime(2025, 3, 1, tzinfo=UTC))
        make(s, "cam-2", "camera", PORT, name="港口摄像机", department="east-cg", lat=30.27, lon=120.21)
        make(s, "west-cam", "camera", WEST, name="西区摄像机", department="west-cg", lat=30.20, lon=120.05)
        chain(s, "svc-1", "app-1", "srv-1", "city-cloud")
        chain(s, "cam-1", "gw-1")
    with session_scope(settings) as s:
        for asset_id, status, seen in (("cam-1", "online", T0), ("cam-2", "offline", T0 - timedelta(days=2)),
                                       ("west-cam", "online", T0)):
            asset = s.get(Asset, asset_id)
            assert asset is not None
            asset.status, asset.last_seen_at = status, seen
    rows = [(EAST, "cam-1", "temp", ts, v) for ts, v in TEMP]
    rows += [(EAST, "cam-1", "flow", T0 + timedelta(minutes=k), float(k)) for k in range(FLOW_READINGS)]
    rows += [(EAST, "cam-2", "temp", T0 + timedelta(minutes=1), 99.0), (EAST, "cam-1", "flow", T0, None)]
    write(settings.lake, "telemetry", {c: [r[i] for r in rows] for i, c in
                                       enumerate(("tenant", "asset_id", "metric", "ts", "value"))}, durable=False)
    Quarantine(quarantine_dir(settings)).put([
        (Message("mqtt", POINTED, EAST, "cam-1", datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
                 "chengyun/lj-east/cam-1/telemetry"), "values.t: NaN is not a reading"),
        (Message("mqtt", b"{}", WEST, "west-cam", datetime(2026, 11, 25, 3, 0, tzinfo=UTC),
                 "chengyun/lj-west/west-cam/telemetry"), "西区: no values"),
        (Message("http", b"not json", None, None, datetime(2026, 11, 26, 1, 0, tzinfo=UTC)), "line 1: not JSON"),
    ])
    for name, (role, unit) in USERS.items():
        make_user(settings, name, role, unit)
    return settings


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Iterator[World]:
    settings = build_asset_city(tmp_path_factory.mktemp("asset-api"))
    with TestClient(create_app(settings)) as client:
        yield World(settings, client, {name: login(client, name) for name in USERS})


def ids(page: dict[str, Any]) -> list[str]:
    return [i["id"] for i in page["items"]]


def audit_actions(settings: Settings, target: str) -> list[tuple[str, str]]:
    with session_scope(settings) as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.target_id == target).order_by(AuditEntry.seq))
        return [(e.action, e.actor) for e in rows]


# ---- reading the registry ------------------------------------------------------------------------------------


def test_list_holds_the_callers_units_and_filters(world: World) -> None:
    everything = world.get("admin", "/api/v1/assets").json()
    assert ids(everything) == ["app-1", "cam-1", "cam-2", "city-cloud", "gw-1", "srv-1", "svc-1", "west-cam"]
    assert everything["total"] == 8
    east = world.get("op-east", "/api/v1/assets").json()
    assert ids(east) == ["app-1", "cam-1", "cam-2", "gw-1", "srv-1", "svc-1"] and east["total"] == 6
    assert ids(world.get("op-east", "/api/v1/assets", kind="device").json()) == ["cam-1", "cam-2", "gw-1"]
    assert ids(world.get("op-east", "/api/v1/assets", kind="camera").json()) == ["cam-1", "cam-2"]
    assert ids(world.get("admin", "/api/v1/assets", status="offline").json()) == ["cam-2"]
    assert ids(world.get("admin", "/api/v1/assets", department="east-cg").json()) == ["cam-1", "cam-2"]
    assert ids(world.get("admin", "/api/v1/assets", tenant=PORT).json()) == ["cam-2"]
    assert ids(world.get("admin", "/api/v1/assets", q="摄像机").json()) == ["cam-1", "cam-2", "west-cam"]
    page = world.get("admin", "/api/v1/assets", limit=3, offset=3).json()
    assert (ids(page), page["total"], page["limit"], page["offset"]) == (["city-cloud", "gw-1", "srv-1"], 8, 3, 3)
    bad = world.get("admin", "/api/v1/assets", kind="toaster")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid-input" and "kind" in bad.json()["error"]["message"]
    assert world.get("admin", "/api/v1/assets", status="broken").status_code == 422
    assert world.get("op-east", "/api/v1/assets", tenant=WEST).status_code == 404  # not a unit of the caller's


def test_detail_names_dependencies_and_dependants(world: World) -> None:
    app = world.get("dept-east", "/api/v1/assets/app-1").json()
    assert (app["name"], app["kind_zh"], app["asset_class"], app["criticality"]) == ("东区城管系统", "应用", "application", "high")
    assert [(d["asset_id"], d["depends_on_id"], d["kind"], d["kind_zh"]) for d in app["dependencies"]] == [
        ("app-1", "srv-1", "runs-on", "运行于")]
    assert [(d["asset_id"], d["depends_on_id"], d["kind"]) for d in app["dependants"]] == [("svc-1", "app-1", "calls")]
    cam = world.get("op-east", "/api/v1/assets/cam-1").json()
    assert (cam["status"], cam["status_zh"], cam["last_seen_at"], cam["installed_at"]) == (
        "online", "在线", "2026-11-20T00:00:00Z", "2025-03-01T00:00:00Z")


def test_another_districts_asset_is_not_found(world: World) -> None:
    for method, url, body in (("GET", "/api/v1/assets/west-cam", None),
                              ("GET", "/api/v1/assets/west-cam/impact", None),
                              ("GET", "/api/v1/assets/west-cam/telemetry", None),
                              ("PATCH", "/api/v1/assets/west-cam", {"name": "x"}),
                              ("POST", "/api/v1/assets/west-cam/retire", None),
                              ("PUT", "/api/v1/assets/west-cam/dependencies/gw-1", None)):
        r = world.client.request(method, url, json=body, headers=world.as_("op-east"))
        assert r.status_code == 404, (method, url, r.text)
        assert r.json()["error"]["code"] == "not-found" and "西区摄像机" not in r.text
    with session_scope(world.settings) as s:
        west = s.get(Asset, "west-cam")
        assert west is not None and (west.name, west.status) == ("西区摄像机", "online")


def test_permissions(world: World) -> None:
    assert world.get("citizen", "/api/v1/assets").status_code == 403
    assert world.get("citizen", "/api/v1/ingest/quarantine").status_code == 403
    body = {"id": "cam-x", "name": "x", "kind": "camera", "tenant": EAST}
    r = world.client.post("/api/v1/assets", json=body, headers=world.as_("dept-east"))  # reads, may not write
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = world.client.post("/api/v1/assets", json=body | {"tenant": WEST}, headers=world.as_("op-east"))
    assert r.status_code == 403
    moved = world.client.patch("/api/v1/assets/cam-2", json={"tenant": WEST}, headers=world.as_("op-east"))
    assert moved.status_code == 403
    assert world.client.get("/api/v1/assets").status_code == 401
    with session_scope(world.settings) as s:
        assert s.get(Asset, "cam-x") is None and s.get(Asset, "cam-2").tenant_id == PORT  # type: ignore[union-attr]


# ---- changing it ---------------------------------------------------------------------------------------------


def test_create_patch_retire_are_audited(world: World) -> None:
    h = world.as_("op-east")
    body = {"id": "meter-9", "name": "水表 9", "kind": "meter", "tenant": PORT, "department": "water",
            "expected_interval_s": 900, "lat": 30.28, "lon": 120.22}
    r = world.client.post("/api/v1/assets", json=body, headers=h)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/api/v1/assets/meter-9"
    made = r.json()
    assert (made["status"], made["metric_count"], made["department_id"], made["dependencies"]) == ("unknown", 1, "water", [])
    again = world.client.post("/api/v1/assets", json=body, headers=h)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    r = world.client.patch("/api/v1/assets/meter-9", json={"operator": "水务运维", "criticality": "critical"}, headers=h)
    assert r.status_code == 200 and (r.json()["operator"], r.json()["criticality"], r.json()["name"]) == (
        "水务运维", "critical", "水表 9")
    r = world.client.post("/api/v1/assets/meter-9/retire", json={"at": "2026-11-25T08:00:00+08:00", "reason": "更换"},
                          headers=h)
    assert r.status_code == 200 and (r.json()["status"], r.json()["retired_at"]) == ("retired", "2026-11-25T00:00:00Z")
    twice = world.client.post("/api/v1/assets/meter-9/retire", headers=h)
    assert twice.status_code == 409
    assert audit_actions(world.settings, "meter-9") == [
        ("asset.create", "op-east"), ("asset.update", "op-east"), ("asset.retire", "op-east")]
    assert world.client.patch("/api/v1/assets/meter-9", json={"shape": "round"}, headers=h).status_code == 422


def test_dependencies_put_and_delete(world: World) -> None:
    h = world.as_("op-east")
    r = world.client.put("/api/v1/assets/cam-2/dependencies/gw-1", headers=h)
    assert r.status_code == 200 and (r.json()["kind"], r.json()["kind_zh"]) == ("connects-through", "经由")
    r = world.client.put("/api/v1/assets/cam-2/dependencies/gw-1", json={"kind": "depends-on"}, headers=h)
    assert r.status_code == 200 and r.json()["kind"] == "depends-on"
    gw = world.get("op-east", "/api/v1/assets/gw-1").json()
    assert [(d["asset_id"], d["kind"]) for d in gw["dependants"]] == [("cam-1", "connects-through"), ("cam-2", "depends-on")]
    cycle = world.client.put("/api/v1/assets/gw-1/dependencies/cam-2", headers=h)
    assert cycle.status_code == 409 and "gw-1 → cam-2 → gw-1" in cycle.json()["error"]["message"]
    assert world.client.put("/api/v1/assets/cam-2/dependencies/nothing", headers=h).status_code == 404
    assert world.client.put("/api/v1/assets/cam-2/dependencies/gw-1", json={"kind": "glued"},
                            headers=h).status_code == 422
    assert world.client.delete("/api/v1/assets/cam-2/dependencies/gw-1", headers=h).status_code == 204
    assert world.client.delete("/api/v1/assets/cam-2/dependencies/gw-1", headers=h).status_code == 404
    assert world.get("op-east", "/api/v1/assets/cam-2").json()["dependencies"] == []
    assert [a for a in audit_actions(world.settings, "cam-2") if a[0] != "asset.create"] == [
        ("asset.depend", "op-east"), ("asset.depend", "op-east"), ("asset.undepend", "op-east")]


def test_a_dependency_on_another_districts_asset_is_refused_unnamed(world: World) -> None:
    h = world.as_("op-east")
    # the west's camera is neither the east's nor of a unit above it: as if it did not exist
    r = world.client.put("/api/v1/assets/cam-2/dependencies/west-cam", headers=h)
    assert r.status_code == 404 and "west-cam" in r.json()["error"]["message"]
    none = world.client.put("/api/v1/assets/cam-2/dependencies/no-such-asset", headers=h)
    assert r.json()["error"]["message"].replace("west-cam", "X") == none.json()["error"]["message"].replace(
        "no-such-asset", "X")
    # the city's cloud is above the east: an east server may run on it
    up = world.client.put("/api/v1/assets/cam-2/dependencies/city-cloud", headers=h)
    assert up.status_code == 200, up.text
    assert world.client.delete("/api/v1/assets/cam-2/dependencies/city-cloud", headers=h).status_code == 204


def test_a_cycle_through_hidden_assets_does_not_name_them(world: World) -> None:
    admin, east = world.as_("admin"), world.as_("op-east")
    # the city's cloud depends on the west camera (set by the admin), the west camera on an east gateway
    assert world.client.put("/api/v1/assets/west-cam/dependencies/gw-1", headers=admin).status_code == 200
    assert world.client.put("/api/v1/assets/city-cloud/dependencies/west-cam", headers=admin).status_code == 200
    try:
        r = world.client.put("/api/v1/assets/gw-1/dependencies/city-cloud", headers=east)
        assert r.status_code == 409, r.text
        message = r.json()["error"]["message"]
        assert "west-cam" not in message and "an asset outside your units" in message
    finally:
        world.client.delete("/api/v1/assets/city-cloud/dependencies/west-cam", headers=admin)
        world.client.delete("/api/v1/assets/west-cam/dependencies/gw-1", headers=admin)


def test_impact_reaches_every_dependant_with_its_path(world: World) -> None:
    r = world.get("admin", "/api/v1/assets/city-cloud/impact").json()
    assert [(i["id"], i["depth"], i["path"]) for i in r["affected"]] == [
        ("srv-1", 1, ["city-cloud", "srv-1"]), ("app-1", 2, ["city-cloud", "srv-1", "app-1"]),
        ("svc-1", 3, ["city-cloud", "srv-1", "app-1", "svc-1"])]
    assert (r["applications"], r["hidden"]) == (2, 0)  # the application and the service
    assert "infra.online_rate" in r["measures"] and r["affected"][1]["measures"] == r["measures"]
    assert r["affected"][0]["measures"] == []  # a server names no measures of its own
    assert world.get("op-east", "/api/v1/assets/city-cloud/impact").status_code == 404  # the city's, not theirs
    leaf = world.get("op-east", "/api/v1/assets/svc-1/impact").json()
    assert (leaf["affected"], leaf["applications"], leaf["measures"]) == ([], 0, [])


# ---- telemetry -----------------------------------------------------------------------------------------------


def series(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["metric"]: s for s in body["series"]}


def test_telemetry_few_readings_come_as_they_are(world: World) -> None:
    r = world.get("dept-east", "/api/v1/assets/cam-1/telemetry", metric="temp", since="2026-11-20T00:00:00Z",
                  until="2026-11-20T08:00:00+08:00")  # [00:00, 00:00 UTC): empty window → refused below
    assert r.status_code == 422 and "since" in r.json()["error"]["message"]
    r = world.get("dept-east", "/api/v1/assets/cam-1/telemetry", metric="temp", since="2026-11-20T00:00:00Z",
                  until="2026-11-20T12:00:00+08:00")  # four hours: the readings at 00:01, 00:02 and 03:00
    body = r.json()
    assert r.status_code == 200 and (body["bucketed"], body["every_s"], body["max_points"]) == (False, None, 2000)
    temp = series(body)["temp"]
    assert (temp["readings"], temp["bucketed"], temp["every_s"]) == (3, False, None)
    assert [(p["ts"], p["value"], p["min"], p["max"], p["count"]) for p in temp["points"]] == [
        ("2026-11-20T00:01:00Z", 20.5, None, None, 1), ("2026-11-20T00:02:00Z", 21.0, None, None, 1),
        ("2026-11-20T03:00:00Z", 19.25, None, None, 1)]
    assert (body["since"], body["until"]) == ("2026-11-20T00:00:00Z", "2026-11-20T04:00:00Z")


def test_telemetry_over_the_limit_is_bucketed_min_avg_max(world: World) -> None:
    until = T0 + timedelta(minutes=FLOW_READINGS)  # 150,000 s: 60 s buckets would be 2,501 > 2,000; 120 s fit
    r = world.get("op-east", "/api/v1/assets/cam-1/telemetry", since=T0.isoformat(), until=until.isoformat())
    body = r.json()
    assert r.status_code == 200 and (body["bucketed"], body["every_s"]) == (True, 120)
    flow, temp = series(body)["flow"], series(body)["temp"]
    assert (flow["readings"], flow["bucketed"], flow["every_s"], len(flow["points"])) == (2500, True, 120, 1250)
    # bucket j holds minutes 2j and 2j+1 (values 2j, 2j+1): min 2j, mean 2j+0.5, max 2j+1; the null is not counted
    for j in (0, 1, 624, 1249):
        p = flow["points"][j]
        assert (p["ts"], p["min"], p["value"], p["max"], p["count"]) == (
            (T0 + timedelta(minutes=2 * j)).isoformat() + "Z", 2.0 * j, 2.0 * j + 0.5, 2.0 * j + 1, 2), j
    assert (temp["readings"], temp["bucketed"], [p["value"] for p in temp["points"]]) == (3, False, [20.5, 21.0, 19.25])


def test_telemetry_every_buckets_on_request(world: World) -> None:
    r = world.get("op-east", "/api/v1/assets/cam-1/telemetry", metric=["flow", "temp"], every="5m",
                  since=T0.isoformat(), until=(T0 + timedelta(minutes=10)).isoformat())
    body = r.json()
    assert (body["bucketed"], body["every_s"]) == (True, 300)
    flow, temp = series(body)["flow"], series(body)["temp"]
    assert [(p["min"], p["value"], p["max"], p["count"]) for p in flow["points"]] == [(0.0, 2.0, 4.0, 5), (5.0, 7.0, 9.0, 5)]
    # temp: 20.5 and 21.0 share the first five minutes
    assert [(p["ts"], p["min"], p["value"], p["max"], p["count"]) for p in temp["points"]] == [
        ("2026-11-20T00:00:00Z", 20.5, 20.75, 21.0, 2)]
    too_fine = world.get("op-east", "/api/v1/assets/cam-1/telemetry", every="1s", since=T0.isoformat(),
                         until=(T0 + timedelta(days=1)).isoformat())
    assert too_fine.status_code == 422 and "every=60" in too_fine.json()["error"]["fix"]
    assert world.get("op-east", "/api/v1/assets/cam-1/telemetry", every="soon").status_code == 422
    nothing = world.get("op-east", "/api/v1/assets/gw-1/telemetry", since=T0.isoformat()).json()
    assert (nothing["series"], nothing["bucketed"]) == ([], False)


# ---- quarantine ----------------------------------------------------------------------------------------------


def test_quarantine_newest_first_with_an_escaped_preview(world: World) -> None:
    r = world.get("admin", "/api/v1/ingest/quarantine")
    assert r.status_code == 200
    items = r.json()
    assert [(i["source"], i["tenant"], i["reason"]) for i in items] == [
        ("http", None, "line 1: not JSON"), ("mqtt", WEST, "西区: no values"),
        ("mqtt", EAST, "values.t: NaN is not a reading")]
    east = items[2]
    assert (east["topic"], east["asset_id"], east["size"], east["truncated"]) == (
        "chengyun/lj-east/cam-1/telemetry", "cam-1", 230, True)
    # 22 + 1 + 1 + 6 bytes, then 90 of the 200 x: the first 120 bytes, newline and NUL escaped
    assert east["preview"] == '{"values": {"t": NaN}}\\n\\x00温度' + "x" * 90
    assert (items[0]["preview"], items[0]["truncated"], items[0]["received_at"]) == (
        "not json", False, "2026-11-26T01:00:00+00:00")
    assert [i["reason"] for i in world.get("admin", "/api/v1/ingest/quarantine", limit=1).json()] == ["line 1: not JSON"]


def test_quarantine_holds_only_the_callers_units(world: World) -> None:
    east = world.get("op-east", "/api/v1/ingest/quarantine").json()
    assert [i["tenant"] for i in east] == [EAST]  # not the west's, not the one naming no unit
    assert [i["tenant"] for i in world.get("op-west", "/api/v1/ingest/quarantine").json()] == [WEST]
