"""``chengyun cases ranking``: departments ranked by the 12345 rates, on the hand-made lake of
``test_case_measures`` (worked out by hand, DuckDB and Spark) and on the Boston sample imported, exported and ranked
through the commands (department counts checked against the CSV)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chengyun.analytics.engine import connect
from chengyun.analytics.runner import make_context
from chengyun.cases.cli import app
from chengyun.cases.measures import composite, department_ranking, hotline_weights
from chengyun.core.db import migrate, session_scope
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.tenancy.service import add_department, add_unit
from tests.cases.test_case_measures import CITY, T2, T, engine_name, lake  # noqa: F401  (shared fixtures)

# by hand from the rows of test_case_measures: d2 = c d e i j, d1 = a b h k n, d3 = m; d1's on-time rate is a (in
# time) of a and h (still open past its due time at the quarter's end: late)
EXPECTED = [
    {"rank": 1, "department": "d2", "cases": 5, "response_rate": 0.0, "ontime_closure_rate": 0.5,
     "resolution_rate": 1.0, "satisfaction_rate": 1.0, "return_rate": 0.0, "composite": 0.70},
    {"rank": 2, "department": "d1", "cases": 5, "response_rate": 2 / 3, "ontime_closure_rate": 0.5,
     "resolution_rate": 0.5, "satisfaction_rate": 0.5, "return_rate": 0.2, "composite": 0.3 * 2 / 3 + 0.35},
    {"rank": 3, "department": "d3", "cases": 1, "response_rate": None, "ontime_closure_rate": None,
     "resolution_rate": None, "satisfaction_rate": None, "return_rate": 0.0, "composite": None},
]


def _same(want: list[dict[str, Any]], got: list[dict[str, Any]]) -> None:
    assert [r["department"] for r in got] == [r["department"] for r in want]
    for w, g in zip(want, got, strict=True):
        for k, v in w.items():
            assert g[k] == (v if v is None or isinstance(v, str) else pytest.approx(v)), (w["department"], k)


def test_ranking_by_hand(lake: Settings, engine_name: str) -> None:  # noqa: F811
    eng = connect(lake, engine_name)
    try:
        ctx = make_context(eng, [CITY, T, T2], parse_period("2026Q3"), "Asia/Shanghai", None)
        rows = department_ranking(eng, ctx)
    finally:
        eng.close()
    _same(EXPECTED, rows)
    assert rows[2]["composite_of"] == [] and rows[0]["composite_of"] == [
        "response_rate", "resolution_rate", "satisfaction_rate"]


def test_weights_come_from_the_pack() -> None:
    assert hotline_weights() == {"cases.response_rate": 30.0, "cases.resolution_rate": 35.0,
                                 "cases.satisfaction_rate": 35.0}
    w = hotline_weights()
    # a rate without data is left out and its weight shared among the others
    assert composite({"cases.response_rate": 0.5, "cases.resolution_rate": None, "cases.satisfaction_rate": 1.0},
                     w) == pytest.approx((0.5 * 30 + 1.0 * 35) / 65)
    assert composite({}, w) is None


def test_cli_ranking_on_the_hand_lake(lake: Settings) -> None:  # noqa: F811
    with session_scope(lake) as s:
        add_department(session=s, department_id="d1", tenant_id=T, name="一号局")
    done = CliRunner().invoke(app, ["ranking", "--tenant", CITY, "--period", "2026Q3", "--json",
                                    "--workspace", str(lake.workspace)])
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert out["weights"] == hotline_weights() and out["period"] == "2026Q3"
    _same(EXPECTED, out["departments"])
    assert out["departments"][1]["department_name"] == "一号局"
    text = CliRunner().invoke(app, ["ranking", "--tenant", CITY, "--period", "2026Q3", "--workspace",
                                    str(lake.workspace)], env={"COLUMNS": "200"})
    assert text.exit_code == 0 and "一号局 d1" in text.stdout and "70.0%" in text.stdout


def test_import_export_rank_boston(tmp_path: Path, shared_data: Path) -> None:
    path = shared_data / "boston311-qsv/boston311-100.csv"
    settings = Settings(workspace=tmp_path / "ws")
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id="boston", name="Boston", timezone="America/New_York")
    runner = CliRunner()
    ws = ["--workspace", str(settings.workspace)]
    assert runner.invoke(app, ["import", str(path), "--mapping", "boston311", "--tenant", "boston", *ws]).exit_code == 0
    exported = runner.invoke(app, ["export", "--json", *ws])
    assert json.loads(exported.stdout) == {"written": 100}
    done = runner.invoke(app, ["ranking", "--tenant", "boston", "--period", "2022-01", "--json", *ws])
    assert done.exit_code == 0, done.output
    got = {r["department"]: r for r in json.loads(done.stdout)["departments"]}
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {d: r["cases"] for d, r in got.items()} == dict(Counter(r["department"] for r in rows))
    end = "2022-02-01 00:00:00"  # the period's end, local time like the file's
    for dept, r in got.items():  # on time: closed by the target, among closed cases that have one and open ones past it
        closed = [x for x in rows if x["department"] == dept and x["case_status"] == "Closed" and x["target_dt"].strip()]
        late_open = [x for x in rows if x["department"] == dept and x["case_status"] != "Closed"
                     and x["target_dt"].strip() and x["target_dt"] < end]
        due = len(closed) + len(late_open)
        want = sum(x["closed_dt"] <= x["target_dt"] for x in closed) / due if due else None
        assert r["ontime_closure_rate"] == (None if want is None else pytest.approx(want)), dept
        assert r["response_rate"] is None and r["composite"] is None  # 311 exports have no response or rating


def test_cli_tick(tmp_path: Path, shared_data: Path) -> None:
    settings = Settings(workspace=tmp_path / "ws")
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id="boston", name="Boston", timezone="America/New_York")
    ws = ["--workspace", str(settings.workspace)]
    runner = CliRunner()
    runner.invoke(app, ["import", str(shared_data / "boston311-qsv/boston311-100.csv"), "--mapping", "boston311",
                        "--tenant", "boston", *ws])
    done = runner.invoke(app, ["tick", "--predict-hours", "2", "--json", *ws])
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert out["predict_hours"] == 2 and "breached" in out
    assert runner.invoke(app, ["tick", *ws]).exit_code == 0
