"""One entry of the government data resource catalogue (政务数据资源目录条目) and the vocabularies of its coded
fields: sharing type (共享类型), opening type (开放类型) and update cycle (更新周期).

What the entry holds follows the core metadata that Chinese catalogue guidance asks of each resource — name,
code, provider, summary, format, sharing and opening attributes, update cycle, publication date and related
items. The project's reference folder has no text of GB/T 21063 or of the 编制指南, so the resource code is
validated loosely (any non-blank single-line string): real DCAT identifiers are URIs and must pass unchanged.

Decisions:

* Coded fields store stable English keys; every parser also takes the Chinese terms users type (``"无条件共享"``,
  ``"有条件"``, ``"每季度"``) and, for the update cycle, the EU frequency vocabulary, Dublin Core ``freq`` terms
  and the ISO 8601 repeating durations of Project Open Data (``R/P1M``).
* ``sharing_condition`` is 共享条件 for 有条件共享, or the basis for 不予共享. It is not required (imported
  catalogues rarely carry it) but is refused on 无条件共享, where a condition contradicts the type.
* Update cycles longer than a year have no key: they read as ``irregular``, so a freshness check never calls a
  five-yearly dataset stale after one year. ``realtime`` is given one hour by :func:`cycle_days`.
* The vocabularies both exchange formats share live here too (EU frequency codes, EU access rights read as
  sharing and opening types, IANA media types shortened to a 资源格式); ``catalog.dcat`` documents the mapping.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from chengyun.core.errors import InvalidInput

SharingType = Literal["unconditional", "conditional", "none"]
OpenType = Literal["open", "conditional", "closed"]
UpdateCycle = Literal["realtime", "daily", "weekly", "monthly", "quarterly", "semiannual", "yearly", "irregular"]

LABELS: dict[str, str] = {
    "code": "资源代码",
    "name": "资源名称",
    "provider": "资源提供方",
    "summary": "资源摘要",
    "format": "资源格式",
    "sharing_type": "共享类型",
    "sharing_condition": "共享条件",
    "open_type": "开放类型",
    "update_cycle": "更新周期",
    "published": "发布日期",
    "related_services": "关联事项",
    "keywords": "关键字",
    "themes": "主题分类",
    "landing_page": "资源主页",
    "distributions": "数据分发",
}

VALUE_LABELS: dict[str, dict[str, str]] = {
    "sharing_type": {"unconditional": "无条件共享", "conditional": "有条件共享", "none": "不予共享"},
    "open_type": {"open": "无条件开放", "conditional": "有条件开放", "closed": "不予开放"},
    "update_cycle": {"realtime": "实时", "daily": "每日", "weekly": "每周", "monthly": "每月", "quarterly": "每季度",
                     "semiannual": "每半年", "yearly": "每年", "irregular": "不定期"},
}

_SHARING_WORDS = {
    "unconditional": ["无条件共享", "无条件"],
    "conditional": ["有条件共享", "有条件", "部门间有条件共享"],
    "none": ["不予共享", "不共享", "不予", "非共享"],
}
_OPEN_WORDS = {
    "open": ["无条件开放", "开放", "向社会开放", "是"],
    "conditional": ["有条件开放", "依申请开放"],
    "closed": ["不予开放", "不开放", "非开放", "否"],
}
# Every spelling of a cycle, lower-cased: keys, Chinese, English, EU frequency codes (publications.europa.eu
# authority table "frequency"), Dublin Core freq terms and Project Open Data ISO 8601 repeating durations.
_CYCLE_WORDS: dict[str, list[str]] = {
    "realtime": ["实时", "实时更新", "real-time", "real time", "continuous", "continuously", "update_cont", "cont",
                 "1min", "5min", "10min", "15min", "30min", "hourly", "bihourly", "trihourly", "r/pt1s", "r/pt1h"],
    "daily": ["每日", "每天", "日", "日更新", "day", "12hrs", "daily_2", "r/p1d"],
    "weekly": ["每周", "周", "week", "weekly_2", "weekly_3", "biweekly", "semiweekly", "threetimesaweek",
               "r/p1w", "r/p2w", "r/p3.5d", "r/p0.33w"],
    "monthly": ["每月", "月", "month", "monthly_2", "monthly_3", "semimonthly", "threetimesamonth",
                "r/p1m", "r/p0.5m", "r/p0.33m"],
    "quarterly": ["每季度", "每季", "季度", "quarter", "bimonthly", "annual_3", "threetimesayear",
                  "r/p3m", "r/p2m", "r/p4m"],
    "semiannual": ["每半年", "半年", "semi-annual", "semiannually", "annual_2", "r/p6m"],
    "yearly": ["每年", "年", "年度", "annual", "annually", "year", "r/p1y"],
    "irregular": ["不定期", "不定时", "按需", "irreg", "as_needed", "not_planned", "notplanned", "biennial",
                  "triennial", "quadrennial", "quinquennial", "decennial", "bidecennial", "tridecennial",
                  "r/p2y", "r/p3y", "r/p4y", "r/p10y"],
}
_CYCLE_DAYS: dict[str, float | None] = {"realtime": 1 / 24, "daily": 1.0, "weekly": 7.0, "monthly": 30.0,
                                        "quarterly": 90.0, "semiannual": 182.0, "yearly": 365.0, "irregular": None}


def _lookup(table: dict[str, list[str]], keys: tuple[str, ...]) -> dict[str, str]:
    """Spelling → key for a vocabulary, keys and Chinese labels included."""
    out = {k: k for k in keys}
    for key, words in table.items():
        out.update({w.lower(): key for w in words})
    return out


_SHARING = _lookup(_SHARING_WORDS, get_args(SharingType))
_OPEN = _lookup(_OPEN_WORDS, get_args(OpenType))
_CYCLE = _lookup(_CYCLE_WORDS, get_args(UpdateCycle))


def _parse(value: Any, table: dict[str, str], labels: dict[str, str], field: str) -> str:
    """The key for ``value`` in ``table``, or a ValueError listing the accepted values."""
    text = "" if value is None else str(value).strip().lower()
    if not text:
        raise ValueError(f"{field} is required")
    if text in table:
        return table[text]
    accepted = ", ".join(f"{k} ({labels[k]})" for k in labels)
    raise ValueError(f"unknown {field} {value!r}; use one of {accepted}")


def parse_sharing_type(value: Any) -> str:
    """共享类型: ``unconditional`` / ``conditional`` / ``none`` from a key or a Chinese term (无条件共享 …)."""
    return _parse(value, _SHARING, VALUE_LABELS["sharing_type"], "sharing type")


def parse_open_type(value: Any) -> str:
    """开放类型: ``open`` / ``conditional`` / ``closed`` from a key or a Chinese term (无条件开放 …)."""
    return _parse(value, _OPEN, VALUE_LABELS["open_type"], "open type")


def frequency_token(value: str) -> str:
    """The comparable part of a frequency spelling: an ISO 8601 ``R/P…`` as is, else the last IRI segment."""
    text = value.strip()
    if text.upper().startswith("R/P"):
        return text.lower()
    return re.split(r"[/#]", text.rstrip("/#"))[-1].lower() if "://" in text else text.lower()


def parse_update_cycle(value: Any) -> str:
    """更新周期 key from a key, a Chinese term (每月), an EU or Dublin Core frequency IRI or code, or ``R/P1M``."""
    return _parse(frequency_token(str(value)), _CYCLE, VALUE_LABELS["update_cycle"], "update cycle")


def cycle_days(cycle: str | None) -> float | None:
    """Nominal days between updates of a cycle (any spelling); ``None`` for irregular or no cycle."""
    return None if cycle is None else _CYCLE_DAYS[parse_update_cycle(cycle)]


_DATE = re.compile(r"^\s*(\d{4})\s*[-/年.]\s*(\d{1,2})\s*[-/月.]\s*(\d{1,2})\s*日?")


def parse_day(value: Any) -> date | None:
    """A date from a date, a datetime, ``2024-05-01``, ``2024-05-01T08:00:00Z``, ``2024/5/1`` or ``2024年5月1日``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    found = _DATE.match(str(value))
    if not found:
        raise ValueError(f"not a date: {value!r}; write it as YYYY-MM-DD")
    return date(*(int(g) for g in found.groups()))


# --- exchange vocabularies: EU frequency and access-right tables, IANA media types --------------------------

FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
ACCESS_RIGHT = "http://publications.europa.eu/resource/authority/access-right/"
MEDIA_TYPE = "http://www.iana.org/assignments/media-types/"
_FREQUENCY_CODES = {"realtime": "UPDATE_CONT", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY",
                    "quarterly": "QUARTERLY", "semiannual": "ANNUAL_2", "yearly": "ANNUAL", "irregular": "IRREG"}
_ACCESS_OUT = {"open": "PUBLIC", "conditional": "RESTRICTED", "closed": "NON_PUBLIC"}
_ACCESS_IN = {"PUBLIC": ("unconditional", "open"), "RESTRICTED": ("conditional", "conditional"),
              "NON_PUBLIC": ("conditional", "closed")}
_SHORT_FORMATS = {"text/csv": "CSV", "application/json": "JSON", "application/ld+json": "JSON-LD",
                  "application/geo+json": "GeoJSON", "application/xml": "XML", "text/xml": "XML",
                  "application/pdf": "PDF", "text/html": "HTML", "application/zip": "ZIP", "text/plain": "TXT",
                  "application/vnd.ms-excel": "XLS", "application/rdf+xml": "RDF", "text/turtle": "TTL",
                  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX"}


def short_format(raw: str | None) -> str | None:
    """资源格式 from a distribution's format or media type: ``text/csv`` or ``…/file-type/CSV`` → ``CSV``."""
    if not raw:
        return None
    value = media_type(raw) or raw
    if "/file-type/" in value:
        return value.rstrip("/").rsplit("/", 1)[-1]
    mapped = _SHORT_FORMATS.get(value.split(";")[0].strip().lower())
    if mapped:
        return mapped
    return value.upper() if re.fullmatch(r"[A-Za-z0-9]{1,10}", value) else value


def media_type(raw: str | None) -> str | None:
    """A media type without the IANA IRI prefix."""
    return re.sub(r"^https?://(www\.)?iana\.org/assignments/media-types/", "", raw) if raw else None


def first_cycle(values: list[str]) -> str | None:
    """The first frequency that maps to an update cycle (any spelling); unknown ones are ignored."""
    for value in values:
        try:
            return parse_update_cycle(value)
        except ValueError:
            continue
    return None


def frequency_iri(cycle: str) -> str:
    """The EU frequency IRI written for an update cycle key."""
    return FREQUENCY + _FREQUENCY_CODES[cycle]


def access_types(value: str | None) -> tuple[str, str | None]:
    """(sharing type, open type) read from an access-rights IRI or code; see the module docstring."""
    token = re.split(r"[/#]", (value or "").rstrip("/"))[-1].upper().replace("-", "_")
    return _ACCESS_IN.get(token, ("conditional", None))


def access_right(entry: CatalogEntry) -> str | None:
    """The EU access-right IRI an entry is published with, if any."""
    if entry.open_type:
        return ACCESS_RIGHT + _ACCESS_OUT[entry.open_type]
    return ACCESS_RIGHT + "NON_PUBLIC" if entry.sharing_type == "none" else None


def issued_day(value: Any) -> Any:
    """A date text with a bare year or year-month completed to its first day; anything else as given."""
    text = value.strip() if isinstance(value, str) else ""
    if re.fullmatch(r"\d{4}(-\d{2})?", text):
        return text + ("-01" if len(text) == 7 else "-01-01")
    return value


def _clean(value: Any) -> Any:
    """Strip a string (a number becomes its text, as JSON sources write codes both ways); blank becomes None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _clean_list(value: Any) -> Any:
    """A list of stripped, non-blank strings without repeats, order kept; a single string becomes a list."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return value
    out: list[Any] = []
    for item in value:
        item = _clean(item)
        if item is not None and item not in out:
            out.append(item)
    return out


Text = Annotated[str | None, BeforeValidator(_clean)]
Texts = Annotated[list[str], BeforeValidator(_clean_list)]


class Distribution(BaseModel):
    """One way to get the data (数据分发): a download, a page or an API, with its format."""

    model_config = ConfigDict(extra="forbid")

    title: Text = None
    download_url: Text = None
    access_url: Text = None
    media_type: Text = None  # IANA media type, e.g. text/csv
    format: Text = None  # as the source writes it, e.g. CSV, API

    def is_empty(self) -> bool:
        """Whether nothing at all is known about this distribution."""
        return not any(self.model_dump().values())


class CatalogEntry(BaseModel):
    """One resource of the government data resource catalogue (政务数据资源目录条目)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=2048)  # 资源代码; a DCAT identifier may be a URI
    name: str = Field(max_length=500)  # 资源名称
    provider: Text = None  # 资源提供方: department id or name
    summary: Text = None  # 资源摘要
    format: Text = None  # 资源格式: CSV, XLSX, API, DB …
    sharing_type: SharingType  # 共享类型
    sharing_condition: Text = None  # 共享条件 (有条件共享), or the basis for 不予共享
    open_type: OpenType | None = None  # 开放类型
    update_cycle: UpdateCycle | None = None  # 更新周期
    published: date | None = None  # 发布日期
    related_services: Texts = []  # 关联事项/系统
    keywords: Texts = []
    themes: Texts = []
    landing_page: Text = None
    distributions: list[Distribution] = []

    @field_validator("code", "name", mode="before")
    @classmethod
    def _required_text(cls, value: Any) -> Any:
        """Required single-line text: stripped, not blank."""
        value = _clean(value)
        if value is None:
            raise ValueError("is required and may not be blank")
        if isinstance(value, str) and re.search(r"[\x00-\x1f]", value):
            raise ValueError("may not contain line breaks or control characters")
        return value

    @field_validator("sharing_type", mode="before")
    @classmethod
    def _sharing(cls, value: Any) -> Any:
        return parse_sharing_type(value)

    @field_validator("open_type", mode="before")
    @classmethod
    def _open(cls, value: Any) -> Any:
        return None if _clean(value) is None else parse_open_type(value)

    @field_validator("update_cycle", mode="before")
    @classmethod
    def _cycle(cls, value: Any) -> Any:
        return None if _clean(value) is None else parse_update_cycle(value)

    @field_validator("published", mode="before")
    @classmethod
    def _published(cls, value: Any) -> Any:
        return parse_day(value)

    @field_validator("distributions", mode="after")
    @classmethod
    def _no_empty(cls, value: list[Distribution]) -> list[Distribution]:
        return [d for d in value if not d.is_empty()]

    @model_validator(mode="after")
    def _condition_fits_type(self) -> CatalogEntry:
        if self.sharing_type == "unconditional" and self.sharing_condition:
            raise ValueError("sharing_condition (共享条件) is given but sharing_type is unconditional (无条件共享); "
                             "drop the condition or make the type conditional")
        return self

    def label(self, field: str) -> str:
        """The Chinese label of a field's value (``sharing_type`` → 有条件共享), or the value as text."""
        value = getattr(self, field)
        if value is None:
            return ""
        return VALUE_LABELS[field].get(value, value) if field in VALUE_LABELS else str(value)


def _describe(record: str, error: Any, terms: dict[str, str]) -> str:
    """One pydantic error as 'record …: field (中文, source term): what is wrong'."""
    loc = [str(p) for p in error["loc"]]
    msg = str(error["msg"]).removeprefix("Value error, ")
    if not loc:
        return f"{record}: {msg}"
    field = loc[0]
    where = ".".join(loc)
    source_term = f", {terms[field]}" if field in terms else ""
    return f"{record}: {where} ({LABELS.get(field, field)}{source_term}) {msg}"


def validate_records(records: list[tuple[str, dict[str, Any]]], *, source: str,
                     terms: dict[str, str]) -> list[CatalogEntry]:
    """Entries from (record name, field values) pairs, or one InvalidInput naming every bad record and field;
    ``terms`` gives the source format's name for each field (``name`` → ``dct:title``)."""
    entries: list[CatalogEntry] = []
    problems: list[str] = []
    for record, data in records:
        try:
            entries.append(CatalogEntry.model_validate(data))
        except ValidationError as exc:
            problems.extend(_describe(record, e, terms) for e in exc.errors())
    if problems:
        raise InvalidInput(f"{source} import failed: {problems[0]}",
                           fix="correct the named fields in the source and import again (nothing was imported)",
                           details=problems)
    return entries
