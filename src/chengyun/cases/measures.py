"""Case measures (一网统管 / 12345 热线): volume, response, on-time closure, resolution, satisfaction, repeats,
durations — each over the cases created within the period (their latest version in the lake).

*Resolved* (办结) is ``resolved_at``: the service sets it when a department resolves a case, and an import sets it
from the source's close date. Durations and on-time closure use *consistent* cases only: resolved, not resolved
before they were created, and not flagged ``inconsistent`` by an import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chengyun.analytics.kit import epoch, hours_between, on_table, ratio, single, ts
from chengyun.analytics.registry import Measure, MeasureContext
from chengyun.cases import lifecycle
from chengyun.core.db import utcnow

PROACTIVE = ("iot-alarm", "data-quality", "grid")  # channels where the city finds the problem itself (主动发现)
REPEAT_DAYS = 30  # a citizen reporting the same category again within this many days is a repeat (重办)


def _consistent(t: Any) -> Any:
    """Resolved rows whose resolution does not precede their creation and that no import flagged."""
    return t.resolved_at.notnull() & (t.resolved_at >= t.created_at) & ~t.inconsistent.fill_null(False)


def _resolution_parts(t: Any, _c: MeasureContext) -> dict[str, Any]:
    ok = _consistent(t)
    return {"hours": hours_between(t.resolved_at, t.created_at).sum(where=ok), "resolved": t.count(where=ok)}


def _quantile(q: float) -> Any:
    def parts(t: Any, _c: MeasureContext) -> dict[str, Any]:
        # linear interpolation between the closest ranks (DuckDB quantile_cont, Spark percentile): exact
        return {"hours": hours_between(t.resolved_at, t.created_at).quantile(q, where=_consistent(t))}

    return parts


def _repeats(ctx: MeasureContext) -> Any:
    """One row: cases of the period that were reopened or repeat an earlier case of the same citizen and
    category in the same unit within ``REPEAT_DAYS``, and all cases of the period."""
    assert ctx.table is not None and ctx.asof is not None
    t = ctx.table("cases")
    h = ctx.asof("cases")
    h = h.filter(h.reporter_hash.notnull(), h.category.notnull()).select(
        h_tenant=h.tenant, h_reporter=h.reporter_hash, h_category=h.category, h_created=h.created_at)
    p = t.filter(t.reporter_hash.notnull(), t.category.notnull())
    gap = epoch(p.created_at) - epoch(h.h_created)
    earlier = p.join(h, [p.tenant == h.h_tenant, p.reporter_hash == h.h_reporter, p.category == h.h_category,
                         h.h_created < p.created_at, gap <= REPEAT_DAYS * 86400.0])
    repeated = (t.reopened_count.fill_null(0) > 0) | t.case_id.isin(earlier.select("case_id").distinct().case_id)
    return t.aggregate(repeated=t.count(where=repeated), n=t.count())


def _responded_parts(t: Any, _c: MeasureContext) -> dict[str, Any]:
    return {"ontime": t.count(where=t.responded_at.notnull() & (t.responded_at <= t.response_due_at)),
            "limited": t.count(where=t.response_due_at.notnull())}


def _cutoff(ctx: MeasureContext) -> datetime:
    """The moment a backlog is counted at: the period's end, or now while the period is still running."""
    return min(ctx.end, utcnow())


def _overdue_open(t: Any, ctx: MeasureContext) -> Any:
    """Cases open at the cutoff whose resolution limit had passed (超期未办结). The SLA clock's ``due_at`` already
    includes pauses and extensions; a case whose clock stands (挂起: status ``suspended``, or no due time) is not
    overdue, the way the SLA tick skips it. A cancelled case (作废) has no end time and is left out."""
    at = ts(_cutoff(ctx))
    status = t.status.fill_null("")
    done = t.resolved_at.coalesce(t.closed_at)  # 办结, else 结案: when the case stopped being open
    # finished after the cutoff, or not finished at all; a case marked finished with no time is taken as done
    still_open = (done.notnull() & (done >= at)) | (done.isnull() & ~status.isin(sorted(lifecycle.FINISHED)))
    running = ~status.isin(("suspended", "cancelled"))
    return t.due_at.notnull() & (t.due_at < at) & still_open & running


def _ontime_parts(t: Any, ctx: MeasureContext) -> dict[str, Any]:
    ok = _consistent(t) & t.due_at.notnull()
    late_open = _overdue_open(t, ctx) & t.resolved_at.isnull() & ~t.inconsistent.fill_null(False)
    return {"ontime": t.count(where=ok & (t.resolved_at <= t.due_at)), "resolved": t.count(where=ok),
            "overdue_open": t.count(where=late_open)}


def _ontime_rate(parts: dict[str, float | None], _ctx: MeasureContext) -> float | None:
    ontime, due = parts.get("ontime"), (parts.get("resolved") or 0.0) + (parts.get("overdue_open") or 0.0)
    return None if ontime is None or not due else float(ontime) / due


def _backlog(ctx: MeasureContext) -> Any:
    """One row: the overdue open cases at the cutoff among every case created before it, and all those cases."""
    assert ctx.asof is not None
    t = ctx.asof("cases")
    return t.aggregate(overdue=t.count(where=_overdue_open(t, ctx)), n=t.count())


def _count_if_any(parts: dict[str, float | None], _ctx: MeasureContext) -> float | None:
    """The overdue count, no data when the tenant has no cases at all (never a silent zero)."""
    return None if not parts.get("n") else float(parts.get("overdue") or 0.0)


REPEAT_RATE = Measure(
    name="cases.repeat_rate", title="重办率", title_en="Repeat rate", unit="ratio", direction="lower",
    description=f"Share of cases created in the period that had to be handled again: reopened (重开) after being "
                f"resolved, or reported again by the same citizen (same contact hash) in the same category and unit "
                f"within {REPEAT_DAYS} days of an earlier case. Without reporter data it is reopened cases only. "
                "Over all cases of the period rather than resolved ones, so a repeat still open counts.",
    custom=_repeats, combine=ratio("repeated", "n"), tables=("cases",))

OVERDUE_OPEN = Measure(
    name="cases.overdue_open", title="超期未办结", title_en="Overdue open cases", unit="count", direction="lower",
    description="Cases still open at the end of the period (or now, while it runs) whose resolution limit has "
                "passed, whenever they were created: the backlog a period leaves behind. The limit is the SLA "
                "clock's due time, pauses and approved extensions included; a suspended case (挂起, its clock "
                "stands) is not counted, nor a cancelled one.",
    custom=_backlog, combine=_count_if_any, tables=("cases",))

MEASURES = [
    on_table("cases.count", "案件量", "Cases", "count", "higher", "cases", lambda t, c: {"n": t.count()}, single("n"),
       "Cases created in the period, every channel."),
    on_table("cases.per_10k", "万人案件量", "Cases per 10,000 residents", "per 10k", "higher", "cases",
       lambda t, c: {"n": t.count()}, single("n"), "Cases created in the period per 10,000 residents.", 10000),
    on_table("cases.response_rate", "响应率", "Response rate", "ratio", "higher", "cases", _responded_parts,
       ratio("ontime", "limited"), "Share of cases created in the period with a response limit that were answered "
       "(签收) within it; cases without a limit (imported history) are left out."),
    on_table("cases.ontime_closure_rate", "按时办结率", "On-time closure rate", "ratio", "higher", "cases",
       _ontime_parts, _ontime_rate,
       "Share of the cases created in the period that were resolved by their due time, out of those resolved "
       "with a due time plus those still open at the end of the period (or now, while it runs) past their due "
       "time (超期未办结, counted as late: a case left open never improves the rate); suspended cases, flagged "
       "and inconsistent rows are left out."),
    on_table("cases.closure_rate", "办结率", "Closure rate", "ratio", "higher", "cases",
       lambda t, c: {"resolved": t.count(where=t.resolved_at.notnull()), "n": t.count()},
       ratio("resolved", "n"), "Share of cases created in the period that have been resolved."),
    on_table("cases.resolution_rate", "解决率", "Resolution rate", "ratio", "higher", "cases",
       lambda t, c: {"solved": t.count(where=t.solved), "asked": t.count(where=t.solved.notnull())},
       ratio("solved", "asked"), "Share of followed-up cases the citizen says were actually solved."),
    on_table("cases.satisfaction_rate", "满意率", "Satisfaction rate", "ratio", "higher", "cases",
       lambda t, c: {"satisfied": t.count(where=t.satisfaction >= 4), "rated": t.count(where=t.satisfaction.notnull())},
       ratio("satisfied", "rated"), "Share of rated cases rated satisfied or very satisfied (4 or 5 of 5)."),
    on_table("cases.mean_resolution_hours", "平均办结时长", "Mean time to resolve", "h", "lower", "cases", _resolution_parts,
       ratio("hours", "resolved"), "Mean hours from creation to resolution; flagged and inconsistent rows are left out."),
    on_table("cases.median_hours_to_close", "办结时长中位数", "Median time to close", "h", "lower", "cases",
       _quantile(0.5), single("hours"),
       "Median hours from creation to resolution (办结) of the resolved cases created in the period; flagged and "
       "inconsistent rows are left out."),
    on_table("cases.p90_hours_to_close", "办结时长90分位", "90th percentile time to close", "h", "lower", "cases",
       _quantile(0.9), single("hours"),
       "Hours within which 90 % of the resolved cases created in the period were resolved (linear interpolation "
       "between ranks); flagged and inconsistent rows are left out."),
    on_table("cases.proactive_rate", "主动发现率", "Proactive discovery rate", "ratio", "higher", "cases",
       lambda t, c: {"proactive": t.count(where=t.channel.isin(PROACTIVE)), "n": t.count()},
       ratio("proactive", "n"), "Share of cases raised by grid inspectors or device alarms rather than reported."),
    on_table("cases.return_rate", "退回率", "Return rate", "ratio", "lower", "cases",
       lambda t, c: {"returned": t.count(where=t.returned_count > 0), "n": t.count()},
       ratio("returned", "n"), "Share of cases sent back (退回) by a department at least once."),
    REPEAT_RATE,
    OVERDUE_OPEN,
]

# ---------------------------------------------------------------- departments ranked (部门排名)

RANKED = ("cases.count", "cases.response_rate", "cases.ontime_closure_rate", "cases.resolution_rate",
          "cases.satisfaction_rate", "cases.return_rate")
HOTLINE_PACK = "cn-hotline-12345"
THREE_RATES = {"cases.response_rate": 30.0, "cases.resolution_rate": 35.0, "cases.satisfaction_rate": 35.0}


def hotline_weights() -> dict[str, float]:
    """The weights of the 12345 three rates (三率) from the ``cn-hotline-12345`` pack's scored group, so that an
    operator who edits the pack changes the ranking too; the §6.4 example (30/35/35) if the pack is missing."""
    from chengyun.core.errors import NotFound
    from chengyun.indicators.catalog import get_pack

    try:
        pack = get_pack(HOTLINE_PACK)
    except NotFound:
        return dict(THREE_RATES)
    group = max(pack.nodes, key=lambda n: n.weight)
    return {n.measure: n.weight for n in group.walk() if n.measure and n.weight > 0}


def composite(values: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """The weighted mean of the rates that have data (weights of the missing ones are shared out), 0–1."""
    have = {m: w for m, w in weights.items() if values.get(m) is not None}
    total = sum(have.values())
    if not total:
        return None
    return sum(float(values[m] or 0.0) * w for m, w in have.items()) / total


def by_department(engine: Any, ctx: MeasureContext, names: tuple[str, ...] = RANKED) -> dict[str | None, dict[str, float | None]]:
    """Each measure per department (``department_id``; None: not dispatched) in one grouped query."""
    known = {m.name: m for m in MEASURES if m.inputs}  # grouped measures must be reductions on one table
    measures = [known[n] for n in names if n in known]
    assert ctx.table is not None
    t = ctx.table("cases")
    aggs: dict[str, Any] = {}
    for i, m in enumerate(measures):
        for part, expr in m.inputs[0].parts(t, ctx).items():
            aggs[f"m{i}__{part}"] = expr
    frame = engine.execute(t.group_by("department_id").aggregate(**aggs))
    out: dict[str | None, dict[str, float | None]] = {}
    for rec in frame.to_dict("records"):
        parts: dict[str, dict[str, float | None]] = {m.name: {} for m in measures}
        for key, val in rec.items():
            if key != "department_id":
                idx, part = key.split("__", 1)
                parts[measures[int(idx[1:])].name][part] = None if val is None or val != val else float(val)
        dept = rec["department_id"]
        out[None if dept is None or dept != dept else str(dept)] = {
            m.name: m.combine(parts[m.name], ctx) if m.combine else None for m in measures}
    return out


def short(name: str) -> str:
    """The key of a measure in a ranking row: ``cases.response_rate`` → ``response_rate``, ``cases.count`` → ``cases``."""
    return "cases" if name == "cases.count" else name.split(".", 1)[-1]


def department_ranking(engine: Any, ctx: MeasureContext, weights: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Departments by the composite of the three rates (best first), then by cases; each row has ``rank``,
    ``department``, ``cases``, every ranked rate by its short name, ``composite`` and ``composite_of`` (the rates
    that had data)."""
    weights = weights or hotline_weights()
    rows: list[tuple[float | None, float, str, dict[str, Any]]] = []
    for dept, values in by_department(engine, ctx, tuple(dict.fromkeys((*RANKED, *weights)))).items():
        score = composite(values, weights)
        row = {"department": dept, **{short(k): v for k, v in values.items()}, "composite": score,
               "composite_of": [short(m) for m in weights if values.get(m) is not None]}
        rows.append((score, values.get("cases.count") or 0.0, str(dept), row))
    rows.sort(key=lambda r: (r[0] is None, -(r[0] or 0.0), -r[1], r[2]))
    return [{"rank": i, **r[3]} for i, r in enumerate(rows, 1)]
