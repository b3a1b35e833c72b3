"""Chengyun's own kinds of data-quality rule (内置规则类型): the twelve of the rules file, registered by
``chengyun.catalog.rule_kinds.rule_kinds`` on first use. Value kinds judge each value of a column (in-set, range,
pattern, the identifier validators, compare, reference); not-null and unique count rows and keys; freshness and
row-count judge one fact about the table. See ``chengyun.catalog.rules`` for their parameters and counting.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from functools import reduce
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from chengyun.catalog.rule_kinds import (
    NUMBER,
    OPERATORS,
    SCALAR,
    Outcome,
    Param,
    Plan,
    Problem,
    RuleKind,
    Target,
    ValueKind,
    as_text,
)
from chengyun.catalog.validators import VALIDATORS, Validator
from chengyun.core.errors import InvalidInput

if TYPE_CHECKING:
    from chengyun.catalog.rules import Rule


class NotNull(RuleKind):
    """``not-null`` (非空): every row is checked; a null (or, with ``blank_is_null``, a blank string) fails."""

    name, name_zh, dimension = "not-null", "非空", "completeness"
    params = {"blank_is_null": Param((bool,), help="true or false")}

    def plan(self, target: Target, rule: Rule) -> Plan:
        """Count every row; fail the missing ones."""
        t = target.table
        col = t[rule.column]
        missing = col.isnull()
        if rule.params.get("blank_is_null") and col.type().is_string():
            missing = missing | (col.strip() == "")
        return Plan({"checked": t.count(), "failed": t.count(where=missing)}, failing=missing)


class Unique(RuleKind):
    """``unique`` (唯一性): one column, a ``columns`` list, or ``column: "*"`` for whole records; failed counts the
    extra copies (rows minus distinct values)."""

    name, name_zh, dimension, column = "unique", "唯一", "accuracy", "optional"
    params = {"columns": Param((list,), help="a list of column names")}

    def problems(self, rule: Rule) -> list[Problem]:
        """Exactly one of ``column`` and ``columns``, and ``columns`` a list of names."""
        cols = rule.params.get("columns")
        if (rule.column is None) == (cols is None):
            return [("column", "give either column (a name, or \"*\" for whole records) or columns",
                     "write column: NAME, column: \"*\" or columns: [A, B]")]
        if cols is not None and (not cols or not all(isinstance(c, str) for c in cols)):
            return [("columns", "must be a non-empty list of column names", "write columns: [A, B]")]
        return []

    def columns_used(self, rule: Rule) -> list[tuple[str, str]]:
        """The key columns."""
        return super().columns_used(rule) + [("columns", c) for c in rule.params.get("columns") or []]

    def plan(self, target: Target, rule: Rule) -> Plan:
        """Count checked rows and distinct keys in the shared query; sample duplicated keys only on failure."""
        t = target.table
        whole = rule.column == "*"
        keys = list(target.columns) if whole else rule.params.get("columns") or [rule.column]
        # whole records: every row is checked and nulls equal nulls (a duplicated record is a duplicate whatever
        # its empty cells); a key: rows with a null in it are not checked, as in SQL's UNIQUE
        seen = ibis.literal(True) if whole else reduce(operator.and_, [t[k].notnull() for k in keys])
        key = t[keys[0]] if len(keys) == 1 else ibis.struct({k: t[k] for k in keys})
        distinct = key.nunique() if whole else key.nunique(where=seen)

        def judge(v: dict[str, Any]) -> Outcome:
            checked = int(v.get("checked") or 0)
            return Outcome(checked, checked - int(v.get("distinct") or 0))

        def sample(n: int) -> ir.Table:
            groups = t.filter(seen).group_by(keys).aggregate(copies=ibis._.count())
            return groups.filter(groups.copies > 1).order_by([ibis.desc("copies"), *keys]).limit(n)

        return Plan({"checked": t.count(where=seen), "distinct": distinct}, judge=judge, sample=sample)


class InSet(ValueKind):
    """``in-set`` (值域): a value not in ``values`` fails (compared as text when either side is text)."""

    name, name_zh, dimension = "in-set", "值域", "conformity"
    params = {"values": Param((list,), required=True, help="a list of allowed values")}

    def problems(self, rule: Rule) -> list[Problem]:
        """A non-empty list of scalars."""
        values = rule.params.get("values")
        if isinstance(values, list) and (not values or not all(isinstance(x, SCALAR) for x in values)):
            return [("values", "must be a non-empty list of plain values", "write values: [A, B, C]")]
        return []

    def bad(self, col: ir.Column, rule: Rule, target: Target) -> ir.BooleanValue:
        """Not one of the values."""
        values = rule.params["values"]
        if col.type().is_string() or any(isinstance(x, str) for x in values):
            return ~as_text(col).isin([str(x) for x in values])
        return ~col.isin(values)


def _bound(col: ir.Column, bound: Any) -> tuple[ir.Value, Any]:
    """The column and the bound in comparable types: a string column is read as a number or a date (a value that
    does not cast fails), an ISO string bound is parsed for a temporal column."""
    kind = col.type()
    if isinstance(bound, NUMBER) and kind.is_string():
        return col.try_cast("float64"), bound
    if isinstance(bound, date) and kind.is_string():
        return col.try_cast("timestamp" if isinstance(bound, datetime) else "date"), bound
    if isinstance(bound, str) and kind.is_temporal():
        return col, datetime.fromisoformat(bound) if kind.is_timestamp() else date.fromisoformat(bound)
    return col, bound


_BOUND = Param((int, float, str, date), help="a number, a date or a string")


class Range(ValueKind):
    """``range`` (取值范围): a value below ``min`` or above ``max`` fails (bounds included unless
    ``inclusive: false``)."""

    name, name_zh, dimension = "range", "取值范围", "accuracy"
    params = {"min": _BOUND, "max": _BOUND, "inclusive": Param((bool,), help="true or false")}

    def problems(self, rule: Rule) -> list[Problem]:
        """At least one bound; min not above max."""
        lo, hi = rule.params.get("min"), rule.params.get("max")
        if lo is None and hi is None:
            return [("min", "a range needs min, max or both", "write min: 0 and/or max: 100")]
        try:
            if lo is not None and hi is not None and lo > hi:
                return [("min", f"min {lo!r} is above max {hi!r}", "swap min and max")]
        except TypeError:
            return [("max", "min and max are of different types", "give both as numbers, or both as dates")]
        return []

    def bad(self, col: ir.Column, rule: Rule, target: Target) -> ir.BooleanValue:
        """Outside the bounds."""
        inclusive = rule.params.get("inclusive", True)
        out = []
        if (lo := rule.params.get("min")) is not None:
            value, lo = _bound(col, lo)
            out.append(value < lo if inclusive else value <= lo)
        if (hi := rule.params.get("max")) is not None:
            value, hi = _bound(col, hi)
            out.append(value > hi if inclusive else value >= hi)
        return reduce(operator.or_, out)


class Pattern(ValueKind):
    """``pattern`` (格式): a value the regular expression does not match fails; whole value unless
    ``full_match: false`` (then anywhere, as JSON Schema's ``pattern``)."""

    name, name_zh, dimension = "pattern", "格式", "conformity"
    params = {
        "regex": Param((str,), required=True, help="a regular expression (the RE2/Java common subset)"),
        "full_match": Param((bool,), help="true or false"),
    }

    def bad(self, col: ir.Column, rule: Rule, target: Target) -> ir.BooleanValue:
        """No match."""
        regex = rule.params["regex"]
        if rule.params.get("full_match", True):
            # \A and \z, not ^ and $: Java's $ also matches before a final newline, RE2's does not
            regex = rf"\A(?:{regex})\z"
        return ~as_text(col).re_search(regex)


class ValidatorKind(ValueKind):
    """``cn-resident-id``, ``cn-credit-code``, ``cn-mobile``: one of ``validators.VALIDATORS`` (check digits
    included); the validator's Ibis expression is null for null, so nulls are not checked."""

    params = {}

    def __init__(self, validator: Validator) -> None:
        self.validator = validator
        self.name, self.name_zh, self.dimension = validator.kind, validator.name_zh, validator.dimension

    def bad(self, col: ir.Column, rule: Rule, target: Target) -> ir.BooleanValue:
        """Not a valid identifier (resident ids are judged against the run's date for the birth date)."""
        build: Any = self.validator.build
        if "today" in inspect.signature(build).parameters:
            return ~build(as_text(col), today=target.now.date())
        return ~build(as_text(col))


class Compare(ValueKind):
    """``compare`` (字段间比较): ``column op other`` (another column) or ``column op value``; rows where either side
    is null are not checked."""

    name, name_zh, dimension = "compare", "字段比较", "consistency"
    params = {
        "op": Param((str,), required=True, help="one of " + ", ".join(OPERATORS)),
        "other": Param((str,), help="another column's name"),
        "value": Param(SCALAR, help="a number, a string or a date"),
    }

    def problems(self, rule: Rule) -> list[Problem]:
        """A known operator and exactly one of ``other`` and ``value``."""
        out: list[Problem] = []
        if isinstance(rule.params.get("op"), str) and rule.params["op"] not in OPERATORS:
            out.append(("op", f"unknown operator {rule.params['op']!r}", "use one of " + ", ".join(OPERATORS)))
        if ("other" in rule.params) == ("value" in rule.params):
            out.append(("other", "give either other (a column) or value", "write other: created_at or value: 0"))
        return out

    def columns_used(self, rule: Rule) -> list[tuple[str, str]]:
        """The column and the other column."""
        other = rule.params.get("other")
        return super().columns_used(rule) + ([("other", other)] if isinstance(other, str) else [])

    def _sides(self, col: ir.Column, rule: Rule, target: Target) -> tuple[ir.Value, Any]:
        if "other" in rule.params:
            return col, target.table[rule.params["other"]]
        return _bound(col, rule.params["value"])

    def seen(self, col: ir.Column, rule: Rule, target: Target) -> ir.BooleanValue:
        """Rows where both sides are present."""
        _, right = self._sides(col, rule, target)
        return col.notnull() & right.notnull() if isinstance(right, ir.Value) else col.notnull()

    def bad(self, col: ir.Column, rule: Rule, target: Target) -> ir.BooleanValue:
        """The comparison does not hold."""
        left, right = self._sides(col, rule, target)
        return ~OPERATORS[rule.params["op"]](left, right)


class Reference(ValueKind):
    """``reference`` (关联): a value missing from ``dataset_column`` (default: the same name) of ``dataset``,
    resolved by ``RunContext.resolve``, fails."""

    name, name_zh, dimension = "reference", "参照完整性", "consistency"
    params = {
        "dataset": Param((str,), required=True, help="the referenced dataset's name"),
        "dataset_column": Param((str,), help="the referenced column (default: the same name)"),
    }

    def _keys(self, target: Target, rule: Rule, column_type: Any) -> ir.Table:
        """The distinct referenced keys (so no row is repeated by the join), as ``<tag>_key`` of the column's
        type, with a found-flag ``<tag>_hit``."""
        ctx = target.context
        if ctx.resolve is None:
            raise InvalidInput(f"rule {rule.id!r}, field 'dataset': no resolver for other datasets",
                               fix="run with RunContext(resolve=...) that returns a dataset's table by name")
        other = ctx.resolve(rule.params["dataset"])
        name = rule.params.get("dataset_column", rule.column)
        if name not in other.columns:
            raise InvalidInput(f"rule {rule.id!r}, field 'dataset_column': {name!r} is not a column of "
                               f"{rule.params['dataset']!r}", fix=f"use one of: {', '.join(other.columns)}")
        key = other[name] if other[name].type() == column_type else other[name].cast(column_type)
        return other.select(**{f"{target.tag}_key": key}).distinct().mutate(**{f"{target.tag}_hit": True})

    def prepare(self, target: Target, rule: Rule) -> ir.Table:
        """Join the referenced keys and keep the found-flag column."""
        t = target.table
        col = t[rule.column]
        keys = self._keys(target, rule, col.type())
        joined = t.left_join(keys, col == keys[f"{target.tag}_key"])
        return joined.select(*[t[c] for c in t.columns], keys[f"{target.tag}_hit"])

    def bad(self, col: ir.Column, rule: Rule, target: Target) -> ir.BooleanValue:
        """No referenced row has this value."""
        return target.table[f"{target.tag}_hit"].isnull()

    def plan(self, target: Target, rule: Rule) -> Plan:
        """Counted over the joined table; sampled by an anti-join of the dataset's own table, limited to n."""
        plan = super().plan(target, rule)
        own = target.own

        def sample(n: int) -> ir.Table:
            col = own[rule.column]
            keys = self._keys(target, rule, col.type())
            missing = own.filter(col.notnull()).anti_join(keys, col == keys[f"{target.tag}_key"])
            return missing.select(*target.columns).limit(n)

        return Plan(plan.aggregates, plan.judge, sample=sample)


def _aware(value: Any) -> datetime | None:
    """A datetime in UTC: naive values are UTC (how chengyun stores time), a date is its midnight."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Freshness(RuleKind):
    """``freshness`` (及时更新): the latest ``column`` value (or ``RunContext.last_updated``) is at most
    ``max_age_days`` (default: the update cycle, 更新周期) old; one fact checked."""

    name, name_zh, dimension, column = "freshness", "及时性", "timeliness", "optional"
    params = {"max_age_days": Param(NUMBER, help="a number of days")}

    def problems(self, rule: Rule) -> list[Problem]:
        """A positive age."""
        age = rule.params.get("max_age_days")
        return [("max_age_days", "must be above 0", "write max_age_days: 1")] if age is not None and age <= 0 else []

    def plan(self, target: Target, rule: Rule) -> Plan:
        """The latest time in ``column`` (text is read as a timestamp), computed in the shared query."""
        judge: Callable[[dict[str, Any]], Outcome] = lambda v: self.judge(target, rule, v.get("latest"))  # noqa: E731
        if rule.column is None:
            return Plan({}, judge=judge)
        col = target.table[rule.column]
        if not col.type().is_temporal() and not col.type().is_string():
            raise InvalidInput(f"rule {rule.id!r}, field 'column': {rule.column!r} holds {col.type()}, not times",
                               fix="name a date or timestamp column, or leave column out to use the last refresh")
        return Plan({"latest": (col if col.type().is_temporal() else col.try_cast("timestamp")).max()}, judge=judge)

    def judge(self, target: Target, rule: Rule, latest: Any) -> Outcome:
        """Fresh or stale, with the age in words; not judged without a limit; failed when no time is known."""
        ctx = target.context
        limit = rule.params.get("max_age_days", ctx.update_cycle_days)
        if limit is None:
            return Outcome(0, 0, "not judged: no max_age_days and no update cycle (更新周期) for the dataset")
        last = _aware(latest) or _aware(ctx.last_updated)
        if last is None:
            return Outcome(1, 1, "no update time is known (no rows with a time, no last refresh)")
        age = (target.now - last).total_seconds() / 86400
        return Outcome(1, int(age > limit), f"last updated {last.isoformat()}, {age:.2f} days ago; at most {limit}")


class RowCount(RuleKind):
    """``row-count`` (记录数): rows within ``min``..``max`` and, against the previous run, a relative change of at
    most ``max_change`` (0.2 = ±20%); one fact checked."""

    name, name_zh, dimension, column = "row-count", "记录数", "completeness", "none"
    params = {
        "min": Param((int,), help="a number of rows"),
        "max": Param((int,), help="a number of rows"),
        "max_change": Param(NUMBER, help="a share, e.g. 0.2 for ±20%"),
    }

    def problems(self, rule: Rule) -> list[Problem]:
        """At least one limit, none negative."""
        given = {k: v for k, v in rule.params.items() if k in self.params}
        if not given:
            return [("min", "a row-count rule needs min, max or max_change", "write min: 1 or max_change: 0.2")]
        return [(k, "must not be negative", f"write {k}: 0 or more") for k, v in given.items() if v < 0]

    def plan(self, target: Target, rule: Rule) -> Plan:
        """The row count, from the shared query."""
        return Plan({"rows": target.table.count()}, judge=lambda v: self.judge(target, rule, int(v["rows"] or 0)))

    def judge(self, target: Target, rule: Rule, rows: int) -> Outcome:
        """Within the limits or not, with the reasons in words; drift alone is not judged on a first run."""
        p, previous = rule.params, target.context.previous_rows
        broken = []
        if p.get("min") is not None and rows < p["min"]:
            broken.append(f"{rows} rows, fewer than {p['min']}")
        if p.get("max") is not None and rows > p["max"]:
            broken.append(f"{rows} rows, more than {p['max']}")
        if p.get("max_change") is not None and previous is not None:
            change = abs(rows - previous) / previous if previous else (0.0 if rows == 0 else float("inf"))
            if change > p["max_change"]:
                broken.append(f"{rows} rows against {previous} before, a change of {change:.1%}")
        elif p.get("max_change") is not None and p.get("min") is None and p.get("max") is None:
            return Outcome(0, 0, "not judged: no previous row count to compare with")
        return Outcome(1, int(bool(broken)), "; ".join(broken) or f"{rows} rows")


def register_builtin_kinds(add: Callable[[RuleKind], Any]) -> None:
    """Chengyun's own kinds, given to ``add`` one by one (the hook a plugin's ``register`` would call)."""
    for kind in (NotNull(), Unique(), InSet(), Range(), Pattern(), Reference(), Compare(), Freshness(), RowCount()):
        add(kind)
    for validator in VALIDATORS.values():
        add(ValidatorKind(validator))
