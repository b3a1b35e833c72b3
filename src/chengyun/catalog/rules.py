"""Declarative data-quality rules (数据质量规则, GB/T 36344) compiled to Ibis, run on DuckDB or Spark.

A rules file is ``rules: [{id, kind, column, …}]`` in YAML or JSON. Fields every rule may have: ``id`` (unique),
``kind``, ``column``, ``dimension`` (overrides the kind's), ``weight`` (default 1), ``description``,
``threshold`` (the failed share allowed, 0–1, default 0) and ``severity`` (``error``, or ``warn``: scored but
never making the report invalid). The kinds, their parameters and default dimensions:

* ``not-null`` — ``blank_is_null`` (a blank string counts as missing) — completeness 完整性
* ``unique`` — ``column``, ``columns: [a, b]``, or ``column: "*"`` for whole records — accuracy 准确性
* ``in-set`` — ``values: [...]`` — conformity 规范性
* ``range`` — ``min`` and/or ``max`` (a number, a date, ISO text), ``inclusive`` (default true) — accuracy 准确性
* ``pattern`` — ``regex``, ``full_match`` (default true) — conformity 规范性
* ``cn-resident-id`` 居民身份证号码 (GB 11643), ``cn-credit-code`` 统一社会信用代码 (GB 32100), ``cn-mobile``
  手机号码 — no parameters; check digits included (``chengyun.catalog.validators``) — conformity 规范性
* ``reference`` — ``dataset``, ``dataset_column`` (default: the same name) — consistency 一致性
* ``compare`` — ``op`` (< <= > >= == !=) and ``other`` (a column) or ``value``: ``column op other`` must hold,
  e.g. ``{column: closed_at, op: ">=", other: created_at}`` — consistency 一致性
* ``freshness`` — ``column`` (optional: else the catalogue's last refresh), ``max_age_days`` (default: the
  update cycle, 更新周期) — timeliness 时效性
* ``row-count`` — ``min``, ``max``, ``max_change`` (relative change against the previous run, 0.2 = ±20%) —
  completeness 完整性

A string column compared with a number or a date (``range``, ``compare … value``) is cast; a value that does not
cast fails. ``in-set`` compares as text when either side is text.

Why these dimensions: GB/T 36344 puts missing values and records under 完整性; 准确性 covers correct content
(a value outside its possible range), and names 数据唯一性 and 数据重复率 among its items, so ``unique`` is
accuracy, not consistency; 规范性 is conformance to standards, code lists and formats (patterns, value sets,
the national identifier standards); 一致性 covers related data agreeing (a key found in the referenced dataset,
closed ≥ created within a record); 时效性 is being up to date. No built-in kind measures 可访问性
(accessibility); a registered kind or a ``dimension:`` override can.

Counting: a value rule checks the rows whose value is not null (``compare``: both sides not null) and fails
those that break it — a value that cannot be judged (text that will not cast to a range's number) fails.
``not-null`` checks every row. ``unique`` checks the rows whose key has no null (``"*"``: every row, nulls equal)
and counts as failed only the extra copies — rows minus distinct keys — so 100 records with 80 distinct fail
20, the number a deduplication removes. ``freshness`` and ``row-count`` check one fact: checked 1, failed 0 or
1 (checked 0, not judged, when the limit or the previous count they need is unknown). ``pattern`` matches the
whole value (anchored with ``\\A(?:…)\\z``) in the subset of regular expressions RE2 (DuckDB) and Java (Spark)
share. All row-level counts come from one aggregate query; samples (``RunContext.sample_size`` rows) are
fetched afterwards only for rules that failed. Scores: see ``chengyun.catalog.report``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import yaml
from ibis.common.exceptions import IbisError

from chengyun.catalog.report import QualityReport, RuleResult, build_report
from chengyun.catalog.rule_kinds import DIMENSIONS, NUMBER, Plan, Problem, RuleKind, Target, rule_kinds
from chengyun.core.errors import InvalidInput

__all__ = ["DIMENSIONS", "QualityReport", "Rule", "RuleResult", "RunContext", "load_rules", "rules_from_json_schema",
           "run_rules"]

FIELDS = {"id", "kind", "column", "dimension", "weight", "description"}
SEVERITIES = ("error", "warn")


@dataclass(frozen=True)
class Rule:
    """One quality rule; ``params`` holds the kind's parameters and the optional ``threshold`` and ``severity``."""

    id: str
    kind: str
    dimension: str
    column: str | None
    params: dict[str, Any]
    weight: float = 1.0
    description: str | None = None


@dataclass
class RunContext:
    """What a run may know besides the table: other datasets, the clock, the catalogue's facts about the dataset."""

    resolve: Callable[[str], ibis.Table] | None = None  # another dataset by name, for ``reference``
    now: datetime | None = None  # for ``freshness`` and resident-id birth dates (default: UTC now)
    last_updated: datetime | None = None  # when the dataset was last refreshed
    update_cycle_days: float | None = None  # the catalogue's 更新周期
    previous_rows: int | None = None  # the row count of the previous run, for ``row-count`` drift
    sample_size: int = 5


@dataclass
class _Problems:
    """Problems found in a rules file, each naming the rule, the field and the fix."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, found: list[Problem]) -> None:
        self.items += [(f"{where}, field {f!r}: {what}", fix) for f, what, fix in found]

    def raise_any(self) -> None:
        if not self.items:
            return
        (first, fix), more = self.items[0], len(self.items) - 1
        raise InvalidInput(first + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""), fix=fix,
                           details=[f"{what} — fix: {how}" for what, how in self.items])


def _where(index: int, rule_id: Any) -> str:
    return f"rules[{index}] (id {rule_id!r})" if isinstance(rule_id, str) else f"rules[{index}]"


def _parse(source: str | Path | dict[str, Any] | list[Any]) -> Any:
    """The parsed rules file: a path is read, text is parsed as YAML (JSON is YAML too)."""
    if isinstance(source, dict | list):
        return source
    text = str(source)
    if isinstance(source, Path) or ("\n" not in text and text.endswith((".yaml", ".yml", ".json"))):
        path = Path(source)
        if not path.is_file():
            raise InvalidInput(f"rules file {text!r} does not exist", fix="give the path of a YAML or JSON file")
        text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # flow-style YAML such as [{id: a, kind: not-null, column: x}]
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput("the rules file is not valid YAML or JSON", details=[str(exc)],
                           fix="check the indentation and quotes at the line shown") from exc


def load_rules(source: str | Path | dict[str, Any] | list[Any]) -> list[Rule]:
    """Parse a rules file (YAML or JSON text/path) or its parsed form; every error names the rule and field."""
    parsed = _parse(source)
    items = parsed.get("rules") if isinstance(parsed, dict) else parsed
    if not isinstance(items, list):
        raise InvalidInput("a rules file must be a list of rules or a mapping with 'rules:'",
                           fix="write rules: [{id: ..., kind: ..., column: ...}]")
    problems, rules, seen = _Problems(), [], dict[str, int]()
    for i, raw in enumerate(items):
        where = _where(i, raw.get("id") if isinstance(raw, dict) else None)
        if not isinstance(raw, dict):
            problems.add(where, [("rule", "must be a mapping", "write - {id: ..., kind: ..., column: ...}")])
            continue
        rule, found = _rule_from(raw)
        if rule is not None and rule.id in seen:
            found.append(("id", f"duplicate id, also rules[{seen[rule.id]}]", "give every rule its own id"))
        elif rule is not None:
            seen[rule.id] = i
            found += validate_rule(rule)
            rules.append(rule)
        problems.add(where, found)
    problems.raise_any()
    return rules


def _rule_from(raw: dict[str, Any]) -> tuple[Rule | None, list[Problem]]:
    """A rule from its mapping, or the problems with its common fields."""
    found: list[Problem] = []
    rule_id, kind, column = raw.get("id"), raw.get("kind"), raw.get("column")
    if not isinstance(rule_id, str) or not rule_id.strip():
        found.append(("id", "missing or not text", "give the rule an id, e.g. id: case-id-unique"))
    if not isinstance(kind, str) or kind not in rule_kinds():
        found.append(("kind", f"unknown kind {kind!r}", "use one of: " + ", ".join(sorted(rule_kinds()))))
    if column is not None and not isinstance(column, str):
        found.append(("column", "must be a column name", "write column: NAME"))
    weight = raw.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, NUMBER) or weight <= 0:
        found.append(("weight", f"{weight!r} is not a positive number", "write weight: 1 (or any number above 0)"))
    if raw.get("description") is not None and not isinstance(raw["description"], str):
        found.append(("description", "must be text", "quote the description"))
    if found:
        return None, found
    assert isinstance(rule_id, str) and isinstance(kind, str)
    params = {k: v for k, v in raw.items() if k not in FIELDS}
    dimension = raw.get("dimension", rule_kinds()[kind].dimension)
    return Rule(id=rule_id, kind=kind, dimension=dimension, column=column, params=params, weight=float(weight),
                description=raw.get("description")), []


def _type_problem(name: str, value: Any, types: tuple[type, ...], help_: str) -> Problem | None:
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    return None if ok else (name, f"{value!r} is not {help_ or ' or '.join(t.__name__ for t in types)}",
                            f"write {name}: {help_ or types[0].__name__}")


def validate_rule(rule: Rule) -> list[Problem]:
    """Problems with a rule built in code or from a file: kind, dimension, column and parameters."""
    kind = rule_kinds().get(rule.kind)
    if kind is None:
        return [("kind", f"unknown kind {rule.kind!r}", "use one of: " + ", ".join(sorted(rule_kinds())))]
    found: list[Problem] = []
    if rule.dimension not in DIMENSIONS:
        found.append(("dimension", f"unknown dimension {rule.dimension!r}", "use one of: " + ", ".join(DIMENSIONS)))
    if kind.column == "required" and rule.column is None:
        found.append(("column", f"a {kind.name} rule needs a column", "write column: NAME"))
    if kind.column == "none" and rule.column is not None:
        found.append(("column", f"a {kind.name} rule reads the whole table, not a column", "remove column:"))
    allowed = {**kind.params, "threshold": None, "severity": None}
    for name in rule.params.keys() - allowed.keys():
        found.append((name, f"unknown field for kind {kind.name}", "use one of: " + ", ".join(sorted(allowed))))
    for name, spec in kind.params.items():
        if name in rule.params:
            found += filter(None, [_type_problem(name, rule.params[name], spec.types, spec.help)])
        elif spec.required:
            found.append((name, f"a {kind.name} rule needs {name}", f"write {name}: {spec.help}"))
    threshold = rule.params.get("threshold", 0)
    if isinstance(threshold, bool) or not isinstance(threshold, NUMBER) or not 0 <= threshold <= 1:
        found.append(("threshold", f"{threshold!r} is not a share from 0 to 1", "write threshold: 0.01 for 1%"))
    if rule.params.get("severity", "error") not in SEVERITIES:
        found.append(("severity", f"{rule.params['severity']!r} is unknown", "write severity: error or warn"))
    return found if found else kind.problems(rule)


def _check(table: ir.Table, rules: list[Rule]) -> list[RuleKind]:
    """The kind of each rule, after checking the rules and that every column they read is in the table."""
    problems, ids = _Problems(), set()
    for i, rule in enumerate(rules):
        found = validate_rule(rule)
        if rule.id in ids:
            found.append(("id", "duplicate id", "give every rule its own id"))
        ids.add(rule.id)
        if not found:
            fix = "use one of: " + ", ".join(table.columns)
            used = rule_kinds()[rule.kind].columns_used(rule)
            found = [(f, f"column {c!r} is not in the table", fix) for f, c in used if c not in table.columns]
        problems.add(_where(i, rule.id), found)
    problems.raise_any()
    return [rule_kinds()[r.kind] for r in rules]


@contextmanager
def _naming(index: int, rule: Rule) -> Iterator[None]:
    """Turn a rule that cannot be compiled for this table (a type that does not suit it) into an error naming it."""
    try:
        yield
    except (IbisError, TypeError, ValueError) as exc:
        raise InvalidInput(f"{_where(index, rule.id)}: cannot be applied to column {rule.column!r}: {exc}",
                           fix="check that the column's type suits the rule and its parameters") from exc


def run_rules(table: ibis.Table, rules: list[Rule], *, context: RunContext | None = None) -> QualityReport:
    """Run every rule over the table in as few queries as possible and score by GB/T 36344 dimension."""
    ctx = context or RunContext()
    now = ctx.now or datetime.now(UTC)
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    kinds = _check(table, rules)
    columns = tuple(table.columns)
    prepared = table
    for i, (rule, kind) in enumerate(zip(rules, kinds, strict=True)):
        with _naming(i, rule):
            prepared = kind.prepare(Target(prepared, columns, ctx, now, f"__cy{i}"), rule)
    targets = [Target(prepared, columns, ctx, now, f"__cy{i}", base=table) for i in range(len(rules))]
    plans = []
    for i, (rule, kind) in enumerate(zip(rules, kinds, strict=True)):
        with _naming(i, rule):
            plans.append(kind.plan(targets[i], rule))
    aggregates: dict[str, ir.Scalar] = {"__cy_rows": prepared.count()}
    for i, plan in enumerate(plans):
        aggregates |= {f"__cy{i}_{name}": expr for name, expr in plan.aggregates.items()}
    row = prepared.aggregate(**aggregates).to_pyarrow().to_pylist()[0]  # the one query over the whole table
    results = []
    for i, (rule, plan) in enumerate(zip(rules, plans, strict=True)):
        outcome = plan.judge({name: row[f"__cy{i}_{name}"] for name in plan.aggregates})
        results.append(RuleResult(
            id=rule.id, kind=rule.kind, dimension=rule.dimension, column=rule.column, checked=outcome.checked,
            failed=outcome.failed, weight=rule.weight, severity=rule.params.get("severity", "error"),
            threshold=float(rule.params.get("threshold", 0)), message=outcome.message,
        ))
    if ctx.sample_size > 0:
        failed = [i for i, r in enumerate(results) if r.failed]
        _add_samples([results[i] for i in failed],
                     [_sampling_plan(rules[i], kinds[i], Target(table, columns, ctx, now, f"__cy{i}")) for i in failed],
                     ctx.sample_size)
    return build_report(results, int(row["__cy_rows"] or 0))


def _sampling_plan(rule: Rule, kind: RuleKind, own: Target) -> tuple[Plan, Target]:
    """A failed rule compiled again for its samples, against the dataset's own table with only this rule's
    helper columns: over the table the counts read, every branch of the sample query would read every rule's
    joins, which an engine may build whole before any limit. Returns the plan and what its filter reads."""
    target = Target(kind.prepare(own, rule), own.columns, own.context, own.now, own.tag, base=own.table)
    return kind.plan(target, rule), target


def _add_samples(failed: list[RuleResult], plans: list[tuple[Plan, Target]], n: int) -> None:
    """Up to ``n`` failing rows of each failed rule, in one query for all row filters (a round trip costs a
    second on Spark), and a query each for kinds with their own sample (duplicated keys for ``unique``, missing
    references for ``reference``)."""
    parts = []
    for i, (result, (plan, target)) in enumerate(zip(failed, plans, strict=True)):
        if plan.sample is not None:
            result.samples = list(plan.sample(n).to_pyarrow().to_pylist())
        elif plan.failing is not None:
            t = target.table
            parts.append(t.filter(plan.failing).select(*target.columns, __cy_rule=ibis.literal(i)).limit(n))
    if not parts:
        return
    for sample in ibis.union(*parts, distinct=False).to_pyarrow().to_pylist():
        failed[sample.pop("__cy_rule")].samples.append(sample)


NUMBER_REGEX = {
    "number": r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?",
    "integer": r"[+-]?[0-9]+",
    "boolean": "true|false",
}


def rules_from_json_schema(schema: dict[str, Any]) -> list[Rule]:
    """Rules for the rows of a table described by a JSON Schema of one row object (as qsv ``validate`` reads a
    CSV): a ``type`` without "null" → not-null; number/integer/boolean → a pattern; ``pattern`` → pattern
    (anywhere, as JSON Schema matches); ``enum`` → in-set; ``minimum``/``maximum`` (and the exclusive forms) →
    range. ``required`` adds nothing per row: every row of a table has every column, and an empty cell is a
    null, so only ``type`` decides whether it may be empty. Other keywords are not translated."""
    return [rule for name, prop in (schema.get("properties") or {}).items() for rule in _property_rules(name, prop)]


BOUNDS = {"minimum": ("min", True), "maximum": ("max", True), "exclusiveMinimum": ("min", False),
          "exclusiveMaximum": ("max", False)}


def _property_rules(name: str, prop: dict[str, Any]) -> list[Rule]:
    """The rules for one property of a JSON Schema, with ids ``<column>:<keyword>``."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if types and "null" not in types:
        found.append(("required", "not-null", {}))
    typed = [NUMBER_REGEX[t] for t in types if t in NUMBER_REGEX]
    if typed and "string" not in types:
        found.append(("type", "pattern", {"regex": "|".join(typed)}))
    if "pattern" in prop:
        found.append(("pattern", "pattern", {"regex": prop["pattern"], "full_match": False}))
    if "enum" in prop:
        found.append(("enum", "in-set", {"values": [v for v in prop["enum"] if v is not None]}))
    for keyword, (param, inclusive) in BOUNDS.items():
        if isinstance(prop.get(keyword), NUMBER) and not isinstance(prop[keyword], bool):
            found.append((keyword, "range", {param: prop[keyword], "inclusive": inclusive}))
    return [Rule(id=f"{name}:{what}", kind=kind, dimension=rule_kinds()[kind].dimension, column=name, params=params)
            for what, kind, params in found]
