"""Column statistics of a table (数据画像), computed by the engine in one aggregate query.

Works on any Ibis backend (DuckDB, Spark): every statistic is one aggregate over the table, so the whole
profile is a single query however many columns there are. Conventions:

* ``nulls`` counts missing values; ``distinct`` counts distinct non-null values (SQL ``COUNT(DISTINCT)``);
  ``sparsity`` is ``nulls / rows`` (None for an empty table).
* ``min``/``max`` are JSON-friendly: numbers as numbers, dates and timestamps as ISO 8601 strings, booleans as
  ``false``/``true``. Strings compare by code point on both engines.
* Numbers also get ``sum``, ``mean`` and ``stddev`` (sample standard deviation); strings ``min_length`` and
  ``max_length`` in characters.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import ibis.expr.datatypes as dt
import ibis.expr.types as ir


def simple_type(dtype: dt.DataType) -> str:
    """Our name for an engine type: integer, float, boolean, date, timestamp or string."""
    if dtype.is_integer():
        return "integer"
    if dtype.is_floating() or dtype.is_decimal():
        return "float"
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_date():
        return "date"
    if dtype.is_timestamp():
        return "timestamp"
    return "string"


def _metrics(i: int, col: ir.Column, kind: str) -> dict[str, ir.Scalar]:
    """The aggregates of one column, named ``c<i>_<stat>`` so that any column name is safe."""
    out: dict[str, ir.Scalar] = {f"c{i}_count": col.count(), f"c{i}_distinct": col.nunique()}
    if col.type().is_null():  # a column with no value at all has nothing more to say
        return out
    if kind == "boolean":
        as_int = col.cast("int8")
        out |= {f"c{i}_min": as_int.min(), f"c{i}_max": as_int.max()}
    elif kind in ("integer", "float", "date", "timestamp", "string"):
        out |= {f"c{i}_min": col.min(), f"c{i}_max": col.max()}
    if kind in ("integer", "float"):
        number = col.cast("float64")
        out |= {f"c{i}_sum": col.sum(), f"c{i}_mean": number.mean(), f"c{i}_stddev": number.std()}
    if kind == "string":
        length = col.cast("string").length()
        out |= {f"c{i}_min_length": length.min(), f"c{i}_max_length": length.max()}
    return out


def _json(value: Any, kind: str) -> Any:
    """A result value as JSON-friendly Python: ISO strings for times, None for missing, plain numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "boolean":
        return bool(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value.item() if hasattr(value, "item") else value


def profile(t: ir.Table) -> dict:
    """Column statistics (数据画像): {"rows", "columns": [{"name","type","nulls","distinct","min","max", "sparsity", ...}]}."""
    schema = t.schema()
    kinds = [simple_type(dtype) for dtype in schema.types]
    metrics: dict[str, ir.Scalar] = {"rows": t.count()}
    for i, (name, kind) in enumerate(zip(schema.names, kinds, strict=True)):
        metrics |= _metrics(i, t[name], kind)
    row = t.aggregate(**metrics).to_pyarrow().to_pylist()[0]
    rows = int(row["rows"])
    columns = []
    for i, (name, kind) in enumerate(zip(schema.names, kinds, strict=True)):
        nulls = rows - int(row[f"c{i}_count"])
        stats: dict[str, Any] = {
            "name": name,
            "type": kind,
            "nulls": nulls,
            "distinct": int(row[f"c{i}_distinct"]),
            "sparsity": nulls / rows if rows else None,
        }
        for key in ("min", "max", "sum", "mean", "stddev", "min_length", "max_length"):
            if f"c{i}_{key}" in row:
                stats[key] = _json(row[f"c{i}_{key}"], kind if key in ("min", "max") else "")
        stats.setdefault("min", None)
        stats.setdefault("max", None)
        columns.append(stats)
    return {"rows": rows, "columns": columns}
