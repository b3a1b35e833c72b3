"""HTTP and NGSI-LD ingest benchmark (HTTP 接入基准): ``POST /api/v1/telemetry`` and the NGSI-LD batch upsert
against the real server (uvicorn, one worker, as ``chengyun serve`` runs it), end to end into the lake.

Closed loop: ``--clients`` concurrent httpx clients (asyncio, one process, other than the server's) each send the
next request as soon as the last one was answered, for ``--seconds`` per scenario:

* ``telemetry-100`` / ``telemetry-1000``: JSON lines of 50 / 500 reports, two readings each (100 / 1,000
  readings a request), a bearer token of an operator, distinct asset and ``ts`` per line;
* ``ngsi-100``: NGSI-LD upserts of 100 AirQualityObserved entities in the Smart Data Models' normalized form, ten
  numeric properties each (1,000 readings a request) and text, address, location and a relationship besides;
  the first requests register the 500 stations as assets, later ones find them registered.

The server is then stopped (its lake flush) and the lake read back: every reading of a request answered 2xx must be
in it exactly once. Figures: requests/s and readings/s answered, latency p50/p95 (from sending to the answer), the
server's and the load generator's CPU (% of one core).

Baseline in the same run, loaded the same way: a bare FastAPI app on the same uvicorn that takes the same bodies,
parses them (``json.loads`` per line, or the array), counts the numbers and appends the raw body to a write-ahead
log durably (``Wal.append_durable``: group commit) before answering — the floor of an HTTP intake that answers only
once a request is durable, as chengyun's does. Without the sync it would compare durability against none; the
log's own append rate is ``bench/wal_append.py``'s. For scale, issue 5 quotes FIWARE Orion at about 700 entity
creations/s on two vCPUs.

    .venv/bin/python bench/ingest_http.py                    # 20 s per scenario, 8 clients
    .venv/bin/python bench/ingest_http.py --seconds 5 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from fastapi import Request, Response  # at module level: the baseline's route annotations are resolved here

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # `bench.common` when run as a script

from bench.common import free_port, hardware, listening, write_section  # noqa: E402
from bench.ingest_mqtt import QUIET_LOAD, RESULTS  # noqa: E402

MARK = "ingest-http"
CITY = "bench-city"
SCENARIOS = {"telemetry-100": 50, "telemetry-1000": 500, "ngsi-100": 100}  # lines or entities per request
STATIONS = 500
NUMERIC = ("co", "no", "no2", "nox", "so2", "airQualityIndex", "temperature", "relativeHumidity", "windSpeed",
           "precipitation")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


# ---- the workspace and the two apps ---------------------------------------------------------------------------


def settings_for(workspace: Path) -> Any:
    """The server's settings: SQLite in the workspace, no background ticks, no MQTT."""
    from chengyun.core.settings import Settings

    return Settings(workspace=workspace, database_url=f"sqlite:///{workspace / 'chengyun.db'}", case_tick_minutes=0,
                    alarm_sweep_minutes=0, mqtt_url=None)


def build_workspace(workspace: Path) -> str:
    """Migrate; a city with one district per scenario and an operator; return the operator's token."""
    from chengyun.accounts.service import add_user, issue_token
    from chengyun.core.db import migrate, session_scope
    from chengyun.tenancy.service import add_unit

    settings = settings_for(workspace)
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id=CITY, name="基准市", population=3_000_000)
        for name in SCENARIOS:
            add_unit(session=s, unit_id=f"{CITY}.{name}", name=name, parent_id=CITY, population=500_000)
        user, _password = add_user(s, name="bench-operator", role="operator", unit_id=CITY)
        _row, token = issue_token(s, user, kind="access", lifetime=timedelta(hours=8))
    return token


def _numbers(values: dict[str, Any]) -> int:
    return sum(isinstance(v, int | float) for v in values.values())


def baseline_app(workspace: Path) -> Any:
    """Parse the body, count its numbers, append it to a log durably, answer."""
    from fastapi import FastAPI
    from starlette.concurrency import run_in_threadpool

    from chengyun.ingest.wal import Wal

    wal = Wal(workspace / "wal" / "baseline")
    app = FastAPI()

    def lines(raw: bytes) -> int:
        n = sum(_numbers(json.loads(line)["values"]) for line in raw.splitlines() if line.strip())
        wal.append_durable([raw])
        return n

    def entities(raw: bytes) -> None:
        for e in json.loads(raw):
            _numbers({k: v.get("value") for k, v in e.items() if isinstance(v, dict) and v.get("type") == "Property"})
        wal.append_durable([raw])

    @app.post("/api/v1/telemetry", status_code=202)
    async def telemetry(request: Request) -> dict[str, int]:
        return {"readings": await run_in_threadpool(lines, await request.body())}

    @app.post("/ngsi-ld/v1/entityOperations/upsert")
    async def upsert(request: Request) -> Response:
        await run_in_threadpool(entities, await request.body())
        return Response(status_code=204)

    return app


def serve(kind: str, workspace: Path, port: int) -> None:
    """Run one app under uvicorn in this process until SIGTERM (the chengyun app flushes its lake then)."""
    import uvicorn

    from chengyun.api.app import create_app

    app = create_app(settings_for(workspace)) if kind == "chengyun" else baseline_app(workspace)
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)).run()


@contextmanager
def server(kind: str, workspace: Path) -> Iterator[tuple[str, psutil.Process]]:
    """A fresh server process; yields its base URL and process; stops it (SIGTERM) afterwards."""
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--workspace", str(workspace),
           "--port", str(port)]
    with listening(cmd, port=port, env={**os.environ, "PYTHONPATH": str(BENCH.parent)},
                   log=workspace / f"server-{kind}.log", name=kind, stop_timeout=120) as proc:
        yield f"http://127.0.0.1:{port}", psutil.Process(proc.pid)


# ---- load ---------------------------------------------------------------------------------------------------


def telemetry_body(tenant: str, lines: int, g: int) -> tuple[bytes, int]:
    """Request number ``g`` (over all clients): JSON lines with two readings each at distinct times."""
    first = 1_795_651_200_000 + g * lines  # epoch ms, 2026-11-26: one request's lines get consecutive ms
    out = [f'{{"tenant":"{tenant}","asset_id":"s{(first + i) % 1000}","ts":{first + i},'
           f'"values":{{"temp":{(first + i) % 40},"hum":{(first + i) % 97 / 100}}}}}' for i in range(lines)]
    return "\n".join(out).encode(), 2 * lines


def entity(station: int, at: str, k: int) -> dict[str, Any]:
    """An AirQualityObserved entity in the normalized NGSI-LD form (Smart Data Models), ten numeric properties."""
    e: dict[str, Any] = {
        "id": f"urn:ngsi-ld:AirQualityObserved:bench-{station:04d}", "type": "AirQualityObserved",
        "dateObserved": {"type": "Property", "value": at},
        "airQualityLevel": {"type": "Property", "value": "moderate"},
        "address": {"type": "Property", "value": {"addressCountry": "CN", "addressLocality": "临江市",
                                                  "streetAddress": f"临江路{station}号", "type": "PostalAddress"}},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [
            121.3 + station % 25 / 100, 31.1 + station // 25 / 100]}},
        "refPointOfInterest": {"type": "Relationship", "object": "urn:ngsi-ld:PointOfInterest:bench"}}
    for i, name in enumerate(NUMERIC):
        e[name] = {"type": "Property", "value": (k * 7 + i * 13) % 500 / 10, "unitCode": "GQ"}
    return e


def ngsi_body(entities: int, g: int) -> tuple[bytes, int]:
    """Request number ``g``: ``entities`` stations observed at a time no other request uses."""
    at = (T0 + timedelta(seconds=g)).isoformat().replace("+00:00", "Z")
    first = g * entities
    body = [entity((first + j) % STATIONS, at, first + j) for j in range(entities)]
    return json.dumps(body, ensure_ascii=False).encode(), len(NUMERIC) * entities


def request_for(scenario: str, g: int) -> tuple[str, dict[str, str], bytes, int]:
    """Path, headers, body and readings of request ``g`` of a scenario."""
    size, tenant = SCENARIOS[scenario], f"{CITY}.{scenario}"
    if scenario.startswith("ngsi"):
        body, n = ngsi_body(size, g)
        return "/ngsi-ld/v1/entityOperations/upsert", {"NGSILD-Tenant": tenant,
                                                        "Content-Type": "application/ld+json"}, body, n
    body, n = telemetry_body(tenant, size, g)
    return "/api/v1/telemetry", {"Content-Type": "application/x-ndjson"}, body, n


async def closed_loop(base: str, token: str, scenario: str, clients: int, seconds: float,
                      warmup: int) -> dict[str, Any]:
    """``warmup`` requests one at a time, then ``clients`` clients for ``seconds``; what was answered."""
    import httpx

    lat: list[float] = []
    out = {"requests": 0, "ok": 0, "ok_all": 0, "readings": 0, "timed_readings": 0, "reported": 0, "errors": {}}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=120) as http:
        loop, counter = asyncio.get_running_loop(), iter(range(10**9))

        async def send(timed: bool) -> None:
            path, headers, body, n = request_for(scenario, next(counter))
            t0 = loop.time()
            r = await http.post(path, content=body, headers=headers)
            if timed:
                lat.append(loop.time() - t0)
                out["requests"] += 1
            if 200 <= r.status_code < 300 and r.status_code != 207:
                out["ok"] += timed
                out["ok_all"] += 1
                out["readings"] += n
                out["timed_readings"] += n * timed
                out["reported"] += r.json()["readings"] if r.status_code == 202 else n
            else:
                out["errors"][str(r.status_code)] = out["errors"].get(str(r.status_code), 0) + 1

        for _ in range(warmup):
            await send(False)
        start, cpu0 = loop.time(), time.process_time()

        async def client() -> None:
            while loop.time() - start < seconds:
                await send(True)

        await asyncio.gather(*(client() for _ in range(clients)))
        out["elapsed"], out["client_cpu"] = loop.time() - start, time.process_time() - cpu0
    lat.sort()
    out["p50_ms"], out["p95_ms"] = (lat[int(q * (len(lat) - 1))] * 1000 if lat else float("nan") for q in (0.5, 0.95))
    return out


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def measure(kind: str, root: Path, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every scenario against one fresh server of ``kind``; then the lake (or log) read back."""
    workspace = root / kind
    token = build_workspace(workspace)
    runs: dict[str, dict[str, Any]] = {}
    with server(kind, workspace) as (base, proc):
        for scenario in SCENARIOS:
            warmup = STATIONS // SCENARIOS[scenario] if scenario.startswith("ngsi") else 5  # registers the stations
            cpu0 = _cpu(proc)
            r = asyncio.run(closed_loop(base, token, scenario, args.clients, args.seconds, warmup))
            r["server_cpu"] = _cpu(proc) - cpu0
            runs[scenario] = r
            print(f"{kind} {scenario}: {r['ok'] / r['elapsed']:,.0f} requests/s, "
                  f"{r['timed_readings'] / r['elapsed']:,.0f} readings/s, p95 {r['p95_ms']:.0f} ms, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    check_stored(kind, workspace, runs)
    return runs


def check_stored(kind: str, workspace: Path, runs: dict[str, dict[str, Any]]) -> None:
    """``stored`` and ``exact`` per scenario: chengyun's lake rows, or the baseline's log records."""
    if kind == "baseline":
        from chengyun.ingest.wal import Wal

        with Wal(workspace / "wal" / "baseline") as wal:
            records = wal.last_seq
        answered = sum(r["ok_all"] for r in runs.values())
        for r in runs.values():
            r["stored"], r["exact"] = r["readings"], records == answered  # one record a request
        return
    from chengyun.lake.reader import read

    for scenario, r in runs.items():
        table = read(workspace / "lake", "telemetry", [f"{CITY}.{scenario}"])
        distinct = table.group_by(["asset_id", "metric", "ts"]).aggregate([]).num_rows
        r["stored"] = table.num_rows
        r["exact"] = table.num_rows == distinct == r["readings"] == r["reported"]


# ---- report ---------------------------------------------------------------------------------------------------


def _row(kind: str, scenario: str, r: dict[str, Any]) -> str:
    app = "chengyun" if kind == "chengyun" else "baseline: parse + durable append"
    errs = ", ".join(f"{k}: {v:,}" for k, v in r["errors"].items()) or "0"
    stored = (f"{r['stored']:,} {'✓' if r['exact'] else '✗'}" if kind == "chengyun"
              else f"{'✓' if r['exact'] else '✗'} logged")
    return (f"| {scenario} | {app} | {r['ok'] / r['elapsed']:,.0f} | {r['timed_readings'] / r['elapsed']:,.0f} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {errs} | {stored} | {100 * r['server_cpu'] / r['elapsed']:.0f} % "
            f"| {100 * r['client_cpu'] / r['elapsed']:.0f} % |")


def render(args: argparse.Namespace, runs: dict[str, dict[str, dict[str, Any]]], loads: tuple[float, float]) -> str:
    """The RESULTS.md section."""
    lines = [f"<!-- {MARK} -->", "## Telemetry ingest over HTTP and NGSI-LD", "",
             f"Run {datetime.now():%Y-%m-%d %H:%M} by `bench/ingest_http.py --seconds {args.seconds:g} --clients "
             f"{args.clients}` on {hardware()}: {args.clients} httpx clients in a closed loop (each sends its next "
             "request when the last is answered), in another process on the same machine, against one uvicorn "
             "worker as `chengyun serve` runs it (operator's bearer token; NGSI-LD tenant header). "
             "`telemetry-100`/`-1000`: `POST /api/v1/telemetry`, JSON lines of 50/500 reports of two readings; "
             "`ngsi-100`: `POST /ngsi-ld/v1/entityOperations/upsert` of 100 AirQualityObserved entities "
             "(normalized, ten numeric properties each: 1,000 readings), 500 stations registered as assets by the "
             "warm-up. Baseline: a bare FastAPI app that parses the same bodies and appends each durably to a "
             "write-ahead log before answering. *Stored*: every reading of every request answered 2xx is in the "
             "lake exactly once (✓). CPU: % of one core over the timed run. FIWARE Orion, as quoted in issue 5: "
             f"about 700 entity creations/s on two vCPUs. 1-minute load average {loads[0]:.2f} before, "
             f"{loads[1]:.2f} after.", "",
             "| scenario | app | requests/s | readings/s | p50 ms | p95 ms | errors | stored | server CPU | "
             "clients CPU |", "|---|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for scenario in SCENARIOS:
        lines += [_row(kind, scenario, runs[kind][scenario]) for kind in runs]
    ngsi = runs["chengyun"]["ngsi-100"]
    lines += ["", f"NGSI-LD: **{ngsi['ok'] * SCENARIOS['ngsi-100'] / ngsi['elapsed']:,.0f} entities/s** upserted "
              f"({ngsi['timed_readings'] / ngsi['elapsed']:,.0f} readings/s).", f"<!-- /{MARK} -->", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Both apps, every scenario; print the section, and write it into RESULTS.md when the machine was quiet."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="timed run per scenario (default 20)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--no-write", action="store_true", help="print the section, do not touch RESULTS.md")
    p.add_argument("--serve", choices=("chengyun", "baseline"), help=argparse.SUPPRESS)
    p.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:  # the server side, started by ``server()``
        serve(args.serve, args.workspace, args.port)
        return 0
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cy-ingest-http-") as tmp:
        runs = {kind: measure(kind, Path(tmp), args) for kind in ("chengyun", "baseline")}
    section = render(args, runs, (before, os.getloadavg()[0]))
    print(section)
    if not args.no_write and before < QUIET_LOAD:
        write_section(RESULTS, MARK, section)
    elif not args.no_write:
        print(f"not written to RESULTS.md: the load average was {before:.2f} before the run (needs < {QUIET_LOAD})")
    return 0 if all(r["exact"] for kind in runs.values() for r in kind.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
