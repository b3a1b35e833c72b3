"""The ``cn-hotline-12345`` pack: it validates, its three rates carry the §6.4 weights (30/35/35), the supporting
rates score nothing, and it evaluates end to end on the hand-made lake of ``test_case_measures``."""

from __future__ import annotations

from pathlib import Path

import pytest

from chengyun.analytics.engine import connect
from chengyun.analytics.registry import get_registry
from chengyun.core.db import session_scope
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.indicators.catalog import available_packs
from chengyun.indicators.pack import load_pack_file
from chengyun.indicators.scoring import evaluate_tree
from chengyun.indicators.service import evaluate
from tests.cases.test_case_measures import CITY, lake  # noqa: F401  (shared fixture)

PACK = Path(__file__).resolve().parents[2] / "src/chengyun/indicators/packs/cn-hotline-12345.yaml"


def test_pack_validates_and_is_installed() -> None:
    pack = load_pack_file(PACK, set(get_registry().measures))
    assert pack.id == "cn-hotline-12345" and "cn-hotline-12345" in available_packs()
    three, supporting = pack.nodes
    assert {n.measure: n.weight for n in three.children} == {
        "cases.response_rate": 30, "cases.resolution_rate": 35, "cases.satisfaction_rate": 35}
    assert (three.weight, three.provenance) == (100, "reported")
    assert supporting.weight == 0 and {n.measure for n in supporting.children} == {
        "cases.ontime_closure_rate", "cases.return_rate", "cases.repeat_rate", "cases.overdue_open"}


def test_scores_by_the_weights() -> None:
    pack = load_pack_file(PACK, set(get_registry().measures))
    values = {"L1-A1": (0.9, "higher"), "L1-A2": (0.8, "higher"), "L1-A3": (0.7, "higher"),
              "L2-A1": (0.95, "higher"), "L2-A2": (0.02, "lower"), "L2-A3": (0.02, "lower"),
              "L2-A4": (0.0, "lower")}
    nodes, total = evaluate_tree(pack, values)
    assert total == pytest.approx(30 * 0.9 + 35 * 0.8 + 35 * 0.7)  # 79.5: supporting rates add nothing
    assert {s.node.id: s.score for s in nodes}["L2"] == 0


def test_evaluates_on_case_data(lake: Settings) -> None:  # noqa: F811
    eng = connect(lake, "duckdb")
    try:
        with session_scope(lake) as s:
            run = evaluate(session=s, settings=lake, engine=eng, pack_id="cn-hotline-12345", tenant_id=CITY,
                           period=parse_period("2026Q3"))
            total = run.total
    finally:
        eng.close()
    # response 2/4, resolution 2/3, satisfaction 2/3 (test_case_measures.EXPECTED), proportional scoring
    assert total == pytest.approx(round(30 * 0.5 + 35 * 2 / 3 + 35 * 2 / 3, 2))
