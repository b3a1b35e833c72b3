"""The quality benchmark at toy size, so it cannot rot: its data exercises every rule, chengyun's ``run_rules`` and
the hand-written SQL count the same, GX's vectorised identifier checks decide as chengyun's validators do, and the
results section is written once. GX itself runs only when its environment (``bench/out/ge-venv``, made by
``bench/quality.py``) exists; without it these tests compare chengyun with the SQL only."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from bench.common import write_section

from bench import quality, quality_data, quality_ge, quality_report, quality_sql
from chengyun.catalog.validators import check_credit_code, check_mobile, check_resident_id, credit_check_char

ROWS = 20_000


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A toy registry and the industry table."""
    registry, industries, _ = quality_data.ensure(tmp_path_factory.mktemp("quality"), ROWS, seed=3, log=False)
    return registry, industries


@pytest.fixture(scope="module")
def sql(files: tuple[Path, Path]) -> dict[str, Any]:
    """The hand-written query's counts, with the rows of duplicated credit codes."""
    out = quality_sql.run(str(files[0]), str(files[1]), quality_data.TODAY)
    return out | {"method": "sql", "duplicated_rows": quality_sql.duplicated_rows(str(files[0]))}


def test_every_rule_finds_defects_in_the_data(sql: dict[str, Any]) -> None:
    assert sql["rows"] == ROWS
    for rule in quality.RULES:
        checked, failed = sql["counts"][rule["id"]]
        if rule["kind"] == "row-count":
            assert (checked, failed) == (1, 0)
        else:
            assert 0 < failed < checked, rule["id"]
    assert sql["duplicated_rows"] > sql["counts"][quality.UNIQUE_RULE][1]


@pytest.mark.parametrize("method", ["chengyun", "chengyun-counts"])
def test_chengyun_counts_what_the_sql_counts(files: tuple[Path, Path], sql: dict[str, Any], method: str) -> None:
    job = quality.job_for(*files) | quality.METHODS[method]
    run = quality.child_chengyun(job) | {"method": method}
    assert quality.disagreements(sql, run, method) == []
    assert (run["samples"] > 0) == (job["sample_size"] > 0)


def _edge_cases() -> dict[str, list[str]]:
    body = "91330106MA2B3C4D5"
    rid = "11010519491231002"
    rid_x = next(f"1101051949123100{i}" for i in range(10) if check_resident_id(f"1101051949123100{i}X") is None)
    return {
        "credit": [body + credit_check_char(body), body + "0", body.lower() + "X", "", "9" * 17, body + "Ｘ",
                   "Y1" + body[2:] + "0", "95" + body[2:] + "0", body[:9] + "I" + body[10:] + "0", "é" * 18],
        "resident": [rid + "X", rid + "1", rid_x + "X", rid_x + "x", "99" + rid[2:] + "0", "11010519490230002X",
                     "110105200002290021", "110105190002290021", "110105203001010021", "１" * 18, "110105490101002",
                     " " + rid + "X", ""],
        "mobile": ["13812345678", "+86 138 1234 5678", "138-1234-5678", "8613812345678", "+8613812345678",
                   "008613812345678", "12812345678", "1381234567", "0571-87654321", "+86+8613812345678",
                   "861381234567", "138\t12345678", "１３８１２３４５６７８", "(138)12345678", "+868613812345678", ""],
    }


def test_gx_identifier_checks_decide_as_chengyun_validators(files: tuple[Path, Path]) -> None:
    data = pd.read_parquet(files[0], columns=["credit_code", "legal_rep_id", "phone"])
    edge = _edge_cases()
    pairs = [
        (data["credit_code"].dropna().tolist() + edge["credit"], quality_ge.credit_code_valid, check_credit_code),
        (data["legal_rep_id"].dropna().tolist() + edge["resident"],
         lambda s: quality_ge.resident_id_valid(s, quality_data.TODAY),
         lambda v: check_resident_id(v, today=quality_data.TODAY)),
        (data["phone"].dropna().tolist() + edge["mobile"], quality_ge.mobile_valid, check_mobile),
    ]
    for values, vectorised, check in pairs:
        got = vectorised(pd.Series(values, dtype=object)).tolist()
        want = [check(v) is None for v in values]
        assert [v for v, g, w in zip(values, got, want, strict=True) if g != w] == []
        assert 0 < sum(got) < len(values)


def test_gx_counts_as_the_sql_counts(files: tuple[Path, Path], sql: dict[str, Any]) -> None:
    python = quality.GE_VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no GX environment at {quality.GE_VENV} (bench/quality.py creates it): chengyun is compared "
                    "with the SQL only")
    run = quality.run_ge(python, quality.job_for(*files))
    assert quality.disagreements(sql, run, "GX") == []
    assert run["counts"][quality.UNIQUE_RULE][1] == sql["duplicated_rows"]


def test_results_section_with_profile_is_replaced_not_repeated(files: tuple[Path, Path], sql: dict[str, Any],
                                                  tmp_path: Path) -> None:
    timing = {"seconds": 1.0, "cpu_s": 1.5, "peak_mib": 300.0}
    runs = {m: [sql | timing | {"method": m}] for m in quality.METHODS}
    speed = {"rows": ROWS, "file_mib": 1.0, "runs": runs, "problems": [], "sql_reference": sql}
    memory = {"rows": ROWS, "file_mib": 1.0, "duckdb": quality.duckdb_settings(quality.job_for(*files)),
              "production": True, "problems": [], "runs": {m: r[0] for m, r in runs.items()}}
    profile = quality.child_profile(quality.job_for(*files, profile_registry=str(files[0]), profile_rows=ROWS))
    assert {r["rule"] for r in profile["rules"]} == {r["id"] for r in quality.RULES}
    result = {"speed": speed, "memory": [memory], "profile": profile, "load_before": (0.5, 0.5, 0.5),
              "load_after": (0.6, 0.5, 0.5), "minutes": 1.0,
              "started": "2026-11-26 12:00"}
    args = argparse.Namespace(rows=ROWS, ge_rows=0, no_ge=True, memory_rows=ROWS, memory_limit=None, repeats=1,
                              profile=True)
    results = tmp_path / "RESULTS.md"
    results.write_text("# results\n\n<!-- case-import -->\nimport\n<!-- /case-import -->\n", encoding="utf-8")
    for _ in range(2):
        write_section(results, quality.MARK, quality_report.section(result, args))
    text = results.read_text(encoding="utf-8")
    assert text.count("<!-- quality -->") == 1 and text.count("## Data quality rules") == 1
    assert "<!-- case-import -->\nimport\n<!-- /case-import -->" in text
    assert "chengyun / SQL = 1.00×" in text and "every count of every run equal" in text
    assert "Where chengyun's time goes" in text and "production settings (memory limit 2.5GB)" in text
