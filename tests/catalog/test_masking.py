"""The mask forms (身份证号, 手机号, 姓名, 地址, 邮箱) written out by hand, and the detection of personal columns on
generated identifiers and on real, messy third-party tables (``../shared/data``), whose personal columns are
named here by reading the files."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from chengyun.catalog.masking import mask, mask_profile, mask_report, mask_rows
from chengyun.catalog.models import Dataset
from chengyun.catalog.personal import classes_of, classify, detect, hint
from chengyun.catalog.sources import read_source

from .api_world import credit_code
from .personal_world import resident_id


@pytest.mark.parametrize(("value", "kind", "shown"), [
    ("110105199001011234", "resident-id", "110105********1234"),
    ("11010519900101123X", "resident-id", "110105********123X"),
    ("110105900101123", "resident-id", "110105*****1123"),  # a 15-digit legacy number
    ("12345", "resident-id", "*****"),  # too short for the form: nothing kept
    ("13812345678", "phone", "138****5678"),
    (13812345678, "phone", "138****5678"),  # read from Excel as a number
    (13812345678.0, "phone", "138****5678"),
    ("+86 138-1234-5678", "phone", "138****5678"),
    ("0571-87654321", "phone", "057******4321"),
    ("12345", "phone", "*****"),
    ("张三", "name", "张*"),
    ("张三丰", "name", "张**"),
    ("欧阳娜娜", "name", "欧***"),
    ("临江市东区滨江街道滨江路12号3栋201室", "address", "临江市东区滨江街道****"),
    ("浙江省杭州市西湖区文新街道阳光小区5号楼", "address", "浙江省杭州市西湖区文新街道****"),
    ("北京市朝阳区建国路88号", "address", "北京市朝阳区****"),
    ("临江市阳光小区5号楼", "address", "临江市****"),  # 小区 is below the street, not a district
    ("临江市第12街道", "address", "临江市第12街道"),  # nothing below the street to hide
    ("42 Cross St  Boston  MA  02113", "address", "****  Boston  MA  02113"),
    ("393 BROADWAY", "address", "****"),
    ("zhang.san@example.cn", "email", "z***@example.cn"),
    ("not-an-email", "email", "************"),
    (None, "phone", None),
    ("", "name", ""),
    ("13812345678", None, "13812345678"),
])
def test_mask_forms(value: object, kind: str | None, shown: object) -> None:
    assert mask(value, kind) == shown


def test_profile_rows_and_reports_mask_only_personal_columns() -> None:
    classes = {"id": "resident-id", "tel": "phone"}
    profile = {"rows": 2, "columns": [
        {"name": "id", "type": "string", "min": "110105199001011234", "max": "330106198512120019"},
        {"name": "tel", "type": "integer", "min": 13500000001, "max": 13900000009, "sum": 27400000010,
         "mean": 13700000005.0, "stddev": 2828427124.7},
        {"name": "n", "type": "integer", "min": 1, "max": 2, "sum": 3, "mean": 1.5, "stddev": 0.7}]}
    got = {c["name"]: c for c in mask_profile(profile, classes)["columns"]}
    assert (got["id"]["min"], got["id"]["max"]) == ("110105********1234", "330106********0019")
    assert (got["tel"]["min"], got["tel"]["sum"], got["tel"]["mean"]) == ("135****0001", None, None)
    assert got["n"] == profile["columns"][2] | {"personal": None, "masked": False}
    shown = {c["name"]: c for c in mask_profile(profile, classes, reveal=["tel"])["columns"]}
    assert shown["tel"]["min"] == 13500000001 and shown["id"]["masked"] is True
    rows = [{"id": "110105199001011234", "tel": "13812345678", "n": 1}]
    assert mask_rows(rows, classes) == [{"id": "110105********1234", "tel": "138****5678", "n": 1}]
    report = {"score": 50.0, "rules": [{"id": "r", "samples": rows}, {"id": "ok", "samples": []}]}
    assert mask_report(report, classes)["rules"][0]["samples"] == mask_rows(rows, classes)  # type: ignore[index]
    assert rows[0]["id"] == "110105199001011234"  # the stored report is not changed


def _ids(n: int, bad: int, seed: int = 7) -> list[str]:
    g = random.Random(seed)
    out = [resident_id(g.choice(["110105", "330106", "440305"]), date(1950, 1, 1) + timedelta(days=g.randrange(25000)),
                       g.randrange(1000)) for _ in range(n)]
    for i in range(bad):  # a wrong check character
        out[i] = out[i][:-1] + ("0" if out[i][-1] != "0" else "1")
    return out


def test_generated_identity_numbers_are_detected_whatever_the_column_is_called() -> None:
    assert detect("col_7", _ids(200, 0)) == "resident-id"
    assert detect("col_7", _ids(200, 30)) == "resident-id"  # 15 % malformed: still identity numbers
    assert detect("col_7", _ids(200, 60)) is None  # 30 % malformed: not evidence enough, and no name hint
    assert detect("证件号码", _ids(200, 60)) == "resident-id"  # ... unless the name says so
    codes = [credit_code(n) for n in range(1, 201)]  # 统一社会信用代码: a legal person's, not personal
    assert detect("统一社会信用代码", codes) is None and detect("x", codes) is None
    assert detect("x", [f"13{n:09d}" for n in range(200)]) == "phone"
    assert detect("x", list(range(13800000000, 13800000200))) == "phone"  # an Excel column of numbers
    assert detect("x", [f"a{n}@example.cn" for n in range(50)]) == "email"
    assert detect("x", [f"临江市东区滨江路{n}号" for n in range(50)]) == "address"
    assert detect("x", list(range(200))) is None and detect("x", []) is None


@pytest.mark.parametrize(("name", "kind"), [
    ("姓名", "name"), ("联系人", "name"), ("法定代表人", "name"), ("联系人电话", "phone"), ("申请人地址", "address"),
    ("手机号码", "phone"), ("ReportTel", "phone"), ("Telephone", "phone"), ("hotel", None), ("ReportEmail", "email"),
    ("企业名称", None), ("地址类型", None), ("Address Type", None), ("AddressVerified", None), ("StreetAddress", "address"),
    ("身份证号", "resident-id"), ("统一社会信用代码", None), ("type_name", None),
])
def test_column_name_hints(name: str, kind: str | None) -> None:
    assert hint(name) == kind


def test_a_handful_of_codes_is_no_personal_column_whatever_its_name() -> None:
    assert detect("ApproximateAddress", ["Y", "N"] * 20) is None
    assert detect("联系人", ["张三", "李四", "王五"] * 10) is None
    assert detect("联系人", ["张三", "李四", "王五", "赵六"] * 10) == "name"


# the personal columns of each file, found by reading it (header and values)
REAL = {
    "ukgov-tables-qsv/adur-public-toilets.csv": {"ReportEmail": "email", "ReportTel": "phone",
                                                 "StreetAddress": "address"},
    "boston311-qsv/boston311-100-with-fake-pii.csv": {"location": "address", "location_street_name": "address"},
    "la311/MyLA311_2017_Subset.csv": {"Address": "address"},
    "nyc311/nyc311_2022-05-01_sample.csv": {"Incident Address": "address"},
    "ukgov-tables-qsv/spendover25kdownloadSep.csv": {},
}


@pytest.mark.parametrize("file", sorted(REAL))
def test_detection_on_real_tables(shared_data: Path, file: str) -> None:
    loaded = read_source(str(shared_data / file), max_reject_share=1.0)
    found = {c["name"]: c["personal"] for c in classify(loaded.table) if c["personal"]}
    assert found == REAL[file]


def test_real_emails_and_phones_are_masked(shared_data: Path) -> None:
    table = read_source(str(shared_data / "ukgov-tables-qsv/adur-public-toilets.csv"), max_reject_share=1.0).table
    classes = {c["name"]: c["personal"] for c in classify(table) if c["personal"]}
    rows = mask_rows(table.select(list(classes)).to_pylist(), classes)
    assert {r["ReportEmail"] for r in rows if r["ReportEmail"]} <= {"s***@adur-worthing.gov.uk"}
    assert {r["ReportTel"] for r in rows if r["ReportTel"]} == {"019*****1471"}  # 01903 221471


def test_classes_set_by_hand_are_kept_and_others_detected_again() -> None:
    table = pa.table({"证件": _ids(50, 0), "备注": [f"r{n}" for n in range(50)]})
    previous = [{"name": "证件", "personal": None, "personal_by": "user"},
                {"name": "备注", "personal": "phone", "personal_by": "detected"}]
    got = {c["name"]: (c["personal"], c["personal_by"]) for c in classify(table, previous)}
    assert got == {"证件": (None, "user"), "备注": (None, "detected")}


def test_datasets_loaded_before_classes_were_kept_are_classified_on_the_fly() -> None:
    ds = Dataset(schema_=[{"name": "公民身份号码", "type": "string"}, {"name": "c2", "type": "string"},
                          {"name": "tel", "type": "int64"}, {"name": "n", "type": "int64"}],
                 profile={"rows": 3, "columns": [
                     {"name": "公民身份号码", "min": "x", "max": "y"},
                     {"name": "c2", "min": "A1", "max": "B2"},
                     {"name": "tel", "min": 13500000001, "max": 13900000009},
                     {"name": "n", "min": 1, "max": 9}]},
                 rules=[{"id": "r", "kind": "cn-resident-id", "column": "c2"}])
    assert classes_of(ds) == {"公民身份号码": "resident-id", "c2": "resident-id", "tel": "phone"}


def test_the_demo_residents_extract_is_classified() -> None:
    """The demo's 人口基础信息 columns, generated as the demo generates them (3,000 rows, 1.5 % bad check digits,
    2 % landlines where a mobile belongs, 3 % empty)."""
    from datetime import datetime

    import numpy as np

    from chengyun.demo.catalogue import _residents

    rows = _residents(np.random.default_rng(95), 3000, datetime(2026, 12, 1))
    table = pa.table({name: [r[i] for r in rows] for i, name in enumerate(["公民身份号码", "出生日期", "手机号码",
                                                                            "居住街道"])})
    got = {c["name"]: c["personal"] for c in classify(table)}
    assert got == {"公民身份号码": "resident-id", "出生日期": None, "手机号码": "phone", "居住街道": "address"}
    shown = mask_rows(table.to_pylist(), {k: v for k, v in got.items() if v})
    assert all(r["公民身份号码"][6:14] == "********" for r in shown)
    assert all(r["手机号码"] is None or r["手机号码"][3:7] == "****" for r in shown)
