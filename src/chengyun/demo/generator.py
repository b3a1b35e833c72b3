"""The demo city generator (演示城市): 临江市, a fictional prefecture-level city of 3.2 million people whose smart-city
operation improves quarter by quarter — 江城区 leading, 云溪县 lagging.

``generate`` registers the administrative tree and the departments in the state DB, builds the registries
(devices, data resources, government services) and writes about five quarters of operation to the lake, one
month and one district at a time, from vectorised numpy and a seed: the same seed and ``today`` give the same
rows. The registries are built in :mod:`chengyun.demo.registries`, the fact streams in
:mod:`chengyun.demo.streams`, from the names in :mod:`chengyun.demo.names`."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.progress import Progress
from sqlalchemy.orm import Session

from chengyun.cases.service import CaseDesk
from chengyun.catalog.export import export_catalog
from chengyun.core.errors import Conflict, InvalidInput
from chengyun.core.periods import Period, recent_quarters
from chengyun.core.settings import Settings
from chengyun.demo import names as N
from chengyun.demo.catalogue import load_live, register_catalogue
from chengyun.demo.desk import (
    DemoIngest,
    DeskSummary,
    desk_now,
    history_rows,
    open_loader,
    register_devices,
    run_desk,
)
from chengyun.demo.registries import build_assets, build_catalogue, build_services
from chengyun.demo.streams import DAY, FACTS, Columns, local_midnight
from chengyun.lake.writer import write
from chengyun.tenancy.models import AdminUnit
from chengyun.tenancy.service import add_department, add_unit


@dataclass(frozen=True)
class Scale:
    """Volumes of one demo size; rates (on time, available, satisfied …) do not depend on it."""

    assets: int  # devices per district
    cases_per_day: float  # citizen-reported cases a day, city-wide (proactive finds come on top)
    user_share: float  # share of the city's portal users simulated; per-capita user figures scale with it
    events_per_user: float  # portal events per active user and quarter
    ratings_per_day: float
    datasets: int  # data resources registered before the span (GROWTH more come during it)
    services: int  # service items published before the span
    alerts_per_day: float  # routine security alerts; incidents and high risks are the city's, not the size's
    requests_per_day: float  # data sharing requests


# ``tiny`` is for tests (a few seconds of generation; the file count still follows the span), ``small`` for the
# default demo (portal users sampled at 8 %), ``medium`` and ``large`` for benchmarks.
SCALES = {
    "tiny": Scale(6, 30, .01, 1.4, 8, 60, 40, 1, 2),
    "small": Scale(10, 260, .08, 1.4, 60, 500, 400, 6, 12),
    "medium": Scale(20, 900, 1.0, 1.4, 400, 1200, 800, 40, 40),
    "large": Scale(440, 8000, 1.0, 3.5, 4000, 4000, 2500, 300, 150),
}


@dataclass
class DemoSummary:
    """What ``generate`` made: the city, its units, the periods covered and the rows written per lake table."""

    city_id: str
    tenants: list[str]
    districts: list[str]
    periods: list[Period]
    rows: dict[str, int]
    start: date
    end: date
    cases: DeskSummary | None = None  # what the case desk did with the generated cases
    catalogue: dict[str, Any] | None = None  # the live datasets: their quality scores and sharing reads


@dataclass
class Territory:
    """The administrative tree as arrays: per district its grids (with residents and street) and streets."""

    units: list[tuple[str, str, str | None, int, float]]  # (id, name, parent, population, area), parents first
    districts: list[str]
    grids: list[list[str]]
    grid_pop: list[np.ndarray]
    grid_street: list[np.ndarray]
    streets: list[list[str]]


CITY_CENTRE = (29.87, 121.55)  # the map position of 临江市 (a made-up city), latitude and longitude


def _unit_centres(t: Territory, g: np.random.Generator) -> list[np.ndarray]:
    """Per district, the (lat, lon) of each grid then each street: the first district at the centre, the others
    around it, a district's streets around its centre and its grids around their street's."""
    out = []
    for d, grids in enumerate(t.grids):
        angle = 2 * np.pi * d / max(len(t.districts) - 1, 1)
        ring = 0 if d == 0 else .09 + .03 * g.random()
        centre = np.array(CITY_CENTRE) + ring * np.array([np.sin(angle), np.cos(angle) * 1.15])
        streets = centre + g.normal(0, .018, (len(t.streets[d]), 2))
        grid_xy = streets[t.grid_street[d]] + g.normal(0, .006, (len(grids), 2))
        out.append(np.vstack([grid_xy, streets]))
    return out


def _split(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that add up to ``total`` exactly (largest remainder)."""
    raw = total * weights / weights.sum()
    out = np.floor(raw).astype(np.int64)
    out[np.argsort(out - raw)[: total - out.sum()]] += 1
    return out


def plan_territory(g: np.random.Generator) -> Territory:
    """Districts → 3–5 streets → 4–8 grids, residents and area split so that every level sums exactly."""
    city_area = round(sum(d.area_km2 for d in N.DISTRICTS) * 100)
    units: list[tuple[str, str, str | None, int, float]] = [
        (N.CITY_ID, N.CITY_NAME, None, sum(d.population for d in N.DISTRICTS), city_area / 100)]
    t = Territory(units, [], [], [], [], [])
    for di, dist in enumerate(N.DISTRICTS):
        did = f"{N.CITY_ID}.d{di + 1:02d}"
        units.append((did, dist.name, N.CITY_ID, dist.population, dist.area_km2))
        n_st = int(g.integers(3, 6))
        w = g.dirichlet(np.full(n_st, 4.0))
        pops, areas = _split(dist.population, w), _split(round(dist.area_km2 * 100), g.dirichlet(np.full(n_st, 3.0)))
        grids, gpop, gst = [], [], []
        for si in range(n_st):
            sid, sname = f"{did}.s{si + 1:02d}", dist.streets[si]
            units.append((sid, sname, did, int(pops[si]), areas[si] / 100))
            n_gr = int(g.integers(4, 9))
            gp, ga = _split(int(pops[si]), g.dirichlet(np.full(n_gr, 5.0))), _split(int(areas[si]), g.dirichlet(np.full(n_gr, 3.0)))
            for k in range(n_gr):
                grids.append(f"{sid}.g{k + 1:02d}")
                units.append((grids[-1], f"{sname}第{k + 1}网格", sid, int(gp[k]), ga[k] / 100))
            gpop.extend(gp.tolist())
            gst.extend([si] * n_gr)
        t.districts.append(did)
        t.streets.append([f"{did}.s{si + 1:02d}" for si in range(n_st)])
        t.grids.append(grids)
        t.grid_pop.append(np.array(gpop, float) / sum(gpop))
        t.grid_street.append(np.array(gst))
    return t


def register_territory(session: Session, t: Territory) -> None:
    """Add the units and the city's departments (委办局) to the state DB."""
    if session.get(AdminUnit, N.CITY_ID) is not None:
        raise Conflict(f"the demo city {N.CITY_ID!r} exists already in this workspace",
                       fix="generate into a new workspace (chengyun demo --workspace DIR)")
    for uid, name, parent, pop, area in t.units:
        add_unit(session=session, unit_id=uid, name=name, parent_id=parent, population=pop, area_km2=area)
    for slug, name, kind in N.DEPARTMENTS:
        add_department(session=session, department_id=f"{N.CITY_ID}.dept.{slug}", tenant_id=N.CITY_ID, name=name, kind=kind)


def _pool_factor(events_per_user: float) -> float:
    """Users in the pool per active user, so that uniform draws of ``events_per_user`` each give that many."""
    lo, hi = 1e-3, 1e6
    for _ in range(100):
        x = (lo + hi) / 2
        lo, hi = (x, hi) if x * (1 - np.exp(-events_per_user / x)) < 1 else (lo, x)
    return (lo + hi) / 2


@dataclass
class World:
    """What the streams share: territory, departments, the span and its trend clock, the registries."""

    seed: int
    scale: Scale
    territory: Territory
    periods: list[Period]
    today: date
    assets: Any = None
    catalogue: Any = None
    services: Any = None

    def __post_init__(self) -> None:
        t = self.territory
        self.districts = t.districts
        self.skill = np.array([d.skill for d in N.DISTRICTS])
        self.population = np.array([d.population for d in N.DISTRICTS], float)
        self.grids = [pa.array(x) for x in t.grids]
        self.streets = [pa.array(x) for x in t.streets]
        self.grid_pop, self.grid_street = t.grid_pop, t.grid_street
        self.departments = {slug: f"{N.CITY_ID}.dept.{slug}" for slug, _, _ in N.DEPARTMENTS}
        self.department_ids = pa.array(list(self.departments.values()))
        self.category_paths = pa.array([c.path for c in N.CATEGORIES])
        self.category_codes = pa.array([c.code for c in N.CATEGORIES])
        self.category_titles = pa.array([c.path.rsplit("/", 1)[-1] for c in N.CATEGORIES])
        self.unit_centres = _unit_centres(t, self.rng(5))
        self.category_departments = pa.array([self.departments[c.department] for c in N.CATEGORIES])
        self.start = local_midnight(self.periods[0].start)
        # through the end of ``today``, local time, but never past the present: a device cannot have reported
        # yet what it will measure tonight
        self.end = min(local_midnight(self.today) + DAY, int(time.time()))
        self.first_end = local_midnight(self.periods[0].end)
        latest = local_midnight(self.periods[-1].start)
        self.centres = ((self.start + self.first_end) / 2, (latest + self.end) / 2)
        self.pool_factor = _pool_factor(self.scale.events_per_user)

    def progress(self, t: Any) -> Any:
        """The operation's maturity at ``t``: 0 at the middle of the first quarter, 1 at the middle of the latest."""
        c1, c5 = self.centres
        return np.clip((np.asarray(t, float) - c1) / (c5 - c1), -.3, 1.2)

    def ramp(self, t: Any, first: float, last: float) -> Any:
        """A city-wide level that moves from ``first`` (first quarter) to ``last`` (latest quarter)."""
        return first + (last - first) * self.progress(t)

    def rng(self, *key: int) -> np.random.Generator:
        """A generator of its own for one part of the city (same seed and key: same draws)."""
        return np.random.default_rng([self.seed, *key])


class _Sink:
    """Commits chunks to the lake from a small thread pool (Parquet encoding and fsync release the GIL) with a
    bounded backlog, so memory stays flat at any scale; counts rows and advances one progress task per table."""

    def __init__(self, lake: Path, progress: Progress | None, totals: dict[str, int], workers: int = 3) -> None:
        self.lake, self.progress = lake, progress
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="demo-write")
        self.slots = threading.BoundedSemaphore(2 * workers)
        self.lock = threading.Lock()
        self.rows = dict.fromkeys(totals, 0)
        self.tasks = {t: progress.add_task(t, total=n) for t, n in totals.items()} if progress else {}
        self.pending: list[Future[None]] = []

    def put(self, table: str, columns: Columns) -> None:
        """Queue one chunk of ``table``; waits while the backlog is full and re-raises a failed write."""
        data = pa.table(columns)
        self.slots.acquire()
        self.pending = [f for f in self.pending if not f.done() or f.result()]
        self.pending.append(self.pool.submit(self._write, table, data))

    def _write(self, table: str, data: pa.Table) -> None:
        try:
            write(self.lake, table, data, durable=False)  # synced once in close(): a bulk load, not an ack
            with self.lock:
                self.rows[table] += data.num_rows
            if self.progress is not None:
                self.progress.advance(self.tasks[table])
        finally:
            self.slots.release()

    def add(self, table: str, rows: int) -> None:
        """Count rows another writer put in the lake (a domain's export), without advancing progress."""
        with self.lock:
            self.rows[table] = self.rows.get(table, 0) + rows

    def count(self, table: str, rows: int) -> None:
        """Count a chunk stored elsewhere (the case desk) and advance its progress task."""
        with self.lock:
            self.rows[table] += rows
        if self.progress is not None:
            self.progress.advance(self.tasks[table])

    def close(self) -> None:
        """Wait for every queued write; the first failure is raised."""
        self.pool.shutdown(wait=True)
        for f in self.pending:
            f.result()
        os.sync()


def months(start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut at UTC month starts (partitions are UTC dates, so no file is shared by two chunks)."""
    cuts = [start]
    m = np.datetime64(start, "s").astype("datetime64[M]") + 1
    while (s := int(m.astype("datetime64[s]").astype(np.int64))) < end:
        cuts.append(s)
        m += 1
    return list(zip(cuts, [*cuts[1:], end], strict=True))


def build_world(*, seed: int, scale: str, today: date) -> tuple[World, dict[str, Columns]]:
    """The city, its registries and its trend clock (no I/O), and the registry tables to write."""
    if scale not in SCALES:
        raise InvalidInput(f"demo scale {scale!r} is not known", fix=f"use one of: {', '.join(SCALES)}")
    territory = plan_territory(np.random.default_rng([seed, 1]))
    w = World(seed, SCALES[scale], territory, recent_quarters(today), today)
    dims = {"assets": build_assets(w, w.rng(2)), "datasets": build_catalogue(w, w.rng(3)),
            "services": build_services(w, w.rng(4))}
    return w, dims


def fact_chunk(w: World, table: str, month: int, district: int) -> Columns:
    """The rows of one fact table for one month of the span and one district (its own seeded generator)."""
    c0, c1 = months(w.start, w.end)[month]
    return FACTS[table](w, c0, c1, district, w.rng(10 + list(FACTS).index(table), month, district))


def generate(*, settings: Settings, session: Session, scale: str = "small", seed: int = 7,
             today: date | None = None, progress: Progress | None = None) -> DemoSummary:
    """Register 临江市 in the state DB and write its operation since the first of the recent quarters to the lake.

    Scales: ``small`` (the demo, ≈2.8 M rows), ``medium`` (≈10 M), ``large`` (≈100 M), and ``tiny`` (≈1.4 M rows,
    for tests: as many files as ``small``, since every table has a partition per district and day)."""
    today = today or date.today()
    w, dims = build_world(seed=seed, scale=scale, today=today)
    register_territory(session, w.territory)
    chunks = months(w.start, w.end)
    totals = dict.fromkeys(dims, 1) | dict.fromkeys(FACTS, len(chunks) * len(w.districts))
    sink = _Sink(settings.lake, progress, totals)
    desk = CaseDesk.for_settings(settings)
    try:
        with open_loader(session, desk) as loader, DemoIngest(settings) as ingest:
            for name, columns in dims.items():
                if name == "assets":  # into the asset registry; the lake gets the registry's export below
                    sink.count(name, register_devices(session, w, columns))
                elif name == "datasets":  # into the catalogue; its rows reach the lake by the export below
                    register_catalogue(session, columns)
                    sink.count(name, 0)
                else:
                    sink.put(name, columns)
            for m in range(len(chunks)):
                for d in range(len(w.districts)):
                    for table in FACTS:
                        if table == "cases":  # through the case desk, into the state DB
                            sink.count(table, loader.add(history_rows(fact_chunk(w, table, m, d))))
                        elif table == "telemetry":  # through the ingest path, into the lake
                            if m == len(chunks) - 1 and d == 0:  # the latest month also goes past the alarm rules
                                ingest.watch(session, desk, desk_now(w))
                            sink.count(table, ingest.add(fact_chunk(w, table, m, d)))
                        else:
                            sink.put(table, fact_chunk(w, table, m, d))
        live = load_live(settings, session, w, desk_now(w))  # before the desk's tick and export: it opens cases
        sink.add("cases", live["cases"])
        cases = run_desk(settings, session, w, loader, desk)
        for table, rows in export_catalog(settings, session).items():
            sink.add(table, rows)
    finally:
        sink.close()
    return DemoSummary(city_id=N.CITY_ID, tenants=[u[0] for u in w.territory.units], districts=w.districts,
                       periods=w.periods, rows=sink.rows, start=w.periods[0].start, end=today, cases=cases,
                       catalogue=live)
