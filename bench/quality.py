"""Data-quality rules benchmark (数据质量规则基准), issue 6: chengyun's ``run_rules`` on DuckDB against the same rules
written by hand as one DuckDB SQL query and against Great Expectations 1.x (pandas), on the same Parquet file in
the same run, with identical failure counts; and the peak memory of chengyun's run at 100 million rows.

Targets: at 10 million rows and twelve rules, chengyun at least 5× faster than GX and at most 1.5× the hand-written
SQL; at 100 million rows, chengyun's peak RSS under 4 GB.

The data is a synthetic enterprise registry (``bench/quality_data.py``), generated once per size under
``bench/out/quality/``. chengyun runs as the catalogue's quality runs do (``catalog.quality.check``): the
production ``DuckDBEngine``, ``read_parquet`` of the snapshot and of the referenced dataset, ``run_rules`` with
samples of failing rows (``sample_size`` 5), and also with ``sample_size`` 0 (the counts alone, what the SQL
computes). The SQL is ``bench/quality_sql.py``; GX runs in its own virtual environment (``bench/out/ge-venv``,
created on first use with the pins below) through ``bench/quality_ge.py``. Every run is a fresh process (imports
before the clock), each method first gets an untimed warm-up, then the timed rounds interleave the methods; peak
RSS is the child's ``ru_maxrss`` from ``wait4``.

    .venv/bin/python bench/quality.py                               # 10 M rows, GX too, then 100 M for memory
    .venv/bin/python bench/quality.py --rows 1000000 --memory-rows 0 --no-write   # try the harness
    .venv/bin/python bench/quality.py --ge-rows 2000000             # GX on a smaller file of its own

Figures go to ``bench/RESULTS.md`` ("Data quality rules", replaced on each run) only when the 1-minute load
average was under 1.0 before the run (``--write-anyway`` overrides); otherwise the section is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # `bench.…` when run as a script
from bench import quality_data  # noqa: E402

RESULTS = BENCH / "RESULTS.md"
DATA = BENCH / "out" / "quality"
GE_VENV = BENCH / "out" / "ge-venv"
GE_REQUIREMENTS = [
    "great_expectations==1.24.1",  # the latest GX 1.x on PyPI when this benchmark was written (2026-11)
    "pandas==2.3.3",  # the project's pandas: GX's pandas engine runs the version chengyun's pandas baselines use
    "numpy==2.4.6",  # the project's numpy
    "pyarrow==22.0.0",  # reads the Parquet into pandas, the project's version
]
MARK = "quality"
LOAD_LIMIT = 1.0  # figures are recorded only from runs started below this 1-minute load average
NOW = datetime.combine(quality_data.TODAY, datetime.min.time(), tzinfo=UTC)
RULES: list[dict[str, Any]] = [
    {"id": "name-not-null", "kind": "not-null", "column": "name"},
    {"id": "credit-code-not-null", "kind": "not-null", "column": "credit_code"},
    {"id": "credit-code-unique", "kind": "unique", "column": "credit_code"},
    {"id": "credit-code-valid", "kind": "cn-credit-code", "column": "credit_code"},
    {"id": "legal-rep-id-valid", "kind": "cn-resident-id", "column": "legal_rep_id"},
    {"id": "phone-valid", "kind": "cn-mobile", "column": "phone"},
    {"id": "status-in-set", "kind": "in-set", "column": "status", "values": quality_data.STATUSES},
    {"id": "capital-not-negative", "kind": "range", "column": "registered_capital", "min": 0},
    {"id": "postcode-format", "kind": "pattern", "column": "postcode", "regex": "[1-9][0-9]{5}"},
    {"id": "closed-after-opened", "kind": "compare", "column": "closed", "op": ">=", "other": "opened"},
    {"id": "industry-known", "kind": "reference", "column": "industry", "dataset": "industries",
     "dataset_column": "code"},
    {"id": "row-count", "kind": "row-count", "min": 1},
]
UNIQUE_RULE = "credit-code-unique"
METHODS: dict[str, dict[str, Any]] = {  # name → what its child is told (labels: quality_report.LABELS)
    "chengyun": {"sample_size": 5},  # RunContext's default, as production runs
    "chengyun-counts": {"sample_size": 0},
    "sql": {},
}


# ---------------------------------------------------------------- children (each a fresh process)


def settings(job: dict[str, Any]) -> Any:
    """The settings of a workspace beside the data: production defaults, or the run's ``--memory-limit``."""
    from chengyun.core.settings import Settings

    limit = {} if job.get("memory_limit") is None else {"duckdb_memory_limit": job["memory_limit"]}
    return Settings(workspace=Path(job["registry"]).parent / "workspace", **limit)


def duckdb_settings(job: dict[str, Any]) -> dict[str, str]:
    """The same memory limit and spill folder for the hand-written SQL's connection."""
    s = settings(job)
    return {"memory_limit": s.duckdb_memory_limit, "temp_directory": str(s.spill_path)} if s.duckdb_memory_limit \
        else {}


def child_chengyun(job: dict[str, Any]) -> dict[str, Any]:
    """One ``run_rules`` as ``catalog.quality.check`` runs it: the production DuckDB engine and read_parquet."""
    import ibis.backends.duckdb  # noqa: F401  (imported before the clock, as every import is)

    from chengyun.analytics.engine import DuckDBEngine
    from chengyun.catalog.rules import RunContext, load_rules, run_rules

    rules = load_rules({"rules": job["rules"]})
    workspace = settings(job)
    t0, c0 = time.perf_counter(), time.process_time()
    engine = DuckDBEngine.from_settings(workspace)
    try:
        table = engine.con.read_parquet(job["registry"])
        context = RunContext(resolve=lambda name: engine.con.read_parquet(job["references"][name]),
                             now=datetime.fromisoformat(job["now"]), sample_size=job["sample_size"])
        report = run_rules(table, rules, context=context)
    finally:
        engine.close()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"counts": {r.id: [r.checked, r.failed] for r in report.rules}, "rows": report.rows, "seconds": seconds,
            "cpu_s": cpu, "samples": sum(len(r.samples) for r in report.rules)}


def child_sql(job: dict[str, Any]) -> dict[str, Any]:
    """The hand-written query, plus (untimed) the rows of duplicated credit codes that GX's unique counts."""
    import duckdb  # noqa: F401  (imported before the clock)

    from bench import quality_sql

    t0, c0 = time.perf_counter(), time.process_time()
    out = quality_sql.run(job["registry"], job["references"]["industries"], quality_data.TODAY,
                          duckdb_settings(job))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if job.get("duplicated_rows"):
        out |= {"duplicated_rows": quality_sql.duplicated_rows(job["registry"])}
    return out | {"seconds": seconds, "cpu_s": cpu}


def child_profile(job: dict[str, Any]) -> dict[str, Any]:
    """Where the time goes: each rule alone against its SQL (on the small file)."""
    from bench import quality_profile

    small = job | {"registry": job["profile_registry"]}
    return {"rules": quality_profile.per_rule(small, job["rules"]), "profile_rows": job["profile_rows"]}


def child(method: str, job_json: str) -> None:
    """Run one method once in this process; print its JSON result as the last line."""
    job = json.loads(job_json)
    run = {"sql": child_sql, "profile": child_profile}.get(method, child_chengyun)
    print(json.dumps(run(job)), flush=True)


def spawn(cmd: list[str]) -> dict[str, Any]:
    """Run a child; its JSON result with its peak RSS (MiB, ``ru_maxrss`` of that process alone)."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd[:4])} … failed (exit {os.waitstatus_to_exitcode(status)}):\n"
                             f"{err.read()[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]) | {"peak_mib": usage.ru_maxrss / 1024}


def job_for(registry: Path, industries: Path, **extra: Any) -> dict[str, Any]:
    """What a child needs: the files, the rules, the run's clock."""
    return {"registry": str(registry), "references": {"industries": str(industries)}, "reference_column": "code",
            "rules": RULES, "now": NOW.isoformat(), "today": quality_data.TODAY.isoformat(), **extra}


def run_method(method: str, job: dict[str, Any]) -> dict[str, Any]:
    """One run of a chengyun or SQL method in a fresh process."""
    args = job | METHODS[method]
    return spawn([sys.executable, __file__, "--child", method, "--job", json.dumps(args)]) | {"method": method}


# ---------------------------------------------------------------- Great Expectations


def ensure_ge_venv(venv: Path) -> Path:
    """The GX virtual environment's interpreter, created with the pinned versions when missing."""
    python = venv / "bin" / "python"
    stamp = venv / ".pins"
    if python.exists() and stamp.exists() and stamp.read_text() == "\n".join(GE_REQUIREMENTS):
        return python
    print(f"creating the Great Expectations environment in {venv} …", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *GE_REQUIREMENTS], check=True)
    stamp.write_text("\n".join(GE_REQUIREMENTS))
    return python


def run_ge(python: Path, job: dict[str, Any]) -> dict[str, Any]:
    """One GX validation in a fresh process of the GX environment."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(job | {"result_format": "BASIC"}, fh)
    try:
        return spawn([str(python), str(BENCH / "quality_ge.py"), fh.name]) | {"method": "ge"}
    finally:
        os.unlink(fh.name)


# ---------------------------------------------------------------- agreement


def disagreements(reference: dict[str, Any], run: dict[str, Any], label: str) -> list[str]:
    """Where a run's counts differ from the SQL's (GX's unique: from the rows of duplicated values)."""
    out = []
    for rule in RULES:
        want = list(reference["counts"][rule["id"]])
        if run["method"] == "ge" and rule["id"] == UNIQUE_RULE:
            want[1] = reference["duplicated_rows"]
        got = run["counts"].get(rule["id"])
        if got != want:
            out.append(f"{label}: {rule['id']} checked/failed {got}, SQL {want}")
    if run.get("rows", reference["rows"]) != reference["rows"]:
        out.append(f"{label}: {run['rows']} rows, SQL {reference['rows']}")
    return out


# ---------------------------------------------------------------- the runs


def speed(rows: int, seed: int, repeats: int, methods: list[str], ge: Path | None, ge_rows: int,
          ge_repeats: int) -> dict[str, Any]:
    """Warm-up, interleaved timed rounds at ``rows``; GX (with chengyun and SQL again when its size differs)."""
    registry, industries, generated = quality_data.ensure(DATA, rows, seed)
    job = job_for(registry, industries)
    out: dict[str, Any] = {"rows": rows, "generated_s": generated, "file_mib": registry.stat().st_size / 2**20,
                           "runs": {m: [] for m in methods}, "problems": []}
    reference = run_method("sql", job | {"duplicated_rows": True})  # warm-up of the page cache and the SQL
    out["sql_reference"] = reference
    for m in methods:
        if m != "sql":
            run_method(m, job)  # warm-up (the SQL's was its reference run)
    for r in range(repeats):
        for m in methods:
            run = run_method(m, job)
            out["runs"][m].append(run)
            out["problems"] += disagreements(reference, run, f"{m} run {r + 1}")
            print(f"{m:>24} run {r + 1}: {run['seconds']:.2f} s (CPU {run['cpu_s']:.2f} s), "
                  f"{run['peak_mib']:.0f} MiB, load {os.getloadavg()[0]:.2f}", flush=True)
    if ge is not None:
        out["ge"] = ge_runs(ge, ge_rows if ge_rows else rows, seed, ge_repeats, reference, job, rows)
        out["problems"] += out["ge"]["problems"]
    return out


def ge_runs(python: Path, rows: int, seed: int, repeats: int, reference: dict[str, Any], job: dict[str, Any],
            main_rows: int) -> dict[str, Any]:
    """GX on the file of ``rows``; chengyun (samples on) and the SQL on the same file when it is another size."""
    out: dict[str, Any] = {"rows": rows, "runs": [], "problems": [], "chengyun": None}
    if rows != main_rows:
        registry, industries, _ = quality_data.ensure(DATA, rows, seed)
        job = job_for(registry, industries)
        reference = run_method("sql", job | {"duplicated_rows": True})
        run_method("chengyun", job)  # warm-up
        out["chengyun"] = [run_method("chengyun", job) for _ in range(repeats)]
        out["problems"] += disagreements(reference, out["chengyun"][0], f"chengyun at {rows:,}")
    out["sql_reference"] = reference
    for r in range(repeats):
        run = run_ge(python, job)
        out["runs"].append(run)
        out["problems"] += disagreements(reference, run, f"GX run {r + 1}")
        print(f"{'great_expectations':>24} run {r + 1}: {run['seconds']:.2f} s (CPU {run['cpu_s']:.2f} s, "
              f"read {run['read_s']:.2f} s), {run['peak_mib']:.0f} MiB, load {os.getloadavg()[0]:.2f}", flush=True)
    return out


def memory(rows: int, seed: int, methods: list[str], memory_limit: str | None) -> dict[str, Any]:
    """One run of each method at ``rows`` (DuckDB limited as production is, or to ``memory_limit``): peak RSS and
    agreement."""
    registry, industries, generated = quality_data.ensure(DATA, rows, seed)
    job = job_for(registry, industries, memory_limit=memory_limit)
    out: dict[str, Any] = {"rows": rows, "generated_s": generated, "file_mib": registry.stat().st_size / 2**20,
                           "runs": {}, "problems": [], "duckdb": duckdb_settings(job),
                           "production": memory_limit is None}
    reference = run_method("sql", job)
    out["runs"]["sql"] = reference
    for m in methods:
        if m == "sql":
            continue
        run = run_method(m, job)
        out["runs"][m] = run
        out["problems"] += disagreements(reference, run, f"{m} at {rows:,}")
        print(f"{m:>24} at {rows:,}: {run['seconds']:.2f} s, peak {run['peak_mib']:.0f} MiB", flush=True)
    return out


def profile(rows: int, seed: int, profile_rows: int) -> dict[str, Any]:
    """The profile child: per rule on the file of ``profile_rows``, sample queries on the file of ``rows``."""
    registry, industries, _ = quality_data.ensure(DATA, rows, seed)
    small, _, _ = quality_data.ensure(DATA, profile_rows, seed)
    job = job_for(registry, industries, profile_registry=str(small), profile_rows=profile_rows)
    return spawn([sys.executable, __file__, "--child", "profile", "--job", json.dumps(job)])


def main() -> None:
    """Parse the options, run, compare, write or print the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of the speed comparison")
    ap.add_argument("--ge-rows", type=int, default=0, help="rows for GX (default: --rows)")
    ap.add_argument("--no-ge", action="store_true", help="leave Great Expectations out")
    ap.add_argument("--ge-venv", type=Path, default=GE_VENV)
    ap.add_argument("--ge-repeats", type=int, default=1)
    ap.add_argument("--memory-rows", type=int, default=100_000_000, help="rows of the memory run (0: none)")
    ap.add_argument("--memory-limit", default=None,
                    help="also run the memory test with this CHENGYUN_DUCKDB_MEMORY_LIMIT (e.g. 4GB; '' for "
                    "DuckDB's own default of 80 %% of RAM)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="also time each rule alone and the sample queries")
    ap.add_argument("--profile-rows", type=int, default=1_000_000, help="rows of the per-rule profile")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-write", action="store_true", help="print the section instead of writing RESULTS.md")
    ap.add_argument("--write-anyway", action="store_true", help="write RESULTS.md even after a busy start")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.job)
        return
    from bench import quality_report
    from bench.common import write_section

    load_before = os.getloadavg()
    ge = None if args.no_ge else ensure_ge_venv(args.ge_venv)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"load_before": load_before, "speed": None, "memory": None, "profile": None,
                              "started": f"{datetime.now():%Y-%m-%d %H:%M}"}
    if args.rows:
        result["speed"] = speed(args.rows, args.seed, args.repeats, list(METHODS), ge, args.ge_rows, args.ge_repeats)
    if args.rows and args.profile:
        result["profile"] = profile(args.rows, args.seed, args.profile_rows)
    if args.memory_rows:  # the production engine's settings, then (if asked) another memory limit
        limits = [None] + ([args.memory_limit] if args.memory_limit is not None else [])
        result["memory"] = [memory(args.memory_rows, args.seed, ["chengyun-counts", "chengyun"], limit)
                            for limit in limits]
    result["load_after"], result["minutes"] = os.getloadavg(), (time.perf_counter() - t0) / 60
    (DATA / "last-run.json").write_text(json.dumps(result, indent=1, default=str))
    section = quality_report.section(result, args)
    parts = [result["speed"]] + (result["memory"] or [])
    problems = [p for part in parts if part for p in part["problems"]]
    quiet = load_before[0] < LOAD_LIMIT
    if args.no_write or not (quiet or args.write_anyway):
        print(section)
        if not args.no_write:
            print(f"not written to {RESULTS}: the 1-minute load average was {load_before[0]:.2f} before the run "
                  f"(limit {LOAD_LIMIT}); run again on a quiet machine, or pass --write-anyway")
    else:
        write_section(RESULTS, MARK, section)
        print(f"written to {RESULTS}")
    for p in problems:
        print("MISMATCH", p)
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
