"""Masking of personal data (个人信息去标识化展示): the one place where a value of a column classified as personal
is masked before it leaves the server — profiles, failed-rule samples, shared rows, API answers, console pages and
command output all call ``mask`` through ``mask_profile``, ``mask_rows`` or ``mask_report``.

Forms (the common 脱敏 forms of Chinese government systems):

* ``resident-id`` 身份证号: the first 6 (the region) and the last 4 characters kept, ``110105********1234``;
* ``phone`` 电话号码: the first 3 and the last 4 digits kept, ``138****5678``;
* ``name`` 姓名: the first character (the surname) kept, ``张*``, ``张**``;
* ``address`` 地址: kept up to the district (区/县) or street (街道/镇/乡) level, the rest starred (an English
  address loses its house number and street: ``****  Boston  MA  02113``);
* ``email`` 电子邮箱: the first character of the mailbox and the domain, ``a***@example.cn``.

A value too short or too irregular for its form is starred whole: masking never shows more than the form allows.
统一社会信用代码 identifies a legal person (法人), not a natural person: it is not personal information under the
个人信息保护法 and is never masked.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from functools import partial
from typing import Any

from chengyun.catalog.validators import check_mobile, normalise_mobile

CLASSES: dict[str, tuple[str, str]] = {  # kind: (中文, English)
    "resident-id": ("身份证号", "Resident identity number"),
    "phone": ("电话号码", "Phone number"),
    "name": ("姓名", "Personal name"),
    "address": ("地址", "Address"),
    "email": ("电子邮箱", "Email address"),
}
STAR = "*"
ADDRESS_REST = "****"  # a fixed run: the length of the hidden part says nothing either
# administrative levels of an address, outermost first; a level's marker must close within the window after the
# previous one, so a road named 新区路 deep in the street part does not count as a district
_LEVELS = (("省", "自治区"), ("市", "自治州", "地区", "盟"), ("区", "县", "旗"), ("街道", "镇", "乡"))
_WINDOW = 12
_NOT_DISTRICT = ("小区", "社区", "园区", "景区", "校区", "厂区")  # 区 that names a place below the street


def _stars(n: int) -> str:
    return STAR * max(n, 1)


def mask_resident_id(s: str) -> str:
    """``110105********1234``: region and the last four kept."""
    return s[:6] + _stars(len(s) - 10) + s[-4:] if len(s) >= 15 else _stars(len(s))


def mask_phone(s: str) -> str:
    """``138****5678``; other numbers keep their first 3 and last 4 characters when long enough."""
    if check_mobile(s) is None:
        n = normalise_mobile(s)
        return n[:3] + "****" + n[-4:]
    return s[:3] + _stars(len(s) - 7) + s[-4:] if len(s) >= 10 else _stars(len(s))


def mask_name(s: str) -> str:
    """``张*``, ``欧**``: the first character kept."""
    s = s.strip()
    return s[:1] + _stars(len(s) - 1) if s else s


def _level_end(s: str, start: int, markers: tuple[str, ...]) -> int | None:
    """Where the first marker of a level closes in ``s[start:start + _WINDOW]``, or None."""
    best: int | None = None
    for m in markers:
        i = s.find(m, start, start + _WINDOW + len(m))
        while i != -1 and m == "区" and any(s.startswith(w, i - 1) for w in _NOT_DISTRICT):
            i = s.find(m, i + 1, start + _WINDOW + len(m))
        if i != -1 and (best is None or i + len(m) < best):
            best = i + len(m)
    return best


# a house number and a street (``42 Cross St``): the part of an English address that finds the door
EN_STREET = re.compile(r"^\s*\d+[A-Za-z]?(?:-\d+)?\s+[^,]*?\b(?:St|Ave|Rd|Blvd|Dr|Way|Pl|Ln|Ct|Ter|Pkwy|Sq|Hwy|"
                       r"Street|Avenue|Road|Boulevard|Drive|Place|Lane|Court)\b\.?", re.IGNORECASE)


def mask_address(s: str) -> str:
    """The address up to its district or street (``临江市东区滨江街道****``); an English one without its house
    number and street (``****  Boston  MA  02113``); anything else starred whole."""
    s = s.strip()
    street = EN_STREET.match(s)
    if street:
        return ADDRESS_REST + s[street.end():]
    kept = 0
    for markers in _LEVELS:
        end = _level_end(s, kept, markers)
        if end is not None:
            kept = end
    if kept == 0:
        return ADDRESS_REST
    return s[:kept] + (ADDRESS_REST if kept < len(s) else "")


def mask_email(s: str) -> str:
    """``a***@example.cn``."""
    local, at, domain = s.strip().rpartition("@")
    return local[:1] + "***@" + domain if at and local and domain else _stars(len(s))


_FORMS = {"resident-id": mask_resident_id, "phone": mask_phone, "name": mask_name, "address": mask_address,
          "email": mask_email}


def mask(value: Any, kind: str | None) -> Any:
    """``value`` in its masked form for the personal-data class ``kind``; None and non-personal values unchanged.
    Numbers (a phone read from Excel as an integer) come back as masked text."""
    if value is None or kind is None:
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = value if isinstance(value, str) else str(value)
    return _FORMS[kind](text) if text.strip() else text


def mask_rows(rows: list[dict[str, Any]], classes: Mapping[str, str],
              reveal: Collection[str] = ()) -> list[dict[str, Any]]:
    """Rows with every personal column masked, except the ``reveal`` columns."""
    hidden = {c: k for c, k in classes.items() if c not in reveal}
    if not hidden:
        return rows
    return [{c: mask(v, hidden.get(c)) for c, v in row.items()} for row in rows]


_NUMERIC = ("sum", "mean", "stddev")  # a sum or mean of phone numbers is itself a clue, with one row the value


def mask_profile(profile: Mapping[str, Any] | None, classes: Mapping[str, str],
                 reveal: Collection[str] = ()) -> dict[str, Any]:
    """A profile (数据画像) whose personal columns show masked min and max and no sums; every column says its
    class (``personal``) and whether it is ``masked``."""
    out = dict(profile or {"rows": 0, "columns": []})
    columns = []
    for c in out.get("columns", []):
        kind = classes.get(c["name"])
        hidden = kind is not None and c["name"] not in reveal
        c = dict(c) | {"personal": kind, "masked": hidden}
        if hidden:
            c |= {"min": mask(c.get("min"), kind), "max": mask(c.get("max"), kind)}
            c |= {k: None for k in _NUMERIC if k in c}
        columns.append(c)
    out["columns"] = columns
    return out


def mask_report(report: Mapping[str, Any] | None, classes: Mapping[str, str],
                reveal: Collection[str] = ()) -> dict[str, Any] | None:
    """A quality report whose failed-rule samples have their personal columns masked."""
    if report is None:
        return None
    rules = [dict(r) | {"samples": mask_rows(list(r.get("samples") or []), classes, reveal)}
             for r in report.get("rules", [])]
    return dict(report) | {"rules": rules}


_TOKEN = re.compile(r"[0-9A-Za-z+@._-]*[0-9][0-9A-Za-z+@._-]*")


def _mask_token(found: re.Match[str], kind: str) -> str:
    token = found.group(0)
    return str(mask(token, kind)) if sum(c.isdigit() for c in token) >= 4 else token


def mask_notes(notes: Mapping[str, Any] | None, classes: Mapping[str, str]) -> dict[str, Any]:
    """Load notes whose column notes quote no value of a personal column in clear (``leading zeros such as
    05718765432`` names one): every token with four or more digits in them is masked."""
    out = dict(notes or {})
    column_notes = dict(out.get("column_notes") or {})
    for column, note in column_notes.items():
        kind = classes.get(column)
        if kind and isinstance(note, str):
            column_notes[column] = _TOKEN.sub(partial(_mask_token, kind=kind), note)
    if column_notes:
        out["column_notes"] = column_notes
    return out


def class_label(kind: str | None, lang: str = "zh") -> str:
    """The class in words (``身份证号``, ``Phone number``), ``—`` for none."""
    if kind is None:
        return "—"
    zh, en = CLASSES.get(kind, (kind, kind))
    return en if lang == "en" else zh

