"""Every measure the built-in packs use, computed with pandas: the same pruned Parquet files are read with
pyarrow into DataFrames (strings as categoricals, as one would for tens of millions of rows), then filtered,
joined and reduced in pandas. SQL NULL rules are spelled out: a comparison with a missing value is false."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

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


def read(w: Window, table: str, asof: bool = False) -> pd.DataFrame:
    """The rows of ``table`` in the period (or before its end, ``asof``) with the columns the measures use; a
    registry's latest row per entity."""
    time = TIME[table]
    key = [KEYS[table]] if table in KEYS else []
    cols = list(dict.fromkeys(["tenant", time, *key, *COLUMNS[table]]))
    files = w.files(table, asof)
    if not files:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    df = ds.dataset(files, format="parquet").to_table(columns=cols).to_pandas(strings_to_categorical=True)
    keep = df["tenant"].isin(w.tenants) & (df[time] < pd.Timestamp(w.end))
    if not asof:
        keep &= df[time] >= pd.Timestamp(w.start)
    df = df.loc[keep]
    if key:
        df = df.sort_values(time, kind="stable").drop_duplicates(key, keep="last")
    if table in VERSIONS:
        vkey, version = VERSIONS[table]
        df = df.sort_values(version, kind="stable").drop_duplicates([vkey], keep="last")
    return df


def epoch(s: pd.Series) -> np.ndarray:
    """Seconds since 1970 as float (microseconds / 1e6, as DuckDB computes it); NaN where missing."""
    a = s.to_numpy(dtype="datetime64[us]")
    out = a.astype("int64") / 1e6
    out[np.isnat(a)] = np.nan
    return out


def _epoch1(t: Any) -> float:
    return float(np.datetime64(t, "us").astype("int64") / 1e6)


def _is(s: pd.Series) -> pd.Series:
    """True where a nullable boolean column is true (missing counts as not true)."""
    return s.eq(True)


def _sum(x: Any) -> float | None:
    """SUM as SQL has it: None when no value is present."""
    x = pd.Series(x, dtype="float64").dropna()
    return float(x.sum()) if len(x) else None


def _assets_iv(w: Window) -> pd.DataFrame:
    a = read(w, "assets", asof=True)
    return pd.DataFrame(
        {
            "asset_id": a["asset_id"].astype(object).to_numpy(),
            "iv": a["expected_interval_s"].astype("float64").to_numpy(),
        }
    )


def telemetry(w: Window) -> dict[str, Any]:
    """Readings, assets online in the last 24 h, reporting buckets seen, and outages (gaps over three intervals)."""
    t = read(w, "telemetry")
    out: dict[str, Any] = {"rows": len(t), "seen": 0, "joined": 0, "outages": 0, "outage_h": None}
    if not len(t):
        return out
    out["online"] = t.loc[t["ts"] >= pd.Timestamp(w.end - timedelta(days=1)), "asset_id"].nunique()
    pairs = t.groupby(["asset_id", "ts"], observed=True).size().rename("n").reset_index()  # sorted by both
    pairs["prev"] = pairs.groupby("asset_id", observed=True)["ts"].shift()
    pairs["asset_id"] = pairs["asset_id"].astype(object)
    j = pairs.merge(_assets_iv(w), on="asset_id", how="inner")
    j = j[j["iv"] > 0]  # assets that do not report (no interval) have no availability
    e = epoch(j["ts"])
    bucket = np.floor(e / np.fmax(j["iv"].to_numpy(), 3600.0))  # GREATEST ignores a missing interval
    out["seen"] = len(pd.DataFrame({"a": j["asset_id"].to_numpy(), "b": bucket}).drop_duplicates())
    gap = e - epoch(j["prev"])
    outage = gap > OUTAGE_FACTOR * j["iv"].to_numpy()  # NaN gap or interval: not an outage
    out["joined"], out["outages"] = int(j["n"].sum()), int(outage.sum())
    out["outage_h"] = _sum(gap[outage] / 3600.0)
    return out


def _active_s(w: Window, a: pd.DataFrame) -> np.ndarray:
    s, e = _epoch1(w.start), _epoch1(w.end)
    until = np.minimum(e, np.where(a["retired_at"].isna(), e, epoch(a["retired_at"])))
    since = np.maximum(s, epoch(a["installed_at"]))
    return np.maximum(until - since, 0.0)


def assets(w: Window) -> dict[str, Any]:
    """Assets in service at the end, readings expected, and hour (or interval) buckets expected."""
    a = read(w, "assets", asof=True)
    iv = a["expected_interval_s"].astype("float64").to_numpy()
    active = _active_s(w, a)
    return {
        "rows": len(a),
        "active": int((a["retired_at"].isna() | (a["retired_at"] >= pd.Timestamp(w.end))).sum()),
        "expected_readings": _sum(active / iv * a["metric_count"].astype("float64").to_numpy()),
        "expected_buckets": _sum((active / np.fmax(iv, 3600.0))[iv > 0]),
    }


def _repeated(w: Window, c: pd.DataFrame) -> pd.Series:
    """Cases reopened, or repeating an earlier case of the same citizen and category in the same unit within
    REPEAT_DAYS (earlier cases looked up in all cases before the end)."""
    h = read(w, "cases", asof=True)
    keys = ["tenant", "reporter_hash", "category"]
    h = h.loc[h["reporter_hash"].notna() & h["category"].notna(), [*keys, "created_at"]]
    p = c.loc[c["reporter_hash"].notna() & c["category"].notna(), ["case_id", *keys, "created_at"]]
    pair = p.astype({k: object for k in keys}).merge(h.astype({k: object for k in keys}), on=keys,
                                                     suffixes=("", "_h"))
    gap = epoch(pair["created_at"]) - epoch(pair["created_at_h"])
    hit = set(pair.loc[(gap > 0) & (gap <= REPEAT_DAYS * 86400.0), "case_id"].astype(object))
    reopened = c["reopened_count"].astype("float64").fillna(0) > 0
    return reopened | c["case_id"].astype(object).isin(hit)


def _overdue(w: Window, c: pd.DataFrame) -> pd.Series:
    """Open at the cutoff (not resolved, else not closed, before it), clock running, and past the due time."""
    cut = pd.Timestamp(w.cutoff)
    status = c["status"].astype(object)
    done = c["resolved_at"].where(c["resolved_at"].notna(), c["closed_at"])
    # a case marked finished without a time is taken as done
    still = (done.notna() & (done >= cut)) | (done.isna() & ~status.isin(FINISHED))
    return (c["due_at"] < cut) & still & ~status.isin(STANDING)


def cases(w: Window) -> dict[str, Any]:
    """Counts and durations behind every case measure."""
    c = read(w, "cases")
    h = read(w, "cases", asof=True)
    flagged = _is(c["inconsistent"])
    consistent = c["resolved_at"].notna() & (c["resolved_at"] >= c["created_at"]) & ~flagged
    hours = (epoch(c["resolved_at"]) - epoch(c["created_at"])) / 3600.0
    return {
        "rows": len(c),
        "responded_ontime": int((c["responded_at"] <= c["response_due_at"]).sum()),
        "response_limited": int(c["response_due_at"].notna().sum()),
        "consistent": int(consistent.sum()),
        "due_resolved": int((consistent & c["due_at"].notna()).sum()),
        "ontime": int((consistent & (c["resolved_at"] <= c["due_at"])).sum()),
        "late_open": int((c["resolved_at"].isna() & ~flagged & _overdue(w, c)).sum()),
        "known": len(h),
        "backlog": int(_overdue(w, h).sum()),
        "resolved": int(c["resolved_at"].notna().sum()),
        "solved": int(_is(c["solved"]).sum()),
        "asked": int(c["solved"].notna().sum()),
        "satisfied": int((c["satisfaction"].astype("float64") >= 4).sum()),
        "rated": int(c["satisfaction"].notna().sum()),
        "hours": _sum(hours[consistent.to_numpy()]),
        "proactive": int(c["channel"].isin(PROACTIVE).sum()),
        "returned": int((c["returned_count"].astype("float64") > 0).sum()),
        "repeated": int(_repeated(w, c).sum()) if len(c) else 0,
    }


def datasets(w: Window) -> dict[str, Any]:
    """Catalogue flags, and datasets updated within their cycle as of the end (all update history)."""
    d = read(w, "datasets", asof=True)
    u = read(w, "dataset_updates", asof=True)
    last = u.assign(dataset_id=u["dataset_id"].astype(object)).groupby("dataset_id")["updated_at"].max()
    j = d.assign(dataset_id=d["dataset_id"].astype(object)).merge(
        last.rename("last_at").reset_index(), on="dataset_id", how="left"
    )
    cycle = j["update_cycle_days"].astype("float64").to_numpy()
    age_days = (_epoch1(w.end) - epoch(j["last_at"])) / 86400.0
    has = j["last_at"].notna().to_numpy()
    return {
        "rows": len(d),
        "catalogued": int(_is(d["catalogued"]).sum()),
        "open": int(_is(d["open"]).sum()),
        "shareable": int((d["sharing_type"].notna() & (d["sharing_type"] != "none")).sum()),
        "fresh": int((has & (age_days <= cycle)).sum()),
    }


def quality_results(w: Window) -> dict[str, Any]:
    """Rows checked and failed by every quality rule run in the period."""
    q = read(w, "quality_results")
    checked, failed = q["rows_checked"].dropna(), q["rows_failed"].dropna()
    out: dict[str, Any] = {
        "rows": len(q),
        "checked": int(checked.sum()) if len(checked) else None,
        "failed": int(failed.sum()) if len(failed) else None,
    }
    for dim in DIMENSIONS:
        mine = q[q["dimension"] == dim]
        out[f"checked_{dim}"] = int(mine["rows_checked"].sum()) if len(mine) else None
        out[f"failed_{dim}"] = int(mine["rows_failed"].sum()) if len(mine) else None
    return out


def sharing_requests(w: Window) -> dict[str, Any]:
    """Requests granted, and hours to decision over decided requests."""
    s = read(w, "sharing_requests")
    decided = s["decided_at"].notna()
    hours = (epoch(s["decided_at"]) - epoch(s["requested_at"])) / 3600.0
    return {
        "rows": len(s),
        "granted": int(_is(s["granted"]).sum()),
        "decide_h": _sum(hours[decided.to_numpy()]),
        "decided": int(decided.sum()),
        "median_days": float(np.median(hours[decided.to_numpy()] / 24.0)) if decided.any() else None,
    }


def data_access(w: Window) -> dict[str, Any]:
    """Datasets read through grants, and those read by two or more departments (复用)."""
    a = read(w, "data_access")
    per = a.astype({"dataset_id": object, "consumer_department_id": object}).groupby("dataset_id")[
        "consumer_department_id"].nunique()
    return {"rows": len(per), "reused": int((per >= 2).sum()), "used": len(per)}


def services(w: Window) -> dict[str, Any]:
    """Published services by capability."""
    s = read(w, "services", asof=True)
    return {"rows": len(s)} | {f: int(_is(s[f]).sum()) for f in ("online", "one_stop", "e_license", "mobile")}


def portal_usage(w: Window) -> dict[str, Any]:
    """Completions (online or not), distinct users and mobile use."""
    u = read(w, "portal_usage")
    done = u["action"] == "complete"
    return {
        "rows": len(u),
        "done_online": int((done & _is(u["completed_online"])).sum()),
        "done": int(done.sum()),
        "users": int(u["user_hash"].nunique()),
        "mobile": int(u["channel"].isin(MOBILE).sum()),
    }


def portal_ratings(w: Window) -> dict[str, Any]:
    """Good (4–5) and bad (1–2) 好差评 ratings."""
    r = read(w, "portal_ratings")
    return {"rows": len(r), "good": int((r["rating"] >= 4).sum()), "bad": int((r["rating"] <= 2).sum())}


def security_events(w: Window) -> dict[str, Any]:
    """Incidents, detection and resolution hours, and high-severity events open at the end."""
    e = read(w, "security_events")
    inc = _is(e["is_incident"])
    det = (inc & e["detected_at"].notna()).to_numpy()
    res = det & e["resolved_at"].notna().to_numpy()
    occurred, detected, resolved = epoch(e["occurred_at"]), epoch(e["detected_at"]), epoch(e["resolved_at"])
    open_at_end = e["resolved_at"].isna() | (e["resolved_at"] >= pd.Timestamp(w.end))
    return {
        "rows": len(e),
        "incidents": int(inc.sum()),
        "detect_h": _sum(((detected - occurred) / 3600.0)[det]),
        "detected": int(det.sum()),
        "resolve_h": _sum(((resolved - detected) / 3600.0)[res]),
        "resolved": int(res.sum()),
        "open_high": int((e["severity"].isin(HIGH) & open_at_end).sum()),
    }


TABLES: dict[str, Callable[[Window], dict[str, Any]]] = {
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


def parts(w: Window, timings: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """Every table's parts, one table at a time (each frame is released before the next is read)."""
    out = {}
    for table, fn in TABLES.items():
        t0 = time.perf_counter()
        out[table] = fn(w)
        if timings is not None:
            timings[table] = time.perf_counter() - t0
    return out


def compute(w: Window) -> dict[str, float | None]:
    """Every measure's value for the window."""
    return finish(parts(w), w.population)
