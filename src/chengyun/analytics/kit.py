"""Small building blocks shared by measure definitions (portable across DuckDB and Spark)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import ibis

from chengyun.analytics.registry import Input, Measure


def ratio(num: str, den: str) -> Any:
    """A combine function: ``parts[num] / parts[den]``, no data when the denominator is empty."""

    def combine(parts: dict[str, float | None], _ctx: Any) -> float | None:
        n, d = parts.get(num), parts.get(den)
        if n is None or not d:
            return None
        return float(n) / float(d)

    return combine


def single(name: str) -> Any:
    """A combine function that returns one part as the value."""

    def combine(parts: dict[str, float | None], _ctx: Any) -> float | None:
        v = parts.get(name)
        return None if v is None else float(v)

    return combine


def ts(value: datetime) -> Any:
    """A timestamp literal without time zone (the lake stores naive UTC)."""
    return ibis.literal(value, type="timestamp")


def epoch(col: Any) -> Any:
    """Seconds since 1970 of a timestamp column, as float."""
    return col.epoch_seconds().cast("float64")


def hours_between(later: Any, earlier: Any) -> Any:
    """Hours from ``earlier`` to ``later`` (both timestamp columns)."""
    return (epoch(later) - epoch(earlier)) / 3600.0


def on_table(name: str, title: str, title_en: str, unit: str, direction: str, table: str, parts: Any, combine: Any,
             description: str, per_capita: int | None = None) -> Measure:
    """A measure made of reductions on one lake table (the common case)."""
    return Measure(name=name, title=title, title_en=title_en, unit=unit, direction=direction,  # type: ignore[arg-type]
                   inputs=(Input(table, parts),), combine=combine, description=description, per_capita=per_capita)
