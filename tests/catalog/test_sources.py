"""Reading sources: the messy government tables load with the right types and values, or fail clearly.

Expected values are read by hand from the files (quoted in comments) or computed here with the csv module and
Decimal, independently of the reader under test.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chengyun.catalog.sources import Loaded, SourceError, read_source

UK = "ukgov-tables-qsv"
BOSTON = "boston311-qsv"


def col(loaded: Loaded, name: str) -> list[Any]:
    return loaded.table.column(name).to_pylist()


def notes(loaded: Loaded) -> dict[str, Any]:
    return loaded.notes


def kind(loaded: Loaded, name: str) -> str:
    return str(loaded.table.schema.field(name).type)


# --- the UK government files --------------------------------------------------------------------------------


def test_spend_file_bom_padded_header_thousands_and_dd_mon_yy(shared_data: Path) -> None:
    path = shared_data / UK / "spendover25kdownloadSep.csv"
    got = read_source(path)
    assert got.format == "csv" and got.rejects == []
    assert got.table.num_rows == 189  # 190 lines, one header
    assert got.table.column_names[0] == "Department"  # the UTF-8 BOM is not part of the first name
    assert got.table.column_names[-1] == "Amount in Sterling"  # was " Amount in Sterling "
    assert {"from": " Amount in Sterling ", "to": "Amount in Sterling"} in notes(got)["renamed"]
    assert "utf-8" in notes(got)["encoding_notes"][0]
    # amounts: " 27,275.25 " etc. (first five rows of the file)
    assert kind(got, "Amount in Sterling") == "double"
    assert col(got, "Amount in Sterling")[:5] == [27275.25, 57200.00, 102809.15, 51757.81, 65406.04]
    assert notes(got)["thousands"]["Amount in Sterling"] == ","
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))[1:]
    total = sum(Decimal(r[7].strip().replace(",", "")) for r in rows)
    assert total == Decimal("84353384.87")
    assert sum(col(got, "Amount in Sterling")) == pytest.approx(float(total), abs=0.005)
    # dates: "23-Sep-11", "06-Sep-11", "20-Sep-11"; the file also holds late August and early October
    assert kind(got, "Date of Payment") == "date32[day]"
    assert col(got, "Date of Payment")[:3] == [date(2011, 9, 23), date(2011, 9, 6), date(2011, 9, 20)]
    assert min(col(got, "Date of Payment")) == date(2011, 8, 30)
    assert max(col(got, "Date of Payment")) == date(2011, 10, 4)
    assert notes(got)["date_formats"]["Date of Payment"] == "%d-%b-%y"
    # "Exeter 23/09/2011" and "0081135561": text, leading zeros kept
    assert kind(got, "Transaction No") == "string"
    assert col(got, "Transaction No")[:2] == ["Exeter 23/09/2011", "0081135561"]
    assert col(got, "Supplier")[-2] == "Wigton Group Medical Practice"  # "…Practice " in the file


def test_portal_referrers_cr_only_lines_and_quoted_thousands(shared_data: Path) -> None:
    path = shared_data / UK / "311011.csv"
    got = read_source(path)
    assert notes(got)["line_endings"] == "CR"
    assert got.table.column_names == ["#", "Referrer", "Referrals"]
    assert got.table.num_rows == 39627
    assert kind(got, "Referrals") == "int64" and kind(got, "#") == "int64"
    # '1,http://www.google.co.uk,"9,508,234"', then "3,563,419", "585,447";
    # the file ends "39627,http://www.esc.ac.uk,1"
    assert col(got, "Referrals")[:3] == [9508234, 3563419, 585447]
    assert col(got, "Referrer")[-1] == "http://www.esc.ac.uk" and col(got, "Referrals")[-1] == 1
    assert sum(col(got, "#")) == 39627 * 39628 // 2
    rows = list(csv.reader(io.StringIO(path.read_text(), newline="")))[1:]
    assert sum(col(got, "Referrals")) == sum(int(r[2].replace(",", "")) for r in rows) == 18190216


def test_utf16le_inpatients_with_padded_strings(shared_data: Path) -> None:
    got = read_source(shared_data / UK / "Inpatients_MHA_Machine_readable_dataset_1011.csv")
    assert notes(got)["encoding"] == "utf-16-le"
    assert got.table.num_rows == 327 and got.table.num_columns == 19
    # first row: 5C1,Enfield PCT,"NHS Facilities      …",2010-11,2,1,0,3,2,0,5,7,7,3,10,1,0,0,1
    first = got.table.slice(0, 1).to_pylist()[0]
    assert first["Organisation_code"] == "5C1" and first["Organisation_name"] == "Enfield PCT"
    assert first["Organisation_classification"] == "NHS Facilities"
    assert first["Reporting_period"] == "2010-11"  # a financial year, not a date
    assert [first[c] for c in got.table.column_names[4:]] == [2, 1, 0, 3, 2, 0, 5, 7, 7, 3, 10, 1, 0, 0, 1]
    # RA2 Royal Surrey County Hospital: "62,271" informal admissions (quoted, thousands separator)
    row = col(got, "Organisation_code").index("RA2")
    assert col(got, "Total_informal_admissions")[row] == 62271
    assert kind(got, "Total_informal_admissions") == "int64"
    assert sum(col(got, "Part_II_patients")) == 27872  # csv module over the UTF-16 text


def test_italian_semicolons_decimal_commas_and_mojibake(shared_data: Path) -> None:
    got = read_source(shared_data / UK / "progetti_sample_10.csv")
    assert notes(got)["delimiter"] == ";"
    assert got.table.num_rows == 10 and got.table.num_columns == 199
    assert "encoded twice" in str(notes(got)["mojibake"])
    # FINANZ_UE: "6328008,44", "344203,20", "491260,00"
    assert col(got, "FINANZ_UE")[:3] == [6328008.44, 344203.20, 491260.00]
    assert notes(got)["decimal"]["FINANZ_UE"] == ","
    assert col(got, "FINANZ_TOTALE_PUBBLICO")[:3] == [8427231.91, 477000.00, 700000.00]
    assert col(got, "COD_REGIONE")[1] == "002"  # region codes keep their leading zeros
    assert col(got, "DEN_REGIONE")[1] == "VALLE D'AOSTA"
    assert col(got, "CUP")[0] == "D19J22000240006"


def test_adur_toilets_booleans_nulls_and_mixed_dates(shared_data: Path) -> None:
    got = read_source(shared_data / UK / "adur-public-toilets.csv")
    assert got.table.num_rows == 15
    # qsv's expected validation errors: row 1 has a null ExtractDate and OrganisationLabel
    errors = list(
        csv.DictReader(
            (shared_data / UK / "adur-public-toilets.expected-validation-errors.tsv").open(newline=""),
            delimiter="\t",
        )
    )
    for e in errors:
        if e["error"].startswith("null"):
            assert col(got, e["field"])[int(e["row_number"]) - 1] is None
    assert col(got, "GeoX")[:3] == [518072, 518225, 518915] and kind(got, "GeoX") == "int64"
    assert col(got, "RADARKeyNeeded")[0] is True and col(got, "BabyChange")[0] is False  # "Yes", "No"
    assert col(got, "ReportTel")[0] == "01903 221471"
    assert col(got, "Postcode") == [None] * 15
    # "07/07/2014 00:00" and "2014-07-07 00:00" in one column: no single rule reads them, so text and a note
    assert kind(got, "ExtractDate") == "string"
    assert "2 ways" in notes(got)["column_notes"]["ExtractDate"]


def test_adur_valid_dates_are_ambiguous_until_an_order_is_given(shared_data: Path) -> None:
    path = shared_data / UK / "adur-public-toilets-valid.csv"
    auto = read_source(path)
    assert (
        kind(auto, "ExtractDate") == "string"
    )  # every value is 07/07/2014: day and month cannot be told apart
    assert "ambiguous" in notes(auto)["column_notes"]["ExtractDate"]
    dmy = read_source(path, date_order="dmy")
    assert set(col(dmy, "ExtractDate")) == {datetime(2014, 7, 7)}
    assert notes(dmy)["date_formats"]["ExtractDate"] == "%d/%m/%Y %H:%M"


# --- Boston 311 ---------------------------------------------------------------------------------------------


def test_boston_iso_timestamps_and_codes(shared_data: Path) -> None:
    got = read_source(shared_data / BOSTON / "boston311-100.csv")
    assert got.table.num_rows == 100 and got.table.num_columns == 29
    assert kind(got, "open_dt") == "timestamp[us]"
    # row 1: 101004143000,2022-01-21 13:47:00,2022-02-04 13:47:30,,OVERDUE,…,42.3594,-71.0587
    assert col(got, "case_enquiry_id")[0] == 101004143000
    assert col(got, "open_dt")[0] == datetime(2022, 1, 21, 13, 47)
    assert col(got, "target_dt")[0] == datetime(2022, 2, 4, 13, 47, 30)
    assert col(got, "closed_dt")[0] is None
    assert col(got, "closure_reason")[0] is None  # " " in the file
    assert (col(got, "latitude")[0], col(got, "longitude")[0]) == (42.3594, -71.0587)
    # row 2: …,3,1B,1,A1,Boston,3,03,0303,42 Cross St,02113,…
    assert col(got, "location_zipcode")[1] == "02113" and col(got, "precinct")[1] == "0303"
    assert col(got, "ward")[1] == "03"


def test_boston_dmy_file_reads_the_same_instants(shared_data: Path) -> None:
    ymd = read_source(shared_data / BOSTON / "boston311-100.csv")
    dmy = read_source(shared_data / BOSTON / "boston311-dmy-100.csv")
    assert notes(dmy)["date_formats"]["open_dt"] == "%d/%m/%Y %H:%M:%S"  # "21/01/2022 13:47:00": 21 > 12
    for name in ("open_dt", "target_dt", "closed_dt"):
        assert col(dmy, name) == col(ymd, name)


def test_boston_bad_tsv_puts_the_ragged_row_aside_and_strict_load_fails(shared_data: Path) -> None:
    path = shared_data / BOSTON / "boston311-100-bad.tsv"
    # line 41 (data row 40) has a 30th field, "Citizens Connect App": one row of 100 is under the 5% default
    got = read_source(path)
    assert notes(got)["delimiter"] == "\t"
    assert [(r.row, r.reason) for r in got.rejects] == [(40, "has 30 fields, the header has 29")]
    assert got.rejects[0].raw.startswith("101004113615\t") and got.rejects[0].raw.endswith(
        "Citizens Connect App"
    )
    good = read_source(shared_data / BOSTON / "boston311-100.csv")
    expected_ids = col(good, "case_enquiry_id")
    assert col(got, "case_enquiry_id") == expected_ids[:39] + expected_ids[40:]
    with pytest.raises(SourceError) as err:
        read_source(path, max_reject_share=0)
    e = err.value
    assert e.code == "invalid-source"
    assert "boston311-100-bad.tsv" in e.message and "row 40" in e.message and "30 fields" in e.message
    assert "max_reject_share" in (e.fix or "") and e.details[0].startswith("row 40:")


def test_jsonl_boston_sample(shared_data: Path) -> None:
    got = read_source(shared_data / BOSTON / "boston311-10.jsonl")
    assert got.format == "jsonl" and got.table.num_rows == 10
    assert col(got, "open_dt")[0] == datetime(2022, 1, 21, 13, 47)
    assert col(got, "closure_reason")[0] is None and col(got, "closedphoto") == [None] * 10


def test_jsonl_bad_line_is_put_aside(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"a": 2\n\n[3]\n' + "".join(f'{{"a": {i}}}\n' for i in range(40)))
    got = read_source(path)
    assert [(r.row, r.reason.split(" (")[0]) for r in got.rejects] == [
        (2, "is not valid JSON"),
        (4, "is a JSON list, not an object"),
    ]
    assert got.table.num_rows == 41


# --- generated files: Chinese text, Excel, Parquet, SQLite --------------------------------------------------

GB_TEXT = (
    "城市运行数据报表（2024年3月）\n\n"
    "序号,区县,办件量,办结日期,联系电话,身份证号,编码,备注,备注\n"
    '1,朝阳区,"1,234",2024/03/15,13812345678,110105199001011234,00123,按时办结,\n'
    "2,海淀区,56,2024/03/16,13987654321,11010819850203456X,00456, 超时 ,x\n"
)


def test_gb18030_chinese_file_with_title_row(tmp_path: Path) -> None:
    path = tmp_path / "报表.csv"
    path.write_bytes(GB_TEXT.encode("gb18030"))
    got = read_source(path)
    assert notes(got)["encoding"] == "gb18030" and notes(got)["header_row"] == 3
    assert notes(got)["skipped_rows"] == ["城市运行数据报表（2024年3月）"]
    assert got.table.column_names == [
        "序号",
        "区县",
        "办件量",
        "办结日期",
        "联系电话",
        "身份证号",
        "编码",
        "备注",
        "备注_2",
    ]
    assert col(got, "区县") == ["朝阳区", "海淀区"]
    assert col(got, "办件量") == [1234, 56]
    assert col(got, "办结日期") == [date(2024, 3, 15), date(2024, 3, 16)]
    assert col(got, "联系电话") == ["13812345678", "13987654321"]  # 手机号 stay text
    assert col(got, "身份证号") == ["110105199001011234", "11010819850203456X"]
    assert col(got, "编码") == ["00123", "00456"]
    assert col(got, "备注") == ["按时办结", "超时"]


def test_explicit_encoding_wins_and_a_wrong_one_fails_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "报表.csv"
    path.write_bytes(GB_TEXT.encode("gb18030"))
    assert col(read_source(path, encoding="gbk"), "区县") == ["朝阳区", "海淀区"]
    with pytest.raises(SourceError) as err:
        read_source(path, encoding="utf-8")
    assert "报表.csv: line 1 " in err.value.message and "--encoding" in (err.value.fix or "")


def test_windows_1252_is_read_with_a_note_and_undecodable_bytes_fail(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,city\nJosé,Málaga\n".encode("cp1252"))
    got = read_source(latin)
    assert col(got, "name") == ["José"] and notes(got)["encoding"] == "cp1252"
    assert "Windows-1252" in notes(got)["encoding_notes"][0]
    broken = tmp_path / "broken.csv"
    broken.write_bytes(
        b"a,b\n1,2\n3,\x81\n"
    )  # 0x81: not UTF-8, not GB18030 before a newline, undefined in cp1252
    with pytest.raises(SourceError) as err:
        read_source(broken)
    assert "broken.csv: line 3" in err.value.message and "--encoding" in (err.value.fix or "")


def test_utf16_without_bom_semicolons_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_bytes("Bericht 2024\r\nid;amount\r\n1;2,50\r\n2;1000,00\r\n".encode("utf-16-le"))
    got = read_source(path)
    assert notes(got)["encoding"] == "utf-16-le" and notes(got)["line_endings"] == "CRLF"
    assert notes(got)["header_row"] == 2  # a one-cell title above a two-column table
    assert col(got, "amount") == [2.5, 1000.0]
    with pytest.raises(SourceError) as err:  # Python's "utf-16" needs a BOM to know the byte order
        read_source(path, encoding="utf-16")
    assert "w.txt" in err.value.message and "utf-16-le" in (err.value.fix or "")


def test_ambiguous_separators_and_dates_stay_text_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "n;d;bad;when\n1,500;01/02/2024;2024-02-30;30/02/2024\n2,250;03/04/2024;2024-03-01;01/03/2024\n"
    )
    got = read_source(path)
    why = notes(got)["column_notes"]
    assert col(got, "n") == ["1,500", "2,250"] and "decimal comma or a thousands" in why["n"]
    assert col(got, "d") == ["01/02/2024", "03/04/2024"] and "ambiguous" in why["d"]
    assert kind(got, "bad") == "string" and "not a real date" in why["bad"]
    assert kind(got, "when") == "string" and "'30/02/2024' is not a real date" in why["when"]
    mdy = read_source(path, date_order="mdy")
    assert col(mdy, "d") == [date(2024, 1, 2), date(2024, 3, 4)]


def test_title_row_padded_with_delimiters_and_duplicate_empty_names(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("Monthly report,,,\n,,,\n id ,name,,name\n1,a,x,b\n2,b,y,c\n")
    got = read_source(path, delimiter=",")
    assert notes(got)["header_row"] == 3
    assert got.table.column_names == ["id", "name", "column_3", "name_2"]
    assert col(got, "name_2") == ["b", "c"]


def test_header_narrower_than_its_rows_fails_instead_of_taking_a_data_row(tmp_path: Path) -> None:
    path = tmp_path / "trailing.csv"
    path.write_text("a,b\n1,2,\n3,4,\n")  # every data row ends with a delimiter the header lacks
    with pytest.raises(SourceError) as err:
        read_source(path)
    assert "trailing.csv: 2 of 2 data rows" in err.value.message
    assert "row 1, which has 3 fields, the header has 2" in err.value.message


def test_identifiers_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "身份证号,手机号,编码,件数\n110105199001011234,13812345678,00123,12\n"
        "110108198502034561,15900001111,10456,7\n"
    )
    got = read_source(path)
    assert col(got, "身份证号") == ["110105199001011234", "110108198502034561"]  # 18 digits: not a quantity
    assert col(got, "手机号") == ["13812345678", "15900001111"]
    assert col(got, "编码") == ["00123", "10456"]
    assert col(got, "件数") == [12, 7]
    assert set(notes(got)["column_notes"]) == {"身份证号", "手机号", "编码"}


def _workbook(path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "办件"
    ws.append(["2024年一季度办件统计"])
    ws.append([])
    ws.append(["区县", "办件量", "满意率", " 日期 ", "编码"])
    ws.append(["朝阳区", 120, 0.95, datetime(2024, 1, 5), "007"])
    ws.append(["海淀区", 80, 1, datetime(2024, 2, 1), None])
    ws.append([None] * 5)
    ws.append(["西城区", 7, 0.5, datetime(2024, 3, 1), "x", None, "stray"])
    wb.create_sheet("说明").append(["about"])
    wb.save(path)


def test_excel_with_title_rows_and_a_stray_cell(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    _workbook(path)
    with pytest.raises(SourceError) as err:  # 1 of 3 rows is more than 5%
        read_source(path)
    assert (
        "t.xlsx" in err.value.message and "row 3" in err.value.message and "sheet row 7" in err.value.message
    )
    got = read_source(path, max_reject_share=0.5)
    assert got.format == "excel" and notes(got)["header_row"] == 3 and notes(got)["sheet"] == "办件"
    assert got.table.column_names == ["区县", "办件量", "满意率", "日期", "编码"]
    assert col(got, "办件量") == [120, 80] and kind(got, "办件量") == "int64"
    assert col(got, "满意率") == [0.95, 1.0]
    assert col(got, "日期") == [date(2024, 1, 5), date(2024, 2, 1)]
    assert col(got, "编码") == ["007", None]
    assert got.rejects[0].row == 3 and "column 7" in got.rejects[0].reason
    with pytest.raises(SourceError) as err:
        read_source(path, sheet="Sheet9")
    assert "no sheet 'Sheet9'" in err.value.message and "办件, 说明" in (err.value.fix or "")


def test_parquet_round_trip(tmp_path: Path) -> None:
    table = pa.table({"id": [1, 2], "at": pa.array([datetime(2024, 1, 1), None], pa.timestamp("us"))})
    pq.write_table(table, tmp_path / "t.parquet")
    got = read_source(tmp_path / "t.parquet")
    assert got.format == "parquet" and got.table.equals(table)


def _sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE cases (id INTEGER PRIMARY KEY, title TEXT, cost REAL, opened DATE, "
        "closed TIMESTAMP, ok BOOLEAN, n INTEGER, loose, code VARCHAR(8))"
    )
    rows = [
        (1, "路灯", 1.5, "2024-01-02", "2024-01-02 10:00:00", 1, 5, "2024-01-01", "42"),
        (2, "井盖", None, None, None, 0, "abc", "2024-02-01", "42"),
    ]
    rows += [(i, "x", 2.0, "2024-01-03", None, 1, i, "2024-03-01", "7") for i in range(3, 41)]
    con.executemany("INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()


def test_sqlite_table_by_url(tmp_path: Path) -> None:
    db = tmp_path / "city.db"
    _sqlite(db)
    got = read_source(f"sqlite:///{db}", table="cases")
    assert got.format == "database" and got.table.num_rows == 39
    assert {n: kind(got, n) for n in got.table.column_names} == {
        "id": "int64",
        "title": "string",
        "cost": "double",
        "opened": "date32[day]",
        "closed": "timestamp[us]",
        "ok": "bool",
        "n": "int64",
        "loose": "date32[day]",  # "loose" has no declared type: inferred
        "code": "string",
    }  # declared text stays text, digits or not
    assert col(got, "code")[0] == "42"
    assert col(got, "title")[0] == "路灯" and col(got, "closed")[0] == datetime(2024, 1, 2, 10)
    assert [(r.row, r.reason) for r in got.rejects] == [
        (2, "has 'abc' in column n, which holds int64 values")
    ]


def test_database_errors_name_the_table_and_the_fix(tmp_path: Path) -> None:
    db = tmp_path / "city.db"
    _sqlite(db)
    with pytest.raises(SourceError) as err:
        read_source(f"sqlite:///{db}")
    assert "needs the table" in err.value.message and "--table" in (err.value.fix or "")
    assert "cases" in (err.value.fix or "")
    with pytest.raises(SourceError) as err:
        read_source(f"sqlite:///{db}", table="nope")
    assert "no table 'nope'" in err.value.message
    with pytest.raises(SourceError) as err:
        read_source(f"sqlite:///{tmp_path / 'missing.db'}", table="cases")
    assert "does not exist" in err.value.message
    assert not (tmp_path / "missing.db").exists()  # SQLite must not have created an empty database
    with pytest.raises(SourceError) as err:
        read_source("postgresql+psycopg://u:secret@127.0.0.1:9/x", table="t")
    assert "secret" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.csv", b"  \n", "is empty"),
        ("old.xls", b"\xd0\xcf\x11\xe0", "old binary Excel"),
    ],
)
def test_unreadable_files_fail_clearly(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError) as err:
        read_source(path)
    assert name in err.value.message and words in err.value.message and err.value.fix


def test_missing_file_and_unknown_date_order(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_source(tmp_path / "nope.csv")
    with pytest.raises(SourceError, match="date order"):
        read_source(tmp_path / "nope.csv", date_order="ydm")  # type: ignore[arg-type]
