"""Two independent second computations of every measure the built-in packs use: hand-written DuckDB SQL
(``sql.py``) and pandas (``pandas_impl.py``). Both return the same per-table *parts* (raw counts and sums);
``finish`` turns parts into measure values following each measure's written definition, not chengyun's code.

Nothing here imports chengyun, so a baseline process carries no Ibis or registry in its memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from chengyun.lake.reader import table_files

# columns each relation needs, with their SQL types (used for an empty relation when no file exists)
COLUMNS: dict[str, dict[str, str]] = {
    "telemetry": {"asset_id": "VARCHAR", "ts": "TIMESTAMP"},
    "assets": {
        "asset_id": "VARCHAR",
        "expected_interval_s": "INTEGER",
        "metric_count": "SMALLINT",
        "installed_at": "TIMESTAMP",
        "retired_at": "TIMESTAMP",
    },
    "cases": {
        "tenant": "VARCHAR",
        "case_id": "VARCHAR",
        "channel": "VARCHAR",
        "category": "VARCHAR",
        "reporter_hash": "VARCHAR",
        "created_at": "TIMESTAMP",
        "response_due_at": "TIMESTAMP",
        "responded_at": "TIMESTAMP",
        "due_at": "TIMESTAMP",
        "resolved_at": "TIMESTAMP",
        "solved": "BOOLEAN",
        "satisfaction": "TINYINT",
        "returned_count": "SMALLINT",
        "reopened_count": "SMALLINT",
        "inconsistent": "BOOLEAN",
        "status": "VARCHAR",
        "closed_at": "TIMESTAMP",
        "version_at": "TIMESTAMP",
    },
    "datasets": {
        "dataset_id": "VARCHAR",
        "update_cycle_days": "INTEGER",
        "sharing_type": "VARCHAR",
        "open": "BOOLEAN",
        "catalogued": "BOOLEAN",
    },
    "dataset_updates": {"dataset_id": "VARCHAR", "updated_at": "TIMESTAMP"},
    "quality_results": {"rows_checked": "BIGINT", "rows_failed": "BIGINT", "dimension": "VARCHAR"},
    "sharing_requests": {"request_id": "VARCHAR", "requested_at": "TIMESTAMP", "decided_at": "TIMESTAMP",
                         "granted": "BOOLEAN", "version_at": "TIMESTAMP"},
    "data_access": {"dataset_id": "VARCHAR", "consumer_department_id": "VARCHAR"},
    "services": {"online": "BOOLEAN", "one_stop": "BOOLEAN", "e_license": "BOOLEAN", "mobile": "BOOLEAN"},
    "portal_usage": {
        "user_hash": "VARCHAR",
        "channel": "VARCHAR",
        "action": "VARCHAR",
        "completed_online": "BOOLEAN",
    },
    "portal_ratings": {"rating": "TINYINT"},
    "security_events": {
        "severity": "VARCHAR",
        "occurred_at": "TIMESTAMP",
        "detected_at": "TIMESTAMP",
        "resolved_at": "TIMESTAMP",
        "is_incident": "BOOLEAN",
    },
}
# registries (dimensions) and their entity id: read as they stood at the period end, the latest row of each id
KEYS = {"assets": "asset_id", "datasets": "dataset_id", "services": "service_id"}
# facts whose rows change (a case is resolved after it is created): the latest version of each id counts
VERSIONS = {"cases": ("case_id", "version_at"), "sharing_requests": ("request_id", "version_at")}
# the time column of each table: within the period for facts, before the period end for registries (as of)
TIME = {
    "telemetry": "ts",
    "assets": "installed_at",
    "cases": "created_at",
    "datasets": "registered_at",
    "dataset_updates": "updated_at",
    "quality_results": "checked_at",
    "sharing_requests": "requested_at",
    "services": "published_at",
    "portal_usage": "ts",
    "portal_ratings": "ts",
    "security_events": "occurred_at",
    "data_access": "ts",
}
# GB/T 36344 dimensions, as the quality runs write them
DIMENSIONS = ("conformity", "completeness", "accuracy", "consistency", "timeliness", "accessibility")


PROACTIVE = ("iot-alarm", "data-quality", "grid")  # channels where the city finds the problem itself (主动发现)
MOBILE = ("app", "miniprogram")
HIGH = ("high", "critical")
OUTAGE_FACTOR = 3  # a reporting gap longer than three expected intervals is an outage
REPEAT_DAYS = 30  # the same citizen and category again within this many days is a repeat case (重办)
STANDING = ("suspended", "cancelled")  # a case whose SLA clock stands (挂起), or that was voided: never overdue
FINISHED = ("resolved", "followed_up", "closed", "cancelled")  # 办结 and after: no longer open


@dataclass(frozen=True)
class Window:
    """What a baseline needs: the lake, the tenants of the subtree, the period in naive UTC, the population."""

    lake: Path
    tenants: tuple[str, ...]
    start: datetime
    end: datetime
    population: int | None = None
    _files: dict[tuple[str, bool], list[str]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def cutoff(self) -> datetime:
        """When a backlog is counted: the period's end, or now while the period runs (naive UTC)."""
        return min(self.end, datetime.now(UTC).replace(tzinfo=None))

    def files(self, table: str, asof: bool = False) -> list[str]:
        """Committed Parquet files of ``table`` in the partitions the period can touch (Hive pruning).

        Within the period: dates from the start's UTC day to the last instant's UTC day. As of the end: every
        date up to the end's UTC day."""
        key = (table, asof)
        if key not in self._files:
            first = None if asof else self.start.date()
            last = self.end.date() if asof else (self.end - timedelta(microseconds=1)).date()
            self._files[key] = list_files(self.lake, table, self.tenants, first, last)
        return self._files[key]

    @classmethod
    def from_job(cls, job: dict[str, Any]) -> Window:
        """A window from the JSON job the benchmark hands to a child process."""
        return cls(
            Path(job["lake"]),
            tuple(job["tenants"]),
            datetime.fromisoformat(job["start"]),
            datetime.fromisoformat(job["end"]),
            job.get("population"),
        )


def list_files(
    lake: Path, table: str, tenants: tuple[str, ...], first: date | None, last: date | None
) -> list[str]:
    """``<lake>/<table>/tenant=<id>/date=<day>/part-*.parquet`` for the tenants and days in ``[first, last]``
    (chengyun's own partition pruning, so that every method reads exactly the same files)."""
    return table_files(lake, table, tenants, first, last)


def _ratio(num: Any, den: Any) -> float | None:
    if num is None or not den:
        return None
    return float(num) / float(den)


def _get(parts: dict[str, dict[str, Any]], table: str) -> dict[str, Any]:
    """A table's parts, or all-None when its scan was empty (missing data is never a silent zero)."""
    p = parts.get(table) or {}
    if not p.get("rows"):
        return {k: None for k in p} | {"rows": 0}
    return p


def finish(parts: dict[str, dict[str, Any]], population: int | None) -> dict[str, float | None]:
    """Measure values from the per-table parts, by each measure's definition."""
    tel, ast, cas = _get(parts, "telemetry"), _get(parts, "assets"), _get(parts, "cases")
    dst, qlt, shr = _get(parts, "datasets"), _get(parts, "quality_results"), _get(parts, "sharing_requests")
    svc, use, rat, sec = (
        _get(parts, t) for t in ("services", "portal_usage", "portal_ratings", "security_events")
    )
    v: dict[str, float | None] = {}
    # infrastructure (ICT 基础设施)
    seen = parts.get("telemetry", {}).get("seen", 0)  # no reading at all is 0 % available, not missing
    buckets = ast.get("expected_buckets")
    v["infra.device_availability"] = None if not buckets else min(float(seen or 0) / float(buckets), 1.0)
    v["infra.online_rate"] = _ratio(tel.get("online"), ast.get("active"))
    got, exp = tel.get("rows") or None, ast.get("expected_readings")
    v["infra.data_completeness"] = None if got is None or not exp else min(float(got) / float(exp), 1.0)
    v["infra.outage_mttr_hours"] = _mean_outage(parts.get("telemetry", {}))
    # cases (一网统管 / 12345)
    v["cases.response_rate"] = _ratio(cas.get("responded_ontime"), cas.get("response_limited"))
    # a case open past its due time at the end is a late one (超期未办结)
    due = None if cas.get("due_resolved") is None else cas["due_resolved"] + (cas.get("late_open") or 0)
    v["cases.ontime_closure_rate"] = _ratio(cas.get("ontime"), due)
    known = parts.get("cases", {}).get("known")  # the backlog counts every case before the end, not the period's
    v["cases.overdue_open"] = _float(parts["cases"].get("backlog")) if known else None
    v["cases.closure_rate"] = _ratio(cas.get("resolved"), cas.get("rows"))
    v["cases.resolution_rate"] = _ratio(cas.get("solved"), cas.get("asked"))
    v["cases.satisfaction_rate"] = _ratio(cas.get("satisfied"), cas.get("rated"))
    v["cases.mean_resolution_hours"] = _ratio(cas.get("hours"), cas.get("consistent"))
    v["cases.proactive_rate"] = _ratio(cas.get("proactive"), cas.get("rows"))
    v["cases.return_rate"] = _ratio(cas.get("returned"), cas.get("rows"))
    v["cases.repeat_rate"] = _ratio(cas.get("repeated"), cas.get("rows"))
    # data resources (数据资源)
    v["data.catalog_coverage"] = _ratio(dst.get("catalogued"), dst.get("rows"))
    v["data.open_rate"] = _ratio(dst.get("open"), dst.get("rows"))
    v["data.shareable_rate"] = _ratio(dst.get("shareable"), dst.get("rows"))
    v["data.freshness_rate"] = _ratio(parts.get("datasets", {}).get("fresh"), dst.get("rows"))
    checked, failed = qlt.get("checked"), qlt.get("failed")
    v["data.quality_score"] = (
        None if not checked or failed is None else 100.0 * (1.0 - float(failed) / float(checked))
    )
    v["data.sharing_fulfilment_rate"] = _ratio(shr.get("granted"), shr.get("rows"))
    days = _ratio(shr.get("decide_h"), shr.get("decided"))
    v["data.sharing_mean_days"] = None if days is None else days / 24
    v["data.sharing_median_days"] = shr.get("median_days")
    for dim in DIMENSIONS:
        c, f = qlt.get(f"checked_{dim}"), qlt.get(f"failed_{dim}")
        v[f"data.quality_{dim}"] = None if not c or f is None else 100.0 * (1.0 - float(f) / float(c))
    acc = _get(parts, "data_access")
    v["data.reuse_rate"] = _ratio(acc.get("reused"), acc.get("used"))
    # unified portal (统一门户)
    for flag, name in (
        ("online", "online_service_rate"),
        ("one_stop", "one_stop_rate"),
        ("e_license", "e_license_rate"),
        ("mobile", "mobile_service_rate"),
    ):
        v[f"portal.{name}"] = _ratio(svc.get(flag), svc.get("rows"))
    v["portal.online_completion_rate"] = _ratio(use.get("done_online"), use.get("done"))
    users = use.get("users")
    v["portal.active_users_per_10k"] = (
        None if users is None or not population else float(users) / population * 10000
    )
    v["portal.mobile_share"] = _ratio(use.get("mobile"), use.get("rows"))
    v["portal.satisfaction_rate"] = _ratio(rat.get("good"), rat.get("rows"))
    v["portal.bad_review_rate"] = _ratio(rat.get("bad"), rat.get("rows"))
    # security (安全保障)
    v["security.incident_count"] = _float(sec.get("incidents"))
    v["security.mttd_hours"] = _ratio(sec.get("detect_h"), sec.get("detected"))
    v["security.mttr_hours"] = _ratio(sec.get("resolve_h"), sec.get("resolved"))
    v["security.open_high_risks"] = _float(sec.get("open_high"))
    return v


def _mean_outage(tel: dict[str, Any]) -> float | None:
    """Mean outage hours; reports and no outage means nothing to repair (0 h); no report means no data."""
    if not tel.get("joined"):
        return None
    return 0.0 if not tel.get("outages") else float(tel["outage_h"]) / float(tel["outages"])


def _float(x: Any) -> float | None:
    if x is None:
        return None
    f = float(x)
    return None if f != f else f


MEASURES = tuple(finish({}, None))  # every measure both baselines compute
