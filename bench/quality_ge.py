"""The quality benchmark's Great Expectations run (GX 1.x, pandas engine), in its own virtual environment.

Run by ``bench/quality.py`` with the interpreter of ``bench/out/ge-venv`` (GX is not a dependency of chengyun and
would change its pinned versions): ``python bench/quality_ge.py JOB.json`` reads the registry Parquet into pandas,
validates the benchmark's rules as GX expectations and prints one JSON line: each rule's checked and failed rows,
and the seconds spent reading and validating. It imports nothing from chengyun.

The rules map to GX's own expectations where GX has one (not-null, unique, in-set, between, regex, column pair,
table row count). ``reference`` has no cross-table expectation in GX: the industry codes are read from their
Parquet file inside the clock and passed to ``expect_column_values_to_be_in_set``. The three identifier checks are
custom ``ColumnMapExpectation`` classes whose pandas conditions are the vectorised functions below — numpy over
the code points, not a Python call per value, so GX gets the fastest pandas form we could write. They decide as
``chengyun.catalog.validators`` does (``tests/bench/test_quality_bench.py`` checks them against it row by row).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])
CREDIT_TYPES = {"1": "1239", "2": "19", "3": "123459", "4": "19", "5": "1239", "6": "129", "7": "129", "8": "19",
                "9": "123", "A": "19", "N": "1239", "Y": "1"}  # GB 32100 登记管理部门 → 机构类别
RESIDENT_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
RESIDENT_CHECK = "10X98765432"
PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
             53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83]
MOBILE = r"(?:\+?86)?1[3-9][0-9]{9}"  # after removing spaces and hyphens: one +86 or 86 prefix, then 11 digits


def _codes(values: pd.Series, alphabet: str) -> tuple[np.ndarray, np.ndarray]:
    """For the values of length 18: which rows they are, and each character's index in ``alphabet`` (-1 if
    absent), as an (n, 18) matrix."""
    text = values.astype(object)
    long = (text.str.len() == 18).to_numpy(dtype=bool)
    points = np.array(text[long].tolist(), dtype="U18").view(np.uint32).reshape(-1, 18)
    table = np.full(128, -1, np.int64)
    table[[ord(c) for c in alphabet]] = np.arange(len(alphabet))
    return long, np.where(points < 128, table[points & 127], -1)


def credit_code_valid(values: pd.Series) -> pd.Series:
    """统一社会信用代码 (GB 32100): characters, registration authority and type, region digits, check character."""
    ok = np.zeros(len(values), bool)
    long, idx = _codes(values, CREDIT_ALPHABET)
    heads = np.zeros((31, 31), bool)
    for authority, types in CREDIT_TYPES.items():
        heads[CREDIT_ALPHABET.index(authority), [CREDIT_ALPHABET.index(t) for t in types]] = True
    shape = (idx >= 0).all(axis=1) & (idx[:, 2:8] < 10).all(axis=1)
    safe = np.maximum(idx, 0)
    check = safe[:, 17] == (31 - (safe[:, :17] @ CREDIT_WEIGHTS) % 31) % 31
    ok[long] = shape & heads[safe[:, 0], safe[:, 1]] & check
    return pd.Series(ok, index=values.index)


def resident_id_valid(values: pd.Series, today: date) -> pd.Series:
    """居民身份证号码 (GB 11643): 17 digits and a check character, the region, a real birth date in
    1900-01-01..today, the check character."""
    ok = np.zeros(len(values), bool)
    long, idx = _codes(values, "0123456789X")
    digits = np.maximum(idx[:, :17], 0)
    shape = (idx[:, :17] >= 0).all(axis=1) & (idx[:, :17] < 10).all(axis=1) & (idx[:, 17] >= 0)
    region = np.isin(digits[:, 0] * 10 + digits[:, 1], PROVINCES)
    y = digits[:, 6:10] @ np.array([1000, 100, 10, 1])
    m, d = digits[:, 10] * 10 + digits[:, 11], digits[:, 12] * 10 + digits[:, 13]
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = np.where(m == 2, np.where(leap, 29, 28), np.where(np.isin(m, [4, 6, 9, 11]), 30, 31))
    ymd = y * 10000 + m * 100 + d
    birth = (m >= 1) & (m <= 12) & (d >= 1) & (d <= days) & (ymd >= 19000101) & (ymd <= int(f"{today:%Y%m%d}"))
    check_values = np.array([int(c) if c != "X" else 10 for c in RESIDENT_CHECK])
    check = idx[:, 17] == check_values[(digits @ RESIDENT_WEIGHTS) % 11]
    ok[long] = shape & region & birth & check
    return pd.Series(ok, index=values.index)


def mobile_valid(values: pd.Series) -> pd.Series:
    """手机号码: without spaces and hyphens, an optional +86 or 86, then 1, 3-9 and nine digits."""
    text = values.astype(object).str.replace(" ", "", regex=False).str.replace("-", "", regex=False)
    return text.str.fullmatch(MOBILE).fillna(False).astype(bool)


def _custom_expectations(today: date) -> dict[str, Any]:
    """The three identifier expectations as GX ColumnMapExpectations (defined on first use: GX registers a class
    when it is created)."""
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import ColumnMapExpectation
    from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

    class ColumnValuesCnCreditCode(ColumnMapMetricProvider):
        condition_metric_name = "column_values.cn_credit_code"

        @column_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
            return credit_code_valid(column)

    class ColumnValuesCnResidentId(ColumnMapMetricProvider):
        condition_metric_name = "column_values.cn_resident_id"

        @column_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
            return resident_id_valid(column, today)

    class ColumnValuesCnMobile(ColumnMapMetricProvider):
        condition_metric_name = "column_values.cn_mobile"

        @column_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
            return mobile_valid(column)

    class ExpectColumnValuesToBeCnCreditCode(ColumnMapExpectation):
        """Values are valid 统一社会信用代码."""

        map_metric = "column_values.cn_credit_code"
        success_keys = ("mostly",)

    class ExpectColumnValuesToBeCnResidentId(ColumnMapExpectation):
        """Values are valid 居民身份证号码."""

        map_metric = "column_values.cn_resident_id"
        success_keys = ("mostly",)

    class ExpectColumnValuesToBeCnMobile(ColumnMapExpectation):
        """Values are valid 手机号码."""

        map_metric = "column_values.cn_mobile"
        success_keys = ("mostly",)

    return {"cn-credit-code": ExpectColumnValuesToBeCnCreditCode, "cn-resident-id": ExpectColumnValuesToBeCnResidentId,
            "cn-mobile": ExpectColumnValuesToBeCnMobile}


def expectation(rule: dict[str, Any], custom: dict[str, Any], reference: dict[str, list[str]]) -> Any:
    """The GX expectation for one of the benchmark's rules."""
    import great_expectations.expectations as gxe

    kind, col = rule["kind"], rule.get("column")
    if kind == "not-null":
        return gxe.ExpectColumnValuesToNotBeNull(column=col)
    if kind == "unique":
        return gxe.ExpectColumnValuesToBeUnique(column=col)
    if kind == "in-set":
        return gxe.ExpectColumnValuesToBeInSet(column=col, value_set=rule["values"])
    if kind == "range":
        return gxe.ExpectColumnValuesToBeBetween(column=col, min_value=rule.get("min"), max_value=rule.get("max"))
    if kind == "pattern":  # GX searches (str.contains): anchor it, as chengyun matches the whole value
        return gxe.ExpectColumnValuesToMatchRegex(column=col, regex=rf"^(?:{rule['regex']})\Z")
    if kind == "compare" and rule["op"] in (">=", ">"):
        return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=col, column_B=rule["other"], or_equal=rule["op"] == ">=", ignore_row_if="either_value_is_missing")
    if kind == "reference":
        return gxe.ExpectColumnValuesToBeInSet(column=col, value_set=reference[rule["dataset"]])
    if kind == "row-count":
        return gxe.ExpectTableRowCountToBeBetween(min_value=rule.get("min"), max_value=rule.get("max"))
    if kind in custom:
        return custom[kind](column=col)
    raise SystemExit(f"no GX expectation for rule {rule['id']!r} of kind {kind!r}")


def counts(result: Any) -> list[int]:
    """(checked, failed) from an expectation's result, as chengyun counts them (GX's unique: see the benchmark)."""
    r = result.result
    if "observed_value" in r and "element_count" not in r:  # a table-level expectation: one fact
        return [1, int(not result.success)]
    return [int(r["element_count"]) - int(r.get("missing_count") or 0), int(r["unexpected_count"])]


def main() -> None:
    """Read the job, validate, print the JSON result."""
    job = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    batch_definition = (context.data_sources.add_pandas("registry").add_dataframe_asset("registry")
                        .add_batch_definition_whole_dataframe("all"))
    custom = _custom_expectations(date.fromisoformat(job["today"]))
    t0, c0 = time.perf_counter(), time.process_time()
    reference = {name: pd.read_parquet(path, columns=[job["reference_column"]])[job["reference_column"]].tolist()
                 for name, path in job["references"].items()}
    df = pd.read_parquet(job["registry"])
    read_s = time.perf_counter() - t0
    suite = gx.ExpectationSuite(name="registry")
    for rule in job["rules"]:
        suite.add_expectation(expectation(rule, custom, reference)).meta = {"rule": rule["id"]}
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    results = batch.validate(suite, result_format=job.get("result_format", "BASIC"))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    by_rule = {res.expectation_config.meta["rule"]: counts(res) for res in results.results}
    print(json.dumps({"counts": by_rule, "rows": len(df), "seconds": seconds, "cpu_s": cpu, "read_s": read_s,
                      "validate_s": seconds - read_s, "versions": {"great_expectations": gx.__version__,
                                                                   "pandas": pd.__version__}}))


if __name__ == "__main__":
    main()
