"""/open311/v2: Open311 GeoReport v2, JSON and XML, without a login.

JSON answers are validated against the community's GeoReport v2 JSON schemas (``../shared/data/
open311-georeport-v2-schema/``); the XML answer of the same call is parsed and compared with the JSON one element
by element. No GET answer may carry any contact field, and a posted phone number is stored only as hash and mask.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs  # comes with schemathesis (dev); a Rust JSON Schema validator with format checks
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chengyun.accounts.access import Throttle
from chengyun.accounts.models import AuditEntry
from chengyun.cases.models import Case, CaseEvent
from chengyun.cases.service import CaseDesk, create_case, transition
from chengyun.core.db import session_scope, utcnow
from chengyun.core.settings import Settings

from .conftest import CITY, EAST, EAST_CG, PORT, WEST

SCHEMAS = "open311-georeport-v2-schema"
BASE = "https://open311.invalid/georeport-v2/"
PHONE, EMAIL, FIRST, LAST = "139 0000 1234", "li.lei@example.org", "雷", "李"
PRIVATE = (
    PHONE,
    "13900001234",
    "139****1234",
    EMAIL,
    FIRST + LAST,
    "first_name",
    "last_name",
    "email",
    "phone",
    "reporter",
)
Validate = Callable[[str, Any], None]


@pytest.fixture
def validate(shared_data: Path) -> Validate:
    """``validate("requests.json", data)``: fails with every schema error (formats checked too)."""
    folder = shared_data / SCHEMAS
    resources = [(BASE + p.name, json.loads(p.read_text(encoding="utf-8"))) for p in folder.glob("*.json")]
    registry = jsonschema_rs.Registry(resources)

    def check(schema: str, data: Any) -> None:
        validator = jsonschema_rs.validator_for(
            dict(resources)[BASE + schema], registry=registry, base_uri=BASE + schema, validate_formats=True
        )
        errors = [str(e) for e in validator.iter_errors(data)]
        assert not errors, "\n\n".join(errors)

    return check


def both(api: TestClient, path: str, **params: Any) -> tuple[Any, ET.Element]:
    """GET ``path`` as .json and .xml (both 200): the JSON data and the parsed XML root."""
    j = api.get(f"/open311/v2/{path}.json", params=params)
    x = api.get(f"/open311/v2/{path}.xml", params=params)
    assert j.status_code == 200 and x.status_code == 200, (j.text, x.text)
    assert j.headers["content-type"] == "application/json; charset=utf-8"
    assert x.headers["content-type"] == "text/xml; charset=utf-8"
    assert x.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return j.json(), ET.fromstring(x.content)


def _xml_value(value: Any) -> str | None:
    """How a JSON value reads in XML (characters XML 1.0 cannot hold become U+FFFD)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "\ufffd", str(value))


def same(element: ET.Element, data: dict[str, Any]) -> None:
    """The XML element holds exactly the JSON object's fields, in order, with the same values."""
    assert [c.tag for c in element] == list(data), element.tag
    for child in element:
        value = data[child.tag]
        if isinstance(value, list):
            assert len(child) == len(value)
            for sub, item in zip(child, value, strict=True):
                same(sub, item)
        else:
            assert child.text == _xml_value(value), (child.tag, child.text, value)


def same_list(root: ET.Element, root_tag: str, item_tag: str, data: list[dict[str, Any]]) -> None:
    assert root.tag == root_tag and [c.tag for c in root] == [item_tag] * len(data)
    for element, item in zip(root, data, strict=True):
        same(element, item)


def post(api: TestClient, fmt: str = "json", expect: int = 200, **form: Any) -> Any:
    """POST a request (a rubbish report with a position unless told otherwise); the response."""
    fields = {
        "service_code": "E0101",
        "lat": "31.2304",
        "long": "121.4737",
        "description": "路口有暴露垃圾",
    } | form
    r = api.post(f"/open311/v2/requests.{fmt}", data={k: v for k, v in fields.items() if v is not None})
    assert r.status_code == expect, r.text
    return r


def errors_of(r: Any, code: int) -> str:
    """The description of the one Open311 error in a JSON or XML answer with status ``code``."""
    assert r.status_code == code, r.text
    if r.headers["content-type"].startswith("text/xml"):
        root = ET.fromstring(r.content)
        assert root.tag == "errors" and [c.tag for c in root] == ["error"]
        assert root.find("error/code").text == str(code)  # type: ignore[union-attr]
        return root.find("error/description").text or ""  # type: ignore[union-attr]
    body = r.json()
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}
    assert body[0]["code"] == code
    return str(body[0]["description"])


def case(settings: Settings, desk: CaseDesk, **fields: Any) -> str:
    """A case made through the service (another channel unless told otherwise); its id."""
    args: dict[str, Any] = {
        "tenant_id": EAST,
        "channel": "hotline",
        "category": "E0102",
        "description": "来电人张三，电话 13711112222",
    } | fields
    with session_scope(settings) as s:
        return create_case(s, desk, **args).id


# ---- services -------------------------------------------------------------------------------------------------


def test_services(api: TestClient, validate: Validate) -> None:
    data, root = both(api, "services")
    validate("services.json", data)
    same_list(root, "services", "service", data)
    by_code = {s["service_code"]: s for s in data}
    assert by_code["E0101"] == {
        "service_code": "E0101",
        "service_name": "暴露垃圾",
        "description": "Exposed rubbish",
        "metadata": False,
        "type": "realtime",
        "keywords": None,
        "group": "市容环境",
    }
    assert "E01" not in by_code and "E" not in by_code  # groups are not services
    assert by_code["H0301"]["group"] == "投诉" and by_code["H05"]["group"] == "12345热线诉求"


def test_service_definition(api: TestClient, validate: Validate) -> None:
    data, root = both(api, "services/P0102")
    validate("service-definition.json", data)
    assert data == {"service_code": "P0102", "attributes": []}
    assert root.tag == "service_definition"
    same(root, data)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_and_jurisdiction_are_404(api: TestClient, fmt: str) -> None:
    assert "'Z9'" in errors_of(api.get(f"/open311/v2/services/Z9.{fmt}"), 404)
    assert "'E01'" in errors_of(api.get(f"/open311/v2/services/E01.{fmt}"), 404)  # a group, not a service
    assert "jurisdiction_id 'atlantis'" in errors_of(
        api.get(f"/open311/v2/services.{fmt}", params={"jurisdiction_id": "atlantis"}), 404
    )
    assert "'nope'" in errors_of(api.get(f"/open311/v2/requests/nope.{fmt}"), 404)


def test_unknown_format_is_404(api: TestClient) -> None:
    assert ".json or .xml" in errors_of(api.get("/open311/v2/services.html"), 404)


# ---- posting and reading a request -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_then_get(api: TestClient, validate: Validate, case_city: Settings, fmt: str) -> None:
    r = post(
        api,
        fmt,
        phone=PHONE,
        email=EMAIL,
        first_name=FIRST,
        last_name=LAST,
        media_url="https://img.example.org/r/1.jpg",
        api_key="any",
    )
    if fmt == "json":
        created = r.json()
        assert len(created) == 1 and set(created[0]) == {"service_request_id", "service_notice", "account_id"}
        rid = created[0]["service_request_id"]
        assert created[0]["service_notice"].startswith("已受理 Accepted; 预计办结 expected by ")
    else:
        root = ET.fromstring(r.content)
        assert root.tag == "service_requests" and [c.tag for c in root] == ["request"]
        assert [c.tag for c in root[0]] == ["service_request_id", "service_notice", "account_id"]
        rid = root.find("request/service_request_id").text  # type: ignore[union-attr]
    data, xml_root = both(api, f"requests/{rid}")
    validate("requests.json", data)
    same_list(xml_root, "service_requests", "request", data)
    (req,) = data
    assert req["service_request_id"] == rid and req["status"] == "open"
    assert (req["service_code"], req["service_name"], req["description"]) == (
        "E0101",
        "暴露垃圾",
        "路口有暴露垃圾",
    )
    assert (req["lat"], req["long"], req["media_url"]) == (
        31.2304,
        121.4737,
        "https://img.example.org/r/1.jpg",
    )
    assert req["requested_datetime"].endswith("+08:00") and req["expected_datetime"].endswith("+08:00")
    with session_scope(case_city) as s:
        row = s.get(Case, rid)
        assert row is not None and (row.channel, row.source, row.tenant_id) == ("open311", "open311", CITY)
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "case.create", AuditEntry.target_id == rid)
        ).one()
        assert (entry.actor, entry.client) == ("open311:public", "testclient")


def test_the_contact_is_stored_only_as_hash_and_mask(
    api: TestClient, case_city: Settings, case_desk: CaseDesk
) -> None:
    rid = post(api, phone=PHONE, email=EMAIL, first_name=FIRST, last_name=LAST).json()[0][
        "service_request_id"
    ]
    with session_scope(case_city) as s:
        row = s.get(Case, rid)
        assert row is not None
        assert row.reporter_hash == case_desk.contact_hash(PHONE) and row.reporter_masked == "139****1234"
        stored = json.dumps(
            [{c.key: getattr(row, c.key) for c in Case.__mapper__.column_attrs}]
            + [e.detail for e in s.scalars(select(CaseEvent).where(CaseEvent.case_id == rid))]
            + [e.detail for e in s.scalars(select(AuditEntry).where(AuditEntry.target_id == rid))],
            ensure_ascii=False,
            default=str,
        )
    for secret in (PHONE, "13900001234", EMAIL, FIRST + LAST, "li.lei"):
        assert secret not in stored
    # an e-mail alone is the contact when no phone is given
    by_mail = post(api, email=EMAIL).json()[0]["service_request_id"]
    with session_scope(case_city) as s:
        mailed = s.get(Case, by_mail)
        assert mailed is not None and mailed.reporter_hash == case_desk.contact_hash(EMAIL)
        assert mailed.reporter_masked is not None and EMAIL not in mailed.reporter_masked


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"service_code": "Z9"}, "service_code 'Z9' was not found"),
        ({"service_code": None}, "service_code: Field required"),
        ({"lat": None, "long": None}, "a location is required"),
        ({"long": None}, "lat and long: give both or neither"),
        ({"lat": "north"}, "lat: Input should be a valid number"),
        ({"lat": "95"}, "lat: Input should be less than or equal to 90"),
        ({"email": "not-an-address"}, "email: not an e-mail address"),
        ({"phone": "call me"}, "phone: not a phone number"),
        ({"media_url": "javascript:alert(1)"}, "media_url: not an http(s) URL"),
        ({"description": "x" * 4001}, "description: String should have at most 4000 characters"),
        ({"jurisdiction_id": "atlantis"}, "jurisdiction_id 'atlantis' was not found"),
        ({"description": "a\x00b"}, "description: contains a NUL character"),
    ],
)
def test_post_errors(api: TestClient, case_city: Settings, fmt: str, form: dict, named: str) -> None:
    with session_scope(case_city) as s:
        before = len(s.scalars(select(Case.id)).all())
    code = 404 if "jurisdiction" in named else 400
    assert named in errors_of(post(api, fmt, expect=code, **form), code)
    with session_scope(case_city) as s:
        assert len(s.scalars(select(Case.id)).all()) == before


def test_post_with_an_address_only(api: TestClient) -> None:
    rid = post(api, lat=None, long=None, address_string="人民路 1 号").json()[0]["service_request_id"]
    (req,) = api.get(f"/open311/v2/requests/{rid}.json").json()
    assert (req["address"], req["lat"], req["long"]) == ("人民路 1 号", None, None)


def test_posting_is_rate_limited_per_client(api: TestClient) -> None:
    state = api.app.state  # type: ignore[attr-defined]
    kept, state.open311_throttle = state.open311_throttle, Throttle(limit=2, window=60)
    try:
        post(api)
        post(api, "xml")
        r = post(api, expect=429)
        assert "too many requests from testclient" in errors_of(r, 429) and int(r.headers["retry-after"]) > 0
        assert "too many" in errors_of(post(api, "xml", expect=429), 429)
        assert api.get("/open311/v2/services.json").status_code == 200  # reading is not limited
    finally:
        state.open311_throttle = kept


def test_xml_escapes_what_a_citizen_writes(api: TestClient) -> None:
    text = 'a <b>bold</b> & "quoted" \x07 bell'
    rid = post(api, description=text).json()[0]["service_request_id"]
    x = api.get(f"/open311/v2/requests/{rid}.xml")
    assert ET.fromstring(x.content).find("request/description").text == text.replace("\x07", "\ufffd")  # type: ignore[union-attr]
    assert api.get(f"/open311/v2/requests/{rid}.json").json()[0]["description"] == text


# ---- GET requests and its filters --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def history_of_requests(case_city: Settings, case_desk: CaseDesk) -> dict[str, str]:
    """Cases of several ages, services, statuses, channels and units: name → id."""
    now = utcnow()
    made = {
        "fresh": case(
            case_city,
            case_desk,
            channel="open311",
            source="open311",
            category="E0101",
            description="新报的垃圾",
        ),
        "hotline": case(case_city, case_desk),  # a caller's words: never shown through Open311
        "lamp": case(case_city, case_desk, category="P0102", created_at=now - timedelta(days=10)),
        "west": case(
            case_city, case_desk, tenant_id=WEST, category="P0102", created_at=now - timedelta(days=5)
        ),
        "port": case(
            case_city, case_desk, tenant_id=PORT, category="E0501", created_at=now - timedelta(days=30)
        ),
        "old": case(case_city, case_desk, category="E0101", created_at=now - timedelta(days=100)),
        "uncategorised": case(case_city, case_desk, category=None),
    }
    with session_scope(case_city) as s:
        lamp = made["lamp"]
        transition(s, case_desk, lamp, "dispatch", department_id=EAST_CG)
        transition(s, case_desk, lamp, "receive")
        transition(s, case_desk, lamp, "resolve")
    return made


def listed(api: TestClient, **params: Any) -> list[str]:
    r = api.get("/open311/v2/requests.json", params=params)
    assert r.status_code == 200, r.text
    return [x["service_request_id"] for x in r.json()]


def test_list_requests_json_and_xml(
    api: TestClient, validate: Validate, history_of_requests: dict[str, str]
) -> None:
    data, root = both(api, "requests")
    validate("requests.json", data)
    same_list(root, "service_requests", "request", data)
    got = {r["service_request_id"]: r for r in data}
    h = history_of_requests
    assert {h["fresh"], h["hotline"], h["lamp"], h["west"], h["port"]} <= set(got)
    assert h["old"] not in got and h["uncategorised"] not in got  # older than 90 days; no service
    assert [r["requested_datetime"] for r in data] == sorted(
        (r["requested_datetime"] for r in data), reverse=True
    )
    lamp = got[h["lamp"]]
    assert (lamp["status"], lamp["agency_responsible"], lamp["status_notes"]) == (
        "closed",
        "东区城管局",
        "办结 Resolved",
    )
    assert got[h["fresh"]]["description"] == "新报的垃圾"
    assert got[h["hotline"]]["description"] is None and got[h["hotline"]]["status_notes"] == "受理 Accepted"


def test_request_filters(api: TestClient, history_of_requests: dict[str, str]) -> None:
    h = history_of_requests
    mine = set(h.values())

    def only(**params: Any) -> set[str]:
        return set(listed(api, **params)) & mine

    assert only(status="closed") == {h["lamp"]}
    assert h["lamp"] not in only(status="open") and h["fresh"] in only(status="open")
    assert only(status="open,closed") == only()
    assert only(service_code="P0102") == {h["lamp"], h["west"]}
    assert only(service_code="P0102,E0501") == {h["lamp"], h["west"], h["port"]}
    now = utcnow()
    day = timedelta(days=1)
    assert only(
        start_date=(now - 12 * day).isoformat() + "Z", end_date=(now - 4 * day).isoformat() + "Z"
    ) == {h["lamp"], h["west"]}
    assert only(start_date=(now - 120 * day).isoformat() + "+00:00") == {
        h["old"],
        h["port"],
    }  # 90 days from start
    assert only(end_date=(now - 20 * day).isoformat() + "Z") == {h["old"], h["port"]}  # 90 days before end
    assert only(end_date=(now - 8 * day).isoformat() + "Z") == {h["lamp"], h["port"]}
    # local time without an offset is the jurisdiction's (Asia/Shanghai); an unencoded '+' arrives as a space
    local = (now + timedelta(hours=8) - 11 * day).strftime("%Y-%m-%dT%H:%M:%S")
    assert (
        only(start_date=local)
        == only(start_date=local + "+08:00")
        == only(start_date=(now - 11 * day).isoformat() + "Z")
    )
    assert h["lamp"] in set(listed(api, start_date=local + " 08:00"))
    # ids override every other filter, and may name old requests
    ids = f"{h['old']},{h['fresh']},missing"
    assert set(listed(api, service_request_id=ids, status="closed", service_code="P0102")) == {
        h["old"],
        h["fresh"],
    }


def test_requests_of_a_jurisdiction(api: TestClient, history_of_requests: dict[str, str]) -> None:
    h = history_of_requests
    assert set(listed(api, jurisdiction_id=WEST)) == {h["west"]}
    east = set(listed(api, jurisdiction_id=EAST))
    assert {h["port"], h["lamp"]} <= east and h["west"] not in east
    assert (
        api.get(f"/open311/v2/requests/{h['west']}.json", params={"jurisdiction_id": EAST}).status_code == 404
    )
    assert (
        api.get(f"/open311/v2/requests/{h['west']}.json", params={"jurisdiction_id": WEST}).status_code == 200
    )
    assert errors_of(api.get(f"/open311/v2/requests/{h['uncategorised']}.json"), 404)


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"start_date": "yesterday"}, "start_date: 'yesterday' is not a date-time"),
        ({"end_date": "2026-13-01"}, "end_date"),
        ({"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-06-01T00:00:00Z"}, "more than 90 days"),
        (
            {"start_date": "2025-02-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"},
            "end_date is before start_date",
        ),
        ({"status": "pending"}, "status: 'pending' is not one of closed, open"),
        (
            {"start_date": "0001-01-01T00:00:00+01:00"},
            "start_date: '0001-01-01T00:00:00+01:00' is out of range",
        ),
    ],
)
def test_request_filter_errors(api: TestClient, fmt: str, params: dict, named: str) -> None:
    assert named in errors_of(api.get(f"/open311/v2/requests.{fmt}", params=params), 400)


# ---- no personal data in any GET ------------------------------------------------------------------------------


def test_no_personal_data_in_any_get(api: TestClient, history_of_requests: dict[str, str]) -> None:
    rid = post(
        api, phone=PHONE, email=EMAIL, first_name=FIRST, last_name=LAST, description="请尽快处理"
    ).json()[0]["service_request_id"]
    answers = []
    for fmt in ("json", "xml"):
        for path in (
            "services",
            "services/E0101",
            "requests",
            f"requests/{rid}",
            f"requests/{history_of_requests['hotline']}",
        ):
            r = api.get(f"/open311/v2/{path}.{fmt}")
            assert r.status_code == 200, r.text
            answers.append(r.text)
    every = "\n".join(answers)
    for secret in PRIVATE + ("张三", "13711112222"):
        assert secret not in every, secret
    assert rid in every
