"""Infrastructure measures (ICT 基础设施): availability, online rate, data completeness, outage MTTR.

Availability, completeness and outages are built from grouped parts (``reading_parts``, ``expected_parts``): with no grouping they are the measures' one-row parts for the whole tenant subtree; grouped by
asset columns (``asset_id``, ``asset_type``, ``department_id``) they are the same quantities per group, which
``assets/availability.py`` combines with the same functions (``capped_ratio``, ``completeness``, ``mean_outage``).
Only assets with an expected reporting interval count: an application or a dataset that does not report is not
unavailable."""

from __future__ import annotations

from typing import Any

import ibis

from chengyun.analytics.kit import epoch, ratio, single, ts
from chengyun.analytics.registry import Input, Measure, MeasureContext

OUTAGE_FACTOR = 3  # a gap longer than three expected intervals is an outage (离线)
Keys = tuple[str, ...]  # asset columns to group by; () for the whole subtree


def _active_seconds(a: Any, ctx: MeasureContext) -> Any:
    """Seconds each asset was in service within the period."""
    start, end = epoch(ts(ctx.start)), epoch(ts(ctx.end))
    until = ibis.least(end, epoch(a.retired_at).fill_null(end))
    since = ibis.greatest(start, epoch(a.installed_at))
    return ibis.greatest(until - since, 0.0)


def _bucket_s(a: Any) -> Any:
    return ibis.greatest(a.expected_interval_s.cast("float64"), 3600.0)


def _columns(*names: str) -> list[str]:
    return list(dict.fromkeys(names))


def _reduce(t: Any, by: Keys, **aggs: Any) -> Any:
    """One row of reductions, or one per group of ``by``."""
    return t.group_by(list(by)).aggregate(**aggs) if by else t.aggregate(**aggs)


def _reports(a: Any) -> Any:
    return a.expected_interval_s.notnull() & (a.expected_interval_s > 0)


def reporting(a: Any) -> Any:
    """The assets expected to report (an expected interval): the only ones availability is asked of."""
    return a.filter(_reports(a))


def _expected_readings(a: Any, ctx: MeasureContext) -> Any:
    """Readings each asset should have sent in the period: reports in service times metrics per report."""
    return _active_seconds(a, ctx) / a.expected_interval_s.cast("float64") * a.metric_count.cast("float64")


def expected_parts(ctx: MeasureContext, by: Keys = ()) -> Any:
    """Buckets and readings expected in the period, and the reporting assets in service, per group of ``by``."""
    assert ctx.asof
    a = reporting(ctx.asof("assets"))
    active = _active_seconds(a, ctx)
    return _reduce(a, by, expected_buckets=(active / _bucket_s(a)).sum(),
                   expected=_expected_readings(a, ctx).sum(), assets=a.count(where=active > 0))


def reading_parts(ctx: MeasureContext, by: Keys = ()) -> Any:
    """From one pass over the period's readings of the reporting assets, per group of ``by``: the buckets (one hour,
    or one expected interval if longer) with a reading, the outages (gaps longer than OUTAGE_FACTOR expected
    intervals) and their hours, and the readings.

    The readings are first reduced to one row per asset and time (several metrics of one report share a time),
    then each row is compared with the asset's previous time: a row opens a bucket when it is the asset's first or
    its bucket differs from the previous row's (times are in order, so this counts the distinct buckets), and a gap
    over the limit is an outage. Availability and repair time share this one reduction."""
    assert ctx.table and ctx.asof
    a = reporting(ctx.asof("assets")).select(*_columns("asset_id", "expected_interval_s", *by))
    t = ctx.table("telemetry")
    p = t.group_by(["asset_id", "ts"]).aggregate(n=t.count())
    w = ibis.window(group_by="asset_id", order_by="ts")
    g = p.mutate(prev=p.ts.lag().over(w)).join(a, "asset_id")
    gap = epoch(g.ts) - epoch(g.prev)
    out = g.prev.notnull() & (gap > OUTAGE_FACTOR * g.expected_interval_s.cast("float64"))
    size = _bucket_s(g)
    opens = g.prev.isnull() | ((epoch(g.ts) / size).floor() != (epoch(g.prev) / size).floor())
    return _reduce(g, by, seen_buckets=g.count(where=opens), outage_hours=(gap / 3600.0).sum(where=out),
                   outages=g.count(where=out), readings=g.n.sum())


def _infra_parts(ctx: MeasureContext) -> Any:
    """The readings' parts and the buckets in service over the whole subtree (one query for availability and
    repair time: the runner runs a custom function shared by several measures once)."""
    return reading_parts(ctx).cross_join(expected_parts(ctx).select("expected_buckets"))


def capped_ratio(parts: dict[str, float | None], _ctx: Any = None) -> float | None:
    """Availability (可用率): seen buckets over buckets in service, at most 1; None without buckets in service."""
    seen, expected = parts.get("seen_buckets"), parts.get("expected_buckets")
    return None if seen is None or not expected else min(float(seen) / float(expected), 1.0)


def _completeness_parts(a: Any, ctx: MeasureContext) -> dict[str, Any]:
    return {"expected": _expected_readings(a, ctx).sum(where=_reports(a))}


def completeness(parts: dict[str, float | None], _ctx: Any = None) -> float | None:
    """Data completeness (数据完整率): readings over readings expected, at most 1; None without either."""
    got, exp = parts.get("readings"), parts.get("expected")
    return None if got is None or not exp else min(float(got) / float(exp), 1.0)


def mean_outage(parts: dict[str, float | None], _ctx: Any = None) -> float | None:
    """Mean outage hours (平均修复时长); a period with reports and no outage has nothing to repair (0 h)."""
    if not parts.get("readings"):
        return None
    n = parts.get("outages") or 0.0
    return 0.0 if n == 0 else float(parts.get("outage_hours") or 0.0) / n


MEASURES = [
    Measure(
        name="infra.device_availability", title="设备可用率", title_en="Device availability", unit="ratio",
        direction="higher", custom=_infra_parts, combine=capped_ratio, tables=("telemetry", "assets"),
        description="Share of the time in service during which each device reported: hours (or expected "
        "intervals, when longer) with at least one reading over those it was installed and not retired; only "
        "assets with an expected reporting interval count.",
    ),
    Measure(
        name="infra.online_rate", title="设备在线率", title_en="Online rate", unit="ratio", direction="higher",
        inputs=(
            Input("telemetry", lambda t, c: {"online": t.asset_id.nunique(where=t.ts >= ts(c.end) - ibis.interval(days=1))}),
            Input("assets", lambda a, c: {"active": a.count(where=a.retired_at.isnull() | (a.retired_at >= ts(c.end)))}),
        ),
        combine=ratio("online", "active"),
        description="Share of assets in service at the end of the period that reported in its last 24 hours.",
    ),
    Measure(
        name="infra.data_completeness", title="数据完整率", title_en="Data completeness", unit="ratio",
        direction="higher",
        inputs=(Input("telemetry", lambda t, c: {"readings": t.count()}), Input("assets", _completeness_parts)),
        combine=completeness,
        description="Readings received over readings expected from each asset's reporting interval and metrics.",
    ),
    Measure(
        name="infra.outage_mttr_hours", title="故障平均修复时长", title_en="Outage MTTR", unit="h",
        direction="lower", custom=_infra_parts, combine=mean_outage, tables=("telemetry", "assets"),
        description="Mean duration in hours of outages: reporting gaps longer than three expected intervals.",
    ),
    Measure(
        name="infra.asset_count", title="在运设备数", title_en="Assets in service", unit="count", direction="higher",
        inputs=(Input("assets", lambda a, c: {"n": a.count(where=a.retired_at.isnull() | (a.retired_at >= ts(c.end)))}),),
        combine=single("n"), description="Assets installed before the period end and not retired by then.",
    ),
]
