"""Profiles (数据画像): the Boston 311 sample against qsv's expected statistics, and a hand-made table
on both engines.

qsv's oracle files (see ../shared/data/boston311-qsv/SOURCE.txt): ``boston311-100-stats.csv`` =
``qsv stats --infer-dates --dates-whitelist _dt`` (type, min, max, nullcount, sum, mean) and
``boston311-100-everything-date-stats.csv`` = ``qsv stats --everything --infer-dates`` (cardinality).

Where our reading differs from qsv's, on purpose, the test adjusts qsv's numbers with counts taken from
the raw file by the csv module, and says why:

* qsv keeps values as they are; we strip surrounding spaces and read an empty result as null. So a cell
  holding only spaces (" " fills the location columns of unlocated cases) is a null for us and a
  one-character string for qsv: our ``nulls`` = qsv nullcount + such cells; our ``distinct`` = qsv
  cardinality, less one for the empty value and one for " " (qsv counts both as values, SQL
  COUNT(DISTINCT) counts neither), less values that only differ by surrounding spaces.
* qsv types a column String as soon as one " " appears; once " " is null, fire_district,
  city_council_district and neighborhood_services_district hold only whole numbers, so we type them
  integer, and their min/max compare as numbers, not as text.
* qsv's type NULL (closedphoto: no value at all) has no Arrow counterpart in our reader: the column is
  text with every row null.
* qsv's dates_whitelist limits date inference to names with "_dt"; we infer dates in every column, and
  here only the "_dt" columns hold dates, so the types agree.
"""

from __future__ import annotations

import csv
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chengyun.catalog.profile import profile
from chengyun.catalog.sources import read_source
from tests.conftest import need

BOSTON = "boston311-qsv"
QSV_TYPES = {
    "Integer": "integer",
    "Float": "float",
    "DateTime": "timestamp",
    "Date": "date",
    "String": "string",
    "Boolean": "boolean",
    "NULL": "string",
}
ONLY_NUMBERS_ONCE_SPACES_ARE_NULL = {
    "fire_district",
    "city_council_district",
    "neighborhood_services_district",
}


def _spark_ok() -> bool:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return shutil.which("java") is not None


def _qsv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["field"]: row for row in csv.DictReader(f)}


def _raw_columns(path: Path) -> dict[str, list[str]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return {name: [r[i] for r in rows[1:]] for i, name in enumerate(rows[0])}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=None)  # qsv writes "+00:00"; our timestamps are naive


@pytest.fixture
def boston(shared_data: Path) -> tuple[dict[str, Any], Path]:
    data = shared_data / BOSTON
    loaded = read_source(data / "boston311-100.csv")
    return profile(ibis.memtable(loaded.table)), data


def test_boston_profile_agrees_with_qsv(boston: tuple[dict[str, Any], Path]) -> None:
    prof, data = boston
    stats = _qsv(data / "boston311-100-stats.csv")
    everything = _qsv(data / "boston311-100-everything-date-stats.csv")
    raw = _raw_columns(data / "boston311-100.csv")
    assert prof["rows"] == 100
    assert [c["name"] for c in prof["columns"]] == list(stats)
    for c in prof["columns"]:
        name, q, values = c["name"], stats[c["name"]], raw[c["name"]]
        spaces = sum(1 for v in values if v and not v.strip())
        kept = [v for v in values if v.strip()]
        merged = len(set(kept)) - len({v.strip() for v in kept})
        nullcount = int(q["nullcount"])
        assert c["nulls"] == nullcount + spaces, name
        assert c["sparsity"] == pytest.approx((nullcount + spaces) / 100), name
        expected_distinct = int(everything[name]["cardinality"]) - (nullcount > 0) - (spaces > 0) - merged
        assert c["distinct"] == expected_distinct, name
        if name in ONLY_NUMBERS_ONCE_SPACES_ARE_NULL:
            assert (q["type"], c["type"], spaces > 0) == ("String", "integer", True), name
            assert (c["min"], c["max"]) == (min(int(v) for v in kept), max(int(v) for v in kept)), name
            continue
        assert c["type"] == QSV_TYPES[q["type"]], name
        _check_min_max(c, q, kept)


def _check_min_max(c: dict[str, Any], q: dict[str, str], kept: list[str]) -> None:
    name = c["name"]
    if q["type"] == "NULL":
        assert (c["min"], c["max"]) == (None, None), name
    elif c["type"] in ("integer", "float"):
        assert (c["min"], c["max"]) == (pytest.approx(float(q["min"])), pytest.approx(float(q["max"]))), name
        assert c["sum"] == pytest.approx(float(q["sum"])), name
        assert c["mean"] == pytest.approx(float(q["mean"])), name
    elif c["type"] == "timestamp":
        assert _when(c["min"]) == _when(q["min"]) and _when(c["max"]) == _when(q["max"]), name
    else:
        # qsv's min is " " where such cells exist (null for us): then the least stripped value is expected
        low = q["min"].strip() or min(v.strip() for v in kept)
        assert (c["min"], c["max"]) == (low, q["max"].strip()), name
    if c["type"] == "integer":
        assert c["sum"] == int(q["sum"]), name  # exact: 10100411645180 for case_enquiry_id


HAND = pa.table(
    {
        "n": pa.array([3, None, -1, 3], pa.int64()),
        "x": pa.array([1.5, 2.5, None, None], pa.float64()),
        "ok": pa.array([True, None, True, True], pa.bool_()),
        "d": pa.array([date(2024, 3, 1), date(2023, 12, 31), None, date(2024, 3, 1)], pa.date32()),
        "at": pa.array(
            [datetime(2024, 1, 1, 8), None, None, datetime(2024, 1, 1, 20, 30)], pa.timestamp("us")
        ),
        "s": pa.array(["城运", "b", "b", None], pa.string()),
        "empty": pa.array([None] * 4, pa.string()),
        "odd name (元)": pa.array([1, 1, 1, 1], pa.int64()),
    }
)
HAND_EXPECTED: list[dict[str, Any]] = [  # by hand from the table above
    {"name": "n", "type": "integer", "nulls": 1, "distinct": 2, "min": -1, "max": 3, "sum": 5, "mean": 5 / 3},
    {
        "name": "x",
        "type": "float",
        "nulls": 2,
        "distinct": 2,
        "min": 1.5,
        "max": 2.5,
        "sum": 4.0,
        "mean": 2.0,
    },
    {"name": "ok", "type": "boolean", "nulls": 1, "distinct": 1, "min": True, "max": True},
    {"name": "d", "type": "date", "nulls": 1, "distinct": 2, "min": "2023-12-31", "max": "2024-03-01"},
    {
        "name": "at",
        "type": "timestamp",
        "nulls": 2,
        "distinct": 2,
        "min": "2024-01-01T08:00:00",
        "max": "2024-01-01T20:30:00",
    },
    {
        "name": "s",
        "type": "string",
        "nulls": 1,
        "distinct": 2,
        "min": "b",
        "max": "城运",
        "min_length": 1,
        "max_length": 2,
    },
    {"name": "empty", "type": "string", "nulls": 4, "distinct": 0, "min": None, "max": None},
    {
        "name": "odd name (元)",
        "type": "integer",
        "nulls": 0,
        "distinct": 1,
        "min": 1,
        "max": 1,
        "sum": 4,
        "stddev": 0.0,
    },
]


def _table_on(engine: str, path: Path) -> Any:
    if engine == "duckdb":
        return ibis.duckdb.connect().read_parquet(path)
    from chengyun.analytics.engine import SparkEngine
    from chengyun.core.settings import get_settings

    return SparkEngine(path.parent, get_settings(path.parent).spark_master).con.read_parquet(str(path))


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine_name(request: pytest.FixtureRequest) -> str:
    if request.param == "spark":
        need(_spark_ok(), "pyspark or java is missing (pip install '.[spark]', Java 17)")
    return request.param


def test_profile_by_hand_on_each_engine(engine_name: str, tmp_path: Path) -> None:
    pq.write_table(HAND, tmp_path / "hand.parquet")
    got = profile(_table_on(engine_name, tmp_path / "hand.parquet"))
    assert got["rows"] == 4
    for column, expected in zip(got["columns"], HAND_EXPECTED, strict=True):
        assert column["sparsity"] == expected["nulls"] / 4
        for key, value in expected.items():
            assert column[key] == (pytest.approx(value) if isinstance(value, float) else value), (
                expected["name"],
                key,
            )


def test_profile_is_one_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pq.write_table(HAND, tmp_path / "hand.parquet")
    con = ibis.duckdb.connect()
    t = con.read_parquet(tmp_path / "hand.parquet")
    calls: list[str] = []
    for method in ("to_pyarrow", "execute", "to_pandas"):
        real = getattr(con, method)

        def counted(*args: Any, _real: Any = real, _name: str = method, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(con, method, counted)
    profile(t)
    assert len(calls) == 1


@pytest.mark.spark
def test_boston_profile_is_the_same_on_spark(boston: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    need(_spark_ok(), "pyspark or java is missing (pip install '.[spark]', Java 17)")
    duck, data = boston
    pq.write_table(read_source(data / "boston311-100.csv").table, tmp_path / "b.parquet")
    spark = profile(_table_on("spark", tmp_path / "b.parquet"))
    assert spark["rows"] == duck["rows"]
    for s, d in zip(spark["columns"], duck["columns"], strict=True):
        assert s.keys() == d.keys(), d["name"]
        for key, value in d.items():
            assert s[key] == (pytest.approx(value) if isinstance(value, float) else value), (d["name"], key)
