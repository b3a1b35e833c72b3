"""Usage of shared data (数据调用与复用): calls and rows served per dataset, consumer and scenario."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengyun.catalog.models import DataAccess


def usage(session: Session, *, tenant: str | None = None, dataset_id: str | None = None) -> dict[str, Any]:
    """Calls and rows per (dataset, consumer, scenario), and how many datasets two or more departments use."""
    q = select(DataAccess.dataset_id, DataAccess.consumer_department_id, DataAccess.scenario,
               func.count().label("calls"), func.coalesce(func.sum(DataAccess.rows), 0).label("rows"))
    if tenant:
        from chengyun.catalog.service import unit_ids

        q = q.where(DataAccess.tenant_id.in_(unit_ids(session, tenant)))
    if dataset_id:
        q = q.where(DataAccess.dataset_id == dataset_id)
    q = q.group_by(DataAccess.dataset_id, DataAccess.consumer_department_id, DataAccess.scenario)
    rows = [{"dataset_id": d, "consumer_department_id": c, "scenario": s, "calls": int(n), "rows": int(r)}
            for d, c, s, n, r in session.execute(q.order_by(func.count().desc()))]
    consumers: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        consumers[r["dataset_id"]].add(r["consumer_department_id"])
    return {"rows": rows, "used": len(consumers), "reused": sum(1 for c in consumers.values() if len(c) >= 2)}
