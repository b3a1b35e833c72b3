"""Case measures (一网统管 / 12345 热线): volume, response, on-time closure, resolution, satisfaction."""

from __future__ import annotations

from typing import Any

from chengyun.analytics.kit import hours_between, ratio, single
from chengyun.analytics.registry import Input, Measure, MeasureContext

PROACTIVE = ("iot-alarm", "grid")  # channels where the city finds the problem itself (主动发现)


def _consistent(t: Any) -> Any:
    """Rows whose resolution does not precede their creation (others are left out of durations)."""
    return t.resolved_at.notnull() & (t.resolved_at >= t.created_at)


def _m(name: str, title: str, title_en: str, unit: str, direction: str, parts: Any, combine: Any, desc: str,
       per_capita: int | None = None) -> Measure:
    return Measure(name=name, title=title, title_en=title_en, unit=unit, direction=direction,  # type: ignore[arg-type]
                   inputs=(Input("cases", parts),), combine=combine, description=desc, per_capita=per_capita)


def _resolution_parts(t: Any, _c: MeasureContext) -> dict[str, Any]:
    ok = _consistent(t)
    return {"hours": hours_between(t.resolved_at, t.created_at).sum(where=ok), "resolved": t.count(where=ok)}


MEASURES = [
    _m("cases.count", "案件量", "Cases", "count", "higher", lambda t, c: {"n": t.count()}, single("n"),
       "Cases created in the period, every channel."),
    _m("cases.per_10k", "万人案件量", "Cases per 10,000 residents", "per 10k", "higher",
       lambda t, c: {"n": t.count()}, single("n"), "Cases created in the period per 10,000 residents.", 10000),
    _m("cases.response_rate", "响应率", "Response rate", "ratio", "higher",
       lambda t, c: {"ontime": t.count(where=t.responded_at.notnull() & (t.responded_at <= t.response_due_at)),
                     "n": t.count()},
       ratio("ontime", "n"), "Share of cases created in the period that were answered within the response limit."),
    _m("cases.ontime_closure_rate", "按时办结率", "On-time closure rate", "ratio", "higher",
       lambda t, c: {"ontime": t.count(where=_consistent(t) & (t.resolved_at <= t.due_at)),
                     "resolved": t.count(where=_consistent(t))},
       ratio("ontime", "resolved"), "Share of resolved cases (created in the period) resolved by their due time."),
    _m("cases.closure_rate", "办结率", "Closure rate", "ratio", "higher",
       lambda t, c: {"resolved": t.count(where=t.resolved_at.notnull()), "n": t.count()},
       ratio("resolved", "n"), "Share of cases created in the period that have been resolved."),
    _m("cases.resolution_rate", "解决率", "Resolution rate", "ratio", "higher",
       lambda t, c: {"solved": t.count(where=t.solved), "asked": t.count(where=t.solved.notnull())},
       ratio("solved", "asked"), "Share of followed-up cases the citizen says were actually solved."),
    _m("cases.satisfaction_rate", "满意率", "Satisfaction rate", "ratio", "higher",
       lambda t, c: {"satisfied": t.count(where=t.satisfaction >= 4), "rated": t.count(where=t.satisfaction.notnull())},
       ratio("satisfied", "rated"), "Share of rated cases rated satisfied or very satisfied (4 or 5 of 5)."),
    _m("cases.mean_resolution_hours", "平均办结时长", "Mean time to resolve", "h", "lower", _resolution_parts,
       ratio("hours", "resolved"), "Mean hours from creation to resolution; inconsistent rows are left out."),
    _m("cases.proactive_rate", "主动发现率", "Proactive discovery rate", "ratio", "higher",
       lambda t, c: {"proactive": t.count(where=t.channel.isin(PROACTIVE)), "n": t.count()},
       ratio("proactive", "n"), "Share of cases raised by grid inspectors or device alarms rather than reported."),
    _m("cases.return_rate", "退回率", "Return rate", "ratio", "lower",
       lambda t, c: {"returned": t.count(where=t.returned_count > 0), "n": t.count()},
       ratio("returned", "n"), "Share of cases sent back (退回) by a department at least once."),
]
