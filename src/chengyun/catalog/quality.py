"""Quality runs of the catalogue's datasets (数据质量检测, GB/T 36344); the departments' ranking is in
``catalog/ranking.py``.

A run reads the dataset's snapshot on DuckDB or Spark, applies its rules (``catalog/rules.py``) and keeps the
report. A score under the dataset's target opens one case for the owning department (channel ``data-quality``);
while that case is open, later low scores are added to it as events instead of opening another.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.catalog.models import Dataset, DatasetUpdate, QualityRun
from chengyun.catalog.rules import QualityReport, Rule, RunContext, load_rules, run_rules
from chengyun.core.db import utcnow
from chengyun.core.errors import ChengyunError, InvalidInput, NotFound
from chengyun.core.scoping import unscoped
from chengyun.core.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "data-quality"
CATEGORY = "E09"  # 数据质量 in the shipped category table
ACTOR = "quality-rules"
RULES_FIX = "give rules with --rules FILE, or store them: chengyun quality rules NAME FILE"


def rules_of(ds: Dataset, given: str | Path | dict[str, Any] | list[Any] | None = None) -> list[Rule]:
    """The rules a run applies: ``given`` (a file or its parsed form), else the dataset's stored rules."""
    if given is not None:
        return load_rules(given)
    if not ds.rules:
        raise InvalidInput(f"dataset {ds.name!r} has no quality rules", fix=RULES_FIX)
    return load_rules({"rules": ds.rules})


def set_rules(session: Session, ds: Dataset, source: str | Path | dict[str, Any] | list[Any], *,
              actor: str | None = None, target: float | None = None) -> list[Rule]:
    """Store the dataset's rules (and its score target) after checking them against its columns."""
    rules = load_rules(source)
    columns = {c["name"] for c in ds.schema_ or []}
    for r in rules:
        for col in _columns(r):
            if columns and col not in columns:
                raise InvalidInput(f"rule {r.id!r}: column {col!r} is not in dataset {ds.name!r}",
                                   fix=f"use one of: {', '.join(sorted(columns))}")
    ds.rules = [_as_dict(r) for r in rules]
    if target is not None:
        if not 0 <= target <= 100:
            raise InvalidInput(f"target: {target} is not a score", fix="give a score from 0 to 100")
        ds.quality_target = target
    ds.updated_at = utcnow()
    session.flush()
    audit.record(session, "dataset.rules", target_type="dataset", target_id=ds.id, tenant_id=ds.tenant_id,
                 detail={"rules": len(rules), "target": ds.quality_target}, actor=actor)
    return rules


def _columns(r: Rule) -> list[str]:
    cols = [r.column] if r.column and r.column != "*" else []
    extra = r.params.get("columns") or []
    other = r.params.get("other")
    return cols + [c for c in extra if isinstance(c, str)] + ([other] if isinstance(other, str) else [])


def _as_dict(r: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"id": r.id, "kind": r.kind, "dimension": r.dimension}
    if r.column is not None:
        out["column"] = r.column
    if r.weight != 1.0:
        out["weight"] = r.weight
    if r.description:
        out["description"] = r.description
    return out | dict(r.params)


def _previous_rows(session: Session, ds: Dataset) -> int | None:
    """Rows of the refresh before the latest: what ``row-count`` drift compares with."""
    rows = list(session.scalars(select(DatasetUpdate.rows).where(DatasetUpdate.dataset_id == ds.id)
                                .order_by(DatasetUpdate.updated_at.desc(), DatasetUpdate.id.desc()).limit(2)))
    return rows[1] if len(rows) == 2 else None


def _resolver(session: Session, ds: Dataset, con: Any) -> Any:
    def resolve(name: str) -> Any:
        """A loaded dataset of the same unit, by name or id: a rule never reads another unit's data."""
        other = session.scalar(select(Dataset).where(Dataset.tenant_id == ds.tenant_id,
                                                     (Dataset.name == name) | (Dataset.id == name)))
        if other is None or not other.snapshot:
            raise NotFound(f"reference: no loaded dataset {name!r} in {ds.tenant_id}",
                           fix="register it first: chengyun datasets add FILE --name NAME --tenant ID")
        return con.read_parquet(other.snapshot)
    return resolve


def check(settings: Settings, session: Session, ds: Dataset, rules: list[Rule], *,
          engine: str | None = None, now: datetime | None = None) -> QualityReport:
    """Apply ``rules`` to the dataset's snapshot and return the report (nothing is stored)."""
    from chengyun.analytics.engine import connect

    if not ds.snapshot or not Path(ds.snapshot).exists():
        raise InvalidInput(f"dataset {ds.name!r} has no data loaded",
                           fix=f"load it: chengyun datasets refresh {ds.name} --source FILE")
    eng = connect(settings, engine)
    try:
        table = eng.con.read_parquet(ds.snapshot)
        ctx = RunContext(resolve=_resolver(session, ds, eng.con), now=now or utcnow(), last_updated=ds.last_updated_at,
                         update_cycle_days=ds.update_cycle_days, previous_rows=_previous_rows(session, ds))
        return run_rules(table, rules, context=ctx)
    finally:
        eng.close()


def run_quality(settings: Settings, session: Session, ds: Dataset, *, rules: Any = None, engine: str | None = None,
                actor: str | None = None, now: datetime | None = None) -> tuple[QualityRun, QualityReport]:
    """Run the dataset's quality rules, keep the report, and open (or add to) the owner's case when the score is
    under the target."""
    report = check(settings, session, ds, rules_of(ds, rules), engine=engine, now=now)
    at = now or utcnow()
    run = QualityRun(dataset_id=ds.id, tenant_id=ds.tenant_id, department_id=ds.department_id, run_at=at,
                     engine=engine or settings.engine, rows=report.rows, valid=report.valid, score=report.score,
                     report=report.to_dict(), actor=actor)
    session.add(run)
    ds.last_score = report.score
    session.flush()
    if report.score is not None and report.score < ds.quality_target:
        with unscoped(session):  # the case is the owner's, in the dataset's unit, whoever ran the rules
            run.case_id = _quality_case(settings, session, ds, run)
    audit.record(session, "dataset.quality", target_type="dataset", target_id=ds.id, tenant_id=ds.tenant_id,
                 detail={"run": run.id, "score": report.score, "valid": report.valid, "case": run.case_id},
                 actor=actor)
    return run, report


def latest_run(session: Session, ds: Dataset) -> QualityRun | None:
    """The dataset's latest quality run (质量检测), if it has one."""
    return session.scalar(select(QualityRun).where(QualityRun.dataset_id == ds.id)
                          .order_by(QualityRun.run_at.desc(), QualityRun.id.desc()).limit(1))


def _quality_case(settings: Settings, session: Session, ds: Dataset, run: QualityRun) -> str:
    """The owner's open case for this dataset's quality (one at a time), dispatched to the owning department."""
    from chengyun.cases.lifecycle import OPEN
    from chengyun.cases.models import Case
    from chengyun.cases.service import CaseDesk, _event, create_case, transition

    desk = CaseDesk.for_settings(settings)
    ext = f"dq-{ds.id}"
    failing = [r["id"] for r in run.report.get("rules", []) if r.get("failed")]
    text = (f"数据质量得分 {run.score:.1f} 低于目标 {ds.quality_target:.0f} · quality score {run.score:.1f} under the "
            f"target {ds.quality_target:.0f}; failing rules: {', '.join(failing) or '—'}")
    found = session.scalar(select(Case).where(Case.external_id == ext, Case.source == CHANNEL,
                                              Case.status.in_(tuple(OPEN))))
    if found is not None:
        _event(session, found, "quality", ACTOR, before=found.status, at=run.run_at, reason=text[:500],
               detail={"run": run.id, "score": run.score})
        return found.id
    case = create_case(session, desk, tenant_id=ds.tenant_id, channel=CHANNEL, category=CATEGORY, priority="normal",
                       title=f"数据质量整改: {ds.title}"[:200], description=text, external_id=ext, source=CHANNEL,
                       created_at=run.run_at, actor=ACTOR, auto_dispatch=ds.department_id is None)
    if ds.department_id:
        try:
            with session.begin_nested():
                transition(session, desk, case.id, "dispatch", actor=ACTOR, department_id=ds.department_id,
                           at=run.run_at, reason="数据提供方负责整改 the provider department owns the fix")
        except ChengyunError as exc:  # a provider the case's unit cannot dispatch to: the case waits in triage
            log.warning("quality case %s not dispatched to %s: %s", case.id, ds.department_id, exc.message)
    return case.id

