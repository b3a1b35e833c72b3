"""Case import benchmark (历史案件导入基准): a deterministic 311-like CSV of one million rows, imported with the
``nyc311`` preset by ``chengyun.cases.importer.import_cases`` into SQLite (and PostgreSQL when
``CHENGYUN_TEST_DATABASE_URL`` is set), against two baselines run on the same file in the same run:

- DuckDB ``read_csv`` into a table (no parsing of the 311 date format, no checks, no indexes: the floor);
- pandas ``read_csv`` + ``to_sql`` into an unindexed SQLite table (what a script would do).

Each method runs in a fresh Python process, so its peak RSS is its own. Figures go to ``bench/RESULTS.md`` under
"Case import" (a new run replaces that section).

    .venv/bin/python bench/cases_import.py                  # 1,000,000 rows
    .venv/bin/python bench/cases_import.py --rows 100000    # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
RESULTS = BENCH / "RESULTS.md"
HEADER = ["Unique Key", "Created Date", "Closed Date", "Agency", "Complaint Type", "Descriptor", "Status",
          "Due Date", "Open Data Channel Type", "Incident Address", "Latitude", "Longitude"]
TYPES = [("NYPD", "Noise - Residential", "Loud Music/Party"), ("NYPD", "Illegal Parking", "Blocked Hydrant"),
         ("DSNY", "Dirty Conditions", "Trash"), ("DOT", "Street Light Condition", "Street Light Out"),
         ("DEP", "Water System", "Leak (Use Comments) (WA2)"), ("HPD", "HEAT/HOT WATER", "ENTIRE BUILDING"),
         ("DOT", "Street Condition", "Pothole"), ("NYPD", "Blocked Driveway", "No Access")]
CHANNELS = ["PHONE", "ONLINE", "MOBILE", "UNKNOWN"]
BAD_EVERY, DUP_EVERY, BACKWARDS_EVERY = 1000, 2000, 5000  # rejected dates, repeated ids, closed before created


def _us(t: datetime) -> str:
    return t.strftime("%m/%d/%Y %I:%M:%S %p")


def generate(path: Path, rows: int, seed: int = 7) -> dict[str, int]:
    """Write the CSV; return how many rows the import must reject and flag."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pv

    rng = np.random.default_rng(seed)
    start = datetime(2022, 1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    expected = {"rows": rows, "bad_date": 0, "duplicate": 0, "flagged": 0}
    chunk = 100_000
    schema = pa.schema([(h, pa.string()) for h in HEADER])
    with pv.CSVWriter(path, schema, write_options=pv.WriteOptions(quoting_style="needed")) as out:
        for lo in range(0, rows, chunk):
            n = min(chunk, rows - lo)
            i = np.arange(lo, lo + n)
            created = [start + timedelta(seconds=int(s)) for s in (i * 31 + rng.integers(0, 30, n))]
            hours = rng.exponential(30.0, n)
            closed_mask = rng.random(n) < 0.8
            kinds = rng.integers(0, len(TYPES), n)
            ids = (40_000_000 + i).astype(str).astype(object)
            closed = [(_us(c + timedelta(hours=float(h))) if m else "") for c, h, m in zip(created, hours, closed_mask, strict=True)]
            for k in np.flatnonzero(i % BACKWARDS_EVERY == 17):
                closed[k] = _us(created[k] - timedelta(hours=2))
                closed_mask[k] = True
            created_s = [_us(c) for c in created]
            for k in np.flatnonzero(i % BAD_EVERY == 5):
                created_s[k] = "not a date"
            for k in np.flatnonzero((i % DUP_EVERY == 11) & (i > 0)):
                ids[k] = ids[k - 1]
            expected["bad_date"] += int(np.sum(i % BAD_EVERY == 5))
            expected["duplicate"] += int(np.sum((i % DUP_EVERY == 11) & (i > 0)))
            expected["flagged"] += int(np.sum((i % BACKWARDS_EVERY == 17) & (i % BAD_EVERY != 5)))
            data = {
                "Unique Key": list(ids), "Created Date": created_s, "Closed Date": closed,
                "Agency": [TYPES[k][0] for k in kinds], "Complaint Type": [TYPES[k][1] for k in kinds],
                "Descriptor": [TYPES[k][2] for k in kinds],
                "Status": ["Closed" if m else "In Progress" for m in closed_mask],
                "Due Date": [""] * n, "Open Data Channel Type": [CHANNELS[c] for c in rng.integers(0, 4, n)],
                "Incident Address": [f"{a} BROADWAY" for a in rng.integers(1, 3000, n)],
                "Latitude": [f"{v:.6f}" for v in rng.uniform(40.5, 40.9, n)],
                "Longitude": [f"{v:.6f}" for v in rng.uniform(-74.2, -73.7, n)],
            }
            out.write_table(pa.table({h: pa.array(data[h], pa.string()) for h in HEADER}))
    return expected


# ---------------------------------------------------------------- child processes: one method each


def _child_chengyun(job: dict[str, Any]) -> dict[str, Any]:
    from chengyun.cases.importer import import_cases
    from chengyun.cases.service import CaseDesk
    from chengyun.core.db import migrate, session_scope
    from chengyun.core.settings import Settings
    from chengyun.tenancy.service import add_unit

    settings = Settings(workspace=Path(job["workspace"]), database_url=job.get("database_url"))
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id="nyc", name="New York City", timezone="America/New_York")
    desk = CaseDesk.for_settings(settings)
    t0, c0 = time.perf_counter(), time.process_time()
    with session_scope(settings) as s:
        res = import_cases(s, desk, Path(job["csv"]), "nyc311", "nyc",
                           rejects_path=Path(job["workspace"]) / "rejects.csv")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0  # including the commit
    return {"seconds": seconds, "cpu_s": cpu, "result": res.to_dict()}


def _child_duckdb(job: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(Path(job["workspace"]) / "duck.db"))
    t0, c0 = time.perf_counter(), time.process_time()
    con.execute(f"CREATE TABLE cases AS SELECT * FROM read_csv('{job['csv']}', header = true, all_varchar = true)")
    rows = con.execute("SELECT count(*) FROM cases").fetchone()[0]  # type: ignore[index]
    con.close()
    return {"seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "rows": rows}


def _child_pandas(job: dict[str, Any]) -> dict[str, Any]:
    import sqlite3

    import pandas as pd

    con = sqlite3.connect(str(Path(job["workspace"]) / "pandas.db"))
    t0, c0 = time.perf_counter(), time.process_time()
    rows = 0
    for frame in pd.read_csv(job["csv"], dtype=str, chunksize=100_000):
        for col in ("Created Date", "Closed Date"):
            frame[col] = pd.to_datetime(frame[col], format="%m/%d/%Y %I:%M:%S %p", errors="coerce")
        frame.to_sql("cases", con, if_exists="append", index=False)
        rows += len(frame)
    con.commit()
    con.close()
    return {"seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "rows": rows}


def _child_floor(job: dict[str, Any]) -> dict[str, Any]:
    """The same cases and events chengyun stored, inserted again with one ``executemany`` each into an empty copy
    of the schema (every index of ``cases``): what SQLite itself costs on this machine, with no work before it."""
    import sqlite3

    src = sqlite3.connect(job["source_db"])
    schema = [sql for (sql,) in src.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name IN ('cases', 'case_events') AND sql IS NOT NULL "
        "ORDER BY type = 'index'")]
    data = {t: src.execute(f"SELECT * FROM {t}").fetchall() for t in ("cases", "case_events")}
    src.close()
    con = sqlite3.connect(str(Path(job["workspace"]) / "floor.db"))
    con.execute("PRAGMA journal_mode=WAL")
    for sql in schema:
        con.execute(sql)  # foreign keys are not enforced on a plain connection: no unit table needed
    t0, c0 = time.perf_counter(), time.process_time()
    for table, rows in data.items():
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.commit()
    con.close()
    return {"seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "rows": len(data["cases"])}


CHILDREN = {"chengyun": _child_chengyun, "duckdb": _child_duckdb, "pandas": _child_pandas, "floor": _child_floor}


def _spawn(method: str, job: dict[str, Any]) -> dict[str, Any]:
    """Run one method in a fresh process; its result with the process's peak RSS."""
    cmd = [sys.executable, __file__, "--child", method, "--job", json.dumps(job)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)  # the child's own peak RSS, not the maximum over all children
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{method} failed (exit {proc.returncode})")
    data = json.loads(out.strip().splitlines()[-1])
    data["peak_rss_mib"] = usage.ru_maxrss / 1024
    return data


# ---------------------------------------------------------------- report


def machine() -> dict[str, str]:
    """CPU model, cores and the load while the benchmark ran."""
    from bench.evaluate import machine as full

    info = full()
    info["load average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return info


def section(rows: int, csv_mib: float, runs: dict[str, dict[str, Any]], expected: dict[str, int]) -> str:
    """The "Case import" section of RESULTS.md."""
    info = machine()
    when = datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        "## Case import",
        "",
        f"Run {when} by `bench/cases_import.py`: a synthetic 311-like CSV of **{rows:,} rows** ({csv_mib:.0f} MiB, "
        "12 columns, NYC date format `05/01/2022 12:00:03 AM`, seed 7) with a bad date every "
        f"{BAD_EVERY:,} rows, a repeated id every {DUP_EVERY:,} and a case closed before it was created every "
        f"{BACKWARDS_EVERY:,}. chengyun imports it with the `nyc311` preset (format inferred, New York time to UTC, "
        "value maps, checks, rejects file, one `import` event per case, all indexes of `cases` maintained) in one "
        "transaction; each method runs in a fresh process.",
        "",
        "| method | seconds | rows/s | CPU s | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    labels = {
        "chengyun-sqlite": "chengyun `import_cases` → SQLite",
        "chengyun-postgres": "chengyun `import_cases` → PostgreSQL (COPY)",
        "sqlite-floor": "SQLite floor: the stored cases and events re-inserted by one `executemany` each",
        "duckdb": "DuckDB `read_csv` → table (strings, no checks)",
        "pandas": "pandas `read_csv` + `to_sql` → SQLite (dates parsed, no checks, no indexes)",
    }
    for key, r in runs.items():
        lines.append(f"| {labels[key]} | {r['seconds']:.2f} | {rows / r['seconds']:,.0f} | {r['cpu_s']:.2f} | "
                     f"{r['peak_rss_mib']:.0f} |")
    lite = runs["chengyun-sqlite"]
    res = lite["result"]
    ratio_duck = lite["seconds"] / runs["duckdb"]["seconds"]
    ratio_pandas = runs["pandas"]["seconds"] / lite["seconds"]
    floor = runs["sqlite-floor"]
    target = "met" if rows / lite["seconds"] >= 50_000 else "missed"
    lines += [
        "",
        f"**chengyun → SQLite: {rows / lite['seconds']:,.0f} rows/s** (target ≥ 50,000: {target}) · "
        f"chengyun / DuckDB `read_csv` = {ratio_duck:.1f}× · pandas `to_sql` / chengyun = {ratio_pandas:.1f}× · "
        f"chengyun / SQLite floor = {lite['seconds'] / floor['seconds']:.1f}× (CPU {lite['cpu_s'] / floor['cpu_s']:.1f}×): "
        f"inserting the rows alone costs SQLite {floor['cpu_s'] / rows * 1e6:.0f} µs of CPU per case on this machine, "
        f"chengyun {lite['cpu_s'] / rows * 1e6:.0f} µs in all."
        + (" The floor itself is under the target: each case is a row of about 40 columns, an entry in every index "
           "of `cases` and an event row, and that is what SQLite spends the time on here."
           if rows / floor["seconds"] < 50_000 else ""),
        "",
        f"Counts (SQLite run): read {res['read']:,}, imported {res['imported']:,}, flagged {res['flagged']:,}, "
        f"rejected {res['rejected']:,} ({', '.join(f'{k} {v:,}' for k, v in res['reasons'].items())}); expected "
        f"{expected['bad_date']:,} bad dates, {expected['duplicate']:,} repeated ids, {expected['flagged']:,} flagged.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + ".",
    ]
    return "\n".join(lines)


def write_results(text: str) -> None:
    """Replace the "Case import" section of RESULTS.md (kept before *Findings*)."""
    begin, end = "<!-- case-import -->", "<!-- /case-import -->"
    block = f"{begin}\n{text}\n{end}"
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if begin in current and end in current:
        current = current[: current.index(begin)] + block + current[current.index(end) + len(end):]
    else:
        at = current.index("\n## Findings") if "\n## Findings" in current else len(current)
        current = current[:at].rstrip("\n") + "\n\n" + block + "\n" + current[at:]
    RESULTS.write_text(current, encoding="utf-8")


def main() -> None:
    """Generate the file once, run every method, check the counts, write RESULTS.md."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=BENCH / "out" / "cases-import")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of writing RESULTS.md")
    ap.add_argument("--child")
    ap.add_argument("--job")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](json.loads(args.job))))
        return
    csv_path = args.out / f"cases-{args.rows}.csv"
    meta = csv_path.with_suffix(".json")
    if not meta.exists() or not csv_path.exists():
        print(f"generating {csv_path} …", flush=True)
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps(generate(csv_path, args.rows)))
    expected = json.loads(meta.read_text())
    runs: dict[str, dict[str, Any]] = {}
    targets: list[tuple[str, str, str | None]] = [("chengyun-sqlite", "chengyun", None)]
    schema = None
    if os.environ.get("CHENGYUN_TEST_DATABASE_URL"):
        schema = f"bench_{os.getpid()}"
        targets.append(("chengyun-postgres", "chengyun", _pg_schema(schema, create=True)))
    targets += [("sqlite-floor", "floor", None), ("duckdb", "duckdb", None), ("pandas", "pandas", None)]
    for key, method, url in targets:
        ws = args.out / f"ws-{key}"
        shutil.rmtree(ws, ignore_errors=True)
        ws.mkdir(parents=True)
        print(f"running {key} …", flush=True)
        job = {"workspace": str(ws), "csv": str(csv_path), "database_url": url,
               "source_db": str(args.out / "ws-chengyun-sqlite" / "chengyun.db")}
        runs[key] = _spawn(method, job)
        print(f"  {runs[key]['seconds']:.2f} s, {args.rows / runs[key]['seconds']:,.0f} rows/s", flush=True)
        if key != "chengyun-sqlite":  # the floor re-inserts what chengyun stored
            shutil.rmtree(ws, ignore_errors=True)
    shutil.rmtree(args.out / "ws-chengyun-sqlite", ignore_errors=True)
    if schema:
        _pg_schema(schema, create=False)
    _check(runs, expected)
    text = section(args.rows, csv_path.stat().st_size / 2**20, runs, expected)
    if args.no_write:
        print(text)
    else:
        write_results(text)
        print(f"written: {RESULTS}")


def _check(runs: dict[str, dict[str, Any]], expected: dict[str, int]) -> None:
    """Every chengyun run must have read, rejected and flagged exactly what the generator planted."""
    for key, r in runs.items():
        if not key.startswith("chengyun"):
            continue
        res = r["result"]
        want = {"read": expected["rows"], "rejected": expected["bad_date"] + expected["duplicate"],
                "flagged": expected["flagged"]}
        got = {k: res[k] for k in want}
        if got != want:
            raise SystemExit(f"{key}: counts {got} ≠ expected {want}")


def _pg_schema(name: str, create: bool) -> str:
    """Create (or drop) a schema of the PostgreSQL test database for the run; the URL that points into it."""
    from sqlalchemy import create_engine, text

    base = os.environ["CHENGYUN_TEST_DATABASE_URL"]
    engine = create_engine(base)
    with engine.begin() as c:
        c.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        if create:
            c.execute(text(f"CREATE SCHEMA {name}"))
    engine.dispose()
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{name}"


if __name__ == "__main__":
    main()
