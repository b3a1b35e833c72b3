"""Data resource measures (数据资源): catalogue coverage, quality, freshness, openness, sharing."""

from __future__ import annotations

from typing import Any

from chengyun.analytics.kit import epoch, hours_between, on_table, ratio, single, ts
from chengyun.analytics.registry import Measure, MeasureContext

# GB/T 36344 dimensions (质量维度): the keys quality runs write to the lake's quality_results
DIMENSIONS = {"conformity": ("规范性", "Conformity"), "completeness": ("完整性", "Completeness"),
              "accuracy": ("准确性", "Accuracy"), "consistency": ("一致性", "Consistency"),
              "timeliness": ("时效性", "Timeliness"), "accessibility": ("可访问性", "Accessibility")}


def _quality(parts: dict[str, float | None], _c: MeasureContext) -> float | None:
    checked, failed = parts.get("checked"), parts.get("failed")
    if not checked or failed is None:
        return None
    return 100.0 * (1.0 - float(failed) / float(checked))


def _freshness(ctx: MeasureContext) -> Any:
    """Share of catalogued datasets whose last update is no older than their update cycle at period end."""
    assert ctx.table and ctx.asof
    d = ctx.asof("datasets")
    u = ctx.asof("dataset_updates")
    last = u.group_by("dataset_id").aggregate(last=u.updated_at.max())
    j = d.left_join(last, "dataset_id")
    age_days = (epoch(ts(ctx.end)) - epoch(j["last"])) / 86400.0
    fresh = j["last"].notnull() & (age_days <= j.update_cycle_days.cast("float64"))
    return j.aggregate(fresh=j.count(where=fresh), datasets=j.count())


def _reuse(ctx: MeasureContext) -> Any:
    """Datasets read in the period by two or more departments, over datasets read at all."""
    assert ctx.table
    a = ctx.table("data_access")
    per = a.group_by("dataset_id").aggregate(consumers=a.consumer_department_id.nunique())
    return per.aggregate(reused=per.count(where=per.consumers >= 2), used=per.count())


def _median_days(s: Any, _c: MeasureContext) -> dict[str, Any]:
    # undecided requests give null days, which the median skips (a filter would fail on Spark's percentile)
    return {"days": (hours_between(s.decided_at, s.requested_at) / 24.0).median()}


def _dimension(key: str, zh: str, en: str) -> Measure:
    """The quality score of one GB/T 36344 dimension over the period's runs."""
    return on_table(f"data.quality_{key}", f"数据{zh}得分", f"Data quality: {en.lower()}", "score", "higher",
                    "quality_results",
                    lambda q, c: {"checked": q.rows_checked.sum(where=q.dimension == key),
                                  "failed": q.rows_failed.sum(where=q.dimension == key)}, _quality,
                    f"100 × (1 − failing rows / checked rows) over the {en.lower()} ({zh}) rules run in the period.")


MEASURES = [
    on_table("data.catalog_coverage", "目录编制率", "Catalogue coverage", "ratio", "higher", "datasets",
       lambda d, c: {"catalogued": d.count(where=d.catalogued), "n": d.count()}, ratio("catalogued", "n"),
       "Share of registered datasets described in the data resource catalogue."),
    on_table("data.open_rate", "数据开放率", "Open data rate", "ratio", "higher", "datasets",
       lambda d, c: {"open": d.count(where=d.open), "n": d.count()}, ratio("open", "n"),
       "Share of registered datasets published as open data."),
    on_table("data.shareable_rate", "可共享率", "Shareable rate", "ratio", "higher", "datasets",
       lambda d, c: {"shareable": d.count(where=d.sharing_type != "none"), "n": d.count()}, ratio("shareable", "n"),
       "Share of datasets whose sharing type is unconditional or conditional (无条件/有条件共享)."),
    on_table("data.quality_score", "数据质量得分", "Data quality score", "score", "higher", "quality_results",
       lambda q, c: {"checked": q.rows_checked.sum(), "failed": q.rows_failed.sum()}, _quality,
       "100 × (1 − failing rows / checked rows) over every quality check run in the period."),
    Measure(name="data.freshness_rate", title="数据及时更新率", title_en="Freshness rate", unit="ratio",
            direction="higher", custom=_freshness, combine=ratio("fresh", "datasets"), tables=("datasets", "dataset_updates"),
            description="Share of datasets updated within their update cycle as of the end of the period."),
    on_table("data.update_count", "数据更新次数", "Dataset updates", "count", "higher", "dataset_updates",
       lambda u, c: {"n": u.count()}, lambda p, c: None if p.get("n") is None else float(p["n"] or 0),
       "Dataset refreshes in the period."),
    on_table("data.sharing_fulfilment_rate", "共享需求满足率", "Sharing fulfilment rate", "ratio", "higher",
       "sharing_requests", lambda s, c: {"granted": s.count(where=s.granted), "n": s.count()}, ratio("granted", "n"),
       "Share of sharing requests made in the period that were granted."),
    on_table("data.sharing_mean_days", "共享平均响应天数", "Mean days to decide a sharing request", "d", "lower",
       "sharing_requests",
       lambda s, c: {"hours": hours_between(s.decided_at, s.requested_at).sum(where=s.decided_at.notnull()),
                     "decided": s.count(where=s.decided_at.notnull())},
       lambda p, c: None if not p.get("decided") or p.get("hours") is None else float(p["hours"]) / float(p["decided"]) / 24,
       "Mean days from request to decision, over decided requests made in the period."),
    on_table("data.sharing_median_days", "共享响应中位天数", "Median days to decide a sharing request", "d", "lower",
       "sharing_requests", _median_days, single("days"),
       "Median days from request to decision, over decided requests made in the period (less swayed by a few "
       "forgotten requests than the mean)."),
    Measure(name="data.reuse_rate", title="数据复用率", title_en="Data reuse rate", unit="ratio", direction="higher",
            custom=_reuse, combine=ratio("reused", "used"), tables=("data_access",),
            description="Share of the datasets read through sharing grants in the period that two or more "
            "departments read."),
    on_table("data.access_calls", "数据调用次数", "Shared data calls", "count", "higher", "data_access",
       lambda a, c: {"n": a.count()}, lambda p, c: None if p.get("n") is None else float(p["n"] or 0),
       "Reads of shared datasets through grants in the period."),
    *[_dimension(k, zh, en) for k, (zh, en) in DIMENSIONS.items()],
]
