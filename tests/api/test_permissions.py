"""The permission matrix: every route of the app × every role × where the caller's grant sits.

The target of every request is a record of the district ``tc-east`` (T). Each caller holds one role, granted on T
itself (own), on T's street (child), on the city above T (parent), on the other district (sibling), or holds no
grant at all (none)::

    testcity (parent) ─┬─ tc-east (T, own) ── tc-east-harbour (child)
                       └─ tc-west (sibling)

A grant covers its unit's subtree, so own and parent callers reach T's records; child and sibling callers do not.
The expected outcome is written out by hand below (ROUTES) — it is not read from ``accounts.policy``, so that a
change to the policy or to a route's dependency shows up here as a failure.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from starlette.routing import Mount, Route

from chengyun.accounts import service
from chengyun.accounts.models import AuditEntry, Grant, User
from chengyun.api.app import create_app
from chengyun.api.deps import current_principal
from chengyun.cases.models import DispatchRule
from chengyun.cases.service import CaseDesk, create_case, transition
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from chengyun.indicators.models import EvaluationRun
from chengyun.tenancy.models import Department
from chengyun.tenancy.service import add_department

from .conftest import (
    CHILD,
    PACK,
    PASSWORD,
    SIBLING,
    TARGET,
    TENANT,
    api_test_pack_registered,
    bearer,
    build_small_city,
    login,
    make_user,
    run_evaluation,
)

ROLES = ("admin", "supervisor", "operator", "department", "auditor", "citizen")
GRANTED_ON = {"own": TARGET, "child": CHILD, "parent": TENANT, "sibling": SIBLING}
# Each unit's subtree, written out by hand (the code under test computes its own).
SUBTREE = {
    TENANT: {TENANT, TARGET, CHILD, SIBLING},
    TARGET: {TARGET, CHILD},
    CHILD: {CHILD},
    SIBLING: {SIBLING},
}
CALLERS = [(role, rel) for role in ROLES for rel in GRANTED_ON] + [("", "none")]
TARGET_USER, TARGET_USER_DISPLAY = "t-person", "东区住户"  # a citizen of T: the users routes act on it
TARGET_NAME = "临江东区"
CASE_TEXT = "东区某小区门口垃圾堆放"  # only T's case says this
# one department per unit below the city
DEPARTMENTS = {TARGET: "东区水务局", CHILD: "港口城管中队", SIBLING: "西区水务局"}

EVERYONE = "admin supervisor operator department auditor citizen"
STAFF = "admin supervisor operator department auditor"  # everyone but 公众


def caller_name(role: str, rel: str) -> str:
    return "nobody" if rel == "none" else f"{role}-{rel}"


# ---- the world the requests run in ---------------------------------------------------------------------------


@dataclass
class World:
    """The app over a city with runs in T, its child and its sibling, a citizen of T, and 25 logged-in callers."""

    settings: Settings
    client: TestClient
    run_id: str  # T's run
    case_id: str = ""  # T's case (dispatched to T's department)
    tokens: dict[str, str] = field(default_factory=dict)
    serial: Iterator[int] = field(default_factory=itertools.count)

    def secrets(self) -> set[str]:
        """Strings only T's own records hold: none may reach a caller outside T's subtree."""
        return {TARGET_NAME, self.run_id, TARGET_USER, TARGET_USER_DISPLAY, DEPARTMENTS[TARGET], self.case_id,
                CASE_TEXT}

    def spare_token(self, name: str, kind: str = "access") -> tuple[str, str]:
        """A second token of ``name`` (id, token) for routes that revoke the token they are called with."""
        with session_scope(self.settings) as s:
            user = service.get_user(s, name)
            row, token = service.issue_token(s, user, kind=kind, lifetime=timedelta(hours=1))
            return row.id, token

    def set_target_grant(self, present: bool) -> None:
        """Give T's citizen the department role on T, or take it away, before a request changes it."""
        with session_scope(self.settings) as s:
            user = service.get_user(s, TARGET_USER)
            s.execute(delete(Grant).where(Grant.user_id == user.id, Grant.role == "department"))
            if present:
                s.add(Grant(user_id=user.id, role="department", unit_id=TARGET))

    def enable_target_user(self) -> None:
        with session_scope(self.settings) as s:
            service.get_user(s, TARGET_USER).disabled = False


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The small city, runs and departments in T, its child and its sibling, T's citizen, and the callers."""
    root = tmp_path_factory.mktemp("matrix")
    settings = build_small_city(root)
    with api_test_pack_registered(root / "packs"), session_scope(settings) as s:
        run_id = run_evaluation(s, settings, TARGET, "2025Q2")
        for unit in (CHILD, SIBLING):
            run_evaluation(s, settings, unit, "2025Q2")
        for unit, name in DEPARTMENTS.items():
            add_department(session=s, department_id=f"{unit}.dept", tenant_id=unit, name=name)
    with session_scope(settings) as s:
        desk = CaseDesk.for_settings(settings)
        case = create_case(s, desk, tenant_id=TARGET, channel="hotline", category="E0101", description=CASE_TEXT,
                           auto_dispatch=False)
        transition(s, desk, case.id, "dispatch", department_id=f"{TARGET}.dept")
        case_id = case.id
    make_user(settings, TARGET_USER, "citizen", TARGET, display_name=TARGET_USER_DISPLAY)
    for role, rel in CALLERS:
        make_user(settings, caller_name(role, rel), role or None, GRANTED_ON.get(rel))
    with TestClient(create_app(settings)) as client:
        w = World(settings, client, run_id, case_id)
        for role, rel in CALLERS:
            w.tokens[caller_name(role, rel)] = login(client, caller_name(role, rel))
        yield w


# ---- the hand-written matrix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    method: str
    url: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    token: str | None = None  # instead of the caller's own token
    cookies: dict[str, str] | None = None
    content: bytes | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Case:
    """What a route allows.

    ``reach``: public (anyone, logged in or not) · login (any logged-in caller, grants or none) · any (the roles, on
    whatever unit) · list (the roles, anywhere; the answer holds only the caller's subtree) · unit (the roles, only
    on T or above it). ``outside``: the answer to a caller holding the role but not over T.
    """

    reach: str
    call: Callable[[World, str], Req]
    roles: str = ""
    ok: int = 200
    outside: int = 404
    shows: str | None = (
        None  # a secret of T an allowed caller over T must find in the answer (a World attribute
    )
    # name, or the literal string)


def _get(url: str, **params: Any) -> Callable[[World, str], Req]:
    return lambda w, name: Req("GET", url.format(run=w.run_id), params=params or None)


def _new_user(w: World, name: str) -> Req:
    body = {"name": f"new-{next(w.serial)}", "role": "citizen", "unit": TARGET, "password": PASSWORD}
    return Req("POST", "/api/v1/users", json=body)


def _disable(w: World, name: str) -> Req:
    w.enable_target_user()
    return Req("POST", f"/api/v1/users/{TARGET_USER}/disable")


def _grant(w: World, name: str) -> Req:
    w.set_target_grant(False)
    return Req("POST", f"/api/v1/users/{TARGET_USER}/grants", json={"role": "department", "unit": TARGET})


def _revoke(w: World, name: str) -> Req:
    w.set_target_grant(True)
    return Req("DELETE", f"/api/v1/users/{TARGET_USER}/grants", params={"role": "department", "unit": TARGET})


def _api_logout(w: World, name: str) -> Req:
    return Req("POST", "/api/v1/auth/logout", token=w.spare_token(name)[1])


def _console_logout(w: World, name: str) -> Req:
    return Req("POST", "/logout", token=w.spare_token(name)[1])


def _revoke_token(w: World, name: str) -> Req:
    return Req("DELETE", f"/api/v1/tokens/{w.spare_token(name, 'api')[0]}")


def _console_login(w: World, name: str) -> Req:
    form = {"username": name, "password": PASSWORD, "csrf": "form-token", "next": "/overview"}
    return Req("POST", "/login", data=form, cookies={"cy_login": "form-token"})


def _fresh_rule(w: World) -> int:
    """A dispatch rule of T, made for one request (deleting or replacing it must not disturb the next caller)."""
    with session_scope(w.settings) as s:
        rule = DispatchRule(tenant_id=TARGET, position=50, category="E01*", department_id=f"{TARGET}.dept")
        s.add(rule)
        s.flush()
        return rule.id


def _case(w: World, name: str) -> Req:
    body = {"tenant": TARGET, "channel": "hotline", "category": "P0101", "description": "井盖缺失"}
    return Req("POST", "/api/v1/cases", json=body)


def _extend(w: World, name: str) -> Req:
    return Req("POST", f"/api/v1/cases/{w.case_id}/actions", json={"action": "extend", "reason": "协调", "amount": 1})


def _console_extend(w: World, name: str) -> Req:
    return Req("POST", f"/cases/{w.case_id}/actions", data={"action": "extend", "reason": "协调", "amount": "1"})


def _rule(w: World, name: str) -> Req:
    return Req("POST", "/api/v1/dispatch-rules",
               json={"tenant": TARGET, "category": "E01*", "department": f"{TARGET}.dept"})


def _put_rule(w: World, name: str) -> Req:
    return Req("PUT", f"/api/v1/dispatch-rules/{_fresh_rule(w)}", json={"category": "E02*", "department": f"{TARGET}.dept"})


def _delete_rule(w: World, name: str) -> Req:
    return Req("DELETE", f"/api/v1/dispatch-rules/{_fresh_rule(w)}")


def _put_rules_yaml(w: World, name: str) -> Req:
    text = f"rules:\n  - {{category: 'E01*', department: {TARGET}.dept}}\n"
    return Req("PUT", "/api/v1/dispatch-rules.yaml", params={"tenant": TARGET}, content=text.encode(),
               headers={"content-type": "application/yaml"})


def _console_rules(w: World, name: str) -> Req:
    text = f"rules:\n  - {{category: 'E01*', department: {TARGET}.dept}}\n"
    return Req("POST", "/cases/rules", data={"unit": TARGET, "text": text})


def _telemetry(w: World, name: str) -> Req:
    line = {"tenant": TARGET, "asset_id": "tc-meter", "ts": 1795651200 + next(w.serial), "values": {"kwh": 1.5}}
    return Req("POST", "/api/v1/telemetry", content=json.dumps(line).encode())


def _ngsi(path: str) -> Callable[[World, str], Req]:
    def call(w: World, name: str) -> Req:  # a new entity each time: registered as an asset, 201
        entity = {"id": f"urn:ngsi-ld:Meter:tc-{next(w.serial)}", "type": "Meter",
                  "kwh": {"type": "Property", "value": 2, "observedAt": "2026-11-26T00:00:00Z"}}
        return Req("POST", path, content=json.dumps([entity]).encode(),
                   headers={"content-type": "application/json", "NGSILD-Tenant": TARGET})
    return call


# assets (设备台账): T's camera is named after T, so a caller outside T's subtree who gets it sees a leak
T_ASSET, T_ASSET_NAME = "tc-cam", f"{TARGET_NAME}一号摄像机"
ASSET_WRITERS = "admin operator"


def _t_asset(w: World, asset_id: str = T_ASSET, depends_on: str | None = None) -> str:
    """An asset of T (made once), optionally depending on another of T's."""
    from chengyun.assets.models import Asset
    from chengyun.assets.schemas import AssetCreate
    from chengyun.assets.service import add_asset, add_dependency

    with session_scope(w.settings) as s:
        if s.get(Asset, asset_id) is None:
            add_asset(s, AssetCreate(id=asset_id, name=T_ASSET_NAME, kind="camera", tenant=TARGET))
        if depends_on is not None:
            _t_asset(w, depends_on)
            add_dependency(s, asset_id, depends_on)
    return asset_id


def _asset_get(path: str, **params: Any) -> Callable[[World, str], Req]:
    return lambda w, name: Req("GET", path.format(asset=_t_asset(w)), params=params or None)


def _new_asset(w: World, name: str) -> Req:
    return Req("POST", "/api/v1/assets", json={"id": f"tc-new-{next(w.serial)}", "name": "新设备", "kind": "meter",
                                               "tenant": TARGET})


def _retire_asset(w: World, name: str) -> Req:
    return Req("POST", f"/api/v1/assets/{_t_asset(w, f'tc-old-{next(w.serial)}')}/retire")


def _put_dependency(w: World, name: str) -> Req:
    _t_asset(w, "tc-gw")
    return Req("PUT", f"/api/v1/assets/{_t_asset(w)}/dependencies/tc-gw", json={"kind": "connects-through"})


def _delete_dependency(w: World, name: str) -> Req:
    asset = _t_asset(w, f"tc-dep-{next(w.serial)}", depends_on="tc-gw")
    return Req("DELETE", f"/api/v1/assets/{asset}/dependencies/tc-gw")


# alarms (告警): T's open alarm says ALARM_TEXT (critical and newest, so it heads every list of open alarms)
ALARM_TEXT, ALARM_ACTORS = "东区一号表电压过低", "admin operator department"


def _t_alarm(w: World, text: str = ALARM_TEXT) -> str:
    """An open alarm of T (the first one made once; any other ``text`` makes a new one each call)."""
    from datetime import datetime

    from chengyun.assets.models import Alarm, Asset
    from chengyun.assets.schemas import AssetCreate
    from chengyun.assets.service import add_asset

    alarm_id = "alm-tc-first" if text == ALARM_TEXT else f"alm-tc-{next(w.serial)}"
    with session_scope(w.settings) as s:
        if s.get(Asset, "tc-meter") is None:
            add_asset(s, AssetCreate(id="tc-meter", name="电表", kind="meter", tenant=TARGET))
        if s.get(Alarm, alarm_id) is None:
            at = datetime(2030, 1, 1) if text == ALARM_TEXT else datetime(2026, 1, 1)
            s.add(Alarm(id=alarm_id, asset_id="tc-meter", tenant_id=TARGET, type="threshold", status="raised",
                        severity="critical" if text == ALARM_TEXT else "warning", raised_at=at, last_at=at,
                        message=text, count=1))
    return alarm_id


def _alarm_act(prefix: str, action: str) -> Callable[[World, str], Req]:
    return lambda w, name: Req("POST", f"{prefix}/{_t_alarm(w, 'x')}/{action}")


def _put_alarm_rules(w: World, name: str) -> Req:
    return Req("PUT", "/api/v1/alarm-rules.yaml", params={"tenant": TARGET}, content=b"rules: []\n",
               headers={"content-type": "application/yaml"})


# data resources (数据资源): T's dataset is named after T; each decision or revocation acts on a request of its own
T_DATASET, T_DATASET_TITLE, SHARING_ACTORS = "tc-enterprises", f"{TARGET_NAME}企业登记", "admin operator department"


def _t_dataset(w: World) -> str:
    """T's dataset (catalogued first, made once), provided by T's department."""
    from chengyun.catalog.entry import CatalogEntry
    from chengyun.catalog.models import Dataset
    from chengyun.catalog.service import create_entry

    with session_scope(w.settings) as s:
        found = s.scalar(select(Dataset.id).where(Dataset.name == T_DATASET))
        if found is None:
            entry = CatalogEntry(code=T_DATASET, name=T_DATASET_TITLE, provider=f"{TARGET}.dept",
                                 sharing_type="conditional")
            found = create_entry(s, name=T_DATASET, tenant=TARGET, entry=entry).id
        return str(found)


def _t_request(w: World, granted: bool = False) -> str:
    """A new request of T's department for T's dataset, pending or granted."""
    from chengyun.catalog import sharing
    from chengyun.catalog.models import Dataset

    dataset_id = _t_dataset(w)
    with session_scope(w.settings) as s:
        req, _ = sharing.request_access(s, s.get(Dataset, dataset_id), department=f"{TARGET}.dept",  # type: ignore[arg-type]
                                        purpose="核查")
        if granted:
            sharing.decide(s, req, approve=True, actor="matrix")
        return req.id


# data resources through the API: T's dataset with data, one stored rule and one run
DATA_WRITERS = "admin operator department"


def _t_api_dataset(w: World, name: str = "tc-ent", sharing_type: str = "conditional") -> str:
    """A loaded dataset of T, provided by T's department, with one stored rule and one run (made once per name)."""
    from chengyun.catalog import quality, service
    from chengyun.catalog.entry import CatalogEntry
    from chengyun.catalog.models import Dataset

    with session_scope(w.settings) as s:
        found = s.scalar(select(Dataset.id).where(Dataset.tenant_id == TARGET, Dataset.name == name))
        if found:
            return str(found)
        src = w.settings.workspace / f"{name}.csv"
        src.write_text("code,name\nA1,甲\nA2,乙\n", encoding="utf-8")
        ds, _ = service.add_dataset(s, w.settings, source=str(src), name=name, tenant=TARGET, provider=f"{TARGET}.dept")
        service.apply_entry(s, ds, CatalogEntry(code=f"TC-{name}", name=T_DATASET_TITLE, provider=f"{TARGET}.dept",
                                                sharing_type=sharing_type))
        quality.set_rules(s, ds, {"rules": [{"id": "name", "kind": "not-null", "column": "name"}]})
        quality.run_quality(w.settings, s, ds)
        return ds.id


def _t_api_request(w: World, fresh: bool = False, sharing_type: str = "conditional") -> tuple[str, str | None]:
    """A request of T's department for T's loaded dataset (id, token): pending for a conditional dataset, granted
    for an unconditional one; made once unless ``fresh``."""
    from chengyun.catalog import service as catalog
    from chengyun.catalog import sharing
    from chengyun.catalog.models import SharingRequest

    ds_id = _t_api_dataset(w, "tc-open" if sharing_type == "unconditional" else "tc-ent", sharing_type)
    purpose = f"{TARGET_NAME}核验" if not fresh else f"核验 {next(w.serial)}"
    with session_scope(w.settings) as s:
        if not fresh and (found := s.scalar(select(SharingRequest.id).where(SharingRequest.purpose == purpose))):
            return str(found), None
        req, token = sharing.request_access(s, catalog.get_dataset(s, ds_id), department=f"{TARGET}.dept",
                                            purpose=purpose)
        return req.id, token


_GRANT: dict[str, str] = {}


def _shared_rows(w: World, name: str) -> Req:
    if "token" not in _GRANT:
        _GRANT["token"] = str(_t_api_request(w, fresh=True, sharing_type="unconditional")[1])
    return Req("GET", "/api/v1/shared/rows", headers={"X-Grant-Token": _GRANT["token"]})


def _ds(path: str, **params: Any) -> Callable[[World, str], Req]:
    return lambda w, name: Req("GET", path.format(ds=_t_api_dataset(w)), params=params or None)


def _new_dataset(w: World, name: str) -> Req:
    n = next(w.serial)
    return Req("POST", "/api/v1/datasets", json={"name": f"tc-new-{n}", "tenant": TARGET, "entry": {
        "code": f"TC-NEW-{n}", "name": "新数据资源", "sharing_type": "有条件共享"}})


def _put_entry(w: World, name: str) -> Req:
    return Req("PUT", f"/api/v1/datasets/{_t_api_dataset(w)}/entry", json={
        "code": "TC-tc-ent", "name": T_DATASET_TITLE, "provider": f"{TARGET}.dept", "sharing_type": "有条件共享"})


def _put_data(w: World, name: str) -> Req:
    return Req("PUT", f"/api/v1/datasets/{_t_api_dataset(w)}/data", params={"format": "csv"},
               content="code,name\nA1,甲\nA2,乙\n".encode(), headers={"content-type": "text/csv"})


def _put_ds_rules(w: World, name: str) -> Req:
    return Req("PUT", f"/api/v1/datasets/{_t_api_dataset(w)}/rules",
               json={"rules": [{"id": "name", "kind": "not-null", "column": "name"}]})


def _t_people(w: World) -> str:
    """A loaded dataset of T with a personal column (手机号码: masked, revealed with ``data.reveal``), made once."""
    from chengyun.catalog import service
    from chengyun.catalog.models import Dataset

    with session_scope(w.settings) as s:
        found = s.scalar(select(Dataset.id).where(Dataset.tenant_id == TARGET, Dataset.name == "tc-people"))
        if found:
            return str(found)
        src = w.settings.workspace / "tc-people.csv"
        src.write_text("code,手机号码\nA1,13800001111\nA2,13900002222\n", encoding="utf-8")
        ds, _ = service.add_dataset(s, w.settings, source=str(src), name="tc-people", tenant=TARGET,
                                    provider=f"{TARGET}.dept")
        return ds.id


def _reveal(w: World, name: str) -> Req:
    return Req("POST", f"/api/v1/datasets/{_t_people(w)}/reveal", json={"reason": "核验"})


def _console_reveal(w: World, name: str) -> Req:
    return Req("POST", f"/datasets/{_t_people(w)}/reveal", data={"reason": "核验"})


def _put_personal(w: World, name: str) -> Req:
    return Req("PUT", f"/api/v1/datasets/{_t_api_dataset(w)}/columns/name/personal", json={"personal": "name"})


def _new_request(w: World, name: str) -> Req:
    return Req("POST", "/api/v1/sharing-requests", json={"dataset": _t_api_dataset(w), "department": f"{TARGET}.dept",
                                                         "purpose": "核验"})


RUNS = "admin supervisor operator"
CASE_WRITERS = "admin supervisor operator department"
ACCOUNTS = "admin auditor"

ROUTES: dict[tuple[str, str], Case] = {
    # public: the login forms, the API description, static files
    ("POST", "/api/v1/auth/token"): Case(
        "public", lambda w, n: Req("POST", "/api/v1/auth/token", data={"username": n, "password": PASSWORD})
    ),
    ("GET", "/"): Case("public", _get("/"), ok=302),
    ("GET", "/login"): Case("public", _get("/login"), ok=303),  # logged in: straight on
    ("POST", "/login"): Case("public", _console_login, ok=303),
    ("GET", "/api/v1/openapi.json"): Case("public", _get("/api/v1/openapi.json")),
    ("GET", "/api/v1/docs"): Case("public", _get("/api/v1/docs")),
    ("GET", "/docs/oauth2-redirect"): Case("public", _get("/docs/oauth2-redirect")),
    ("GET", "/static"): Case("public", _get("/static/css/console.css")),
    # self-service: any logged-in caller, with or without grants
    ("GET", "/api/v1/auth/me"): Case("login", _get("/api/v1/auth/me")),
    ("POST", "/api/v1/auth/logout"): Case("login", _api_logout, ok=204),
    ("GET", "/api/v1/tokens"): Case("login", _get("/api/v1/tokens")),
    ("POST", "/api/v1/tokens"): Case(
        "login", lambda w, n: Req("POST", "/api/v1/tokens", json={"name": "ci"}), ok=201
    ),
    ("DELETE", "/api/v1/tokens/{token_id}"): Case("login", _revoke_token, ok=204),
    ("POST", "/logout"): Case("login", _console_logout, ok=303),
    # packs are published standards
    ("GET", "/api/v1/packs"): Case("any", _get("/api/v1/packs"), EVERYONE),
    ("GET", "/api/v1/packs/{pack_id}"): Case("any", _get(f"/api/v1/packs/{PACK}"), EVERYONE),
    ("GET", "/packs"): Case("any", _get("/packs"), EVERYONE),
    ("GET", "/packs/{pack_id}"): Case("any", _get(f"/packs/{PACK}"), EVERYONE),
    # evaluations
    ("GET", "/api/v1/evaluations"): Case("list", _get("/api/v1/evaluations"), STAFF, shows="run_id"),
    ("GET", "/api/v1/evaluations/{run_id}"): Case(
        "unit", _get("/api/v1/evaluations/{run}"), STAFF, shows=TARGET_NAME
    ),
    ("GET", "/api/v1/evaluations/{run_id}/report.{fmt}"): Case(
        "unit", _get("/api/v1/evaluations/{run}/report.html"), STAFF, shows=TARGET_NAME
    ),
    ("POST", "/api/v1/evaluations"): Case(
        "unit",
        lambda w, n: Req(
            "POST", "/api/v1/evaluations", json={"pack": PACK, "tenant": TARGET, "period": "2025Q3"}
        ),
        RUNS,
        ok=201,
        outside=403,  # the unit is named in the body: refused before anything is read
    ),
    ("GET", "/evaluations"): Case("list", _get("/evaluations"), STAFF, shows="run_id"),
    ("GET", "/evaluations/{run_id}"): Case("unit", _get("/evaluations/{run}"), STAFF, shows=TARGET_NAME),
    ("GET", "/evaluations/{run_id}/nodes/{node_id}"): Case(
        "unit", _get("/evaluations/{run}/nodes/C1-1"), STAFF, shows="按时办结率"
    ),
    # tenants and their departments
    ("GET", "/api/v1/tenants"): Case("list", _get("/api/v1/tenants"), STAFF, shows=TARGET_NAME),
    ("GET", "/api/v1/departments"): Case(
        "list", _get("/api/v1/departments"), STAFF, shows=DEPARTMENTS[TARGET]
    ),
    # users: administrators manage, auditors look
    ("GET", "/api/v1/users"): Case("list", _get("/api/v1/users", limit=500), ACCOUNTS, shows=TARGET_USER),
    ("GET", "/api/v1/users/{name}"): Case(
        "unit", _get(f"/api/v1/users/{TARGET_USER}"), ACCOUNTS, shows=TARGET_USER_DISPLAY
    ),
    ("POST", "/api/v1/users"): Case("unit", _new_user, "admin", ok=201, outside=403),
    ("POST", "/api/v1/users/{name}/disable"): Case("unit", _disable, "admin", shows=TARGET_USER),
    ("POST", "/api/v1/users/{name}/grants"): Case(
        "unit", _grant, "admin", ok=201, outside=403, shows=TARGET_USER
    ),
    ("DELETE", "/api/v1/users/{name}/grants"): Case("unit", _revoke, "admin", ok=204, outside=403),
    # the audit trail: listed per unit, verified as a whole
    ("GET", "/api/v1/audit"): Case(
        "list", _get("/api/v1/audit", tenant=TARGET, limit=500), ACCOUNTS, shows=TARGET_USER
    ),
    ("GET", "/api/v1/audit/verify"): Case("any", _get("/api/v1/audit/verify"), ACCOUNTS),
    # cases (一网统管): staff read, those who handle cases act, rules are the operator's
    ("GET", "/api/v1/cases"): Case("list", _get("/api/v1/cases", limit=500), STAFF, shows="case_id"),
    ("GET", "/api/v1/cases/triage"): Case("list", _get("/api/v1/cases/triage"), STAFF),
    ("GET", "/api/v1/cases/categories"): Case("any", _get("/api/v1/cases/categories"), STAFF),
    ("GET", "/api/v1/cases/{case_id}"): Case(
        "unit", lambda w, n: Req("GET", f"/api/v1/cases/{w.case_id}"), STAFF, shows=CASE_TEXT
    ),
    ("POST", "/api/v1/cases"): Case("unit", _case, CASE_WRITERS, ok=201, outside=403),
    ("POST", "/api/v1/cases/{case_id}/actions"): Case("unit", _extend, CASE_WRITERS, shows="case_id"),
    ("GET", "/api/v1/dispatch-rules"): Case("list", _get("/api/v1/dispatch-rules"), RUNS),
    ("POST", "/api/v1/dispatch-rules"): Case("unit", _rule, RUNS, ok=201, outside=403),
    ("PUT", "/api/v1/dispatch-rules/{rule_id}"): Case("unit", _put_rule, RUNS),
    ("DELETE", "/api/v1/dispatch-rules/{rule_id}"): Case("unit", _delete_rule, RUNS, ok=204),
    ("GET", "/api/v1/dispatch-rules.yaml"): Case(
        "unit", _get("/api/v1/dispatch-rules.yaml", tenant=TARGET), RUNS
    ),
    ("PUT", "/api/v1/dispatch-rules.yaml"): Case("unit", _put_rules_yaml, RUNS),
    # telemetry (遥测): devices and systems send with an operator's token, for the units it may write
    ("POST", "/api/v1/telemetry"): Case("unit", _telemetry, "admin operator", ok=202, outside=403),
    ("POST", "/ngsi-ld/v1/entityOperations/upsert"): Case(
        "unit", _ngsi("/ngsi-ld/v1/entityOperations/upsert"), "admin operator", ok=201, outside=403),
    ("POST", "/ngsi-ld/v1/notify"): Case("unit", _ngsi("/ngsi-ld/v1/notify"), "admin operator", ok=201, outside=403),
    # Open311: citizens report without an account
    **{
        (method, f"/open311/v2/{path}"): Case("public", call)
        for method, path, call in (
            ("GET", "services.{fmt}", _get("/open311/v2/services.json")),
            ("GET", "services/{service_code}.{fmt}", _get("/open311/v2/services/E0101.json")),
            ("GET", "requests.{fmt}", _get("/open311/v2/requests.json")),
            ("GET", "requests/{service_request_id}.{fmt}", lambda w, n: Req("GET", f"/open311/v2/requests/{w.case_id}.json")),
            ("POST", "requests.{fmt}", lambda w, n: Req(
                "POST", "/open311/v2/requests.json",
                data={"service_code": "P0101", "lat": "30.1", "long": "120.2", "description": "井盖缺失"})),
        )
    },
    # assets (设备台账): staff read, the operator registers and changes; the quarantine lists the caller's units
    ("GET", "/api/v1/assets"): Case("list", _asset_get("/api/v1/assets", limit=500), STAFF, shows=TARGET_NAME),
    ("GET", "/api/v1/assets/{asset_id}"): Case("unit", _asset_get("/api/v1/assets/{asset}"), STAFF,
                                               shows=TARGET_NAME),
    ("POST", "/api/v1/assets"): Case("unit", _new_asset, ASSET_WRITERS, ok=201, outside=403),
    ("PATCH", "/api/v1/assets/{asset_id}"): Case(
        "unit", lambda w, n: Req("PATCH", f"/api/v1/assets/{_t_asset(w)}", json={"operator": "运维公司"}),
        ASSET_WRITERS, shows=TARGET_NAME),
    ("POST", "/api/v1/assets/{asset_id}/retire"): Case("unit", _retire_asset, ASSET_WRITERS, shows=TARGET_NAME),
    ("GET", "/api/v1/assets/{asset_id}/impact"): Case("unit", _asset_get("/api/v1/assets/{asset}/impact"), STAFF,
                                                      shows=TARGET_NAME),
    ("PUT", "/api/v1/assets/{asset_id}/dependencies/{other_id}"): Case("unit", _put_dependency, ASSET_WRITERS),
    ("DELETE", "/api/v1/assets/{asset_id}/dependencies/{other_id}"): Case(
        "unit", _delete_dependency, ASSET_WRITERS, ok=204),
    ("GET", "/api/v1/assets/availability"): Case(
        "unit", _get("/api/v1/assets/availability", period="2025Q2", by="department", tenant=TARGET), STAFF),
    ("GET", "/api/v1/assets/{asset_id}/telemetry"): Case("unit", _asset_get("/api/v1/assets/{asset}/telemetry"),
                                                         STAFF),
    ("GET", "/api/v1/ingest/quarantine"): Case("list", _get("/api/v1/ingest/quarantine"), STAFF),
    ("GET", "/assets"): Case("list", _asset_get("/assets"), STAFF, shows=TARGET_NAME),
    ("GET", "/assets/quarantine"): Case("list", _get("/assets/quarantine"), STAFF),
    ("GET", "/assets/availability"): Case("unit", _get("/assets/availability", tenant=TARGET, period="2025Q2"), STAFF,
                                          shows=TARGET_NAME),
    ("GET", "/assets/{asset_id}"): Case("unit", _asset_get("/assets/{asset}"), STAFF, shows=TARGET_NAME),
    # alarms (告警): staff read, the operator and the owning department act, the operator writes the rules
    ("GET", "/api/v1/alarms"): Case("list", lambda w, n: Req("GET", f"/api/v1/alarms?asset=tc-meter&x={_t_alarm(w)}"),
                                    STAFF, shows=ALARM_TEXT),
    ("GET", "/api/v1/alarms/{alarm_id}"): Case("unit", lambda w, n: Req("GET", f"/api/v1/alarms/{_t_alarm(w)}"),
                                               STAFF, shows=ALARM_TEXT),
    ("POST", "/api/v1/alarms/{alarm_id}/acknowledge"): Case("unit", _alarm_act("/api/v1/alarms", "acknowledge"),
                                                            ALARM_ACTORS),
    ("POST", "/api/v1/alarms/{alarm_id}/clear"): Case("unit", _alarm_act("/api/v1/alarms", "clear"), ALARM_ACTORS),
    ("GET", "/api/v1/alarm-rules"): Case("list", _get("/api/v1/alarm-rules"), STAFF),
    ("GET", "/api/v1/alarm-rules.yaml"): Case("unit", _get("/api/v1/alarm-rules.yaml", tenant=TARGET),
                                              "admin operator", shows=TARGET_NAME),
    ("PUT", "/api/v1/alarm-rules.yaml"): Case("unit", _put_alarm_rules, "admin operator", shows=TARGET_NAME),
    ("GET", "/alarms"): Case("list", lambda w, n: Req("GET", f"/alarms?x={_t_alarm(w)}"), STAFF, shows=ALARM_TEXT),
    ("POST", "/alarms/{alarm_id}/acknowledge"): Case("unit", _alarm_act("/alarms", "acknowledge"), ALARM_ACTORS,
                                                     ok=303),
    ("POST", "/alarms/{alarm_id}/clear"): Case("unit", _alarm_act("/alarms", "clear"), ALARM_ACTORS, ok=303),
    # the console: the city overview of one unit, and the sections not built yet
    ("GET", "/overview"): Case("unit", _get("/overview", unit=TARGET), STAFF, shows=TARGET_NAME),
    # the case console (案件工作台): staff read, those who handle cases act through the page's forms
    # the filter leaves out the cases other rows of this table create (P0101), so T's case is on the first page
    ("GET", "/cases"): Case("list", _get("/cases", category="E01"), STAFF, shows=CASE_TEXT),
    ("GET", "/cases/{case_id}"): Case(
        "unit", lambda w, n: Req("GET", f"/cases/{w.case_id}"), STAFF, shows=CASE_TEXT
    ),
    ("POST", "/cases/{case_id}/actions"): Case("unit", _console_extend, CASE_WRITERS, ok=303),
    # the console's dispatch-rules editor (派遣规则) and department ranking (部门排名)
    ("GET", "/cases/rules"): Case("unit", _get("/cases/rules", unit=TARGET), RUNS, shows=TARGET_NAME),
    ("POST", "/cases/rules"): Case("unit", _console_rules, RUNS, ok=303),
    ("GET", "/cases/ranking"): Case("unit", _get("/cases/ranking", tenant=TARGET), STAFF, shows=TARGET_NAME),
    # data resources API (数据资源): staff read the catalogue; the operator and departments describe, load, check,
    # request and decide; a grant's rows are read with its token, no login (PUBLIC)
    ("GET", "/api/v1/datasets"): Case("list", _ds("/api/v1/datasets", limit=500), STAFF, shows=T_DATASET_TITLE),
    ("POST", "/api/v1/datasets"): Case("unit", _new_dataset, DATA_WRITERS, ok=201, outside=403),
    ("GET", "/api/v1/datasets/{dataset_id}"): Case("unit", _ds("/api/v1/datasets/{ds}"), STAFF, shows=T_DATASET_TITLE),
    ("PUT", "/api/v1/datasets/{dataset_id}/entry"): Case("unit", _put_entry, DATA_WRITERS, shows=T_DATASET_TITLE),
    ("PUT", "/api/v1/datasets/{dataset_id}/data"): Case("unit", _put_data, DATA_WRITERS, shows=T_DATASET_TITLE),
    ("GET", "/api/v1/datasets/{dataset_id}/profile"): Case("unit", _ds("/api/v1/datasets/{ds}/profile"), STAFF,
                                                           shows="乙"),
    ("GET", "/api/v1/datasets/{dataset_id}/rules"): Case("unit", _ds("/api/v1/datasets/{ds}/rules"), STAFF),
    ("PUT", "/api/v1/datasets/{dataset_id}/rules"): Case("unit", _put_ds_rules, DATA_WRITERS),
    ("GET", "/api/v1/datasets/{dataset_id}/quality-runs"): Case("unit", _ds("/api/v1/datasets/{ds}/quality-runs"),
                                                                STAFF),
    ("POST", "/api/v1/datasets/{dataset_id}/quality-runs"): Case(
        "unit", lambda w, n: Req("POST", f"/api/v1/datasets/{_t_api_dataset(w)}/quality-runs"), DATA_WRITERS, ok=201),
    # personal columns: editors classify them; only administrators see them in clear (data.reveal), with a reason
    ("PUT", "/api/v1/datasets/{dataset_id}/columns/{column}/personal"): Case("unit", _put_personal, DATA_WRITERS),
    ("POST", "/api/v1/datasets/{dataset_id}/reveal"): Case("unit", _reveal, "admin", shows="13800001111"),
    ("GET", "/api/v1/quality/ranking"): Case("list", _ds("/api/v1/quality/ranking"), STAFF,
                                             shows=DEPARTMENTS[TARGET]),
    ("GET", "/api/v1/catalog/dcat"): Case("list", _ds("/api/v1/catalog/dcat"), STAFF, shows=T_DATASET_TITLE),
    ("POST", "/api/v1/sharing-requests"): Case("unit", _new_request, DATA_WRITERS, ok=201, outside=403),
    ("GET", "/api/v1/sharing-requests"): Case(
        "list", lambda w, n: Req("GET", f"/api/v1/sharing-requests?limit=500&x={_t_api_request(w)[0]}"), DATA_WRITERS,
        shows=f"{TARGET_NAME}核验"),
    ("GET", "/api/v1/sharing-requests/{request_id}"): Case(
        "unit", lambda w, n: Req("GET", f"/api/v1/sharing-requests/{_t_api_request(w)[0]}"), DATA_WRITERS,
        shows=f"{TARGET_NAME}核验"),
    ("POST", "/api/v1/sharing-requests/{request_id}/decision"): Case(
        "unit", lambda w, n: Req("POST", f"/api/v1/sharing-requests/{_t_api_request(w, fresh=True)[0]}/decision",
                                 json={"approve": True}), DATA_WRITERS),
    ("POST", "/api/v1/sharing-requests/{request_id}/revoke"): Case(
        "unit", lambda w, n: Req("POST", "/api/v1/sharing-requests/"
                                 f"{_t_api_request(w, fresh=True, sharing_type='unconditional')[0]}/revoke"),
        DATA_WRITERS),
    ("GET", "/api/v1/sharing/usage"): Case("list", _ds("/api/v1/sharing/usage"), STAFF),
    ("GET", "/api/v1/shared/rows"): Case("public", _shared_rows),
    # the data resources console (数据资源): staff read the catalogue; providers decide requests through the inbox
    ("GET", "/datasets"): Case("list", lambda w, n: Req("GET", f"/datasets?x={_t_dataset(w)}"), STAFF,
                               shows=T_DATASET_TITLE),
    ("GET", "/datasets/{dataset_id}"): Case("unit", lambda w, n: Req("GET", f"/datasets/{_t_dataset(w)}"), STAFF,
                                            shows=T_DATASET_TITLE),
    ("POST", "/datasets/{dataset_id}/reveal"): Case("unit", _console_reveal, "admin", shows="13800001111"),
    ("GET", "/sharing"): Case("list", lambda w, n: Req("GET", f"/sharing?x={_t_request(w)}"), SHARING_ACTORS,
                              shows=T_DATASET_TITLE),
    ("POST", "/sharing/{request_id}/decision"): Case(
        "unit", lambda w, n: Req("POST", f"/sharing/{_t_request(w)}/decision", data={"decision": "approve"}),
        SHARING_ACTORS, shows=T_DATASET_TITLE),
    ("POST", "/sharing/{request_id}/revoke"): Case(
        "unit", lambda w, n: Req("POST", f"/sharing/{_t_request(w, granted=True)}/revoke"), SHARING_ACTORS, ok=303),
    **{
        ("GET", f"/{key}"): Case("any", _get(f"/{key}"), STAFF)
        for key in ("portal", "security", "contracts")
    },
}


def expected_status(case: Case, role: str, rel: str) -> int:
    """The status a caller with ``role`` granted at ``rel`` must get (the hand-written rule of the module doc)."""
    if case.reach in ("public", "login"):
        return case.ok
    if rel == "none" or role not in case.roles.split():
        return 403  # holds the permission nowhere
    if case.reach == "unit" and rel in ("child", "sibling"):
        return case.outside
    return case.ok


def app_routes(app: Any) -> dict[tuple[str, str], Any]:
    """Every (method, path) the app answers, HEAD aside; a mount counts as one GET."""
    out: dict[tuple[str, str], Any] = {}
    for route in app.routes:
        if isinstance(route, Mount):
            out[("GET", route.path)] = route
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                out[(method, route.path)] = route
    return out


def send(w: World, req: Req, name: str | None) -> Any:
    """Send ``req`` as caller ``name`` (None: no credentials); the cookie jar is left empty afterwards."""
    headers = {}
    token = req.token or (w.tokens[name] if name else None)
    if token:
        headers = bearer(token)
    w.client.cookies.clear()
    if req.cookies:
        w.client.cookies.update(req.cookies)
    try:
        return w.client.request(
            req.method,
            req.url,
            params=req.params,
            json=req.json,
            data=req.data,
            content=req.content,
            headers=headers | (req.headers or {}),
            follow_redirects=False,
        )
    finally:
        w.client.cookies.clear()


def leaked(w: World, req: Req, body: str) -> set[str]:
    """T's secrets found in ``body`` that the request did not itself carry (an echoed id is not a leak)."""
    sent = f"{req.url} {req.params} {req.json} {req.data}"
    return {s for s in w.secrets() if s in body and s not in sent}


# ---- the tests -----------------------------------------------------------------------------------------------


def test_the_matrix_covers_every_route(world: World) -> None:
    assert set(app_routes(world.client.app)) == set(ROUTES), "a route was added or removed: add it to ROUTES"


@pytest.mark.parametrize("key", list(ROUTES), ids=[f"{m} {p}" for m, p in ROUTES])
def test_permission_matrix(world: World, key: tuple[str, str]) -> None:
    case, wrong = ROUTES[key], []
    for role, rel in CALLERS:
        name = caller_name(role, rel)
        req = case.call(world, name)
        r = send(world, req, name)
        want = expected_status(case, role, rel)
        where = f"{name}: {req.method} {req.url}"
        if r.status_code != want:
            wrong.append(f"{where}: expected {want}, got {r.status_code} {r.text[:200]}")
            continue
        if r.status_code >= 400 or (case.reach == "list" and rel in ("child", "sibling")):
            if found := leaked(world, req, r.text):
                wrong.append(f"{where}: answered {r.status_code} with T's data {sorted(found)}")
        elif case.shows and case.reach in ("list", "unit") and rel in ("own", "parent"):
            marker = getattr(world, case.shows, case.shows)
            if marker not in r.text:
                wrong.append(f"{where}: T's {marker!r} missing from the answer")
    assert not wrong, "\n".join(wrong)


def test_without_credentials_only_public_routes_answer(world: World) -> None:
    for key, case in ROUTES.items():
        if case.reach == "public":
            continue
        req = case.call(world, "admin-own")
        r = send(world, replace_token(req), None)
        assert r.status_code == 401, (key, r.status_code)
        assert r.headers["www-authenticate"] == "Bearer" and r.json()["error"]["code"] == "unauthorized"
        assert not leaked(world, req, r.text)


def replace_token(req: Req) -> Req:
    return Req(req.method, req.url, req.params, req.json, req.data, None, req.cookies, req.content, req.headers)


def test_console_pages_send_a_browser_without_login_to_the_login_page(world: World) -> None:
    world.client.cookies.clear()
    r = world.client.get(
        f"/evaluations/{world.run_id}", headers={"accept": "text/html"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=%2Fevaluations%2F{world.run_id}"
    assert world.run_id not in r.text


# ---- lists hold exactly the caller's subtree -----------------------------------------------------------------


def _expected_users(w: World, units: set[str], root: bool) -> set[str]:
    with session_scope(w.settings) as s:
        grants = s.execute(select(Grant.user_id, Grant.unit_id)).all()
        users = dict(s.execute(select(User.id, User.name)).all())
    with_grants = {uid for uid, _ in grants}
    inside = {uid for uid, unit in grants if unit in units}
    return {users[uid] for uid in users if uid in inside or (root and uid not in with_grants)}


def _expected_audit(w: World, units: set[str], root: bool) -> int:
    with session_scope(w.settings) as s:
        tenants = s.scalars(select(AuditEntry.tenant_id)).all()
    return sum(1 for t in tenants if t in units or (root and t is None))


@pytest.mark.parametrize("rel", list(GRANTED_ON))
def test_lists_hold_only_the_callers_subtree(world: World, rel: str) -> None:
    unit = GRANTED_ON[rel]
    units, root = SUBTREE[unit], unit == TENANT
    with session_scope(world.settings) as s:
        runs = {r.id: r.tenant_id for r in s.scalars(select(EvaluationRun))}
        depts = {d.id: d.tenant_id for d in s.scalars(select(Department))}
    for role in ("admin", "auditor", "operator"):
        name = caller_name(role, rel)
        tenants = send(world, Req("GET", "/api/v1/tenants"), name).json()
        assert {t["id"] for t in tenants} == units, name
        page = send(world, Req("GET", "/api/v1/evaluations", params={"limit": 500}), name).json()
        assert {i["run_id"] for i in page["items"]} == {i for i, t in runs.items() if t in units}, name
        assert page["total"] == len(page["items"])
        departments = send(world, Req("GET", "/api/v1/departments"), name).json()
        assert {d["id"] for d in departments} == {d for d, t in depts.items() if t in units}, name
        if role == "operator":  # users and audit are for administrators and auditors only
            continue
        users = send(world, Req("GET", "/api/v1/users", params={"limit": 500}), name).json()
        assert {u["name"] for u in users["items"]} == _expected_users(world, units, root), name
        want = _expected_audit(world, units, root)
        audit = send(world, Req("GET", "/api/v1/audit", params={"limit": 500}), name).json()
        assert audit["total"] == want, name
        assert all(e["tenant_id"] in units or (root and e["tenant_id"] is None) for e in audit["items"]), name


# ---- every route declares its access -------------------------------------------------------------------------

# Routes anyone may call, and routes that need a login but no permission (the caller's own account).
PUBLIC = {
    ("POST", "/api/v1/auth/token"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/static"),
    # Open311 GeoReport v2: citizens report and follow their requests without an account (no personal data)
    ("GET", "/open311/v2/services.{fmt}"),
    ("GET", "/open311/v2/services/{service_code}.{fmt}"),
    ("GET", "/open311/v2/requests.{fmt}"),
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"),
    ("POST", "/open311/v2/requests.{fmt}"),
    # a grant's rows: the X-Grant-Token header is the credential (catalog/sharing_views.py)
    ("GET", "/api/v1/shared/rows"),
}
SELF_SERVICE = {
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{token_id}"),
    ("POST", "/logout"),
}


def _calls(dependant: Any) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def test_every_route_declares_its_access(tmp_path: Path) -> None:
    app = create_app(Settings(workspace=tmp_path / "ws"))  # routes only: nothing starts
    for key, route in app_routes(app).items():
        if not isinstance(route, APIRoute):
            assert key in PUBLIC, f"{key} is neither an API route nor a known public one"
            continue
        calls = list(_calls(route.dependant))
        permissions = {c.__permission__ for c in calls if hasattr(c, "__permission__")}
        if key in PUBLIC:
            assert not permissions and current_principal not in calls, key
        elif key in SELF_SERVICE:
            assert not permissions and current_principal in calls, key
        else:
            assert permissions, f"{key} declares no permission: depend on scoped('…') (api/deps.py)"
