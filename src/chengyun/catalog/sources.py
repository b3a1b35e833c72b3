"""Reading a data source into Arrow (数据源接入): CSV/TSV/TXT, Excel, Parquet, JSON lines or a database table.

A source is read right or refused with a message that names the file, the row and the fix — never read
silently wrong. What was detected (encoding, delimiter, header row, number and date formats, renamed
columns) is returned in ``Loaded.notes``; rows that cannot be read (a different number of fields from the
header, a value a typed database column cannot hold) are put aside as ``Reject`` with the reason, and too
many of them fail the load.

Delimited text is sniffed in front (``sniff.py``) and parsed by pyarrow's CSV reader as text; each column then
gets the narrowest type all its values agree with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from chengyun.catalog.sniff import (
    SourceError,
    Typed,
    clean_names,
    detect_encoding,
    find_header,
    infer_column,
    sniff_text,
)

__all__ = ["Loaded", "Reject", "SourceError", "read_source"]

DateOrder = Literal["auto", "dmy", "mdy", "ymd"]
FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".dat": "csv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
SHOWN_REJECTS = 5


@dataclass
class Reject:
    """A row put aside, with the reason."""

    row: int  # 1-based data row number in the source (header excluded)
    reason: str  # e.g. "has 12 fields, the header has 11"
    raw: str  # the raw line/values as text


@dataclass
class Loaded:
    """A source read into a typed Arrow table, with what was detected and the rows put aside."""

    table: pa.Table
    format: str  # "csv" | "excel" | "parquet" | "database" | "jsonl"
    rejects: list[Reject] = field(default_factory=list)
    notes: dict[str, object] = field(default_factory=dict)


def read_source(
    source: str | Path,
    *,
    table: str | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    date_order: DateOrder = "auto",
    max_reject_share: float = 0.05,
) -> Loaded:
    """Read a file (CSV/TSV/TXT, XLSX, Parquet, JSON lines) or a database table (SQLAlchemy URL + table) into Arrow."""
    if date_order not in ("auto", "dmy", "mdy", "ymd"):
        raise SourceError(f"date order {date_order!r} is not known", fix="use auto, dmy, mdy or ymd")
    if isinstance(source, str) and "://" in source:
        from chengyun.catalog.database import read_database  # it builds on this module

        loaded = read_database(source, table)
        name = f"table {table} of {loaded.notes['database']}"
    else:
        path = Path(source)
        if not path.is_file():
            raise SourceError(
                f"{path} does not exist or is not a file",
                fix="check the path (relative paths start "
                "in the current directory), or pass a SQLAlchemy URL with --table",
            )
        kind = _format(path)
        if kind == "csv":
            loaded = _read_csv(path, encoding=encoding, delimiter=delimiter, date_order=date_order)
        elif kind == "excel":
            loaded = _read_excel(path, sheet=sheet, date_order=date_order)
        elif kind == "parquet":
            loaded = _read_parquet(path)
        else:
            loaded = _read_jsonl(path, encoding=encoding, date_order=date_order)
        name = path.name
    _check_rejects(loaded, name, max_reject_share)
    return loaded


def _format(path: Path) -> str:
    kind = FORMATS.get(path.suffix.lower())
    if kind:
        return kind
    if path.suffix.lower() == ".xls":
        raise SourceError(
            f"{path.name} is an old binary Excel file (.xls)",
            fix="open it in Excel or WPS and save it as .xlsx (or export CSV), then add it again",
        )
    with path.open("rb") as f:
        magic = f.read(4)
    return "parquet" if magic == b"PAR1" else "excel" if magic == b"PK\x03\x04" else "csv"


def _check_rejects(loaded: Loaded, name: str, share: float) -> None:
    """Fail when more than ``share`` of the rows were put aside; otherwise count them in the notes."""
    bad = loaded.rejects
    if not bad:
        return
    total = loaded.table.num_rows + len(bad)
    loaded.notes["rejected_rows"] = len(bad)
    if len(bad) <= share * total:
        return
    shown = [f"row {r.row}: {r.reason}: {r.raw[:160]!r}" for r in bad[:SHOWN_REJECTS]]
    raise SourceError(
        f"{name}: {len(bad)} of {total} data rows cannot be read ({len(bad) / total:.1%}, more than the "
        f"{share:.0%} allowed); the first is row {bad[0].row}, which {bad[0].reason}",
        fix="correct those rows in the source (a missing or extra delimiter, an unclosed quote), or allow "
        "more rows to be put aside with max_reject_share (CLI: --max-reject-share)",
        details=shown,
    )


def typed_table(
    columns: dict[str, pa.ChunkedArray],
    *,
    delimiter: str = ",",
    date_order: str = "auto",
    notes: dict[str, object],
    declared: frozenset[str] = frozenset(),
) -> pa.Table:
    """Infer the type of each text column not in ``declared``; note date formats, separators and doubts."""
    out: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    found: dict[str, dict[str, str]] = {
        "date_formats": {},
        "thousands": {},
        "decimal": {},
        "column_notes": {},
    }
    for name, col in columns.items():
        if pa.types.is_null(col.type):  # JSON or Parquet column with no value at all
            col = col.cast(pa.string())
        typed: Typed = (
            infer_column(col, delimiter=delimiter, date_order=date_order)
            if pa.types.is_string(col.type) and name not in declared
            else Typed(col, _kind(col.type))
        )
        out[name], kinds[name] = typed.values, typed.kind
        for key, value in (
            ("date_formats", typed.date_format),
            ("thousands", typed.thousands),
            ("decimal", typed.decimal),
            ("column_notes", typed.note),
        ):
            if value:
                found[key][name] = value
    notes["types"] = kinds
    for key, values in found.items():
        if values:  # added to what the reader noted already (mixed cell types, mixed JSON types)
            notes.setdefault(key, {}).update(values)  # type: ignore[attr-defined]
    return pa.table(out)


def _kind(t: pa.DataType) -> str:
    checks = (
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_integer, "integer"),
        (pa.types.is_floating, "float"),
        (pa.types.is_decimal, "float"),
        (pa.types.is_date, "date"),
        (pa.types.is_timestamp, "timestamp"),
    )
    return next((name for test, name in checks if test(t)), "string")


def _read_csv(path: Path, *, encoding: str | None, delimiter: str | None, date_order: str) -> Loaded:
    layout = sniff_text(path, encoding=encoding, delimiter=delimiter)
    rejects: list[Reject] = []

    def put_aside(row: Any) -> str:
        # single-threaded, pyarrow numbers records from the header (1); blank lines are not records
        rejects.append(
            Reject(
                row=(row.number or 1) - 1,
                raw=row.text,
                reason=f"has {row.actual_columns} fields, the header has {row.expected_columns}",
            )
        )
        return "skip"

    encoding = (
        "utf8" if layout.encoding == "utf-8" else layout.encoding
    )  # "utf8" is pyarrow's no-transcoding path
    source = pa.memory_map(str(path))
    source.seek(layout.header_offset)
    try:
        raw = pa_csv.read_csv(
            source,
            read_options=pa_csv.ReadOptions(
                skip_rows=1,
                column_names=layout.names,
                use_threads=False,
                block_size=1 << 24,
                encoding=encoding,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=layout.delimiter, newlines_in_values=True, invalid_row_handler=put_aside
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: pa.string() for n in layout.names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise SourceError(
            f"{path.name}: cannot be parsed as delimited text after the header on line "
            f"{layout.header_line}: {exc}",
            fix='check the quoting (an unclosed " swallows the rest of the file), or pass '
            "--delimiter and --encoding",
        ) from None
    finally:
        source.close()
    notes = dict(layout.notes)
    columns = {name: raw.column(i) for i, name in enumerate(layout.names)}
    return Loaded(
        typed_table(columns, delimiter=layout.delimiter, date_order=date_order, notes=notes),
        "csv",
        rejects,
        notes,
    )


def _read_parquet(path: Path) -> Loaded:
    import pyarrow.parquet as pq

    try:
        t = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(
            f"{path.name} is not a readable Parquet file: {exc}",
            fix="write the file again (it may be cut short), or give the right file",
        ) from None
    return Loaded(t, "parquet", [], {"types": {f.name: _kind(f.type) for f in t.schema}})


def cell_text(v: object) -> str | None:
    return None if v is None else v.isoformat() if isinstance(v, date | datetime) else str(v)


def _excel_column(values: list[object], notes: dict[str, Any], name: str) -> pa.ChunkedArray:
    """Typed Arrow values of one worksheet column: cell types decide, text cells are inferred like CSV."""
    present = [v for v in values if v is not None and not (isinstance(v, str) and not v.strip())]
    kinds = {type(v) for v in present}
    if present and kinds <= {bool}:
        return pa.chunked_array([pa.array(values, pa.bool_())])
    if present and kinds <= {int}:
        return pa.chunked_array([pa.array(values, pa.int64())])
    if present and kinds <= {int, float}:
        return pa.chunked_array([pa.array(values, pa.float64())])
    if present and kinds <= {datetime}:
        midnight = all(v.time() == datetime.min.time() for v in present)  # type: ignore[attr-defined]
        arr = pa.array(values, pa.timestamp("us"))
        return pa.chunked_array([pc.cast(arr, pa.date32()) if midnight else arr])
    if present and kinds <= {date}:
        return pa.chunked_array([pa.array(values, pa.date32())])
    if len(kinds) > 1:
        notes.setdefault("column_notes", {})[name] = "cells mix " + ", ".join(
            sorted(k.__name__ for k in kinds)
        )
    return pa.chunked_array([pa.array([cell_text(v) for v in values], pa.string())])


def _read_excel(path: Path, *, sheet: str | None, date_order: str) -> Loaded:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for damaged files
        raise SourceError(
            f"{path.name} is not a readable .xlsx workbook: {exc}",
            fix="open it in Excel or WPS and save it again as .xlsx",
        ) from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise SourceError(
                f"{path.name} has no sheet {sheet!r}",
                fix=f"pass --sheet with one of: {', '.join(book.sheetnames)}",
            )
        name = sheet or book.sheetnames[0]
        rows = [list(r) for r in book[name].iter_rows(values_only=True)]
    finally:
        book.close()
    if not any(any(c is not None for c in r) for r in rows):
        raise SourceError(
            f"{path.name}: sheet {name!r} is empty", fix="pass --sheet with the sheet that holds the table"
        )
    h = find_header([["" if c is None else str(c) for c in r] for r in rows[:200]])
    width = max(i + 1 for i, c in enumerate(rows[h]) if c is not None and str(c).strip())
    names, renamed = clean_names(["" if c is None else str(c) for c in rows[h][:width]])
    notes: dict[str, Any] = {"sheet": name, "header_row": h + 1, "sheets": list(book.sheetnames)}
    if renamed:
        notes["renamed"] = renamed
    kept, rejects = _excel_rows(rows, h, width)
    columns = {
        n: _excel_column([r[i] if i < len(r) else None for r in kept], notes, n) for i, n in enumerate(names)
    }
    return Loaded(typed_table(columns, date_order=date_order, notes=notes), "excel", rejects, notes)


def _excel_rows(rows: list[list[object]], header: int, width: int) -> tuple[list[list[object]], list[Reject]]:
    """Data rows under the header: blank rows skipped, rows with values right of the header put aside."""
    kept: list[list[object]] = []
    rejects: list[Reject] = []
    number = 0
    for sheet_row, r in enumerate(rows[header + 1 :], start=header + 2):
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in r):
            continue
        number += 1
        extra = [i for i, c in enumerate(r[width:], start=width + 1) if c is not None and str(c).strip()]
        if extra:
            rejects.append(
                Reject(
                    number,
                    f"has a value in column {extra[0]} (sheet row {sheet_row}), right of the "
                    f"header's {width} columns",
                    "\t".join("" if c is None else str(c) for c in r),
                )
            )
        else:
            kept.append(r)
    return kept, rejects


def _read_jsonl(path: Path, *, encoding: str | None, date_order: str) -> Loaded:
    with path.open("rb") as f:
        head = f.read(1 << 16)
    codec, bom, enc_notes = detect_encoding(path, head, encoding)
    text = path.read_bytes()[bom:].decode(codec)
    if text.lstrip().startswith("["):  # one JSON array of objects rather than one object a line
        try:
            records: list[Any] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"{path.name}: line {exc.lineno} column {exc.colno}: {exc.msg}",
                fix="repair the JSON, or export one object per line (JSON lines)",
            ) from None
        lines = [(i, json.dumps(r, ensure_ascii=False)) for i, r in enumerate(records, start=1)]
    else:
        # split on newlines only: U+2028 and friends may stand unescaped inside JSON strings
        lines = [(i, s.rstrip("\r")) for i, s in enumerate(text.split("\n"), start=1) if s.strip()]
    rows, rejects = _json_rows(lines)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    columns: dict[str, pa.ChunkedArray] = {}
    notes: dict[str, Any] = {"encoding": codec, **({"encoding_notes": enc_notes} if enc_notes else {})}
    for key in keys:
        values = [r.get(key) for r in rows]
        try:
            columns[key] = pa.chunked_array([pa.array(values)])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            notes.setdefault("column_notes", {})[key] = "values of several JSON types; read as text"
            columns[key] = pa.chunked_array(
                [
                    pa.array(
                        [
                            v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                            for v in values
                        ]
                    )
                ]
            )
    return Loaded(typed_table(columns, date_order=date_order, notes=notes), "jsonl", rejects, notes)


def _json_rows(lines: list[tuple[int, str]]) -> tuple[list[dict[str, Any]], list[Reject]]:
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for number, line in lines:
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            rejects.append(Reject(number, f"is not valid JSON ({exc.msg} at column {exc.colno})", line))
            continue
        if isinstance(value, dict):
            rows.append(value)
        else:
            rejects.append(Reject(number, f"is a JSON {type(value).__name__}, not an object", line))
    return rows, rejects
