"""The case intake benchmark (案件受理基准): ``POST /api/v1/cases`` under an open-loop load of a fixed rate, against
the real server (uvicorn, one worker, as ``chengyun serve`` runs it), beside a minimal FastAPI app on the same
database that inserts one row per request into a table of the cases' shape with SQLAlchemy Core (no auth, no
scoping, no SLA, no dispatch, no history, no audit). Results are appended to ``bench/RESULTS.md``.

Open loop: request *i* is due at ``start + i / rate`` and is sent then whether or not earlier ones have been
answered; its latency runs from that due time to the answer, so a server slower than the rate shows as a growing
queue, not as a slower client. Each app first answers ``--serial`` requests one at a time (warm-up, and the
service time of one request when nothing queues). Every server is a fresh process on a fresh database.

    .venv/bin/python bench/cases_intake.py                         # SQLite, and PostgreSQL when
    CHENGYUN_TEST_DATABASE_URL=postgresql+psycopg://… .venv/bin/python bench/cases_intake.py   # the URL is set
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # `bench.common` when run as a script
from bench.common import free_port, hardware, listening, pg_schema, write_section  # noqa: E402

RESULTS = BENCH / "RESULTS.md"
MARK = "case-intake"
CITY = "bench-city"
DISTRICTS = [f"{CITY}.d{i}" for i in range(1, 7)]
DEPARTMENTS = {"sanitation": "市容环卫局", "municipal": "市政设施管理处", "enforcement": "城管执法局"}
RULES = [("E01*", "sanitation"), ("P01*", "municipal"), ("E03*", "enforcement")]  # anything else: triage
CATEGORIES = ["E0101", "E0101", "E0102", "E0103", "P0101", "P0102", "E0301", "E0201"]
DESCRIPTIONS = ["小区门口垃圾堆放两天无人清运，气味很大", "路面大面积积水，行人无法通过", "井盖松动，车辆经过有异响",
                "路灯不亮已有一周", "夜间施工噪音扰民，凌晨两点仍在作业", "电线杆上贴满非法小广告"]
BASELINE_TABLE = "bench_intake_cases"
TARGET_P95_MS = 50.0
CONNECTIONS = 256  # the load generator's connections at most (the server's thread pool has 40 threads)
# the last line of a logged traceback, without the SQL statement and the link SQLAlchemy append
EXCEPTION_RE = re.compile(r"^((?:[a-z_0-9]+\.)*[A-Za-z_]*(?:Error|Exception|Timeout)\b.*?)(?: \[SQL:.*| \(Background on this error.*)?$")


def case_body(rnd: random.Random) -> dict[str, Any]:
    """A realistic hotline case: a district, a category of the shipped table, a position, a phone number."""
    return {"tenant": rnd.choice(DISTRICTS), "channel": "hotline", "category": rnd.choice(CATEGORIES),
            "priority": "urgent" if rnd.random() < 0.05 else "normal", "title": "市民来电",
            "description": rnd.choice(DESCRIPTIONS), "lat": round(31.1 + rnd.random() * 0.3, 6),
            "lon": round(121.3 + rnd.random() * 0.3, 6), "address": f"临江路{rnd.randint(1, 999)}号",
            "contact": f"13{rnd.randint(0, 9)}{rnd.randint(10_000_000, 99_999_999)}"}


# ---- the workspace and the two apps -----------------------------------------------------------------------


def settings_for(workspace: Path, url: str) -> Any:
    """The settings both servers run with (no SLA tick while measuring)."""
    from chengyun.core.settings import Settings

    return Settings(workspace=workspace, database_url=url, case_tick_minutes=0)


def build_workspace(workspace: Path, url: str) -> str:
    """Migrate; add a city of six districts, three departments, dispatch rules and an operator; return its token."""
    from chengyun.accounts.service import add_user, issue_token
    from chengyun.cases.models import DispatchRule
    from chengyun.core.db import migrate, session_scope
    from chengyun.tenancy.service import add_department, add_unit

    settings = settings_for(workspace, url)
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id=CITY, name="基准市", population=3_000_000)
        for i, d in enumerate(DISTRICTS, 1):
            add_unit(session=s, unit_id=d, name=f"第{i}区", parent_id=CITY, population=500_000)
        for dept, name in DEPARTMENTS.items():
            add_department(session=s, department_id=dept, tenant_id=CITY, name=name)
        for pos, (pattern, dept) in enumerate(RULES, 1):
            s.add(DispatchRule(tenant_id=CITY, position=pos * 10, category=pattern, department_id=dept,
                               enabled=True, note=f"{pattern} → {DEPARTMENTS[dept]}"))
        user, _password = add_user(s, name="bench-operator", role="operator", unit_id=CITY)
        _row, token = issue_token(s, user, kind="access", lifetime=timedelta(hours=8))
    return token


def baseline_table(metadata: Any) -> Any:
    """A table of the cases' columns and indexes (no foreign keys, no partial index conditions)."""
    from sqlalchemy import Column, Index, Table

    from chengyun.cases.models import Case

    src = Case.__table__
    cols = [Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable, index=c.index)
            for c in src.columns]
    table = Table(BASELINE_TABLE, metadata, *cols)
    for i, idx in enumerate(i for i in src.indexes if len(i.columns) > 1):
        Index(f"ix_{BASELINE_TABLE}_{i}", *[table.c[c.name] for c in idx.columns])
    return table


class BaselineBody(BaseModel):
    """The same fields as chengyun's ``CaseCreate``, types only (no lengths, no code table)."""

    tenant: str
    channel: str
    category: str | None = None
    priority: str = "normal"
    title: str | None = None
    description: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    contact: str | None = None


def baseline_app(url: str) -> Any:
    """The floor: validate the same body, insert one row with SQLAlchemy Core, answer 201 with its id."""
    from fastapi import FastAPI, status
    from sqlalchemy import MetaData, insert

    from chengyun.core.db import get_engine, utcnow

    engine = get_engine(url)
    table = baseline_table(MetaData())
    table.create(engine, checkfirst=True)
    app = FastAPI()

    @app.post("/api/v1/cases", status_code=status.HTTP_201_CREATED)
    def create(body: BaselineBody) -> dict[str, str]:  # sync, like chengyun's view: run in the same thread pool
        now = utcnow()
        row = {"id": uuid.uuid4().hex[:16], "tenant_id": body.tenant, "channel": body.channel, "source": "api",
               "category": body.category, "priority": body.priority, "title": body.title,
               "description": body.description, "lat": body.lat, "lon": body.lon, "address": body.address,
               "reporter_masked": body.contact, "status": "accepted", "created_at": now, "extension": 0.0,
               "returned_count": 0, "reopened_count": 0, "escalation_level": 0, "breached": False,
               "response_breached": False, "inconsistent": False, "updated_at": now, "version": 1}
        with engine.begin() as conn:
            conn.execute(insert(table), row)
        return {"id": row["id"]}

    return app


def serve(kind: str, workspace: Path, url: str, port: int, threads: int | None = None) -> None:
    """Run one app under uvicorn in this process (the server side of a benchmark run); ``threads`` replaces
    the size of the thread pool sync views and dependencies run in (anyio's default: 40)."""
    import uvicorn

    from chengyun.api.app import create_app

    app = create_app(settings_for(workspace, url)) if kind == "chengyun" else baseline_app(url)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))

    async def main() -> None:
        if threads:
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        await server.serve()

    asyncio.run(main())


def server_errors(log: Path) -> list[str]:
    """The distinct exceptions a server logged (its 500s), each with how often it was logged."""
    found: Counter[str] = Counter()
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        m = EXCEPTION_RE.match(line)
        if m:
            found[m.group(1)[:120]] += 1
    return [f"{msg} ({n}×)" for msg, n in found.most_common(5)]


@contextmanager
def server(kind: str, workspace: Path, url: str, threads: int | None = None) -> Iterator[str]:
    """A fresh server process for ``kind`` (chengyun | baseline); yields its base URL, stops it afterwards. Its
    output goes to ``<workspace>/server-<kind>.log``."""
    port = free_port()
    env = {**os.environ, "CHENGYUN_CASE_TICK_MINUTES": "0", "PYTHONPATH": str(BENCH.parent)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--workspace", str(workspace),
           "--url", url, "--port", str(port)] + (["--server-threads", str(threads)] if threads else [])
    with listening(cmd, port=port, env=env, log=workspace / f"server-{kind}.log", name=kind):
        yield f"http://127.0.0.1:{port}"


# ---- load -------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """Every request of one load run: due time, send lag, latency (s, from the due time) and status."""

    rate: float
    due: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)  # 0: no answer (timeout or connection error)
    ended: float = 0.0  # seconds from the start to the last answer

    def summary(self) -> dict[str, Any]:
        """Percentiles (ms, nearest rank, over every request: an unanswered one counts with its wait), rates."""
        n = len(self.latency)
        ok = sum(1 for s in self.status if 200 <= s < 300)
        lat = sorted(self.latency)

        def pct(p: float) -> float:
            return lat[max(0, math.ceil(p * n) - 1)] * 1000 if n else float("nan")

        span = self.due[-1] - self.due[0] if n > 1 else 0.0
        return {"requests": n, "ok": ok, "errors": n - ok,
                "errors_by_status": {str(s): self.status.count(s) for s in sorted(set(self.status)) if s != 201},
                "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": lat[-1] * 1000 if n else 0,
                "offered_rps": self.rate, "sent_rps": (n - 1) / span if span else 0.0,
                "ok_rps": ok / self.ended if self.ended else 0.0,
                "max_send_lag_ms": max(self.lag, default=0.0) * 1000}


async def open_loop(base: str, headers: dict[str, str], rate: float, seconds: float, seed: int,
                    timeout: float) -> Run:
    """Send ``rate`` requests a second for ``seconds`` on schedule, not waiting for answers; record each one."""
    import httpx

    rnd = random.Random(seed)
    n = max(1, int(rate * seconds))
    bodies = [case_body(rnd) for _ in range(n)]
    run = Run(rate=rate, due=[i / rate for i in range(n)], lag=[0.0] * n, latency=[0.0] * n, status=[0] * n)
    # Requests beyond CONNECTIONS in flight wait on a semaphore (FIFO, cheap), not in httpx's pool, whose
    # bookkeeping grows with its queue and would make the generator, not the server, the bottleneck.
    gate = asyncio.Semaphore(CONNECTIONS)
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=timeout) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def one(i: int) -> None:
            run.lag[i] = loop.time() - start - run.due[i]
            try:
                async with asyncio.timeout(timeout):  # from the scheduled time, waiting for a connection included
                    async with gate:
                        r = await client.post("/api/v1/cases", json=bodies[i])
                run.status[i] = r.status_code
            except (httpx.HTTPError, TimeoutError):
                run.status[i] = 0
            run.latency[i] = loop.time() - start - run.due[i]

        tasks = []
        for i in range(n):
            wait = start + run.due[i] - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        run.ended = loop.time() - start
    return run


async def serial(base: str, headers: dict[str, str], n: int, seed: int) -> list[float]:
    """``n`` requests one after the other (warm-up); their latencies in seconds."""
    import httpx

    rnd = random.Random(seed)
    out = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        for _ in range(n):
            t0 = time.perf_counter()
            r = await client.post("/api/v1/cases", json=case_body(rnd))
            if r.status_code != 201:
                raise RuntimeError(f"POST /api/v1/cases answered {r.status_code}: {r.text[:500]}")
            out.append(time.perf_counter() - t0)
    return out


def count_rows(url: str, table: str) -> int:
    """Rows in ``table`` of the state DB at ``url``."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def measure(kind: str, url: str, workspace: Path, token: str, args: argparse.Namespace) -> dict[str, Any]:
    """One app on a fresh server: the serial warm-up, then the open-loop run; with the rows it stored."""
    headers = {"Authorization": f"Bearer {token}"} if kind == "chengyun" else {}
    table = "cases" if kind == "chengyun" else BASELINE_TABLE
    with server(kind, workspace, url, getattr(args, "server_threads", None)) as base:
        warm = asyncio.run(serial(base, headers, args.serial, args.seed + 1))
        before = count_rows(url, table)
        run = asyncio.run(open_loop(base, headers, args.rate, args.seconds, args.seed, args.timeout))
        time.sleep(0.2)  # an answer the client gave up on may still be committing
        stored = count_rows(url, table) - before
    out = run.summary()
    out["server_errors"] = server_errors(workspace / f"server-{kind}.log")
    warm_sorted = sorted(warm)
    out.update(kind=kind, stored=stored, serial_ms=warm_sorted[len(warm) // 2] * 1000 if warm else float("nan"))
    return out


# ---- where one request's time goes ------------------------------------------------------------------------


def intake_once(factory: Any, desk: Any, secret: str, token: str, body: dict[str, Any]) -> None:
    """What one ``POST /api/v1/cases`` does below HTTP: authenticate, open the scoped session, run the view."""
    from fastapi import Response

    from chengyun.accounts.access import principal_for
    from chengyun.accounts.service import resolve_token
    from chengyun.cases import views
    from chengyun.cases.schemas import CaseCreate
    from chengyun.core.db import transaction

    with transaction(factory) as s:
        found = resolve_token(s, token, kinds=("access", "api"))
        assert found is not None
        principal = principal_for(s, found[1], found[0], via="bearer", secret=secret)
    principal.require("cases.write")
    with transaction(factory) as session:
        session.info.update(client="127.0.0.1", request_id=uuid.uuid4().hex, scope=principal.scope("cases.write"),
                            actor=principal.name, principal=principal, permission="cases.write")
        views.create_case(CaseCreate(**body), session, desk, Response()).model_dump(mode="json")


def profile(workspace: Path, url: str, token: str, n: int, seed: int) -> dict[str, Any]:
    """``n`` intakes in this process, timed, then again under cProfile: ms per call and the top costs."""
    import cProfile
    import pstats

    from chengyun.cases.service import CaseDesk
    from chengyun.core.db import session_factory

    settings = settings_for(workspace, url)
    factory, desk, secret = session_factory(settings), CaseDesk.for_settings(settings), settings.secret()
    rnd = random.Random(seed)
    for _ in range(20):  # warm caches (categories, SLA rules, the calendar) before timing
        intake_once(factory, desk, secret, token, case_body(rnd))
    t0, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        intake_once(factory, desk, secret, token, case_body(rnd))
    wall_ms, cpu_ms = (time.perf_counter() - t0) * 1000 / n, (time.process_time() - cpu) * 1000 / n
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        intake_once(factory, desk, secret, token, case_body(rnd))
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(tt for _cc, _nc, tt, _ct, _callers in stats.values())

    def name(key: tuple[str, int, str]) -> str:
        path, line, func = key
        short = path.split("site-packages/")[-1].split("src/")[-1]
        return f"{short}:{line} {func}" if line else func

    rows = [(name(k), ct / n * 1000, tt / n * 1000, nc / n) for k, (_cc, nc, tt, ct, _c) in stats.items()]
    own = [r for r in rows if r[0].startswith("chengyun/")]
    return {"n": n, "wall_ms": wall_ms, "cpu_ms": cpu_ms, "profiled_ms": total / n * 1000,
            "cumulative": sorted(own, key=lambda r: -r[1])[:14],
            "self": sorted(rows, key=lambda r: -r[2])[:10]}


# ---- databases, machine, report ---------------------------------------------------------------------------


def machine() -> str:
    """The machine, and the library versions that serve the requests."""
    import sqlite3

    import fastapi
    import sqlalchemy
    import uvicorn

    return (f"{hardware()}, FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__} (asyncio, h11), "
            f"SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}")


def load() -> str:
    """The 1-, 5- and 15-minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _row(db: str, r: dict[str, Any]) -> str:
    errs = ", ".join(f"{'no answer' if k == '0' else k}: {v:,}" for k, v in r["errors_by_status"].items()) or "0"
    app = "chengyun `POST /api/v1/cases`" if r["kind"] == "chengyun" else "baseline: one Core `INSERT`"
    return (f"| {db} | {app} | {r['serial_ms']:.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['max_ms']:.0f} | {r['requests']:,} | {r['sent_rps']:.0f} | {r['ok_rps']:.0f} | {errs} "
            f"| {r['stored']:,} | {r['max_send_lag_ms']:.1f} |")


def _profile_lines(db: str, p: dict[str, Any]) -> list[str]:
    lines = ["", f"*{db}*, {p['n']} intakes in one process below HTTP (`intake_once`: token, principal, scoped "
             f"session, the view): {p['wall_ms']:.1f} ms each ({p['cpu_ms']:.1f} ms CPU); under cProfile "
             f"{p['profiled_ms']:.1f} ms.", "", "| chengyun function | cumulative ms / request | calls / request |",
             "|---|---:|---:|"]
    lines += [f"| `{n}` | {ct:.2f} | {nc:.1f} |" for n, ct, _tt, nc in p["cumulative"]]
    lines += ["", "| own time, any function | ms / request | calls / request |", "|---|---:|---:|"]
    lines += [f"| `{n}` | {tt:.2f} | {nc:.1f} |" for n, _ct, tt, nc in p["self"]]
    return lines


def render(args: argparse.Namespace, runs: dict[str, dict[str, dict[str, Any]]],
           profiles: dict[str, dict[str, Any]], loads: str, pg: str | None) -> str:
    """The RESULTS.md section, between its markers."""
    lines = [f"<!-- {MARK} -->", "## Case intake", "",
             f"Run {datetime.now():%Y-%m-%d %H:%M} by `bench/cases_intake.py --rate {args.rate:g} --seconds "
             f"{args.seconds:g} --serial {args.serial}"
             + (f" --server-threads {args.server_threads}" if args.server_threads else "") + "`: open-loop `POST /api/v1/cases` (hotline cases of six "
             f"districts, categories of the shipped table, position, phone; three dispatch rules, a bearer token "
             f"of an operator) against one uvicorn worker, load generator (httpx) in another process on the same "
             f"machine. Latency is from each request's scheduled send time, so queueing counts; *serial* is the "
             f"median of the warm-up requests sent one at a time. The baseline validates the same body and inserts "
             f"one row into a table of the cases' columns and indexes. Target: p95 under {TARGET_P95_MS:g} ms.", "",
             "| database | app | serial ms | p50 ms | p95 ms | p99 ms | max ms | requests | sent/s | 2xx/s "
             "| errors | rows stored | max send lag ms |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    verdicts = []
    for db, pair in runs.items():
        lines += [_row(db, pair["chengyun"]), _row(db, pair["baseline"])]
        c, b = pair["chengyun"], pair["baseline"]
        met = "met" if c["p95_ms"] < TARGET_P95_MS and c["errors"] == 0 else "missed"
        verdicts.append(f"**{db}: chengyun p95 {c['p95_ms']:.0f} ms ({met})**, baseline {b['p95_ms']:.0f} ms, "
                        f"ratio {c['p95_ms'] / b['p95_ms']:.1f}× (serial {c['serial_ms'] / b['serial_ms']:.1f}×)")
    lines += ["", " · ".join(verdicts) + "."]
    for db, pair in runs.items():
        for r in pair.values():
            if r["server_errors"]:
                lines += ["", f"{db}, {r['kind']}: the server logged " + "; ".join(f"`{e}`" for e in
                                                                              r["server_errors"]) + "."]
    if profiles:
        lines += ["", "Where one request's time goes (printed because the target was missed):"]
        for db, p in profiles.items():
            lines += _profile_lines(db, p)
    lines += ["", f"Machine: {machine()}" + (f", PostgreSQL {pg}" if pg else "") + f"; load average {loads}.",
              f"<!-- /{MARK} -->"]
    return "\n".join(lines) + "\n"


def write_results(section: str) -> None:
    """Put the section into RESULTS.md: replace this benchmark's earlier one, else append it."""
    write_section(RESULTS, MARK, section)


def run_database(db: str, url: str, root: Path, args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """Both apps on one database (fresh workspace), then the profile when chengyun missed the target."""
    workspace = root / db
    token = build_workspace(workspace, url)
    pair = {kind: measure(kind, url, workspace, token, args) for kind in ("chengyun", "baseline")}
    for r in pair.values():
        print(f"{db} {r['kind']}: serial {r['serial_ms']:.1f} ms, p50 {r['p50_ms']:.1f}, p95 {r['p95_ms']:.1f}, "
              f"p99 {r['p99_ms']:.1f}, max {r['max_ms']:.0f} ms, {r['ok_rps']:.0f} 2xx/s, errors {r['errors']}, "
              f"load {load()}", flush=True)
    missed = pair["chengyun"]["p95_ms"] >= TARGET_P95_MS or pair["chengyun"]["errors"] > 0
    prof = profile(workspace, url, token, args.profile, args.seed + 2) if missed and args.profile else None
    return pair, prof


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on SQLite (and PostgreSQL when CHENGYUN_TEST_DATABASE_URL is set); write RESULTS.md."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of the open-loop run (default 30)")
    p.add_argument("--serial", type=int, default=200, help="warm-up requests sent one at a time (default 200)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds a request may wait for its answer, from its scheduled time (default 30)")
    p.add_argument("--profile", type=int, default=300, help="intakes profiled when the target is missed (0: none)")
    p.add_argument("--server-threads", type=int, help="thread pool of the servers (default: anyio's 40)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-write", action="store_true", help="print the section, do not touch RESULTS.md")
    p.add_argument("--serve", choices=("chengyun", "baseline"), help=argparse.SUPPRESS)
    p.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:  # the server side, started by ``server()``
        serve(args.serve, args.workspace, args.url, args.port, args.server_threads)
        return 0
    loads = load()
    runs: dict[str, dict[str, Any]] = {}
    profiles: dict[str, Any] = {}
    pg_version = None
    with tempfile.TemporaryDirectory(prefix="cy-intake-") as tmp:
        root = Path(tmp)
        runs["SQLite"], prof = run_database("SQLite", f"sqlite:///{root / 'sqlite' / 'chengyun.db'}", root, args)
        if prof:
            profiles["SQLite"] = prof
        base = os.environ.get("CHENGYUN_TEST_DATABASE_URL")
        if base:
            from sqlalchemy import create_engine, text

            eng = create_engine(base)
            with eng.connect() as c:
                pg_version = str(c.execute(text("SHOW server_version")).scalar_one())
            eng.dispose()
            with pg_schema(base, "bench_intake") as url:
                runs["PostgreSQL"], prof = run_database("PostgreSQL", url, root, args)
                if prof:
                    profiles["PostgreSQL"] = prof
    section = render(args, runs, profiles, f"{loads} before → {load()} after", pg_version)
    print(section)
    if not args.no_write:
        write_results(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
