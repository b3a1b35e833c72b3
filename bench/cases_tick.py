"""The SLA tick benchmark (时限巡检基准): one full ``run_tick`` over a million open cases, against the same breach
detection written by hand as one SQL ``UPDATE``. Results are appended to ``bench/RESULTS.md``.

The cases are synthetic and deterministic (``--seed``), inserted in bulk with SQLAlchemy Core, one 'accept' event
each so the event table is as large as the case table. Due times spread from 120 h overdue to 480 h ahead, so a
fifth of the cases are overdue: the first tick (*cold*) finds a whole backlog to flag and escalate, the worst case;
a second tick at the same time must change nothing; a tick 15 minutes later (*steady*) is what cron sees every run.
The baseline runs first, on the same rows, in a transaction that is rolled back.

    .venv/bin/python bench/cases_tick.py                       # SQLite, and PostgreSQL when
    CHENGYUN_TEST_DATABASE_URL=postgresql+psycopg://… .venv/bin/python bench/cases_tick.py   # the URL is set
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # `bench.common` when run as a script
from bench.common import hardware, pg_schema  # noqa: E402

RESULTS = BENCH / "RESULTS.md"
NOW = datetime(2026, 11, 26, 2, 0)
STATUSES = [("accepted", 4), ("dispatched", 20), ("in_progress", 57), ("returned", 4), ("suspended", 15)]
OPEN_SQL = "('accepted', 'dispatched', 'in_progress', 'returned')"
BASELINE = f"UPDATE cases SET breached = TRUE, updated_at = :now WHERE status IN {OPEN_SQL} AND due_at < :now " \
           "AND NOT breached"


def rows(n: int, seed: int, chunk: int) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Cases and their 'accept' events, ``chunk`` at a time."""
    rnd = random.Random(seed)
    weights = [w for _s, w in STATUSES]
    cases: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i in range(n):
        status = rnd.choices(STATUSES, weights)[0][0]
        fresh = status in ("accepted", "dispatched")  # waiting for dispatch or a department's answer: recent
        created = NOW - timedelta(hours=rnd.uniform(0.1, 24 if fresh else 600))
        due = NOW + timedelta(hours=rnd.uniform(-120, 480))
        responded = status in ("in_progress", "returned") or (status == "suspended" and rnd.random() < 0.8)
        cid = f"{rnd.getrandbits(64):016x}"  # random, like the service's uuid4 ids: no help from insertion order
        cases.append({
            "id": cid, "tenant_id": f"d{i % 10}", "channel": "hotline", "source": "bench", "category": "E0101",
            "priority": "normal", "status": status, "created_at": created, "department_id": f"dept{i % 20}",
            "dispatched_at": None if status == "accepted" else created + timedelta(minutes=10),
            "responded_at": created + timedelta(hours=1) if responded else None,
            "response_due_at": None if status == "suspended" else created + timedelta(hours=rnd.choice([2, 24])),
            "due_at": None if status == "suspended" else due,
            "paused_since": NOW - timedelta(hours=3) if status == "suspended" else None,
            "lat": 31.0 + rnd.random() * 0.5, "lon": 121.2 + rnd.random() * 0.5, "extension": 0.0,
            "returned_count": 0, "reopened_count": 0, "escalation_level": 0, "breached": False,
            "inconsistent": False, "updated_at": created,
        })
        events.append({"case_id": cid, "at": created, "actor": "bench", "action": "accept", "to_status": "accepted"})
        if len(cases) == chunk:
            yield cases, events
            cases, events = [], []
    if cases:
        yield cases, events


def populate(url: str, n: int, seed: int, workspace: Path) -> float:
    """Migrate, add the units and departments, insert the cases; seconds spent inserting."""
    from chengyun.cases.models import Case, CaseEvent
    from chengyun.core.db import get_engine, migrate, session_scope
    from chengyun.core.settings import Settings
    from chengyun.tenancy.service import add_department, add_unit

    settings = Settings(workspace=workspace, database_url=url)
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id="city", name="基准市")
        for d in range(10):
            add_unit(session=s, unit_id=f"d{d}", name=f"区{d}", parent_id="city")
        for d in range(20):
            add_department(session=s, department_id=f"dept{d}", tenant_id="city", name=f"部门{d}")
    engine = get_engine(url)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for cases, events in rows(n, seed, 50_000):
            conn.execute(insert(Case.__table__), cases)
            conn.execute(insert(CaseEvent.__table__), events)
    if engine.dialect.name == "postgresql":  # autovacuum would have analysed the new rows by the next tick
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


def measure(url: str, n: int, seed: int, workspace: Path) -> dict[str, Any]:
    """Populate, then time the baseline, the cold tick, the repeated tick and a steady tick."""
    from chengyun.cases.escalation import run_tick
    from chengyun.cases.service import CaseDesk
    from chengyun.core.db import get_engine
    from chengyun.core.settings import Settings

    out: dict[str, Any] = {"insert_s": populate(url, n, seed, workspace)}
    engine = get_engine(url)
    out["engine"] = engine.dialect.name
    with engine.connect() as conn:
        out["open"] = conn.execute(text(f"SELECT count(*) FROM cases WHERE status IN {OPEN_SQL} "
                                        "OR status = 'suspended'")).scalar_one()
        conn.rollback()
        tx = conn.begin()
        t0, cpu = time.perf_counter(), time.process_time()
        out["baseline_rows"] = conn.execute(text(BASELINE), {"now": NOW}).rowcount
        out["baseline_s"], out["baseline_cpu_s"] = time.perf_counter() - t0, time.process_time() - cpu
        tx.rollback()
    from sqlalchemy.orm import sessionmaker

    desk = CaseDesk.for_settings(Settings(workspace=workspace, database_url=url))
    factory = sessionmaker(bind=engine)
    ticks = (("cold", NOW), ("repeat", NOW), ("steady", NOW + timedelta(minutes=15)),
             ("settled", NOW + timedelta(minutes=30)))
    for name, now in ticks:
        if name == "settled" and out["engine"] == "postgresql":  # what autovacuum does after such a big update
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE cases"))
                conn.execute(text("VACUUM ANALYZE case_events"))
        t0, cpu = time.perf_counter(), time.process_time()
        with factory.begin() as session:
            result = run_tick(session, desk, now=now)
        out[f"{name}_s"] = time.perf_counter() - t0  # including the commit
        out[f"{name}_cpu_s"] = time.process_time() - cpu  # this process: SQLite's work, not PostgreSQL's
        out[name] = result.to_dict()
    return out


def machine() -> str:
    """The machine and the database versions."""
    import sqlite3

    import sqlalchemy

    return f"{hardware()}, SQLite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}"


def _secs(r: dict[str, Any], key: str) -> str:
    """Wall seconds, with this process's CPU seconds where they are the database's work (SQLite, in-process)."""
    cpu = r.get(f"{key}_cpu_s")
    return f"{r[f'{key}_s']:.2f}" + (f" ({cpu:.2f})" if r["engine"] == "sqlite" and cpu is not None else "")


def render(n: int, seed: int, runs: dict[str, dict[str, Any]], pg_version: str | None, load: str) -> str:
    """The RESULTS.md section."""
    lines = [
        "\n## Case SLA tick\n",
        f"Run {datetime.now():%Y-%m-%d %H:%M} by `bench/cases_tick.py --rows {n} --seed {seed}` on {machine()}"
        + (f", PostgreSQL {pg_version}" if pg_version else "") + f"; load average before → after: {load}.", "",
        "Synthetic open cases (see the script's docstring): 15 % suspended, a fifth overdue by up to 120 h, cases "
        "waiting for dispatch or an answer created within the last day. *Cold* is the first tick over them (the "
        "whole backlog is flagged and escalated); *repeat* the same tick again (must change nothing); *steady* a "
        "tick 15 minutes later, what cron runs every time; *settled* one more 15 minutes on, on PostgreSQL after "
        "`VACUUM ANALYZE` (what autovacuum does after the cold tick's mass update; before it, the planner works "
        "from statistics of the unflagged table and the indexes still hold the dead row versions). Seconds are "
        "wall time including the commit; in brackets the CPU time of this process, which is SQLite's work.", "",
        "| database | open cases | baseline UPDATE s | cold tick s | repeat tick s | steady tick s | settled tick s "
        "| cold / baseline | cold breach step / baseline | under 10 s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for db, r in runs.items():
        cold_ok = "yes" if r["cold_s"] < 10 else "no"
        steady_ok = "yes" if max(r["steady_s"], r["settled_s"]) < 10 else "no"
        lines.append(
            f"| {db} | {r['open']:,} | {_secs(r, 'baseline')} | {_secs(r, 'cold')} | {_secs(r, 'repeat')} | "
            f"{_secs(r, 'steady')} | {_secs(r, 'settled')} | {r['cold_s'] / r['baseline_s']:.1f}× | "
            f"{r['cold']['timings']['breach'] / r['baseline_s']:.1f}× | cold {cold_ok}, steady and settled {steady_ok} |")
    lines += ["", "What each tick changed and where the cold tick's time went:", ""]
    for db, r in runs.items():
        c, st = r["cold"], r["steady"]
        agree = "the same as" if c["breached"] == r["baseline_rows"] else f"**not** the same as ({r['baseline_rows']:,})"
        steps = ", ".join(f"{k} {v:.2f}" for k, v in c["timings"].items())
        rep = r["repeat"]
        changed = rep["warned"] + rep["breached"] + rep["response_breached"] + sum(rep["escalated"].values())
        events = c["warned"] + c["breached"] + c["response_breached"] + sum(c["escalated"].values())
        lines.append(
            f"- {db}, cold: {events:,} events; warned {c['warned']:,}, breached {c['breached']:,} ({agree} the baseline's rows), "
            f"response breaches {c['response_breached']:,}, escalated per level {c['escalated']}, suspended skipped "
            f"{c['suspended_skipped']:,}; seconds per step: {steps}. Repeat: {changed} changes. Steady: warned "
            f"{st['warned']:,}, breached {st['breached']:,}, response breaches {st['response_breached']:,}, "
            f"escalated {st['escalated']}.")
    lines += [
        "", "The baseline only flags breaches. The tick also writes one event per change, notes response breaches "
        "and climbs three escalation levels, so cold / baseline is the price of the history; the breach step (its "
        "`INSERT … SELECT` of events, the flags being set in the shared update step) is the like-for-like part.", ""]
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark on SQLite (and PostgreSQL when CHENGYUN_TEST_DATABASE_URL is set) and append the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="open cases to insert")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--no-write", action="store_true", help="print the section instead of appending it")
    args = ap.parse_args()
    runs: dict[str, dict[str, Any]] = {}
    load = f"{os.getloadavg()[0]:.1f}"
    with tempfile.TemporaryDirectory(prefix="cases-tick-") as tmp:
        runs["SQLite"] = measure(f"sqlite:///{tmp}/bench.db", args.rows, args.seed, Path(tmp))
        print("SQLite", runs["SQLite"], flush=True)
    pg_version = None
    base = os.environ.get("CHENGYUN_TEST_DATABASE_URL")
    if base:
        with pg_schema(base, "bench") as url, tempfile.TemporaryDirectory(prefix="cases-tick-") as tmp:
            runs["PostgreSQL"] = measure(url, args.rows, args.seed, Path(tmp))
            with create_engine(base).connect() as c:
                pg_version = str(c.execute(text("SHOW server_version")).scalar_one())
        print("PostgreSQL", runs["PostgreSQL"], flush=True)
    section = render(args.rows, args.seed, runs, pg_version, f"{load} → {os.getloadavg()[0]:.1f}")
    if args.no_write:
        print(section)
        return
    with RESULTS.open("a", encoding="utf-8") as fh:  # append: other benchmarks write their own sections here
        fh.write(section)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
