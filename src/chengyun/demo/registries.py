"""The demo city's registries (台账/目录), read "as of" a date: devices with their outages, the data resource
catalogue with its refresh plan, and the government service catalogue. Rows registered before the span come in
batches; rows added during it are better equipped, so the as-of shares move quarter by quarter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from chengyun.demo import names as N
from chengyun.demo.streams import (
    DAY,
    HOUR,
    LOCAL,
    Columns,
    categorical,
    faster,
    label,
    local_midnight,
    stamp,
    units,
)

if TYPE_CHECKING:
    from chengyun.demo.generator import World

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
        rate = faster(w.ramp(hours, .14, .03), w.skill[d]) / 91 / 24 * active.sum(1)
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
        return faster(w.ramp(t, 28, 9.5), sk[i], .3)

    def short(t: np.ndarray, i: np.ndarray) -> np.ndarray:
        f = faster(w.ramp(t, .025, .01), sk[i])
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


def _update_plan(w: World, g: np.random.Generator, reg: np.ndarray, cycle: np.ndarray,
                 district: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
