"""/api/v1/alarms, /api/v1/alarm-rules(.yaml) and the /alarms console page: scoping, filters, the lifecycle over
HTTP (409 naming the allowed actions), rules YAML all or nothing, permissions, the console's CSRF-protected buttons
and the overview panel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chengyun.api.app import create_app
from chengyun.assets import alarms
from chengyun.assets.alarm_schemas import AlarmRuleSet
from chengyun.assets.models import Alarm, AlarmRule
from chengyun.assets.schemas import AssetCreate
from chengyun.assets.service import add_asset
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from tests.cases.conftest import CITY, EAST, PASSWORD, PORT, WEST, build_case_city
from tests.e2e.conftest import _CSRF, form_field, login

T0 = datetime(2026, 11, 25, 6, 0)
RULES = ("rules:\n  - {kind: sensor, metric: pm25, type: threshold, op: '>', value: 150, severity: critical}\n"
         "  - {kind: sensor, metric: no2, type: threshold, op: '>', value: 100, severity: minor}\n")
ASSETS = {"AQ-E": EAST, "AQ-P": PORT, "AQ-W": WEST}


def batch(rows: list[tuple[str, str, int, float]]) -> pa.Table:
    return pa.table({"tenant": [ASSETS[r[0]] for r in rows], "asset_id": [r[0] for r in rows],
                     "metric": [r[1] for r in rows],
                     "ts": pa.array([T0 + timedelta(minutes=r[2]) for r in rows], pa.timestamp("us")),
                     "value": pa.array([r[3] for r in rows], pa.float64())})


def raise_alarm(settings: Settings, asset: str, metric: str = "pm25", minute: int = 0) -> str:
    """A new open alarm of ``asset`` (its previous one of the rule is cleared first, by a normal reading)."""
    with session_scope(settings) as s:
        alarms.evaluate_batch(s, batch([(asset, metric, minute, 1.0), (asset, metric, minute + 1, 500.0)]),
                              T0)
        found = s.scalar(select(Alarm.id).where(Alarm.asset_id == asset, Alarm.metric == metric,
                                                Alarm.status == "raised"))
        assert found
        return found


@pytest.fixture(scope="module")
def alarm_city(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Settings:  # noqa: F811
    """The case city with one air sensor in 东区, 港口街道 and 西区, and the city's two pm25/no2 rules."""
    settings = build_case_city(tmp_path_factory.mktemp("alarm-city") / "ws")
    with session_scope(settings) as s:
        for asset_id, unit in ASSETS.items():
            add_asset(s, AssetCreate(id=asset_id, name=f"空气站 {asset_id}", kind="sensor", tenant=unit,
                                     expected_interval_s=600))
        alarms.replace_rules(s, CITY, AlarmRuleSet.from_yaml(RULES))
    return settings


@pytest.fixture(scope="module")
def api(alarm_city: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(alarm_city)) as client:
        yield client


@pytest.fixture(scope="module")
def auth(api: TestClient) -> Callable[[str], dict[str, str]]:
    tokens: dict[str, str] = {}

    def header(name: str) -> dict[str, str]:
        if name not in tokens:
            r = api.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            tokens[name] = r.json()["access_token"]
        return {"Authorization": f"Bearer {tokens[name]}"}

    return header


def test_a_district_lists_only_its_alarms(api: TestClient, auth: Callable, alarm_city: Settings) -> None:
    ids = {a: raise_alarm(alarm_city, a, minute=10) for a in ASSETS}
    east = api.get("/api/v1/alarms", params={"limit": 500}, headers=auth("op-east")).json()
    assert ids["AQ-E"] in {i["id"] for i in east["items"]} and ids["AQ-P"] in {i["id"] for i in east["items"]}
    assert {i["tenant_id"] for i in east["items"]} <= {EAST, PORT} and east["total"] == len(east["items"])
    west = api.get("/api/v1/alarms", headers=auth("dept-west")).json()
    assert {i["asset_id"] for i in west["items"]} == {"AQ-W"}
    r = api.get(f"/api/v1/alarms/{ids['AQ-E']}", headers=auth("dept-west"))
    assert r.status_code == 404 and ids["AQ-E"] in r.json()["error"]["message"]
    assert api.post(f"/api/v1/alarms/{ids['AQ-E']}/acknowledge", headers=auth("dept-west")).status_code == 404
    one = api.get(f"/api/v1/alarms/{ids['AQ-E']}", headers=auth("admin")).json()
    assert (one["status"], one["severity"], one["actions"], one["last_value"]) == \
        ("raised", "critical", ["acknowledge", "clear"], 500.0)


def test_filters(api: TestClient, auth: Callable, alarm_city: Settings) -> None:
    minor = raise_alarm(alarm_city, "AQ-P", "no2", minute=20)
    get = lambda **p: api.get("/api/v1/alarms", params=p | {"limit": 500}, headers=auth("admin")).json()  # noqa: E731
    assert [i["id"] for i in get(severity="minor", asset="AQ-P", status="raised")["items"]] == [minor]
    assert {i["tenant_id"] for i in get(tenant=WEST)["items"]} == {WEST}
    assert all(i["raised_at"] >= "2026-11-25T06:21" for i in get(since="2026-11-25T14:21+08:00")["items"])
    assert minor in {i["id"] for i in get(since="2026-11-25T14:21+08:00")["items"]}
    assert get(since="2026-11-26T00:00")["items"] == []
    order = [(i["status"] == "cleared", i["severity"]) for i in get()["items"]]
    assert order == sorted(order, key=lambda o: (o[0], ["critical", "major", "minor", "warning"].index(o[1])))
    assert api.get("/api/v1/alarms", params={"status": "gone"}, headers=auth("admin")).status_code == 422


def test_the_lifecycle_over_http(api: TestClient, auth: Callable, alarm_city: Settings) -> None:
    alarm = raise_alarm(alarm_city, "AQ-E", minute=30)
    url = f"/api/v1/alarms/{alarm}"
    r = api.post(f"{url}/acknowledge", json={"note": "已派人"}, headers=auth("dept-east"))
    assert r.status_code == 200 and (r.json()["status"], r.json()["acknowledged_by"], r.json()["ack_note"]) == \
        ("acknowledged", "dept-east", "已派人")
    again = api.post(f"{url}/acknowledge", headers=auth("dept-east"))
    assert again.status_code == 409
    assert again.json()["error"]["fix"] == "from acknowledged the allowed actions are: clear"
    r = api.post(f"{url}/clear", json={"reason": "误报"}, headers=auth("op-east"))
    assert r.status_code == 200 and (r.json()["status"], r.json()["clear_reason"], r.json()["actions"]) == \
        ("cleared", "误报", [])
    late = api.post(f"{url}/acknowledge", headers=auth("dept-east"))
    assert late.status_code == 409 and late.json()["error"]["details"] == []
    assert "none" in late.json()["error"]["fix"]
    assert api.post(f"{url}/clear", headers=auth("op-east")).status_code == 409
    audit = api.get("/api/v1/audit", params={"target_id": alarm}, headers=auth("admin")).json()["items"]
    assert [(e["action"], e["actor"]) for e in audit] == [("alarm.clear", "op-east"),
                                                          ("alarm.acknowledge", "dept-east")]


@pytest.mark.parametrize(("user", "method", "path", "status"), [
    ("auditor", "POST", "/acknowledge", 403),  # reads alarms, does not act on them
    ("citizen", "GET", "", 403),
    ("dept-east", "PUT", "rules", 403),  # acknowledges, does not write rules
])
def test_permissions(api: TestClient, auth: Callable, alarm_city: Settings, user: str, method: str, path: str,
                     status: int) -> None:
    alarm = raise_alarm(alarm_city, "AQ-E", minute=40)
    if path == "rules":
        r = api.put("/api/v1/alarm-rules.yaml", params={"tenant": EAST}, content=b"rules: []\n",
                    headers=auth(user) | {"content-type": "application/yaml"})
    else:
        r = api.request(method, f"/api/v1/alarms/{alarm}{path}", headers=auth(user))
    assert r.status_code == status, r.text
    assert api.get(f"/api/v1/alarms/{alarm}", headers=auth("auditor")).status_code == 200


def test_rules_yaml_round_trip_and_all_or_nothing(api: TestClient, auth: Callable, alarm_city: Settings) -> None:
    h = auth("op-east") | {"content-type": "application/yaml"}
    first = api.get("/api/v1/alarm-rules.yaml", params={"tenant": EAST}, headers=h)
    assert first.status_code == 200 and "rules: []" in first.text and "no rules of its own" in first.text
    text = "rules:\n  - {kind: camera, metric: frame_loss_pct, type: threshold, op: '>', value: 5, for_seconds: 1800}\n"
    r = api.put("/api/v1/alarm-rules.yaml", params={"tenant": EAST}, content=text.encode(), headers=h)
    assert r.status_code == 200 and "frame_loss_pct" in r.text and "for_seconds: 1800" in r.text
    again = api.put("/api/v1/alarm-rules.yaml", params={"tenant": EAST}, content=r.text.encode(), headers=h)
    assert again.status_code == 200 and again.text == r.text  # what GET/PUT answers goes back unchanged
    bad = text + "  - {kind: camera, metric: x, type: threshold, value: 1}\n  - {type: absence}\n"
    r = api.put("/api/v1/alarm-rules.yaml", params={"tenant": EAST}, content=bad.encode(), headers=h)
    assert r.status_code == 422
    assert [d.split(":")[0] for d in r.json()["error"]["details"]] == ["rules[1].op", "rules[2].intervals"]
    with session_scope(alarm_city) as s:  # nothing of the refused file was kept
        assert [(x.metric, x.for_seconds) for x in alarms.rules_of(s, EAST)] == [("frame_loss_pct", 1800)]
    assert api.put("/api/v1/alarm-rules.yaml", params={"tenant": WEST}, content=text.encode(),
                   headers=h).status_code == 404
    listed = api.get("/api/v1/alarm-rules", headers=auth("dept-west")).json()
    assert {r["tenant_id"] for r in listed} == {None}  # 西区: the defaults; not 东区's rules, nor the city's
    assert {r["tenant_id"] for r in api.get("/api/v1/alarm-rules", headers=auth("admin")).json()} == \
        {None, CITY, EAST}
    assert [r["metric"] for r in api.get("/api/v1/alarm-rules", params={"tenant": EAST},
                                         headers=auth("op-east")).json()] == ["frame_loss_pct"]
    with session_scope(alarm_city) as s:
        s.execute(AlarmRule.__table__.delete().where(AlarmRule.tenant_id == EAST))  # type: ignore[attr-defined]


def test_console_list_and_its_csrf_protected_buttons(api: TestClient, alarm_city: Settings) -> None:
    alarm = raise_alarm(alarm_city, "AQ-P", minute=50)
    west = raise_alarm(alarm_city, "AQ-W", minute=50)
    client = TestClient(api.app, headers={"accept": "text/html"})
    assert login(client, "dept-east", PASSWORD).status_code == 303
    page = client.get("/alarms")
    assert page.status_code == 200 and f'id="alarm-{alarm}"' in page.text and west not in page.text
    assert 'class="sev sev-critical"' in page.text and "基础设施" in page.text
    csrf = form_field(page.text, _CSRF)
    refused = client.post(f"/alarms/{alarm}/acknowledge", data={"note": "x"}, follow_redirects=False)
    assert refused.status_code == 403  # a form without its CSRF token
    done = client.post(f"/alarms/{alarm}/acknowledge", data={"note": "到场", "csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/alarms#alarm-{alarm}"
    again = client.post(f"/alarms/{alarm}/acknowledge", data={"csrf": csrf}, follow_redirects=False)
    assert again.status_code == 409 and "the allowed actions are: clear" in again.text
    assert client.post(f"/alarms/{west}/clear", data={"csrf": csrf}, follow_redirects=False).status_code == 404
    with session_scope(alarm_city) as s:
        assert s.get(Alarm, alarm).status == "acknowledged"  # type: ignore[union-attr]
        assert s.get(Alarm, west).status == "raised"  # type: ignore[union-attr]


def test_the_overview_panel_counts_open_alarms(api: TestClient, alarm_city: Settings) -> None:
    raise_alarm(alarm_city, "AQ-W", "no2", minute=60)
    client = TestClient(api.app, headers={"accept": "text/html"})
    assert login(client, "dept-west", PASSWORD).status_code == 303
    with session_scope(alarm_city) as s:
        want = alarms.open_by_severity(s, [WEST])
    page = client.get("/overview").text
    assert 'id="panel-alarms"' in page and want.get("minor", 0) >= 1
    for severity, n in want.items():
        assert f'id="panel-alarms-{severity}"><span class="case-num">{n}</span>' in page
    with session_scope(alarm_city) as s:
        for a in s.scalars(select(Alarm).where(Alarm.tenant_id == WEST, Alarm.status != "cleared")):
            alarms.clear(s, a.id, actor="test")
    assert "暂无告警" in client.get("/overview").text
