"""SLA clocks (办理时限): when a case's response and resolution are due.

A limit is a number of hours (wall-clock, 自然小时) or of working days (工作日). A working-day clock starts at the
midnight after the case arrives and runs only on working days, so 3 working days from a Friday afternoon before
National Day end at midnight after the third working day after the holiday. Either clock stops while the case is
suspended or waits for the citizen (pauses), and an approved extension (延期) adds to the limit in its own unit.
All arithmetic is in the tenant's local time zone; results are returned as naive UTC, the way they are stored.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from chengyun.cases.calendar import WorkCalendar
from chengyun.core.errors import InvalidInput

DAY = 86400.0
UNITS = ("hours", "workdays")
PRIORITIES = ("urgent", "high", "normal", "low")
DEFAULT_POLICY = Path(__file__).resolve().parent / "data" / "sla.yaml"


@dataclass(frozen=True)
class Limit:
    """A time limit: ``amount`` of ``unit`` (hours or workdays)."""

    amount: float
    unit: str

    def label(self) -> str:
        return f"{self.amount:g} 小时 h" if self.unit == "hours" else f"{self.amount:g} 个工作日 working days"


@dataclass(frozen=True)
class SlaRule:
    """Limits for the categories matching ``category`` (a glob such as ``A01*``) at ``priority`` (or ``*``)."""

    category: str
    priority: str
    response: Limit
    resolution: Limit


def _limit(value: Any, where: str) -> Limit:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in UNITS:
        raise InvalidInput(f"{where}: a limit is {{hours: N}} or {{workdays: N}}, got {value!r}",
                           fix="write e.g. response: {hours: 2} or resolution: {workdays: 5}")
    unit, amount = next(iter(value.items()))
    if not isinstance(amount, int | float) or amount <= 0 or amount > 3650:
        raise InvalidInput(f"{where}: {unit} must be a positive number, got {amount!r}", fix="use e.g. 24 or 0.5")
    return Limit(float(amount), unit)


def load_policy(path: Path | None = None) -> list[SlaRule]:
    """The SLA rules from YAML (``rules: [{category, priority, response, resolution}]``); first match wins."""
    path = path or DEFAULT_POLICY
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path}: cannot read the SLA policy ({exc})", fix="check the file path and YAML") from exc
    rules = []
    for i, r in enumerate(data.get("rules") or []):
        where = f"{path}: rules[{i}]"
        if not isinstance(r, dict) or "category" not in r:
            raise InvalidInput(f"{where}: each rule needs category, priority, response and resolution",
                               fix="see the shipped cases/data/sla.yaml")
        pr = str(r.get("priority", "*"))
        if pr != "*" and pr not in PRIORITIES:
            raise InvalidInput(f"{where}: priority {pr!r} is unknown", fix=f"use * or one of {', '.join(PRIORITIES)}")
        rules.append(SlaRule(str(r["category"]), pr, _limit(r.get("response"), f"{where}.response"),
                             _limit(r.get("resolution"), f"{where}.resolution")))
    if not rules or rules[-1].category != "*" or rules[-1].priority != "*":
        raise InvalidInput(f"{path}: the last rule must be the catch-all (category '*', priority '*')",
                           fix="add a final rule {category: '*', priority: '*', response: …, resolution: …}")
    return rules


def rule_for(rules: list[SlaRule], category: str | None, priority: str) -> SlaRule:
    """The first rule matching the category code and priority."""
    for r in rules:
        if fnmatch.fnmatchcase(category or "", r.category) and r.priority in ("*", priority):
            return r
    return rules[-1]


def _local(ts: datetime, tz: ZoneInfo) -> datetime:
    return ts.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def _utc(local: datetime, tz: ZoneInfo) -> datetime:
    return local.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def _merge(pauses: list[tuple[datetime, datetime | None]], horizon: datetime) -> list[tuple[datetime, datetime]]:
    spans = sorted((a, b or horizon) for a, b in pauses)
    out: list[tuple[datetime, datetime]] = []
    for a, b in spans:
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def due_at(
    start: datetime,
    limit: Limit,
    *,
    calendar: WorkCalendar,
    tz: str = "Asia/Shanghai",
    pauses: list[tuple[datetime, datetime | None]] | None = None,
    extension: float = 0.0,
) -> datetime | None:
    """When ``limit`` (+ ``extension`` in the same unit) runs out for a clock started at ``start`` (naive UTC).

    ``pauses`` are (from, to) spans in naive UTC when the clock stands still; an open pause (to = None) means the
    clock is stopped now, and the due time is unknown (None) until it resumes.
    """
    if pauses and any(b is None for _a, b in pauses):
        return None
    zone = ZoneInfo(tz)
    budget = (limit.amount + extension) * (3600.0 if limit.unit == "hours" else DAY)
    t = _local(start, zone)
    if limit.unit == "workdays":  # the day the case arrives does not count
        t = datetime.combine(t.date() + timedelta(days=1), time())
    stops = [(_local(a, zone), _local(b, zone)) for a, b in _merge(list(pauses or []), start)]
    i = 0
    for _ in range(20000):  # bounded: limits are at most 3650 units, pauses add a step each
        while i < len(stops) and stops[i][1] <= t:
            i += 1
        if i < len(stops) and stops[i][0] <= t:  # inside a pause: the clock stands until it ends
            t = stops[i][1]
            continue
        day_end = datetime.combine(t.date() + timedelta(days=1), time())
        if limit.unit == "workdays" and not calendar.is_workday(t.date()):
            t = day_end
            continue
        segment_end = min(day_end, stops[i][0]) if i < len(stops) else day_end
        span = (segment_end - t).total_seconds()
        if span >= budget:
            return _utc(t + timedelta(seconds=budget), zone)
        budget -= span
        t = segment_end
    raise InvalidInput("the limit runs beyond the calendar's range", fix="use a shorter limit")


def elapsed_share(start: datetime, due: datetime | None, now: datetime) -> float | None:
    """How much of the time to the due point has passed (1.0 = due now); None without a due time."""
    if due is None:
        return None
    total = (due - start).total_seconds()
    return 1.0 if total <= 0 else (now - start).total_seconds() / total


def working_days_between(a: date, b: date, calendar: WorkCalendar) -> int:
    """Working days in (a, b]: the count a citizen is told ("办理用时 N 个工作日")."""
    return sum(1 for o in range(a.toordinal() + 1, b.toordinal() + 1) if calendar.is_workday(date.fromordinal(o)))
