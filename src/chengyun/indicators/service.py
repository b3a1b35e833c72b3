"""Evaluation runs (评价): snapshot → measures → scores → roll-up → stage → stored with evidence."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.analytics.engine import Engine
from chengyun.analytics.registry import get_registry
from chengyun.analytics.runner import make_context, run_measures
from chengyun.core.db import utcnow
from chengyun.core.errors import NotFound
from chengyun.core.periods import Period
from chengyun.core.settings import Settings
from chengyun.indicators.catalog import get_pack, install
from chengyun.indicators.inputs import latest_inputs
from chengyun.indicators.models import EvaluationRun, NodeResult
from chengyun.indicators.pack import Pack
from chengyun.indicators.scoring import Scored, evaluate_tree
from chengyun.lake.snapshot import snapshot_state
from chengyun.lake.sync import ensure_fresh
from chengyun.tenancy.service import get_unit, subtree, subtree_population


def _manual_values(session: Session, pack: Pack, tenant: str, period: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    values, evidence = {}, {}
    for node_id, row in latest_inputs(session=session, pack_id=pack.id, tenant_id=tenant, period=period).items():
        direction = (pack.node(node_id).input or {}).get("direction", "higher")
        values[node_id] = (row.value, direction)
        evidence[node_id] = {"source": "manual", "value": row.value, "evidence": row.evidence,
                             "source_document": row.source_document, "entered_by": row.entered_by,
                             "entered_at": row.entered_at.isoformat()}
    return values, evidence


def _previous_scores(session: Session, pack: Pack, tenant: str, period: Period) -> tuple[str | None, dict[str, float | None]]:
    prev = session.scalars(
        select(EvaluationRun).where(EvaluationRun.pack_id == pack.id, EvaluationRun.tenant_id == tenant,
                                    EvaluationRun.period == period.previous().label, EvaluationRun.status == "done")
        .order_by(EvaluationRun.finished_at.desc())
    ).first()
    if prev is None:
        return None, {}
    rows = session.scalars(select(NodeResult).where(NodeResult.run_id == prev.id))
    scores: dict[str, float | None] = {r.node_id: r.score for r in rows}
    scores["__total__"] = prev.total
    return prev.id, scores


def evaluate(*, session: Session, settings: Settings, engine: Engine, pack_id: str, tenant_id: str, period: Period,
             cache: dict[tuple[str, str, str], Any] | None = None) -> EvaluationRun:
    """Evaluate a pack for a tenant (its whole subtree) and period; store the run, node results and evidence.
    ``cache`` lets several packs evaluated over the same data share measure results. A period still running is
    evaluated up to today, so that time not yet lived does not count as downtime or missing data."""
    period = period.clipped(date.today())
    ensure_fresh(settings, engine)  # the lake holds every change the state DB committed
    pack = get_pack(pack_id)
    unit = get_unit(session=session, unit_id=tenant_id)
    units = subtree(session=session, unit_id=tenant_id)
    tenants = [u.id for u in units]
    run = EvaluationRun(id=uuid.uuid4().hex[:12], pack_id=pack.id, pack_version=pack.version, tenant_id=tenant_id,
                        period=period.label, period_start=period.start, period_end=period.end, engine=engine.name,
                        started_at=utcnow(), no_data_policy=pack.no_data, warnings=[])
    # reads and computing first, writes at the end: the state DB's write lock (SQLite has one for the whole
    # database) is held for the storing alone, not for the minutes the measures may take
    run.snapshot = str(snapshot_state(settings.lake, session, run.id, tenants, pack.id))
    ctx = make_context(engine, tenants, period, unit.timezone or settings.timezone, subtree_population(units))
    leaves = [n for n in pack.walk() if n.kind == "measure"]
    cache = {} if cache is None else cache
    wanted = [n.measure for n in leaves if n.measure and (tenant_id, period.label, n.measure) not in cache]
    for name, res in run_measures(engine, wanted, ctx).items():
        cache[(tenant_id, period.label, name)] = res
    results = {n.measure: cache[(tenant_id, period.label, n.measure)] for n in leaves if n.measure}
    reg = get_registry()
    values: dict[str, Any] = {}
    evidence: dict[str, dict[str, Any]] = {}
    for n in leaves:
        assert n.measure
        res, m = results[n.measure], reg.get(n.measure)
        values[n.id] = (res.value, m.direction)
        evidence[n.id] = res.evidence(ctx, engine.name, m)
    manual, manual_ev = _manual_values(session, pack, tenant_id, period.label)
    values.update(manual)
    evidence.update(manual_ev)
    scored, total = evaluate_tree(pack, values)
    prev_id, prev = _previous_scores(session, pack, tenant_id, period)
    install(session=session, pack=pack)
    session.add(run)
    _store(session, run, scored, evidence, prev, pack)
    stage = pack.stage_for(total)
    run.total, run.max_total, run.stage = total, pack.scale, stage.name if stage else None
    run.previous_run_id = prev_id
    no_data = [s.node.id for s in scored if s.status == "no-data" and not s.node.children]
    if no_data:
        listed = ", ".join(no_data[:8]) + ("…" if len(no_data) > 8 else "")
        policy = ("计 0 分 scored 0" if pack.no_data == "zero" else "分值转给同级指标 points moved to siblings")
        run.warnings = [f"{len(no_data)} 项指标无数据 indicator(s) without data ({listed}); 规则 policy {pack.no_data}: {policy}"]
    run.finished_at, run.status = utcnow(), "done"
    session.flush()
    audit.record(session, "evaluation.create", target_type="evaluation", target_id=run.id, tenant_id=tenant_id,
                 detail={"pack": pack.id, "version": pack.version, "period": period.label, "total": total})
    return run


def evaluate_packs(*, session: Session, settings: Settings, engine: Engine, pack_ids: list[str], tenant_id: str,
                   period: Period) -> list[EvaluationRun]:
    """Evaluate several packs for one tenant and period: the union of their measures is computed once (one scan
    per lake table, a measure shared by packs once), then each pack is scored and stored as ``evaluate`` does."""
    period = period.clipped(date.today())
    ensure_fresh(settings, engine)
    unit = get_unit(session=session, unit_id=tenant_id)
    units = subtree(session=session, unit_id=tenant_id)
    ctx = make_context(engine, [u.id for u in units], period, unit.timezone or settings.timezone,
                       subtree_population(units))
    names = sorted({n.measure for pid in pack_ids for n in get_pack(pid).walk() if n.kind == "measure" and n.measure})
    cache = {(tenant_id, period.label, k): v for k, v in run_measures(engine, names, ctx).items()}
    return [evaluate(session=session, settings=settings, engine=engine, pack_id=pid, tenant_id=tenant_id,
                     period=period, cache=cache) for pid in pack_ids]


def _store(session: Session, run: EvaluationRun, scored: list[Scored], evidence: dict[str, dict[str, Any]],
           prev: dict[str, float | None], pack: Pack) -> None:
    for s in scored:
        ev = dict(evidence.get(s.node.id, {}))
        ev.update(s.evidence)
        if s.status == "no-data" and not s.node.children:
            ev["no_data_policy"] = pack.no_data
        before = prev.get(s.node.id)
        unit = (s.node.input or {}).get("unit") if s.node.kind == "manual" else ev.get("unit")
        session.add(NodeResult(
            run_id=run.id, node_id=s.node.id, parent_id=s.parent_id, position=s.position, depth=s.depth,
            name=s.node.name, kind=s.node.kind, weight=s.node.weight, effective_weight=s.max_score,
            value=s.value, unit=unit, score=None if s.score is None else round(s.score, 4), max_score=round(s.max_score, 4),
            status=s.status, delta=None if s.score is None or before is None else round(s.score - before, 4),
            provenance=s.node.provenance, evidence=ev,
        ))


def get_run(*, session: Session, run_id: str) -> EvaluationRun:
    """The run, or an error that says how to list runs."""
    run = session.get(EvaluationRun, run_id)
    if run is None:
        raise NotFound(f"evaluation run {run_id!r} does not exist", fix="see `chengyun evaluations list` or GET /api/v1/evaluations")
    return run


def list_runs(*, session: Session, pack_id: str | None = None, tenant_id: str | None = None) -> list[EvaluationRun]:
    """Finished runs, newest period first."""
    stmt = select(EvaluationRun).where(EvaluationRun.status == "done")
    if pack_id:
        stmt = stmt.where(EvaluationRun.pack_id == pack_id)
    if tenant_id:
        stmt = stmt.where(EvaluationRun.tenant_id == tenant_id)
    return list(session.scalars(stmt.order_by(EvaluationRun.period_start.desc(), EvaluationRun.finished_at.desc())))


def run_summary(run: EvaluationRun) -> dict[str, Any]:
    """The short form of a run (lists, API)."""
    return {"run_id": run.id, "pack": run.pack_id, "pack_version": run.pack_version, "tenant": run.tenant_id,
            "period": run.period, "total": run.total, "max_total": run.max_total, "stage": run.stage,
            "engine": run.engine, "finished_at": run.finished_at.isoformat() if run.finished_at else None}
