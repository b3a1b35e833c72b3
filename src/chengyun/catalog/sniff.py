"""Sniffing a text table before it is read (嗅探): encoding, delimiter and header row of a delimited file.

Decisions:

* Encoding: a BOM decides (UTF-8, UTF-16LE/BE); else the whole file must decode as UTF-8, else as GB18030
  (most Chinese government files are GBK/GB18030) when the decoded text is mostly CJK, else as Windows-1252
  with a note. Every candidate is checked over the whole file, so a bad byte at the end is found before
  loading. A file that none of them decodes is refused, naming the line; nothing is read with replacement
  characters.
* Delimiter: the candidate that splits the sampled records into the same number of fields most often; ties go
  to the rarer characters in prose (tab, semicolon, bar) before the comma.
* Header: blank and title rows above the real header are skipped: the header is the first record with at least
  two filled cells and at least half as many as the fullest record of the sample.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from chengyun.core.errors import InvalidInput

SAMPLE_BYTES = 1 << 20  # enough for the delimiter, the header and the first few thousand rows
CHUNK_BYTES = 1 << 23
SAMPLE_RECORDS = 200
DELIMITERS = ("\t", ";", "|", ",")  # preference order on a tie
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_MOJIBAKE = re.compile(r"[ÂÃ][\u0080-\u00bf]|â€")
_LINE_BREAK = re.compile(r"\r\n?|\n")


class SourceError(InvalidInput):
    """A data source that cannot be read as it is; the message names the file, the row and what to do."""

    code = "invalid-source"


@dataclass
class TextLayout:
    """What sniffing found out about a delimited text file."""

    encoding: str
    bom: int  # bytes of byte-order mark before the text
    delimiter: str
    header_offset: int  # byte offset of the header record
    header_line: int  # 1-based physical line of the header in the file
    names: list[str]
    notes: dict[str, object] = field(default_factory=dict)


def _bom(head: bytes) -> tuple[str, int] | None:
    for mark, codec in BOMS:
        if head.startswith(mark):
            return codec, len(mark)
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text of mostly ASCII characters has a NUL in every other byte."""
    sample = head[:4000]
    if len(sample) < 8 or sample.count(0) < len(sample) // 4:
        return None
    odd, even = sample[1::2].count(0), sample[0::2].count(0)
    return "utf-16-le" if odd > 3 * even else "utf-16-be" if even > 3 * odd else None


def check_decodes(path: Path, codec: str, start: int = 0) -> None:
    """Decode the whole file with ``codec``; raise SourceError naming the line of the first bad byte."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    line, done = 1, start
    with path.open("rb") as f:
        f.seek(start)
        while True:
            chunk = f.read(CHUNK_BYTES)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                before = decoder.decode(chunk[: exc.start], final=False) if exc.start else ""
                line += len(_LINE_BREAK.findall(before))
                raise SourceError(
                    f"{path.name}: line {line} (byte {done + exc.start}) is not valid {codec}: "
                    f"byte 0x{chunk[exc.start]:02x} cannot be decoded",
                    fix="pass the file's encoding (--encoding gb18030, --encoding big5, ...) or save it "
                    "as UTF-8",
                ) from None
            except UnicodeError as exc:  # e.g. "utf-16" without a byte-order mark
                raise SourceError(
                    f"{path.name} cannot be decoded as {codec}: {exc}",
                    fix="name the byte order: --encoding utf-16-le or --encoding utf-16-be",
                ) from None
            line += text.count("\n") + text.count("\r") - text.count("\r\n")
            done += len(chunk)
            if not chunk:
                return


def _decodes(path: Path, codec: str) -> bool:
    try:
        check_decodes(path, codec)
    except SourceError:
        return False
    return True


def _mostly_cjk(text: str) -> bool:
    wide = [ch for ch in text if ord(ch) > 127]
    return bool(wide) and sum(1 for ch in wide if _CJK.match(ch)) >= 0.8 * len(wide)


def detect_encoding(path: Path, head: bytes, given: str | None) -> tuple[str, int, list[str]]:
    """The codec of a text file, the length of its BOM, and notes on how it was chosen."""
    found = _bom(head)
    if given:
        try:
            codec = codecs.lookup(given).name
        except LookupError:
            raise SourceError(
                f"{path.name}: encoding {given!r} is not known",
                fix="use a Python codec name such as utf-8, gb18030, utf-16-le, cp1252",
            ) from None
        if found and codec in (found[0], "utf-8-sig", "utf-16"):
            codec = found[0]  # the BOM agrees with the given encoding: skip it
        skip = found[1] if found and codec == found[0] else 0
        check_decodes(path, codec, skip)
        return codec, skip, [f"encoding {given} as given"]
    if found:
        return found[0], found[1], [f"byte-order mark says {found[0]}"]
    wide = _utf16_without_bom(head)
    if wide and _decodes(path, wide):
        return wide, 0, [f"no byte-order mark; NUL bytes every other byte: read as {wide}"]
    if _decodes(path, "utf-8"):
        return "utf-8", 0, []
    if _decodes(path, "gb18030") and _mostly_cjk(head.decode("gb18030", errors="ignore")):
        return "gb18030", 0, ["not UTF-8; decoded as GB18030 (GBK) because the text is Chinese"]
    if _decodes(path, "cp1252"):
        return (
            "cp1252",
            0,
            ["not UTF-8 nor Chinese GB18030; read as Windows-1252: pass --encoding if this is wrong"],
        )
    try:
        check_decodes(path, "utf-8")
    except SourceError as exc:  # name the first byte that is not UTF-8 and say what else was tried
        raise SourceError(
            exc.message.replace("valid utf-8", "valid UTF-8, GB18030 or Windows-1252"), fix=exc.fix
        ) from None
    raise AssertionError("a file that decodes as UTF-8 was caught above")


def _records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """Records of the sample with the number of physical lines before each."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[tuple[int, list[str]]] = []
    start = 0
    try:
        for row in reader:
            out.append((start, row))
            start = reader.line_num
            if len(out) >= SAMPLE_RECORDS:
                break
    except csv.Error:
        pass  # a quote left open by the cut sample: the records before it are enough
    return out


def _consistency(records: list[tuple[int, list[str]]]) -> tuple[float, int]:
    widths = [len(r) for _, r in records if r]
    if not widths:
        return 0.0, 0
    width, count = Counter(widths).most_common(1)[0]
    return (count / len(widths), width) if width > 1 else (0.0, width)


def detect_delimiter(text: str, given: str | None) -> str:
    """The delimiter that gives the most records of equal width (given one wins)."""
    if given:
        return "\t" if given in ("\\t", "tab") else given
    scored = [(_consistency(_records(text, d)), -i, d) for i, d in enumerate(DELIMITERS)]
    (share, _), _, best = max(scored)
    return best if share > 0 else ","


def find_header(rows: list[list[str]]) -> int:
    """Index of the header among ``rows``: the first with two or more filled cells (one if no row has
    more) and at least half as many as the fullest row of the sample; a one-cell title is never taken.

    Width is not required to match the data: a header narrower or wider than its rows then makes every row a
    reject and the load fails, rather than a data row being taken for the header.
    """
    filled = [sum(1 for c in r if c is not None and str(c).strip()) for r in rows]
    most = max(filled, default=0)
    need = max(min(2, most), (most + 1) // 2)
    return next((i for i, n in enumerate(filled) if n >= need), 0)


def clean_names(raw: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Header names stripped of spaces, with empty and repeated names made unique; the renames as notes."""
    names: list[str] = []
    renamed: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, name in enumerate(raw, start=1):
        base = (name or "").strip() or f"column_{i}"
        new, n = base, 1
        while new in seen:
            n += 1
            new = f"{base}_{n}"
        seen.add(new)
        names.append(new)
        if new != name:
            renamed.append({"from": name, "to": new})
    return names, renamed


def _line_endings(text: str) -> str:
    ends = Counter(m.group() for m in _LINE_BREAK.finditer(text[:65536]))
    return {"\r\n": "CRLF", "\r": "CR", "\n": "LF"}[ends.most_common(1)[0][0]] if ends else "none"


def sniff_text(path: Path, *, encoding: str | None, delimiter: str | None) -> TextLayout:
    """Encoding, delimiter, header row and column names of a delimited text file."""
    with path.open("rb") as f:
        head = f.read(SAMPLE_BYTES)
    if not head.strip():
        raise SourceError(f"{path.name} is empty", fix="export the table again, with its header and rows")
    codec, bom, notes = detect_encoding(path, head, encoding)
    text = codecs.getincrementaldecoder(codec)("replace").decode(head[bom:], final=len(head) < SAMPLE_BYTES)
    if len(head) == SAMPLE_BYTES and _LINE_BREAK.search(text):  # drop the record cut by the sample's end
        text = text[: list(_LINE_BREAK.finditer(text))[-1].start()]
    sep = detect_delimiter(text, delimiter)
    records = _records(text, sep)
    index = find_header([r for _, r in records])
    lines_before, raw_names = records[index]
    breaks = list(_LINE_BREAK.finditer(text))
    prefix = text[: breaks[lines_before - 1].end()] if lines_before else ""
    names, renamed = clean_names(raw_names)
    info: dict[str, object] = {
        "encoding": codec,
        "delimiter": sep,
        "line_endings": _line_endings(text),
        "header_row": lines_before + 1,
    }
    if notes:
        info["encoding_notes"] = notes
    if index:
        info["skipped_rows"] = [sep.join(r) for _, r in records[:index] if r]
    if renamed:
        info["renamed"] = renamed
    bad = _MOJIBAKE.search(text)
    if bad:
        info["mojibake"] = (
            f"text such as {text[max(0, bad.start() - 12) : bad.end() + 4]!r} looks encoded twice "
            "(UTF-8 read as Latin-1 and saved again); values are kept as they are"
        )
    offset = bom + len(prefix.encode(codec)) - len("".encode(codec))  # "utf-16" and "utf-8-sig" add a BOM
    return TextLayout(codec, bom, sep, offset, lines_before + 1, names, info)


# --- column types -------------------------------------------------------------------------------------------
# Every rule must hold for every value of a column (nulls aside), or the column stays text with a note.
# Patterns are written for both Python's re (on a sample, to pick a candidate) and RE2 (on the whole
# column, to confirm).

_INT = r"^[+-]?[0-9]+$"
_FLOAT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_LEADING_ZERO = r"^[+-]?0[0-9]"
_MOBILE = r"^1[3-9][0-9]{9}$"  # 手机号: eleven digits are an identifier, not a quantity
_THOUSANDS = r"^[+-]?[0-9]{1,3}(,[0-9]{3})*(\.[0-9]+)?$"
_DECIMAL_COMMA = r"^[+-]?([0-9]+|[0-9]{1,3}(\.[0-9]{3})+)(,[0-9]+)?$"
_DOT_GROUPS = r"^[+-]?[0-9]{1,3}(\.[0-9]{3})+$"
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "是": True, "否": False}
_MONTHS = "(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_TIMES = (("", ""), (" [0-9]{1,2}:[0-9]{2}", " %H:%M"), (" [0-9]{1,2}:[0-9]{2}:[0-9]{2}", " %H:%M:%S"))
BOOL_WORDS = pa.array(list(_BOOLEANS))
TRUE_WORDS = pa.array([w for w, v in _BOOLEANS.items() if v])
# longer digit strings (身份证号, account numbers) stay text: a float64 or a JSON number cannot hold them
MAX_DIGITS = 15


def _layouts() -> list[tuple[str, str, str]]:
    """(regex, strptime format, day/month order) of the non-ISO layouts; order "?" is decided by the data."""
    out: list[tuple[str, str, str]] = []
    for sep in ("/", ".", "-"):
        q = re.escape(sep)
        out.append((f"[0-9]{{1,2}}{q}[0-9]{{1,2}}{q}[0-9]{{4}}", f"%?{sep}%?{sep}%Y", "?"))
        out.append((f"[0-9]{{4}}{q}[0-9]{{1,2}}{q}[0-9]{{1,2}}", f"%Y{sep}%m{sep}%d", "ymd"))
    out += [
        (f"[0-9]{{1,2}}-{_MONTHS}-[0-9]{{2}}", "%d-%b-%y", "dmy"),
        (f"[0-9]{{1,2}}-{_MONTHS}-[0-9]{{4}}", "%d-%b-%Y", "dmy"),
        (f"[0-9]{{1,2}} {_MONTHS} [0-9]{{4}}", "%d %b %Y", "dmy"),
        ("[0-9]{4}年[0-9]{1,2}月[0-9]{1,2}日", "%Y年%m月%d日", "ymd"),
    ]
    return [(f"^{rx}{trx}$", fmt + tfmt, order) for rx, fmt, order in out for trx, tfmt in _TIMES]


LAYOUTS = _layouts()
_ISO_DAY = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
_ISO_TIME = _ISO_DAY + r"[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
_ISO = (
    (f"^{_ISO_DAY}$", "date"),
    (f"^{_ISO_TIME}$", "timestamp"),
    (f"^{_ISO_TIME}(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$", "timestamp-utc"),
)

DATE_RULES = [re.compile(rx) for rx, _ in _ISO] + [re.compile(rx) for rx, _, _ in LAYOUTS]


@dataclass
class Typed:
    """A column after inference: the values, and what was decided about them (for ``Loaded.notes``)."""

    values: pa.ChunkedArray
    kind: str  # integer | float | boolean | date | timestamp | string
    date_format: str | None = None
    thousands: str | None = None
    decimal: str | None = None
    note: str | None = None


def clean_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Strip surrounding spaces (also full-width and no-break spaces); empty strings become null."""
    stripped = pc.utf8_trim_whitespace(col)
    return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)


def _all(col: pa.ChunkedArray, pattern: str) -> bool:
    return bool(pc.all(pc.match_substring_regex(col, pattern), skip_nulls=True).as_py() is not False)


def _any(col: pa.ChunkedArray, pattern: str) -> bool:
    return bool(pc.any(pc.match_substring_regex(col, pattern), skip_nulls=True).as_py())


def _first(col: pa.ChunkedArray, pattern: str) -> str:
    """The first value that matches ``pattern``, quoted, for notes."""
    return repr(pc.filter(col, pc.match_substring_regex(col, pattern)).slice(0, 1).to_pylist()[0])


def _number(col: pa.ChunkedArray, sample: list[str], delimiter: str) -> Typed | None:
    seen: dict[str, bool] = {}

    def fits(rx: str) -> bool:
        if rx not in seen:
            seen[rx] = all(re.match(rx, v) for v in sample) and _all(col, rx)
        return seen[rx]

    if fits(_INT) or fits(_FLOAT):
        if _any(col, _LEADING_ZERO):
            return Typed(
                col, "string", note=f"kept as text: leading zeros such as {_first(col, _LEADING_ZERO)}"
            )
        if fits(_INT) and _any(col, f"^[+-]?[0-9]{{{MAX_DIGITS + 1},}}$"):
            return Typed(
                col, "string", note=f"kept as text: digit strings longer than {MAX_DIGITS} are identifiers"
            )
        if fits(_MOBILE):
            return Typed(col, "string", note="kept as text: every value looks like a mobile number (手机号)")
        if delimiter != "," and not fits(_INT) and fits(_DOT_GROUPS):
            return Typed(
                col, "string", note="kept as text: '.' may be a decimal point or a thousands separator"
            )
        return Typed(
            pc.cast(col, pa.int64() if fits(_INT) else pa.float64()), "integer" if fits(_INT) else "float"
        )
    thousands = fits(_THOUSANDS) and _any(col, ",")
    comma = fits(_DECIMAL_COMMA) and _any(col, ",")
    if thousands and comma and delimiter != ",":
        return Typed(col, "string", note="kept as text: ',' may be a decimal comma or a thousands separator")
    if thousands:
        plain = pc.replace_substring(col, ",", "")
        whole = not _any(plain, r"\.")
        return Typed(
            pc.cast(plain, pa.int64() if whole else pa.float64()),
            "integer" if whole else "float",
            thousands=",",
        )
    if comma:
        plain = pc.replace_substring(pc.replace_substring(col, ".", ""), ",", ".")
        return Typed(
            pc.cast(plain, pa.float64()), "float", thousands="." if _any(col, r"\.") else None, decimal=","
        )
    return None


def _order(col: pa.ChunkedArray, date_order: str) -> tuple[str | None, str | None]:
    """Day/month order of an ``a/b/yyyy`` column: from values above 12, else as given; else why not."""
    parts = pc.extract_regex(col, "^(?P<a>[0-9]+)[^0-9](?P<b>[0-9]+)")
    a_max = pc.max(pc.cast(pc.struct_field(parts, "a"), "int64")).as_py()
    b_max = pc.max(pc.cast(pc.struct_field(parts, "b"), "int64")).as_py()
    seen = "dmy" if a_max > 12 else "mdy" if b_max > 12 else None
    if a_max > 12 and b_max > 12:
        return None, "kept as text: both the first and the second number exceed 12, so these are not dates"
    if date_order in ("dmy", "mdy"):
        return date_order, None
    if seen:
        return seen, None
    return None, (
        "kept as text: day/month order is ambiguous (no value above 12): "
        "pass date_order='dmy' or 'mdy' (CLI: --date-order)"
    )


def _date(col: pa.ChunkedArray, sample: list[str], date_order: str) -> Typed | None:
    for rx, kind in _ISO:
        if all(re.match(rx, v) for v in sample) and _all(col, rx):
            target = {
                "date": pa.date32(),
                "timestamp": pa.timestamp("us"),
                "timestamp-utc": pa.timestamp("us", tz="UTC"),
            }[kind]
            note = "times with a UTC offset, converted to UTC" if kind == "timestamp-utc" else None
            try:
                return Typed(
                    pc.cast(col, target), kind.removesuffix("-utc"), date_format="ISO 8601", note=note
                )
            except pa.ArrowInvalid as exc:
                return Typed(col, "string", note=f"kept as text: not a real date or time ({str(exc)[:120]})")
    for rx, fmt, order in LAYOUTS:
        if not (all(re.match(rx, v) for v in sample) and _all(col, rx)):
            continue
        if order == "?":
            decided, why = _order(col, date_order)
            if decided is None:
                return Typed(col, "string", note=why)
            fmt = (
                fmt.replace("%?", "%d", 1).replace("%?", "%m", 1)
                if decided == "dmy"
                else fmt.replace("%?", "%m", 1).replace("%?", "%d", 1)
            )
        return _parse_layout(col, fmt)
    return _mixed_dates(col, sample)


def _mixed_dates(col: pa.ChunkedArray, sample: list[str]) -> Typed | None:
    """A note when the sample holds dates in several layouts (kept as text: no single rule reads them)."""
    examples: dict[int, str] = {}
    for v in sample:
        rule = next((i for i, rx in enumerate(DATE_RULES) if re.match(rx, v)), None)
        if rule is None:
            return None
        examples.setdefault(rule, v)
    if len(examples) < 2:
        return None
    return Typed(
        col,
        "string",
        note=f"kept as text: dates written in {len(examples)} ways, e.g. {list(examples.values())[:3]}",
    )


def _parse_layout(col: pa.ChunkedArray, fmt: str) -> Typed:
    """Parse with ``fmt``; every value must print back the same (Arrow would read 30 February as 2 March)."""
    parsed = pc.strptime(col, format=fmt, unit="s", error_is_null=True)  # in seconds, %S prints no fraction
    padded = pc.utf8_lower(pc.replace_substring_regex(col, pattern=r"\b([0-9])\b", replacement=r"0\1"))
    same = pc.fill_null(pc.equal(pc.utf8_lower(pc.strftime(parsed, format=fmt, locale="C")), padded), False)
    wrong = pc.and_(pc.is_valid(col), pc.invert(same))
    if pc.any(wrong).as_py():
        bad = pc.filter(col, wrong).slice(0, 1).to_pylist()[0]
        return Typed(col, "string", note=f"kept as text: {bad!r} is not a real date in format {fmt}")
    has_time = "%H" in fmt
    note = "two-digit years read as 1969-2068" if "%y" in fmt else None
    return Typed(
        pc.cast(parsed, pa.timestamp("us") if has_time else pa.date32()),
        "timestamp" if has_time else "date",
        date_format=fmt,
        note=note,
    )


def infer_column(col: pa.ChunkedArray, *, delimiter: str = ",", date_order: str = "auto") -> Typed:
    """The narrowest type every value of a text column agrees with (数据类型推断); text when in doubt."""
    col = clean_text(col)
    present = pc.drop_null(col)
    if len(present) == 0:
        return Typed(col, "string", note="every value is empty")
    sample = [str(v) for v in present.slice(0, 2000).to_pylist()]
    if (
        all(v.lower() in _BOOLEANS for v in sample)
        and pc.all(pc.is_in(pc.utf8_lower(present), BOOL_WORDS)).as_py()
    ):
        truth = pc.is_in(pc.utf8_lower(col), TRUE_WORDS)
        return Typed(pc.if_else(pc.is_valid(col), truth, pa.scalar(None, pa.bool_())), "boolean")
    return _number(col, sample, delimiter) or _date(col, sample, date_order) or Typed(col, "string")
