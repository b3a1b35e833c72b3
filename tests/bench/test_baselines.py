"""The benchmark's baselines — hand-written DuckDB SQL and pandas — against chengyun's ``run_measures`` on the
session's demo city (the ``demo_workspace`` fixture), for every measure the built-in packs use and three of the
demo's quarters: an independent second (and third) computation, so a wrong measure or a wrong baseline fails here."""

from __future__ import annotations

from typing import Any

import pytest
from bench.baselines import MEASURES, Window, pandas_impl, sql
from bench.evaluate import same

from chengyun.analytics.engine import connect
from chengyun.analytics.runner import make_context, run_measures
from chengyun.core.db import session_scope
from chengyun.core.periods import Period, recent_quarters
from chengyun.core.settings import Settings
from chengyun.indicators.catalog import available_packs
from chengyun.tenancy.service import get_unit, subtree, subtree_population
from tests.conftest import DEMO_TODAY

CITY = "linjiang"
# of the demo's five quarters: the first (assets still being installed), the latest full one, the current to date
QUARTERS = [p.clipped(DEMO_TODAY) for i, p in enumerate(recent_quarters(DEMO_TODAY)) if i in (0, 3, 4)]
BASELINES = {"sql": sql.compute, "pandas": pandas_impl.compute}


def pack_measures() -> list[str]:
    """Every measure some built-in pack scores."""
    return sorted({n.measure for p in available_packs().values() for n in p.walk() if n.measure})


@pytest.fixture(scope="module")
def city(demo_workspace: Settings) -> dict[str, Any]:
    """The city's tenants, population and time zone, as an evaluation of the whole city uses them."""
    with session_scope(demo_workspace) as session:
        units = subtree(session=session, unit_id=CITY)
        tz = get_unit(session=session, unit_id=CITY).timezone or demo_workspace.timezone
        return {"tenants": [u.id for u in units], "population": subtree_population(units), "tz": tz}


@pytest.fixture(scope="module")
def chengyun_values(demo_workspace: Settings, city: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """chengyun's value of every pack measure, per quarter label."""
    eng = connect(demo_workspace, "duckdb")
    try:
        out = {}
        for q in QUARTERS:
            ctx = make_context(eng, city["tenants"], q, city["tz"], city["population"])
            out[q.label] = {k: r.value for k, r in run_measures(eng, pack_measures(), ctx).items()}
        return out
    finally:
        eng.close()


def window(settings: Settings, city: dict[str, Any], q: Period) -> Window:
    """The baselines' view of the same tenants and period."""
    start, end = q.bounds_utc(city["tz"])
    return Window(settings.lake, tuple(city["tenants"]), start, end, city["population"])


def test_baselines_cover_every_pack_measure() -> None:
    assert set(pack_measures()) <= set(MEASURES), (
        "a pack uses a measure the benchmark baselines do not compute"
    )


def test_the_demo_gives_data_to_compare(chengyun_values: dict[str, dict[str, float | None]]) -> None:
    # a comparison of empty values against empty values would prove nothing
    for q in QUARTERS[:-1]:
        missing = [k for k, v in chengyun_values[q.label].items() if v is None]
        assert len(missing) <= 2, f"{q.label}: no data for {missing}"


@pytest.mark.parametrize("q", QUARTERS, ids=[q.label for q in QUARTERS])
@pytest.mark.parametrize("baseline", sorted(BASELINES))
def test_baseline_equals_chengyun(
    demo_workspace: Settings,
    city: dict[str, Any],
    q: Period,
    baseline: str,
    chengyun_values: dict[str, dict[str, float | None]],
) -> None:
    got = BASELINES[baseline](window(demo_workspace, city, q))
    want = chengyun_values[q.label]
    wrong = {k: (want[k], got[k]) for k in want if not same(want[k], got[k])}
    assert not wrong, f"{baseline} ≠ chengyun in {q.label} (chengyun, {baseline}): {wrong}"


def test_tolerance_is_relative_and_strict_on_missing() -> None:
    assert same(1.0, 1.0 + 1e-12) and not same(1.0, 1.0 + 1e-6)
    assert same(None, None) and not same(None, 0.0) and not same(0.0, None)
