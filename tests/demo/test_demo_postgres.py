"""The demo city on PostgreSQL, the production state DB: generated (scale ``tiny``) into a database of its own,
evaluated once, and its state checked against figures computed straight from the generator's output."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from tests.conftest import _pg_url

from chengyun.analytics.engine import connect
from chengyun.analytics.runner import make_context, run_measures
from chengyun.cases.models import Case, CaseEvent
from chengyun.core.db import get_engine, migrate, session_scope
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.demo.generator import build_world, fact_chunk, generate, months
from chengyun.indicators.models import EvaluationRun, NodeResult
from chengyun.indicators.service import evaluate

SEED, TODAY = 11, date(2026, 11, 26)
Q3_END = datetime(2026, 9, 30, 16)  # the end of 2026Q3 in Asia/Shanghai, naive UTC


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A URL to a new, empty PostgreSQL database, dropped afterwards (the demo makes its own schema there)."""
    base = make_url(_pg_url())
    name = f"cy_demo_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        get_engine.cache_clear()  # the demo's pooled connections go before the database
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def generated_cases() -> dict[str, np.ndarray]:
    """The demo's case history as the generator makes it (every month and district), before any database."""
    w, _ = build_world(seed=SEED, scale="tiny", today=TODAY)
    chunks = [fact_chunk(w, "cases", m, d) for m in range(len(months(w.start, w.end))) for d in range(len(w.districts))]
    out: dict[str, np.ndarray] = {}
    for name in ("case_id", "status", "satisfaction", "returned_count", "created_at", "due_at", "resolved_at",
                 "closed_at"):
        col = pa.chunked_array([c[name] for c in chunks])
        col = col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
        out[name] = np.array(col.to_pylist(), dtype=object)
    return out


@pytest.mark.postgres
def test_demo_on_postgres(pg_database: str, tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path / "ws", database_url=pg_database)
    migrate(settings)
    with session_scope(settings) as session:
        summary = generate(settings=settings, session=session, scale="tiny", seed=SEED, today=TODAY)
    gen = generated_cases()
    history = set(gen["case_id"])
    with session_scope(settings) as session:
        rows = session.execute(select(Case.id, Case.status, Case.satisfaction, Case.returned_count)).all()
        events = dict(session.execute(select(CaseEvent.action, func.count()).group_by(CaseEvent.action)).all())
    stored = [r for r in rows if r.id in history]
    # every generated case is there once, with its status, rating and returns as generated; the rest are the
    # cases taken in live and those the live datasets opened
    assert len(stored) == len(history) == len(gen["case_id"])
    assert Counter(r.status for r in stored) == Counter(gen["status"])
    assert Counter(r.satisfaction for r in stored) == Counter(gen["satisfaction"])
    assert sum(r.returned_count for r in stored) == sum(gen["returned_count"])
    assert summary.cases is not None and len(rows) - len(stored) >= summary.cases.live
    # the timeline: one 办结 event per resolution, one 结案 per closure (the live cases have neither yet)
    assert events["resolve"] == sum(v is not None for v in gen["resolved_at"])
    assert events["close"] == sum(v is not None for v in gen["closed_at"])

    # through the export to the lake and back: the backlog at the end of 2026Q3, counted by hand
    open_at_q3 = [c < Q3_END and d is not None and d < Q3_END and (r is None or r >= Q3_END)
                  and (x is None or x >= Q3_END) and s not in ("suspended", "cancelled")
                  for c, d, r, x, s in zip(gen["created_at"], gen["due_at"], gen["resolved_at"], gen["closed_at"],
                                           gen["status"], strict=True)]
    eng = connect(settings, "duckdb")
    try:
        ctx = make_context(eng, summary.tenants, parse_period("2026Q3"), "Asia/Shanghai", None)
        got = run_measures(eng, ["cases.overdue_open", "cases.count"], ctx)
    finally:
        eng.close()
    assert got["cases.overdue_open"].value == sum(open_at_q3)
    q3 = parse_period("2026Q3").bounds_utc("Asia/Shanghai")
    assert got["cases.count"].value == sum(q3[0] <= c < q3[1] for c in gen["created_at"])

    # an evaluation writes its run and node results to PostgreSQL: the on-time rate of Q3's cases, by hand
    ok = [c <= r and d is not None for c, r, d in zip(gen["created_at"], gen["resolved_at"], gen["due_at"],
                                                        strict=True) if r is not None and q3[0] <= c < q3[1]]
    ontime = sum(q3[0] <= c < q3[1] and r is not None and c <= r and d is not None and r <= d
                 for c, r, d in zip(gen["created_at"], gen["resolved_at"], gen["due_at"], strict=True))
    late_open = sum(late and q3[0] <= c < q3[1] and r is None
                    for late, c, r in zip(open_at_q3, gen["created_at"], gen["resolved_at"], strict=True))
    eng = connect(settings, "duckdb")
    try:
        with session_scope(settings) as session:
            run = evaluate(session=session, settings=settings, engine=eng, pack_id="cn-hotline-12345",
                           tenant_id=summary.city_id, period=parse_period("2026Q3"))
            run_id = run.id
    finally:
        eng.close()
    with session_scope(settings) as session:
        stored = session.scalar(select(NodeResult.value).where(NodeResult.run_id == run_id,
                                                               NodeResult.node_id == "L2-A1"))
        total = session.scalar(select(EvaluationRun.total).where(EvaluationRun.id == run_id))
    assert stored == pytest.approx(ontime / (sum(ok) + late_open))
    assert total is not None and 0 < total <= 100
