"""The case console (案件工作台): the workbench's counts and filters, the case page, actions through its forms,
isolation between districts, the overview's live systems panel, and one round in Chromium.

The city is the case tests' (``tests/cases/conftest.py``): 临江市 lj with 东区 lj-east (and its street lj-east-port)
and 西区 lj-west. Due times are set by hand after intake, so that overdue and due-soon cases are known exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.accounts.models import AuditEntry
from chengyun.api.app import create_app
from chengyun.cases import lifecycle
from chengyun.cases.models import Case
from chengyun.cases.service import CaseDesk, create_case, transition
from chengyun.core.db import session_scope, utcnow
from chengyun.core.settings import Settings
from chengyun.web import cases as case_pages
from tests.cases.casebook import SHANGHAI
from tests.cases.conftest import EAST, EAST_CG, PASSWORD, PORT, PORT_OFFICE, WEST, WEST_CG, build_case_city
from tests.conftest import CHROMIUM_ARGS
from tests.e2e.conftest import HTML, login

SCREENSHOTS = Path("/tmp")  # the browser test leaves its screenshots here for a look
PHONE = "13812345678"
WEST_TEXT = "西区某路段积水无人处理"  # only the west district's case says this
_COUNT = re.compile(r'id="count-(\w+)">.*?<span class="count-value">([\d,]+)</span>', re.S)
_ROW = re.compile(r'data-case="([0-9a-f]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class City:
    settings: Settings
    app: FastAPI
    ids: dict[str, str]  # label → case id


def console_app(settings: Settings) -> FastAPI:
    """The app with the case console (included here only while the app factory does not register it yet)."""
    app = create_app(settings)
    if not any(getattr(r, "path", "") == "/cases" for r in app.routes):
        app.include_router(case_pages.router)
    return app


def _case(s: Session, desk: CaseDesk, label: str, *, due_in: float | None, department: str | None = None,
          **fields: object) -> str:
    args = {"tenant_id": EAST, "channel": "hotline", "category": "E0101", "title": f"测试案件 {label}",
            "auto_dispatch": False} | fields
    case = create_case(s, desk, **args)  # type: ignore[arg-type]
    if department:
        transition(s, desk, case.id, "dispatch", department_id=department, reason="按职责派遣")
    if due_in is not None:
        case.due_at = utcnow() + timedelta(hours=due_in)
    return case.id


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """The city with cases in every state the workbench tells apart, and a started app over it."""
    with pytest.MonkeyPatch.context() as mp:  # argon2id at its lowest cost: hashing is not under test here
        from argon2 import PasswordHasher

        from chengyun.accounts import service

        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        mp.setattr(service, "HASHER", cheap)
        mp.setattr(service, "_DUMMY_HASH", cheap.hash("timing-equaliser"))
        settings = build_case_city(tmp_path_factory.mktemp("case-console") / "ws")
        desk = CaseDesk.for_settings(settings)
        with session_scope(settings) as s:
            ids = {
                "overdue": _case(s, desk, "overdue", due_in=-2, department=EAST_CG, contact=PHONE),
                "soon": _case(s, desk, "soon", due_in=2, department=EAST_CG),
                "later": _case(s, desk, "later", due_in=30, department=EAST_CG, channel="grid"),
                "triage": _case(s, desk, "triage", due_in=40),
                "port": _case(s, desk, "port", due_in=-5, department=PORT_OFFICE, tenant_id=PORT, channel="app",
                              category="P0101"),
                "west": _case(s, desk, "west", due_in=-1, department=WEST_CG, tenant_id=WEST,
                              description=WEST_TEXT),
                "closed": _case(s, desk, "closed", due_in=None, department=EAST_CG),
            }
            transition(s, desk, ids["closed"], "cancel", reason="重复受理")
        with TestClient(console_app(settings)) as client:
            yield City(settings, client.app, ids)  # type: ignore[arg-type]


def as_user(city: City, name: str) -> TestClient:
    """A client of the city's app that asks for pages, logged in as ``name`` through the form."""
    client = TestClient(city.app, headers=HTML)
    assert login(client, name, PASSWORD).status_code == 303
    return client


def counts(html: str) -> dict[str, int]:
    return {k: int(v.replace(",", "")) for k, v in _COUNT.findall(html)}


def expected_counts(city: City, units: set[str]) -> dict[str, int]:
    """The workbench's counts worked out here from the stored cases (not by the page's query)."""
    now, out = utcnow(), {"open": 0, "overdue": 0, "soon": 0, "triage": 0}
    with session_scope(city.settings) as s:
        for c in s.scalars(select(Case).where(Case.tenant_id.in_(units))):
            if c.status not in lifecycle.OPEN:
                continue
            out["open"] += 1
            if c.due_at is not None and c.status != "suspended":
                out["overdue"] += c.due_at < now
                out["soon"] += now <= c.due_at <= now + timedelta(hours=4)
            out["triage"] += c.status == "accepted" and c.department_id is None
    return out


def breached_this_month(city: City) -> int:
    """Cases whose resolution limit fell in this (Shanghai) month, has passed, and was not met."""
    now = utcnow()
    local_now = now.replace(tzinfo=UTC).astimezone(SHANGHAI)
    start = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC).replace(tzinfo=None)
    with session_scope(city.settings) as s:
        return sum(1 for c in s.scalars(select(Case))
                   if c.status != "cancelled" and c.due_at is not None and start <= c.due_at < now
                   and (c.resolved_at is None or c.resolved_at > c.due_at))


def listed(client: TestClient, **params: str) -> set[str]:
    r = client.get("/cases", params=params)
    assert r.status_code == 200, r.text[:500]
    return set(_ROW.findall(r.text))


# ---- the workbench -------------------------------------------------------------------------------------------


def test_workbench_counts_are_those_of_the_callers_cases(city: City) -> None:
    admin = as_user(city, "admin")
    html = admin.get("/cases").text
    assert "案件工作台" in html and 'class="active"' in html.split('data-key="systems"')[1][:40]
    want = expected_counts(city, {EAST, PORT, WEST, "lj"})
    assert want == {"open": 6, "overdue": 3, "soon": 1, "triage": 1}  # the fixture's cases, as planned
    assert counts(html) == want
    assert set(_ROW.findall(html)) == set(city.ids.values()) - {city.ids["closed"]}
    east = as_user(city, "dept-east").get("/cases").text
    assert counts(east) == expected_counts(city, {EAST, PORT}) == {"open": 5, "overdue": 2, "soon": 1, "triage": 1}


def test_workbench_rows_carry_the_countdown(city: City) -> None:
    html = as_user(city, "admin").get("/cases").text
    overdue = html[html.index(f'data-case="{city.ids["overdue"]}"'):]
    overdue = overdue[:overdue.index("</tr>")]
    assert "urgency-overdue" in overdue and "超时 " in overdue and "城管局" in overdue
    soon = html[html.index(f'data-case="{city.ids["soon"]}"'):]
    assert "urgency-soon" in soon[:soon.index("</tr>")] and "剩余 " in soon[:soon.index("</tr>")]
    # most urgent first: the longest overdue (port, 5 h) before the overdue west and east cases
    order = _ROW.findall(html)
    assert order.index(city.ids["port"]) < order.index(city.ids["overdue"]) < order.index(city.ids["soon"])


def test_workbench_filters(city: City) -> None:
    admin, ids = as_user(city, "admin"), city.ids
    assert listed(admin, status="accepted") == {ids["triage"]}
    assert listed(admin, department=EAST_CG) == {ids["overdue"], ids["soon"], ids["later"]}
    assert listed(admin, category="P01") == {ids["port"]}
    assert listed(admin, channel="grid") == {ids["later"]}
    assert listed(admin, overdue="true") == {ids["overdue"], ids["port"], ids["west"]}
    assert listed(admin, overdue="true", department=EAST_CG) == {ids["overdue"]}
    assert listed(admin, status="cancelled") == set(city.ids.values()) - {ids["closed"]}  # only open states filter


def test_workbench_pages(city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(case_pages, "PAGE_SIZE", 4)
    admin = as_user(city, "admin")
    first = admin.get("/cases", params={"department": EAST_CG}).text
    assert len(_ROW.findall(first)) == 3 and "next-page" not in first
    page1, page2 = admin.get("/cases").text, admin.get("/cases", params={"page": 2}).text
    assert 'id="next-page"' in page1 and "第 1 / 2 页" in page1
    assert len(_ROW.findall(page1)) == 4 and len(_ROW.findall(page2)) == 2
    assert set(_ROW.findall(page1)) | set(_ROW.findall(page2)) == set(city.ids.values()) - {city.ids["closed"]}


def test_workbench_in_english(city: City) -> None:
    html = as_user(city, "admin").get("/cases", params={"lang": "en"}).text
    assert "Case workbench" in html and "Overdue only" in html and " overdue" in html and "案件工作台" not in html


# ---- one case ------------------------------------------------------------------------------------------------


def test_case_page_shows_fields_sla_and_timeline_and_is_audited(city: City) -> None:
    cid = city.ids["overdue"]
    r = as_user(city, "op-east").get(f"/cases/{cid}")
    assert r.status_code == 200
    html = r.text
    assert "138****5678" in html and PHONE not in html  # the contact only masked
    assert "测试案件 overdue" in html and "东区城管局" in html and "东区" in html
    for label in ("响应时限", "办结时限", "适用规则", "挂起", "延期"):
        assert label in html
    timeline = html[html.index('id="timeline"'):]
    assert "受理" in timeline and "派遣" in timeline and "按职责派遣" in timeline
    forms = re.findall(r'id="action-(\w+)"', html)
    assert forms == lifecycle.allowed_actions("dispatched")
    assert 'data-due="' in html and "urgency-overdue" in html
    with session_scope(city.settings) as s:
        reads = s.scalars(select(AuditEntry).where(AuditEntry.action == "case.read", AuditEntry.target_id == cid))
        assert [e.actor for e in reads] == ["op-east"]


def test_case_page_in_english(city: City) -> None:
    html = as_user(city, "admin").get(f"/cases/{city.ids['soon']}", params={"lang": "en"}).text
    assert "Time limits (SLA)" in html and "Dispatch" in html and "Receive" in html and "办理过程" not in html


def _form(client: TestClient, case_id: str, **fields: str) -> tuple[int, str, str]:
    page = client.get(f"/cases/{case_id}").text
    token = _CSRF.search(page)
    assert token
    r = client.post(f"/cases/{case_id}/actions", data={"csrf": token.group(1)} | fields, follow_redirects=False)
    return r.status_code, r.headers.get("location", ""), r.text


def test_an_action_through_the_form(city: City) -> None:
    client, cid = as_user(city, "dept-east"), city.ids["soon"]
    status, location, _ = _form(client, cid, action="receive")
    assert (status, location) == (303, f"/cases/{cid}#timeline")
    html = client.get(f"/cases/{cid}").text
    assert 'id="case-status">处置' in html and "签收" in html[html.index('id="timeline"'):]
    status, _, _ = _form(client, cid, action="extend", amount="2", reason="需协调燃气公司")
    assert status == 303
    html = client.get(f"/cases/{cid}").text
    assert "需协调燃气公司" in html and 'id="sla-extension">2' in html
    with session_scope(city.settings) as s:
        case = s.get(Case, cid)
        assert case is not None and case.status == "in_progress" and case.extension == 2.0


def test_an_action_without_the_csrf_token_is_refused(city: City) -> None:
    client, cid = as_user(city, "dept-east"), city.ids["later"]
    for data in ({"action": "receive"}, {"action": "receive", "csrf": "forged"}):
        r = client.post(f"/cases/{cid}/actions", data=data, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text
    with session_scope(city.settings) as s:
        case = s.get(Case, cid)
        assert case is not None and case.status == "dispatched"


def test_an_illegal_action_is_shown_with_the_allowed_ones(city: City) -> None:
    client, cid = as_user(city, "dept-east"), city.ids["later"]
    status, _, html = _form(client, cid, action="resolve")
    assert status == 409
    notice = html[html.index('id="case-error"'):]
    notice = notice[:notice.index("</div>")]
    assert "操作未执行" in notice and "resolve" in notice
    for a in lifecycle.allowed_actions("dispatched"):
        assert lifecycle.ACTIONS[a][0] in notice
    status, _, html = _form(client, cid, action="return")  # a reason is required
    assert status == 422 and "reason" in html[html.index('id="case-error"'):]
    status, _, html = _form(client, cid, action="extend", amount="-3", reason="x")
    assert status == 422 and "amount" in html
    with session_scope(city.settings) as s:
        case = s.get(Case, cid)
        assert case is not None and case.status == "dispatched" and case.returned_count == 0


def test_dispatch_from_triage_offers_the_departments_around_the_unit(city: City) -> None:
    client, cid = as_user(city, "op-east"), city.ids["triage"]
    html = client.get(f"/cases/{cid}").text
    form = html[html.index('id="action-dispatch"'):]
    form = form[:form.index("</form>")]
    assert "市水务局" in form and "东区城管局" in form and "港口街道办" in form and "西区城管局" not in form
    status, _, html = _form(client, cid, action="dispatch", department=WEST_CG)
    assert status == 404 and "department" in html and 'id="case-error"' in html
    status, _, _ = _form(client, cid, action="dispatch", department="water")
    assert status == 303
    with session_scope(city.settings) as s:
        case = s.get(Case, cid)
        assert case is not None and case.department_id == "water" and case.status == "dispatched"


def test_another_district_sees_nothing_of_the_case(city: City) -> None:
    west, east_case = as_user(city, "dept-west"), city.ids["overdue"]
    r = west.get(f"/cases/{east_case}")
    assert r.status_code == 404 and "测试案件 overdue" not in r.text and PHONE[-4:] not in r.text
    assert listed(west) == {city.ids["west"]}
    assert counts(west.get("/cases").text) == expected_counts(city, {WEST})
    status, _, _ = _form(west, city.ids["west"], action="receive")  # its own case: fine
    assert status == 303
    token = _CSRF.search(west.get("/cases").text)
    assert token
    r = west.post(f"/cases/{east_case}/actions", data={"csrf": token.group(1), "action": "cancel", "reason": "x"})
    assert r.status_code == 404
    assert WEST_TEXT not in as_user(city, "dept-east").get("/cases").text


def test_auditors_read_but_see_no_action_buttons(city: City) -> None:
    html = as_user(city, "auditor").get(f"/cases/{city.ids['port']}").text
    assert "港口街道办" in html and 'id="case-actions"' not in html


# ---- the overview's systems panel ----------------------------------------------------------------------------


def test_the_systems_panel_shows_live_case_numbers(city: City) -> None:
    admin = as_user(city, "admin")
    html = admin.get("/overview", params={"unit": "lj"}).text
    panel = html[html.index('id="panel-systems"'):]
    panel = panel[:panel.index("</section>")]
    want = expected_counts(city, {EAST, PORT, WEST, "lj"})
    assert "暂无评价数据" in panel  # the city has no evaluation run: the panel still says so, above the cases
    nums = re.findall(r'<span class="case-num">(\d+)</span>', panel)
    assert int(nums[0]) == want["open"] and int(nums[1]) == want["overdue"]
    assert int(nums[2]) == breached_this_month(city)
    top = re.findall(r"<tr><td><a [^>]*>([^<]+)</a></td><td class=\"num strong\">(\d+)</td>", panel)
    assert top and top == sorted(top, key=lambda t: -int(t[1]))[:3]
    assert sum(int(n) for _, n in top) == want["overdue"]
    west_panel = admin.get("/overview", params={"unit": WEST}).text
    west_panel = west_panel[west_panel.index('id="panel-systems"'):]
    west_panel = west_panel[:west_panel.index("</section>")]
    assert "西区城管局" in west_panel and "东区城管局" not in west_panel and "港口街道办" not in west_panel


# ---- in Chromium ---------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_workbench_and_case_in_chromium(city: City, chromium: str) -> None:
    """Log in, open the workbench, open an overdue case and receive it through its button."""
    import threading
    import time

    import uvicorn
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import _free_port

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(console_app(city.settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{base}/login?lang=zh&next=/cases")
                page.fill("#username", "op-east")
                page.fill("#password", PASSWORD)
                page.click("#login-submit")
                page.wait_for_url("**/cases")
                assert page.inner_text("#count-overdue .count-value") == "2"
                page.screenshot(path=str(SCREENSHOTS / "console-cases.png"), full_page=True)
                page.click(f"a[href='/cases/{city.ids['port']}']")
                page.wait_for_url(f"**/cases/{city.ids['port']}")
                assert "港口街道办" in page.inner_text("#case-department")
                page.screenshot(path=str(SCREENSHOTS / "console-case.png"), full_page=True)
                page.click("#action-receive button")
                page.wait_for_url(f"**/cases/{city.ids['port']}#timeline")
                assert page.inner_text("#case-status") == "处置"
                assert "签收" in page.inner_text("#timeline")
                page.goto(f"{base}/overview?unit={EAST}")
                assert "东区城管局" in page.inner_text("#panel-systems")
                page.screenshot(path=str(SCREENSHOTS / "console-cases-panel.png"), full_page=True)
                page.goto(f"{base}/cases?lang=en")
                assert "Case workbench" in page.inner_text("h1")
                page.screenshot(path=str(SCREENSHOTS / "console-cases-en.png"), full_page=True)
                assert not errors, errors
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
