"""The run view: everything a report or a page shows about one run (see docs/dev/contracts.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.core.errors import NotFound
from chengyun.indicators.catalog import get_pack
from chengyun.indicators.models import EvaluationRun, NodeResult
from chengyun.indicators.pack import Pack
from chengyun.indicators.service import get_run, list_runs
from chengyun.tenancy.service import get_unit


def node_rows(session: Session, run_id: str) -> list[NodeResult]:
    """The run's node results in pack order (pre-order)."""
    rows = list(session.scalars(select(NodeResult).where(NodeResult.run_id == run_id).order_by(NodeResult.id)))
    return rows


def run_json(session: Session, run: EvaluationRun) -> dict[str, Any]:
    """The ``evaluate --json`` shape: run_id, pack, tenant, period, total, stage, nodes."""
    return {"run_id": run.id, "pack": run.pack_id, "tenant": run.tenant_id, "period": run.period,
            "total": run.total, "stage": run.stage,
            "nodes": [{"id": r.node_id, "name": r.name, "weight": r.weight, "value": r.value, "score": r.score,
                       "status": r.status} for r in node_rows(session, run.id)]}


def _pack_or_none(pack_id: str) -> Pack | None:
    try:
        return get_pack(pack_id)
    except NotFound:
        return None


def _trend(session: Session, run: EvaluationRun) -> list[dict[str, Any]]:
    by_period: dict[str, EvaluationRun] = {}
    for r in list_runs(session=session, pack_id=run.pack_id, tenant_id=run.tenant_id):
        by_period.setdefault(r.period, r)  # newest run of each period
    by_period[run.period] = run
    out = []
    for r in sorted(by_period.values(), key=lambda x: (x.period_start, x.period_end)):
        level1 = {n.node_id: n.score for n in session.scalars(
            select(NodeResult).where(NodeResult.run_id == r.id, NodeResult.depth == 1))}
        out.append({"run_id": r.id, "period": r.period, "total": r.total, "stage": r.stage, "level1": level1})
    return out


def run_view(*, session: Session, run_id: str) -> dict[str, Any]:
    """The full view of a run: header, stages, nodes with evidence, and the trend of the same pack and tenant."""
    run = get_run(session=session, run_id=run_id)
    pack = _pack_or_none(run.pack_id)
    unit = get_unit(session=session, unit_id=run.tenant_id)
    pack_nodes = {n.id: n for n in pack.walk()} if pack else {}
    stage = pack.stage_for(run.total) if pack else None
    nodes = []
    for r in node_rows(session, run.id):
        pn = pack_nodes.get(r.node_id)
        nodes.append({
            "id": r.node_id, "parent_id": r.parent_id, "depth": r.depth, "position": r.position, "name": r.name,
            "name_en": pn.name_en if pn else r.name, "kind": r.kind, "weight": r.weight, "max_score": r.max_score,
            "value": r.value, "unit": r.unit, "score": r.score, "status": r.status, "delta": r.delta,
            "provenance": r.provenance, "note": pn.note if pn else None, "measure": pn.measure if pn else None,
            "scoring": pn.scoring if pn else None, "evidence": r.evidence or {},
        })
    return {
        "run": {
            "id": run.id, "pack": run.pack_id, "pack_version": run.pack_version,
            "pack_title": pack.title if pack else run.pack_id, "pack_title_en": pack.title_en if pack else run.pack_id,
            "standard": pack.standard if pack else "", "provenance_note": pack.provenance_note if pack else "",
            "tenant": run.tenant_id, "tenant_name": unit.name, "period": run.period,
            "period_start": run.period_start.isoformat(), "period_end": run.period_end.isoformat(),
            "engine": run.engine, "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "total": run.total, "max_total": run.max_total, "stage": run.stage,
            "stage_en": stage.name_en if stage else None, "no_data_policy": run.no_data_policy,
            "warnings": list(run.warnings or []),
        },
        "stages": [{"name": s.name, "name_en": s.name_en, "min": s.min} for s in (pack.stages if pack else [])],
        "stage_note": pack.stage_note if pack else "",
        "nodes": nodes,
        "trend": _trend(session, run),
    }
