"""Reading one row of an asset file (台账导入): each cell checked and converted, every problem named with the
field and the fix. Used by ``assets/importer.py``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chengyun.assets import kinds
from chengyun.assets.schemas import ID_PATTERN

# the file's column (lower case, trimmed) → the field it fills; Chinese headers of common 台账 templates too
ALIASES: dict[str, str] = {
    "id": "id", "asset_id": "id", "编号": "id", "设备编号": "id", "资产编号": "id",
    "name": "name", "名称": "name", "设备名称": "name", "资产名称": "name",
    "kind": "kind", "type": "kind", "类型": "kind", "设备类型": "kind",
    "unit": "unit", "tenant": "unit", "区划": "unit", "所属区划": "unit",
    "department": "department", "department_id": "department", "责任单位": "department",
    "operator": "operator", "运维单位": "operator",
    "lat": "lat", "latitude": "lat", "纬度": "lat",
    "lon": "lon", "lng": "lon", "longitude": "lon", "经度": "lon",
    "address": "address", "地址": "address", "安装地址": "address",
    "installed_at": "installed_at", "安装时间": "installed_at", "投运时间": "installed_at",
    "criticality": "criticality", "重要程度": "criticality",
    "expected_interval_s": "expected_interval_s", "上报间隔": "expected_interval_s",
    "上报间隔(秒)": "expected_interval_s",
    "metric_count": "metric_count", "指标数": "metric_count",
    "depends_on": "depends_on", "依赖": "depends_on", "依赖于": "depends_on",
}
REQUIRED = ("id", "name", "kind")
KIND_BY_NAME = {zh: kind for kind, zh in kinds.KIND_NAMES.items()}
CRITICALITY_BY_NAME = {"核心": "critical", "关键": "critical", "重要": "high", "一般": "medium", "低": "low"}
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y%m%d", "%Y年%m月%d日")
_ID = re.compile(ID_PATTERN)
_DEP = re.compile(r"^(?P<id>[^\s(（]+)\s*(?:[(（]\s*(?P<kind>[^)）]*?)\s*[)）])?$")
_SPLIT = re.compile(r"[;；]")


@dataclass
class Row:
    """One data row as read: its number in the file (the header is row 1; malformed rows are left out of the
    count), its cells by field, what they say, its problems."""

    number: int
    cells: dict[str, str | None]
    values: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)  # the file's columns as read (for the rejects file)
    extra: dict[str, str] = field(default_factory=dict)  # unknown columns, kept in ``attributes``
    deps: dict[str, str | None] = field(default_factory=dict)  # target id → dependency kind (None: by target)
    problems: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.values.get("id") or self.cells.get("id") or "")

    def reject(self, reason: str) -> None:
        self.problems.append(reason)


def header_map(header: list[str]) -> dict[str, str]:
    """The file's columns → fields (columns that name no field are left out)."""
    out: dict[str, str] = {}
    for col in header:
        name = ALIASES.get(col.strip().lower()) or ALIASES.get(col.strip())
        if name and name not in out.values():
            out[col] = name
    return out


def _number(row: Row, name: str, text: str, lo: float, hi: float) -> float | None:
    try:
        value = float(text)
    except ValueError:
        row.reject(f"{name}: {text!r} is not a number; write degrees as a decimal, e.g. 26.0745")
        return None
    if not lo <= value <= hi:
        row.reject(f"{name}: {value} is outside {lo:g}…{hi:g}; write WGS-84 degrees")
        return None
    return value


def _whole(row: Row, name: str, text: str, lo: int, hi: int, fix: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or not value.is_integer() or not lo <= value <= hi:
        row.reject(f"{name}: {text!r} is not a whole number from {lo} to {hi}; {fix}")
        return None
    return int(value)


def parse_time(text: str, tz: str) -> datetime | None:
    """A date or time written the usual ways, in local time of ``tz`` unless it has an offset; naive UTC."""
    norm = text.strip().replace("/", "-").replace(".", "-").replace("T", " ")
    for fmt in DATE_FORMATS:
        try:
            local = datetime.strptime(norm if "年" not in fmt else text.strip(), fmt)
            break
        except ValueError:
            continue
    else:
        try:
            local = datetime.fromisoformat(text.strip())
        except ValueError:
            return None
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC).replace(tzinfo=None)


def _deps(row: Row, text: str) -> None:
    for item in (p.strip() for p in _SPLIT.split(text)):
        if not item:
            continue
        m = _DEP.match(item)
        kind = m.group("kind") if m else None
        if m is None or not _ID.match(m.group("id")):
            row.reject(f"depends_on: {item!r} is not an asset id; separate ids with ';', e.g. SRV-01;GW-02 "
                       "(a kind may follow in brackets: SRV-01 (runs-on))")
        elif kind and kind not in kinds.DEPENDENCY_KINDS:
            row.reject(f"depends_on: {kind!r} is not a kind of dependency; use one of "
                       f"{', '.join(kinds.DEPENDENCY_KINDS)}, or leave the brackets out")
        elif m.group("id") == row.values.get("id"):
            row.reject(f"depends_on: {item!r} is the asset itself; remove it")
        else:
            row.deps[m.group("id")] = kind or None


def _text(row: Row, name: str, text: str, limit: int) -> str | None:
    if len(text) > limit:
        row.reject(f"{name}: {len(text)} characters, at most {limit}; shorten it")
        return None
    return text


def parse(row: Row, *, tenant: str, tz: str, units: set[str], departments: set[str]) -> None:
    """Check and convert every cell of ``row`` that the file has (into ``row.values``)."""
    c = {k: (v.strip() if isinstance(v, str) else v) or None for k, v in row.cells.items()}
    v = row.values
    for name in REQUIRED:
        if not c.get(name):
            row.reject(f"{name}: empty; every row needs an id, a name and a kind")
    if given := c.get("id"):
        if _ID.match(given):
            v["id"] = given
        else:
            row.reject(f"id: {given!r} is not a valid id; use 1-64 letters, digits, '.', '_', ':' or '-' "
                       "(starting with a letter or a digit)")
    if given := c.get("name"):
        v["name"] = _text(row, "name", given, 200)
    if given := c.get("kind"):
        kind = given.lower() if given.lower() in kinds.KINDS else KIND_BY_NAME.get(given, "")
        if kind:
            v["kind"] = kind
        else:
            row.reject(f"kind: {given!r} is not a kind of asset; use one of {', '.join(kinds.KINDS)} "
                       "(or its Chinese name, e.g. 摄像机)")
    if "unit" in c:
        unit = c["unit"] or tenant
        if unit in units:
            v["tenant_id"] = unit
        else:
            row.reject(f"unit: {unit!r} is not {tenant} or a unit below it; use an id from `chengyun tenants "
                       f"list`, or leave it empty for {tenant}")
    if "department" in c:
        if c["department"] is None or c["department"] in departments:
            v["department_id"] = c["department"]
        else:
            row.reject(f"department: no department {c['department']!r}; use a department id "
                       "(GET /api/v1/departments) or leave it empty")
    for name, limit in (("operator", 200), ("address", 300)):
        if name in c:
            v[name] = _text(row, name, given, limit) if (given := c[name]) else None
    for name, lo, hi in (("lat", -90.0, 90.0), ("lon", -180.0, 180.0)):
        if name in c:
            v[name] = _number(row, name, given, lo, hi) if (given := c[name]) else None
    if ("lat" in v or "lon" in v) and (v.get("lat") is None) != (v.get("lon") is None) and \
            not any(p.startswith(("lat", "lon")) for p in row.problems):
        row.reject("lat/lon: give both or neither")
    if "installed_at" in c:
        v["installed_at"] = parse_time(c["installed_at"], tz) if c["installed_at"] else None
        if c["installed_at"] and v["installed_at"] is None:
            row.reject(f"installed_at: {c['installed_at']!r} is not a date; write 2024-03-01 or "
                       f"2024-03-01 08:30 (local time of {tenant})")
    if "criticality" in c:
        crit = (c["criticality"] or "medium").lower()
        crit = crit if crit in kinds.CRITICALITY else CRITICALITY_BY_NAME.get(c["criticality"] or "", "")
        if crit:
            v["criticality"] = crit
        else:
            row.reject(f"criticality: {c['criticality']!r} is not a criticality; use critical, high, medium or low "
                       "(核心/重要/一般/低)")
    if "expected_interval_s" in c:
        v["expected_interval_s"] = _whole(row, "expected_interval_s", c["expected_interval_s"], 1, 31_536_000,
                                          "write seconds, e.g. 300, or leave it empty when it does not report") \
            if c["expected_interval_s"] else None
    if "metric_count" in c and c["metric_count"]:
        v["metric_count"] = _whole(row, "metric_count", c["metric_count"], 0, 1000, "write how many metrics "
                                   "each report carries")
    if given := c.get("depends_on"):
        _deps(row, given)
