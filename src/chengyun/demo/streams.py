"""The demo city's fact streams (演示数据流), one month and one district at a time: telemetry, cases, dataset
updates and quality checks, sharing requests, portal use and ratings, security events.

Every function takes the world, a chunk ``[c0, c1)`` in UTC seconds (hour-aligned), a district index and the
chunk's own random generator, and returns the columns of one lake table. Volumes come from the scale, rates
from the world's trends (:class:`~chengyun.demo.generator.World`); the same seed gives the same rows in any
order of chunks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chengyun.demo import names as N

if TYPE_CHECKING:
    from chengyun.demo.generator import World

HOUR, DAY = 3600, 86400
LOCAL = 8 * HOUR  # Asia/Shanghai is UTC+8 all year; the lake stores naive UTC
K = 0.45  # how strongly a district's skill moves its rates
Columns = dict[str, Any]


def local_midnight(d: date) -> int:
    """UTC seconds of 00:00 Asia/Shanghai on ``d``."""
    return (d - date(1970, 1, 1)).days * DAY - LOCAL


def better(rate: Any, skill: float, k: float = K) -> Any:
    """A rate moved towards 1 (skill > 0) or away from it (skill < 0): the shortfall scales by exp(-k·skill)."""
    return 1 - (1 - rate) * np.exp(-k * skill)


def faster(value: Any, skill: float, k: float = K) -> Any:
    """A duration or a failure rate scaled down for a skilled district, up for a lagging one."""
    return value * np.exp(-k * skill)


def arrivals(g: np.random.Generator, c0: int, c1: int, per_day: Callable[[np.ndarray], Any], hours: np.ndarray,
             weekend: float) -> np.ndarray:
    """Event times (UTC seconds) in ``[c0, c1)``: Poisson per hour, with a local daily and weekly rhythm."""
    h = np.arange(c0, c1, HOUR, dtype=np.int64)
    local = h + LOCAL
    weekday = (local // DAY + 3) % 7  # 1970-01-01 was a Thursday
    rhythm = hours[(local // HOUR) % 24] / hours.mean() * np.where(weekday >= 5, weekend, 1.0) * 7 / (5 + 2 * weekend)
    n = g.poisson(np.maximum(per_day(h + HOUR / 2) * rhythm / 24, 0))
    return np.repeat(h, n) + g.integers(0, HOUR, int(n.sum()))


def steady(g: np.random.Generator, w: World, c0: int, c1: int, per_day: Callable[[np.ndarray], Any],
           key: tuple[int, ...]) -> np.ndarray:
    """Event times in ``[c0, c1)`` that follow the rate evenly (systematic sampling of its running total since the
    span start, with one random phase per ``key``): any window holds its expected count, give or take one."""
    h = np.arange(w.start, c1, HOUR, dtype=np.int64)
    total = np.concatenate([[0.0], np.cumsum(np.maximum(per_day(h + HOUR / 2), 0) / 24)])
    phase = w.rng(99, *key).random()
    n = np.diff(np.floor(total + phase)).astype(np.int64)[h >= c0]
    return np.repeat(h[h >= c0], n) + g.integers(0, HOUR, int(n.sum()))


def stamp(secs: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """UTC seconds as a naive microsecond timestamp column, null where not ``valid``."""
    arr = (np.asarray(secs, np.int64) * 1_000_000).astype("datetime64[us]")
    return pa.array(arr, type=pa.timestamp("us"), mask=None if valid is None else ~np.asarray(valid))


def repeat(value: str, n: int) -> pa.Array:
    """One string ``n`` times, dictionary-encoded (the writer decodes it)."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))


def label(names: pa.Array, idx: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """``names[idx]`` as a dictionary column, null where not ``valid``."""
    mask = None if valid is None else ~np.asarray(valid)
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(idx, np.int32), mask=mask), names)


def day_ids(prefix: str, secs: np.ndarray, code: str) -> pa.Array:
    """Ids like ``LJ2026031501000042``: local date, district code, a number unique within that local day.

    A chunk ends at UTC midnight, inside a local day; the part of the day before it gets odd numbers, the part
    after it even ones, so ids never collide across chunks. ``secs`` must be sorted."""
    local = secs + LOCAL
    part = (secs // HOUR % 24 < 16).astype(np.int64)
    key = (local // DAY) * 2 + part
    seq = (np.arange(len(secs)) - np.searchsorted(key, key)) * 2 + part + 1
    day = pc.strftime(stamp(local), format="%Y%m%d")
    return pc.binary_join_element_wise(prefix, day, code, pc.utf8_lpad(pc.cast(pa.array(seq), pa.string()), 6, "0"), "")


_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)


def pseudonym(ids: np.ndarray, key: int) -> pa.Array:
    """16 hex digits of a keyed 64-bit mix (splitmix64) of each user number: a stable pseudonym (用户假名)."""
    x = (ids.astype(np.uint64) + np.uint64(key * 0x632BE59BD9B4E019 % 2**64)) * np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    chars = _HEX[((x[:, None] >> _SHIFTS) & np.uint64(15)).astype(np.intp)]
    return pa.array(np.ascontiguousarray(chars).view("S16").ravel()).cast(pa.string())


# Local hour-of-day rhythms (0 … 23 h, Asia/Shanghai) and weekend factors
HOTLINE = np.array([.3, .15, .1, .1, .1, .2, .5, 1.2, 2.6, 3.3, 3.4, 3.0, 2.0, 2.3, 3.1, 3.1, 2.8, 2.2, 1.7, 1.6,
                    1.4, 1.1, .8, .5])
MOBILE = np.array([.5, .3, .2, .1, .1, .2, .6, 1.3, 2.0, 2.4, 2.5, 2.3, 2.0, 2.0, 2.3, 2.4, 2.3, 2.2, 2.3, 2.6,
                   2.8, 2.5, 1.8, 1.0])
INSPECTION = np.array([0] * 8 + [1.5, 3, 3, 2.5, .8, 1.2, 2.8, 3, 2.6, 1.2] + [0] * 6, dtype=float)
OFFICE = np.array([0] * 8 + [.5, 2, 2.5, 2.2, .5, .8, 2.2, 2.5, 2.2, .8] + [.1] * 6, dtype=float)
ALWAYS = np.array([.7] * 7 + [1.1] * 12 + [.9] * 5, dtype=float)
CHANNEL_RHYTHM = {"hotline": (HOTLINE, .7), "app": (MOBILE, .9), "open311": (MOBILE, .9),
                  "iot-alarm": (ALWAYS, 1.0), "grid": (INSPECTION, .3), "other": (OFFICE, .3)}
REACTIVE_SPLIT = {"hotline": .64, "app": .2, "open311": .08, "other": .08}
PROACTIVE_SPLIT = {"grid": .72, "iot-alarm": .28}
LATE_DAYS = 45  # a late case is resolved within this many days past its due time
STUCK, STUCK_DAYS = .02, 20.0  # share of new cases stuck open, and the days over which supervision clears them
FOLLOW_UP = np.array([.8, .65, .55, .05, .1, .5])  # share of closed cases called back (回访), by channel
SOURCE = np.array([0, 0, 0, 2, 1, 0])  # category weight column by channel: reported, grid, iot
PRIORITY_P = np.array([[.02, .1, .7, .18], [.02, .12, .7, .16], [.15, .35, .45, .05]])
CAT_DUE = np.array([c.due_hours for c in N.CATEGORIES])
CAT_W = np.array([[c.reported, c.grid, c.iot] for c in N.CATEGORIES]).T
SPREAD = 0.5  # log-logistic spread of durations around their time limit
_METRICS = [m for t in N.ASSET_TYPES for m in t.metrics]
METRIC_NAMES = pa.array(sorted({m.name for m in _METRICS}))
_METRIC_NAME = np.searchsorted(METRIC_NAMES.to_numpy(zero_copy_only=False), [m.name for m in _METRICS])
METRIC_OFFSET = np.cumsum([0] + [len(t.metrics) for t in N.ASSET_TYPES])[:-1]
_MP = {f: np.array([getattr(m, f) for m in _METRICS], float)
       for f in ("base", "amp", "peak", "amp2", "peak2", "noise", "lo", "hi", "decimals", "season")}


def categorical(g: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws of an index with probabilities proportional to ``p``."""
    return np.searchsorted(np.cumsum(p) / np.sum(p), g.random(n), side="right").clip(0, len(p) - 1)


def _late_ratio(g: np.random.Generator, ontime: np.ndarray) -> np.ndarray:
    """Duration over time limit, log-logistic, with a share ``ontime`` at or below 1."""
    u = g.random(len(ontime)).clip(1e-9, 1 - 1e-9)
    logit = np.log(ontime / (1 - ontime))
    return np.exp(SPREAD * (np.log(u / (1 - u)) - logit))


def unit_index(w: World, d: int, g: np.random.Generator, n: int, street_share: float = 0.1) -> np.ndarray:
    """Positions in the district's grids then streets (grids weighted by residents, a share of them streets)."""
    gi = categorical(g, w.grid_pop[d], n)
    street = g.random(n) < street_share
    return np.where(street, len(w.grids[d]) + w.grid_street[d][gi], gi)


def units(w: World, d: int, g: np.random.Generator, n: int, street_share: float = 0.1) -> pa.Array:
    """Grid ids (weighted by residents), a share of them street ids."""
    return label(pa.concat_arrays([w.grids[d], w.streets[d]]), unit_index(w, d, g, n, street_share))


def _positions(w: World, d: int, g: np.random.Generator, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where in the unit a case is (WGS 84): the unit's centre and a scatter of a few hundred metres."""
    centre = w.unit_centres[d][idx]
    spread = g.normal(0, .004, (len(idx), 2))
    return np.round(centre[:, 0] + spread[:, 0], 6), np.round(centre[:, 1] + spread[:, 1], 6)


def _contacts(w: World, d: int, g: np.random.Generator, chan: np.ndarray) -> pa.Array:
    """The reporter's phone for citizen channels: a pool per district, so some citizens report again (重复来电)."""
    citizen = SOURCE[chan] == 0
    pool = int(w.population[d] * .002) + 50
    who = g.zipf(1.6, len(chan)) % pool
    return pa.array([f"13{d}{p:08d}" if c else None for p, c in zip(who.tolist(), citizen.tolist(), strict=True)],
                    pa.string())


def telemetry(w: World, c0: int, c1: int, d: int, g: np.random.Generator) -> Columns:
    """One row per metric per report at each device's interval; outages and dropped readings left out."""
    a = w.assets
    sel = np.flatnonzero((a.district == d) & (a.installed < c1) & (a.retired > c0))
    step = a.interval[sel]
    k0 = -(-np.maximum(c0, a.installed[sel]) // step)
    n = np.maximum(np.minimum(c1, a.retired[sel]) // step - k0, 0)  # whole slots between installation and retirement
    first = np.cumsum(n) - n
    idx = np.repeat(sel, n)
    k = np.repeat(k0, n) + np.arange(n.sum()) - np.repeat(first, n)
    ts = k * a.interval[idx] + a.offset[idx] + (g.random(len(k)) * 0.3 * a.interval[idx]).astype(np.int64)
    up = ~a.down(idx, ts, w.start)
    idx, ts = idx[up], ts[up]
    mc = a.metric_count[idx].astype(np.int64)
    rep = np.repeat(np.arange(len(idx)), mc)
    slot = np.arange(len(rep)) - np.repeat(np.cumsum(mc) - mc, mc)
    ai, t = idx[rep], ts[rep]
    # a report never loses all its metrics (that would be an outage): drop only the second and later ones
    per = np.where(slot > 0, mc[rep] / np.maximum(mc[rep] - 1, 1), 0)
    keep = g.random(len(t)) >= per * (1 - better(w.ramp(t, .944, .99), w.skill[d]))
    ai, t, gm = ai[keep], t[keep], (METRIC_OFFSET[a.kind[ai]] + slot)[keep]
    return {"tenant": repeat(w.districts[d], len(t)), "asset_id": label(a.ids, ai),
            "metric": label(METRIC_NAMES, _METRIC_NAME[gm]), "ts": stamp(t), "value": _values(g, gm, a.level[ai], t)}


def _values(g: np.random.Generator, gm: np.ndarray, level: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Readings: the metric's base (scaled per device, swinging with the season), two daily cycles in local
    time, and noise; clipped to the metric's range and rounded as the device reports them."""
    p = {f: v[gm] for f, v in _MP.items()}
    hour = (t + LOCAL) % DAY / HOUR
    season = np.cos(2 * np.pi * ((t + LOCAL) / DAY % 365.2425 - 15) / 365.2425)
    v = (p["base"] * level * (1 + p["season"] * season) + p["amp"] * np.cos(2 * np.pi * (hour - p["peak"]) / 24)
         + p["amp2"] * np.cos(4 * np.pi * (hour - p["peak2"]) / 24) + p["noise"] * g.standard_normal(len(t)))
    scale = 10.0 ** p["decimals"]
    return np.round(np.clip(v, p["lo"], p["hi"]) * scale) / scale


def _case_arrivals(w: World, c0: int, c1: int, d: int, g: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Creation times and channels: citizen reports at a steady volume, proactive finds on top of them."""
    share = w.population[d] / w.population.sum()
    times, chans = [], []
    for ci, ch in enumerate(N.CHANNELS):
        hours, weekend = CHANNEL_RHYTHM[ch]

        def per_day(t: np.ndarray, ch: str = ch) -> np.ndarray:
            reactive = w.scale.cases_per_day * share
            if ch in REACTIVE_SPLIT:
                return reactive * REACTIVE_SPLIT[ch] * np.ones_like(t)
            q = np.clip(w.ramp(t, .25, .45) + .05 * w.skill[d], .05, .9)
            return reactive * PROACTIVE_SPLIT[ch] * q / (1 - q)

        t = arrivals(g, c0, c1, per_day, hours, weekend)
        times.append(t)
        chans.append(np.full(len(t), ci))
    t, chan = np.concatenate(times), np.concatenate(chans)
    order = np.argsort(t, kind="stable")
    return t[order], chan[order]


def _case_kinds(g: np.random.Generator, chan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cat, prio = np.zeros(len(chan), np.int64), np.zeros(len(chan), np.int64)
    for src in range(3):
        m = SOURCE[chan] == src
        cat[m] = categorical(g, CAT_W[src], int(m.sum()))
        prio[m] = categorical(g, PRIORITY_P[src], int(m.sum()))
    return cat, prio


def cases(w: World, c0: int, c1: int, d: int, g: np.random.Generator) -> Columns:
    """Cases (案件) from every channel with SLA clocks, handling times, follow-up and ratings."""
    t, chan = _case_arrivals(w, c0, c1, d, g)
    n, sk, end = len(t), w.skill[d], w.end
    cat, prio = _case_kinds(g, chan)
    due_h = CAT_DUE[cat] * np.array(N.PRIORITY_DUE_FACTOR)[prio]
    resp_h = np.minimum(np.array(N.PRIORITY_RESPONSE_H)[prio], due_h / 2)
    returned = g.random(n) < faster(w.ramp(t, .10, .04), sk)
    # a case nobody signs for in time is chased by the SLA tick and answered late, never left unanswered
    forgotten = g.random(n) < .005
    resp_ok = np.minimum(better(w.ramp(t, .85, .97), sk) / .995, .999)
    late_answer = np.where(forgotten, g.uniform(3, 12, n), 1.0)
    resp_hours = np.minimum(resp_h * _late_ratio(g, resp_ok) * late_answer, resp_h + 7 * 24)  # 督办 within a week
    responded = t + (resp_hours * HOUR).astype(np.int64)
    ontime = np.minimum(better(w.ramp(t, .75, .93), sk) + .01, .995)
    hours = due_h * _late_ratio(g, ontime) * np.where(returned, 1.4, 1.0)
    # a case the department cannot fix is still 办结 (answered with the reason), only later; the citizen's
    # follow-up (回访) says whether it was solved
    solvable = g.random(n) < better(w.ramp(t, .85, .97), sk) + .01
    hours = hours * np.where(solvable, 1.0, g.uniform(1.0, 2.0, n))
    hours = np.minimum(hours, due_h + LATE_DAYS * 24)  # supervision (督办) ends the long tail of late cases
    resolved = np.maximum(t + (hours * HOUR).astype(np.int64), responded + 600)
    backdated = g.random(n) < .001  # resolution entered before creation: kept, and flagged by the platform
    resolved = np.where(backdated, t - g.integers(HOUR, 2 * DAY, n), resolved)
    closed = np.maximum(resolved, t) + (g.lognormal(np.log(6), 1.0, n) * HOUR).astype(np.int64)
    # a few hard cases (disputes, works waiting for a budget) stay open; supervision (督办) closes all but the
    # most recent, so the backlog is young: the chance of still being stuck fades with the case's age
    stuck = g.random(n) < STUCK * np.exp(-(end - t) / (STUCK_DAYS * DAY))
    has_resp = responded < end
    has_res = ~stuck & has_resp & (resolved < end) | backdated
    has_closed = has_res & (closed < end)
    followed = has_closed & (g.random(n) < FOLLOW_UP[chan])
    res_rate = better(w.ramp(t, .70, .88), sk)
    solved = g.random(n) < res_rate
    good = np.where(solved, .95, np.clip((better(w.ramp(t, .75, .92), sk) - .95 * res_rate) / (1 - res_rate), .05, .95))
    rated = followed & (g.random(n) < .85)
    happy = g.random(n) < good
    stars = np.where(happy, 4 + (g.random(n) < .65), 1 + categorical(g, np.array([.3, .3, .4]), n))
    status = np.select([has_closed, has_res, has_resp], [0, 1, 2], 3)
    extra = (g.random(n) < .2).astype(np.int16) + (g.random(n) < .05)
    where = unit_index(w, d, g, n)
    lat, lon = _positions(w, d, g, where)
    return {
        "tenant": repeat(w.districts[d], n), "case_id": day_ids("LJ", t, f"{d + 1:02d}"),
        "channel": label(pa.array(N.CHANNELS), chan), "category": label(w.category_codes, cat),
        "priority": label(pa.array(N.PRIORITIES), prio),
        "department_id": label(w.category_departments, cat),
        "unit_id": label(pa.concat_arrays([w.grids[d], w.streets[d]]), where),
        "created_at": stamp(t), "response_due_at": stamp(t + (resp_h * HOUR).astype(np.int64)),
        "responded_at": stamp(responded, has_resp), "due_at": stamp(t + (due_h * HOUR).astype(np.int64)),
        "resolved_at": stamp(resolved, has_res), "closed_at": stamp(closed, has_closed),
        "status": label(pa.array(["closed", "resolved", "in_progress", "dispatched"]), status),
        "solved": pa.array(solved, mask=~followed), "satisfaction": pa.array(stars.astype(np.int8), mask=~rated),
        "returned_count": np.where(returned, 1 + extra, 0).astype(np.int16),
        # what the case desk keeps beside the lake's columns: title, position, reporter, the follow-up call
        "title": label(w.category_titles, cat), "lat": lat, "lon": lon, "contact": _contacts(w, d, g, chan),
        "followed_up_at": stamp(resolved + (closed - np.maximum(resolved, t)) * 2 // 3, followed),
    }


def dataset_updates(w: World, c0: int, c1: int, d: int, g: np.random.Generator) -> Columns:
    """Refreshes of the district's datasets in the chunk (planned with the catalogue)."""
    c = w.catalogue
    m = (c.update_at >= c0) & (c.update_at < c1) & (c.district[c.update_of] == d)
    which, t = c.update_of[m], c.update_at[m]
    rows = np.maximum(1, c.size[which] * g.uniform(.002, .08, len(t))).astype(np.int64)
    return {"tenant": repeat(w.districts[d], len(t)), "dataset_id": label(c.ids, which), "updated_at": stamp(t),
            "rows": rows}


def quality_results(w: World, c0: int, c1: int, d: int, g: np.random.Generator) -> Columns:
    """Weekly quality runs (Monday 02:00 local); each dataset is checked every fourth week on every dimension."""
    c = w.catalogue
    days = np.arange(-(-c0 // DAY), -(-c1 // DAY))
    runs = days[(days + 3) % 7 == 3] * DAY - 6 * HOUR  # Sunday 18:00 UTC is Monday 02:00 in Asia/Shanghai
    runs = runs[(runs >= c0) & (runs < c1)]
    mine = np.flatnonzero(c.district == d)
    pairs = [(r, mine[(c.registered[mine] < r) & (mine % 4 == (r // (7 * DAY)) % 4)]) for r in runs]
    ds = np.concatenate([p[1] for p in pairs] or [np.zeros(0, np.int64)])
    at = np.concatenate([np.full(len(p[1]), p[0]) for p in pairs] or [np.zeros(0, np.int64)])
    ds, at = np.repeat(ds, 6), np.repeat(at, 6) + g.integers(0, 1800, len(ds) * 6)
    dim = np.tile(np.arange(6), len(ds) // 6)
    checked = (c.size[ds] * g.uniform(.95, 1.05, len(ds))).astype(np.int64)
    fail = faster(w.ramp(at, .18, .07), w.skill[d]) * np.array(N.QUALITY_WEIGHT)[dim] * c.messiness[ds]
    failed = g.binomial(checked, np.clip(fail, 0, .95))
    return {"tenant": repeat(w.districts[d], len(ds)), "dataset_id": label(c.ids, ds), "checked_at": stamp(at),
            "dimension": label(pa.array(N.QUALITY_DIMENSIONS), dim), "rows_checked": checked, "rows_failed": failed}


def sharing_requests(w: World, c0: int, c1: int, d: int, g: np.random.Generator) -> Columns:
    """Departments' requests for the district's datasets (共享申请), decided in days, most granted."""
    c, sk = w.catalogue, w.skill[d]
    share = w.population[d] / w.population.sum()
    t = np.sort(arrivals(g, c0, c1, lambda x: w.scale.requests_per_day * share * (1 + .6 * w.progress(x)), OFFICE, .15))
    n = len(t)
    pool = c.pick(g, d, t, shareable_only=g.random(n) < .9)
    ok = c.shareable[pool]
    grant_p = np.where(ok, np.minimum(better(w.ramp(t, .70, .90), sk) / .93, .995), .1)
    days = faster(w.ramp(t, 8, 3), sk) / 1.28 * g.lognormal(0, .7, n)
    decided = t + (days * DAY).astype(np.int64)
    has = (decided < w.end) & (g.random(n) > .02)
    dept = g.integers(0, len(w.department_ids), n)
    return {"tenant": repeat(w.districts[d], n), "request_id": day_ids("SR", t, f"{d + 1:02d}"),
            "dataset_id": label(c.ids, pool), "requester_department_id": label(w.department_ids, dept),
            "requested_at": stamp(t), "decided_at": stamp(decided, has),
            "granted": pa.array(g.random(n) < grant_p, mask=~has)}


def data_access(w: World, c0: int, c1: int, d: int, g: np.random.Generator) -> Columns:
    """Reads of the district's shared datasets through grants (数据调用): several a day per granted request; a few
    departments use most of the data, so popular datasets are read by more than one of them (复用)."""
    c = w.catalogue
    share = w.population[d] / w.population.sum()
    t = np.sort(arrivals(g, c0, c1, lambda x: w.scale.requests_per_day * 6 * share * (1 + w.progress(x)), OFFICE, .1))
    n = len(t)
    pool = c.pick(g, d, t, shareable_only=np.ones(n, bool))
    # consumers: a Zipf-like preference, more spread as data use matures
    weights = 1.0 / np.arange(1, len(w.department_ids) + 1) ** 1.3
    dept = g.choice(len(w.department_ids), n, p=weights / weights.sum())
    scenario = g.integers(0, len(N.ACCESS_SCENARIOS), n)
    return {"tenant": repeat(w.districts[d], n), "ts": stamp(t), "dataset_id": label(c.ids, pool),
            "request_id": pa.nulls(n, pa.string()), "consumer_department_id": label(w.department_ids, dept),
            "scenario": label(pa.array(N.ACCESS_SCENARIOS), scenario),
            "rows": (g.lognormal(np.log(300), 1.4, n) + 1).astype(np.int64)}


def _portal_channels(w: World, g: np.random.Generator, t: np.ndarray, d: int, hall: np.ndarray) -> np.ndarray:
    """0 web, 1 app, 2 miniprogram, 3 hall."""
    mobile = np.clip(w.ramp(t, .55, .75) + .04 * w.skill[d], 0, 1 - hall)
    u = g.random(len(t))
    return np.select([u < hall, u < hall + mobile * .55, u < hall + mobile], [3, 1, 2], 0)


PORTAL_CHANNELS = pa.array(["web", "app", "miniprogram", "hall"])


def portal_usage(w: World, c0: int, c1: int, d: int, g: np.random.Generator) -> Columns:
    """Views, applications and completions by pseudonymous users (用户假名) of the district's services."""
    s, sk = w.services, w.skill[d]

    def active(x: np.ndarray) -> np.ndarray:  # active users a quarter in the district
        return w.scale.user_share * w.ramp(x, 1500, 3000) * np.exp(.15 * sk) * w.population[d] / 1e4

    t = np.sort(arrivals(g, c0, c1, lambda x: w.scale.events_per_user * active(x) / 91.3, MOBILE, 1.1))
    n = len(t)
    user = d * 10**9 + (g.random(n) * w.pool_factor * active(t)).astype(np.int64)
    action = categorical(g, np.array([.6, .25, .15]), n)
    hall = w.ramp(t, .08, .04)
    chan = _portal_channels(w, g, t, d, hall)
    online_p = np.minimum(better(w.ramp(t, .45, .70), sk, .3) / (1 - hall), 1)
    complete = action == 2
    online = (g.random(n) < online_p) & (chan != 3)
    return {"tenant": repeat(w.districts[d], n), "service_id": label(s.ids, s.pick(g, d, t)),
            "user_hash": pseudonym(user, w.seed), "channel": label(PORTAL_CHANNELS, chan),
            "action": label(pa.array(["view", "apply", "complete"]), action), "ts": stamp(t),
            "completed_online": pa.array(online, mask=~complete)}


def portal_ratings(w: World, c0: int, c1: int, d: int, g: np.random.Generator) -> Columns:
    """好差评: ratings 1 … 5 of the district's services, more of them and better as the operation matures."""
    s, sk = w.services, w.skill[d]
    share = w.population[d] / w.population.sum()
    t = np.sort(arrivals(g, c0, c1, lambda x: w.scale.ratings_per_day * share * (1 + .5 * w.progress(x)), HOTLINE, .6))
    n = len(t)
    bad = faster(w.ramp(t, .04, .015), sk)
    good = better(w.ramp(t, .88, .96), sk)
    u = g.random(n)
    rating = np.select([u < bad * .6, u < bad, u < 1 - good], [1, 2, 3], 4 + (g.random(n) < .7))
    chan = _portal_channels(w, g, t, d, np.full(n, .2))
    return {"tenant": repeat(w.districts[d], n), "service_id": label(s.ids, s.pick(g, d, t)),
            "channel": label(PORTAL_CHANNELS, chan), "ts": stamp(t), "rating": rating.astype(np.int8)}


def _security_times(w: World, c0: int, c1: int, d: int, g: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Event times and kinds of event: 0 routine alert, 1 high-risk vulnerability, 2 incident. Vulnerabilities
    and incidents are the city's own counts (not the scale's), spread evenly rather than by chance."""
    weight = w.population[d] / w.population.sum() * np.exp(-.5 * w.skill[d])
    alerts = arrivals(g, c0, c1, lambda x: w.scale.alerts_per_day * weight * np.ones_like(x), ALWAYS, 1.0)
    vulns = steady(g, w, c0, c1, lambda x: w.ramp(x, 18, 7) / 91.3 * weight, (d, 1))
    incidents = steady(g, w, c0, c1, lambda x: w.ramp(x, 25, 10) / 91.3 * weight, (d, 2))
    t = np.concatenate([alerts, vulns, incidents])
    kind = np.concatenate([np.full(len(alerts), 0), np.full(len(vulns), 1), np.full(len(incidents), 2)])
    order = np.argsort(t, kind="stable")
    return t[order], kind[order]


def security_events(w: World, c0: int, c1: int, d: int, g: np.random.Generator) -> Columns:
    """Routine alerts (scale), high-risk vulnerabilities and incidents (the city's own counts), with MTTD/MTTR."""
    t, kind = _security_times(w, c0, c1, d, g)
    n, sk = len(t), w.skill[d]
    sev = np.select([kind == 1, kind == 2], [2 + (g.random(n) < .3), 1 + categorical(g, np.array([.45, .4, .15]), n)],
                    (g.random(n) < .3).astype(np.int64))
    kinds = np.array([k[0] for k in N.SECURITY_KINDS])
    alert_w, incident_w = (np.array([k[i] for k in N.SECURITY_KINDS], float) for i in (1, 2))
    what = np.where(kind == 2, categorical(g, incident_w, n), categorical(g, alert_w, n))
    what = np.where(kind == 1, 0, what)
    detect_h = np.where(kind == 2, faster(w.ramp(t, 16, 5), sk, .25) * g.lognormal(-.18, .6, n),
                        g.exponential(.5, n))
    detected = t + (detect_h * HOUR).astype(np.int64)
    fix_h = np.where(kind == 2, faster(w.ramp(t, 24, 8.5), sk, .25) * g.lognormal(-.18, .6, n),
                     g.lognormal(np.log(20), 1.0, n))
    linger = (kind == 1) & (g.random(n) < faster(w.ramp(t, .55, .3), sk, .3))
    fix_h = np.where(linger, g.uniform(20, 150, n) * 24, fix_h)
    resolved = detected + (fix_h * HOUR).astype(np.int64)
    has_res = (resolved < w.end) & ~(linger & (g.random(n) < .2))
    pool, has_asset = w.assets.pick(g, d, t)
    return {"tenant": repeat(w.districts[d], n), "event_id": day_ids("SE", t, f"{d + 1:02d}"),
            "asset_id": label(w.assets.ids, pool, has_asset & (g.random(n) < .8)),
            "kind": label(pa.array(kinds), what), "severity": label(pa.array(N.SEVERITIES), sev),
            "occurred_at": stamp(t), "detected_at": stamp(detected, detected < w.end),
            "resolved_at": stamp(resolved, has_res & (detected < w.end)), "is_incident": kind == 2}


FACTS = {
    "telemetry": telemetry, "cases": cases, "dataset_updates": dataset_updates, "quality_results": quality_results,
    "sharing_requests": sharing_requests, "portal_usage": portal_usage, "portal_ratings": portal_ratings,
    "security_events": security_events, "data_access": data_access,  # new tables last: the others keep their seeds
}
