"""Kinds of data-quality rule (数据质量规则类型): one small class per kind, in a registry keyed by its kebab-case name.

A kind turns one rule into a ``Plan``: named Ibis aggregates that ``run_rules`` computes together with every other
rule's in a single query over the dataset, a ``judge`` that turns those values into rows checked and rows failed,
and the filter (or query) that fetches sample rows when the rule fails. A kind that needs another table (a
``reference``) first adds a helper column by a join in ``prepare``. Chengyun's own kinds are added with
``register_kind`` — the function a third-party package calls for its own — the first time the registry is read;
they live in ``chengyun.catalog.builtin_kinds``. See ``chengyun.catalog.rules`` for what each kind's parameters mean
and how they are counted.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir

from chengyun.core.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from chengyun.catalog.rules import Rule, RunContext

DIMENSIONS: dict[str, str] = {
    "conformity": "规范性",
    "completeness": "完整性",
    "accuracy": "准确性",
    "consistency": "一致性",
    "timeliness": "时效性",
    "accessibility": "可访问性",
}
NUMBER = (int, float)
SCALAR = (str, int, float, bool, date)
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}


@dataclass(frozen=True)
class Param:
    """One parameter of a kind: the YAML types it accepts, whether it must be given, and what to write."""

    types: tuple[type, ...]
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class Outcome:
    """What a rule found: rows (or table-level facts) checked and failed, and why, in words."""

    checked: int
    failed: int
    message: str | None = None


@dataclass
class Target:
    """What a kind compiles against: the table (with any helper columns), the dataset's own columns, the run's
    context and clock, a prefix that keeps this rule's helper columns apart from every other's, and the dataset's
    own table (``base``, without helper columns: sample queries read it, so that no join is built for them)."""

    table: ir.Table
    columns: tuple[str, ...]
    context: RunContext
    now: datetime
    tag: str
    base: ir.Table | None = None

    @property
    def own(self) -> ir.Table:
        """The dataset's own table (``table`` when no base was given)."""
        return self.table if self.base is None else self.base


def counted(values: dict[str, Any]) -> Outcome:
    """The outcome of a row rule whose aggregates are ``checked`` and ``failed`` (Spark sums are null on no rows)."""
    return Outcome(int(values.get("checked") or 0), int(values.get("failed") or 0))


@dataclass
class Plan:
    """A compiled rule: aggregates for the shared query, their judge, and how to fetch failing rows."""

    aggregates: dict[str, ir.Scalar]
    judge: Callable[[dict[str, Any]], Outcome] = counted
    failing: ir.BooleanValue | None = None  # rows to sample, over the table the plan was compiled against
    sample: Callable[[int], ir.Table] | None = None  # or a query of its own, limited to n rows


Problem = tuple[str, str, str]  # (field, what is wrong, how to fix it)


class RuleKind:
    """Base of every kind; ``column`` says whether a rule of this kind names a column: required, optional, none."""

    name: str = ""
    name_zh: str = ""
    dimension: str = ""
    column: str = "required"
    params: dict[str, Param] = {}  # read-only, one per class

    def problems(self, rule: Rule) -> list[Problem]:
        """Checks across parameters that their types alone do not catch."""
        return []

    def columns_used(self, rule: Rule) -> list[tuple[str, str]]:
        """(field, column) for each column of the dataset the rule reads."""
        return [("column", rule.column)] if rule.column and rule.column != "*" else []

    def prepare(self, target: Target, rule: Rule) -> ir.Table:
        """The table with any helper columns this rule needs (by default the table unchanged). A kind that adds
        columns must give its plan a ``sample`` query: failing rows are otherwise sampled from the dataset's own
        table, with the plan compiled again against it."""
        return target.table

    def plan(self, target: Target, rule: Rule) -> Plan:
        """The rule compiled to aggregates over ``target.table``."""
        raise NotImplementedError


class ValueKind(RuleKind):
    """A kind that judges each value of one column on its own: a row is checked when ``seen`` holds (by default
    the value is not null) and fails when ``bad`` holds or cannot be decided (a value that will not cast)."""

    def seen(self, col: ir.Column, rule: Rule, target: Target) -> ir.BooleanValue:
        """Rows this rule checks."""
        return col.notnull()

    def bad(self, col: ir.Column, rule: Rule, target: Target) -> ir.BooleanValue:
        """Whether a checked value breaks the rule."""
        raise NotImplementedError

    def plan(self, target: Target, rule: Rule) -> Plan:
        """Count checked and failed rows; sample failing rows."""
        t = target.table
        col = t[rule.column]
        seen = self.seen(col, rule, target)
        bad = seen & self.bad(col, rule, target).fill_null(True)
        return Plan({"checked": t.count(where=seen), "failed": t.count(where=bad)}, failing=bad)


def as_text(col: ir.Column) -> ir.StringValue:
    """The column as strings (identifiers and patterns read text; a number is cast)."""
    return col if col.type().is_string() else col.cast("string")



_KINDS: dict[str, RuleKind] = {}
_loaded = False
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def rule_kinds() -> dict[str, RuleKind]:
    """Every registered kind by name; chengyun's own are registered on first use."""
    global _loaded
    if not _loaded:
        _loaded = True
        from chengyun.catalog.builtin_kinds import register_builtin_kinds

        register_builtin_kinds(register_kind)
    return _KINDS


def register_kind(kind: RuleKind) -> RuleKind:
    """Add a rule kind under its kebab-case name (built-ins and third-party kinds alike)."""
    kinds = rule_kinds()
    if not _NAME.fullmatch(kind.name):
        raise InvalidInput(f"rule kind name {kind.name!r} is not kebab-case", fix="name it like 'not-null'")
    if kind.dimension not in DIMENSIONS:
        raise InvalidInput(f"rule kind {kind.name!r}: dimension {kind.dimension!r} is unknown",
                           fix=f"use one of: {', '.join(DIMENSIONS)}")
    if kind.name in kinds:
        raise Conflict(f"rule kind {kind.name!r} is registered twice", fix="rename one of the two kinds")
    kinds[kind.name] = kind
    return kind
