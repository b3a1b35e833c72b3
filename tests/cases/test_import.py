"""Bulk import of case history: the NYC and Boston samples with the presets (rows counted independently with the
``csv`` module), ragged rows, day-first and ambiguous dates, encodings and Excel, the rejects file, re-import,
and the ``chengyun cases import`` command — on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from chengyun.accounts.models import AuditEntry
from chengyun.cases.cli import app
from chengyun.cases.import_mapping import load_mapping, presets
from chengyun.cases.importer import ImportResult, import_cases
from chengyun.cases.models import Case, CaseEvent
from chengyun.cases.service import CaseDesk
from chengyun.core.db import migrate, session_scope
from chengyun.core.errors import InvalidInput, NotFound
from chengyun.core.settings import Settings
from chengyun.tenancy.service import add_unit

NYC = "nyc311/nyc311_2022-05-01_sample.csv"
BOSTON = "boston311-qsv/boston311-100.csv"
TENANT = "city"
MAPPING = """
columns: {id: ref, created_at: opened, closed_at: closed, status: state, channel: via, category: kind,
          lat: lat, lon: lon, department: dept, reporter: phone, satisfaction: rating}
timezone: Asia/Shanghai
status_map: {办结: closed, 处理中: in_progress}
channel_map: {电话: hotline, APP: app}
category_map: {噪音: H0301}
satisfaction_map: {满意: 5, 不满意: 1}
"""


def _rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig") as fh:  # the rejects file starts with a BOM (for Excel)
        return list(csv.DictReader(fh, delimiter=delimiter))


def _settings(ws: Settings) -> Settings:
    with session_scope(ws) as s:
        add_unit(session=s, unit_id=TENANT, name="城", timezone="America/New_York")
    return ws


def _import(ws: Settings, path: Path, mapping: str | Path, rejects: Path | None = None) -> ImportResult:
    with session_scope(ws) as s:
        return import_cases(s, CaseDesk.for_settings(ws), path, mapping, TENANT, rejects_path=rejects)


def _cases(ws: Settings) -> list[Case]:
    with session_scope(ws) as s:
        return list(s.scalars(select(Case).where(Case.tenant_id == TENANT).order_by(Case.external_id)))


def _write(path: Path, rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


# ---------------------------------------------------------------- the samples, on SQLite and PostgreSQL


def test_nyc_sample(ws: Settings, shared_data: Path, tmp_path: Path) -> None:
    _settings(ws)
    src = _rows(shared_data / NYC)
    res = _import(ws, shared_data / NYC, "nyc311", tmp_path / "rejects.csv")
    assert (res.read, res.imported, res.flagged, res.rejected) == (len(src), len(src), 0, 0)
    assert res.formats == {"Created Date": "%m/%d/%Y %I:%M:%S %p", "Closed Date": "%m/%d/%Y %I:%M:%S %p"}
    assert any("'Due Date' (due_at) is empty" in w for w in res.warnings)
    assert not (tmp_path / "rejects.csv").exists()
    cases = {c.external_id: c for c in _cases(ws)}
    assert Counter(c.status for c in cases.values()) == Counter(
        {"Closed": "closed", "In Progress": "in_progress", "Open": "accepted"}[r["Status"]] for r in src)
    assert Counter(c.channel for c in cases.values()) == Counter(
        {"ONLINE": "app", "MOBILE": "app", "PHONE": "hotline", "UNKNOWN": "other"}[r["Open Data Channel Type"]]
        for r in src)
    first = cases["54049402"]  # 05/01/2022 12:00:03 AM in New York is 04:00:03 UTC (EDT)
    assert (first.created_at, first.status, first.category, first.title) == (
        datetime(2022, 5, 1, 4, 0, 3), "in_progress", "H0301", "Noise - Residential")
    assert (first.department_id, first.lat, first.source) == ("NYPD", pytest.approx(40.83065331987539), "import")
    closed = cases["54046813"]  # closed 05/01/2022 12:07:46 AM: resolved and closed then
    assert closed.resolved_at == closed.closed_at == datetime(2022, 5, 1, 4, 7, 46)
    assert all(c.due_at is None and not c.breached and c.response_due_at is None for c in cases.values())
    no_position = {r["Unique Key"] for r in src if not r["Latitude"]}
    assert no_position and all(cases[k].lat is None and cases[k].lon is None for k in no_position)
    with session_scope(ws) as s:
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "import")) == len(src)
        audits = s.scalars(select(AuditEntry).where(AuditEntry.action == "case.import")).all()
    assert len(audits) == 1 and audits[0].detail and audits[0].detail["imported"] == len(src)


def test_reimport_adds_nothing(ws: Settings, shared_data: Path, tmp_path: Path) -> None:
    _settings(ws)
    _import(ws, shared_data / NYC, "nyc311")
    again = _import(ws, shared_data / NYC, "nyc311", tmp_path / "again.csv")
    assert (again.read, again.imported, again.rejected) == (924, 0, 924)
    assert again.reasons == {"id: already imported": 924}
    assert len(_cases(ws)) == 924
    rejected = _rows(tmp_path / "again.csv")
    assert len(rejected) == 924 and all("already imported" in r["reason"] for r in rejected)
    assert rejected[0]["Unique Key"] == "54049402" and rejected[0]["Complaint Type"] == "Noise - Residential"


def test_boston_sample(ws: Settings, shared_data: Path) -> None:
    _settings(ws)
    src = {r["case_enquiry_id"]: r for r in _rows(shared_data / BOSTON)}
    res = _import(ws, shared_data / BOSTON, "boston311")
    assert (res.read, res.imported, res.rejected, res.flagged) == (100, 100, 0, 0)
    assert set(res.formats.values()) == {"%Y-%m-%d %H:%M:%S"}
    cases = {c.external_id: c for c in _cases(ws)}
    assert set(cases) == set(src)
    late = [k for k, r in src.items() if r["case_status"] == "Closed" and r["ontime"] == "OVERDUE"]
    assert late and all(cases[k].breached for k in late)  # the city's own OVERDUE flag, for closed cases
    with_target = [k for k, r in src.items() if r["target_dt"].strip()]
    assert all(cases[k].due_at is not None for k in with_target)
    assert Counter(c.channel for c in cases.values())["grid"] == sum(r["source"] == "City Worker App" for r in src.values())
    assert cases["101004130437"].created_at == datetime(2022, 1, 19, 16, 18)  # 11:18 EST


def test_ragged_tsv_rejects_the_bad_row(ws: Settings, shared_data: Path, tmp_path: Path) -> None:
    _settings(ws)
    path = shared_data / "boston311-qsv/boston311-100-bad.tsv"
    res = _import(ws, path, "boston311", tmp_path / "rejects.csv")
    assert res.delimiter == "\t"
    assert (res.read, res.imported, res.rejected) == (100, 99, 1)
    assert res.reasons == {"row: wrong number of fields": 1}
    (row,) = _rows(tmp_path / "rejects.csv")
    assert row["case_enquiry_id"] == "101004113615"
    assert "30 fields but the header has 29" in row["reject_reason"] and "'Citizens Connect App'" in row["reject_reason"]


def test_duplicate_ids_within_the_file(ws: Settings, shared_data: Path, tmp_path: Path) -> None:
    _settings(ws)
    path = shared_data / "boston311-qsv/boston311-100-20dupes-random.csv"
    ids = [r["case_enquiry_id"] for r in _rows(path)]
    res = _import(ws, path, "boston311", tmp_path / "rejects.csv")
    assert (res.imported, res.rejected) == (len(set(ids)), len(ids) - len(set(ids)))
    assert res.reasons == {"id: duplicate in the file": len(ids) - len(set(ids))}
    assert all("appears earlier in this file" in r["reject_reason"] for r in _rows(tmp_path / "rejects.csv"))


# ---------------------------------------------------------------- dates


def test_day_first_file_is_read_day_first(tmp_path: Path, shared_data: Path) -> None:
    ws = _settings(_ws(tmp_path))
    res = _import(ws, shared_data / "boston311-qsv/boston311-dmy-100.csv", "boston311")
    assert res.formats == dict.fromkeys(("open_dt", "closed_dt", "target_dt"), "%d/%m/%Y %H:%M:%S")
    dmy = {c.external_id: (c.created_at, c.closed_at, c.due_at) for c in _cases(ws)}
    iso = _settings(_ws(tmp_path / "iso"))
    _import(iso, shared_data / BOSTON, "boston311")
    assert dmy == {c.external_id: (c.created_at, c.closed_at, c.due_at) for c in _cases(iso)}


def _ws(tmp_path: Path) -> Settings:
    settings = Settings(workspace=tmp_path / "ws")
    migrate(settings)
    return settings


def _ambiguous(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    rows = [["ref", "opened", "closed"], ["1", "03/01/2022 10:00", "04/01/2022 09:00"],
            ["2", "05/02/2022 08:30", ""], ["3", "12/11/2022 23:59", "12/12/2022 01:00"]]
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {id: ref, created_at: opened, closed_at: closed}\ntimezone: UTC\n" + extra,
                       encoding="utf-8")
    return _write(tmp_path / "amb.csv", rows), mapping


def test_ambiguous_dates_stop_with_the_column_named(tmp_path: Path) -> None:
    ws = _settings(_ws(tmp_path))
    path, mapping = _ambiguous(tmp_path)
    with pytest.raises(InvalidInput) as err:
        _import(ws, path, mapping)
    assert "column 'opened'" in err.value.message and "dayfirst" in (err.value.fix or "")
    assert _cases(ws) == []


@pytest.mark.parametrize(("dayfirst", "created"), [(True, datetime(2022, 1, 3, 10)), (False, datetime(2022, 3, 1, 10))])
def test_dayfirst_settles_ambiguous_dates(tmp_path: Path, dayfirst: bool, created: datetime) -> None:
    ws = _settings(_ws(tmp_path))
    path, mapping = _ambiguous(tmp_path, f"dayfirst: {str(dayfirst).lower()}\n")
    res = _import(ws, path, mapping)
    assert res.imported == 3
    assert _cases(ws)[0].created_at == created


def test_one_unambiguous_column_settles_the_others(tmp_path: Path) -> None:
    ws = _settings(_ws(tmp_path))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {id: ref, created_at: opened, closed_at: closed}\ntimezone: UTC\n", encoding="utf-8")
    path = _write(tmp_path / "x.csv", [["ref", "opened", "closed"], ["1", "25/01/2022", "03/02/2022"]])
    res = _import(ws, path, mapping)
    assert res.formats == {"opened": "%d/%m/%Y", "closed": "%d/%m/%Y"}
    assert any("'closed'" in w and "day-first" in w for w in res.warnings)
    assert _cases(ws)[0].closed_at == datetime(2022, 2, 3)


def test_unreadable_date_column_stops(tmp_path: Path) -> None:
    ws = _settings(_ws(tmp_path))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {id: ref, created_at: opened}\n", encoding="utf-8")
    path = _write(tmp_path / "x.csv", [["ref", "opened"], ["1", "yesterday"], ["2", "last week"]])
    with pytest.raises(InvalidInput, match="column 'opened'") as err:
        _import(ws, path, mapping)
    assert "datetime_format" in (err.value.fix or "")


# ---------------------------------------------------------------- every kind of reject, flagged rows, value maps


def test_rejects_file_names_field_and_fix(tmp_path: Path) -> None:
    ws = _settings(_ws(tmp_path))
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    head = ["ref", "opened", "closed", "state", "via", "kind", "lat", "lon", "dept", "phone", "rating"]
    rows = [
        head,
        ["A1", "2024-10-08 09:00:00", "2024-10-09 10:00:00", "办结", "电话", "噪音", "31.2", "121.5", "城管", "13812345678", "满意"],
        ["A2", "2024-10-08 10:00:00", "2024-10-07 10:00:00", "办结", "APP", "路灯", "", "", "城管", "", "不满意"],
        ["", "2024-10-08 11:00:00", "", "处理中", "电话", "噪音", "", "", "", "", ""],
        ["A4", "2024-13-45 11:00:00", "", "处理中", "电话", "噪音", "", "", "", "", ""],
        ["A5", "2024-10-08 12:00:00", "", "处理中", "电话", "噪音", "131.2", "21.5", "", "", ""],
        ["A6", "2024-10-08 12:00:00", "", "处理中", "电话", "噪音", "north", "21.5", "", "", ""],
        ["A1", "2024-10-08 13:00:00", "", "挂起", "微信", "噪音", "", "", "", "", ""],
        ["A8", "", "", "挂起", "微信", "噪音", "", "", "", "", ""],
        ["A9", "2024-10-08 14:00:00", "", "挂起", "微信", "噪音", "", "", "", "", "很好"],
    ]
    res = _import(ws, _write(tmp_path / "in.csv", rows), tmp_path / "m.yaml", tmp_path / "rejects.csv")
    assert (res.read, res.imported, res.flagged, res.rejected) == (9, 3, 1, 6)
    assert res.imported + res.rejected == res.read
    rejected = {r["ref"] + "|" + r["opened"]: r["reason"] for r in _rows(tmp_path / "rejects.csv")}
    assert set(rejected) == {"|2024-10-08 11:00:00", "A4|2024-13-45 11:00:00", "A5|2024-10-08 12:00:00",
                             "A6|2024-10-08 12:00:00", "A1|2024-10-08 13:00:00", "A8|"}
    assert rejected["|2024-10-08 11:00:00"].startswith("id: empty (column 'ref')")
    assert rejected["A4|2024-13-45 11:00:00"].startswith("created_at: '2024-13-45 11:00:00' is not a date")
    assert "datetime_format" in rejected["A4|2024-13-45 11:00:00"]
    assert rejected["A5|2024-10-08 12:00:00"].startswith("lat: '131.2' is outside -90…90")
    assert rejected["A6|2024-10-08 12:00:00"].startswith("lat: 'north' is not a number")
    assert "appears earlier in this file" in rejected["A1|2024-10-08 13:00:00"]
    assert rejected["A8|"].startswith("created_at: empty")
    cases = {c.external_id: c for c in _cases(ws)}
    a1, a2, a9 = cases["A1"], cases["A2"], cases["A9"]
    assert a1.created_at == datetime(2024, 10, 8, 1)  # Shanghai time to UTC
    assert (a1.category, a1.channel, a1.status, a1.satisfaction) == ("H0301", "hotline", "closed", 5)
    assert a1.reporter_masked == "138****5678" and a1.reporter_hash and "13812345678" not in a1.reporter_hash
    assert a2.inconsistent and a2.resolved_at is not None and a2.satisfaction == 1
    assert (a2.category, a2.title) == (None, "路灯")  # not in the category table: kept as the title
    assert (a9.status, a9.channel, a9.satisfaction) == ("accepted", "other", None)
    warnings = " ".join(res.warnings)
    assert "status_map" in warnings and "'挂起'" in warnings and "channel_map" in warnings and "'微信'" in warnings
    assert "satisfaction_map" in warnings and "'很好'" in warnings


def test_our_own_names_need_no_map(tmp_path: Path) -> None:
    ws = _settings(_ws(tmp_path))
    (tmp_path / "m.yaml").write_text("columns: {id: ref, created_at: opened, closed_at: closed, status: state, "
                                     "channel: via, priority: urgency, category: kind}\n", encoding="utf-8")
    rows = [["ref", "opened", "closed", "state", "via", "urgency", "kind"],
            ["C1", "2024-10-08 09:00", "2024-10-08 11:00", "Resolved", "grid", "HIGH", "E0101"]]
    res = _import(ws, _write(tmp_path / "in.csv", rows), tmp_path / "m.yaml")
    (case,) = _cases(ws)
    assert (case.status, case.channel, case.priority, case.category) == ("resolved", "grid", "high", "E0101")
    assert (case.resolved_at, case.closed_at) == (datetime(2024, 10, 8, 15), None)  # tenant zone: New York
    assert res.warnings == [] and res.timezone == "America/New_York"


def test_header_only_file_reads_nothing(tmp_path: Path) -> None:
    ws = _settings(_ws(tmp_path))
    path = _write(tmp_path / "empty.csv", [["Unique Key", "Created Date"]])
    (tmp_path / "m.yaml").write_text("columns: {id: Unique Key, created_at: Created Date}\n", encoding="utf-8")
    res = _import(ws, path, tmp_path / "m.yaml")
    assert (res.read, res.imported, res.valid) == (0, 0, False)


# ---------------------------------------------------------------- encodings, delimiters, Excel


@pytest.mark.parametrize(("encoding", "delimiter"), [("gb18030", ";"), ("utf-8-sig", "|"), ("utf-8", "\t")])
def test_encodings_and_delimiters(tmp_path: Path, encoding: str, delimiter: str) -> None:
    ws = _settings(_ws(tmp_path))
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    head = ["ref", "opened", "closed", "state", "via", "kind", "lat", "lon", "dept", "phone", "rating"]
    rows = [head, ["B1", "2024/10/08 09:00", "", "处理中", "电话", "噪音", "", "", "城管局", "", ""]]
    res = _import(ws, _write(tmp_path / "in.csv", rows, delimiter, encoding), tmp_path / "m.yaml")
    assert (res.encoding, res.delimiter, res.imported) == (encoding, delimiter, 1)
    (case,) = _cases(ws)
    assert (case.department_id, case.status, case.title) == ("城管局", "in_progress", "噪音")


def test_excel(tmp_path: Path) -> None:
    from openpyxl import Workbook

    ws = _settings(_ws(tmp_path))
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["ref", "opened", "closed", "state", "via", "kind", "lat", "lon", "dept", "phone", "rating"])
    sheet.append([101004143000, datetime(2024, 10, 8, 9), datetime(2024, 10, 8, 12), "办结", "APP", "噪音",
                  31.2, 121.5, "城管", None, 5])
    sheet.append([None, None, None, None, None, None, None, None, None, None, None])  # blank line: skipped
    sheet.append(["X2", "2024-10-09 09:00:00", None, "处理中", "APP", "噪音", None, None, None, None, None])
    book.save(tmp_path / "in.xlsx")
    res = _import(ws, tmp_path / "in.xlsx", tmp_path / "m.yaml")
    assert (res.read, res.imported, res.rejected) == (2, 2, 0)
    cases = {c.external_id: c for c in _cases(ws)}
    assert set(cases) == {"101004143000", "X2"}  # a numeric id stays an integer, not 1.01e+11
    assert cases["101004143000"].resolved_at == datetime(2024, 10, 8, 4)
    assert cases["101004143000"].satisfaction == 5


# ---------------------------------------------------------------- mappings


def test_presets_ship_and_load() -> None:
    assert {"nyc311", "boston311"} <= set(presets())
    assert load_mapping("nyc311").timezone == "America/New_York"
    assert load_mapping("boston311").columns["due_at"] == "target_dt"


def test_mapping_problems_are_listed_together(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: {id: a, opened: b}\ntimezone: Mars/Olympus\nstatus_map: {x: done}\ndayfirst: maybe\n",
                   encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        load_mapping(bad)
    text = " ".join(err.value.details)
    for part in ("'opened' is not a case field", "'created_at' is required", "Mars/Olympus", "'done'", "dayfirst"):
        assert part in text
    with pytest.raises(NotFound, match="no such preset"):
        load_mapping("chicago311")


def test_columns_missing_from_the_file(tmp_path: Path, shared_data: Path) -> None:
    ws = _settings(_ws(tmp_path))
    with pytest.raises(InvalidInput, match="'Unique Key'") as err:
        _import(ws, shared_data / BOSTON, "nyc311")
    assert "case_enquiry_id" in (err.value.fix or "")


def test_unknown_tenant(tmp_path: Path, shared_data: Path) -> None:
    ws = _ws(tmp_path)
    with session_scope(ws) as s, pytest.raises(NotFound, match="tenant"):
        import_cases(s, CaseDesk.for_settings(ws), shared_data / NYC, "nyc311", "nowhere")


# ---------------------------------------------------------------- the command


def test_cli_import_json_and_exit_codes(tmp_path: Path, shared_data: Path) -> None:
    ws = _settings(_ws(tmp_path))
    runner = CliRunner()
    args = ["import", str(shared_data / "boston311-qsv/boston311-100-bad.tsv"), "--mapping", "boston311", "--tenant",
            TENANT, "--workspace", str(ws.workspace), "--rejects", str(tmp_path / "r.csv"), "--json"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert {k: out[k] for k in ("imported", "flagged", "rejected")} == {"imported": 99, "flagged": 0, "rejected": 1}
    assert out["rejects"] == str(tmp_path / "r.csv") and (tmp_path / "r.csv").exists()
    text = runner.invoke(app, [*args[:-1]])  # again, as text: everything is already imported
    assert text.exit_code == 0 and "0 imported" in text.stdout and "already imported" in text.stdout
    empty = _write(tmp_path / "empty.csv", [[h for h in _rows(shared_data / BOSTON)[0]]])
    nothing = runner.invoke(app, ["import", str(empty), "--mapping", "boston311", "--tenant", TENANT,
                                  "--workspace", str(ws.workspace)])
    assert nothing.exit_code == 1 and "nothing could be read" in nothing.stdout


def test_cli_list_and_show(tmp_path: Path, shared_data: Path) -> None:
    ws = _settings(_ws(tmp_path))
    _import(ws, shared_data / BOSTON, "boston311")
    runner = CliRunner()
    listed = runner.invoke(app, ["list", "--tenant", TENANT, "--status", "dispatched", "--limit", "500", "--json",
                                 "--workspace", str(ws.workspace)])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert len(rows) == sum(r["case_status"] == "Open" for r in _rows(shared_data / BOSTON))
    overdue = json.loads(runner.invoke(app, ["list", "--overdue", "--json", "--workspace", str(ws.workspace)]).stdout)
    assert overdue and all(r["overdue"] and r["status"] == "dispatched" for r in overdue)
    shown = runner.invoke(app, ["show", rows[0]["id"], "--json", "--workspace", str(ws.workspace)])
    detail = json.loads(shown.stdout)
    assert detail["id"] == rows[0]["id"] and [e["action"] for e in detail["history"]] == ["import"]
    text = runner.invoke(app, ["show", rows[0]["id"], "--workspace", str(ws.workspace)], env={"COLUMNS": "200"})
    assert "imported from boston311-100.csv" in text.stdout
    table = runner.invoke(app, ["list", "--workspace", str(ws.workspace), "--limit", "3"])
    assert table.exit_code == 0 and "cases 案件 (3 shown)" in table.stdout


# ---------------------------------------------------------------- Los Angeles: real rows closed before created

LA = """
columns: {id: SRNumber, created_at: CreatedDate, closed_at: ClosedDate, status: Status, channel: RequestSource,
          category: RequestType, department: Owner, lat: Latitude, lon: Longitude, address: Address}
timezone: America/Los_Angeles
status_map: {Closed: closed, Cancelled: cancelled, Open: dispatched, Referred Out: closed, Pending: suspended}
channel_map: {Call: hotline, Mobile App: app, Self Service: app, Driver Self Report: grid}
"""


def test_la_rows_closed_before_created_are_flagged(tmp_path: Path, shared_data: Path) -> None:
    ws = _settings(_ws(tmp_path))
    (tmp_path / "la.yaml").write_text(LA, encoding="utf-8")
    path = shared_data / "la311/MyLA311_2017_Subset.csv"
    src = _rows(path)
    fmt = "%m/%d/%Y %I:%M:%S %p"
    backwards = {r["SRNumber"] for r in src
                 if r["ClosedDate"] and datetime.strptime(r["ClosedDate"], fmt) < datetime.strptime(r["CreatedDate"], fmt)}
    res = _import(ws, path, tmp_path / "la.yaml")
    assert res.formats["CreatedDate"] == fmt  # 12/31/2017: month first, told by the data alone
    assert (res.read, res.imported, res.rejected, res.flagged) == (len(src), len(src), 0, len(backwards))
    flagged = {c.external_id for c in _cases(ws) if c.inconsistent}
    assert backwards and flagged == backwards
    cases = {c.external_id: c for c in _cases(ws)}
    cancelled = [r["SRNumber"] for r in src if r["Status"] == "Cancelled" and r["ClosedDate"]]
    assert all(cases[k].closed_at is not None and cases[k].resolved_at is None for k in cancelled)


def test_la_2020_dates_are_ambiguous_until_settled(tmp_path: Path, shared_data: Path) -> None:
    path = shared_data / "la311/la311_2020_requests_seed.csv"  # created 1/1/20 … 1/3/20: every day is <= 12
    n = len(_rows(path))
    mapping = tmp_path / "la2020.yaml"
    created_only = "columns: {id: srnumber, created_at: createddate, status: status}\ntimezone: America/Los_Angeles\n"
    mapping.write_text(created_only, encoding="utf-8")
    ws = _settings(_ws(tmp_path / "a"))
    with pytest.raises(InvalidInput, match="column 'createddate'"):
        _import(ws, path, mapping)
    mapping.write_text(created_only + "dayfirst: false\n", encoding="utf-8")
    res = _import(ws, path, mapping)
    assert res.formats == {"createddate": "%m/%d/%y %H:%M"} and res.imported == n
    # with the close dates mapped too, 1/13/20 and later tell the order for the whole file
    mapping.write_text(created_only.replace("status: status", "status: status, closed_at: closeddate"),
                       encoding="utf-8")
    other = _settings(_ws(tmp_path / "b"))
    res = _import(other, path, mapping)
    assert res.formats == {"createddate": "%m/%d/%y %H:%M", "closeddate": "%m/%d/%y %H:%M"} and res.imported == n
    assert any("'createddate'" in w and "month-first" in w for w in res.warnings)


# ---------------------------------------------------------------- date reading


def test_utc_marks_fractions_and_daylight_saving() -> None:
    import pyarrow as pa

    from chengyun.cases.import_dates import infer, parse

    values = pa.array(["2022-01-03T09:48:00.000Z", "2022-03-13 02:30:00", "2022-11-06 01:30:00", "2022-07-01 12:00:00",
                       None, "2022-02-30 10:00:00"])
    assert infer(values).format == "%Y-%m-%d %H:%M:%S"
    parsed, bad = parse(values, "%Y-%m-%d %H:%M:%S", "America/New_York")
    assert parsed.to_pylist()[:5] == [
        datetime(2022, 1, 3, 9, 48),  # Z: already UTC
        datetime(2022, 3, 13, 7, 0),  # 02:30 does not exist (spring forward): the end of the gap, 03:00 EDT
        datetime(2022, 11, 6, 5, 30),  # 01:30 happens twice (fall back): the first, EDT
        datetime(2022, 7, 1, 16, 0),
        None,
    ]
    assert bad.to_pylist() == [False, False, False, False, False, True]
