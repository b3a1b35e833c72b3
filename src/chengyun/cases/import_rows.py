"""Turning one batch of an imported file into case rows (导入行), column by column with Arrow compute: the checks
that reject a row, the value maps, and the timestamps a historical status implies.

Nothing here touches the database; ``importer`` decides what is already imported and writes the rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from chengyun.cases import lifecycle
from chengyun.cases.import_dates import TS, parse
from chengyun.cases.import_mapping import DATE_FIELDS, Mapping
from chengyun.cases.service import CHANNELS

STR = pa.string()
NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
RESOLVED = ("resolved", "followed_up", "closed")  # a close date is also when the case was resolved (办结)
ENDED = ("closed", "cancelled")  # a close date is when the case ended
LIMITS = {"title": 200, "address": 300, "department": 64}


@dataclass
class Unmapped:
    """Source values no map knew, per map, with how many rows had them (reported as warnings)."""

    values: dict[str, Counter[str]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)  # other facts worth a warning, by message

    def add(self, name: str, values: pa.Array) -> None:
        if not len(values):
            return
        counter = self.values.setdefault(name, Counter())
        for item in pc.value_counts(values).to_pylist():
            counter[str(item["values"])] += int(item["counts"])


@dataclass
class Batch:
    """One batch read and checked: the reason each rejected row has (null where the row is fine) and, for the
    rows that passed, their case fields as Arrow arrays."""

    reasons: pa.Array
    kinds: Counter[str]
    rows: dict[str, pa.Array]  # only the rows that passed, in file order


def text(table: pa.Table, m: Mapping, name: str) -> pa.Array | None:
    """A mapped column, trimmed, with empty cells as null; None when the mapping has no such column."""
    col = m.columns.get(name)
    if col is None:
        return None
    values = pc.utf8_trim_whitespace(table.column(col).combine_chunks())
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, STR), values)


def _lookup(values: pa.Array, table: dict[str, Any], typ: pa.DataType) -> tuple[pa.Array, pa.Array]:
    """Values through a value map (case-insensitive): the mapped values and a mask of values it did not know."""
    if not table:
        return pa.nulls(len(values), typ), pc.is_valid(values)
    idx = pc.index_in(pc.utf8_lower(values), value_set=pa.array(list(table), STR))
    mapped = pc.take(pa.array(list(table.values()), typ), idx)
    return mapped, pc.and_(pc.is_valid(values), pc.is_null(idx))


class Checks:
    """Accumulates the first reason each row is rejected for, and how many rows each kind of reason caught."""

    def __init__(self, n: int) -> None:
        self.reasons: pa.Array = pa.nulls(n, STR)
        self.kinds: Counter[str] = Counter()

    def fail(self, mask: pa.Array, kind: str, message: Any) -> None:
        hit = pc.and_(pc.fill_null(mask, False), pc.is_null(self.reasons))
        count = pc.sum(hit).as_py() or 0
        if count:
            self.kinds[kind] += count
            self.reasons = pc.if_else(hit, message, self.reasons)


def _quoted(prefix: str, values: pa.Array, suffix: str) -> pa.Array:
    """``prefix 'value' suffix`` per row (value shown as the source had it)."""
    return pc.binary_join_element_wise(pa.scalar(f"{prefix} '"), values, pa.scalar(f"' {suffix}"), "")


def _coordinate(checks: Checks, values: pa.Array | None, name: str, col: str, bound: float) -> pa.Array | None:
    if values is None:
        return None
    numeric = pc.fill_null(pc.match_substring_regex(values, NUMBER), False)
    checks.fail(pc.and_(pc.is_valid(values), pc.invert(numeric)), f"{name}: not a number",
                _quoted(f"{name}:", values, f"is not a number (column '{col}'); write decimal degrees or leave it empty"))
    number = pc.cast(pc.if_else(numeric, values, pa.scalar(None, STR)), pa.float64())
    outside = pc.greater(pc.abs(number), bound)
    checks.fail(outside, f"{name}: out of range",
                _quoted(f"{name}:", values, f"is outside -{bound:g}…{bound:g} (column '{col}'); fix the value "
                        "(swapped latitude and longitude?) or leave it empty"))
    return number


def check(table: pa.Table, m: Mapping, formats: dict[str, str], tz: str) -> tuple[Checks, dict[str, pa.Array]]:
    """Reject rows without an id or creation time, with a date that cannot be read or a position off Earth;
    return the checks and the parsed values of every row."""
    n = table.num_rows
    checks = Checks(n)
    ids = text(table, m, "id")
    assert ids is not None
    id_col = m.columns["id"]
    checks.fail(pc.is_null(ids), "id: empty", f"id: empty (column '{id_col}'); every row needs the source's case "
                "number — fill it in or drop the row")
    checks.fail(pc.greater(pc.utf8_length(ids), 100), "id: too long",
                f"id: longer than 100 characters (column '{id_col}'); check that the mapping names the case number")
    values: dict[str, pa.Array] = {"id": ids}
    for name in DATE_FIELDS:
        raw = text(table, m, name)
        col = m.columns.get(name, "")
        if name == "created_at":
            checks.fail(pc.is_null(raw), "created_at: empty", f"created_at: empty (column '{col}'); every case "
                        "needs the time it was reported")
        if raw is None:
            values[name] = pa.nulls(n, TS)
            continue
        fmt = formats.get(name)
        if fmt is None:  # nothing to read yet in this column: every value so far is empty
            values[name] = pa.nulls(n, TS)
            continue
        parsed, bad = parse(raw, fmt, tz)
        checks.fail(bad, f"{name}: not a date", _quoted(f"{name}:", raw, f"is not a date written as {fmt} "
                    f"(column '{col}'); correct the value, or set datetime_format in the mapping"))
        values[name] = parsed
    for name, bound in (("lat", 90.0), ("lon", 180.0)):
        number = _coordinate(checks, text(table, m, name), name, m.columns.get(name, ""), bound)
        values[name] = number if number is not None else pa.nulls(n, pa.float64())
    return checks, values


def _status(rows: dict[str, pa.Array], raw: pa.Array | None, m: Mapping, unmapped: Unmapped) -> pa.Array:
    fallback = pc.if_else(pc.is_valid(rows["closed_at"]), pa.scalar("closed"), pa.scalar("accepted"))
    mapped = _mapped(raw, m, "status_map", STR, None, len(fallback), unmapped, accept=tuple(lifecycle.STATUSES))
    return pc.coalesce(mapped, fallback)


def _times(rows: dict[str, pa.Array], now: datetime, unmapped: Unmapped) -> None:
    """Historical timestamps that agree with the status: a close date of a closed case is also its resolution."""
    status, created, closed, due = rows["status"], rows["created_at"], rows["closed_at"], rows["due_at"]
    null = pa.scalar(None, TS)
    resolved_like = pc.is_in(status, value_set=pa.array(RESOLVED))
    is_open = pc.is_in(status, value_set=pa.array(sorted(lifecycle.OPEN)))
    rows["resolved_at"] = pc.if_else(resolved_like, closed, null)
    rows["closed_at"] = pc.if_else(pc.is_in(status, value_set=pa.array(ENDED)), closed, null)
    unmapped.counts["rows with an open status and a close date (the close date was not used)"] += (
        pc.sum(pc.and_(is_open, pc.is_valid(closed))).as_py() or 0)
    unmapped.counts["rows finished without a close date (left out of durations)"] += (
        pc.sum(pc.and_(resolved_like, pc.is_null(closed))).as_py() or 0)
    rows["inconsistent"] = pc.fill_null(pc.less(closed, created), False)
    end = pc.if_else(is_open, pa.scalar(now, TS), rows["resolved_at"])
    rows["breached"] = pc.fill_null(pc.greater(end, due), False)
    rows["sla_rule"] = pc.if_else(pc.is_valid(due), pa.scalar("imported: due time from the source"),
                                  pa.scalar("imported: the source has no due time"))


def _category(rows: dict[str, pa.Array], raw: pa.Array | None, m: Mapping, codes: set[str],
              unmapped: Unmapped) -> None:
    n = len(rows["id"])
    if raw is None:
        rows["category"], rows["title"] = pa.nulls(n, STR), pa.nulls(n, STR)
        return
    mapped, _unknown = _lookup(raw, m.value_map("category_map"), STR)
    code = pc.coalesce(mapped, raw)  # a source that already uses our codes needs no map
    known = pc.fill_null(pc.is_in(code, value_set=pa.array(sorted(codes), STR)), False)
    rows["category"] = pc.if_else(known, code, pa.scalar(None, STR))
    rows["title"] = pc.utf8_slice_codeunits(raw, 0, LIMITS["title"])
    unmapped.add("category_map", pc.filter(raw, pc.and_(pc.is_valid(raw), pc.invert(known))))


def _mapped(raw: pa.Array | None, m: Mapping, name: str, typ: pa.DataType, default: Any, n: int,
            unmapped: Unmapped, accept: tuple[Any, ...] = ()) -> pa.Array:
    """A column through its value map; values the map does not know are kept when they are already one of
    ``accept`` (our own names), else replaced by ``default`` (and reported)."""
    if raw is None:
        return pa.array([default] * n, typ)
    mapped, unknown = _lookup(raw, m.value_map(name), typ)
    if accept:
        lower = pc.utf8_lower(raw)
        direct = pc.fill_null(pc.is_in(lower, value_set=pa.array([str(a) for a in accept], STR)), False)
        mapped = pc.coalesce(mapped, pc.cast(pc.if_else(direct, lower, pa.scalar(None, STR)), typ))
        unknown = pc.and_(unknown, pc.invert(direct))
    unmapped.add(name, pc.filter(raw, unknown))
    return pc.coalesce(mapped, pa.scalar(default, typ)) if default is not None else mapped


def build(rows: dict[str, pa.Array], table: pa.Table, m: Mapping, codes: set[str], now: datetime,
          unmapped: Unmapped) -> dict[str, pa.Array]:
    """Every case field of the rows that passed the checks (``rows`` holds their parsed id, dates and position)."""
    n = len(rows["id"])
    rows["status"] = _status(rows, text(table, m, "status"), m, unmapped)
    rows["channel"] = _mapped(text(table, m, "channel"), m, "channel_map", STR, m.default_channel, n, unmapped,
                              accept=tuple(CHANNELS))
    rows["priority"] = _mapped(text(table, m, "priority"), m, "priority_map", STR, "normal", n, unmapped,
                               accept=("urgent", "high", "normal", "low"))
    rows["satisfaction"] = _mapped(text(table, m, "satisfaction"), m, "satisfaction_map", pa.int64(), None, n,
                                   unmapped, accept=(1, 2, 3, 4, 5))
    rows["solved"] = _mapped(text(table, m, "solved"), m, "solved_map", pa.bool_(), None, n, unmapped)
    dept = text(table, m, "department")
    if dept is not None and m.value_map("department_map"):
        dept = pc.coalesce(_lookup(dept, m.value_map("department_map"), STR)[0], dept)
    rows["department_id"] = pc.utf8_slice_codeunits(dept, 0, LIMITS["department"]) if dept is not None else pa.nulls(n, STR)
    _category(rows, text(table, m, "category"), m, codes, unmapped)
    for name in ("description", "address"):
        raw = text(table, m, name)
        rows[name] = pa.nulls(n, STR) if raw is None else (
            pc.utf8_slice_codeunits(raw, 0, LIMITS[name]) if name in LIMITS else raw)
    reporter = text(table, m, "reporter")
    rows["reporter"] = pa.nulls(n, STR) if reporter is None else reporter
    _times(rows, now, unmapped)
    return rows
