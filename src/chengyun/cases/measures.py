"""Case measures (一网统管 / 12345 热线): volume, response, on-time closure, resolution, satisfaction."""

from __future__ import annotations

from typing import Any

from chengyun.analytics.kit import hours_between, on_table, ratio, single
from chengyun.analytics.registry import MeasureContext

PROACTIVE = ("iot-alarm", "grid")  # channels where the city finds the problem itself (主动发现)


def _consistent(t: Any) -> Any:
    """Rows whose resolution does not precede their creation (others are left out of durations)."""
    return t.resolved_at.notnull() & (t.resolved_at >= t.created_at)




def _resolution_parts(t: Any, _c: MeasureContext) -> dict[str, Any]:
    ok = _consistent(t)
    return {"hours": hours_between(t.resolved_at, t.created_at).sum(where=ok), "resolved": t.count(where=ok)}


MEASURES = [
    on_table("cases.count", "案件量", "Cases", "count", "higher", "cases", lambda t, c: {"n": t.count()}, single("n"),
       "Cases created in the period, every channel."),
    on_table("cases.per_10k", "万人案件量", "Cases per 10,000 residents", "per 10k", "higher", "cases",
       lambda t, c: {"n": t.count()}, single("n"), "Cases created in the period per 10,000 residents.", 10000),
    on_table("cases.response_rate", "响应率", "Response rate", "ratio", "higher", "cases",
       lambda t, c: {"ontime": t.count(where=t.responded_at.notnull() & (t.responded_at <= t.response_due_at)),
                     "n": t.count()},
       ratio("ontime", "n"), "Share of cases created in the period that were answered within the response limit."),
    on_table("cases.ontime_closure_rate", "按时办结率", "On-time closure rate", "ratio", "higher", "cases",
       lambda t, c: {"ontime": t.count(where=_consistent(t) & (t.resolved_at <= t.due_at)),
                     "resolved": t.count(where=_consistent(t))},
       ratio("ontime", "resolved"), "Share of resolved cases (created in the period) resolved by their due time."),
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
       ratio("hours", "resolved"), "Mean hours from creation to resolution; inconsistent rows are left out."),
    on_table("cases.proactive_rate", "主动发现率", "Proactive discovery rate", "ratio", "higher", "cases",
       lambda t, c: {"proactive": t.count(where=t.channel.isin(PROACTIVE)), "n": t.count()},
       ratio("proactive", "n"), "Share of cases raised by grid inspectors or device alarms rather than reported."),
    on_table("cases.return_rate", "退回率", "Return rate", "ratio", "lower", "cases",
       lambda t, c: {"returned": t.count(where=t.returned_count > 0), "n": t.count()},
       ratio("returned", "n"), "Share of cases sent back (退回) by a department at least once."),
]
