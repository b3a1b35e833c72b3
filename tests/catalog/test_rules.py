"""Quality rules: every kind on a hand-counted table on DuckDB and Spark, bad rules files, the qsv oracles
(Adur toilets validation, Boston 311 dedup), the identifier validators, and scores computed by hand."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from chengyun.catalog import rule_kinds
from chengyun.catalog.rules import (
    DIMENSIONS,
    QualityReport,
    Rule,
    RunContext,
    load_rules,
    rules_from_json_schema,
    run_rules,
)
from chengyun.core.errors import Conflict, InvalidInput
from tests.analytics.test_measures import _spark_ok
from tests.catalog.test_validators import CASES as ID_CASES
from tests.catalog.test_validators import TODAY, _candidates, credit_check, id_check
from tests.conftest import need

Load = Callable[[pa.Table], ibis.Table]


@pytest.fixture(scope="module")
def spark_con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    need(_spark_ok(), "pyspark or java is missing (pip install '.[spark]', Java 17)")
    from chengyun.analytics.engine import connect
    from chengyun.core.settings import Settings

    workspace: Path = tmp_path_factory.mktemp("rules")
    yield connect(Settings(workspace=workspace), "spark").con  # type: ignore[call-arg]
    shutil.rmtree(workspace, ignore_errors=True)


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine_name(request: pytest.FixtureRequest) -> str:
    if request.param == "spark":
        need(_spark_ok(), "pyspark or java is missing (pip install '.[spark]', Java 17)")
    return request.param


@pytest.fixture
def load(engine_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> Load:
    """Write a table to Parquet and read it back on the engine, as a dataset's snapshot is read."""
    con = request.getfixturevalue("spark_con") if engine_name == "spark" else ibis.duckdb.connect()
    counter = iter(range(1000))

    def _load(data: pa.Table) -> ibis.Table:
        path = tmp_path / f"t{next(counter)}.parquet"
        pq.write_table(data, path)
        return con.read_parquet(str(path))

    return _load


# ---- every kind on one hand-built table ------------------------------------------------------------------------

ID_OK = "11010519491231002X"  # the published sample
ID_OK2 = "44030019900101123" + id_check("44030019900101123")
CREDIT_OK, CREDIT_OK2 = "91350100M000100Y43", "91110000600037341L"
D = datetime
CASES = pa.table({
    "n": list(range(1, 9)),
    "case_id": ["c1", "c2", "c2", None, "c5", "c6", "c7", "c8"],
    "status": ["open", "closed", "closed", "pending", "open", "closed", None, "open"],
    "priority": pa.array([1, 3, 5, None, 0, 2, 4, 4], pa.int64()),
    "phone": ["13800138000", "+86 138 0013 8000", "12800138000", None, "1380013800", "19912345678", None,
              "13800138000"],
    "id_no": [ID_OK, None, "110105194912310021", ID_OK2, ID_OK.lower(), ID_OK2, None, ID_OK],
    "credit": [CREDIT_OK, "91350100M000100Y44", None, CREDIT_OK2, CREDIT_OK, "91350100M000100Y4", None, CREDIT_OK2],
    "dept": ["d1", "d2", "d9", None, "d1", "d2", "d3", "d1"],
    "created_at": [D(2026, 11, 1), D(2026, 11, 2), D(2026, 11, 3), D(2026, 11, 4), D(2026, 11, 5), None,
                   D(2026, 11, 7), D(2026, 11, 8)],
    "closed_at": [None, D(2026, 11, 3), D(2026, 11, 2), D(2026, 11, 4), None, D(2026, 11, 6), D(2026, 11, 8), None],
    "code": ["AB-001", "AB-002", "ab-003", None, "AB-0005", "AB-006", "AB-007\n", "AB-008"],
})
DEPTS = pa.table({"dept_id": ["d1", "d2", "d4"]})

RULES_YAML = """
rules:
  - {id: case-id-present, kind: not-null, column: case_id}
  - {id: case-id-unique, kind: unique, column: case_id}
  - {id: case-status-unique, kind: unique, columns: [case_id, status]}
  - {id: record-unique, kind: unique, column: "*"}
  - {id: status-known, kind: in-set, column: status, values: [open, closed]}
  - {id: priority-range, kind: range, column: priority, min: 1, max: 4}
  - {id: code-format, kind: pattern, column: code, regex: "[A-Z]{2}-[0-9]{3}"}
  - {id: phone, kind: cn-mobile, column: phone}
  - {id: id-no, kind: cn-resident-id, column: id_no}
  - {id: credit, kind: cn-credit-code, column: credit}
  - {id: dept-known, kind: reference, column: dept, dataset: departments, dataset_column: dept_id}
  - {id: closed-after-created, kind: compare, column: closed_at, op: ">=", other: created_at}
  - {id: priority-below-5, kind: compare, column: priority, op: "<", value: 5}
  - {id: fresh-rows, kind: freshness, column: created_at, max_age_days: 7}
  - {id: fresh-catalogue, kind: freshness}
  - {id: rows-between, kind: row-count, min: 5, max: 10}
  - {id: rows-drift, kind: row-count, max_change: 0.2}
"""
# (checked, failed, failing row numbers n) counted by hand from the table above
EXPECTED: dict[str, tuple[int, int, set[int] | None]] = {
    "case-id-present": (8, 1, {4}),
    "case-id-unique": (7, 1, None),  # c2 twice: one extra copy; row 4 (null) not checked
    "case-status-unique": (6, 1, None),  # rows 4 and 7 have a null in the key; (c2, closed) twice
    "record-unique": (8, 0, set()),
    "status-known": (7, 1, {4}),
    "priority-range": (7, 2, {3, 5}),
    "code-format": (7, 3, {3, 5, 7}),  # lowercase, 4 digits, a trailing newline
    "phone": (6, 2, {3, 5}),
    "id-no": (6, 2, {3, 5}),  # wrong check digit; lowercase x
    "credit": (6, 2, {2, 6}),  # wrong check character; 17 characters
    "dept-known": (7, 2, {3, 7}),
    "closed-after-created": (4, 1, {3}),  # rows 2, 3, 4, 7 have both; row 4 equal
    "priority-below-5": (7, 1, {3}),
    "fresh-rows": (1, 1, set()),  # latest 11-08, 12 days before 11-20
    "fresh-catalogue": (1, 0, set()),  # refreshed 11-19, cycle 2 days
    "rows-between": (1, 0, set()),
    "rows-drift": (1, 1, set()),  # 8 rows against 12: a third less
}
CONTEXT = dict(now=D(2026, 11, 20), last_updated=D(2026, 11, 19), update_cycle_days=2, previous_rows=12)


def _run(load: Load, rules: str | list[Rule] = RULES_YAML, **kw: Any) -> QualityReport:
    table, depts = load(CASES), load(DEPTS)
    rules = load_rules(rules) if isinstance(rules, str) else rules
    ctx = RunContext(resolve={"departments": depts}.__getitem__, **{**CONTEXT, **kw})  # type: ignore[arg-type]
    return run_rules(table, rules, context=ctx)


def test_every_kind_by_hand(load: Load) -> None:
    report = _run(load)
    got = {r.id: r for r in report.rules}
    assert set(got) == set(EXPECTED)
    for rule_id, (checked, failed, rows) in EXPECTED.items():
        r = got[rule_id]
        assert (r.checked, r.failed) == (checked, failed), rule_id
        if rows is not None:
            assert {s["n"] for s in r.samples} == rows, rule_id
    assert got["case-id-unique"].samples == [{"case_id": "c2", "copies": 2}]
    assert got["case-status-unique"].samples == [{"case_id": "c2", "status": "closed", "copies": 2}]
    assert report.rows == 8
    assert not report.valid


def test_default_dimensions_and_override() -> None:
    rules = load_rules(RULES_YAML + "  - {id: x, kind: not-null, column: n, dimension: accessibility}\n")
    dims = {r.id: r.dimension for r in rules}
    assert dims["case-id-present"] == dims["rows-between"] == "completeness"
    assert dims["case-id-unique"] == dims["priority-range"] == "accuracy"
    assert dims["status-known"] == dims["code-format"] == dims["id-no"] == "conformity"
    assert dims["dept-known"] == dims["closed-after-created"] == "consistency"
    assert dims["fresh-rows"] == "timeliness"
    assert dims["x"] == "accessibility"
    assert DIMENSIONS["accessibility"] == "可访问性" and len(DIMENSIONS) == 6


def test_all_row_rules_in_one_query_and_samples_only_for_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    queries: list[str] = []
    original = ibis.expr.types.Table.to_pyarrow

    def counting(self: Any, *a: Any, **kw: Any) -> Any:
        queries.append(ibis.to_sql(self))
        return original(self, *a, **kw)

    monkeypatch.setattr(ibis.expr.types.Table, "to_pyarrow", counting)
    t = ibis.memtable(CASES)
    passing = load_rules("""
rules:
  - {id: a, kind: not-null, column: n}
  - {id: b, kind: unique, column: n}
  - {id: c, kind: range, column: n, min: 1, max: 8}
  - {id: d, kind: in-set, column: n, values: [1, 2, 3, 4, 5, 6, 7, 8]}
  - {id: e, kind: pattern, column: case_id, regex: "c[0-9]"}
  - {id: f, kind: compare, column: n, op: ">", value: 0}
  - {id: g, kind: row-count, min: 8}
  - {id: h, kind: freshness, column: created_at, max_age_days: 30}
  - {id: i, kind: cn-mobile, column: phone, severity: warn}
  - {id: j, kind: not-null, column: code, threshold: 0.2}
  - {id: k, kind: unique, column: case_id, severity: warn}
""")
    report = run_rules(t, passing, context=RunContext(now=D(2026, 11, 20)))
    assert [r.id for r in report.rules if r.failed] == ["i", "j", "k"]
    assert report.valid  # i and k are warnings, j is within its threshold
    # one aggregate; the duplicated keys of k; one query with the failing rows of i and j, five each at most
    assert len(queries) == 3
    assert queries[0].count("SELECT") == 1 and "GROUP BY" in queries[1]
    assert queries[2].count("LIMIT 5") == 2 and "UNION ALL" in queries[2]
    assert {s["n"] for s in report.rules[8].samples} == {3, 5} and [s["n"] for s in report.rules[9].samples] == [4]
    queries.clear()
    run_rules(t, passing, context=RunContext(now=D(2026, 11, 20), sample_size=0))
    assert len(queries) == 1


class _Flagged(rule_kinds.ValueKind):
    """A third-party kind that adds a helper column in ``prepare`` and brings no sample query of its own."""

    name, name_zh, dimension = "flag-odd", "奇数", "accuracy"

    def prepare(self, target: rule_kinds.Target, rule: Rule) -> ibis.Table:
        t = target.table
        return t.mutate(**{f"{target.tag}_odd": t[rule.column] % 2 == 1})

    def bad(self, col: Any, rule: Rule, target: rule_kinds.Target) -> Any:
        return target.table[f"{target.tag}_odd"]


def test_samples_read_the_dataset_not_the_reference_join(monkeypatch: pytest.MonkeyPatch) -> None:
    queries: list[str] = []
    original = ibis.expr.types.Table.to_pyarrow

    def counting(self: Any, *a: Any, **kw: Any) -> Any:
        queries.append(ibis.to_sql(self, dialect="duckdb"))
        return original(self, *a, **kw)

    monkeypatch.setattr(ibis.expr.types.Table, "to_pyarrow", counting)
    monkeypatch.setitem(rule_kinds.rule_kinds(), "flag-odd", _Flagged())
    rules = load_rules("""
rules:
  - {id: dept-known, kind: reference, column: dept, dataset: departments, dataset_column: dept_id}
  - {id: priority-range, kind: range, column: priority, min: 1, max: 4}
  - {id: n-odd, kind: flag-odd, column: n}
""")
    ctx = RunContext(resolve={"departments": ibis.memtable(DEPTS)}.__getitem__, now=D(2026, 11, 20))
    report = run_rules(ibis.memtable(CASES), rules, context=ctx)
    got = {r.id: r for r in report.rules}
    # the counts over the joined table; the samples by hand: d9 (row 3) and d3 (row 7) are not departments
    assert (got["dept-known"].checked, got["dept-known"].failed) == (7, 2)
    assert {s["n"] for s in got["dept-known"].samples} == {3, 7}
    assert set(got["dept-known"].samples[0]) == set(CASES.column_names)  # the dataset's columns, no helper
    assert {s["n"] for s in got["priority-range"].samples} == {3, 5}
    assert {s["n"] for s in got["n-odd"].samples} == {1, 3, 5, 7}
    aggregate, *samples = queries
    assert "JOIN" in aggregate
    reference = next(q for q in samples if "ANTI JOIN" in q)
    assert reference.count("JOIN") == 1  # its own anti-join, limited
    union = next(q for q in samples if "UNION ALL" in q)
    # the range rule's branch reads the dataset itself, the third-party kind's (no sample query of its own) the
    # dataset with its own helper column only: not the reference rule's join
    assert "JOIN" not in union
    assert union.count("LIMIT 5") == 2 and '"n" % 2' in union
    assert len(samples) == 2


def test_run_context_defaults_and_unjudged_rules() -> None:
    t = ibis.memtable(CASES)
    report = run_rules(t, load_rules([{"id": "f", "kind": "freshness"}, {"id": "r", "kind": "row-count",
                                                                           "max_change": 0.1}]))
    f, r = report.rules
    assert (f.checked, f.failed, r.checked, r.failed) == (0, 0, 0, 0)
    assert "not judged" in (f.message or "") and "not judged" in (r.message or "")
    assert report.score is None and report.valid
    stale = run_rules(t, load_rules([{"id": "f", "kind": "freshness", "max_age_days": 1}]))
    assert (stale.rules[0].checked, stale.rules[0].failed) == (1, 1)  # no time known at all: not fresh


# ---- bad rules files -------------------------------------------------------------------------------------------


def _error(source: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        load_rules(source)
    return info.value


@pytest.mark.parametrize(("text", "named", "fix"), [
    ("rules: [{id: a, kind: not-nul, column: x}]", "rules[0] (id 'a'), field 'kind'", "not-null"),
    ("rules: [{id: ok, kind: not-null, column: x}, {id: b, kind: pattern, regex: '[0-9]+'}]",
     "rules[1] (id 'b'), field 'column'", "column: NAME"),
    ("rules: [{id: c, kind: in-set, column: x, values: open}]", "rules[0] (id 'c'), field 'values'", "values:"),
    ("rules: [{id: d, kind: range, column: x, min: true}]", "rules[0] (id 'd'), field 'min'", "min:"),
    ("rules: [{id: e, kind: pattern, column: x, regex: 5}]", "rules[0] (id 'e'), field 'regex'", "regex:"),
    ("rules: [{id: f, kind: pattern, column: x, regx: '[0-9]'}]", "rules[0] (id 'f'), field 'regx'", "regex"),
    ("rules: [{id: g, kind: not-null, column: x}, {id: g, kind: unique, column: y}]",
     "rules[1] (id 'g'), field 'id': duplicate id, also rules[0]", "own id"),
    ("rules: [{id: h, kind: not-null, column: x, dimension: beauty}]", "rules[0] (id 'h'), field 'dimension'",
     "conformity"),
    ("rules: [{id: i, kind: compare, column: x, op: '=>', other: y}]", "rules[0] (id 'i'), field 'op'", ">="),
    ("rules: [{id: j, kind: range, column: x}]", "rules[0] (id 'j'), field 'min'", "max"),
    ("rules: [{id: k, kind: unique}]", "rules[0] (id 'k'), field 'column'", "columns"),
    ("rules: [{id: l, kind: not-null, column: x, threshold: 2}]", "rules[0] (id 'l'), field 'threshold'", "0.01"),
    ("rules: [{id: m, kind: row-count, column: x, min: 1}]", "rules[0] (id 'm'), field 'column'", "remove"),
    ("rules: [{kind: not-null, column: x}]", "rules[0], field 'id'", "id:"),
])
def test_bad_rules_name_the_rule_the_field_and_the_fix(text: str, named: str, fix: str) -> None:
    err = _error(text)
    assert err.message.startswith(named), err.message
    assert err.fix and fix in err.fix
    assert err.details and err.details[0].startswith(named)


def test_every_problem_is_listed() -> None:
    err = _error([{"id": "a", "kind": "nope"}, {"id": "b", "kind": "in-set", "column": "x"}])
    assert "and 1 more problem" in err.message
    assert len(err.details) == 2 and "rules[1] (id 'b'), field 'values'" in err.details[1]


def test_files_and_text(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("rules:\n  - id: a\n    kind: not-null\n    column: x\n", encoding="utf-8")
    (tmp_path / "r.json").write_text(json.dumps({"rules": [{"id": "a", "kind": "not-null", "column": "x"}]}, indent="\t"))
    expected = [Rule(id="a", kind="not-null", dimension="completeness", column="x", params={})]
    assert load_rules(tmp_path / "r.yaml") == load_rules(str(tmp_path / "r.json")) == expected
    assert load_rules('[{"id": "a", "kind": "not-null", "column": "x"}]') == expected
    assert "does not exist" in _error(str(tmp_path / "missing.yaml")).message
    assert "not valid YAML" in _error("rules: [{id: a").message
    assert "list of rules" in _error("just text").message


def test_columns_missing_from_the_table_are_named() -> None:
    rules = load_rules("rules: [{id: ok, kind: not-null, column: n}, {id: late, kind: compare, column: created_at, "
                       "op: '<=', other: closd_at}]")
    with pytest.raises(InvalidInput) as info:
        run_rules(ibis.memtable(CASES), rules)
    assert info.value.message.startswith("rules[1] (id 'late'), field 'other': column 'closd_at' is not in")
    assert info.value.fix and "closed_at" in info.value.fix


def test_rules_built_in_code_are_checked_too() -> None:
    bad = Rule(id="x", kind="range", dimension="accuracy", column="n", params={"min": "1", "max": 0})
    with pytest.raises(InvalidInput, match="rules\\[0\\] \\(id 'x'\\), field 'max'"):
        run_rules(ibis.memtable(CASES), [bad])
    with pytest.raises(InvalidInput, match="field 'dataset'.*no resolver"):
        run_rules(ibis.memtable(CASES), load_rules("[{id: r, kind: reference, column: dept, dataset: d}]"))


def test_rules_that_do_not_suit_the_column_type_are_named() -> None:
    t = ibis.memtable(CASES)
    for text, field in [("[{id: a, kind: range, column: created_at, min: 3}]", "rules[0] (id 'a'): cannot be applied"),
                        ("[{id: b, kind: freshness, column: priority}]", "rule 'b', field 'column'"),
                        ("[{id: c, kind: range, column: created_at, min: soon}]", "rules[0] (id 'c'): cannot be")]:
        with pytest.raises(InvalidInput) as info:
            run_rules(t, load_rules(text))
        assert info.value.message.startswith(field), info.value.message
    # text values for a number column are compared as text, not refused by the engine
    got = run_rules(t, load_rules("[{id: d, kind: in-set, column: priority, values: ['1', '2', 3, 4]}]")).rules[0]
    assert (got.checked, got.failed) == (7, 2)  # 5 and 0


# ---- registry: a third party's kind arrives the way the built-ins do --------------------------------------------


class _Open(rule_kinds.ValueKind):
    """A kind measuring accessibility (可访问性): a value that says the resource is closed fails."""

    name, name_zh, dimension = "test-open", "可访问", "accessibility"

    def bad(self, col: Any, rule: Rule, target: rule_kinds.Target) -> Any:
        return col == "closed"


def test_a_registered_kind_runs_like_a_builtin() -> None:
    kind = rule_kinds.register_kind(_Open())
    try:
        with pytest.raises(Conflict):
            rule_kinds.register_kind(_Open())
        report = run_rules(ibis.memtable(CASES), load_rules("[{id: o, kind: test-open, column: status}]"))
        assert (report.rules[0].checked, report.rules[0].failed) == (7, 3)
        assert report.dimensions["accessibility"] == pytest.approx(100 * 4 / 7)
        assert set(rule_kinds.rule_kinds()) >= {"not-null", "cn-mobile", "row-count", "test-open"}
    finally:
        rule_kinds.rule_kinds().pop(kind.name)


# ---- the qsv oracles --------------------------------------------------------------------------------------------


def _read_csv(path: Path) -> pa.Table:
    """A CSV with every column as text and empty cells as null (how qsv validate sees them), plus ``_row``."""
    with path.open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in header}, strings_can_be_null=True)
    table = pacsv.read_csv(path, convert_options=convert)
    return table.append_column("_row", pa.array(range(1, table.num_rows + 1), pa.int64()))


def test_adur_public_toilets_as_qsv_validates_them(load: Load, shared_data: Path) -> None:
    folder = shared_data / "ukgov-tables-qsv"
    rules = rules_from_json_schema(json.loads((folder / "public-toilets-schema.json").read_text(encoding="utf-8")))
    report = run_rules(load(_read_csv(folder / "adur-public-toilets.csv")), rules, context=RunContext(sample_size=20))
    with (folder / "adur-public-toilets.expected-validation-errors.tsv").open(newline="", encoding="utf-8") as f:
        expected = {(int(r["row_number"]), r["field"]) for r in csv.DictReader(f, delimiter="\t")}
    found = {(s["_row"], r.column) for r in report.rules if r.failed for s in r.samples}
    assert found == expected == {(1, "ExtractDate"), (1, "OrganisationLabel"), (3, "CoordinateReferenceSystem"),
                                 (3, "Category")}
    assert sum(r.failed for r in report.rules) == len(expected)
    assert {r.id for r in report.rules if r.failed} == {"ExtractDate:required", "OrganisationLabel:required",
                                                        "CoordinateReferenceSystem:pattern", "Category:pattern"}
    assert report.rows == 15 and not report.valid
    # the other 13 rows are qsv's valid output, in order
    bad_rows = {row for row, _ in found}
    with (folder / "adur-public-toilets-valid.csv").open(newline="", encoding="utf-8") as f:
        valid_uprns = [r["UPRN"] for r in csv.DictReader(f)]
    with (folder / "adur-public-toilets.csv").open(newline="", encoding="utf-8") as f:
        ours = [r["UPRN"] for i, r in enumerate(csv.DictReader(f), start=1) if i not in bad_rows]
    assert ours == valid_uprns and len(ours) == 13


def test_json_schema_keywords_to_rules() -> None:
    schema = {"properties": {
        "age": {"type": "integer", "minimum": 0, "exclusiveMaximum": 150},
        "kind": {"type": ["string", "null"], "enum": ["a", "b", None]},
        "name": {"type": "string", "pattern": "^[A-Z]"},
    }, "required": ["age"]}
    rules = {r.id: r for r in rules_from_json_schema(schema)}
    assert set(rules) == {"age:required", "age:type", "age:minimum", "age:exclusiveMaximum", "kind:enum",
                          "name:required", "name:pattern"}
    t = ibis.memtable(pa.table({"age": ["10", "x", "150", None, "-1"], "kind": ["a", "c", None, "b", "a"],
                                "name": ["Ann", "bob", "Cy", None, "Di"]}))
    got = {r.id: (r.checked, r.failed) for r in run_rules(t, list(rules.values())).rules}
    assert got == {"age:required": (5, 1), "age:type": (4, 1), "age:minimum": (4, 2),  # "x" does not cast
                   "age:exclusiveMaximum": (4, 2), "kind:enum": (4, 1), "name:required": (5, 1),
                   "name:pattern": (4, 1)}


def test_boston311_dedup_counts_the_20_extra_copies(load: Load, shared_data: Path) -> None:
    folder = shared_data / "boston311-qsv"
    path = folder / "boston311-100-20dupes-random.csv"
    with path.open(newline="", encoding="utf-8") as f:
        records = [tuple(r) for r in csv.reader(f)][1:]
    with (folder / "boston311-100-deduped.csv").open(newline="", encoding="utf-8") as f:
        deduped = len(list(csv.reader(f))) - 1
    assert (len(records), len(set(records)), deduped) == (100, 80, 80)
    table = _read_csv(path).drop_columns(["_row"])
    rules = load_rules("""
rules:
  - {id: record, kind: unique, column: "*"}
  - {id: enquiry, kind: unique, column: case_enquiry_id}
""")
    report = run_rules(load(table), rules, context=RunContext(sample_size=100))
    record, enquiry = report.rules
    assert (record.checked, record.failed) == (100, len(records) - len(set(records))) == (100, 20)
    assert (enquiry.checked, enquiry.failed) == (100, 20)
    copies = {s["case_enquiry_id"]: s["copies"] for s in record.samples}
    expected = {}
    for r in set(records):
        if (n := records.count(r)) > 1:
            expected[r[0]] = n
    assert copies == expected and sum(n - 1 for n in copies.values()) == 20


# ---- identifier validators through rules ------------------------------------------------------------------------


def test_identifier_rules_agree_with_the_python_checks(load: Load) -> None:
    values = {kind: _candidates(kind) for kind in ID_CASES}
    size = max(len(v) for v in values.values()) + 3
    columns = {kind: [*v, *[None] * (size - len(v))] for kind, v in values.items()}
    table = pa.table({kind.replace("-", "_"): pa.array(col, pa.string()) for kind, col in columns.items()})
    rules = [{"id": k, "kind": k, "column": k.replace("-", "_")} for k in ID_CASES]
    report = run_rules(load(table), load_rules(rules), context=RunContext(now=D(2026, 11, 26, 9)))
    for r in report.rules:
        check = ID_CASES[r.kind][1]
        bad = sum(check(s) is not None for s in values[r.kind])
        assert (r.checked, r.failed) == (len(values[r.kind]), bad), r.kind
        assert 0 < bad < r.checked
        assert r.samples and all(check(s[r.kind.replace("-", "_")]) is not None for s in r.samples)


def test_identifier_generators_are_what_the_rules_check() -> None:
    assert credit_check(CREDIT_OK[:17]) == CREDIT_OK[17] and id_check(ID_OK[:17]) == ID_OK[17]
    assert D(2026, 11, 26).date() == TODAY  # the date the rules run with below


# ---- scores -------------------------------------------------------------------------------------------------------

SCORE_TABLE = pa.table({"a": pa.array([1, None, 3, 4], pa.int64()), "b": ["x", "y", "q", "z"],
                        "c": ["A1", "A2", "A3", "A4"]})
SCORE_RULES: list[dict[str, Any]] = [
    {"id": "a-present", "kind": "not-null", "column": "a", "weight": 2},  # 1 of 4 missing: 75
    {"id": "b-known", "kind": "in-set", "column": "b", "values": ["x", "y"]},  # 2 of 4 wrong: 50
    {"id": "c-format", "kind": "pattern", "column": "c", "regex": "A[0-9]", "weight": 3},  # 100
    {"id": "a-max", "kind": "range", "column": "a", "max": 3, "severity": "warn"},  # 1 of 3 too big: 66.67
    {"id": "fresh", "kind": "freshness"},  # no limit: not judged, no score
]


def test_scores_by_hand(load: Load) -> None:
    report = run_rules(load(SCORE_TABLE), load_rules(SCORE_RULES))
    assert [r.score for r in report.rules] == pytest.approx([75.0, 50.0, 100.0, 200 / 3, None])  # type: ignore[list-item]
    assert report.dimensions == pytest.approx({
        "completeness": 75.0,
        "conformity": (50 * 1 + 100 * 3) / 4,  # 87.5: weighted by rule
        "accuracy": 200 / 3,
        "consistency": None, "timeliness": None, "accessibility": None,
    })
    assert report.score == pytest.approx((75 * 2 + 50 * 1 + 100 * 3 + 200 / 3 * 1) / 7)  # 80.95
    assert not report.valid
    d = json.loads(json.dumps(report.to_dict()))
    assert d["valid"] is False and d["score"] == pytest.approx(report.score)
    assert d["dimensions"]["conformity"] == pytest.approx(87.5)
    assert [(r["id"], r["kind"], r["dimension"], r["failed"], r["checked"]) for r in d["rules"]] == [
        ("a-present", "not-null", "completeness", 1, 4), ("b-known", "in-set", "conformity", 2, 4),
        ("c-format", "pattern", "conformity", 0, 4), ("a-max", "range", "accuracy", 1, 3),
        ("fresh", "freshness", "timeliness", 0, 0)]
    assert d["rules"][0]["dimension_zh"] == "完整性" and d["rules"][0]["samples"] == [{"a": None, "b": "y", "c": "A2"}]


def test_thresholds_and_warnings_decide_validity(load: Load) -> None:
    rules = [dict(r) for r in SCORE_RULES]
    rules[0]["threshold"], rules[1]["threshold"] = 0.25, 0.5  # exactly the failed shares: allowed
    report = run_rules(load(SCORE_TABLE), load_rules(rules))
    assert report.valid  # a-max fails but is only a warning
    assert [r.passed for r in report.rules] == [True, True, True, False, True]
    rules[1]["threshold"] = 0.49
    assert not run_rules(load(SCORE_TABLE), load_rules(rules)).valid
