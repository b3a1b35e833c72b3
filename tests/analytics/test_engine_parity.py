"""The engine suite: every built-in measure gives the same value on DuckDB and on Spark over the demo city."""

from __future__ import annotations

import pytest

from chengyun.analytics.engine import connect
from chengyun.analytics.registry import get_registry
from chengyun.analytics.runner import make_context, run_measures
from chengyun.core.db import session_scope
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.tenancy.service import subtree, subtree_population
from tests.analytics.test_measures import _spark_ok
from tests.conftest import need


def _all(settings: Settings, engine: str, tenant: str, period: str) -> dict[str, float | None]:
    with session_scope(settings) as s:
        units = subtree(session=s, unit_id=tenant)
        tenants, pop = [u.id for u in units], subtree_population(units)
    eng = connect(settings, engine)
    try:
        ctx = make_context(eng, tenants, parse_period(period), "Asia/Shanghai", pop)
        return {k: v.value for k, v in run_measures(eng, list(get_registry().measures), ctx).items()}
    finally:
        eng.close()


@pytest.mark.spark
@pytest.mark.parametrize(("tenant", "period"), [("linjiang", "2026Q3"), ("linjiang.d02", "2026Q1")])
def test_duckdb_and_spark_agree(demo_workspace: Settings, tenant: str, period: str) -> None:
    need(_spark_ok(), "pyspark or java is missing (pip install '.[spark]', Java 17)")
    duck = _all(demo_workspace, "duckdb", tenant, period)
    spark = _all(demo_workspace, "spark", tenant, period)
    assert set(duck) == set(get_registry().measures)
    missing = [k for k, v in duck.items() if v is None]
    assert not missing, f"the demo should feed every measure: {missing}"
    for name, value in duck.items():
        assert spark[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
