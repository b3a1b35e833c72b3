"""Scoring rules (计分规则) and roll-up by weight, with the no-data policy applied and recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chengyun.indicators.pack import Node, Pack


def share(rule: dict[str, Any], value: float, direction: str = "higher") -> float:
    """The share (0..1) of a node's points that ``value`` earns under ``rule``."""
    kind = rule["rule"]
    direction = rule.get("direction", direction)
    if kind == "linear":
        worst, best = float(rule["worst"]), float(rule["best"])
        return min(1.0, max(0.0, (value - worst) / (best - worst)))
    if kind == "target":
        target = float(rule["target"])
        if direction == "lower":
            return 1.0 if value <= 0 else min(1.0, target / value)
        return max(0.0, min(1.0, value / target))
    if kind == "boolean":
        return 1.0 if (value != 0) == bool(rule.get("expect", True)) else 0.0
    if kind == "banded":
        for band in rule["bands"]:
            if ("min" in band and value >= band["min"]) or ("max" in band and value <= band["max"]):
                return float(band["score"])
        return 0.0
    raise ValueError(f"rule {kind!r} gives no share")


def deduction(rule: dict[str, Any], value: float) -> float:
    """Points taken off (a non-negative number) by a deduction item (倒扣分)."""
    return min(float(rule["max"]), float(rule["points"]) * max(0.0, value) / float(rule["per"]))


@dataclass
class Scored:
    """A node's outcome in one run."""

    node: Node
    depth: int
    parent_id: str | None
    position: int
    max_score: float
    value: float | None = None
    score: float | None = None
    status: str = "ok"
    evidence: dict[str, Any] = field(default_factory=dict)
    unit: str | None = None


def _leaf(node: Node, values: dict[str, tuple[float | None, str]], out: Scored) -> None:
    value, direction = values.get(node.id, (None, "higher"))
    out.value = value
    if value is None:
        out.status, out.score = "no-data", None
        return
    assert node.scoring is not None
    if node.is_deduction:
        out.score = -deduction(node.scoring, value)
    else:
        out.score = round(out.max_score * share(node.scoring, value, direction), 6)


def _group(node: Node, kids: list[Scored], policy: str, out: Scored) -> None:
    positive = [k for k in kids if not k.node.is_deduction]
    penalty = sum(k.score or 0.0 for k in kids if k.node.is_deduction)
    with_data = [k for k in positive if k.score is not None]
    if not with_data:
        out.status, out.score = "no-data", None
        if penalty:
            out.score = max(0.0, penalty)
        return
    if policy == "reweight" and len(with_data) < len(positive):
        have = sum(k.max_score for k in with_data)
        factor = out.max_score / have if have else 0.0
        for k in with_data:
            k.evidence["reweighted_from"] = k.max_score
            k.score = (k.score or 0.0) * factor
            k.max_score *= factor
    out.score = max(0.0, sum(k.score or 0.0 for k in with_data) + penalty)
    out.status = "ok" if len(with_data) == len(positive) and all(k.status == "ok" for k in with_data) else "partial"


def evaluate_tree(pack: Pack, values: dict[str, tuple[float | None, str]]) -> tuple[list[Scored], float | None]:
    """Score every node of ``pack`` from leaf values ``{node_id: (value, direction)}``; return nodes and total."""
    result: list[Scored] = []

    def visit(node: Node, max_score: float, depth: int, parent: str | None, pos: int) -> Scored:
        me = Scored(node, depth, parent, pos, max_score)
        result.append(me)
        if not node.children:
            _leaf(node, values, me)
            return me
        kids = [visit(c, _child_max(node, c, max_score), depth + 1, node.id, i) for i, c in enumerate(node.children)]
        _group(node, kids, pack.no_data, me)
        return me

    top = [visit(n, 0.0 if n.is_deduction else n.weight * pack.scale / _top_sum(pack), 1, None, i) for i, n in enumerate(pack.nodes)]
    root = Scored(Node("__root__", pack.title, pack.title_en, pack.scale, "", "practice"), 0, None, 0, pack.scale)
    _group(root.node, top, pack.no_data, root)
    total = None if root.score is None else round(root.score, 2)
    return result, total


def _top_sum(pack: Pack) -> float:
    return sum(n.weight for n in pack.nodes if not n.is_deduction) or 1.0


def _child_max(parent: Node, child: Node, parent_max: float) -> float:
    if child.is_deduction:
        return 0.0
    if parent.split == "percent":
        return parent_max * child.weight / 100.0
    return parent_max * child.weight / parent.weight if parent.weight else 0.0
