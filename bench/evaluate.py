"""The evaluation benchmark (评价基准): every measure the built-in packs use, for one quarter and the whole demo
city, computed three ways — chengyun (``run_measures`` on DuckDB through Ibis), hand-written DuckDB SQL and
pandas — timed, sized, and checked to agree value by value. Results go to ``bench/RESULTS.md``.

Every run is a fresh Python process (imports and plugin loading happen before the clock starts); each method
first gets one warm-up run so the OS page cache is equally warm for all, then three timed runs, interleaved
across methods. Peak RSS is the child's ``ru_maxrss`` as reported to the parent by ``wait4``.

    .venv/bin/python bench/evaluate.py --scale medium            # what ``make bench`` runs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # `bench.baselines` when run as a script

METHODS = {  # key: (label in the report, timed against the others)
    "chengyun": "chengyun `run_measures` (Ibis → DuckDB)",
    "sql": "hand-written DuckDB SQL, one query per table",
    "pandas": "pandas (pyarrow read, pandas compute)",
    "evaluate": "chengyun `evaluate_packs`, every pack (lake sync, union of measures once, scoring, storing)",
}
REL_TOL = 1e-9
RESULTS = BENCH / "RESULTS.md"


# ---------------------------------------------------------------- child process: one measured run


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def _chengyun_setup(job: dict[str, Any], on_engine: Any = None) -> Any:
    from chengyun.analytics.engine import connect
    from chengyun.analytics.runner import make_context, run_measures
    from chengyun.core.periods import parse_period
    from chengyun.core.settings import Settings
    from chengyun.indicators.catalog import available_packs

    available_packs()  # plugins and packs loaded, as in a running server
    settings = Settings(workspace=job["workspace"])
    period = parse_period(job["period"])

    def run() -> tuple[dict[str, Any], dict[str, Any]]:
        eng = connect(settings, "duckdb")
        if on_engine is not None:
            on_engine(eng)
        try:
            ctx = make_context(eng, job["tenants"], period, job["tz"], job["population"])
            res = run_measures(eng, job["measures"], ctx)
        finally:
            eng.close()
        rows = {t: n for r in res.values() for t, n in r.rows.items()}
        return {k: r.value for k, r in res.items()}, {"rows": rows}

    return run


def _evaluate_setup(job: dict[str, Any]) -> Any:
    import shutil

    from sqlalchemy.orm import sessionmaker

    from chengyun.analytics.engine import connect
    from chengyun.core.db import get_engine
    from chengyun.core.periods import parse_period
    from chengyun.core.settings import Settings
    from chengyun.indicators.catalog import available_packs
    from chengyun.indicators.service import evaluate_packs

    packs = sorted(available_packs())
    settings = Settings(workspace=job["workspace"])
    period = parse_period(job["period"])

    def run() -> tuple[dict[str, Any], dict[str, Any]]:
        with sessionmaker(bind=get_engine(settings.db_url))() as session:
            eng = connect(settings, "duckdb")
            try:  # the union of the packs' measures once, then each pack scored and stored (as the demo does)
                runs = evaluate_packs(
                    session=session,
                    settings=settings,
                    engine=eng,
                    pack_ids=packs,
                    tenant_id=job["city"],
                    period=period,
                )
                snapshots = [r.snapshot for r in runs]
            finally:
                eng.close()
                session.rollback()  # the benchmark leaves the workspace as it found it
        for folder in snapshots:
            shutil.rmtree(folder, ignore_errors=True)
        return {}, {}

    return run


def _baseline_setup(job: dict[str, Any], which: str) -> Any:
    from bench.baselines import Window, finish

    if which == "sql":
        from bench.baselines import sql as impl
    else:
        from bench.baselines import pandas_impl as impl  # type: ignore[no-redef]

    def run() -> tuple[dict[str, Any], dict[str, Any]]:
        w = Window.from_job(job)
        per_table: dict[str, float] = {}
        parts = impl.parts(w, timings=per_table)
        rows = {t: int(p.get("rows") or 0) for t, p in parts.items()}
        return finish(parts, w.population), {"rows": rows, "per_table": per_table}

    return run


def child(method: str, job_path: str, out_path: str) -> None:
    """Run one method once in this (fresh) process and write its time, values and memory as JSON."""
    job = json.loads(Path(job_path).read_text())
    if method == "chengyun":
        run = _chengyun_setup(job)
    elif method == "chengyun-profile":
        run = _profile_setup(job)
    elif method == "evaluate":
        run = _evaluate_setup(job)
    else:
        run = _baseline_setup(job, method)
    base = _rss_kb()
    c0, t0 = time.process_time(), time.perf_counter()
    values, extra = run()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {"seconds": seconds, "cpu_s": cpu, "rss_base_kb": base, "values": values, **extra}
    Path(out_path).write_text(json.dumps(out))


# ---------------------------------------------------------------- parent: workspace, job, runs


def ensure_workspace(ws: Path, scale: str, seed: int, today: date, console: Any) -> dict[str, Any]:
    """The demo workspace of this scale, generated once (its metadata kept in ``bench.json``)."""
    meta_path = ws / "bench.json"
    if meta_path.exists():
        return json.loads(meta_path.read_text())
    if ws.exists() and any(ws.iterdir()):
        raise SystemExit(
            f"{ws} exists but has no bench.json (not made by the benchmark): remove it or pass --workspace"
        )
    from chengyun.core.db import migrate, session_scope
    from chengyun.core.settings import Settings
    from chengyun.demo.generator import generate

    settings = Settings(workspace=ws)
    migrate(settings)
    console.print(f"generating the [bold]{scale}[/] demo city into {ws} (seed {seed}, today {today}) …")
    t0 = time.perf_counter()
    with _progress(console) as progress, session_scope(settings) as session:
        summary = generate(
            settings=settings, session=session, scale=scale, seed=seed, today=today, progress=progress
        )
    meta = {
        "scale": scale,
        "seed": seed,
        "today": today.isoformat(),
        "city": summary.city_id,
        "periods": [p.label for p in summary.periods],
        "rows": dict(summary.rows),
        "generation_s": round(time.perf_counter() - t0, 1),
        "generated_on": date.today().isoformat(),
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def latest_full_quarter(meta: dict[str, Any]) -> str:
    """The last of the demo's quarters that had ended by its ``today``."""
    from chengyun.core.periods import parse_period

    today = date.fromisoformat(meta["today"])
    full = [p for p in meta["periods"] if parse_period(p).end <= today]
    if not full:
        raise SystemExit(f"the demo has no full quarter before {today}: pass --period")
    return full[-1]


def make_job(ws: Path, meta: dict[str, Any], period_label: str) -> dict[str, Any]:
    """Everything a child needs: the city's tenants, population, period bounds and the packs' measures."""
    from chengyun.core.db import session_scope
    from chengyun.core.periods import parse_period
    from chengyun.core.settings import Settings
    from chengyun.indicators.catalog import available_packs
    from chengyun.tenancy.service import get_unit, subtree, subtree_population

    settings = Settings(workspace=ws)
    period = parse_period(period_label)
    with session_scope(settings) as session:
        unit = get_unit(session=session, unit_id=meta["city"])
        units = subtree(session=session, unit_id=unit.id)
        tz = unit.timezone or settings.timezone
        tenants, population = [u.id for u in units], subtree_population(units)
    start, end = period.bounds_utc(tz)
    packs = available_packs()
    measures = sorted(
        {n.measure for p in packs.values() for n in p.walk() if n.kind == "measure" and n.measure}
    )
    return {
        "workspace": str(ws),
        "lake": str(settings.lake),
        "city": meta["city"],
        "tenants": tenants,
        "population": population,
        "tz": tz,
        "period": period.label,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "measures": measures,
        "packs": sorted(packs),
    }


def spawn(method: str, job_path: Path, tmp: Path, tag: str) -> dict[str, Any]:
    """One run of ``method`` in a fresh process; its result plus the process's peak RSS (KiB)."""
    out, err = tmp / f"{method}-{tag}.json", tmp / f"{method}-{tag}.err"
    with open(err, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", method, "--job", str(job_path), "--out", str(out)],
            stdout=fh,
            stderr=fh,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{method} run failed (exit {proc.returncode}):\n{err.read_text()[-3000:]}")
    return json.loads(out.read_text()) | {"peak_kb": usage.ru_maxrss}


def _progress(console: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def run_all(
    job: dict[str, Any], methods: list[str], repeats: int, console: Any
) -> dict[str, list[dict[str, Any]]]:
    """A warm-up per method, then ``repeats`` timed rounds with the methods interleaved."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory(prefix="chengyun-bench-") as d, _progress(console) as progress:
        tmp = Path(d)
        job_path = tmp / "job.json"
        job_path.write_text(json.dumps(job))
        task = progress.add_task("runs", total=len(methods) * (repeats + 1))
        for rnd in range(repeats + 1):
            for m in methods:
                progress.update(task, description=f"{m} {'warm-up' if rnd == 0 else f'run {rnd}/{repeats}'}")
                r = spawn(m, job_path, tmp, str(rnd))
                if rnd:
                    runs[m].append(r)
                progress.advance(task)
    return runs


def run_profiles(job: dict[str, Any], repeats: int, console: Any) -> list[dict[str, Any]]:
    """``repeats`` instrumented chengyun runs (not timed against the others)."""
    out = []
    with tempfile.TemporaryDirectory(prefix="chengyun-bench-") as d, _progress(console) as progress:
        tmp = Path(d)
        (tmp / "job.json").write_text(json.dumps(job))
        for i in progress.track(range(repeats), description="profiling chengyun"):
            out.append(spawn("chengyun-profile", tmp / "job.json", tmp, str(i)))
    return out


# ---------------------------------------------------------------- checks and report


def same(a: float | None, b: float | None) -> bool:
    """Equal within REL_TOL relative (both missing counts as equal; missing and a number do not)."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)


def mismatches(job: dict[str, Any], runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every measure (and table row count) where a method or a repeat disagrees with chengyun's first run."""
    ref = runs["chengyun"][0]
    out = []
    for m, rs in runs.items():
        if m == "evaluate":
            continue
        for i, r in enumerate(rs):
            who = m if i == 0 else f"{m} (run {i + 1})"
            for name in job["measures"]:
                if name not in r["values"]:
                    out.append(f"{name}: {who} does not compute it")
                elif not same(ref["values"][name], r["values"][name]):
                    out.append(f"{name}: chengyun {ref['values'][name]!r} ≠ {who} {r['values'][name]!r}")
            for table, n in r.get("rows", {}).items():
                if table in ref["rows"] and ref["rows"][table] != n:
                    out.append(f"rows of {table}: chengyun {ref['rows'][table]} ≠ {who} {n}")
    return out


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python and engine versions."""
    import duckdb
    import ibis
    import pandas
    import pyarrow

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": f"{mem_kb / 1024**2:.1f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "DuckDB": duckdb.__version__,
        "Ibis": ibis.__version__,
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
    }


def _revision() -> str:
    """The commit measured and whether ``src/`` differs from it (read-only git), or "unknown"."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH.parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=BENCH.parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return f"`{head.stdout.strip()}`" + (" with uncommitted changes in src/" if dirty.stdout.strip() else "")


def _where(path: str) -> str:
    p = Path(path)
    return str(p.relative_to(BENCH.parent)) if p.is_relative_to(BENCH.parent) else str(p)


def _fmt_value(v: float | None) -> str:
    return "—" if v is None else f"{v:.6g}"


def render(
    scale: str,
    meta: dict[str, Any],
    job: dict[str, Any],
    runs: dict[str, list[dict[str, Any]]],
    bad: list[str],
    profile: str | None,
    load: tuple[float, float],
) -> str:
    """The RESULTS.md section of one scale."""
    best = {m: min(r["seconds"] for r in rs) for m, rs in runs.items()}
    lines = [
        f"## {scale}",
        "",
        f"Run {datetime.now().strftime('%Y-%m-%d %H:%M')} on chengyun {_revision()} · workspace "
        f"`{_where(job['workspace'])}` (seed {meta['seed']}, "
        f"demo today {meta['today']}, {sum(meta['rows'].values()) / 1e6:.1f} M lake rows, generated in "
        f"{meta['generation_s']:.0f} s) · period **{job['period']}** for the city `{job['city']}` "
        f"({len(job['tenants'])} tenants, population {job['population']:,}) · {len(job['measures'])} measures "
        f"used by {len(job['packs'])} packs.",
        "",
        "Rows in scope: " + ", ".join(f"{t} {n:,}" for t, n in runs["sql"][0]["rows"].items()) + ".",
        "",
        "| method | best (s) | each run (s) | CPU time of the best (s) | peak RSS (MiB) | RSS before the clock (MiB) |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for m, rs in runs.items():
        peak = max(r["peak_kb"] for r in rs) / 1024
        base = min(r["rss_base_kb"] for r in rs) / 1024
        each = ", ".join(f"{r['seconds']:.2f}" for r in rs)
        cpu = min(rs, key=lambda r: r["seconds"])["cpu_s"]
        lines.append(f"| {METHODS[m]} | {best[m]:.2f} | {each} | {cpu:.2f} | {peak:.0f} | {base:.0f} |")
    lines += ["", _ratios(runs), "", _agreement(job, bad), ""]
    if profile:
        lines += [profile, ""]
    lines += ["<details><summary>values (chengyun)</summary>", "", "| measure | value |", "|---|---:|"]
    lines += [f"| {n} | {_fmt_value(runs['chengyun'][0]['values'][n])} |" for n in job["measures"]]
    lines += [
        "",
        "</details>",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in machine().items()) + "; 1-minute load average "
        f"{load[0]:.1f} before the runs and {load[1]:.1f} after (other work on the machine shows as wall time "
        "well above CPU time).",
        "",
    ]
    return "\n".join(lines)


def _ratios(runs: dict[str, list[dict[str, Any]]]) -> str:
    """Wall-time ratios of the best runs (the targets), and the same ratios of CPU time (steadier under load)."""
    best = {m: min(rs, key=lambda r: r["seconds"]) for m, rs in runs.items()}
    cs, ps = (
        best["chengyun"]["seconds"] / best["sql"]["seconds"],
        best["pandas"]["seconds"] / best["chengyun"]["seconds"],
    )
    cpu = {m: min(r["cpu_s"] for r in rs) for m, rs in runs.items()}
    text = (
        f"**chengyun / SQL = {cs:.2f}×** (target ≤ 1.3×: {'met' if cs <= 1.3 else 'missed'}) · "
        f"**pandas / chengyun = {ps:.1f}×** (target ≥ 10×: {'met' if ps >= 10 else 'missed'})"
    )
    if "evaluate" in best:
        ec = best["evaluate"]["seconds"] / best["chengyun"]["seconds"]
        text += f" · **evaluate / chengyun = {ec:.2f}×** (target ≤ 1.2×: {'met' if ec <= 1.2 else 'missed'})"
    text += (
        f". By least CPU time: chengyun / SQL = {cpu['chengyun'] / cpu['sql']:.2f}×, "
        f"pandas / chengyun = {cpu['pandas'] / cpu['chengyun']:.1f}×"
    )
    if "evaluate" in cpu:
        text += f", evaluate / chengyun = {cpu['evaluate'] / cpu['chengyun']:.2f}×"
    return text + "."


def _agreement(job: dict[str, Any], bad: list[str]) -> str:
    n = len(job["measures"])
    if not bad:
        return (
            f"Agreement: all {n} measures equal in chengyun, SQL and pandas, in every run "
            f"(relative tolerance {REL_TOL:g}), and the row counts per table agree."
        )
    return f"**Mismatches ({len(bad)})**, relative tolerance {REL_TOL:g}:\n\n" + "\n".join(
        f"- {b}" for b in bad
    )


def write_results(scale: str, section: str) -> None:
    """Replace this scale's section of RESULTS.md, keeping the others and any hand-written notes."""
    head = (
        "# Evaluation benchmark results\n\nWritten by `bench/evaluate.py` (see `bench/README.md`); one section per "
        "scale, replaced on each run. Hand-written notes live under *Findings*.\n"
    )
    text = RESULTS.read_text() if RESULTS.exists() else head
    begin, end = f"<!-- scale:{scale} -->", f"<!-- /scale:{scale} -->"
    block = f"{begin}\n{section}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        marker = "\n## Findings"
        at = text.index(marker) if marker in text else len(text)
        text = text[:at].rstrip("\n") + "\n\n" + block + "\n" + text[at:]
    RESULTS.write_text(text)


# ---------------------------------------------------------------- profile of chengyun's path


def _profile_setup(job: dict[str, Any]) -> Any:
    """chengyun's run with every file listing, view creation and query timed and labelled."""
    import dataclasses

    from chengyun.analytics.registry import get_registry

    reg = get_registry()
    log: list[dict[str, Any]] = []
    current = {"label": ""}

    def labelled(name: str, fn: Any) -> Any:
        def custom(ctx: Any) -> Any:
            current["label"] = f"custom {name}"
            return fn(ctx)

        return custom

    for name, m in list(reg.measures.items()):
        if m.custom is not None:
            reg.measures[name] = dataclasses.replace(m, custom=labelled(name, m.custom))
    run_plain = _chengyun_setup(job, on_engine=lambda eng: _instrument(eng, log, current))

    def run() -> tuple[dict[str, Any], dict[str, Any]]:
        values, extra = run_plain()
        return values, extra | {"log": log}

    return run


def _instrument(eng: Any, log: list[dict[str, Any]], current: dict[str, str]) -> None:
    """Wrap the engine's file listing, view creation and execution with timers."""
    import re

    files, read, execute = eng._files, eng._read, eng.execute

    def timed(step: str, table: str, fn: Any, *a: Any) -> Any:
        t0 = time.perf_counter()
        out = fn(*a)
        log.append({"step": step, "tables": [table], "seconds": time.perf_counter() - t0, "compile": 0.0})
        return out

    def timed_execute(expr: Any) -> Any:
        t0 = time.perf_counter()
        sql = str(eng.con.compile(expr))
        t1 = time.perf_counter()
        out = execute(expr)
        tables = sorted(set(re.findall(r"/([a-z_]+)/tenant=", sql)))  # Ibis inlines each view's file list
        label, current["label"] = current["label"] or f"inputs on {', '.join(tables)}", ""
        log.append(
            {
                "step": "query",
                "label": label,
                "tables": tables,
                "compile": t1 - t0,
                "seconds": time.perf_counter() - t1,
            }
        )
        return out

    eng._files = lambda table, *a: timed("list", table, files, table, *a)
    eng._read = lambda table, paths: timed("view", table, read, table, paths)
    eng.execute = timed_execute


def _group(tables: list[str]) -> str:
    """Lake tables as the hand-written SQL batches them (a joined table shares its partner's query)."""
    for pair in (("telemetry", "assets"), ("datasets", "dataset_updates")):
        if set(tables) & set(pair):
            return " + ".join(pair)
    return tables[0] if tables else "?"


def _profile_rows(log: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for e in log:
        r = rows.setdefault(_group(e["tables"]), {"queries": 0, "query": 0.0, "compile": 0.0, "files": 0.0})
        if e["step"] == "query":
            r["queries"] += 1
            r["query"] += e["seconds"]
            r["compile"] += e["compile"]
        else:
            r["files"] += e["seconds"]
    return rows


def render_profile(profiles: list[dict[str, Any]], sql_runs: list[dict[str, Any]]) -> str:
    """chengyun's time per group of lake tables (the minimum over the profiled runs) beside the SQL baseline's."""
    per_run = [_profile_rows(p["log"]) for p in profiles]
    sql = [{_group([t]): 0.0 for t in r["per_table"]} for r in sql_runs]
    for run, r in zip(sql, sql_runs, strict=True):
        for t, sec in r["per_table"].items():
            run[_group([t])] += sec
    whole = ", ".join(f"{p['seconds']:.2f}" for p in profiles)
    lines = [
        f"Where the time goes — minimum per step over {len(profiles)} instrumented chengyun runs "
        f"(whole runs {whole} s) and over the {len(sql_runs)} SQL runs. "
        "chengyun's query time includes Ibis compilation (shown again on its own); *files* is listing the "
        "partitions and building the scan (`Engine._files` and `_read`), which chengyun does at every table access.",
        "",
        "| lake tables | chengyun queries | chengyun query s | of which compile s | chengyun files s | SQL query s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    tot = {"queries": 0.0, "query": 0.0, "compile": 0.0, "files": 0.0, "sql": 0.0}
    for g in sorted(per_run[0], key=lambda g: -per_run[0][g]["query"]):
        row = {
            k: min(r.get(g, {}).get(k, 0.0) for r in per_run)
            for k in ("queries", "query", "compile", "files")
        }
        row["sql"] = min(r.get(g, 0.0) for r in sql)
        tot = {k: tot[k] + row[k] for k in tot}
        lines.append(
            f"| {g} | {row['queries']:.0f} | {row['query']:.2f} | {row['compile']:.2f} | {row['files']:.2f} "
            f"| {row['sql']:.2f} |"
        )
    lines.append(
        f"| **total** | {tot['queries']:.0f} | {tot['query']:.2f} | {tot['compile']:.2f} | "
        f"{tot['files']:.2f} | {tot['sql']:.2f} |"
    )
    slow = max(profiles, key=lambda p: p["seconds"])
    labels = sorted((e for e in slow["log"] if e["step"] == "query"), key=lambda e: -e["seconds"])[:4]
    lines += [
        "",
        "Slowest chengyun queries (one run): "
        + ", ".join(f"{e['label']} {e['seconds']:.2f} s" for e in labels)
        + ".",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def _table(runs: dict[str, list[dict[str, Any]]], console: Any) -> None:
    from rich.table import Table

    t = Table("method", "best (s)", "runs (s)", "peak RSS (MiB)", title="evaluation benchmark")
    for m, rs in runs.items():
        t.add_row(
            METHODS[m],
            f"{min(r['seconds'] for r in rs):.2f}",
            ", ".join(f"{r['seconds']:.2f}" for r in rs),
            f"{max(r['peak_kb'] for r in rs) / 1024:.0f}",
        )
    console.print(t)


def main(argv: list[str] | None = None) -> int:
    """Benchmark one scale and write its section of RESULTS.md; exit 1 when any value disagrees."""
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--scale",
        default="medium",
        choices=["tiny", "small", "medium", "large"],
        help="demo size (default medium)",
    )
    ap.add_argument(
        "--seed", type=int, default=7, help="demo seed when the workspace is generated (default 7)"
    )
    ap.add_argument(
        "--workspace", type=Path, help="demo workspace (default bench/out/<scale>; generated once if absent)"
    )
    ap.add_argument(
        "--period", help="quarter to evaluate, e.g. 2026Q3 (default: the demo's latest full quarter)"
    )
    ap.add_argument(
        "--today", type=date.fromisoformat, default=date.today(), help="demo 'today' when generating"
    )
    ap.add_argument(
        "--repeats", type=int, default=3, help="timed runs per method after the warm-up (default 3)"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.job, args.out)
        return 0
    from rich.console import Console

    console = Console()
    ws = (args.workspace or BENCH / "out" / args.scale).resolve()
    meta = ensure_workspace(ws, args.scale, args.seed, args.today, console)
    job = make_job(ws, meta, args.period or latest_full_quarter(meta))
    console.print(
        f"{job['period']} · {job['city']} ({len(job['tenants'])} tenants) · {len(job['measures'])} measures "
        f"· {sum(meta['rows'].values()):,} lake rows (generated in {meta['generation_s']} s)"
    )
    load0 = os.getloadavg()[0]
    runs = run_all(job, list(METHODS), args.repeats, console)
    profiles = run_profiles(job, args.repeats, console)
    (ws / "last-runs.json").write_text(
        json.dumps({"job": job, "runs": runs, "profiles": profiles})
    )  # for a re-render
    bad = mismatches(job, runs)
    _table(runs, console)
    console.print(_ratios(runs).replace("**", ""))
    for b in bad:
        console.print(f"[red]mismatch[/] {b}")
    if not bad:
        console.print(f"[green]all {len(job['measures'])} measures agree across chengyun, SQL and pandas[/]")
    profile = render_profile(profiles, runs["sql"])
    load = (load0, os.getloadavg()[0])
    write_results(args.scale, render(args.scale, meta, job, runs, bad, profile, load))
    console.print(f"written: {RESULTS}")
    return int(bool(bad))


if __name__ == "__main__":
    sys.exit(main())
