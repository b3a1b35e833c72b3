"""Evaluation periods (评价周期): a year, a quarter, a month or an explicit date range."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chengyun.core.errors import InvalidInput

_FORMS = "2026, 2026Q3, 2026-07 or 2026-01-01..2026-03-31"
YEARS = (1970, 2200)  # periods outside these years hold no operational data and overflow time zone arithmetic


@dataclass(frozen=True)
class Period:
    """A half-open span of local dates ``[start, end)`` with the label users typed."""

    label: str
    kind: str  # year | quarter | month | range
    start: date
    end: date

    @property
    def days(self) -> int:
        """Number of calendar days in the period."""
        return (self.end - self.start).days

    def bounds_utc(self, tz: str = "Asia/Shanghai") -> tuple[datetime, datetime]:
        """The period's start and end as naive UTC instants (how the lake stores time)."""
        zone = ZoneInfo(tz)
        utc = ZoneInfo("UTC")

        def conv(d: date) -> datetime:
            return datetime.combine(d, time(), zone).astimezone(utc).replace(tzinfo=None)

        return conv(self.start), conv(self.end)

    def clipped(self, today: date) -> Period:
        """The period cut at ``today`` (exclusive end at tomorrow) when it is still running."""
        limit = today + timedelta(days=1)
        if self.end <= limit:
            return self
        return Period(self.label, self.kind, self.start, max(limit, self.start + timedelta(days=1)))

    def previous(self) -> Period:
        """The period of the same kind just before this one (环比)."""
        if self.kind == "year":
            return parse_period(str(self.start.year - 1))
        if self.kind == "quarter":
            q = (self.start.month - 1) // 3 + 1
            y, q = (self.start.year, q - 1) if q > 1 else (self.start.year - 1, 4)
            return parse_period(f"{y}Q{q}")
        if self.kind == "month":
            prev = self.start - timedelta(days=1)
            return parse_period(f"{prev.year}-{prev.month:02d}")
        span = self.end - self.start
        start = self.start - span
        return parse_period(f"{start.isoformat()}..{(self.start - timedelta(days=1)).isoformat()}")

    def __str__(self) -> str:
        return self.label


def _quarter(year: int, q: int) -> Period:
    start = date(year, 3 * (q - 1) + 1, 1)
    end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return Period(f"{year}Q{q}", "quarter", start, end)


def parse_period(text: str) -> Period:
    """Parse ``2026``, ``2026Q3``, ``2026-07`` or ``FROM..TO`` (inclusive dates) into a Period."""
    period = _parse(str(text))
    if not (YEARS[0] <= period.start.year and period.end.year <= YEARS[1]):
        raise InvalidInput(f"period {text!r} is outside the years {YEARS[0]}–{YEARS[1]}",
                           fix=f"give a period within {YEARS[0]}–{YEARS[1]}, e.g. {_FORMS}")
    return period


def _parse(text: str) -> Period:
    s = text.strip().upper()
    try:
        if re.fullmatch(r"\d{4}", s):
            y = int(s)
            return Period(s, "year", date(y, 1, 1), date(y + 1, 1, 1))
        if m := re.fullmatch(r"(\d{4})-?Q([1-4])", s):
            return _quarter(int(m[1]), int(m[2]))
        if m := re.fullmatch(r"(\d{4})-(\d{2})", s):
            y, mo = int(m[1]), int(m[2])
            end = date(y + 1, 1, 1) if mo == 12 else date(y, mo + 1, 1)
            return Period(f"{y}-{mo:02d}", "month", date(y, mo, 1), end)
        if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", s):
            a, b = date.fromisoformat(m[1]), date.fromisoformat(m[2])
            if b < a:
                raise InvalidInput(f"period {text!r} ends before it starts", fix="write FROM..TO with FROM <= TO")
            return Period(f"{a.isoformat()}..{b.isoformat()}", "range", a, b + timedelta(days=1))
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"period {text!r} is not a valid date: {exc}", fix=f"use {_FORMS}") from exc
    raise InvalidInput(f"period {text!r} is not understood", fix=f"use {_FORMS}")


def quarter_of(d: date) -> Period:
    """The quarter that contains ``d``."""
    return _quarter(d.year, (d.month - 1) // 3 + 1)


def recent_quarters(today: date, full: int = 4) -> list[Period]:
    """The ``full`` complete quarters before ``today`` followed by the current quarter to date."""
    current = quarter_of(today)
    out = [current]
    for _ in range(full):
        out.insert(0, out[0].previous())
    return out
