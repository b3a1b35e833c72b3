"""Computes measures for one tenant subtree and period, one scan per lake table (inputs batched)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from chengyun.analytics.engine import Engine
from chengyun.analytics.registry import Measure, MeasureContext, get_registry
from chengyun.core.periods import Period
from chengyun.lake.tables import get_table


@dataclass
class MeasureResult:
    """A measure's value with the evidence behind it."""

    measure: str
    value: float | None
    unit: str
    parts: dict[str, float | None] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def evidence(self, ctx: MeasureContext, engine: str, m: Measure) -> dict[str, Any]:
        """The evidence record stored with a node result."""
        return {"measure": m.name, "title": m.title, "title_en": m.title_en, "value": self.value, "unit": m.unit,
                "parts": self.parts, "tables": self.tables, "rows": self.rows,
                "window": [ctx.start.isoformat(), ctx.end.isoformat()], "engine": engine,
                "population": ctx.population if m.per_capita else None, "warnings": self.warnings,
                "description": m.description}


def _clean(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def make_context(engine: Engine, tenants: list[str], period: Period, tz: str, population: int | None) -> MeasureContext:
    """A measure context whose table accessors read through ``engine``."""
    start, end = period.bounds_utc(tz)
    return MeasureContext(
        tenants=tenants, period=period, start=start, end=end, population=population,
        table=lambda name: engine.period_table(name, tenants, start, end),
        asof=lambda name: engine.asof_table(name, tenants, end),
    )


def _scan_inputs(engine: Engine, measures: list[Measure], ctx: MeasureContext) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    by_table: dict[str, list[tuple[int, Measure, Any]]] = defaultdict(list)
    for i, m in enumerate(measures):
        for inp in m.inputs:
            by_table[inp.table].append((i, m, inp))
    parts: dict[str, dict[str, Any]] = defaultdict(dict)
    rows: dict[str, int] = {}
    for table, items in by_table.items():
        spec = get_table(table)
        assert ctx.table and ctx.asof
        t = ctx.asof(table) if spec.dimension else ctx.table(table)
        aggs: dict[str, Any] = {"__rows": t.count()}
        for i, _m, inp in items:
            for pname, expr in inp.parts(t, ctx).items():
                aggs[f"m{i}__{pname}"] = expr
        frame = engine.execute(t.aggregate(**aggs))
        record = frame.iloc[0].to_dict() if len(frame) else {}
        rows[table] = int(_clean(record.get("__rows")) or 0)
        for key, val in record.items():
            if key != "__rows":
                idx, pname = key.split("__", 1)
                # an empty scan is missing data, never a silent zero (and engines disagree on empty counts)
                parts[measures[int(idx[1:])].name][pname] = _clean(val) if rows[table] else None
    return parts, rows


def run_measures(engine: Engine, names: list[str], ctx: MeasureContext) -> dict[str, MeasureResult]:
    """Every named measure for the context; inputs on the same table share one scan."""
    reg = get_registry()
    measures = [reg.get(n) for n in dict.fromkeys(names)]
    parts, rows = _scan_inputs(engine, [m for m in measures if m.inputs], ctx)
    out: dict[str, MeasureResult] = {}
    shared: dict[Any, dict[str, float | None]] = {}  # a custom function several measures use runs once
    for m in measures:
        res = MeasureResult(m.name, None, m.unit, tables=list(m.read_tables()))
        if m.custom is not None:
            if m.custom not in shared:
                frame = engine.execute(m.custom(ctx))  # one query, one row: a column per part
                shared[m.custom] = {k: _clean(v) for k, v in (frame.iloc[0].to_dict() if len(frame) else {}).items()}
            res.parts = dict(shared[m.custom])
        else:
            res.parts = parts.get(m.name, {})
        res.rows = {t: rows[t] for t in res.tables if t in rows}
        assert m.combine is not None
        res.value = _clean(m.combine(res.parts, ctx))
        if m.per_capita and res.value is not None:
            if not ctx.population:
                res.warnings.append("no population for the tenant: per-capita value left empty")
                res.value = None
            else:
                res.parts.setdefault("total", res.value)
                res.value = res.value / ctx.population * m.per_capita
        if res.value is None and not res.warnings:
            res.warnings.append("no data in the period for this tenant")
        out[m.name] = res
    return out
