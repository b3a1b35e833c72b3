"""Security assurance measures (安全保障): incidents, time to detect, time to resolve, open high risks."""

from __future__ import annotations

from typing import Any

from chengyun.analytics.kit import hours_between, ratio, single, ts
from chengyun.analytics.registry import Input, Measure, MeasureContext

HIGH = ("high", "critical")


def _incident_parts(e: Any, _c: MeasureContext) -> dict[str, Any]:
    inc = e.is_incident
    detected = inc & e.detected_at.notnull()
    resolved = inc & e.resolved_at.notnull() & e.detected_at.notnull()
    return {
        "incidents": e.count(where=inc),
        "detect_h": hours_between(e.detected_at, e.occurred_at).sum(where=detected),
        "detected": e.count(where=detected),
        "resolve_h": hours_between(e.resolved_at, e.detected_at).sum(where=resolved),
        "resolved": e.count(where=resolved),
    }


def _open_high(e: Any, c: MeasureContext) -> dict[str, Any]:
    open_at_end = e.resolved_at.isnull() | (e.resolved_at >= ts(c.end))
    return {"open_high": e.count(where=e.severity.isin(HIGH) & open_at_end)}


MEASURES = [
    Measure(name="security.incident_count", title="安全事件数", title_en="Security incidents", unit="count",
            direction="lower", inputs=(Input("security_events", _incident_parts),), combine=single("incidents"),
            description="Security events in the period confirmed as incidents."),
    Measure(name="security.mttd_hours", title="平均发现时长", title_en="Mean time to detect", unit="h",
            direction="lower", inputs=(Input("security_events", _incident_parts),), combine=ratio("detect_h", "detected"),
            description="Mean hours from occurrence to detection over incidents in the period."),
    Measure(name="security.mttr_hours", title="平均处置时长", title_en="Mean time to resolve", unit="h",
            direction="lower", inputs=(Input("security_events", _incident_parts),), combine=ratio("resolve_h", "resolved"),
            description="Mean hours from detection to resolution over resolved incidents in the period."),
    Measure(name="security.open_high_risks", title="未处置高危事件数", title_en="Open high-severity events", unit="count",
            direction="lower", inputs=(Input("security_events", _open_high),), combine=single("open_high"),
            description="High or critical events of the period still unresolved at its end."),
]
