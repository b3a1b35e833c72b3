"""The lake's sync (入湖同步): an analytical read sees every committed change of the state DB, and a sync with
nothing changed writes nothing — on SQLite and on PostgreSQL. Expected values are counted from the Boston 311 file
with the ``csv`` module."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from chengyun.analytics.cli import app as measures_app
from chengyun.cases.cli import app as cases_app
from chengyun.cases.models import Case
from chengyun.cases.service import CaseDesk, transition
from chengyun.core.db import session_factory, session_scope
from chengyun.core.settings import Settings
from chengyun.lake.changes import versions
from chengyun.lake.sync import ensure_fresh, read_markers
from chengyun.tenancy.service import add_unit

BOSTON = "boston311-qsv/boston311-100.csv"
TENANT, PERIOD, TZ = "city", "2022-01", "America/New_York"
MONTH_END = datetime(2022, 2, 1)  # the period's end, Boston time


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _local(text: str) -> datetime:
    return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")


def _hand_rate(rows: list[dict[str, str]]) -> tuple[int, int, int]:
    """(on time, resolved with a due time, open past the due time at the month's end): closed rows with a target,
    closed no earlier than opened; open rows whose target passed before February; every time in the file is Boston
    local time, so they compare as they stand."""
    ok = [r for r in rows if r["closed_dt"].strip() and r["target_dt"].strip()
          and _local(r["closed_dt"]) >= _local(r["open_dt"])]
    late_open = [r for r in rows if not r["closed_dt"].strip() and r["case_status"] == "Open"
                 and r["target_dt"].strip() and _local(r["target_dt"]) < MONTH_END]
    return sum(_local(r["closed_dt"]) <= _local(r["target_dt"]) for r in ok), len(ok), len(late_open)


def _env(ws: Settings) -> dict[str, str]:
    return {"CHENGYUN_DATABASE_URL": ws.db_url}


def _measure(ws: Settings) -> dict:
    out = CliRunner().invoke(measures_app, ["run", "cases.ontime_closure_rate", "--tenant", TENANT, "--period", PERIOD,
                                            "--json", "--workspace", str(ws.workspace)], env=_env(ws))
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def _lake_files(ws: Settings) -> list[Path]:
    return sorted(p for p in ws.lake.rglob("*") if p.is_file())


@pytest.fixture
def imported(ws: Settings, shared_data: Path) -> Settings:
    with session_scope(ws) as s:
        add_unit(session=s, unit_id=TENANT, name="城", timezone=TZ)
    done = CliRunner().invoke(cases_app, ["import", str(shared_data / BOSTON), "--mapping", "boston311", "--tenant",
                                          TENANT, "--workspace", str(ws.workspace), "--json"], env=_env(ws))
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["imported"] == 100
    return ws


def test_import_then_measures_run(imported: Settings, shared_data: Path) -> None:
    ontime, resolved, late_open = _hand_rate(_rows(shared_data / BOSTON))
    assert resolved > 20 and 0 < ontime < resolved and late_open  # each kind is there, so the value can be wrong
    out = _measure(imported)
    assert out["value"] == pytest.approx(ontime / (resolved + late_open))  # an overdue open case counts as late
    assert out["parts"] == {"ontime": ontime, "resolved": resolved, "overdue_open": late_open}
    assert not out["warnings"]


def test_case_action_then_measures_run(imported: Settings, shared_data: Path) -> None:
    rows = _rows(shared_data / BOSTON)
    ontime, resolved, late_open = _hand_rate(rows)
    assert _measure(imported)["parts"] == {"ontime": ontime, "resolved": resolved, "overdue_open": late_open}
    open_with_target = next(r for r in rows if r["case_status"] == "Open" and r["target_dt"].strip())
    was_late = _local(open_with_target["target_dt"]) < MONTH_END  # then it leaves the open past due
    with session_scope(imported) as s:
        case = s.scalars(select(Case).where(Case.external_id == open_with_target["case_enquiry_id"])).one()
        assert case.due_at is not None and case.due_at < datetime(2023, 1, 1)
        desk = CaseDesk.for_settings(imported)
        transition(s, desk, case.id, "receive", actor="test")
        transition(s, desk, case.id, "resolve", actor="test")  # now, years past its 2022 time limit: late
    out = _measure(imported)
    late_open -= was_late
    assert out["parts"] == {"ontime": ontime, "resolved": resolved + 1, "overdue_open": late_open}
    assert out["value"] == pytest.approx(ontime / (resolved + 1 + late_open))


def test_second_sync_writes_nothing(imported: Settings) -> None:
    first = ensure_fresh(imported)
    assert first.ran.get("cases") == 100  # every imported case, once
    files = {p: p.stat().st_mtime_ns for p in _lake_files(imported)}
    data = {p: p.read_bytes() for p in files if p.suffix == ".parquet"}
    assert data
    for p in data:  # unreadable Parquet: a sync that re-read the lake to find what changed would fail
        p.write_bytes(b"not parquet")
    try:
        again = ensure_fresh(imported)
    finally:
        for p, content in data.items():
            p.write_bytes(content)
    assert again.ran == {}
    assert sorted(files) == _lake_files(imported)  # no file written
    markers = read_markers(imported)
    with session_scope(imported) as s:
        counters = versions(s)
    assert markers["cases"] == {"cases": counters["cases"]} and counters["cases"] >= 1


def test_case_action_exports_without_reading_the_lake(imported: Settings) -> None:
    """The cases exporter is incremental: after one action it writes that case's new version and reads no lake
    file (the overlap it skips is kept with its watermark)."""
    ensure_fresh(imported)
    with session_scope(imported) as s:
        case = s.scalars(select(Case).where(Case.status == "dispatched").limit(1)).one()
        transition(s, CaseDesk.for_settings(imported), case.id, "receive", actor="test")
    data = {p: p.read_bytes() for p in _lake_files(imported) if p.suffix == ".parquet"}
    for p in data:
        p.write_bytes(b"not parquet")
    try:
        report = ensure_fresh(imported)
    finally:
        for p, content in data.items():
            p.write_bytes(content)
    assert report.ran == {"cases": 1}
    new = [p for p in _lake_files(imported) if p.suffix == ".parquet" and p not in data]
    assert len(new) == 1 and new[0].parent.parent.parent.name == "cases"


def test_rolled_back_write_is_no_change(imported: Settings) -> None:
    ensure_fresh(imported)
    with session_scope(imported) as s:
        before = versions(s)
    with session_factory(imported)() as raw:
        case = raw.scalars(select(Case).limit(1)).one()
        case.title = "changed, then rolled back"
        raw.flush()
        raw.rollback()
    with session_scope(imported) as s:
        assert versions(s) == before
    assert ensure_fresh(imported).ran == {}
