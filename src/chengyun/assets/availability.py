"""Availability per asset, kind or department over a period (可用率 · 数据完整率 · 故障次数 · 平均修复时长).

The lake's ``telemetry`` and the registry's export (``assets``, as it stood at the period's end) are read through
the analytics engine with Ibis, for the tenants of a unit's subtree, as the infra measures read them: the parts
are the measures' own (``assets/measures.py``), grouped per asset in three queries, then summed per kind or
department here. Every part is a sum over assets, so the whole is the measures' value (``infra.device_availability``,
``infra.data_completeness``, ``infra.outage_mttr_hours``) for the same units and period. Completeness of the whole
counts every reading of the units, as the measure does; those that belong to no group (assets not in the
registry's export, or without an expected interval) are reported as ``other_readings``.

A period still running counts up to now: time not yet lived is neither downtime nor missing data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.analytics.engine import Engine, connect
from chengyun.analytics.registry import MeasureContext
from chengyun.analytics.runner import make_context
from chengyun.assets import kinds
from chengyun.assets.measures import (
    capped_ratio,
    completeness,
    expected_parts,
    mean_outage,
    reading_parts,
)
from chengyun.assets.models import Asset
from chengyun.assets.schemas import AvailabilityReport, AvailabilityRow
from chengyun.core.db import utcnow
from chengyun.core.errors import InvalidInput
from chengyun.core.periods import Period
from chengyun.core.scoping import unscoped
from chengyun.core.settings import Settings
from chengyun.lake.sync import ensure_fresh
from chengyun.tenancy.models import Department
from chengyun.tenancy.service import get_unit, list_units, subtree

GROUPS = {"asset": "asset_id", "type": "asset_type", "department": "department_id"}  # by → assets column
PARTS = ("assets", "seen_buckets", "expected_buckets", "readings", "expected", "outages", "outage_hours")
_CHUNK = 5000  # ids per IN list when naming assets


def period_context(engine: Engine, tenants: list[str], period: Period, tz: str, now: datetime) -> MeasureContext:
    """The measures' context (``make_context``) for the tenants and period; a running period ends at ``now``."""
    ctx = make_context(engine, tenants, period, tz, None)
    if ctx.end <= now:
        return ctx
    start, end = ctx.start, max(ctx.start, now)
    return MeasureContext(tenants=tenants, period=period, start=start, end=end,
                          table=lambda name: engine.period_table(name, tenants, start, end),
                          asof=lambda name: engine.asof_table(name, tenants, end))


def _num(value: Any) -> float:
    """A part from the engine as a number: a missing sum (no rows) is 0."""
    return 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _key(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _records(engine: Engine, expr: Any) -> list[dict[str, Any]]:
    return list(engine.execute(expr).to_dict("records"))


def asset_parts(engine: Engine, ctx: MeasureContext) -> dict[str, dict[str, Any]]:
    """Every asset expected to report in the units: its kind, department and the measures' parts."""
    out = {r["asset_id"]: r for r in _records(engine, expected_parts(ctx, ("asset_id", "asset_type", "department_id")))}
    for r in _records(engine, reading_parts(ctx, ("asset_id",))):  # an asset with readings is an expected one
        out.setdefault(r["asset_id"], {"asset_id": r["asset_id"]}).update(r)  # (both read `reporting`)
    return out


def all_readings(engine: Engine, ctx: MeasureContext) -> int:
    """Every reading of the units in the period (what infra.data_completeness counts as received)."""
    assert ctx.table is not None
    t = ctx.table("telemetry")
    return int(_num(engine.execute(t.aggregate(n=t.count()))["n"].iloc[0]))


def _sum(assets: Iterable[dict[str, Any]]) -> dict[str, float]:
    sums = dict.fromkeys(PARTS, 0.0)
    for a in assets:
        for p in PARTS:
            sums[p] += _num(a.get(p))
    return sums


def roll_up(assets: dict[str, dict[str, Any]], by: str) -> dict[str | None, dict[str, float]]:
    """The parts summed per group of ``by``; groups without assets in service or readings are left out."""
    members: dict[str | None, list[dict[str, Any]]] = {}
    for a in assets.values():
        members.setdefault(_key(a.get(GROUPS[by])), []).append(a)
    sums = {k: _sum(v) for k, v in members.items()}
    return {k: v for k, v in sums.items() if v["assets"] or v["readings"]}


def availability_row(key: str | None, parts: dict[str, float], readings: int | None = None) -> AvailabilityRow:
    """A group's ratios from its parts with the measures' own combine functions; ``readings``: received readings
    for completeness, when they are more than the group's assets' (the whole)."""
    got = float(parts["readings"] if readings is None else readings)
    p: dict[str, float | None] = dict(parts)
    return AvailabilityRow(
        key=key, name=None, assets=int(parts["assets"]), availability=capped_ratio(p),
        seen_buckets=int(parts["seen_buckets"]), expected_buckets=parts["expected_buckets"],
        completeness=completeness(p | {"readings": got}), readings=int(got), expected_readings=parts["expected"],
        outages=int(parts["outages"]), outage_hours=parts["outage_hours"], mttr_hours=mean_outage(p))


def worst_first(rows: Iterable[AvailabilityRow]) -> list[AvailabilityRow]:
    """Lowest availability first (then lowest completeness); groups without a figure last."""
    return sorted(rows, key=lambda r: (r.availability is None, r.availability or 0.0,
                                       2.0 if r.completeness is None else r.completeness, r.key or ""))


def breakdowns(engine: Engine, ctx: MeasureContext, bys: Iterable[str]
               ) -> tuple[AvailabilityRow, dict[str, list[AvailabilityRow]], int]:
    """The whole, the groups of each grouping in ``bys`` worst first (unnamed), from one reading of the lake, and
    the whole's readings that belong to no group."""
    wanted = list(dict.fromkeys(bys))
    for by in wanted:
        if by not in GROUPS:
            raise InvalidInput(f"by: {by!r} is not a grouping",
                               fix="group by asset, type or department (--by on the command line, by= in the API)")
    assets = asset_parts(engine, ctx)
    received = all_readings(engine, ctx)
    whole = _sum(assets.values())
    groups = {by: worst_first(availability_row(k, v) for k, v in roll_up(assets, by).items()) for by in wanted}
    return availability_row(None, whole, received), groups, received - int(whole["readings"])


def breakdown(engine: Engine, ctx: MeasureContext, by: str) -> tuple[AvailabilityRow, list[AvailabilityRow], int]:
    """The whole, the groups of ``by`` worst first (unnamed), and the whole's readings that belong to no group."""
    total, groups, other = breakdowns(engine, ctx, (by,))
    return total, groups[by], other


def scope_units(session: Session, settings: Settings, tenant: str | None) -> tuple[list[str], str]:
    """``tenant``'s subtree, or every unit the session sees, and the time zone its periods are counted in."""
    if tenant:
        unit = get_unit(session=session, unit_id=tenant)  # outside a scoped session's units: not found
        return [u.id for u in subtree(session=session, unit_id=tenant)], unit.timezone or settings.timezone
    return [u.id for u in list_units(session=session)], settings.timezone


def group_names(session: Session, by: str, keys: set[str]) -> dict[str, str]:
    """Chinese names of the kinds, the departments (read unscoped: a city bureau may own a district's devices)
    or the assets."""
    if by == "type":
        return {k: kinds.KIND_NAMES.get(k, k) for k in keys}
    model: type[Asset] | type[Department] = Department if by == "department" else Asset
    ids = sorted(keys)
    out: dict[str, str] = {}
    with unscoped(session) if model is Department else nullcontext(session):  # only ids the lake gave the caller
        for i in range(0, len(ids), _CHUNK):
            part = ids[i:i + _CHUNK]
            out.update(session.execute(select(model.id, model.name).where(model.id.in_(part))).tuples().all())
    return out


def availability_reports(*, session: Session, settings: Settings, period: Period, bys: Iterable[str],
                         tenant: str | None = None, now: datetime | None = None, limit: int | None = None,
                         engine_name: str | None = None) -> dict[str, AvailabilityReport]:
    """Availability, completeness, outages and MTTR of ``tenant``'s subtree (or every unit the session sees) over
    ``period``, per asset, kind or department for each grouping in ``bys``, worst first (the first ``limit``)."""
    units, tz = scope_units(session, settings, tenant)
    engine = connect(settings, engine_name)
    try:
        ensure_fresh(settings, engine)
        ctx = period_context(engine, units, period, tz, now or utcnow())
        total, grouped, other = breakdowns(engine, ctx, bys)
    finally:
        engine.close()
    out = {}
    for by, groups in grouped.items():
        shown = groups[:limit] if limit else groups
        names = group_names(session, by, {g.key for g in shown if g.key})
        out[by] = AvailabilityReport(
            tenant=tenant, period=period.label, start=ctx.start, end=ctx.end, by=by,  # type: ignore[arg-type]
            total=total, groups=[g.model_copy(update={"name": names.get(g.key or "")}) for g in shown],
            groups_total=len(groups), other_readings=other)
    return out


def availability_report(*, session: Session, settings: Settings, period: Period, by: str, tenant: str | None = None,
                        now: datetime | None = None, limit: int | None = None,
                        engine_name: str | None = None) -> AvailabilityReport:
    """``availability_reports`` for one grouping: per asset, kind (type) or department."""
    return availability_reports(session=session, settings=settings, period=period, bys=(by,), tenant=tenant,
                                now=now, limit=limit, engine_name=engine_name)[by]
