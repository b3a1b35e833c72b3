"""Date columns of imported case files (导入日期): which format a column is in, and its values as naive UTC.

A format is inferred from the values themselves: every candidate is tried on a sample and the one that reads the
most values wins. ``05/01/2022`` reads both as 1 May (month first, US exports) and as 5 January (day first): when
both orders read a whole sample equally well the column is *ambiguous*, and the caller must decide from the
mapping's ``dayfirst`` (or another column of the same file) — never by guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_TIMES = (" %H:%M:%S", " %H:%M", " %I:%M:%S %p", " %I:%M %p", "")
ISO = tuple(f"%Y-%m-%d{t}" for t in _TIMES[:2]) + ("%Y-%m-%d",) + tuple(f"%Y/%m/%d{t}" for t in _TIMES)
MONTH_FIRST = tuple(f"%m/%d/%Y{t}" for t in _TIMES) + tuple(f"%m/%d/%y{t}" for t in _TIMES)
DAY_FIRST = tuple(f"%d/%m/%Y{t}" for t in _TIMES) + tuple(f"%d/%m/%y{t}" for t in _TIMES) + tuple(
    f"%d.%m.%Y{t}" for t in _TIMES[:2] + ("",))
SAMPLE = 20_000
TS = pa.timestamp("us")


@dataclass(frozen=True)
class Inference:
    """What a column's sample says: the best format, how much of the sample it reads, and whether the
    month-first and day-first readings tie (then ``dayfirst`` and ``monthfirst`` name the two candidates)."""

    format: str | None
    share: float
    ambiguous: bool = False
    monthfirst: str | None = None
    dayfirst: str | None = None

    @property
    def order(self) -> str | None:
        """``dmy`` or ``mdy`` when the chosen format is one of the slash orders, else None."""
        if self.format in DAY_FIRST:
            return "dmy"
        return "mdy" if self.format in MONTH_FIRST else None


def normalise(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Trimmed values with an ISO ``T`` made a space and fractional seconds dropped; and a mask of the values
    marked as UTC (``Z`` or ``+00:00``), which must not be converted from local time."""
    v = pc.utf8_trim_whitespace(values)
    utc = pc.fill_null(pc.match_substring_regex(v, r"(?:Z|[+-]00:?00)$"), False)
    v = pc.replace_substring_regex(v, r"(?:Z|[+-]00:?00)$", "")
    v = pc.replace_substring_regex(v, r"^(\d{4}-\d{1,2}-\d{1,2})T", r"\1 ")
    v = pc.replace_substring_regex(v, r"(\d{1,2}:\d{2}:\d{2})[.,]\d+$", r"\1")
    return v, utc


# The C library's strptime takes "1" for a year and 30 February for 2 March; each directive's text must also have
# the shape it should, and the day read must be the day written.
_SHAPES = {"%Y": r"\d{4}", "%y": r"\d{2}", "%m": r"\d{1,2}", "%d": r"(?P<day>\d{1,2})", "%H": r"\d{1,2}",
           "%I": r"\d{1,2}", "%M": r"\d{2}", "%S": r"\d{2}", "%p": r"[AaPp][Mm]"}


def shape(fmt: str) -> str | None:
    """An anchored regex for text written in ``fmt``; None when the format has a directive not known here."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%":
            rx = _SHAPES.get(fmt[i:i + 2])
            if rx is None:
                return None
            out.append(rx)
            i += 2
        else:
            out.append(r"\s+" if fmt[i] == " " else re.escape(fmt[i]))
            i += 1
    return "^" + "".join(out) + "$"


def read(text: pa.Array, fmt: str) -> pa.Array:
    """Normalised text read with ``fmt`` strictly: null where it does not fit (naive, as written)."""
    parsed = pc.strptime(text, format=fmt, unit="us", error_is_null=True)
    rx = shape(fmt)
    if rx is None:
        return parsed
    null = pa.scalar(None, TS)
    parsed = pc.if_else(pc.fill_null(pc.match_substring_regex(text, rx), False), parsed, null)
    if "%d" in fmt:
        day = pc.struct_field(pc.extract_regex(text, rx), "day")
        same = pc.equal(pc.cast(day, pa.int64()), pc.day(parsed))
        parsed = pc.if_else(pc.fill_null(same, False), parsed, null)
    return parsed


def _reads(sample: pa.Array, fmt: str) -> int:
    parsed = read(sample, fmt)
    return len(parsed) - parsed.null_count


def infer(values: pa.Array) -> Inference:
    """The format that reads the most of a sample of ``values`` (strings; nulls ignored)."""
    sample, _utc = normalise(pc.unique(pc.drop_null(values)).slice(0, SAMPLE))
    if not len(sample):
        return Inference(None, 0.0)
    scores = {fmt: _reads(sample, fmt) for fmt in (*ISO, *MONTH_FIRST, *DAY_FIRST)}
    best = max(scores, key=lambda f: scores[f])  # first of the candidates in list order on a tie
    share = scores[best] / len(sample)
    mdy = max(MONTH_FIRST, key=lambda f: scores[f])
    dmy = max(DAY_FIRST, key=lambda f: scores[f])
    tie = scores[mdy] == scores[dmy] == scores[best] and scores[best] > 0
    return Inference(best, share, ambiguous=tie, monthfirst=mdy if tie else None, dayfirst=dmy if tie else None)


def parse(values: pa.Array, fmt: str, timezone: str | None) -> tuple[pa.Array, pa.Array]:
    """Values read with ``fmt`` as naive UTC (local times in ``timezone`` converted; ``Z`` values kept), and a
    mask of the non-empty values that could not be read."""
    text, utc = normalise(values)
    parsed = read(text, fmt)
    if timezone and timezone != "UTC":
        # a time that does not exist (spring forward) moves to the end of the gap; a repeated hour (fall back)
        # is read as its first occurrence
        local = pc.assume_timezone(parsed, timezone, ambiguous="earliest", nonexistent="latest").cast(TS)
        parsed = pc.if_else(utc, parsed, local)
    failed = pc.and_(pc.is_valid(text), pc.is_null(parsed))
    failed = pc.and_(failed, pc.not_equal(text, ""))
    return parsed, pc.fill_null(failed, False)


def example(values: Any, limit: int = 3) -> str:
    """A few distinct values of a column, for error messages."""
    return ", ".join(repr(v) for v in pc.unique(pc.drop_null(values)).slice(0, limit).to_pylist())
