"""Built-in validators for Chinese identifiers (身份证号, 统一社会信用代码, 手机号) used by data-quality rules.

Each validator has two forms that agree row by row: a Python ``check_*`` returning ``None`` or a short reason,
and an Ibis ``*_valid`` builder (no UDFs, so it runs on DuckDB and Spark) whose result is null for null input:
every term of the conjunction reads the column, so none is false for a null and SQL's ``null AND false = false``
never applies (a test pins this); not-null is a separate rule.

Decisions:

* GB/T 36344 dimension: all three are **conformity (规范性)**, the "数据标准" indicator — they test that a value
  follows a published coding standard (GB 11643, GB 32100, the MIIT numbering plan). Whether the number belongs
  to the right person or body is accuracy (准确性), which no syntactic check can establish.
* Identifiers are not cleaned before checking: lowercase ``x``, surrounding whitespace and full-width digits all
  fail (GB 11643 prints an uppercase X; cleansing belongs to a transform, not to a check).
* Region codes of 居民身份证号: the province-level codes of GB/T 2260 (11–15, 21–23, 31–37, 41–46, 50–54, 61–65,
  71 Taiwan, 81 Hong Kong, 82 Macao) plus 83, used by 港澳台居民居住证 numbers, which share the GB 11643 layout
  and are stored in the same fields.
* Birth dates are checked arithmetically (month, days in month, Gregorian leap years) on year, month and day read
  as integers (``try_cast``: null where they are not digits, never an error, on DuckDB and Spark alike) rather
  than by casting to a date, because compact ``YYYYMMDD`` strings parse differently across engines. A null there
  only happens when the shape test is already false, so the conjunction stays false, not null. The upper bound
  is ``today`` (default: the Python clock when the check or expression is built).
* The Ibis forms test length, alphabet and code lists (regions, authority and type) in one anchored regular
  expression rather than with ``IN`` lists, which DuckDB plans as joins.
* 手机号: ASCII spaces and hyphens are removed anywhere, then one ``+86`` prefix (or ``86`` when 13 digits are
  left); what remains must be ``1[3-9]`` and nine more ASCII digits. ``0086``, brackets and tabs are rejected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import reduce

import ibis
import ibis.expr.types as ir

DIGITS = "0123456789"
# ISO 7064 MOD 11-2 weights: 2**(17-i) mod 11
RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_CHECK = "10X98765432"  # check character for weighted sum mod 11 = 0, 1, 2, ...
_PROVINCE_NUMBERS = [
    *range(11, 16),
    *range(21, 24),
    *range(31, 38),
    *range(41, 47),
    *range(50, 55),
    *range(61, 66),
]
PROVINCES = frozenset(str(n) for n in [*_PROVINCE_NUMBERS, 71, 81, 82, 83])
EARLIEST_BIRTH = date(1900, 1, 1)

CREDIT_ALPHABET = (
    "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, Z, S, V; a character's value is its index
)
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3**i mod 31
# 登记管理部门代码 → allowed 机构类别代码 (GB 32100-2015 Table 1 and the later assignments: 2 外交, 3 司法行政,
# 4 文化, 6 旅游, 7 宗教, 8 工会, A 中央军委改革和编制办公室, N 农业). Amend here when new ones are published.
CREDIT_TYPES = {
    "1": "1239",
    "2": "19",
    "3": "123459",
    "4": "19",
    "5": "1239",
    "6": "129",
    "7": "129",
    "8": "19",
    "9": "123",
    "A": "19",
    "N": "1239",
    "Y": "1",
}
_CREDIT_CHAR = "[0-9A-HJ-NPQRTUWXY]"


def _one_of(codes: list[str]) -> str:
    return "(?:" + "|".join(sorted(codes)) + ")"


# The whole shape of each identifier as one anchored expression, code lists included: a long ``IN`` list is
# planned by DuckDB as a join, which costs more than the regular expression and stops a LIMIT from ending a scan.
_RESIDENT_SHAPE = r"\A" + _one_of(list(PROVINCES)) + r"[0-9]{15}[0-9X]\z"
_CREDIT_SHAPE = (r"\A" + _one_of([a + t for a, types in CREDIT_TYPES.items() for t in types]) + "[0-9]{6}"
                 + _CREDIT_CHAR + r"{10}\z")


def _ascii_digits(s: str) -> bool:
    return re.fullmatch("[0-9]*", s) is not None  # not str.isdigit(): that accepts full-width digits


def _birth_reason(ymd: str, today: date) -> str | None:
    try:
        born = date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
    except ValueError:
        return f"birth date {ymd} is not a date"
    if not EARLIEST_BIRTH <= born <= today:
        return f"birth date {ymd} is outside 1900-01-01..{today.isoformat()}"
    return None


def resident_check_char(body: str) -> str:
    """The GB 11643 check character (校验码) for the first 17 digits."""
    return RESIDENT_CHECK[sum(int(c) * w for c, w in zip(body[:17], RESIDENT_WEIGHTS, strict=True)) % 11]


def check_resident_id(s: str, *, today: date | None = None) -> str | None:
    """Why ``s`` is not a valid 居民身份证号码 (GB 11643), or None when it is."""
    if len(s) == 15 and _ascii_digits(s):
        return "15-digit legacy number"
    if len(s) != 18:
        return f"must be 18 characters, got {len(s)}"
    if not _ascii_digits(s[:17]):
        return "characters 1-17 must be digits 0-9"
    if s[17] == "x":
        return "check character must be uppercase X"
    if s[17] not in RESIDENT_CHECK:
        return "check character must be 0-9 or X"
    if s[:2] not in PROVINCES:
        return f"region {s[:2]} unknown"
    if reason := _birth_reason(s[6:14], today or date.today()):
        return reason
    expected = resident_check_char(s)
    return None if s[17] == expected else f"check digit should be {expected}"


def credit_check_char(body: str) -> str:
    """The GB 32100 check character (校验码) for the first 17 characters."""
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(body[:17], CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[-total % 31]


def check_credit_code(s: str) -> str | None:
    """Why ``s`` is not a valid 统一社会信用代码 (GB 32100), or None when it is."""
    if len(s) != 18:
        return f"must be 18 characters, got {len(s)}"
    bad = next((i for i, c in enumerate(s) if c not in CREDIT_ALPHABET), None)
    if bad is not None:
        return f"character {s[bad]!r} at position {bad + 1} is not allowed (0-9, A-Z without I, O, Z, S, V)"
    if s[0] not in CREDIT_TYPES:
        return f"registration authority {s[0]} unknown"
    if s[1] not in CREDIT_TYPES[s[0]]:
        return f"organisation type {s[1]} not allowed for registration authority {s[0]}"
    if not _ascii_digits(s[2:8]):
        return f"registration region {s[2:8]} must be 6 digits"
    expected = credit_check_char(s)
    return None if s[17] == expected else f"check character should be {expected}"


def normalise_mobile(s: str) -> str:
    """``s`` without spaces, hyphens and one leading ``+86`` (or ``86`` when 13 digits are left)."""
    t = s.replace(" ", "").replace("-", "")
    if t.startswith("+86"):
        return t[3:]
    return t[2:] if len(t) == 13 and t.startswith("86") else t


def check_mobile(s: str) -> str | None:
    """Why ``s`` is not a valid mainland 手机号码, or None when it is."""
    t = normalise_mobile(s)
    if not _ascii_digits(t):
        return "only digits 0-9, spaces, hyphens and a leading +86 are allowed"
    if len(t) != 11:
        return f"must be 11 digits after removing +86, got {len(t)}"
    if t[0] != "1" or t[1] not in "3456789":
        return "must start with 1 and a second digit 3-9"
    return None


def _value(col: ir.StringValue, i: int, alphabet: str) -> ir.IntegerValue:
    """The index in ``alphabet`` of character ``i`` (0-based) of ``col``; -1 when absent."""
    return ibis.literal(alphabet).find(col.substr(i, 1))


def _weighted(col: ir.StringValue, weights: tuple[int, ...], alphabet: str) -> ir.IntegerValue:
    terms = [_value(col, i, alphabet) * w for i, w in enumerate(weights)]
    return reduce(lambda a, b: a + b, terms)


def _birth_valid(col: ir.StringValue, today: date) -> ir.BooleanValue:
    """Whether characters 7-14 of ``col`` are a real date in 1900-01-01..today, computed arithmetically from the
    year, month and day each read by one cast (not a lookup per digit, nor a division: both cost more)."""
    y, m, d = (col.substr(start, width).try_cast("int32") for start, width in ((6, 4), (10, 2), (12, 2)))
    ymd = y * 10000 + m * 100 + d
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = ibis.cases((m == 2, leap.ifelse(29, 28)), (m.isin([4, 6, 9, 11]), 30), else_=31)
    bounds = (int(EARLIEST_BIRTH.strftime("%Y%m%d")), int(today.strftime("%Y%m%d")))
    return m.between(1, 12) & (d >= 1) & (d <= days) & ymd.between(*bounds)


def resident_id_valid(col: ir.StringValue, *, today: date | None = None) -> ir.BooleanValue:
    """Whether each value is a valid 居民身份证号码 (GB 11643), as ``check_resident_id`` decides; null stays null."""
    shape = col.re_search(_RESIDENT_SHAPE)  # length, digits, check character and region at once
    check = (
        ibis.literal(RESIDENT_CHECK).find(col.substr(17, 1)) == _weighted(col, RESIDENT_WEIGHTS, DIGITS) % 11
    )
    return shape & _birth_valid(col, today or date.today()) & check


def credit_code_valid(col: ir.StringValue) -> ir.BooleanValue:
    """Whether each value is a valid 统一社会信用代码 (GB 32100), as ``check_credit_code`` decides; null stays null."""
    shape = col.re_search(_CREDIT_SHAPE)  # length, alphabet, authority and type at once
    total = _weighted(col, CREDIT_WEIGHTS, CREDIT_ALPHABET)
    check = _value(col, 17, CREDIT_ALPHABET) == (31 - total % 31) % 31
    return shape & check


def mobile_valid(col: ir.StringValue) -> ir.BooleanValue:
    """Whether each value is a valid 手机号码 after normalising, as ``check_mobile`` decides; null stays null.

    One anchored expression after removing spaces and hyphens: an optional ``+86`` or ``86`` and the eleven
    digits. It accepts what ``check_mobile`` accepts (``86`` is only stripped when 13 digits are left, and an
    11-digit number cannot start with 8), at a quarter of the cost of normalising in steps."""
    return col.replace(" ", "").replace("-", "").re_search(r"\A(?:\+86|86)?1[3-9][0-9]{9}\z")


@dataclass(frozen=True)
class Validator:
    """One built-in identifier check: a Python function and an Ibis builder that agree row by row."""

    kind: str
    name: str
    name_zh: str
    dimension: str  # GB/T 36344: "conformity" (规范性) or "accuracy" (准确性)
    check: Callable[[str], str | None]
    build: Callable[[ir.StringValue], ir.BooleanValue]


DIMENSIONS = {"conformity": "规范性", "accuracy": "准确性"}

VALIDATORS: dict[str, Validator] = {
    v.kind: v
    for v in (
        Validator(
            kind="cn-resident-id",
            name="Resident identity card number",
            name_zh="居民身份证号码",
            dimension="conformity",
            check=check_resident_id,
            build=resident_id_valid,
        ),
        Validator(
            kind="cn-credit-code",
            name="Unified social credit code",
            name_zh="统一社会信用代码",
            dimension="conformity",
            check=check_credit_code,
            build=credit_code_valid,
        ),
        Validator(
            kind="cn-mobile",
            name="Mobile phone number",
            name_zh="手机号码",
            dimension="conformity",
            check=check_mobile,
            build=mobile_valid,
        ),
    )
}
