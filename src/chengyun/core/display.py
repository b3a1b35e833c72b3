"""The display kit for times (显示): one total way to show a stored instant in the display time zone.

The state DB and the lake store naive UTC. Showing a value must never fail, whatever came in before the bounds
on input existed: an instant whose local time falls outside the years 1..9999 (9999-12-31 23:00 UTC is already
year 10000 in Asia/Shanghai) is shown in UTC with its zone named, never as an error page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

DASH = "—"
MINUTES = "%Y-%m-%d %H:%M"


def as_instant(x: Any) -> datetime | None:
    """An aware UTC datetime from a datetime (naive means UTC) or an ISO text; None for anything else."""
    if isinstance(x, str) and x:
        try:
            x = datetime.fromisoformat(x)
        except ValueError:
            return None
    if not isinstance(x, datetime):
        return None
    return x.replace(tzinfo=UTC) if x.tzinfo is None else x


def to_local(x: Any, tz: str) -> datetime | None:
    """The instant in ``tz``, or None when ``x`` is no instant or its local time is out of range."""
    when = as_instant(x)
    if when is None:
        return None
    try:
        return when.astimezone(ZoneInfo(tz))
    except (OverflowError, ValueError):
        return None


def local_time(x: Any, tz: str, fmt: str = MINUTES) -> str:
    """An instant as local text (— when missing; in UTC, marked so, when the local time is out of range)."""
    when = as_instant(x)
    if when is None:
        return DASH
    local = to_local(when, tz)
    return _strftime(when, fmt) + " UTC" if local is None else _strftime(local, fmt)


def _strftime(when: datetime, fmt: str) -> str:
    return when.strftime(fmt.replace("%Y", f"{when.year:04d}"))  # the C library writes year 1 as "1"


def utc_offset_seconds(x: datetime, tz: str) -> float:
    """The zone's offset from UTC at the naive-UTC instant ``x`` (0 where it cannot be computed)."""
    local = to_local(x, tz)
    offset = local.utcoffset() if local is not None else None
    return offset.total_seconds() if offset is not None else 0.0
