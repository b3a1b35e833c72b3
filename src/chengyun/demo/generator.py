"""The demo city generator (演示城市): 临江市, a fictional prefecture-level city of 3.2 million people whose smart-city
operation improves quarter by quarter — 江城区 leading, 云溪县 lagging.

``generate`` registers the administrative tree and the departments in the state DB, builds the registries
(devices, data resources, government services) and writes about five quarters of operation to the lake, one
month and one district at a time, from vectorised numpy and a seed: the same seed and ``today`` give the same
rows. The fact streams are in :mod:`chengyun.demo.streams`, the names in :mod:`chengyun.demo.names`."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.progress import Progress
from sqlalchemy.orm import Session

from chengyun.core.errors import Conflict, InvalidInput
from chengyun.core.periods import Period, recent_quarters
from chengyun.core.settings import Settings
from chengyun.demo import names as N
from chengyun.demo.streams import DAY, FACTS, HOUR, LOCAL, Columns, categorical, faster, label, stamp, units
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
    "medium": Scale(22, 900, 1.0, 1.4, 1500, 1200, 800, 40, 40),
    "large": Scale(280, 5000, 1.0, 2.5, 8000, 4000, 2500, 300, 150),
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


@dataclass
class Territory:
    """The administrative tree as arrays: per district its grids (with residents and street) and streets."""

    units: list[tuple[str, str, str | None, int, float]]  # (id, name, parent, population, area), parents first
    districts: list[str]
    grids: list[list[str]]
    grid_pop: list[np.ndarray]
    grid_street: list[np.ndarray]
    streets: list[list[str]]


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


def local_midnight(d: date) -> int:
    """UTC seconds of 00:00 Asia/Shanghai on ``d``."""
    return (d - date(1970, 1, 1)).days * DAY - LOCAL


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
        self.category_departments = pa.array([self.departments[c.department] for c in N.CATEGORIES])
        self.start = local_midnight(self.periods[0].start)
        self.end = local_midnight(self.today) + DAY  # through the end of ``today``, local time
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


NEVER = 2**62  # "not retired" in time comparisons
GROWTH = 2.5  # rows added to the data and service catalogues during the span, per row before it


def _office(g: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Times moved into a working day's office hours (local), when people register things."""
    day = (t + LOCAL) // DAY
    weekday = (day + 3) % 7
    day = day + np.where(weekday >= 5, 7 - weekday, 0)
    return day * DAY - LOCAL + (g.uniform(9, 17.5, len(t)) * HOUR).astype(np.int64)


def _registrations(w: World, g: np.random.Generator, n0: int, growth: float) -> np.ndarray:
    """Sorted registration times: ``n0`` in batches before the span, ``growth × n0`` during it, at a rising pace."""
    batches = w.start - DAY * np.array([1100, 800, 600, 450, 330, 220, 120, 45])
    pre = batches[g.integers(0, len(batches), n0)] + g.integers(0, 3, n0) * DAY
    x = np.sqrt(1 + 3 * g.random(int(n0 * growth))) - 1  # density 2(1 + x)/3 on [0, 1]
    during = w.start + (x * (w.end - 6 * DAY - w.start)).astype(np.int64)
    day = (during + LOCAL) // DAY
    wednesday = day - (day + 3) % 7 + 2  # published in weekly batches (每周发布), on Wednesdays
    during = np.where(wednesday * DAY - LOCAL < w.start, wednesday + 7, wednesday) * DAY - LOCAL
    return np.sort(_office(g, np.concatenate([pre, during])))


def _flags(w: World, g: np.random.Generator, t: np.ndarray, district: np.ndarray, first: float, last: float,
           spread: float = .06) -> np.ndarray:
    """Booleans whose share among the rows registered up to a time rises from ``first`` (as of the end of the first
    quarter) towards ``last`` (as of today), as fast as the rows added allow: each new row makes up the gap the
    earlier ones leave (a registry read "as of" a date counts every row before it). Systematic sampling keeps
    every prefix within one row of its expected count."""
    order = np.argsort(t, kind="stable")
    slope = (last - first) / (w.end - w.first_end)
    target = np.clip(first + slope * (np.maximum(t[order], w.start) - w.first_end), 0, 1)
    p, acc = np.empty(len(t)), 0.0
    for i, r in enumerate(target.tolist()):
        p[i] = min(max((i + 1) * r - acc, 0.0), 1.0)
        acc += p[i]
    p = np.clip(p + spread * w.skill[district[order]], 0, 1)
    out = np.empty(len(t), bool)
    out[order] = np.diff(np.floor(np.concatenate([[0.0], np.cumsum(p)]) + g.random())) > 0
    return out


class _Pools:
    """Per district, the registry's rows sorted by registration time, to pick rows that existed at a time."""

    def __init__(self, district: np.ndarray, times: np.ndarray, n_districts: int, member: np.ndarray | None = None):
        self.pools = []
        for d in range(n_districts):
            mine = np.flatnonzero((district == d) & (True if member is None else member))
            mine = mine[np.argsort(times[mine], kind="stable")]
            self.pools.append((mine, times[mine]))

    def pick(self, g: np.random.Generator, d: int, t: np.ndarray, skew: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """A row of district ``d`` registered before each time (older rows favoured when ``skew`` > 1)."""
        mine, times = self.pools[d]
        n = np.searchsorted(times, t, side="right")
        j = (g.random(len(t)) ** skew * np.maximum(n, 1)).astype(np.int64)
        return mine[np.minimum(j, max(len(mine) - 1, 0))] if len(mine) else np.zeros(len(t), np.int64), n > 0


@dataclass
class Assets:
    """Devices (设备台账) with their reporting plan and outages (keys: device << 32 | seconds since span start)."""

    ids: pa.Array
    district: np.ndarray
    kind: np.ndarray
    interval: np.ndarray
    metric_count: np.ndarray
    installed: np.ndarray
    retired: np.ndarray
    offset: np.ndarray
    level: np.ndarray
    pools: _Pools
    outage_keys: np.ndarray | None = None
    outage_ends: np.ndarray | None = None

    def down(self, idx: np.ndarray, ts: np.ndarray, origin: int) -> np.ndarray:
        """Whether each device was in an outage at each time."""
        assert self.outage_keys is not None and self.outage_ends is not None
        q = (idx.astype(np.int64) << 32) + (ts - origin)
        j = np.searchsorted(self.outage_keys, q, side="right") - 1
        return (j >= 0) & (q < self.outage_ends[np.maximum(j, 0)]) if len(self.outage_keys) else np.zeros(len(q), bool)

    def pick(self, g: np.random.Generator, d: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A device of district ``d`` installed before each time."""
        return self.pools.pick(g, d, t)


def _outage_starts(w: World, g: np.random.Generator, a: Assets, rate: Any) -> tuple[np.ndarray, np.ndarray]:
    """Outage start times per device from a time-varying Poisson rate (thinning), from 60 days before the span."""
    lo = np.where(a.installed < w.start, w.start - 60 * DAY, a.installed)
    span = np.maximum(np.minimum(a.retired, w.end) - lo, 0)
    top = 1.5 * rate(np.full(len(lo), w.start - 60 * DAY), np.arange(len(lo)))
    i = np.repeat(np.arange(len(lo)), g.poisson(top * span))
    s = lo[i] + (g.random(len(i)) * span[i]).astype(np.int64)
    keep = g.random(len(i)) < rate(s, i) / top[i]
    return i[keep], s[keep]


def _dead_starts(w: World, g: np.random.Generator, a: Assets) -> tuple[np.ndarray, np.ndarray]:
    """When devices die, per district evenly along the rate (a share of the devices in service per quarter);
    which device dies is chance, high-frequency monitoring stations (under a stricter SLA) less often."""
    hours = np.arange(w.start - 60 * DAY, w.end, HOUR, dtype=np.int64)
    out_i, out_s = [], []
    for d in range(len(w.districts)):
        mine = np.flatnonzero(a.district == d)
        active = (a.installed[mine][None, :] <= hours[:, None]) & (a.retired[mine][None, :] > hours[:, None])
        rate = faster(w.ramp(hours, .10, .025), w.skill[d]) / 91 / 24 * active.sum(1)
        n = np.diff(np.floor(np.concatenate([[0.0], np.cumsum(rate)]) + g.random())).astype(np.int64)
        for h in np.repeat(hours, n).tolist():
            ok = mine[(a.installed[mine] <= h) & (a.retired[mine] > h)]
            p = a.interval[ok] / a.interval[ok].sum()
            out_i.append(int(g.choice(ok, p=p)))
            out_s.append(h + int(g.integers(0, HOUR)))
    return np.array(out_i, np.int64), np.array(out_s, np.int64)


def _outages(w: World, g: np.random.Generator, a: Assets) -> tuple[np.ndarray, np.ndarray]:
    """Short outages (hours; what MTTR sees) and dead devices (设备长期离线), found and repaired in the O&M round
    3–30 days into the next quarter — so the dead pile up towards a quarter's end (what the online rate sees),
    and never form a gap inside one quarter."""
    sk = w.skill[a.district]
    rel = g.lognormal(-.08, .4, len(sk))

    def short_mean_h(t: np.ndarray, i: np.ndarray) -> np.ndarray:
        return faster(w.ramp(t, 25, 8.5), sk[i], .3)

    def short(t: np.ndarray, i: np.ndarray) -> np.ndarray:
        f = faster(w.ramp(t, .02, .0095), sk[i])
        return rel[i] * f / (1 - f) / (short_mean_h(t, i) * HOUR)

    i1, s1 = _outage_starts(w, g, a, short)
    e1 = s1 + (short_mean_h(s1, i1) * HOUR * g.lognormal(-.405, .9, len(i1))).astype(np.int64)
    i2, s2 = _dead_starts(w, g, a)
    rounds = np.array([local_midnight(p.start) for p in w.periods] + [w.end + 400 * DAY])
    rounds = np.concatenate([[rounds[0] - 92 * DAY], rounds])
    e2 = rounds[np.searchsorted(rounds, s2, side="right")] + g.integers(3 * DAY, 30 * DAY, len(s2))
    i, s, e = np.concatenate([i1, i2]), np.maximum(np.concatenate([s1, s2]), w.start), np.concatenate([e1, e2])
    keys = (i << 32) + (s - w.start)
    ends = (i << 32) + np.clip(e - w.start, 0, 2**32 - 1)
    order = np.argsort(keys, kind="stable")
    return keys[order], np.maximum.accumulate(ends[order]) if len(order) else ends


def build_assets(w: World, g: np.random.Generator) -> Columns:
    """The device registry: most installed in phases before the span, some during it, a few retired."""
    types = N.ASSET_TYPES
    per = np.maximum(2, w.scale.assets + g.integers(-1, 2, len(w.districts)))
    district = np.repeat(np.arange(len(per)), per)
    n = len(district)
    kind = categorical(g, np.array([t.weight for t in types]), n)
    interval = np.array([types[k].intervals[int(g.integers(len(types[k].intervals)))] for k in kind], np.int64)
    pre = g.random(n) < .75
    phases = w.start - DAY * np.array([700, 520, 380, 250, 140, 60])
    installed = _office(g, np.where(pre, phases[g.integers(0, len(phases), n)] + g.integers(0, 20, n) * DAY,
                                    w.start + (g.random(n) * (w.end - 40 * DAY - w.start)).astype(np.int64)))
    retire = np.zeros(n, bool)  # a few (6 %, at least one) of the older devices are retired during the span
    retire[g.choice(np.flatnonzero(pre), max(1, round(.06 * pre.sum())), replace=False)] = True
    retired = np.where(retire, w.start + 30 * DAY + (g.random(n) * (w.end - 50 * DAY - w.start)).astype(np.int64), NEVER)
    seq = np.arange(n) - np.searchsorted(district, district)
    ids = pa.array([f"{types[k].prefix}-D{d + 1:02d}-{s + 1:04d}" for k, d, s in zip(kind, district, seq, strict=True)])
    mc = np.array([len(t.metrics) for t in types])[kind]
    w.assets = Assets(ids, district, kind, interval, mc, installed, retired,
                      (g.uniform(.1, .5, n) * interval).astype(np.int64), g.lognormal(0, .08, n),
                      _Pools(district, installed, len(w.districts)))
    w.assets.outage_keys, w.assets.outage_ends = _outages(w, g, w.assets)
    unit = pa.concat_arrays([units(w, d, g, int(c), .15).cast(pa.string()) for d, c in enumerate(per)])
    return {"tenant": label(pa.array(w.districts), district), "asset_id": ids,
            "asset_type": label(pa.array([t.code for t in types]), kind),
            "department_id": label(pa.array([w.departments[t.department] for t in types]), kind), "unit_id": unit,
            "criticality": label(pa.array(N.CRITICALITY), categorical(g, np.array([.1, .3, .4, .2]), n)),
            "expected_interval_s": interval.astype(np.int32), "metric_count": mc.astype(np.int16),
            "installed_at": stamp(installed), "retired_at": stamp(retired, retire)}


@dataclass
class Catalogue:
    """Data resources (数据资源目录) with their planned refreshes (``update_of[i]`` refreshed at ``update_at[i]``)."""

    ids: pa.Array
    district: np.ndarray
    registered: np.ndarray
    shareable: np.ndarray
    size: np.ndarray
    messiness: np.ndarray  # how much more than average its quality rules fail
    update_of: np.ndarray
    update_at: np.ndarray
    pools: _Pools
    shareable_pools: _Pools

    def pick(self, g: np.random.Generator, d: int, t: np.ndarray, shareable_only: np.ndarray) -> np.ndarray:
        """A dataset of district ``d`` registered before each time; shareable ones where asked."""
        anyone, _ = self.pools.pick(g, d, t)
        shared, ok = self.shareable_pools.pick(g, d, t)
        return np.where(shareable_only & ok, shared, anyone)


def _update_plan(w: World, g: np.random.Generator, reg: np.ndarray, cycle: np.ndarray, district: np.ndarray):  # type: ignore[no-untyped-def]
    """Refresh times: one just before the span (or at registration), then every cycle plus a lateness that
    shrinks as the operation matures; nightly for daily and weekly data, office hours for the rest."""
    step = cycle * DAY
    first = np.where(reg < w.start, w.start - (g.random(len(reg)) * step).astype(np.int64), reg + HOUR)
    first = np.maximum(first, reg + HOUR)
    k = np.maximum(-(-(w.end - first) // step), 0) + 1
    of = np.repeat(np.arange(len(reg)), k)
    j = np.arange(len(of)) - np.repeat(np.cumsum(k) - k, k)
    rough = first[of] + j * step[of]
    late = g.exponential(faster(w.ramp(rough, .42, .10), w.skill[district[of]]))
    gap = np.where(j == 0, 0, step[of] * (1 + late))
    csum = np.cumsum(gap)
    at = first[of] + (csum - np.repeat(csum[np.cumsum(k) - k], k)).astype(np.int64)
    day = np.round((at + LOCAL) / DAY).astype(np.int64)
    hour = np.where(cycle[of] <= 7, g.uniform(1, 5, len(of)), g.uniform(9, 18, len(of)))
    at = np.maximum(day * DAY - LOCAL + (hour * HOUR).astype(np.int64), reg[of] + HOUR)
    keep = at < w.end
    order = np.argsort(at[keep], kind="stable")
    return of[keep][order], at[keep][order]


def build_catalogue(w: World, g: np.random.Generator) -> Columns:
    """The data resource catalogue; it grows 3.5-fold during the span, and later entries are better described,
    more shareable and more often open."""
    reg = _registrations(w, g, w.scale.datasets, GROWTH)
    n = len(reg)
    district = categorical(g, w.population, n)
    topic = g.integers(0, len(N.DATASETS), n)
    suffix = categorical(g, np.array([.5, .1, .1, .1, .1, .1]), n)
    names = [N.DATASETS[t][0] + N.DATASET_SUFFIXES[s] for t, s in zip(topic, suffix, strict=True)]
    usual = np.array([c for _, _, c in N.DATASETS])[topic]
    cycle = np.where(g.random(n) < .75, usual, np.array([1, 7, 30, 90, 365])[g.integers(0, 5, n)])
    shareable = _flags(w, g, reg, district, .6, .8)
    is_open = shareable & _flags(w, g, reg, district, .2 / .6, .4 / .8)
    sharing = np.where(shareable, (g.random(n) < .45).astype(np.int64), 2)  # conditional 55 % of shareable
    seq = np.arange(n)
    ids = pa.array([f"DS-D{d + 1:02d}-{s + 1:05d}" for d, s in zip(district, seq, strict=True)])
    of, at = _update_plan(w, g, reg, cycle, district)
    w.catalogue = Catalogue(ids, district, reg, shareable, g.lognormal(np.log(20000), 1.2, n).astype(np.int64) + 10,
                            g.lognormal(-.125, .5, n), of, at, _Pools(district, reg, len(w.districts)),
                            _Pools(district, reg, len(w.districts), shareable))
    return {"tenant": label(pa.array(w.districts), district), "dataset_id": ids, "name": pa.array(names),
            "department_id": label(pa.array([w.departments[dep] for _, dep, _ in N.DATASETS]), topic),
            "update_cycle_days": cycle.astype(np.int32), "sharing_type": label(pa.array(N.SHARING_TYPES), sharing),
            "open": is_open, "catalogued": _flags(w, g, reg, district, .70, .92), "registered_at": stamp(reg)}


@dataclass
class Services:
    """Government service items (政务服务事项) by publication time."""

    ids: pa.Array
    pools: _Pools

    def pick(self, g: np.random.Generator, d: int, t: np.ndarray) -> np.ndarray:
        """A service of district ``d`` published before each time; older, established services are used more."""
        return self.pools.pick(g, d, t, skew=1.6)[0]


def build_services(w: World, g: np.random.Generator) -> Columns:
    """The service catalogue; items published later are more often online, one-stop, e-licence and mobile."""
    pub = _registrations(w, g, w.scale.services, GROWTH)
    n = len(pub)
    district = categorical(g, w.population, n)
    base = g.integers(0, len(N.SERVICES), n)
    variant = categorical(g, np.array([.6, .1, .1, .1, .1]), n)
    ids = pa.array([f"SV-D{d + 1:02d}-{s + 1:05d}" for d, s in zip(district, range(n), strict=True)])
    w.services = Services(ids, _Pools(district, pub, len(w.districts)))
    flags = {k: _flags(w, g, pub, district, a, b) for k, a, b in
             (("online", .80, .95), ("one_stop", .55, .80), ("e_license", .40, .75), ("mobile", .50, .80))}
    return {"tenant": label(pa.array(w.districts), district), "service_id": ids,
            "name": pa.array([N.SERVICES[b][0] + N.SERVICE_VARIANTS[v] for b, v in zip(base, variant, strict=True)]),
            "department_id": label(pa.array([w.departments[dep] for _, dep in N.SERVICES]), base),
            **flags, "published_at": stamp(pub)}


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
            write(self.lake, table, data)
            with self.lock:
                self.rows[table] += data.num_rows
            if self.progress is not None:
                self.progress.advance(self.tasks[table])
        finally:
            self.slots.release()

    def close(self) -> None:
        """Wait for every queued write; the first failure is raised."""
        self.pool.shutdown(wait=True)
        for f in self.pending:
            f.result()


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

    Scales: ``small`` (the demo, ≈2.5 M rows), ``medium`` (≈10 M), ``large`` (≈100 M), and ``tiny`` for tests."""
    today = today or date.today()
    w, dims = build_world(seed=seed, scale=scale, today=today)
    register_territory(session, w.territory)
    chunks = months(w.start, w.end)
    totals = dict.fromkeys(dims, 1) | dict.fromkeys(FACTS, len(chunks) * len(w.districts))
    sink = _Sink(settings.lake, progress, totals)
    try:
        for name, columns in dims.items():
            sink.put(name, columns)
        for m in range(len(chunks)):
            for d in range(len(w.districts)):
                for table in FACTS:
                    sink.put(table, fact_chunk(w, table, m, d))
    finally:
        sink.close()
    return DemoSummary(city_id=N.CITY_ID, tenants=[u[0] for u in w.territory.units], districts=w.districts,
                       periods=w.periods, rows=sink.rows, start=w.periods[0].start, end=today)
