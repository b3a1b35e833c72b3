"""Where chengyun's time goes in the quality benchmark (``bench/quality.py --profile``), run in a child process.

Each rule alone, chengyun's ``run_rules`` (``sample_size=0``) against its part of the hand-written query, on one
thread over an in-memory copy of the registry (no Parquet decoding, no parallelism: the cost of the expressions
themselves), best of three. The cost of the samples is the difference between the speed table's two chengyun rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
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


def per_rule(job: dict[str, Any], specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each rule alone, chengyun against its SQL, one thread, in memory."""
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
        seconds, _ = chengyun(spec)
        row = {"rule": spec["id"], "kind": spec["kind"], "chengyun_s": seconds,
               "sql_s": _best(lambda q=sql: raw.execute(q).fetchall())[0]}
        out.append(row)
    con.disconnect()
    return out
