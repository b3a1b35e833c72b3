"""Evaluation runs end to end on a hand-made lake: totals by hand, evidence, deltas, manual inputs, CLI."""

from __future__ import annotations

import json
from datetime import datetime as D
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook
from typer.testing import CliRunner

from chengyun.analytics.engine import connect
from chengyun.analytics.registry import get_registry
from chengyun.cli.main import app
from chengyun.core.db import session_scope
from chengyun.core.errors import InvalidInput
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.indicators import catalog
from chengyun.indicators.inputs import load_template, set_input, write_template
from chengyun.indicators.service import evaluate, evaluate_packs
from chengyun.indicators.view import run_json, run_view
from chengyun.lake.writer import write
from chengyun.tenancy.service import add_unit

PACK = {
    "id": "test-ops", "version": "0.1", "title": "测试包", "scale": 100, "no_data": "zero",
    "stages": {"bands": [{"name": "准备期", "min": 0}, {"name": "起步期", "min": 55}, {"name": "成长期", "min": 70}]},
    "nodes": [
        {"id": "C", "name": "案件", "weight": 60, "children": [
            {"id": "C1", "name": "按时办结率", "weight": 30, "measure": "cases.ontime_closure_rate",
             "scoring": {"rule": "linear", "worst": 0.5, "best": 1.0}},
            {"id": "C2", "name": "满意率", "weight": 30, "measure": "cases.satisfaction_rate",
             "scoring": {"rule": "target", "target": 0.8}},
        ]},
        {"id": "S", "name": "市民体验调查", "weight": 40, "input": {"unit": "score", "min": 0, "max": 100},
         "scoring": {"rule": "linear", "worst": 60, "best": 90}},
    ],
}


def _cases(start: D, ontime: list[bool], sat: list[int]) -> dict:
    n = len(ontime)
    created = [start.replace(hour=1 + i) for i in range(n)]
    return {
        "tenant": ["t.d1"] * n, "case_id": [f"{start:%m}-{i}" for i in range(n)], "channel": ["hotline"] * n,
        "category": ["x"] * n, "priority": ["p"] * n, "department_id": ["d"] * n, "unit_id": ["u"] * n,
        "created_at": created, "response_due_at": created, "responded_at": created,
        "due_at": [c.replace(day=10) for c in created],
        "resolved_at": [c.replace(day=5 if ok else 20) for c, ok in zip(created, ontime, strict=True)],
        "closed_at": [None] * n, "status": ["closed"] * n, "solved": [True] * n, "satisfaction": sat,
        "returned_count": [0] * n,
    }


@pytest.fixture
def city(ws: Settings, tmp_path: Path):
    folder = tmp_path / "packs"
    folder.mkdir()
    (folder / "test-ops.yaml").write_text(yaml.safe_dump(PACK, allow_unicode=True), encoding="utf-8")
    (folder / "test-ops-2.yaml").write_text(yaml.safe_dump(PACK | {"id": "test-ops-2"}, allow_unicode=True),
                                            encoding="utf-8")
    reg = get_registry()
    reg.pack_dirs.append(folder)
    catalog._CACHE = None
    with session_scope(ws) as s:
        add_unit(session=s, unit_id="t", name="测试市", population=100_000)
        add_unit(session=s, unit_id="t.d1", name="一区", parent_id="t", population=100_000)
    write(ws.lake, "cases", _cases(D(2026, 4, 2), [True, False, False, False], [5, 5, 3, 2]))  # Q2
    write(ws.lake, "cases", _cases(D(2026, 7, 2), [True, True, True, False], [5, 4, 4, 1]))  # Q3
    yield ws
    reg.pack_dirs.remove(folder)
    catalog._CACHE = None


def _evaluate(ws: Settings, period: str):
    eng = connect(ws)
    try:
        with session_scope(ws) as s:
            run = evaluate(session=s, settings=ws, engine=eng, pack_id="test-ops", tenant_id="t", period=parse_period(period))
            return run.id, run_json(s, run), run_view(session=s, run_id=run.id)
    finally:
        eng.close()


def test_totals_evidence_and_delta(city: Settings) -> None:
    with session_scope(city) as s:
        set_input(session=s, pack_id="test-ops", node_id="S", tenant_id="t", period="2026Q3", value=84, evidence="2026 survey")
    _, q2, _ = _evaluate(city, "2026Q2")
    run_id, q3, view = _evaluate(city, "2026Q3")
    nodes = {n["id"]: n for n in q3["nodes"]}
    # Q3: on-time 3/4 → (0.75-0.5)/0.5 = 0.5 × 30 = 15; satisfied 3/4 → 0.75/0.8 × 30 = 28.125; survey 84 → 0.8 × 40 = 32
    assert nodes["C1"]["score"] == pytest.approx(15)
    assert nodes["C2"]["score"] == pytest.approx(28.125)
    assert nodes["S"]["score"] == pytest.approx(32)
    assert q3["total"] == pytest.approx(75.125, abs=0.006)  # 15 + 28.125 + 32, kept to 2 decimals
    assert q3["stage"] == "成长期"
    # Q2: on-time 1/4 → 0; satisfied 2/4 → 0.625 × 30 = 18.75; no survey → no data, scored 0
    assert q2["total"] == pytest.approx(18.75)
    assert {n["id"]: n["status"] for n in q2["nodes"]}["S"] == "no-data"
    vnodes = {n["id"]: n for n in view["nodes"]}
    assert vnodes["C2"]["delta"] == pytest.approx(28.125 - 18.75)
    ev = vnodes["C1"]["evidence"]
    assert ev["parts"] == {"ontime": 3.0, "resolved": 4.0, "overdue_open": 0.0}  # none left open past due
    assert ev["rows"]["cases"] == 4 and ev["engine"] == "duckdb"
    assert vnodes["S"]["evidence"]["evidence"] == "2026 survey"
    assert [t["period"] for t in view["trend"]] == ["2026Q2", "2026Q3"]
    assert Path(city.lake / "_snapshots" / f"run={run_id}" / "manual_inputs.parquet").exists()


def test_manual_input_rejects_out_of_range(city: Settings) -> None:
    with session_scope(city) as s, pytest.raises(InvalidInput, match=r"outside \[0, 100\]"):
        set_input(session=s, pack_id="test-ops", node_id="S", tenant_id="t", period="2026Q3", value=130)
    with session_scope(city) as s, pytest.raises(InvalidInput, match="computed from data"):
        set_input(session=s, pack_id="test-ops", node_id="C1", tenant_id="t", period="2026Q3", value=1)


def test_excel_template_round_trip(city: Settings, tmp_path: Path) -> None:
    path = tmp_path / "inputs.xlsx"
    with session_scope(city) as s:
        write_template(session=s, pack_id="test-ops", tenant_id="t", period="2026Q3", out=path)
    wb = load_workbook(path)
    ws = wb.active
    assert ws.cell(2, 4).value == "S"
    ws.cell(2, 11).value = 72
    ws.cell(2, 12).value = "统计局 2026 年市民满意度调查"
    wb.save(path)
    with session_scope(city) as s:
        assert load_template(session=s, path=path) == {"loaded": 1, "blank": 0}
    _, q3, _ = _evaluate(city, "2026Q3")
    assert {n["id"]: n["score"] for n in q3["nodes"]}["S"] == pytest.approx(16)  # (72-60)/30 × 40


def test_excel_template_bad_row_stores_nothing(city: Settings, tmp_path: Path) -> None:
    path = tmp_path / "inputs.xlsx"
    with session_scope(city) as s:
        write_template(session=s, pack_id="test-ops", tenant_id="t", period="2026Q3", out=path)
    wb = load_workbook(path)
    wb.active.cell(2, 11).value = "很多"
    wb.save(path)
    with session_scope(city) as s, pytest.raises(InvalidInput) as exc:
        load_template(session=s, path=path)
    assert "row 2 (S): value '很多' is not a number" in exc.value.details[0]


def test_cli_evaluate_json(city: Settings) -> None:
    res = CliRunner().invoke(app, ["evaluate", "--pack", "test-ops", "--tenant", "t", "--period", "2026Q3", "--json",
                                   "--workspace", str(city.workspace)], env={"CHENGYUN_DATABASE_URL": city.db_url})
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data) == {"run_id", "pack", "tenant", "period", "total", "stage", "nodes"}
    assert set(data["nodes"][0]) == {"id", "name", "weight", "value", "score", "status"}
    assert data["total"] == pytest.approx(43.125, abs=0.006)  # 15 + 28.125, survey without data scores 0


def test_packs_evaluated_together_share_their_measures(city: Settings) -> None:
    """Two packs on the same two measures: one scan of the cases for both, and each total as the hand count above."""
    with session_scope(city) as s:
        set_input(session=s, pack_id="test-ops", node_id="S", tenant_id="t", period="2026Q3", value=84, evidence="s")
        set_input(session=s, pack_id="test-ops-2", node_id="S", tenant_id="t", period="2026Q3", value=84, evidence="s")
    eng = connect(city)
    queries = []
    execute = eng.execute
    eng.execute = lambda expr: queries.append(expr) or execute(expr)  # type: ignore[method-assign]
    try:
        with session_scope(city) as s:
            runs = evaluate_packs(session=s, settings=city, engine=eng, pack_ids=["test-ops", "test-ops-2"],
                                  tenant_id="t", period=parse_period("2026Q3"))
            totals = [r.total for r in runs]
    finally:
        eng.close()
    assert [r.pack_id for r in runs] == ["test-ops", "test-ops-2"]
    assert totals == [pytest.approx(75.125, abs=0.006)] * 2  # 15 + 28.125 + 32, as in the test above
    assert len(queries) == 1  # both measures read the cases: one scan serves the two packs
