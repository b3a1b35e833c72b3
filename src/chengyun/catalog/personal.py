"""Personal-data classes of a dataset's columns (个人信息字段): detected on every load, set by hand, revealed on
request with a reason.

The class of each column is kept with the dataset's columns (``Dataset.schema_``: ``personal`` is the class or
None, ``personal_by`` is ``detected`` or ``user``). On every load each column is classified again from a sample of
its values, tested by the identifier validators (``catalog/validators.py``), and from its name; a class set by
hand is kept across loads. Datasets loaded before classes were kept are classified on the fly from their column
names, their quality rules (a ``cn-resident-id`` or ``cn-mobile`` rule) and their profile's min and max.

Decisions:

* A column is a class when at least ``SHARE`` of the sampled non-empty values pass its test — messy extracts hold
  a few malformed numbers, and a column of identity numbers with 2 % typos is still a column of identity numbers.
* Names and addresses have no validator: the column's name decides (姓名, 地址, 住址, 手机 …), unless its values are
  a handful of codes (``Y``/``N`` in ``AddressVerified``) or the name says it is a type or a flag.
* 统一社会信用代码 is a legal person's code (GB 32100), not personal information: it has no class.
* Clearing a class shows the column's values to everyone who reads the dataset, so it needs the reveal permission
  as well as the right to edit the dataset (the views check it; the change is audited either way).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.catalog.masking import CLASSES, EN_STREET
from chengyun.catalog.models import Dataset
from chengyun.catalog.validators import check_mobile, check_resident_id
from chengyun.core.db import utcnow
from chengyun.core.errors import InvalidInput

SAMPLE = 1000  # values read per column on each load, spread over the whole table
SHARE = 0.8  # the share of sampled values that must pass a class's test
REASON_MAX = 500  # characters of a reveal's reason (记录事由)
RULE_CLASSES = {"cn-resident-id": "resident-id", "cn-mobile": "phone"}

_LANDLINE = re.compile(r"0[1-9][0-9]{1,2}[- ][0-9]{7,8}")  # 区号-号码, e.g. 0571-87654321
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_CN_ADDRESS = re.compile(r"(?:省|市|区|县|旗).{0,30}?(?:路|街|道|巷|弄|号|村|组|栋|幢|室|楼)")
_VALUE_TESTS = (
    ("resident-id", lambda s: check_resident_id(s) is None),
    ("phone", lambda s: check_mobile(s) is None or _LANDLINE.fullmatch(s) is not None),
    ("email", lambda s: _EMAIL.fullmatch(s) is not None),
    ("address", lambda s: len(s) <= 100 and (_CN_ADDRESS.search(s) or EN_STREET.match(s)) is not None),
)
# column-name hints, in this order: 联系人电话 is a phone, 申请人地址 an address, before either is a name
_HINTS = (
    ("resident-id", ("身份证", "身份号码", "证件号", "idcard", "id_card", "citizen_id", "resident_id")),
    ("phone", ("手机", "电话", "联系方式", "phone", "mobile", "telephone")),
    ("email", ("邮箱", "电子邮件", "email", "e-mail")),
    ("address", ("地址", "住址", "住所", "居住地", "户籍地", "address")),
    ("name", ("姓名", "联系人", "户主", "法定代表人", "法人代表", "申请人", "举报人", "投诉人", "full_name",
              "fullname", "first_name", "last_name", "surname", "given_name", "contact_name", "person_name")),
)
_NOT_PERSONAL = ("类型", "是否", "type", "verified", "flag")
_TOKENS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def hint(name: str) -> str | None:
    """The class a column's name suggests (``手机号码`` → phone, ``ReportTel`` → phone), or None."""
    low = name.lower()
    if any(w in low for w in _NOT_PERSONAL):
        return None
    for kind, words in _HINTS:
        if any(w in low for w in words):
            return kind
    tokens = {t.lower() for t in _TOKENS.findall(name)}
    return "phone" if "tel" in tokens else None


def _texts(values: Sequence[Any]) -> list[str]:
    out = []
    for v in values:
        if isinstance(v, bool) or v is None:
            continue
        text = v.strip() if isinstance(v, str) else str(v) if isinstance(v, int) else ""
        if text:
            out.append(text)
    return out


def detect(name: str, values: Sequence[Any]) -> str | None:
    """The personal-data class of a column from a sample of its values and its name, or None."""
    texts = _texts(values)
    for kind, test in _VALUE_TESTS:
        if texts and sum(1 for t in texts if test(t)) >= SHARE * len(texts):
            return kind
    hinted = hint(name)
    codes = len(texts) >= 20 and len(set(texts)) <= 3  # a flag or a code, whatever the column is called
    return None if codes else hinted


def _sample(column: pa.ChunkedArray) -> list[Any]:
    """Up to ``SAMPLE`` values spread over the column, nulls left out (text and integers only: the rest has no
    class). The rows are picked before the nulls are dropped, so a large column is never copied."""
    kind = column.type
    if not len(column) or not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                               or pa.types.is_integer(kind)):
        return []
    step = max(1, len(column) // SAMPLE)
    return [v for v in column.take(pa.array(range(0, len(column), step))[:SAMPLE]).to_pylist() if v is not None]


def classify(table: pa.Table, previous: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The columns of a snapshot as ``[{name, type, nullable, personal, personal_by}]``: classes set by hand in
    ``previous`` are kept, the others detected."""
    by_hand = {c["name"]: c.get("personal") for c in previous or [] if c.get("personal_by") == "user"}
    out = []
    for field in table.schema:
        col: dict[str, Any] = {"name": field.name, "type": str(field.type), "nullable": field.nullable}
        if field.name in by_hand:
            col |= {"personal": by_hand[field.name], "personal_by": "user"}
        else:
            col |= {"personal": detect(field.name, _sample(table.column(field.name))), "personal_by": "detected"}
        out.append(col)
    return out


def classes_of(ds: Dataset) -> dict[str, str]:
    """Column name → personal-data class of the dataset's personal columns (the others are left out)."""
    profile = {c["name"]: c for c in (ds.profile or {}).get("columns", [])}
    rules = {r.get("column"): RULE_CLASSES.get(r.get("kind", "")) for r in ds.rules or []}
    out: dict[str, str] = {}
    for c in ds.schema_ or profile.values():
        if "personal" in c and "personal_by" in c:
            kind = c["personal"]
        else:  # a dataset loaded before classes were kept
            stats = profile.get(c["name"], {})
            kind = rules.get(c["name"]) or detect(c["name"], [stats.get("min"), stats.get("max")])
        if kind:
            out[c["name"]] = kind
    return out


def check_class(kind: str | None) -> str | None:
    """``kind`` if it is a class (``none`` and empty: no class), else InvalidInput naming the classes."""
    if kind in (None, "", "none"):
        return None
    if kind not in CLASSES:
        raise InvalidInput(f"personal: {kind!r} is not a personal-data class",
                           fix=f"use one of {', '.join(CLASSES)} or none")
    return kind


def _column(ds: Dataset, column: str) -> dict[str, Any]:
    names = [c["name"] for c in ds.schema_ or []]
    if column not in names:
        raise InvalidInput(f"column: {column!r} is not a column of dataset {ds.name!r}",
                           fix=f"use one of: {', '.join(names) or '(load the data first)'}")
    return next(c for c in ds.schema_ or [] if c["name"] == column)


def lowers_protection(ds: Dataset, column: str, kind: str | None) -> bool:
    """Whether setting ``column`` to ``kind`` would show values that are masked now (a class cleared)."""
    return kind is None and column in classes_of(ds)


def set_class(session: Session, ds: Dataset, *, column: str, kind: str | None,
              actor: str | None = None) -> dict[str, Any]:
    """Set a column's personal-data class by hand (kept across loads); None clears it. Audited."""
    kind = check_class(kind)
    _column(ds, column)
    current = classes_of(ds)
    before = current.get(column)
    schema = []
    for c in ds.schema_ or []:  # a new list: the JSON column is saved only when it is replaced
        c = dict(c)
        c.setdefault("personal", current.get(c["name"]))
        c.setdefault("personal_by", "detected")
        if c["name"] == column:
            c |= {"personal": kind, "personal_by": "user"}
        schema.append(c)
    ds.schema_, ds.updated_at = schema, utcnow()
    session.flush()
    audit.record(session, "dataset.personal", target_type="dataset", target_id=ds.id, tenant_id=ds.tenant_id,
                 detail={"column": column, "before": before, "after": kind}, actor=actor)
    return next(c for c in schema if c["name"] == column)


def reveal(session: Session, ds: Dataset, *, reason: str, columns: list[str] | None = None,
           actor: str | None = None) -> list[str]:
    """Record a reveal of personal columns (查看明文) with its reason and return the columns; the caller's right
    to reveal is checked before (the views: ``data.reveal`` on the dataset's unit)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("reason: say why the values are needed (查看事由)",
                           fix="give a reason, e.g. 核验举报人身份 (case 12345)")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"reason: {len(reason)} characters, at most {REASON_MAX}", fix="say it shorter")
    classes = classes_of(ds)
    if not classes:
        raise InvalidInput(f"dataset {ds.name!r} has no personal columns: nothing is masked",
                           fix="read it without revealing")
    chosen = sorted(classes) if not columns else list(dict.fromkeys(columns))
    unknown = [c for c in chosen if c not in classes]
    if unknown:
        raise InvalidInput(f"columns: {', '.join(unknown)} not personal columns of dataset {ds.name!r}",
                           fix=f"choose among: {', '.join(sorted(classes))}")
    audit.record(session, "dataset.reveal", target_type="dataset", target_id=ds.id, tenant_id=ds.tenant_id,
                 detail={"columns": chosen, "reason": reason}, actor=actor)
    return chosen
