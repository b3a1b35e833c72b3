"""/api/v1/cases, /api/v1/dispatch-rules and /api/v1/departments: intake, lifecycle, dispatch, isolation.

The module shares one city (``conftest.py``); each test makes its own cases and looks only at those, so the tests
do not depend on each other's order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, get_args

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from chengyun.accounts.models import AuditEntry
from chengyun.cases import lifecycle, sla
from chengyun.cases.models import Case, DispatchRule
from chengyun.cases.schemas import ActionName, ChannelName, PriorityName, StatusName
from chengyun.cases.service import CHANNELS, CaseDesk, create_case
from chengyun.core.db import session_scope, utcnow
from chengyun.core.settings import Settings

from .conftest import CITY, EAST, EAST_CG, PORT, PORT_OFFICE, WATER, WEST, WEST_CG

Auth = Callable[[str], dict[str, str]]
PHONE = "13812345678"


def new(api: TestClient, auth: Auth, who: str = "op-east", **body: Any) -> dict[str, Any]:
    """POST a case as ``who`` (a hotline noise complaint in 东区 unless told otherwise); the created case."""
    payload = {"tenant": EAST, "channel": "hotline", "category": "H0301"} | body
    r = api.post("/api/v1/cases", json=payload, headers=auth(who))
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/api/v1/cases/{r.json()['id']}"
    return r.json()


def act(
    api: TestClient, auth: Auth, case_id: str, who: str = "op-east", expect: int = 200, **body: Any
) -> dict:
    r = api.post(f"/api/v1/cases/{case_id}/actions", json=body, headers=auth(who))
    assert r.status_code == expect, r.text
    return r.json()


def ids(api: TestClient, auth: Auth, who: str, url: str = "/api/v1/cases", **params: Any) -> set[str]:
    r = api.get(url, params={"limit": 500} | params, headers=auth(who))
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()["items"]}


def service_case(settings: Settings, desk: CaseDesk, **fields: Any) -> str:
    """A case made through the service directly (past creation times, other channels); its id."""
    args: dict[str, Any] = {"tenant_id": EAST, "channel": "grid", "category": "E0102"} | fields
    with session_scope(settings) as s:
        return create_case(s, desk, **args).id


# ---- intake ----------------------------------------------------------------------------------------------------


def test_create_shows_the_contact_only_masked(api: TestClient, auth: Auth, case_city: Settings) -> None:
    r = api.post(
        "/api/v1/cases",
        headers=auth("op-east"),
        json={
            "tenant": EAST,
            "channel": "hotline",
            "category": "H0301",
            "priority": "high",
            "title": "夜间施工噪声",
            "description": "凌晨两点仍在施工",
            "lat": 31.23,
            "lon": 121.47,
            "address": "港口路 8 号",
            "contact": PHONE,
        },
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert PHONE not in r.text
    assert case["reporter"] == "138****5678"
    assert (case["status"], case["status_zh"], case["status_en"]) == ("accepted", "受理", "Accepted")
    assert case["category_name"] == "噪声扰民" and case["priority"] == "high"
    assert case["due_at"] and case["hours_left"] > 0 and case["overdue"] is False
    assert [a["action"] for a in case["allowed_actions"]] == ["dispatch", "cancel"]
    assert [(h["action"], h["to_status"]) for h in case["history"]] == [("accept", "accepted")]
    with session_scope(case_city) as s:
        row = s.get(Case, case["id"])
        assert row is not None and row.reporter_masked == "138****5678"
        assert row.reporter_hash and PHONE not in row.reporter_hash and row.channel == "hotline"


def test_reading_a_case_is_audited(api: TestClient, auth: Auth, case_city: Settings) -> None:
    case = new(api, auth, contact=PHONE)
    r = api.get(f"/api/v1/cases/{case['id']}", headers=auth("auditor"))
    assert r.status_code == 200 and r.json()["reporter"] == "138****5678" and PHONE not in r.text
    with session_scope(case_city) as s:
        reads = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "case.read", AuditEntry.target_id == case["id"])
        ).all()
        assert [(e.actor, e.target_type, e.tenant_id) for e in reads] == [("auditor", "case", EAST)]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"channel": None}, "body.channel"),
        ({"channel": "fax"}, "body.channel"),
        ({"priority": "asap"}, "body.priority"),
        ({"lat": 91, "lon": 0}, "body.lat"),
        ({"colour": "red"}, "body.colour"),
        ({"tenant": ""}, "body.tenant"),
        ({"category": "Z99"}, "category"),
        ({"lat": 31.2}, "lat/lon"),
        ({"description": "a\x00b"}, "description: contains a NUL character"),  # PostgreSQL cannot store it
    ],
)
def test_create_rejects_bad_input_naming_the_field(
    api: TestClient, auth: Auth, body: dict, named: str
) -> None:
    payload = {
        k: v
        for k, v in ({"tenant": EAST, "channel": "hotline", "category": "H0301"} | body).items()
        if v is not None
    }
    r = api.post("/api/v1/cases", json=payload, headers=auth("op-east"))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert named in error["message"] + " ".join(error["details"]) and error["fix"]


@pytest.mark.parametrize(
    ("who", "tenant", "status"),
    [
        ("op-east", WEST, 403),  # a unit outside the caller's
        ("op-east", PORT, 201),  # a unit below the caller's
        ("dept-east", EAST, 201),
        ("auditor", CITY, 403),  # reads only
        ("citizen", CITY, 403),  # citizens use Open311
    ],
)
def test_create_needs_cases_write_on_the_unit(
    api: TestClient, auth: Auth, who: str, tenant: str, status: int
) -> None:
    r = api.post("/api/v1/cases", json={"tenant": tenant, "channel": "app"}, headers=auth(who))
    assert r.status_code == status, r.text


# ---- lifecycle ---------------------------------------------------------------------------------------------------


def test_lifecycle_through_the_api(api: TestClient, auth: Auth) -> None:
    case = new(api, auth)
    cid = case["id"]
    assert act(api, auth, cid, action="dispatch", department=EAST_CG)["status"] == "dispatched"
    assert act(api, auth, cid, "dept-east", action="receive")["status_zh"] == "处置"
    act(api, auth, cid, "dept-east", action="extend", amount=2, reason="等待配件")
    done = act(api, auth, cid, "dept-east", action="resolve")
    assert done["status"] == "resolved" and done["hours_left"] is None
    followed = act(api, auth, cid, action="follow_up", solved=True, satisfaction=5)
    assert (followed["solved"], followed["satisfaction"]) == (True, 5)
    closed = act(api, auth, cid, action="close")
    assert closed["status"] == "closed" and closed["allowed_actions"] == [
        {"action": "reopen", "name_zh": "重开", "name_en": "Reopen"}
    ]
    steps = [(h["action"], h["from_status"], h["to_status"]) for h in closed["history"]]
    assert steps == [
        ("accept", None, "accepted"),
        ("dispatch", "accepted", "dispatched"),
        ("receive", "dispatched", "in_progress"),
        ("extend", "in_progress", "in_progress"),
        ("resolve", "in_progress", "resolved"),
        ("follow_up", "resolved", "followed_up"),
        ("close", "followed_up", "closed"),
    ]
    assert closed["extension"] == 2 and closed["history"][1]["department_id"] == EAST_CG


def test_an_illegal_move_is_a_conflict_naming_the_allowed_actions(api: TestClient, auth: Auth) -> None:
    cid = new(api, auth)["id"]
    act(api, auth, cid, action="dispatch", department=EAST_CG)
    act(api, auth, cid, "dept-east", action="receive")
    act(api, auth, cid, "dept-east", action="resolve")
    error = act(api, auth, cid, "dept-east", expect=409, action="receive")["error"]
    assert error["code"] == "conflict" and "resolved (办结)" in error["message"]
    assert error["fix"] == "from resolved the allowed actions are: follow_up, close, reopen"
    # nothing changed
    assert api.get(f"/api/v1/cases/{cid}", headers=auth("op-east")).json()["status"] == "resolved"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"action": "fly"}, "body.action"),
        ({"action": "cancel"}, "reason"),  # a reason is required to cancel
        ({"action": "dispatch"}, "department"),
        ({"action": "cancel", "reason": "重复", "satisfaction": 6}, "body.satisfaction"),
        ({"action": "cancel", "reason": "重复", "amount": -1}, "body.amount"),
    ],
)
def test_action_input_errors(api: TestClient, auth: Auth, body: dict, named: str) -> None:
    cid = new(api, auth)["id"]
    error = act(api, auth, cid, expect=422, **body)["error"]
    assert named in error["message"] + " ".join(error["details"])


def test_cancel_as_duplicate_and_dispatch_to_a_city_department(api: TestClient, auth: Auth) -> None:
    first, second = new(api, auth)["id"], new(api, auth)["id"]
    dup = act(api, auth, second, action="cancel", reason="重复投诉", duplicate_of=first)
    assert dup["status"] == "cancelled" and dup["duplicate_of"] == first
    # a district's operator may send a case up to a city bureau, not across to the other district's
    assert act(api, auth, first, action="dispatch", department=WATER)["department_id"] == WATER
    third = new(api, auth)["id"]
    error = act(api, auth, third, expect=404, action="dispatch", department=WEST_CG)["error"]
    assert WEST_CG in error["message"]
    assert act(api, auth, third, action="dispatch", department=PORT_OFFICE)["department_id"] == PORT_OFFICE


# ---- lists -------------------------------------------------------------------------------------------------------


def test_list_filters(api: TestClient, auth: Auth, case_city: Settings, case_desk: CaseDesk) -> None:
    now = utcnow()
    old = service_case(case_city, case_desk, created_at=now - timedelta(days=40))  # long overdue
    port = service_case(case_city, case_desk, tenant_id=PORT, channel="iot-alarm", category="E0402")
    noise = new(api, auth)["id"]
    rubbish = new(api, auth, category="E0101", channel="app")["id"]
    act(api, auth, rubbish, action="dispatch", department=EAST_CG)
    mine = {old, port, noise, rubbish}

    def listed(**params: Any) -> set[str]:
        return ids(api, auth, "op-east", **params) & mine

    assert listed() == mine
    assert listed(tenant=PORT) == {port}
    assert listed(tenant=EAST) == mine  # a unit and its subtree
    assert listed(status="dispatched") == {rubbish}
    assert listed(department=EAST_CG) == {rubbish}
    assert listed(category="E0") == {old, port, rubbish} and listed(category="E01") == {old, rubbish}
    assert listed(channel="iot-alarm") == {port}
    assert listed(overdue="true") == {old} and old not in listed(overdue="false")
    since = (now - timedelta(days=1)).isoformat()
    assert listed(since=since) == {port, noise, rubbish} and listed(until=since) == {old}
    assert listed(since=(now - timedelta(days=1)).isoformat() + "+00:00") == {port, noise, rubbish}
    item = next(
        i
        for i in api.get("/api/v1/cases", params={"tenant": PORT}, headers=auth("op-east")).json()["items"]
        if i["id"] == port
    )
    assert item["overdue"] is False and item["hours_left"] > 0 and item["status_en"] == "Accepted"
    overdue = next(
        i
        for i in api.get(
            "/api/v1/cases", params={"overdue": "true", "limit": 500}, headers=auth("op-east")
        ).json()["items"]
        if i["id"] == old
    )
    assert overdue["overdue"] is True and overdue["hours_left"] < -24


def test_list_is_paginated_newest_first(api: TestClient, auth: Auth) -> None:
    made = [new(api, auth, channel="other")["id"] for _ in range(3)]
    page = api.get("/api/v1/cases", params={"channel": "other", "limit": 2}, headers=auth("op-east")).json()
    assert page["limit"] == 2 and page["offset"] == 0 and page["total"] >= 3 and len(page["items"]) == 2
    assert [i["id"] for i in page["items"]] == made[::-1][:2]
    rest = api.get(
        "/api/v1/cases", params={"channel": "other", "limit": 2, "offset": 2}, headers=auth("op-east")
    )
    assert rest.json()["items"][0]["id"] == made[0]
    bad = api.get("/api/v1/cases", params={"status": "lost"}, headers=auth("op-east"))
    assert bad.status_code == 422 and "query.status" in bad.json()["error"]["message"]
    early = api.get("/api/v1/cases", params={"since": "0001-01-01T00:00:00+01:00"}, headers=auth("op-east"))
    assert early.status_code == 422 and "since" in early.json()["error"]["message"]


def test_categories_tree(api: TestClient, auth: Auth) -> None:
    tree = api.get("/api/v1/cases/categories", headers=auth("auditor")).json()
    assert [n["code"] for n in tree] == ["P", "E", "H"]
    events = tree[1]
    assert events["name"] == "事件" and events["children"][0]["code"] == "E01"
    assert [c["code"] for c in events["children"][0]["children"]] == ["E0101", "E0102", "E0103", "E0104"]
    assert events["children"][0]["children"][0] == {
        "code": "E0101",
        "name": "暴露垃圾",
        "name_en": "Exposed rubbish",
        "children": [],
    }


# ---- isolation ---------------------------------------------------------------------------------------------------


def test_a_department_sees_and_acts_only_within_its_district(api: TestClient, auth: Auth) -> None:
    west = new(api, auth, "admin", tenant=WEST)["id"]
    east = new(api, auth, "admin", tenant=PORT)["id"]
    # not found, not forbidden: a case outside the caller's units does not exist for it
    assert api.get(f"/api/v1/cases/{west}", headers=auth("dept-east")).status_code == 404
    assert (
        act(api, auth, west, "dept-east", expect=404, action="cancel", reason="x")["error"]["code"]
        == "not-found"
    )
    assert (
        act(api, auth, east, "dept-east", expect=404, action="cancel", reason="重复", duplicate_of=west)[
            "error"
        ]["code"]
        == "not-found"
    )
    assert api.get("/api/v1/cases", params={"tenant": WEST}, headers=auth("dept-east")).status_code == 404
    seen = api.get("/api/v1/cases", params={"limit": 500}, headers=auth("dept-east")).json()["items"]
    assert east in {c["id"] for c in seen} and west not in {c["id"] for c in seen}
    assert {c["tenant_id"] for c in seen} <= {EAST, PORT}
    assert west in ids(api, auth, "dept-west") and east not in ids(api, auth, "dept-west")
    assert act(api, auth, west, "dept-west", action="dispatch", department=WEST_CG)["status"] == "dispatched"


@pytest.mark.parametrize(
    ("who", "method", "url", "status"),
    [
        ("citizen", "GET", "/api/v1/cases", 403),
        ("citizen", "GET", "/api/v1/cases/categories", 403),
        ("auditor", "GET", "/api/v1/cases", 200),
        ("auditor", "GET", "/api/v1/cases/triage", 200),
        ("dept-east", "GET", "/api/v1/dispatch-rules", 403),  # departments do not set the rules
        ("auditor", "GET", "/api/v1/dispatch-rules", 403),
        ("op-east", "GET", "/api/v1/dispatch-rules", 200),
        (None, "GET", "/api/v1/cases", 401),
    ],
)
def test_who_may_call(
    api: TestClient, auth: Auth, who: str | None, method: str, url: str, status: int
) -> None:
    r = api.request(method, url, headers=auth(who) if who else {})
    assert r.status_code == status, r.text


def test_auditors_may_not_act(api: TestClient, auth: Auth) -> None:
    cid = new(api, auth)["id"]
    r = api.post(
        f"/api/v1/cases/{cid}/actions", json={"action": "cancel", "reason": "x"}, headers=auth("auditor")
    )
    assert r.status_code == 403 and "cases.write" in r.json()["error"]["message"]


def test_departments(api: TestClient, auth: Auth) -> None:
    def listed(who: str, **params: str) -> list[str]:
        r = api.get("/api/v1/departments", params=params, headers=auth(who))
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()]

    assert listed("admin") == sorted([EAST_CG, PORT_OFFICE, WATER, WEST_CG])
    assert listed("op-east") == [EAST_CG, PORT_OFFICE]
    assert listed("admin", tenant=EAST) == [EAST_CG, PORT_OFFICE]
    assert api.get("/api/v1/departments", params={"tenant": WEST}, headers=auth("op-east")).status_code == 404
    one = api.get("/api/v1/departments", params={"tenant": PORT}, headers=auth("admin")).json()
    assert one == [{"id": PORT_OFFICE, "tenant_id": PORT, "name": "港口街道办", "kind": "bureau"}]


# ---- dispatch rules and the triage queue ------------------------------------------------------------------------


def rule(api: TestClient, auth: Auth, who: str = "admin", expect: int = 201, **body: Any) -> dict:
    r = api.post("/api/v1/dispatch-rules", json=body, headers=auth(who))
    assert r.status_code == expect, r.text
    return r.json()


def test_dispatch_by_rule_and_the_triage_queue(api: TestClient, auth: Auth) -> None:
    city_rule = rule(api, auth, tenant=CITY, category="E03*", department=WATER, note="施工类")
    west_only = rule(api, auth, tenant=CITY, category="P01*", area=WEST, department=WEST_CG)
    try:
        # a district operator's case follows the city's rule (the system reads rules above the caller's units)
        spill = new(api, auth, category="E0302")
        assert (spill["status"], spill["department_id"]) == ("dispatched", WATER)
        assert (spill["history"][-1]["actor"], spill["history"][-1]["reason"]) == (
            "dispatch-rules",
            f"rule {city_rule['id']} (施工类)",
        )
        lamp_east = new(api, auth, category="P0102")  # the P01 rule covers 西区 only
        lamp_west = new(api, auth, "admin", tenant=WEST, category="P0102")
        assert lamp_east["department_id"] is None and lamp_west["department_id"] == WEST_CG
        triage = ids(api, auth, "op-east", "/api/v1/cases/triage")
        assert lamp_east["id"] in triage and spill["id"] not in triage and lamp_west["id"] not in triage
        assert lamp_east["id"] not in ids(api, auth, "dept-west", "/api/v1/cases/triage")
        queue = api.get("/api/v1/cases/triage", params={"limit": 500}, headers=auth("admin")).json()["items"]
        assert all(c["status"] == "accepted" and c["department_id"] is None for c in queue)
        assert [c["created_at"] for c in queue] == sorted(
            c["created_at"] for c in queue
        )  # longest waiting first
        act(api, auth, lamp_east["id"], action="dispatch", department=EAST_CG)
        assert lamp_east["id"] not in ids(api, auth, "op-east", "/api/v1/cases/triage")
    finally:
        for r in (city_rule, west_only):
            assert api.delete(f"/api/v1/dispatch-rules/{r['id']}", headers=auth("admin")).status_code == 204


def test_dispatch_rules_crud(api: TestClient, auth: Auth) -> None:
    made = rule(
        api,
        auth,
        "op-east",
        tenant=EAST,
        category="E05*",
        hours="22:00-06:00",
        department=EAST_CG,
        position=5,
    )
    assert made | {"id": 0} == {
        "id": 0,
        "tenant": EAST,
        "position": 5,
        "category": "E05*",
        "area": None,
        "hours": "22:00-06:00",
        "department": EAST_CG,
        "enabled": True,
        "note": None,
    }
    assert made["id"] in {
        r["id"]
        for r in api.get("/api/v1/dispatch-rules", params={"tenant": EAST}, headers=auth("op-east")).json()
    }
    url = f"/api/v1/dispatch-rules/{made['id']}"
    changed = api.put(
        url, json={"category": "E0501", "department": WATER, "enabled": False}, headers=auth("op-east")
    )
    assert changed.status_code == 200, changed.text
    assert (
        changed.json()["category"],
        changed.json()["department"],
        changed.json()["enabled"],
        changed.json()["position"],
        changed.json()["tenant"],
    ) == ("E0501", WATER, False, 100, EAST)
    assert api.put(url, json={"department": WATER}, headers=auth("admin")).status_code == 200
    assert api.delete(url, headers=auth("op-east")).status_code == 204
    assert api.delete(url, headers=auth("op-east")).status_code == 404
    # the caller's units only
    rule(api, auth, "op-east", expect=403, tenant=CITY, department=WATER)
    city = rule(api, auth, tenant=CITY, category="H05", department=WATER)
    try:
        assert city["id"] not in {
            r["id"] for r in api.get("/api/v1/dispatch-rules", headers=auth("op-east")).json()
        }
        other = f"/api/v1/dispatch-rules/{city['id']}"
        assert api.put(other, json={"department": WATER}, headers=auth("op-east")).status_code == 404
        assert api.delete(other, headers=auth("op-east")).status_code == 404
    finally:
        api.delete(f"/api/v1/dispatch-rules/{city['id']}", headers=auth("admin"))


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"category": "X*"}, "category: 'X*' matches no category code"),
        ({"area": WEST}, "area: 'lj-west' is not 'lj-east'"),
        ({"department": WEST_CG}, "department: no department 'west-cg'"),
        ({"department": "nobody"}, "department: no department 'nobody'"),
        ({"hours": "25:00-26:00"}, "body.hours"),
        ({"hours": "08:00-08:00"}, "body.hours"),
        ({"colour": "red"}, "body.colour"),
    ],
)
def test_dispatch_rule_errors(api: TestClient, auth: Auth, body: dict, named: str) -> None:
    error = rule(api, auth, "op-east", expect=422, **({"tenant": EAST, "department": EAST_CG} | body))[
        "error"
    ]
    assert named in error["message"] + " ".join(error["details"])


RULES_YAML = """\
tenant: lj-east
rules:
  - category: E05*
    hours: 22:00-06:00
    department: east-cg
    note: 夜间街面秩序
  - {category: 'P01*', area: lj-east-port, department: port-office}
  - category: '*'
    department: water
    enabled: false
"""


def _yaml(api: TestClient, auth: Auth, tenant: str = EAST, who: str = "op-east") -> str:
    r = api.get("/api/v1/dispatch-rules.yaml", params={"tenant": tenant}, headers=auth(who))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/yaml")
    return r.text


def _put_yaml(api: TestClient, auth: Auth, text: str, tenant: str = EAST, who: str = "op-east") -> Any:
    return api.put(
        "/api/v1/dispatch-rules.yaml",
        params={"tenant": tenant},
        content=text.encode(),
        headers=auth(who) | {"content-type": "application/yaml"},
    )


def test_dispatch_rules_yaml_round_trip(api: TestClient, auth: Auth, case_city: Settings) -> None:
    r = _put_yaml(api, auth, RULES_YAML)
    assert r.status_code == 200, r.text
    text = _yaml(api, auth)
    assert r.text == text and text.startswith("# 派遣规则 dispatch rules of lj-east (东区)")
    assert yaml.safe_load(text) == {
        "tenant": EAST,
        "rules": [
            {
                "category": "E05*",
                "hours": "22:00-06:00",
                "department": EAST_CG,
                "enabled": True,
                "note": "夜间街面秩序",
            },
            {"category": "P01*", "area": PORT, "department": PORT_OFFICE, "enabled": True},
            {"category": "*", "department": WATER, "enabled": False},
        ],
    }
    listed = api.get("/api/v1/dispatch-rules", params={"tenant": EAST}, headers=auth("op-east")).json()
    assert [(x["position"], x["category"]) for x in listed] == [(10, "E05*"), (20, "P01*"), (30, "*")]
    # what GET gives, PUT takes back unchanged
    assert _put_yaml(api, auth, text).text == text
    lamp = new(api, auth, tenant=PORT, category="P0102")
    assert lamp["department_id"] == PORT_OFFICE
    # an empty list clears the unit's rules
    assert yaml.safe_load(_put_yaml(api, auth, "rules: []\n").text)["rules"] == []
    with session_scope(case_city) as s:
        assert s.scalars(select(DispatchRule).where(DispatchRule.tenant_id == EAST)).all() == []


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("rules:\n  - category: *\n    department: east-cg\n", "line 2"),
        ("- category: E01*\n", "a mapping with a `rules:` list"),
        (
            "rules:\n  - {category: E05*, department: east-cg}\n  - {category: E01*, department: east-cg, hours: 8-17}\n",
            "rules[1].hours",
        ),
        ("rules:\n  - {category: E05*, department: nobody}\n", "rules[0].department: no department 'nobody'"),
        (
            "rules:\n  - {category: Q*, department: east-cg}\n",
            "rules[0].category: 'Q*' matches no category code",
        ),
        ("rules:\n  - {category: E05*, department: east-cg, colour: red}\n", "rules[0].colour"),
        ("rules:\n  - {category: E05*}\n", "rules[0].department: Field required"),
        ("tenant: lj-west\nrules: []\n", "the YAML is for 'lj-west'"),
        ("tenant: lj-east\nrule: []\n", "rule: Extra inputs are not permitted"),
    ],
)
def test_dispatch_rules_yaml_errors_name_the_rule_and_field(
    api: TestClient, auth: Auth, text: str, named: str
) -> None:
    before = _put_yaml(api, auth, "rules:\n  - {category: E05*, department: east-cg}\n")
    assert before.status_code == 200, before.text
    r = _put_yaml(api, auth, text)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert named in error["message"] + " ".join(error["details"]), error
    assert _yaml(api, auth) == before.text  # all or nothing


def test_dispatch_rules_yaml_of_other_units(api: TestClient, auth: Auth) -> None:
    r = api.get("/api/v1/dispatch-rules.yaml", params={"tenant": WEST}, headers=auth("op-east"))
    assert r.status_code == 404
    assert _put_yaml(api, auth, "rules: []\n", tenant=WEST).status_code == 404
    assert _put_yaml(api, auth, "rules: []\n", who="dept-east").status_code == 403
    assert yaml.safe_load(_yaml(api, auth, WEST, "admin"))["tenant"] == WEST


# ---- the schema literals follow the domain ----------------------------------------------------------------------


def test_schema_literals_match_the_domain_tables() -> None:
    assert list(get_args(ActionName)) == list(lifecycle.TRANSITIONS)
    assert list(get_args(StatusName)) == list(lifecycle.STATUSES)
    assert list(get_args(ChannelName)) == list(CHANNELS)
    assert list(get_args(PriorityName)) == list(sla.PRIORITIES)


def test_a_parent_case_must_be_one_the_caller_may_see(api: TestClient, auth: Auth) -> None:
    west = new(api, auth, "admin", tenant=WEST)
    east = new(api, auth)
    child = new(api, auth, parent_id=east["id"])
    assert child["parent_id"] == east["id"]
    for parent in (west["id"], "no-such-case"):  # another district's case, or nothing at all
        r = api.post("/api/v1/cases", json={"tenant": EAST, "channel": "hotline", "category": "H0301",
                                            "parent_id": parent}, headers=auth("op-east"))
        assert r.status_code == 404, r.text
        assert "parent_id" in r.json()["error"]["message"]
