"""/api/v1/audit: what is recorded (logins, account writes, reads of personal data), the filters, the chain check,
and for every write through the API an entry naming the actor, the client and the request id."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from chengyun.accounts import service
from chengyun.accounts.models import AuditEntry
from chengyun.api.app import create_app
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from chengyun.tenancy.models import Department
from chengyun.tenancy.service import add_department

from .conftest import (
    ADMIN,
    PACK,
    PASSWORD,
    TARGET,
    admin_client,
    bearer,
    build_small_city,
    login,
    make_user,
)


def _audit(client: TestClient, **params: Any) -> list[dict]:
    r = client.get("/api/v1/audit", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_logins_are_audited_ok_and_failed(city_client: TestClient, accounts_city: Settings) -> None:
    make_user(accounts_city, "gone", "operator", TARGET)
    with session_scope(accounts_city) as s:
        service.disable_user(s, "gone")
    for name, password in ((ADMIN, "not-the-password"), ("ghost", PASSWORD), ("gone", PASSWORD)):
        assert (
            city_client.post("/api/v1/auth/token", data={"username": name, "password": password}).status_code
            == 401
        )
    login(city_client, ADMIN)
    entries = _audit(city_client, action="login")
    seen = [(e["actor"], e["outcome"], (e["detail"] or {}).get("reason")) for e in entries[:4]]
    assert seen == [  # newest first
        (ADMIN, "ok", None),
        ("gone", "denied", "disabled"),
        # an unknown name is kept as a keyed hash of what was typed (it may be a password), worked out here
        ("unknown:h:" + hmac.new(accounts_city.secret().encode(), b"login-name:ghost", hashlib.sha256).hexdigest()[:16],
         "failed", "bad-credentials"),
        (ADMIN, "failed", "bad-credentials"),
    ]
    assert all(e["client"] == "testclient" and e["target_type"] is None for e in entries[:4])


def test_user_writes_and_reads_of_personal_data_are_audited(city_client: TestClient) -> None:
    assert (
        city_client.post(
            "/api/v1/users", json={"name": "zhao", "role": "operator", "unit": TARGET}
        ).status_code
        == 201
    )
    assert (
        city_client.post("/api/v1/users/zhao/grants", json={"role": "auditor", "unit": TARGET}).status_code
        == 201
    )
    assert (
        city_client.delete(
            "/api/v1/users/zhao/grants", params={"role": "operator", "unit": TARGET}
        ).status_code
        == 204
    )
    assert city_client.post("/api/v1/users/zhao/disable").status_code == 200
    writes = _audit(city_client, action="user.*")
    assert [(e["action"], e["target_id"]) for e in writes][:4] == [
        ("user.disable", "zhao"),
        ("user.revoke", "zhao"),
        ("user.grant", "zhao"),
        ("user.add", "zhao"),
    ]
    assert {e["action"] for e in writes} == {"user.add", "user.grant", "user.revoke", "user.disable"}
    add = writes[3]
    assert (
        add["actor"] == ADMIN
        and add["tenant_id"] == TARGET
        and add["detail"] == {"role": "operator", "unit": TARGET}
    )
    assert city_client.get("/api/v1/users").status_code == 200
    assert city_client.get("/api/v1/users/zhao").status_code == 200
    reads = _audit(city_client, action="users.read")
    assert [(e["actor"], e["target_type"], e["target_id"]) for e in reads] == [
        (ADMIN, "user", "zhao"),
        (ADMIN, "user", None),
    ]
    assert reads[1]["detail"] == {"count": 2}


def test_a_refused_write_leaves_no_entry(city_client: TestClient) -> None:
    before = _audit(city_client, action="user.*")
    body = {"name": "dup", "role": "citizen", "unit": TARGET}
    assert city_client.post("/api/v1/users", json=body).status_code == 201
    assert city_client.post("/api/v1/users", json=body).status_code == 409
    assert len(_audit(city_client, action="user.*")) == len(before) + 1


def test_filters_by_actor_tenant_and_action(city_client: TestClient, accounts_city: Settings) -> None:
    make_user(accounts_city, "second-admin", "admin", TARGET)
    headers = bearer(login(city_client, "second-admin"))
    assert (
        city_client.post(
            "/api/v1/users", json={"name": "by-second", "role": "citizen", "unit": TARGET}, headers=headers
        ).status_code
        == 201
    )
    mine = _audit(city_client, actor="second-admin")
    assert {e["action"] for e in mine} == {"login", "user.add"} and all(
        e["actor"] == "second-admin" for e in mine
    )
    east = _audit(city_client, tenant=TARGET)
    assert east and all(e["tenant_id"] == TARGET for e in east)
    assert {e["target_id"] for e in east} >= {"second-admin", "by-second"}
    assert _audit(city_client, action="user.add", target_id="by-second")[0]["actor"] == "second-admin"
    assert _audit(city_client, action="user") == []  # exact unless it ends in *


def test_since_is_inclusive_and_until_exclusive(city_client: TestClient) -> None:
    for i in range(4):
        city_client.post("/api/v1/users", json={"name": f"t-{i}", "role": "citizen", "unit": TARGET})
    entries = _audit(city_client)
    pivot = entries[len(entries) // 2]["at"]
    after, before = _audit(city_client, since=pivot), _audit(city_client, until=pivot)
    assert after and before and len(after) + len(before) == len(entries)
    assert all(e["at"] >= pivot for e in after) and all(e["at"] < pivot for e in before)
    # a time with an offset means the same instant (the store keeps UTC)
    local = (datetime.fromisoformat(pivot) + timedelta(hours=8)).replace(tzinfo=None).isoformat() + "+08:00"
    assert _audit(city_client, since=local) == after
    assert _audit(city_client, since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z") == []


def test_verify_checks_the_whole_chain(city_client: TestClient, accounts_city: Settings) -> None:
    city_client.post("/api/v1/users", json={"name": "someone", "role": "citizen", "unit": TARGET})
    r = city_client.get("/api/v1/audit/verify")
    assert r.status_code == 200
    v = r.json()
    assert v["ok"] is True and v["checked"] == v["head_seq"] > 0 and v["broken_seq"] is None
    assert len(v["head_hash"]) == 64 and v["head_hash"] == _audit(city_client)[0]["hash"]
    with session_scope(accounts_city) as s:  # someone edits the log behind the application's back
        s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor="someone-else"))
    v = city_client.get("/api/v1/audit/verify").json()
    assert v["ok"] is False and v["broken_seq"] == 2 and "edited" in v["reason"]


# ---- every write through the API names its actor, client and request id -------------------------------------

_serial = itertools.count()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Settings]]:
    """The small city (runs can be made in it) with the administrator's client, for the whole module."""
    settings = build_small_city(tmp_path_factory.mktemp("audit-writes"))
    with admin_client(settings) as c:
        yield c, settings


Write = Callable[[TestClient, Settings, dict[str, str]], Any]


def _spare(settings: Settings, kind: str = "access") -> tuple[str, str]:
    with session_scope(settings) as s:
        row, token = service.issue_token(
            s, service.get_user(s, ADMIN), kind=kind, lifetime=timedelta(hours=1)
        )
        return row.id, token


def _user(settings: Settings) -> str:
    name = f"w-{next(_serial)}"
    make_user(settings, name, "citizen", TARGET)
    return name


def _dept(settings: Settings) -> str:
    """A department of T (made once)."""
    with session_scope(settings) as s:
        if s.get(Department, f"{TARGET}.works") is None:
            add_department(session=s, department_id=f"{TARGET}.works", tenant_id=TARGET, name="东区市政")
    return f"{TARGET}.works"


def _case_body() -> dict[str, Any]:
    return {"tenant": TARGET, "channel": "hotline", "category": "E0101", "description": "路边暴露垃圾"}


def _new_case(c: TestClient) -> str:
    r = c.post("/api/v1/cases", json=_case_body())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _rule_body(department: str) -> dict[str, Any]:
    return {"tenant": TARGET, "category": "E01*", "department": department}


def _new_rule(c: TestClient, s: Settings) -> int:
    r = c.post("/api/v1/dispatch-rules", json=_rule_body(_dept(s)))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _console_login(c: TestClient, s: Settings, h: dict[str, str]) -> Any:
    c.cookies.set("cy_login", "form-value")
    try:
        return c.post(
            "/login",
            data={"username": ADMIN, "password": PASSWORD, "csrf": "form-value"},
            headers=h,
            follow_redirects=False,
        )
    finally:
        c.cookies.clear()


def _asset_body() -> dict[str, Any]:
    return {"id": f"aud-{next(_serial)}", "name": "审计测试设备", "kind": "sensor", "tenant": TARGET}


def _new_asset(c: TestClient) -> str:
    r = c.post("/api/v1/assets", json=_asset_body())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _new_dependency(c: TestClient) -> str:
    """``<asset>/dependencies/<other>`` of a dependency just recorded."""
    path = f"{_new_asset(c)}/dependencies/{_new_asset(c)}"
    assert c.put(f"/api/v1/assets/{path}").status_code == 200
    return path


def _new_alarm(s: Settings) -> str:
    """An open alarm of a new asset of T."""
    from chengyun.assets.models import Alarm
    from chengyun.assets.schemas import AssetCreate
    from chengyun.assets.service import add_asset

    n, at = next(_serial), datetime(2026, 11, 26)
    with session_scope(s) as session:
        add_asset(session, AssetCreate(id=f"aud-alarm-{n}", name="审计告警设备", kind="sensor", tenant=TARGET))
        session.add(Alarm(id=f"alm-aud-{n}", asset_id=f"aud-alarm-{n}", tenant_id=TARGET, type="threshold",
                          status="raised", severity="major", raised_at=at, last_at=at, message="pm25 > 150", count=1))
    return f"alm-aud-{n}"


def _dataset_of_t(s: Settings, sharing_type: str = "conditional") -> str:
    """A new loaded dataset of T (two rows), provided by T's department, with one stored rule; its id."""
    from chengyun.catalog import quality
    from chengyun.catalog import service as catalog
    from chengyun.catalog.entry import CatalogEntry

    n, dept = next(_serial), _dept(s)
    src = s.workspace / f"aud-{n}.csv"
    src.write_text("code,name\nA1,甲\nA2,乙\n", encoding="utf-8")
    with session_scope(s) as session:
        ds, _ = catalog.add_dataset(session, s, source=str(src), name=f"aud-{n}", tenant=TARGET, provider=dept)
        catalog.apply_entry(session, ds, CatalogEntry(code=f"AUD-{n}", name="审计测试数据", provider=dept,
                                                      sharing_type=sharing_type))
        quality.set_rules(session, ds, {"rules": [{"id": "name", "kind": "not-null", "column": "name"}]})
        return ds.id


def _people_of_t(s: Settings) -> str:
    """A new loaded dataset of T with a personal column (手机号码, detected on load); its id."""
    from chengyun.catalog import service as catalog

    n = next(_serial)
    src = s.workspace / f"aud-people-{n}.csv"
    src.write_text("code,手机号码\nA1,13800001111\nA2,13900002222\n", encoding="utf-8")
    with session_scope(s) as session:
        ds, _ = catalog.add_dataset(session, s, source=str(src), name=f"aud-people-{n}", tenant=TARGET)
        return ds.id


def _request_of_t(s: Settings, sharing_type: str = "conditional") -> str:
    """A sharing request of T's department for a new dataset of T: pending, or granted when unconditional."""
    from chengyun.catalog import service as catalog
    from chengyun.catalog import sharing

    ds_id, dept = _dataset_of_t(s, sharing_type), _dept(s)
    with session_scope(s) as session:
        req, _ = sharing.request_access(session, catalog.get_dataset(session, ds_id), department=dept, purpose="审计")
        return req.id


# (method, path) → (the request, sent with the request-id header h; the action it must record)
WRITES: dict[tuple[str, str], tuple[Write, str]] = {
    ("POST", "/api/v1/auth/token"): (
        lambda c, s, h: c.post(
            "/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD}, headers=h
        ),
        "login",
    ),
    ("POST", "/api/v1/auth/logout"): (
        lambda c, s, h: c.post("/api/v1/auth/logout", headers=h | bearer(_spare(s)[1])),
        "token.revoke",
    ),
    ("POST", "/api/v1/tokens"): (
        lambda c, s, h: c.post("/api/v1/tokens", json={}, headers=h),
        "token.create",
    ),
    ("DELETE", "/api/v1/tokens/{token_id}"): (
        lambda c, s, h: c.delete(f"/api/v1/tokens/{_spare(s, 'api')[0]}", headers=h),
        "token.revoke",
    ),
    ("POST", "/api/v1/users"): (
        lambda c, s, h: c.post(
            "/api/v1/users", json={"name": f"n-{next(_serial)}", "role": "citizen", "unit": TARGET}, headers=h
        ),
        "user.add",
    ),
    ("POST", "/api/v1/users/{name}/disable"): (
        lambda c, s, h: c.post(f"/api/v1/users/{_user(s)}/disable", headers=h),
        "user.disable",
    ),
    ("POST", "/api/v1/users/{name}/grants"): (
        lambda c, s, h: c.post(
            f"/api/v1/users/{_user(s)}/grants", json={"role": "auditor", "unit": TARGET}, headers=h
        ),
        "user.grant",
    ),
    ("DELETE", "/api/v1/users/{name}/grants"): (
        lambda c, s, h: c.delete(
            f"/api/v1/users/{_user(s)}/grants", params={"role": "citizen", "unit": TARGET}, headers=h
        ),
        "user.revoke",
    ),
    ("POST", "/api/v1/evaluations"): (
        lambda c, s, h: c.post(
            "/api/v1/evaluations", json={"pack": PACK, "tenant": TARGET, "period": "2025Q1"}, headers=h
        ),
        "evaluation.create",
    ),
    ("POST", "/login"): (_console_login, "login"),
    ("POST", "/api/v1/cases"): (
        lambda c, s, h: c.post("/api/v1/cases", json=_case_body(), headers=h),
        "case.create",
    ),
    ("POST", "/api/v1/cases/{case_id}/actions"): (
        lambda c, s, h: c.post(
            f"/api/v1/cases/{_new_case(c)}/actions", json={"action": "cancel", "reason": "测试"}, headers=h
        ),
        "case.cancel",
    ),
    ("POST", "/cases/{case_id}/actions"): (  # the console's form, sent here with a bearer token (no CSRF needed)
        lambda c, s, h: c.post(
            f"/cases/{_new_case(c)}/actions", data={"action": "cancel", "reason": "重复"}, headers=h,
            follow_redirects=False,
        ),
        "case.cancel",
    ),
    ("POST", "/api/v1/dispatch-rules"): (
        lambda c, s, h: c.post("/api/v1/dispatch-rules", json=_rule_body(_dept(s)), headers=h),
        "dispatch_rule.create",
    ),
    ("PUT", "/api/v1/dispatch-rules/{rule_id}"): (
        lambda c, s, h: c.put(
            f"/api/v1/dispatch-rules/{_new_rule(c, s)}", json={"category": "E02*", "department": _dept(s)}, headers=h
        ),
        "dispatch_rule.update",
    ),
    ("DELETE", "/api/v1/dispatch-rules/{rule_id}"): (
        lambda c, s, h: c.delete(f"/api/v1/dispatch-rules/{_new_rule(c, s)}", headers=h),
        "dispatch_rule.delete",
    ),
    ("PUT", "/api/v1/dispatch-rules.yaml"): (
        lambda c, s, h: c.put(
            "/api/v1/dispatch-rules.yaml",
            params={"tenant": TARGET},
            content=f"rules:\n  - {{category: 'E01*', department: {_dept(s)}}}\n".encode(),
            headers=h | {"content-type": "application/yaml"},
        ),
        "dispatch_rules.replace",
    ),
    ("POST", "/cases/rules"): (  # the console's rules editor, sent here with a bearer token (no CSRF needed)
        lambda c, s, h: c.post(
            "/cases/rules",
            data={"unit": TARGET, "text": f"rules:\n  - {{category: 'E01*', department: {_dept(s)}}}\n"},
            headers=h,
            follow_redirects=False,
        ),
        "dispatch_rules.replace",
    ),
    ("POST", "/logout"): (
        lambda c, s, h: c.post("/logout", headers=h | bearer(_spare(s)[1]), follow_redirects=False),
        "token.revoke",
    ),
    # the asset registry (设备台账): every change goes through the service, which records it
    ("POST", "/api/v1/assets"): (
        lambda c, s, h: c.post("/api/v1/assets", json=_asset_body(), headers=h),
        "asset.create",
    ),
    ("PATCH", "/api/v1/assets/{asset_id}"): (
        lambda c, s, h: c.patch(f"/api/v1/assets/{_new_asset(c)}", json={"operator": "运维公司"}, headers=h),
        "asset.update",
    ),
    ("POST", "/api/v1/assets/{asset_id}/retire"): (
        lambda c, s, h: c.post(f"/api/v1/assets/{_new_asset(c)}/retire", json={"reason": "更换"}, headers=h),
        "asset.retire",
    ),
    ("PUT", "/api/v1/assets/{asset_id}/dependencies/{other_id}"): (
        lambda c, s, h: c.put(f"/api/v1/assets/{_new_asset(c)}/dependencies/{_new_asset(c)}", headers=h),
        "asset.depend",
    ),
    ("DELETE", "/api/v1/assets/{asset_id}/dependencies/{other_id}"): (
        lambda c, s, h: c.delete(f"/api/v1/assets/{_new_dependency(c)}", headers=h),
        "asset.undepend",
    ),
    # alarms (告警): acknowledging, clearing (API and console forms) and replacing a unit's rules
    **{
        ("POST", f"{prefix}/{{alarm_id}}/{action}"): (
            lambda c, s, h, prefix=prefix, action=action: c.post(
                f"{prefix}/{_new_alarm(s)}/{action}", headers=h, follow_redirects=False),
            f"alarm.{action}",
        )
        for prefix in ("/api/v1/alarms", "/alarms") for action in ("acknowledge", "clear")
    },
    ("PUT", "/api/v1/alarm-rules.yaml"): (
        lambda c, s, h: c.put("/api/v1/alarm-rules.yaml", params={"tenant": TARGET}, content=b"rules: []\n",
                              headers=h | {"content-type": "application/yaml"}),
        "alarm_rules.replace",
    ),
    # an NGSI-LD entity the registry does not know is registered as an asset: that change is audited
    **{
        ("POST", path): (
            lambda c, s, h, path=path: c.post(path, content=_ngsi_entity(), headers=h | {
                "content-type": "application/json", "NGSILD-Tenant": TARGET}),
            "asset.create",
        )
        for path in ("/ngsi-ld/v1/entityOperations/upsert", "/ngsi-ld/v1/notify")
    },
    # data resources (数据资源): every change goes through the catalogue, quality or sharing service, which records it
    ("POST", "/api/v1/datasets"): (
        lambda c, s, h: c.post("/api/v1/datasets", headers=h, json={"name": f"aud-new-{next(_serial)}", "tenant": TARGET,
                               "entry": {"code": f"AUD-NEW-{next(_serial)}", "name": "审计新资源",
                                         "sharing_type": "有条件共享"}}),
        "dataset.create",
    ),
    ("PUT", "/api/v1/datasets/{dataset_id}/entry"): (
        lambda c, s, h: c.put(f"/api/v1/datasets/{_dataset_of_t(s)}/entry", headers=h, json={
            "code": f"AUD-E-{next(_serial)}", "name": "审计改名", "sharing_type": "无条件共享"}),
        "dataset.catalogue",
    ),
    ("PUT", "/api/v1/datasets/{dataset_id}/data"): (
        lambda c, s, h: c.put(f"/api/v1/datasets/{_dataset_of_t(s)}/data", params={"format": "csv"},
                              content="code,name\nB1,丙\n".encode(), headers=h | {"content-type": "text/csv"}),
        "dataset.refresh",
    ),
    ("PUT", "/api/v1/datasets/{dataset_id}/rules"): (
        lambda c, s, h: c.put(f"/api/v1/datasets/{_dataset_of_t(s)}/rules", headers=h,
                              json={"rules": [{"id": "code", "kind": "unique", "column": "code"}]}),
        "dataset.rules",
    ),
    ("POST", "/api/v1/datasets/{dataset_id}/quality-runs"): (
        lambda c, s, h: c.post(f"/api/v1/datasets/{_dataset_of_t(s)}/quality-runs", headers=h),
        "dataset.quality",
    ),
    ("PUT", "/api/v1/datasets/{dataset_id}/columns/{column}/personal"): (
        lambda c, s, h: c.put(f"/api/v1/datasets/{_dataset_of_t(s)}/columns/name/personal", headers=h,
                              json={"personal": "name"}),
        "dataset.personal",
    ),
    ("POST", "/api/v1/datasets/{dataset_id}/reveal"): (  # a read of personal data in clear: audited like a write
        lambda c, s, h: c.post(f"/api/v1/datasets/{_people_of_t(s)}/reveal", headers=h, json={"reason": "核验"}),
        "dataset.reveal",
    ),
    ("POST", "/datasets/{dataset_id}/reveal"): (  # the console's reveal form, with a bearer token
        lambda c, s, h: c.post(f"/datasets/{_people_of_t(s)}/reveal", data={"reason": "核验"}, headers=h),
        "dataset.reveal",
    ),
    ("POST", "/api/v1/sharing-requests"): (
        lambda c, s, h: c.post("/api/v1/sharing-requests", headers=h,
                               json={"dataset": _dataset_of_t(s), "department": _dept(s), "purpose": "审计"}),
        "sharing.request",
    ),
    ("POST", "/api/v1/sharing-requests/{request_id}/decision"): (
        lambda c, s, h: c.post(f"/api/v1/sharing-requests/{_request_of_t(s)}/decision", json={"approve": True},
                               headers=h),
        "sharing.grant",
    ),
    ("POST", "/api/v1/sharing-requests/{request_id}/revoke"): (
        lambda c, s, h: c.post(f"/api/v1/sharing-requests/{_request_of_t(s, 'unconditional')}/revoke", headers=h),
        "sharing.revoke",
    ),
    ("POST", "/sharing/{request_id}/decision"): (  # the console inbox's form, with a bearer token (no CSRF needed)
        lambda c, s, h: c.post(f"/sharing/{_request_of_t(s)}/decision", data={"decision": "approve"}, headers=h,
                               follow_redirects=False),
        "sharing.grant",
    ),
    ("POST", "/sharing/{request_id}/revoke"): (
        lambda c, s, h: c.post(f"/sharing/{_request_of_t(s, 'unconditional')}/revoke", data={"note": "到期"},
                               headers=h, follow_redirects=False),
        "sharing.revoke",
    ),
}


def _ngsi_entity() -> bytes:
    entity = {"id": f"urn:ngsi-ld:Meter:audit-{next(_serial)}", "type": "Meter",
              "kwh": {"type": "Property", "value": 2, "observedAt": "2026-11-26T00:00:00Z"}}
    return json.dumps([entity]).encode()


# Writes of data, not of state: readings go to the lake with their source, one audit entry per batch would bury the
# log (a city sends thousands a second); the test below checks that none is written.
DATA_WRITES = {("POST", "/api/v1/telemetry")}


def test_telemetry_is_kept_in_the_lake_not_in_the_audit_log(city: tuple[TestClient, Settings]) -> None:
    client, _settings = city
    rid = f"rid-{next(_serial)}-telemetry"
    line = {"tenant": TARGET, "asset_id": "audit-meter", "ts": 1795651200, "values": {"kwh": 1}}
    r = client.post("/api/v1/telemetry", content=json.dumps(line).encode(), headers={"X-Request-ID": rid})
    assert r.status_code == 202, r.text
    assert [e for e in _audit(client) if e["request_id"] == rid] == []


def test_every_write_route_is_listed(city: tuple[TestClient, Settings]) -> None:
    app = create_app(city[1])
    writes = {
        (m, r.path) for r in app.routes for m in getattr(r, "methods", None) or () if m not in ("GET", "HEAD")
    }
    assert writes == set(WRITES) | set(PUBLIC_WRITES) | DATA_WRITES, (
        "a write route was added or removed: add it to WRITES")


# Writes anyone may make without logging in, audited under their own actor name.
PUBLIC_WRITES = {("POST", "/open311/v2/requests.{fmt}"): ("case.create", "open311:public")}


def test_a_public_open311_request_is_audited_with_its_client_and_request_id(
    city: tuple[TestClient, Settings],
) -> None:
    client, _settings = city
    rid = f"rid-{next(_serial)}-open311"
    anon = {"X-Request-ID": rid, "Authorization": ""}
    r = client.post("/open311/v2/requests.json", data={"service_code": "E0101", "lat": "30.1", "long": "120.2",
                                                       "description": "井盖缺失"}, headers=anon)
    assert r.status_code < 400, r.text
    ours = [e for e in _audit(client, action="case.create") if e["request_id"] == rid]
    assert len(ours) == 1 and ours[0]["client"] == "testclient"
    assert ours[0]["actor"] == PUBLIC_WRITES[("POST", "/open311/v2/requests.{fmt}")][1]


@pytest.mark.parametrize("key", list(WRITES), ids=[f"{m} {p}" for m, p in WRITES])
def test_each_write_records_actor_client_and_request_id(
    city: tuple[TestClient, Settings], key: tuple[str, str]
) -> None:
    client, settings = city
    write, action = WRITES[key]
    rid = f"rid-{next(_serial)}-{key[0].lower()}"
    r = write(client, settings, {"X-Request-ID": rid})
    assert r.status_code < 400, r.text
    assert r.headers["x-request-id"] == rid
    ours = [e for e in _audit(client, action=action) if e["request_id"] == rid]
    assert len(ours) == 1, ours
    assert ours[0]["actor"] == ADMIN and ours[0]["client"] == "testclient" and ours[0]["outcome"] == "ok"
