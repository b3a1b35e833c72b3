"""Scoring rules and roll-up against hand-computed examples."""

from __future__ import annotations

import pytest

from chengyun.indicators.pack import parse_pack
from chengyun.indicators.scoring import deduction, evaluate_tree, share

LINEAR = {"rule": "linear", "worst": 0.6, "best": 0.9}


@pytest.mark.parametrize(
    ("rule", "value", "direction", "expected"),
    [
        (LINEAR, 0.75, "higher", 0.5),  # (0.75-0.6)/(0.9-0.6)
        (LINEAR, 0.95, "higher", 1.0),  # clamped above
        (LINEAR, 0.50, "higher", 0.0),  # clamped below
        ({"rule": "linear", "worst": 48, "best": 24}, 30, "lower", 0.75),  # (30-48)/(24-48)
        ({"rule": "target", "target": 0.8}, 0.6, "higher", 0.75),
        ({"rule": "target", "target": 0.8}, 0.9, "higher", 1.0),
        ({"rule": "target", "target": 10}, 40, "lower", 0.25),  # 10/40
        ({"rule": "target", "target": 10}, 0, "lower", 1.0),
        ({"rule": "boolean"}, 1, "higher", 1.0),
        ({"rule": "boolean", "expect": False}, 1, "higher", 0.0),
        ({"rule": "banded", "bands": [{"min": 0.9, "score": 1}, {"min": 0.8, "score": 0.6}]}, 0.85, "higher", 0.6),
        ({"rule": "banded", "bands": [{"min": 0.9, "score": 1}, {"min": 0.8, "score": 0.6}]}, 0.7, "higher", 0.0),
        ({"rule": "banded", "bands": [{"max": 2, "score": 1}, {"max": 5, "score": 0.5}]}, 3, "lower", 0.5),
    ],
)
def test_share(rule: dict, value: float, direction: str, expected: float) -> None:
    assert share(rule, value, direction) == pytest.approx(expected)


def test_deduction_is_capped() -> None:
    rule = {"rule": "deduction", "per": 2, "points": 1.5, "max": 4}
    assert deduction(rule, 2) == pytest.approx(1.5)
    assert deduction(rule, 4) == pytest.approx(3.0)
    assert deduction(rule, 100) == pytest.approx(4.0)


def _pack(no_data: str = "zero") -> dict:
    return {
        "id": "t", "version": "1", "title": "T", "scale": 100, "no_data": no_data,
        "stages": {"bands": [{"name": "起步期", "min": 0}, {"name": "成长期", "min": 60}]},
        "nodes": [
            {"id": "A", "name": "甲", "weight": 60, "split": "percent", "children": [
                {"id": "A1", "name": "甲一", "weight": 50, "measure": "m.a1", "scoring": LINEAR},
                {"id": "A2", "name": "甲二", "weight": 25, "measure": "m.a2", "scoring": {"rule": "target", "target": 0.8}},
                {"id": "A3", "name": "甲三", "weight": 25, "input": {"min": 0, "max": 1}, "scoring": {"rule": "boolean"}},
            ]},
            {"id": "B", "name": "乙", "weight": 40, "children": [
                {"id": "B1", "name": "乙一", "weight": 40, "measure": "m.b1", "scoring": LINEAR},
            ]},
            {"id": "S", "name": "安全", "weight": 0, "measure": "m.s", "scoring": {"rule": "deduction", "per": 1, "points": 2, "max": 5}},
        ],
    }


def test_rollup_by_hand() -> None:
    pack = parse_pack(_pack(), "t.yaml")
    values = {"A1": (0.75, "higher"), "A2": (0.6, "higher"), "A3": (1, "higher"), "B1": (0.9, "higher"), "S": (1, "lower")}
    scored, total = evaluate_tree(pack, values)
    by_id = {s.node.id: s for s in scored}
    # A max 60: A1 max 30 × 0.5 = 15; A2 max 15 × 0.75 = 11.25; A3 max 15 × 1 = 15 → 41.25
    assert by_id["A1"].score == pytest.approx(15)
    assert by_id["A2"].score == pytest.approx(11.25)
    assert by_id["A"].score == pytest.approx(41.25)
    assert by_id["B"].score == pytest.approx(40)
    assert by_id["S"].score == pytest.approx(-2)
    assert total == pytest.approx(41.25 + 40 - 2)
    assert pack.stage_for(total).name == "成长期"


def test_no_data_zero_policy_marks_partial() -> None:
    pack = parse_pack(_pack("zero"), "t.yaml")
    scored, total = evaluate_tree(pack, {"A1": (0.9, "higher"), "A2": (None, "higher"), "A3": (1, "higher"), "B1": (0.6, "higher")})
    by_id = {s.node.id: s for s in scored}
    assert by_id["A2"].status == "no-data" and by_id["A2"].score is None
    assert by_id["A"].status == "partial"
    assert by_id["A"].score == pytest.approx(30 + 15)  # A2's 15 points lost
    assert by_id["S"].status == "no-data"
    assert total == pytest.approx(45 + 0)


def test_no_data_reweight_policy_moves_points() -> None:
    pack = parse_pack(_pack("reweight"), "t.yaml")
    scored, total = evaluate_tree(pack, {"A1": (0.75, "higher"), "A2": (None, "higher"), "A3": (1, "higher"), "B1": (0.9, "higher")})
    by_id = {s.node.id: s for s in scored}
    # A1 (max 30) and A3 (max 15) share A's 60 points: factor 60/45; A1 15 → 20, A3 15 → 20
    assert by_id["A1"].max_score == pytest.approx(40)
    assert by_id["A1"].score == pytest.approx(20)
    assert by_id["A3"].score == pytest.approx(20)
    assert by_id["A"].score == pytest.approx(40)
    assert total == pytest.approx(80)


def test_all_no_data_is_no_data_not_zero() -> None:
    pack = parse_pack(_pack(), "t.yaml")
    scored, total = evaluate_tree(pack, {})
    assert total is None
    assert all(s.status == "no-data" for s in scored)
