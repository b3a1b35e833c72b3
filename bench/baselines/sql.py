"""Every measure the built-in packs use, hand-written as DuckDB SQL the way an expert would: one query per lake
table batching all of its measures (a joined table inlined as a CTE), over ``read_parquet([...files...])`` of
the same pruned partitions chengyun reads. Telemetry is scanned once: reduced to distinct (asset, time)
pairs with their reading count, from which readings, online assets, hour buckets and outage gaps all follow."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import duckdb

from . import (
    COLUMNS,
    DIMENSIONS,
    FINISHED,
    HIGH,
    KEYS,
    MOBILE,
    OUTAGE_FACTOR,
    PROACTIVE,
    REPEAT_DAYS,
    STANDING,
    TIME,
    VERSIONS,
    Window,
    finish,
)


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _ts(t: datetime) -> str:
    return f"TIMESTAMP '{t.isoformat(sep=' ')}'"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(_q(v) for v in values) + ")"


def relation(w: Window, table: str, asof: bool = False) -> str:
    """The rows of ``table`` in the period (or before its end, ``asof``) as a parenthesised SELECT; a registry's
    latest row per entity."""
    cols = COLUMNS[table]
    files = w.files(table, asof)
    if not files:
        return "(SELECT " + ", ".join(f"NULL::{t} AS {c}" for c, t in cols.items()) + " LIMIT 0)"
    col = TIME[table]
    since = "" if asof else f" AND {col} >= {_ts(w.start)}"
    latest = (
        f" QUALIFY row_number() OVER (PARTITION BY {KEYS[table]} ORDER BY {col} DESC) = 1"
        if table in KEYS
        else ""
    )
    if table in VERSIONS:
        key, version = VERSIONS[table]
        latest = f" QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {version} DESC) = 1"
    return (
        f"(SELECT {', '.join(cols)} FROM read_parquet([{', '.join(_q(f) for f in files)}], hive_partitioning = false) "
        f"WHERE tenant IN {_in(w.tenants)}{since} AND {col} < {_ts(w.end)}{latest})"
    )


def _active_s(w: Window) -> str:
    """Seconds each asset was in service within the period."""
    s, e = f"epoch({_ts(w.start)})", f"epoch({_ts(w.end)})"
    return f"greatest(least({e}, coalesce(epoch(retired_at), {e})) - greatest({s}, epoch(installed_at)), 0.0)"


def telemetry(w: Window) -> str:
    """Readings, assets online in the last 24 h, reporting buckets seen, and outages (gaps over three intervals)."""
    outage = f"prev IS NOT NULL AND epoch(ts) - epoch(prev) > {OUTAGE_FACTOR} * iv::DOUBLE"
    return f"""
WITH a AS MATERIALIZED (SELECT asset_id, expected_interval_s AS iv FROM {relation(w, "assets", asof=True)}
                        WHERE expected_interval_s > 0),
p AS MATERIALIZED (SELECT asset_id, ts, count(*) AS n FROM {relation(w, "telemetry")} GROUP BY asset_id, ts),
j AS MATERIALIZED (
  SELECT g.asset_id, g.ts, g.n, g.prev, a.iv
  FROM (SELECT asset_id, ts, n, lag(ts) OVER (PARTITION BY asset_id ORDER BY ts) AS prev FROM p) g
  JOIN a USING (asset_id))
SELECT
  (SELECT coalesce(sum(n), 0) FROM p) AS rows,
  (SELECT count(DISTINCT asset_id) FROM p WHERE ts >= {_ts(w.end - timedelta(days=1))}) AS online,
  (SELECT count(*) FROM (SELECT DISTINCT asset_id, floor(epoch(ts) / greatest(iv::DOUBLE, 3600.0))::BIGINT FROM j)) AS seen,
  (SELECT coalesce(sum(n), 0) FROM j) AS joined,
  (SELECT count(*) FROM j WHERE {outage}) AS outages,
  (SELECT sum((epoch(ts) - epoch(prev)) / 3600.0) FROM j WHERE {outage}) AS outage_h"""


def assets(w: Window) -> str:
    """Assets in service at the end, readings expected, and hour (or interval) buckets expected."""
    return f"""
SELECT count(*) AS rows,
  count(*) FILTER (WHERE retired_at IS NULL OR retired_at >= {_ts(w.end)}) AS active,
  sum({_active_s(w)} / expected_interval_s::DOUBLE * metric_count::DOUBLE) AS expected_readings,
  sum({_active_s(w)} / greatest(expected_interval_s::DOUBLE, 3600.0)) FILTER (WHERE expected_interval_s > 0)
    AS expected_buckets
FROM {relation(w, "assets", asof=True)}"""


def cases(w: Window) -> str:
    """Counts and durations behind every case measure, and repeats: reopened, or the same citizen and category
    in the same unit within REPEAT_DAYS after an earlier case (looked up in all cases before the end)."""
    # NULL resolved_at is never consistent; rows an import flagged are left out of durations
    consistent = "resolved_at >= created_at AND NOT coalesce(inconsistent, false)"
    cut = _ts(w.cutoff)
    # open at the cutoff (not resolved, not closed before it), clock running, and past its due time
    # (a case marked finished without a time is taken as done)
    overdue = (f"due_at < {cut} AND CASE WHEN coalesce(resolved_at, closed_at) IS NULL THEN coalesce(status, '') "
               f"NOT IN {_in(FINISHED)} ELSE coalesce(resolved_at, closed_at) >= {cut} END "
               f"AND coalesce(status, '') NOT IN {_in(STANDING)}")
    return f"""
WITH c AS MATERIALIZED {relation(w, "cases")},
b AS (SELECT count(*) AS known, count(*) FILTER (WHERE {overdue}) AS backlog FROM {relation(w, "cases", asof=True)}),
h AS (SELECT tenant, reporter_hash, category, created_at FROM {relation(w, "cases", asof=True)}
      WHERE reporter_hash IS NOT NULL AND category IS NOT NULL),
rep AS (SELECT DISTINCT c.case_id FROM c JOIN h ON c.tenant = h.tenant AND c.reporter_hash = h.reporter_hash
        AND c.category = h.category AND h.created_at < c.created_at
        AND epoch(c.created_at) - epoch(h.created_at) <= {REPEAT_DAYS} * 86400.0)
SELECT count(*) AS rows,
  count(*) FILTER (WHERE responded_at <= response_due_at) AS responded_ontime,
  count(response_due_at) AS response_limited,
  count(*) FILTER (WHERE {consistent}) AS consistent,
  count(*) FILTER (WHERE {consistent} AND due_at IS NOT NULL) AS due_resolved,
  count(*) FILTER (WHERE {consistent} AND resolved_at <= due_at) AS ontime,
  count(*) FILTER (WHERE resolved_at IS NULL AND NOT coalesce(inconsistent, false) AND {overdue}) AS late_open,
  (SELECT known FROM b) AS known, (SELECT backlog FROM b) AS backlog,
  count(resolved_at) AS resolved,
  count(*) FILTER (WHERE solved) AS solved,
  count(solved) AS asked,
  count(*) FILTER (WHERE satisfaction >= 4) AS satisfied,
  count(satisfaction) AS rated,
  sum((epoch(resolved_at) - epoch(created_at)) / 3600.0) FILTER (WHERE {consistent}) AS hours,
  count(*) FILTER (WHERE channel IN {_in(PROACTIVE)}) AS proactive,
  count(*) FILTER (WHERE returned_count > 0) AS returned,
  count(*) FILTER (WHERE coalesce(reopened_count, 0) > 0 OR case_id IN (SELECT case_id FROM rep)) AS repeated
FROM c"""


def datasets(w: Window) -> str:
    """Catalogue flags, and datasets updated within their cycle as of the end (all update history)."""
    return f"""
WITH u AS (SELECT dataset_id, max(updated_at) AS last_at FROM {relation(w, "dataset_updates", asof=True)} GROUP BY dataset_id)
SELECT count(*) AS rows,
  count(*) FILTER (WHERE catalogued) AS catalogued,
  count(*) FILTER (WHERE open) AS open,
  count(*) FILTER (WHERE sharing_type <> 'none') AS shareable,
  count(*) FILTER (WHERE last_at IS NOT NULL AND (epoch({_ts(w.end)}) - epoch(last_at)) / 86400.0 <= update_cycle_days::DOUBLE) AS fresh
FROM {relation(w, "datasets", asof=True)} d LEFT JOIN u USING (dataset_id)"""


def quality_results(w: Window) -> str:
    """Rows checked and failed by every quality rule run in the period."""
    dims = ", ".join(f"sum(rows_checked) FILTER (WHERE dimension = '{d}') AS checked_{d}, "
                     f"sum(rows_failed) FILTER (WHERE dimension = '{d}') AS failed_{d}" for d in DIMENSIONS)
    return (f"SELECT count(*) AS rows, sum(rows_checked) AS checked, sum(rows_failed) AS failed, {dims} "
            f"FROM {relation(w, 'quality_results')}")


def sharing_requests(w: Window) -> str:
    """Requests granted, and hours to decision over decided requests."""
    return f"""
SELECT count(*) AS rows, count(*) FILTER (WHERE granted) AS granted,
  sum((epoch(decided_at) - epoch(requested_at)) / 3600.0) FILTER (WHERE decided_at IS NOT NULL) AS decide_h,
  count(decided_at) AS decided,
  median((epoch(decided_at) - epoch(requested_at)) / 86400.0) AS median_days
FROM {relation(w, "sharing_requests")}"""


def data_access(w: Window) -> str:
    """Datasets read through grants, and those read by two or more departments (复用)."""
    return f"""
WITH per AS (SELECT dataset_id, count(DISTINCT consumer_department_id) AS consumers
             FROM {relation(w, "data_access")} GROUP BY dataset_id)
SELECT count(*) AS rows, count(*) FILTER (WHERE consumers >= 2) AS reused, count(*) AS used FROM per"""


def services(w: Window) -> str:
    """Published services by capability."""
    flags = ", ".join(
        f"count(*) FILTER (WHERE {f}) AS {f}" for f in ("online", "one_stop", "e_license", "mobile")
    )
    return f"SELECT count(*) AS rows, {flags} FROM {relation(w, 'services', asof=True)}"


def portal_usage(w: Window) -> str:
    """Completions (online or not), distinct users and mobile use."""
    return f"""
SELECT count(*) AS rows,
  count(*) FILTER (WHERE action = 'complete' AND completed_online) AS done_online,
  count(*) FILTER (WHERE action = 'complete') AS done,
  count(DISTINCT user_hash) AS users,
  count(*) FILTER (WHERE channel IN {_in(MOBILE)}) AS mobile
FROM {relation(w, "portal_usage")}"""


def portal_ratings(w: Window) -> str:
    """Good (4–5) and bad (1–2) 好差评 ratings."""
    return f"""
SELECT count(*) AS rows, count(*) FILTER (WHERE rating >= 4) AS good, count(*) FILTER (WHERE rating <= 2) AS bad
FROM {relation(w, "portal_ratings")}"""


def security_events(w: Window) -> str:
    """Incidents, detection and resolution hours, and high-severity events open at the end."""
    det = "is_incident AND detected_at IS NOT NULL"
    res = f"{det} AND resolved_at IS NOT NULL"
    return f"""
SELECT count(*) AS rows,
  count(*) FILTER (WHERE is_incident) AS incidents,
  sum((epoch(detected_at) - epoch(occurred_at)) / 3600.0) FILTER (WHERE {det}) AS detect_h,
  count(*) FILTER (WHERE {det}) AS detected,
  sum((epoch(resolved_at) - epoch(detected_at)) / 3600.0) FILTER (WHERE {res}) AS resolve_h,
  count(*) FILTER (WHERE {res}) AS resolved,
  count(*) FILTER (WHERE severity IN {_in(HIGH)} AND (resolved_at IS NULL OR resolved_at >= {_ts(w.end)})) AS open_high
FROM {relation(w, "security_events")}"""


QUERIES: dict[str, Callable[[Window], str]] = {
    "telemetry": telemetry,
    "assets": assets,
    "cases": cases,
    "datasets": datasets,
    "quality_results": quality_results,
    "sharing_requests": sharing_requests,
    "services": services,
    "portal_usage": portal_usage,
    "portal_ratings": portal_ratings,
    "security_events": security_events,
    "data_access": data_access,
}


def parts(w: Window, con: Any = None, timings: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """Run the one query per table (seconds of each into ``timings``); a fresh connection unless ``con`` is given."""
    own = con is None
    con = con or duckdb.connect()
    try:
        out = {}
        for table, query in QUERIES.items():
            t0 = time.perf_counter()
            cur = con.execute(query(w))
            names = [d[0] for d in cur.description]
            out[table] = dict(zip(names, cur.fetchone(), strict=True))
            if timings is not None:
                timings[table] = time.perf_counter() - t0
        return out
    finally:
        if own:
            con.close()


def compute(w: Window, con: Any = None) -> dict[str, float | None]:
    """Every measure's value for the window."""
    return finish(parts(w, con), w.population)
