"""Where chengyun's time goes in the quality benchmark (``bench/quality.py --profile``), run in a child process.

*Per rule*: each rule alone, chengyun's ``run_rules`` (``sample_size=0``) against its part of the hand-written
query, on one thread over an in-memory copy of the registry (no Parquet decoding, no parallelism: the cost of the
expressions themselves), best of three. Two changes to the validators are timed the same way, patched into this
process only: the single-regex ``mobile_valid`` the engine's author proposed, and the resident id's birth date read
with one cast of its eight digits instead of a ``find`` per digit.

*Samples*: the queries ``run_rules`` sends after its aggregate when rules fail, on the benchmark's file: the union
of failing-row queries as it builds it, the same union with DuckDB told not to materialise the shared
subquery, the union when the rule set has no ``reference`` rule (so no join), and ``unique``'s own sample query.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis

from bench import quality_sql

SQL_PART = {  # rule id → its expression in the hand-written query (reference: the join, below)
    "name-not-null": "count(*) FILTER (WHERE name IS NULL)",
    "credit-code-not-null": "count(*) FILTER (WHERE credit_code IS NULL)",
    "credit-code-unique": "count(credit_code) - count(DISTINCT credit_code)",
    "credit-code-valid": "count(*) FILTER (WHERE credit_ok(credit_code) IS NOT TRUE AND credit_code IS NOT NULL)",
    "legal-rep-id-valid": "count(*) FILTER (WHERE resident_ok(legal_rep_id, TIMESTAMP '{today}') IS NOT TRUE "
                          "AND legal_rep_id IS NOT NULL)",
    "phone-valid": "count(*) FILTER (WHERE NOT mobile_ok(phone))",
    "status-in-set": "count(*) FILTER (WHERE status NOT IN ({statuses}))",
    "capital-not-negative": "count(*) FILTER (WHERE registered_capital < 0)",
    "postcode-format": "count(*) FILTER (WHERE NOT regexp_full_match(postcode, '[1-9][0-9]{{5}}'))",
    "closed-after-opened": "count(*) FILTER (WHERE closed < opened)",
    "row-count": "count(*)",
}
REFERENCE_SQL = ("SELECT count(*) FILTER (WHERE industry IS NOT NULL AND ref.code IS NULL) FROM registry "
                 "LEFT JOIN (SELECT DISTINCT code FROM industries) AS ref ON registry.industry = ref.code")


def _best(run: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return best, out


def birth_by_cast(col: Any, today: Any) -> Any:
    """The resident id's birth date from one ``try_cast`` of characters 7-14 instead of a ``find`` per digit."""
    from chengyun.catalog.validators import EARLIEST_BIRTH

    ymd = col.substr(6, 8).try_cast("int64")  # null, never an error, where the shape check fails anyway
    y, m, d = ymd // 10000, ymd // 100 % 100, ymd % 100
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = ibis.cases((m == 2, leap.ifelse(29, 28)), (m.isin([4, 6, 9, 11]), 30), else_=31)
    bounds = (int(EARLIEST_BIRTH.strftime("%Y%m%d")), int(today.strftime("%Y%m%d")))
    return m.between(1, 12) & (d >= 1) & (d <= days) & ymd.between(*bounds)


@contextmanager
def proposal(kind: str, single_regex: Callable[[Any], Any]) -> Iterator[None]:
    """The proposed validator for ``kind`` patched in for the block (cn-mobile, cn-resident-id)."""
    import chengyun.catalog.validators as validators
    from chengyun.catalog.rule_kinds import rule_kinds

    mobile: Any = rule_kinds()["cn-mobile"]
    original, birth = mobile.validator, validators._birth_valid
    try:
        if kind == "cn-mobile":
            mobile.validator = replace(original, build=single_regex)
        elif kind == "cn-resident-id":
            validators._birth_valid = birth_by_cast  # looked up at call time by resident_id_valid
        yield
    finally:
        mobile.validator, validators._birth_valid = original, birth


def per_rule(job: dict[str, Any], specs: list[dict[str, Any]], single_regex: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """Each rule alone, chengyun against its SQL, one thread, in memory; the proposals beside the two validators."""
    from chengyun.catalog.rules import RunContext, load_rules, run_rules

    con = ibis.duckdb.connect(threads=1)
    raw = con.con
    raw.execute(f"CREATE TABLE registry AS SELECT * FROM read_parquet('{job['registry']}')")
    raw.execute(f"CREATE TABLE industries AS SELECT * FROM read_parquet('{job['references']['industries']}')")
    raw.execute(quality_sql.MACROS)
    table = con.table("registry")
    context = RunContext(resolve=lambda _name: con.table("industries"), now=datetime.fromisoformat(job["now"]),
                         sample_size=0)
    statuses = ", ".join(f"'{s}'" for s in next(r for r in specs if r["kind"] == "in-set")["values"])

    def chengyun(spec: dict[str, Any]) -> tuple[float, Any]:
        rules = load_rules({"rules": [spec]})
        return _best(lambda: [(r.checked, r.failed) for r in run_rules(table, rules, context=context).rules])

    out = []
    for spec in specs:
        sql = REFERENCE_SQL if spec["kind"] == "reference" else \
            f"SELECT {SQL_PART[spec['id']].format(today=job['today'], statuses=statuses)} FROM registry"
        seconds, counts = chengyun(spec)
        row = {"rule": spec["id"], "kind": spec["kind"], "chengyun_s": seconds,
               "sql_s": _best(lambda q=sql: raw.execute(q).fetchall())[0]}
        if spec["kind"] in ("cn-mobile", "cn-resident-id"):
            with proposal(spec["kind"], single_regex):
                row["proposal_s"], changed = chengyun(spec)
            row["proposal_same_counts"] = changed == counts
        out.append(row)
    con.disconnect()
    return out


def _union_sql(caught: dict[str, Any], n: int) -> str:
    """The failing-row union as ``run_rules`` builds it after its aggregate (a copy of ``_add_samples``)."""
    target = caught["target"]
    parts = [target.table.filter(plan.failing).select(*target.columns, __cy_rule=ibis.literal(i)).limit(n)
             for i, (result, plan) in enumerate(zip(caught["results"], caught["plans"], strict=True))
             if result.failed and plan.sample is None and plan.failing is not None]
    return str(ibis.to_sql(ibis.union(*parts, distinct=False), dialect="duckdb"))


def samples(job: dict[str, Any], specs: list[dict[str, Any]], n: int = 5) -> dict[str, float | None]:
    """One run of each of the sample queries on the benchmark's file, with the production engine."""
    import chengyun.catalog.rules as rules_module
    from chengyun.analytics.engine import DuckDBEngine

    engine = DuckDBEngine(Path(job["registry"]).parent)
    table = engine.con.read_parquet(job["registry"])
    context = rules_module.RunContext(resolve=lambda name: engine.con.read_parquet(job["references"][name]),
                                      now=datetime.fromisoformat(job["now"]), sample_size=n)
    caught: dict[str, Any] = {}
    original = rules_module._add_samples
    rules_module._add_samples = lambda results, plans, target, _n: caught.update(results=results, plans=plans,
                                                                                   target=target)
    try:
        out: dict[str, float | None] = {}
        out["aggregate_s"], _ = _best(lambda: rules_module.run_rules(
            table, rules_module.load_rules({"rules": specs}), context=context), 1)
        union = _union_sql(caught, n)
        raw = engine.con.con
        out["union_s"], _ = _best(lambda: raw.execute(union).fetchall(), 1)
        lazy = re.sub(r'^WITH ("t\d+") AS \(', r"WITH \1 AS NOT MATERIALIZED (", union, count=1)
        out["union_not_materialized_s"] = _best(lambda: raw.execute(lazy).fetchall(), 1)[0] if lazy != union else None
        unique = next(p for r, p in zip(caught["results"], caught["plans"], strict=True) if p.sample and r.failed)
        out["unique_sample_s"], _ = _best(lambda: unique.sample(n).to_pyarrow(), 1)
        rules_module.run_rules(table, rules_module.load_rules({"rules": [r for r in specs if r["kind"] != "reference"]}),
                               context=context)
        plain = _union_sql(caught, n)
        out["union_without_reference_s"], _ = _best(lambda: raw.execute(plain).fetchall(), 1)
    finally:
        rules_module._add_samples = original
        engine.close()
    return out
