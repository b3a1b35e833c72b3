"""/api/v1/evaluations: list, run view, evaluate now, reports — numbers checked against hand-worked values."""

from __future__ import annotations

import io

import pytest
from docx import Document
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from chengyun.indicators.service import list_runs

from .conftest import EXPECTED, PACK, TENANT, bearer, login, make_user


def _run_id(client: TestClient, period: str) -> str:
    items = client.get("/api/v1/evaluations", params={"pack": PACK, "period": period}).json()["items"]
    assert len(items) == 1, items
    return items[0]["run_id"]


def test_list_is_newest_first_with_filters(client: TestClient) -> None:
    page = client.get("/api/v1/evaluations", params={"tenant": TENANT}).json()
    assert page["total"] == 2 and page["limit"] == 50 and page["offset"] == 0
    assert [i["period"] for i in page["items"]] == ["2025Q1", "2024Q4"]
    first = page["items"][0]
    assert first["pack"] == PACK and first["tenant"] == TENANT and first["max_total"] == 100
    assert first["total"] == EXPECTED["2025Q1"]["total"] and first["stage"] == EXPECTED["2025Q1"]["stage"]
    # the period filter accepts any spelling parse_period does
    only = client.get("/api/v1/evaluations", params={"period": "2024q4", "pack": PACK}).json()
    assert [i["period"] for i in only["items"]] == ["2024Q4"] and only["total"] == 1
    assert client.get("/api/v1/evaluations", params={"pack": "no-such-pack"}).json()["total"] == 0


def test_pagination(client: TestClient) -> None:
    page = client.get("/api/v1/evaluations", params={"tenant": TENANT, "limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and page["limit"] == 1 and page["offset"] == 1
    assert [i["period"] for i in page["items"]] == ["2024Q4"]
    past = client.get("/api/v1/evaluations", params={"tenant": TENANT, "offset": 5}).json()
    assert past["items"] == [] and past["total"] == 2


@pytest.mark.parametrize("period", ["2025Q1", "2024Q4"])
def test_run_view_scores_match_hand_computation(client: TestClient, period: str) -> None:
    want = EXPECTED[period]
    view = client.get(f"/api/v1/evaluations/{_run_id(client, period)}").json()
    assert view["run"]["total"] == pytest.approx(want["total"], abs=0.005)
    assert view["run"]["stage"] == want["stage"]
    scores = {n["id"]: n["score"] for n in view["nodes"]}
    for node in ("C1-1", "C1-2", "M1-1"):
        assert scores[node] == pytest.approx(want[node], abs=1e-3), node
    assert scores["C1-3"] is None  # no data is never a silent zero in the node itself …
    assert scores["C1"] == pytest.approx(
        want["C1-1"] + want["C1-2"], abs=1e-3
    )  # … it adds 0 under policy zero
    assert scores["D1"] == (None if want["D1"] is None else pytest.approx(want["D1"]))
    # the total is the roll-up of the first level, deduction included
    top = sum(n["score"] or 0 for n in view["nodes"] if n["depth"] == 1)
    assert top == pytest.approx(want["total"], abs=0.005)


def test_run_view_evidence_and_trend(client: TestClient) -> None:
    view = client.get(f"/api/v1/evaluations/{_run_id(client, '2025Q1')}").json()
    nodes = {n["id"]: n for n in view["nodes"]}
    ontime = nodes["C1-1"]
    # two cases still open past their due time count as late: 6 of 8 + 2
    assert ontime["value"] == 0.6 and ontime["unit"] == "ratio" and ontime["kind"] == "measure"
    assert ontime["evidence"]["parts"] == {"ontime": 6, "resolved": 8, "overdue_open": 2}
    assert ontime["evidence"]["rows"] == {"cases": 10}
    assert ontime["evidence"]["window"] == [
        "2024-12-31T16:00:00",
        "2025-03-31T16:00:00",
    ]  # Asia/Shanghai quarter in UTC
    assert ontime["delta"] == pytest.approx(6.0)  # 2024Q4 scored 0 on this node
    survey = nodes["M1-1"]
    assert survey["kind"] == "manual" and survey["evidence"]["source"] == "manual"
    assert survey["evidence"]["source_document"] == "survey.pdf"
    assert nodes["C1-3"]["status"] == "no-data" and nodes["C1"]["status"] == "partial"
    assert view["run"]["warnings"] and "C1-3" in view["run"]["warnings"][0]
    assert [s["name"] for s in view["stages"]] == ["准备期", "起步期", "成长期", "成熟期"]
    assert [p["period"] for p in view["trend"]] == ["2024Q4", "2025Q1"]
    assert view["trend"][1]["level1"]["M1"] == pytest.approx(30.0)


def test_create_evaluation_stores_a_run(fresh_client: TestClient) -> None:
    body = {"pack": PACK, "tenant": TENANT, "period": "2025q1"}
    r = fresh_client.post("/api/v1/evaluations", json=body)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["period"] == "2025Q1" and run["total"] == EXPECTED["2025Q1"]["total"]
    assert run["stage"] == EXPECTED["2025Q1"]["stage"]
    assert {n["id"]: n["score"] for n in run["nodes"]}["C1-1"] == pytest.approx(6.0)
    assert r.headers["location"] == f"/api/v1/evaluations/{run['run_id']}"
    stored = fresh_client.get(r.headers["location"]).json()
    assert stored["run"]["total"] == run["total"]
    assert fresh_client.get("/api/v1/evaluations", params={"period": "2025Q1"}).json()["total"] == 2


def test_create_evaluation_unknown_tenant_is_refused(fresh_client: TestClient) -> None:
    # A unit that does not exist is named as such to a caller who may run evaluations somewhere
    r = fresh_client.post(
        "/api/v1/evaluations", json={"pack": PACK, "tenant": "atlantis", "period": "2025Q1"}
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not-found" and "atlantis" in r.json()["error"]["message"]
    assert fresh_client.get("/api/v1/evaluations").json()["total"] == 2  # nothing half-stored


def test_create_evaluation_bad_period_names_the_field(client: TestClient) -> None:
    r = client.post("/api/v1/evaluations", json={"pack": PACK, "tenant": TENANT, "period": "2025Q9"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid-input" and "body.period" in err["message"]
    assert any(d.startswith("body.period:") and "2026Q3" in d for d in err["details"])


def test_reports_in_three_formats(client: TestClient) -> None:
    rid = _run_id(client, "2025Q1")
    html = client.get(f"/api/v1/evaluations/{rid}/report.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "50.67" in html.text and "接口测试指标" in html.text
    assert "'unsafe-inline'" in html.headers["content-security-policy"]  # the report inlines its charts
    xlsx = client.get(f"/api/v1/evaluations/{rid}/report.xlsx")
    assert xlsx.status_code == 200 and "spreadsheetml" in xlsx.headers["content-type"]
    assert 'filename="api-test_testcity_2025Q1.xlsx"' in xlsx.headers["content-disposition"]
    assert load_workbook(io.BytesIO(xlsx.content)).sheetnames
    docx = client.get(f"/api/v1/evaluations/{rid}/report.docx")
    assert docx.status_code == 200 and "wordprocessingml" in docx.headers["content-type"]
    assert Document(io.BytesIO(docx.content)).paragraphs


def test_report_unknown_format_is_422(client: TestClient) -> None:
    r = client.get(f"/api/v1/evaluations/{_run_id(client, '2025Q1')}/report.pdf")
    assert r.status_code == 422 and "path.fmt" in r.json()["error"]["message"]


def test_demo_city_runs_match_the_store(demo_workspace: Settings) -> None:
    from chengyun.api.app import create_app

    with session_scope(demo_workspace) as s:
        stored = {r.id: r.total for r in list_runs(session=s, tenant_id="linjiang")}
    make_user(demo_workspace, "api-tests-admin", "admin", "linjiang")
    with TestClient(create_app(demo_workspace)) as client:
        client.headers.update(bearer(login(client, "api-tests-admin")))
        page = client.get("/api/v1/evaluations", params={"tenant": "linjiang", "limit": 500}).json()
        assert page["total"] == len(stored) and {i["run_id"]: i["total"] for i in page["items"]} == stored
        latest = page["items"][0]
        view = client.get(f"/api/v1/evaluations/{latest['run_id']}").json()
    assert view["run"]["total"] == latest["total"]
    assert sum(n["score"] or 0 for n in view["nodes"] if n["depth"] == 1) == pytest.approx(
        latest["total"], abs=0.01
    )
