"""Mapping files for case imports (导入映射): which source column feeds which case field, how dates are written,
and how the source's status, channel and category values translate to ours.

```yaml
columns: {id: Unique Key, created_at: Created Date, closed_at: Closed Date, status: Status, …}
datetime_format: "%m/%d/%Y %I:%M:%S %p"   # optional; one for all date columns or {created_at: …, due_at: …}
dayfirst: false                            # settles 05/01/2022 when both orders read the whole column
timezone: America/New_York                 # the source's local time; stored as naive UTC
status_map: {Closed: closed, In Progress: in_progress}
channel_map: {PHONE: hotline, MOBILE: app}
category_map: {Noise - Residential: H0301}  # codes of the category table; others leave category empty
sheet: 工单                                 # Excel only: the sheet to read (default the first)
```

Every case field that may be mapped is listed in ``FIELDS``; ``id`` and ``created_at`` are required. Optional value
maps: ``department_map``, ``priority_map`` (→ urgent/high/normal/low), ``satisfaction_map`` (→ 1–5) and
``solved_map`` (→ true/false; yes/no, 是/否, 已解决/未解决 are known without one); ``default_channel`` is used
where the channel is empty or unmapped (default ``other``).

Built-in presets live in ``cases/presets/<name>.yaml`` and are named by their file name (``--mapping nyc311``).
Value maps match case-insensitively and after trimming spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from chengyun.cases import lifecycle, sla
from chengyun.cases.service import CHANNELS
from chengyun.core.errors import InvalidInput, NotFound

PRESETS = Path(__file__).resolve().parent / "presets"
FIELDS: dict[str, str] = {
    "id": "the source's case number (kept as external_id; unique per tenant)",
    "created_at": "when the case was reported",
    "closed_at": "when it was closed (also the resolution time when the source has no other)",
    "due_at": "its due time, if the source has one",
    "category": "its type: kept as title, and as category when category_map or the code table knows it",
    "department": "the department it was sent to",
    "status": "its status, through status_map",
    "channel": "how it was reported, through channel_map",
    "lat": "latitude, WGS-84 degrees",
    "lon": "longitude, WGS-84 degrees",
    "description": "free text",
    "address": "street address",
    "priority": "urgent / high / normal / low, through priority_map",
    "reporter": "the citizen's phone or id: stored as a keyed hash and a masked form only",
    "satisfaction": "rating 1–5 at follow-up, or words through satisfaction_map",
    "solved": "whether the citizen says it was solved, through solved_map",
}
REQUIRED = ("id", "created_at")
DATE_FIELDS = ("created_at", "closed_at", "due_at")
MAPS = ("status_map", "channel_map", "category_map", "department_map", "priority_map", "satisfaction_map",
        "solved_map")
SOLVED = {"yes": True, "y": True, "true": True, "1": True, "是": True, "已解决": True, "solved": True,
          "no": False, "n": False, "false": False, "0": False, "否": False, "未解决": False, "unsolved": False}


@dataclass(frozen=True)
class Mapping:
    """A validated mapping: case field → source column, date formats, time zone and value maps."""

    name: str
    columns: dict[str, str]
    formats: dict[str, str] = field(default_factory=dict)  # case field → strptime format, when given
    dayfirst: bool | None = None
    timezone: str | None = None  # None: the tenant's time zone
    maps: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-cased source value → our value
    default_channel: str = "other"
    sheet: str | None = None  # Excel: the sheet to read (default the first)

    def value_map(self, name: str) -> dict[str, Any]:
        """One of the value maps (``status_map`` …), empty when the file has none."""
        return self.maps.get(name, {})


def presets() -> list[str]:
    """Names of the built-in mapping presets."""
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def _read(spec: str | Path) -> tuple[str, Any]:
    path = Path(spec)
    if not path.exists() and isinstance(spec, str) and (PRESETS / f"{spec}.yaml").exists():
        path = PRESETS / f"{spec}.yaml"
    if not path.exists():
        raise NotFound(f"mapping {str(spec)!r}: no such preset or file",
                       fix=f"use a preset ({', '.join(presets())}) or the path of a mapping YAML file")
    try:
        return path.stem, yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"mapping {path}: not valid YAML ({exc})", fix="fix the YAML at the line shown") from exc


def _check_maps(data: dict[str, Any], problems: list[str]) -> dict[str, dict[str, Any]]:
    allowed: dict[str, tuple[Any, ...] | None] = {
        "status_map": tuple(lifecycle.STATUSES), "channel_map": tuple(CHANNELS), "category_map": None,
        "department_map": None, "priority_map": sla.PRIORITIES, "satisfaction_map": (1, 2, 3, 4, 5),
        "solved_map": (True, False),
    }
    out: dict[str, dict[str, Any]] = {}
    for name in MAPS:
        raw = data.get(name) or {}
        if not isinstance(raw, dict):
            problems.append(f"{name}: must be a mapping of source value → our value")
            continue
        ok = allowed[name]
        for src, ours in raw.items():
            if ok is not None and ours not in ok:
                problems.append(f"{name}: {src!r} → {ours!r} is not one of {', '.join(map(str, ok[:12]))}"
                                + (" …" if len(ok) > 12 else ""))
        out[name] = {str(k).strip().lower(): v for k, v in raw.items()}
    out["solved_map"] = {**SOLVED, **out.get("solved_map", {})}
    return out


def _formats(data: dict[str, Any], problems: list[str]) -> dict[str, str]:
    raw = data.get("datetime_format")
    if raw is None:
        return {}
    if isinstance(raw, str):
        return dict.fromkeys(DATE_FIELDS, raw)
    if isinstance(raw, dict) and all(k in DATE_FIELDS and isinstance(v, str) for k, v in raw.items()):
        return dict(raw)
    problems.append(f"datetime_format: give one strptime format or {{{', '.join(DATE_FIELDS)}: format}}")
    return {}


def load_mapping(spec: str | Path) -> Mapping:
    """A preset by name or a mapping file by path, validated: every problem is listed with its fix."""
    name, data = _read(spec)
    problems: list[str] = []
    if not isinstance(data, dict):
        raise InvalidInput(f"mapping {name}: the top level must be a mapping", fix="start with columns:")
    columns = data.get("columns") or {}
    if not isinstance(columns, dict):
        problems.append("columns: must map case fields to source column names")
        columns = {}
    problems += [f"columns: {k!r} is not a case field (known: {', '.join(FIELDS)})" for k in columns if k not in FIELDS]
    problems += [f"columns: {k!r} is required" for k in REQUIRED if not columns.get(k)]
    tz = data.get("timezone")
    if tz is not None:
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone: {tz!r} is not an IANA time zone (e.g. America/New_York, Asia/Shanghai)")
    dayfirst = data.get("dayfirst")
    if dayfirst is not None and not isinstance(dayfirst, bool):
        problems.append(f"dayfirst: {dayfirst!r} must be true (DD/MM/YYYY) or false (MM/DD/YYYY)")
    formats = _formats(data, problems)
    maps = _check_maps(data, problems)
    channel = data.get("default_channel", "other")
    if channel not in CHANNELS:
        problems.append(f"default_channel: {channel!r} is not one of {', '.join(CHANNELS)}")
    if problems:
        raise InvalidInput(f"mapping {name}: {len(problems)} problem(s)", details=problems,
                           fix="correct the mapping file; see the presets in chengyun/cases/presets/")
    return Mapping(name=str(data.get("name") or name), columns={k: str(v) for k, v in columns.items() if v},
                   formats=formats, dayfirst=dayfirst, timezone=str(tz) if tz else None, maps=maps,
                   default_channel=str(channel), sheet=data.get("sheet"))
