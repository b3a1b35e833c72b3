"""Reading case files to import (导入文件): CSV (any common delimiter, UTF-8 with or without BOM, or GB18030) and
Excel, in batches of string columns, so that a file of millions of rows never has to fit in memory.

Rows with more or fewer fields than the header cannot be read as a case; they are kept aside with their text so the
importer can write them to the rejects file.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pv

from chengyun.core.errors import InvalidInput, NotFound

DELIMITERS = (",", "\t", ";", "|")
ENCODINGS = ("utf-8", "gb18030")
BLOCK = 8 << 20  # bytes per CSV batch: tens of thousands of rows
EXCEL_BATCH = 20_000
SNIFF = 1 << 20


@dataclass
class BadRow:
    """A row whose field count does not match the header."""

    fields: list[str]
    expected: int
    actual: int


@dataclass
class Source:
    """An open file to import: its header, how it was read, and its rows in batches."""

    path: Path
    header: list[str]
    kind: str  # csv | excel
    encoding: str | None = None
    delimiter: str | None = None
    bad_rows: list[BadRow] = field(default_factory=list)  # filled while batches are read; the caller drains it
    _batches: Callable[[], Iterator[pa.Table]] | None = None

    def batches(self) -> Iterator[pa.Table]:
        """Tables of string columns (null where a cell is empty), in file order."""
        assert self._batches is not None
        return self._batches()


class _Counted(io.RawIOBase):
    """A binary file that reports how many bytes have been read (for the progress bar)."""

    def __init__(self, fh: Any, advance: Callable[[int], None]) -> None:
        self.fh, self.advance = fh, advance

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        data = self.fh.read(n)
        self.advance(len(data))
        return bytes(data)

    def close(self) -> None:
        self.fh.close()
        super().close()


def _decode(raw: bytes, path: Path) -> tuple[str, str]:
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", raw[3:].decode("utf-8", errors="replace")
    for enc in ENCODINGS:
        try:
            return enc, codecs.getincrementaldecoder(enc)().decode(raw, final=False)
        except UnicodeDecodeError:
            continue
    raise InvalidInput(f"{path.name}: the text is neither UTF-8 nor GB18030",
                       fix="save the file as UTF-8 (Excel: 'CSV UTF-8') and import it again")


def sniff(path: Path) -> tuple[str, str, list[str]]:
    """Encoding, delimiter and header of a CSV file, from its first megabyte."""
    with path.open("rb") as fh:
        raw = fh.read(SNIFF)
    encoding, text = _decode(raw, path)
    first = text.splitlines()[:1]
    if not first or not first[0].strip():
        raise InvalidInput(f"{path.name}: the file is empty or its first line is blank",
                           fix="the first line must name the columns")
    counts = {d: len(next(csv.reader(first, delimiter=d))) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: counts[d])  # the one that splits the header into most columns
    return encoding, delimiter, unique_names(next(csv.reader(first, delimiter=delimiter)))


def unique_names(names: list[Any]) -> list[str]:
    """Column names trimmed, a blank one called ``column_<n>`` and a repeated one suffixed ``.2``, ``.3`` …"""
    out: list[str] = []
    for i, raw in enumerate(names, 1):
        name = str(raw).strip() if raw is not None else ""
        name = name or f"column_{i}"
        base, n = name, 1
        while name in out:
            n += 1
            name = f"{base}.{n}"
        out.append(name)
    return out


def _csv(path: Path, advance: Callable[[int], None]) -> Source:
    encoding, delimiter, header = sniff(path)
    src = Source(path, header, "csv", encoding, delimiter)

    def keep_aside(row: Any) -> str:
        fields = next(csv.reader([row.text], delimiter=delimiter), [])
        src.bad_rows.append(BadRow(fields, row.expected_columns, row.actual_columns))
        return "skip"

    def batches() -> Iterator[pa.Table]:
        read = pv.ReadOptions(block_size=BLOCK, encoding="utf8" if encoding.startswith("utf-8") else encoding,
                              column_names=header, skip_rows=1)
        parse = pv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=keep_aside)
        convert = pv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True,
                                    quoted_strings_can_be_null=True)
        with _Counted(path.open("rb"), advance) as fh:
            reader = pv.open_csv(fh, read_options=read, parse_options=parse, convert_options=convert)
            for batch in reader:
                yield pa.Table.from_batches([batch])

    src._batches = batches
    return src


def _cell(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # case numbers stored as numbers must not become 1.01004143e+11
    text = str(v).strip()
    return text or None


def _excel(path: Path, sheet: str | None, advance: Callable[[int], None]) -> Source:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    if sheet is not None and sheet not in book.sheetnames:
        raise NotFound(f"{path.name}: no sheet {sheet!r}", fix=f"use one of: {', '.join(book.sheetnames)}")
    ws = book[sheet] if sheet else book.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    first = list(next(rows, ()))
    header = unique_names(first)
    if not any(c is not None and str(c).strip() for c in first):
        raise InvalidInput(f"{path.name}: the first row of the sheet is empty", fix="the first row must name the columns")
    src = Source(path, header, "excel")

    def batches() -> Iterator[pa.Table]:
        chunk: list[list[str | None]] = []
        for row in rows:
            cells = [_cell(v) for v in row]
            if not any(c is not None for c in cells):
                continue  # a blank line
            if len(cells) > len(header) and any(c is not None for c in cells[len(header):]):
                src.bad_rows.append(BadRow([c or "" for c in cells], len(header), len(cells)))
                continue
            chunk.append((cells + [None] * len(header))[: len(header)])
            if len(chunk) >= EXCEL_BATCH:
                yield _table(header, chunk)
                advance(len(chunk))
                chunk = []
        if chunk:
            yield _table(header, chunk)
            advance(len(chunk))
        book.close()

    src._batches = batches
    return src


def _table(header: list[str], rows: list[list[str | None]]) -> pa.Table:
    return pa.table({name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(header)})


def open_source(path: Path, *, sheet: str | None = None, advance: Callable[[int], None] | None = None) -> Source:
    """The file ready to read in batches; ``advance`` is called with bytes (CSV) or rows (Excel) as they are read."""
    if not path.is_file():
        raise NotFound(f"{path}: no such file", fix="give the path of a CSV or .xlsx file")
    step = advance or (lambda _n: None)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _excel(path, sheet, step)
    if path.suffix.lower() == ".xls":
        raise InvalidInput(f"{path.name}: old Excel (.xls) files cannot be read", fix="save it as .xlsx or CSV")
    return _csv(path, step)


def size_hint(path: Path) -> int | None:
    """What ``advance`` counts up to: the file size in bytes for CSV, the sheet's row count for Excel."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return None
    return path.stat().st_size
