"""The quality report (数据质量报告): each rule's counts and samples, scored by GB/T 36344 dimension.

A rule's score is ``100 × (1 − failed / checked)``, or none when it checked nothing (no data is not a zero). A
dimension's score, and the overall score, are means of the rule scores weighted by each rule's ``weight``; a
dimension without a scored rule has no score. A rule passes when its failed share is at most its ``threshold``
(default 0); the report is ``valid`` when every rule of severity ``error`` passes (``warn`` rules are scored
but do not invalidate it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Any

from chengyun.catalog.rule_kinds import DIMENSIONS


@dataclass
class RuleResult:
    """What one rule found."""

    id: str
    kind: str
    dimension: str
    column: str | None
    checked: int
    failed: int
    weight: float = 1.0
    severity: str = "error"
    threshold: float = 0.0
    message: str | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        """100 × the share of checked rows that passed; None when nothing was checked."""
        return None if self.checked == 0 else 100.0 * (1.0 - self.failed / self.checked)

    @property
    def passed(self) -> bool:
        """Whether the failed share is within the threshold (a rule that checked nothing passes)."""
        return self.failed <= self.threshold * self.checked

    def to_dict(self) -> dict[str, Any]:
        """The rule's entry in the JSON report."""
        return {
            "id": self.id, "kind": self.kind, "dimension": self.dimension,
            "dimension_zh": DIMENSIONS.get(self.dimension), "column": self.column,
            "failed": self.failed, "checked": self.checked, "score": self.score, "passed": self.passed,
            "severity": self.severity, "weight": self.weight, "threshold": self.threshold,
            "message": self.message, "samples": [{k: json_value(v) for k, v in s.items()} for s in self.samples],
        }


def weighted_mean(pairs: list[tuple[float | None, float]]) -> float | None:
    """The mean of the scores weighted by their weights, skipping scores that are None; None if none is left."""
    known = [(s, w) for s, w in pairs if s is not None]
    total = sum(w for _, w in known)
    return None if not known or total == 0 else sum(s * w for s, w in known) / total


@dataclass
class QualityReport:
    """The result of running a dataset's rules: validity, scores per dimension and overall, each rule."""

    valid: bool
    score: float | None
    dimensions: dict[str, float | None]
    rules: list[RuleResult]
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: ``valid``, ``score``, ``dimensions`` and one entry per rule."""
        return {
            "valid": self.valid, "score": self.score, "rows": self.rows, "dimensions": dict(self.dimensions),
            "dimension_names": dict(DIMENSIONS), "rules": [r.to_dict() for r in self.rules],
        }

    def flatten(self) -> list[list[Any]]:
        """One row per rule (id, kind, dimension, checked, failed, score, passed), for tables and the CLI."""
        return [[r.id, r.kind, r.dimension, r.checked, r.failed, r.score, r.passed] for r in self.rules]


def build_report(results: list[RuleResult], rows: int) -> QualityReport:
    """Score the results by dimension and overall, and decide validity."""
    dimensions = {
        d: weighted_mean([(r.score, r.weight) for r in results if r.dimension == d]) for d in DIMENSIONS
    }
    return QualityReport(
        valid=all(r.passed for r in results if r.severity == "error"),
        score=weighted_mean([(r.score, r.weight) for r in results]),
        dimensions=dimensions,
        rules=results,
        rows=rows,
    )


def json_value(value: Any) -> Any:
    """A sample value as JSON can carry it (dates and times as ISO text, decimals as numbers, bytes as hex)."""
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value
