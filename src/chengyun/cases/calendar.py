"""The working-day calendar (工作日历) behind SLA clocks: weekends, statutory holidays and make-up working days.

Years the ``chinese-calendar`` package knows come from it. For a later year the operator keeps a holiday file,
``<workspace>/holidays/<year>.yaml`` (``holidays: [2027-01-01, …]``, ``workdays: [2027-02-07, …]``), published
each winter by the State Council; until the file exists, weekends alone are used and every computation that
touched that year carries a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from chengyun.core.errors import InvalidInput


@dataclass(frozen=True)
class YearRule:
    """Where one year's days come from, and the exceptions to Monday–Friday."""

    source: str  # chinese-calendar | file | weekends-only
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


def _package_year(year: int) -> YearRule | None:
    import chinese_calendar as cc

    try:
        cc.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return None
    days = [date.fromordinal(o) for o in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1)]
    holidays = frozenset(d for d in days if d.weekday() < 5 and not cc.is_workday(d))
    workdays = frozenset(d for d in days if d.weekday() >= 5 and cc.is_workday(d))
    return YearRule("chinese-calendar", holidays, workdays)


def _file_year(path: Path, year: int) -> YearRule:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML ({exc})", fix="fix the file; see docs/cases.md") from exc
    except ValueError as exc:  # PyYAML turns YYYY-MM-DD into a date itself, so 2027-02-30 fails while loading
        raise InvalidInput(f"{path}: an impossible date ({exc})", fix="write real dates as YYYY-MM-DD") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a mapping with holidays and workdays",
                           fix=f"write holidays: [{year}-01-01, …] and workdays: [{year}-02-07, …]")
    out: dict[str, frozenset[date]] = {}
    for key in ("holidays", "workdays"):
        items = data.get(key) or []
        if not isinstance(items, list):
            raise InvalidInput(f"{path}: '{key}' must be a list of dates", fix=f"write {key}: [{year}-01-01, …]")
        days = []
        for i, item in enumerate(items):
            try:
                d = item if isinstance(item, date) else date.fromisoformat(str(item))
            except ValueError as exc:
                raise InvalidInput(f"{path}: {key}[{i}] = {item!r} is not a date",
                                   fix="write dates as YYYY-MM-DD") from exc
            if d.year != year:
                raise InvalidInput(f"{path}: {key}[{i}] = {d} is not in {year}", fix=f"move it to {d.year}.yaml")
            days.append(d)
        out[key] = frozenset(days)
    return YearRule("file", out["holidays"], out["workdays"])


@dataclass
class WorkCalendar:
    """Answers 'is this a working day?' for any date; ``warnings`` lists years known only by their weekends."""

    folder: Path | None = None  # the operator's holiday files; they take precedence over the package
    _years: dict[int, YearRule] = field(default_factory=dict)
    warnings: set[str] = field(default_factory=set)

    def year(self, year: int) -> YearRule:
        rule = self._years.get(year)
        if rule is None:
            path = self.folder / f"{year}.yaml" if self.folder else None
            if path is not None and path.exists():
                rule = _file_year(path, year)
            else:
                rule = _package_year(year) or YearRule("weekends-only")
            self._years[year] = rule
        if rule.source == "weekends-only":
            where = f"{self.folder}/{year}.yaml" if self.folder else f"holidays/{year}.yaml in the workspace"
            self.warnings.add(f"{year}: 节假日安排未知 holidays unknown, only weekends are rest days; "
                              f"add {where} with that year's holidays and make-up working days")
        return rule

    def is_workday(self, day: date) -> bool:
        rule = self.year(day.year)
        if day in rule.workdays:
            return True
        if day in rule.holidays:
            return False
        return day.weekday() < 5
