"""数据质量排行榜: the departments ranked by the quality of the datasets they provide.

Two views. ``ranking``: now, from each dataset's latest run in the state DB. ``period_ranking``: over a period,
from the lake's ``quality_results`` (every run in the period, history included) joined to the catalogue as it stood
at the period's end — the same rows ``data.quality_score`` reads, so the city's figure and the departments' agree.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengyun.catalog.models import Dataset, QualityRun
from chengyun.core.periods import Period
from chengyun.core.settings import Settings


def _rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows.sort(key=lambda r: (r["score"] is None, -float(r["score"] or 0.0), str(r["department_id"])))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows


def latest_runs(session: Session, *, tenant_ids: list[str] | None = None) -> list[QualityRun]:
    """Each dataset's latest quality run (by run time; a backfilled run does not count as the latest)."""
    order = func.row_number().over(partition_by=QualityRun.dataset_id,
                                   order_by=(QualityRun.run_at.desc(), QualityRun.id.desc()))
    ranked = select(QualityRun.id, order.label("n"))
    if tenant_ids is not None:
        ranked = ranked.where(QualityRun.tenant_id.in_(tenant_ids))
    sub = ranked.subquery()
    return list(session.scalars(select(QualityRun).join(sub, QualityRun.id == sub.c.id).where(sub.c.n == 1)))


def ranking(session: Session, *, tenant_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """数据质量排行榜: departments by the mean of their datasets' latest scores, best first, with the datasets
    under target."""
    groups: dict[str | None, list[QualityRun]] = defaultdict(list)
    for run in latest_runs(session, tenant_ids=tenant_ids):
        groups[run.department_id].append(run)
    ids = [r.dataset_id for runs in groups.values() for r in runs]
    targets = dict(session.execute(select(Dataset.id, Dataset.quality_target).where(Dataset.id.in_(ids))).tuples().all())
    rows = []
    for dept, runs in groups.items():
        scored = [r.score for r in runs if r.score is not None]
        below = sum(1 for r in runs if r.score is not None and r.score < targets.get(r.dataset_id, 80.0))
        rows.append({"department_id": dept, "datasets": len(runs), "score": sum(scored) / len(scored) if scored else None,
                     "below_target": below, "invalid": sum(1 for r in runs if not r.valid)})
    return _rank(rows)


def period_ranking(settings: Settings, *, tenants: list[str], period: Period, tz: str,
                   engine: str | None = None) -> list[dict[str, Any]]:
    """Departments by 100 × (1 − failed / checked rows) over the period's runs in the lake, best first."""
    from chengyun.analytics.engine import connect
    from chengyun.lake.sync import ensure_fresh

    start, end = period.bounds_utc(tz)
    eng = connect(settings, engine)
    try:
        ensure_fresh(settings, eng)  # the lake is brought up to date first, as for every analytical read
        q = eng.period_table("quality_results", tenants, start, end)
        d = eng.asof_table("datasets", tenants, end).select("dataset_id", "department_id")
        j = q.join(d, "dataset_id")
        agg = j.group_by("department_id").aggregate(checked=j.rows_checked.sum(), failed=j.rows_failed.sum(),
                                                    datasets=j.dataset_id.nunique())
        frame = eng.execute(agg)
    finally:
        eng.close()
    rows = []
    for r in frame.to_dict("records"):
        checked, failed = float(r["checked"] or 0), float(r["failed"] or 0)
        rows.append({"department_id": r["department_id"], "datasets": int(r["datasets"]), "checked": int(checked), "failed": int(failed),
                     "score": None if checked == 0 else 100.0 * (1.0 - failed / checked)})
    return _rank(rows)
