"""Personal data in a demo-like 人口基础信息 dataset (个人信息保护法): masked in every API answer and console page a
supervisor gets, in shared rows and in command output; revealed only with ``data.reveal`` and a reason, each reveal
one audit entry. Checked on the whole response body against the values written into the file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from chengyun.accounts.models import AuditEntry
from chengyun.accounts.policy import PERMISSIONS
from chengyun.cli.main import app
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from tests.api.conftest import login, make_user
from tests.e2e.conftest import _CSRF, form_field
from tests.e2e.conftest import login as form_login

from .api_world import CITY, EAST, World, build_city, entry, open_world
from .personal_world import BAD_IDS, HEADER, IDS, PHONES, RESIDENTS, RULES, residents_xlsx

FULL_ID = re.compile(r"(?<![0-9.])[0-9]{17}[0-9X](?![0-9])")
FULL_MOBILE = re.compile(r"(?<![0-9.])1[3-9][0-9]{9}(?![0-9])")
REASON = "核验举报人身份（工单 2026-0815）"


def masked_id(s: str) -> str:
    return s[:6] + "********" + s[-4:]


def assert_no_personal(body: str, where: str) -> None:
    """No full identity number or mobile anywhere in ``body``, and none of the file's values."""
    assert not FULL_ID.search(body), f"{where}: a full identity number: {FULL_ID.search(body)}"
    assert not FULL_MOBILE.search(body), f"{where}: a full mobile number: {FULL_MOBILE.search(body)}"
    leaked = [v for v in IDS + PHONES if v in body]
    assert not leaked, f"{where}: {leaked[:3]}"
    assert "滨江路12号" not in body and "赵小明" not in body, f"{where}: an address or a name in clear"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Iterator[World]:
    settings = build_city(Settings(workspace=tmp_path_factory.mktemp("personal") / "ws"))
    make_user(settings, "sup", "supervisor", CITY)
    with open_world(settings) as w:
        w.tokens["sup"] = login(w.client, "sup")
        yield w


@pytest.fixture(scope="module")
def residents(world: World) -> str:
    """The 人口 extract loaded by the east district's operator, checked with its rules (some fail)."""
    described = entry("LJ-GA-000007", "人口基础信息（抽样）", "east-amr", sharing="无条件共享")
    ds_id = world.create("op-east", "residents", EAST, described)["id"]
    r = world.upload("op-east", ds_id, residents_xlsx(), fmt="xlsx")
    assert r.status_code == 200, r.text
    assert world.put("op-east", f"/api/v1/datasets/{ds_id}/rules", {"rules": RULES}).status_code == 200
    run = world.post("op-east", f"/api/v1/datasets/{ds_id}/quality-runs", {})
    assert run.status_code == 201, run.text
    return str(ds_id)


def reveals(settings: Settings, ds_id: str) -> list[AuditEntry]:
    with session_scope(settings) as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.target_id == ds_id,
                                                       AuditEntry.action == "dataset.reveal")))
        s.expunge_all()
        return rows


def test_only_administrators_may_reveal_by_default() -> None:
    assert PERMISSIONS["data.reveal"] == frozenset({"admin"})


def test_columns_are_classified_on_load(world: World, residents: str) -> None:
    columns = {c["name"]: c["personal"] for c in world.get("sup", f"/api/v1/datasets/{residents}").json()["columns"]}
    assert columns == {"公民身份号码": "resident-id", "姓名": "name", "手机号码": "phone", "居住地址": "address",
                       "备注": None}


def test_a_supervisors_api_answers_hold_no_personal_value(world: World, residents: str) -> None:
    for url in (f"/api/v1/datasets/{residents}", f"/api/v1/datasets/{residents}/profile",
                f"/api/v1/datasets/{residents}/quality-runs", "/api/v1/datasets"):
        r = world.get("sup", url)
        assert r.status_code == 200, r.text
        assert_no_personal(r.text, url)
    prof = {c["name"]: c for c in world.get("sup", f"/api/v1/datasets/{residents}/profile").json()["columns"]}
    ids = sorted(IDS)  # strings compare by code point, as the engine's min and max do
    assert (prof["公民身份号码"]["min"], prof["公民身份号码"]["max"]) == (masked_id(ids[0]), masked_id(ids[-1]))
    assert prof["公民身份号码"]["masked"] is True and prof["备注"]["masked"] is False
    assert prof["备注"]["min"] == min(r[4] for r in RESIDENTS)  # what is not personal stays in clear
    runs = world.get("sup", f"/api/v1/datasets/{residents}/quality-runs").json()
    samples = next(r for r in runs[0]["report"]["rules"] if r["id"] == "id-valid")["samples"]
    bad = sorted(IDS[k - 1] for k in BAD_IDS)
    assert sorted(s["公民身份号码"] for s in samples) == sorted(masked_id(b) for b in bad)
    assert {s["姓名"][0] for s in samples} <= set("张王李赵刘陈杨黄周吴") and all(set(s["姓名"][1:]) == {"*"}
                                                                          for s in samples)


def test_a_supervisors_console_page_holds_no_personal_value(world: World, residents: str) -> None:
    client = TestClient(world.client.app, headers={"accept": "text/html"} | world.as_("sup"))
    for url in (f"/datasets/{residents}", "/datasets", "/datasets?lang=en"):
        page = client.get(url)
        assert page.status_code == 200, page.text[:300]
        assert_no_personal(page.text, url)
    page = client.get(f"/datasets/{residents}?lang=zh")
    assert "数据画像" in page.text and "sample-table" in page.text  # the profile and the failed rules' samples
    assert masked_id(sorted(IDS)[0]) in page.text  # the masked form is what is shown
    assert 'id="reveal-form"' not in page.text  # a supervisor is not offered the reveal


def test_an_unpermitted_reveal_is_refused_and_reveals_nothing(world: World, residents: str) -> None:
    for who in ("sup", "op-east", "op-west", "auditor"):
        r = world.post(who, f"/api/v1/datasets/{residents}/reveal", {"reason": REASON})
        assert r.status_code == 403, r.text
        assert_no_personal(r.text, who)
    assert reveals(world.settings, residents) == []


def test_a_reveal_needs_a_reason(world: World, residents: str) -> None:
    assert world.post("admin", f"/api/v1/datasets/{residents}/reveal", {"reason": ""}).status_code == 422
    assert world.post("admin", f"/api/v1/datasets/{residents}/reveal", {"reason": "x" * 501}).status_code == 422
    blank = world.post("admin", f"/api/v1/datasets/{residents}/reveal", {"reason": "   "})
    assert blank.status_code == 422 and "reason" in blank.json()["error"]["message"]
    wrong = world.post("admin", f"/api/v1/datasets/{residents}/reveal", {"reason": REASON, "columns": ["备注"]})
    assert wrong.status_code == 422 and "备注" in wrong.json()["error"]["message"]
    assert reveals(world.settings, residents) == []


def test_a_permitted_reveal_shows_the_values_and_is_audited_once(world: World, residents: str) -> None:
    before = len(reveals(world.settings, residents))
    r = world.post("admin", f"/api/v1/datasets/{residents}/reveal",
                   {"reason": REASON, "columns": ["公民身份号码", "手机号码"]})
    assert r.status_code == 200, r.text
    out = r.json()
    prof = {c["name"]: c for c in out["profile"]["columns"]}
    assert (prof["公民身份号码"]["min"], prof["公民身份号码"]["max"]) == (min(IDS), max(IDS))
    assert prof["手机号码"]["masked"] is False and prof["姓名"]["masked"] is True  # only what was asked for
    phones = sorted(p for p in PHONES)
    assert (prof["手机号码"]["min"], prof["手机号码"]["max"]) == (phones[0], phones[-1])
    samples = next(x for x in out["quality_run"]["report"]["rules"] if x["id"] == "id-valid")["samples"]
    assert sorted(s["公民身份号码"] for s in samples) == sorted(IDS[k - 1] for k in BAD_IDS)
    assert all("*" in s["姓名"] for s in samples)
    entries = reveals(world.settings, residents)
    assert len(entries) == before + 1
    e = entries[-1]
    assert (e.actor, e.tenant_id) == ("admin", EAST)
    assert e.detail == {"columns": ["公民身份号码", "手机号码"], "reason": REASON}
    # the next ordinary read is masked again
    assert_no_personal(world.get("admin", f"/api/v1/datasets/{residents}/profile").text, "after the reveal")


def test_shared_rows_are_masked(world: World, residents: str) -> None:
    r = world.request("dept-west", {"dataset": residents, "department": "west-cg", "purpose": "身份核验"})
    assert r.status_code == 201, r.text
    rows = world.rows(r.json()["token"], limit=100)
    assert rows.status_code == 200 and rows.json()["total"] == len(RESIDENTS)
    assert_no_personal(rows.text, "shared rows")
    first = rows.json()["rows"][0]
    assert first["公民身份号码"] == masked_id(RESIDENTS[0][0]) and first["手机号码"] == (
        RESIDENTS[0][2][:3] + "****" + RESIDENTS[0][2][-4:])  # type: ignore[index]
    assert first["居住地址"] == "临江市东区滨江街道****" and first["备注"] == RESIDENTS[0][4]


def test_setting_a_class_by_hand(world: World, residents: str) -> None:
    url = f"/api/v1/datasets/{residents}/columns/备注/personal"
    assert world.put("sup", url, {"personal": "name"}).status_code == 403  # reading is not editing
    bad = world.put("op-east", url, {"personal": "passport"})
    assert bad.status_code == 422 and "resident-id" in bad.json()["error"]["fix"]
    assert world.put("op-east", url, {"personal": "name"}).json()["personal"] == "name"
    prof = {c["name"]: c for c in world.get("sup", f"/api/v1/datasets/{residents}/profile").json()["columns"]}
    assert prof["备注"]["min"] == "第" + "*" * (len(min(r[4] for r in RESIDENTS)) - 1)
    # clearing a class shows the values to every reader: the editor alone may not
    assert world.put("op-east", url, {"personal": None}).status_code == 403
    assert world.put("admin", url, {"personal": "none"}).json()["personal"] is None
    with session_scope(world.settings) as s:
        changes = [e.detail for e in s.scalars(select(AuditEntry).where(
            AuditEntry.target_id == residents, AuditEntry.action == "dataset.personal").order_by(AuditEntry.seq))]
    assert changes == [{"column": "备注", "before": None, "after": "name"},
                       {"column": "备注", "before": "name", "after": None}]


def test_a_class_set_by_hand_survives_a_reload(world: World, residents: str) -> None:
    url = f"/api/v1/datasets/{residents}/columns/居住地址/personal"
    assert world.put("admin", url, {"personal": "none"}).status_code == 200
    assert world.upload("op-east", residents, residents_xlsx(), fmt="xlsx").status_code == 200
    cols = {c["name"]: c for c in world.get("sup", f"/api/v1/datasets/{residents}").json()["columns"]}
    assert (cols["居住地址"]["personal"], cols["居住地址"]["personal_by"]) == (None, "user")
    assert (cols["公民身份号码"]["personal"], cols["公民身份号码"]["personal_by"]) == ("resident-id", "detected")
    assert world.put("op-east", url, {"personal": "address"}).status_code == 200  # protecting needs no reveal right


def test_console_reveal_form(world: World, residents: str) -> None:
    client = TestClient(world.client.app, headers={"accept": "text/html"})
    password = "console-reveal-9"
    make_user(world.settings, "web-admin", "admin", CITY, password=password)
    assert form_login(client, "web-admin", password).status_code == 303
    page = client.get(f"/datasets/{residents}")
    assert page.status_code == 200 and 'id="reveal-form"' in page.text
    assert_no_personal(page.text, "admin's page before the reveal")
    csrf = form_field(page.text, _CSRF)
    before = len(reveals(world.settings, residents))
    assert client.post(f"/datasets/{residents}/reveal", data={"reason": REASON}).status_code == 403  # no CSRF
    empty = client.post(f"/datasets/{residents}/reveal", data={"reason": " ", "csrf": csrf})
    assert empty.status_code == 422 and 'id="reveal-error"' in empty.text
    assert_no_personal(empty.text, "a refused reveal")
    shown = client.post(f"/datasets/{residents}/reveal", data={"reason": REASON, "csrf": csrf})
    assert shown.status_code == 200 and 'id="reveal-notice"' in shown.text and REASON in shown.text
    assert min(IDS) in shown.text and IDS[min(BAD_IDS) - 1] in shown.text  # the profile and the samples
    assert len(reveals(world.settings, residents)) == before + 1
    sup = TestClient(world.client.app, headers={"accept": "text/html"} | world.as_("sup"))
    refused = sup.post(f"/datasets/{residents}/reveal", data={"reason": REASON})
    assert refused.status_code == 403
    assert_no_personal(refused.text, "a supervisor's reveal")
    assert len(reveals(world.settings, residents)) == before + 1


def _cli(settings: Settings, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, [*args, "--workspace", str(settings.workspace)])
    assert result.exit_code == code, result.output
    return result


def test_command_output_is_masked_and_the_cli_reveal_audited(world: World, residents: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", world.settings.db_url)
    for args in (("datasets", "profile", residents), ("datasets", "profile", residents, "--json"),
                 ("datasets", "show", residents, "--json"), ("quality", "run", residents, "--json")):
        out = _cli(world.settings, *args, code=1 if args[0] == "quality" else 0).output
        assert not FULL_ID.search(out) and not [v for v in IDS + PHONES if v in out], args
    before = len(reveals(world.settings, residents))
    _cli(world.settings, "datasets", "reveal", residents, "--reason", " ", code=1)
    shown = _cli(world.settings, "datasets", "reveal", residents, "--reason", REASON, "--column", "公民身份号码",
                 "--json").output
    assert min(IDS) in shown and not [p for p in PHONES if p in shown]
    entries = reveals(world.settings, residents)
    assert len(entries) == before + 1 and entries[-1].actor.startswith("cli:")
    assert entries[-1].detail == {"columns": ["公民身份号码"], "reason": REASON}
    assert HEADER[0] in shown


def test_load_notes_quote_no_personal_value(world: World, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", world.settings.db_url)
    landlines = [f"0571{8765430 + n}" for n in range(5)]  # digits with a leading zero: kept as text, with a note
    src = tmp_path / "contacts.csv"
    src.write_text("单位,联系电话\n" + "".join(f"单位{n},{v}\n" for n, v in enumerate(landlines)), encoding="utf-8")
    out = _cli(world.settings, "datasets", "add", str(src), "--name", "contacts", "--tenant", EAST, "--json").output
    assert "leading zeros such as '057****5430'" in out  # the note is there, its example masked
    assert not [v for v in landlines if v in out]
    page = TestClient(world.client.app, headers={"accept": "text/html"} | world.as_("sup"))
    ds_id = re.search(r'"id": "(ds-[0-9a-f]+)"', out).group(1)  # type: ignore[union-attr]
    body = page.get(f"/datasets/{ds_id}").text
    assert not [v for v in landlines if v in body]
