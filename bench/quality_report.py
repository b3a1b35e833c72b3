"""The "Data quality rules" section of ``bench/RESULTS.md``, written by ``bench/quality.py``."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

SPEED_TARGET_SQL = 1.5  # chengyun / hand-written SQL at most
SPEED_TARGET_GE = 5.0  # GX / chengyun at least
MEMORY_TARGET_MIB = 4e9 / 2**20  # "4 GB": 4 × 10⁹ bytes, 3,815 MiB (the stricter reading)
LABELS = {
    "chengyun": "chengyun `run_rules` (DuckDB), samples on (5 per failed rule, as in production)",
    "chengyun-counts": "chengyun `run_rules` (DuckDB), `sample_size=0`",
    "sql": "hand-written DuckDB SQL, one query",
}


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], capture_output=True, text=True,
                               cwd=Path(__file__).parent).stdout.strip()
        return sha + (" with uncommitted changes under src/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine(ge: dict[str, Any] | None) -> str:
    """CPU, cores, RAM, OS, Python and the engines' versions."""
    import duckdb
    import ibis
    import pandas
    import pyarrow

    from bench.common import hardware

    text = (f"{hardware()}, DuckDB {duckdb.__version__}, Ibis {ibis.__version__}, pandas {pandas.__version__}, "
            f"pyarrow {pyarrow.__version__}")
    if ge and ge["runs"]:
        v = ge["runs"][0]["versions"]
        text += f"; GX {v['great_expectations']} with pandas {v['pandas']} (its own venv)"
    return text


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return min(runs, key=lambda r: r["seconds"])


def _row(label: str, runs: list[dict[str, Any]], rows: int) -> str:
    best = _best(runs)
    each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
    peak = max(r["peak_mib"] for r in runs)
    return (f"| {label} | {rows:,} | {best['seconds']:.2f} | {each} | {best['cpu_s']:.2f} | "
            f"{rows / best['seconds'] / 1e6:.2f} | {peak:,.0f} |")


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def speed_lines(s: dict[str, Any]) -> list[str]:
    """The speed table, the ratios and the per-rule counts."""
    runs, rows = s["runs"], s["rows"]
    lines = ["| method | rows | best (s) | each run (s) | CPU of the best (s) | M rows/s | peak RSS (MiB) |",
             "|---|---:|---:|---|---:|---:|---:|"]
    lines += [_row(LABELS[m], rs, rows) for m, rs in runs.items() if rs]
    ge = s.get("ge")
    if ge and ge["runs"]:
        if ge["chengyun"]:
            lines.append(_row(LABELS["chengyun"] + f", on GX's {ge['rows']:,} rows", ge["chengyun"], ge["rows"]))
        lines.append(_row("Great Expectations 1.x, pandas (read + validate, `BASIC` results)", ge["runs"],
                          ge["rows"]))
    best = {m: _best(rs) for m, rs in runs.items() if rs}
    sql, cy, counts = best["sql"], best["chengyun"], best["chengyun-counts"]
    ratio, ratio0 = cy["seconds"] / sql["seconds"], counts["seconds"] / sql["seconds"]
    lines += ["", f"**chengyun / SQL = {ratio:.2f}×** with samples, {ratio0:.2f}× with `sample_size=0` (target ≤ "
              f"{SPEED_TARGET_SQL}×: {_verdict(ratio <= SPEED_TARGET_SQL)} with samples, "
              f"{_verdict(ratio0 <= SPEED_TARGET_SQL)} without); by CPU time {cy['cpu_s'] / sql['cpu_s']:.2f}× "
              f"and {counts['cpu_s'] / sql['cpu_s']:.2f}×."]
    if ge and ge["runs"]:
        g = _best(ge["runs"])
        mine = _best(ge["chengyun"]) if ge["chengyun"] else cy
        r = g["seconds"] / mine["seconds"]
        lines.append(f"**GX / chengyun = {r:.1f}×** at {ge['rows']:,} rows (target ≥ {SPEED_TARGET_GE:.0f}×: "
                     f"{_verdict(r >= SPEED_TARGET_GE)}), chengyun with samples; GX read the Parquet into pandas in "
                     f"{g['read_s']:.2f} s and validated in {g['validate_s']:.2f} s; by CPU time "
                     f"{g['cpu_s'] / mine['cpu_s']:.1f}×.")
    return lines + ["", *count_lines(s)]


def count_lines(s: dict[str, Any]) -> list[str]:
    """Each rule's checked and failed rows in every method."""
    from bench.quality import RULES, UNIQUE_RULE

    ref = s["sql_reference"]
    ge = s.get("ge") if s.get("ge") and s["ge"]["runs"] else None
    ge_same = ge is not None and ge["rows"] == s["rows"]
    head = "| rule | kind | checked | failed: chengyun | failed: SQL |" + (" failed: GX |" if ge_same else "")
    lines = [f"Failure counts at {s['rows']:,} rows (every run of every method; a difference is listed below and "
             "exits 1):", "", head, "|---|---|---:|---:|---:|" + ("---:|" if ge_same else "")]
    cy = s["runs"]["chengyun"][0]["counts"]
    for rule in RULES:
        checked, failed = ref["counts"][rule["id"]]
        cells = [rule["id"], rule["kind"], f"{checked:,}", f"{cy[rule['id']][1]:,}", f"{failed:,}"]
        if ge_same:
            cells.append(f"{ge['runs'][0]['counts'][rule['id']][1]:,}")
        lines.append("| " + " | ".join(cells) + " |")
    if ge:
        extra, rows_dup = ge["sql_reference"]["counts"][UNIQUE_RULE][1], ge["sql_reference"]["duplicated_rows"]
        gx_unique = ge["runs"][0]["counts"][UNIQUE_RULE][1]
        lines += ["", f"`{UNIQUE_RULE}` counts differently by design: chengyun fails the extra copies (rows − "
                  f"distinct values: {extra:,} at {ge['rows']:,} rows), GX's `expect_column_values_to_be_unique` "
                  f"every row of a duplicated value ({gx_unique:,}). The SQL computes both (the second in an "
                  f"untimed query, {rows_dup:,}); chengyun is checked against the first, GX against the second."]
    problems = s["problems"]
    lines += ["", "Agreement: " + ("every count of every run equal." if not problems else
                                   "**mismatches**: " + "; ".join(problems))]
    return lines


def profile_lines(p: dict[str, Any]) -> list[str]:
    """Each rule alone against its SQL."""
    lines = [f"Where chengyun's time goes — each rule alone, best of three, one thread over an in-memory copy of "
             f"{p['profile_rows']:,} rows (`--profile`):", "",
             "| rule | kind | chengyun s | SQL s | chengyun / SQL |", "|---|---|---:|---:|---:|"]
    total = [0.0, 0.0]
    for r in p["rules"]:
        total[0], total[1] = total[0] + r["chengyun_s"], total[1] + r["sql_s"]
        lines.append(f"| {r['rule']} | {r['kind']} | {r['chengyun_s']:.3f} | {r['sql_s']:.3f} | "
                     f"{r['chengyun_s'] / r['sql_s']:.2f}× |")
    lines.append(f"| **sum** | | {total[0]:.3f} | {total[1]:.3f} | {total[0] / total[1]:.2f}× |")
    return lines


def memory_lines(m: dict[str, Any]) -> list[str]:
    """The memory table at 100 M rows."""
    settings = (", ".join(f"{k} = {v}" for k, v in m["duckdb"].items()) or "DuckDB's default memory_limit of 80 % "
                "of RAM") + ", threads = cores"
    limit = m["duckdb"].get("memory_limit", "none")
    title = f"production settings (memory limit {limit})" if m["production"] else f"memory limit {limit}"
    lines = [f"### {m['rows']:,} rows: peak memory, {title}", "",
             f"File: {m['file_mib']:,.0f} MiB of Parquet (zstd, row groups of 1 M rows). DuckDB settings: {settings}. "
             "One run each, in a fresh process; peak RSS is the process's `ru_maxrss`.", "",
             "| method | seconds | CPU s | peak RSS (MiB) | under 4 GB (3,815 MiB) |", "|---|---:|---:|---:|---|"]
    for name, r in m["runs"].items():
        ok = "yes" if r["peak_mib"] < MEMORY_TARGET_MIB else "**no**"
        lines.append(f"| {LABELS[name]} | {r['seconds']:.2f} | {r['cpu_s']:.2f} | {r['peak_mib']:,.0f} | {ok} |")
    problems = m["problems"]
    lines += ["", "Agreement with the SQL: " + ("every count equal." if not problems else "; ".join(problems))]
    return lines


def section(result: dict[str, Any], args: Any) -> str:
    """The whole section, between its markers."""
    s, m = result["speed"], result["memory"]
    before, after = result["load_before"], result["load_after"]
    argv = " ".join(a for a in [f"--rows {args.rows}", f"--ge-rows {args.ge_rows}" if args.ge_rows else "",
                                "--no-ge" if args.no_ge else "", f"--memory-rows {args.memory_rows}",
                                f"--memory-limit '{args.memory_limit}'" if args.memory_limit is not None else "",
                                f"--repeats {args.repeats}", "--profile" if args.profile else ""] if a)
    lines = ["<!-- quality -->", "## Data quality rules", "",
             f"Run {result.get('started', '')}–{datetime.now():%H:%M} by `bench/quality.py {argv}` on chengyun `{_commit()}`, "
             f"{result['minutes']:.0f} minutes; {machine(s.get('ge') if s else None)}; 1-minute load average "
             f"{before[0]:.2f} before (5-minute {before[1]:.2f}) and {after[0]:.2f} after.", "",
             "A synthetic enterprise registry (`bench/quality_data.py`: 统一社会信用代码, 身份证号, 手机号, names, "
             "statuses, capital, opening and closing dates, postcodes, industry codes, with defects and "
             "duplicates) and twelve rules: not-null ×2, unique, cn-credit-code, cn-resident-id, cn-mobile, "
             "in-set, range, pattern, compare, reference (a 600-code industry table), row-count. Wall seconds "
             "include connecting and reading the Parquet (GX: `pd.read_parquet`); imports come before the clock. "
             "Each method had an untimed warm-up, then the timed runs interleaved."]
    if s:
        lines += ["", f"### {s['rows']:,} rows: speed and agreement", "",
                  f"File: {s['file_mib']:,.0f} MiB of Parquet.", "", *speed_lines(s)]
    if s and result.get("profile"):
        lines += ["", *profile_lines(result["profile"])]
    for run in m or []:
        lines += ["", *memory_lines(run)]
    return "\n".join(lines) + "\n<!-- /quality -->\n"
