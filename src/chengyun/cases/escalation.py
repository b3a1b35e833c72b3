"""The SLA tick (时限巡检): breach prediction (超时预警), breach detection (超时) and escalation (督办升级).

``chengyun cases tick`` (for cron) and the server's periodic job both call ``run_tick``. It works on whole sets of
cases, in the caller's transaction: for each step one ``INSERT … SELECT`` writes an event for every case the step
applies to, then a few ``UPDATE … WHERE`` statements set the flags (``warned_due_at``, ``breached``,
``response_breached``, ``escalation_level``). Each condition reads only the cases it will change, through an index
of its own (``ix_cases_tick_*``), so a tick costs in proportion to what changed, not to the open cases, on SQLite
and PostgreSQL alike. Every condition excludes what the tick sets, so a second tick at the same ``now`` changes
nothing. Finished cases are never touched; a suspended case (its clocks stand, no due time) is skipped.

The escalation matrix comes from YAML (``cases/data/escalation.yaml``, or ``<workspace>/cases/escalation.yaml``):
numbered levels, each reached a number of hours after the due time, each naming who is notified.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import yaml
from sqlalchemy import (
    JSON,
    DateTime,
    String,
    Table,
    Text,
    and_,
    case,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from chengyun.accounts import audit
from chengyun.accounts.policy import ROLES
from chengyun.cases import lifecycle
from chengyun.cases.models import Case, CaseEvent
from chengyun.cases.service import CaseDesk
from chengyun.core.errors import InvalidInput
from chengyun.core.settings import Settings
from chengyun.tenancy.models import LEVELS

DEFAULT_MATRIX = Path(__file__).resolve().parent / "data" / "escalation.yaml"
ACTOR = "sla-tick"
_CASES = cast(Table, Case.__table__)
_EVENTS = cast(Table, CaseEvent.__table__)
_RUNNING = sorted(lifecycle.OPEN - {"suspended"})  # open cases whose clocks run
_NOTIFY_KEYS = ("role", "unit", "department")
_TICK_LOCK = 0x63686E67  # PostgreSQL advisory lock key ("chng"): one tick at a time
_SQLITE_CACHE_KIB = 256 * 1024  # SQLite page cache during a tick (see _prepared)


@dataclass(frozen=True)
class Level:
    """One step of the matrix: reached ``after_hours`` past the due time; ``notify`` lists who is told."""

    level: int
    name: str
    name_en: str
    after_hours: float
    notify: tuple[dict[str, str], ...]

    def detail(self) -> dict[str, Any]:
        """What an 'escalate' event records."""
        return {"level": self.level, "name": self.name, "name_en": self.name_en, "after_hours": self.after_hours,
                "notify": [dict(n) for n in self.notify]}


def _notify(value: Any, where: str) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{where}: notify must be a non-empty list",
                           fix="write notify: [{role: supervisor, unit: district}]")
    out = []
    for i, entry in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict) or not entry or set(entry) - set(_NOTIFY_KEYS):
            raise InvalidInput(f"{at}: an entry has role, unit and/or department, got {entry!r}",
                               fix="write e.g. {role: department, department: case} or {role: supervisor, unit: city}")
        if "role" not in entry and "department" not in entry:
            raise InvalidInput(f"{at}: name a role or a department", fix="add role: supervisor or department: case")
        if "role" in entry and entry["role"] not in ROLES:
            raise InvalidInput(f"{at}: role {entry['role']!r} is unknown", fix=f"use one of: {', '.join(ROLES)}")
        if "unit" in entry and entry["unit"] not in ("case", *LEVELS):
            raise InvalidInput(f"{at}: unit {entry['unit']!r} is unknown",
                               fix=f"use case or a level: {', '.join(LEVELS)}")
        out.append({k: str(entry[k]) for k in _NOTIFY_KEYS if k in entry})
    return tuple(out)


def _level(raw: Any, position: int, previous: float, where: str) -> Level:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: each level is a mapping", fix="see the shipped cases/data/escalation.yaml")
    if raw.get("level") != position:
        raise InvalidInput(f"{where}: level must be {position}, got {raw.get('level')!r}",
                           fix="number the levels 1, 2, 3 … in order")
    after = raw.get("after_hours")
    if isinstance(after, bool) or not isinstance(after, int | float) or after < 0:
        raise InvalidInput(f"{where}: after_hours must be a number ≥ 0, got {after!r}",
                           fix="write e.g. after_hours: 24")
    if after < previous:
        raise InvalidInput(f"{where}: after_hours {after} is less than the level before ({previous:g})",
                           fix="a higher level comes later: give it at least as many hours")
    name = str(raw.get("name") or f"level {position}")
    return Level(position, name, str(raw.get("name_en") or name), float(after),
                 _notify(raw.get("notify"), f"{where}.notify"))


def load_matrix(path: Path | None = None) -> list[Level]:
    """The escalation levels from YAML (``levels: [{level, name, after_hours, notify}]``), lowest first."""
    path = path or DEFAULT_MATRIX
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path}: cannot read the escalation matrix ({exc})",
                           fix="check the file path and YAML") from exc
    raw = data.get("levels") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{path}: no levels", fix="write levels: [{level: 1, after_hours: 0, notify: [...]}, …]")
    levels: list[Level] = []
    for i, item in enumerate(raw):
        levels.append(_level(item, i + 1, levels[-1].after_hours if levels else 0.0, f"{path}: levels[{i}]"))
    return levels


def matrix_for(settings: Settings) -> list[Level]:
    """The workspace's matrix (``<workspace>/cases/escalation.yaml``), else the shipped one."""
    own = settings.workspace / "cases" / "escalation.yaml"
    return load_matrix(own if own.exists() else None)


@dataclass
class TickResult:
    """What one tick found and changed; each count is of cases changed by this tick, not of cases in a state."""

    now: datetime
    predict_hours: float
    warned: int = 0  # 超时预警: due within predict_hours, warned now
    breached: int = 0  # 超时: past the resolution due time, marked now
    response_breached: int = 0  # 响应超时: past the response due time without a response, noted now
    escalated: dict[int, int] = field(default_factory=dict)  # level → cases that reached it now
    suspended: int = 0  # open cases skipped because their clock stands
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # step → seconds

    @property
    def changed(self) -> int:
        """Cases changed (a case counted once per step it went through)."""
        return self.warned + self.breached + self.response_breached + sum(self.escalated.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts (for ``--json``, the audit entry and the API)."""
        return {"now": self.now.isoformat(), "predict_hours": self.predict_hours, "warned": self.warned,
                "breached": self.breached, "response_breached": self.response_breached,
                "escalated": {str(k): v for k, v in sorted(self.escalated.items())},
                "suspended_skipped": self.suspended, "seconds": round(self.seconds, 3),
                "timings": {k: round(v, 3) for k, v in self.timings.items()}}


@contextmanager
def _prepared(session: Session) -> Iterator[None]:
    """What each engine needs around a tick; the one place with engine-specific statements."""
    engine = session.get_bind().dialect.name
    if engine == "postgresql":  # two ticks at once would both flag the same cases and write their events twice
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _TICK_LOCK})
    if engine != "sqlite":  # SQLite lets one writer in at a time already: the tick's first statement writes
        yield
        return
    # a backlog tick rewrites pages all over the table; within SQLite's default 2 MiB cache most of them would go
    # to the WAL several times before the commit, so the cache grows for the tick (dirty pages stay until commit)
    before = int(session.execute(text("PRAGMA cache_size")).scalar_one())
    session.execute(text(f"PRAGMA cache_size = {-_SQLITE_CACHE_KIB}"))
    try:
        yield
    finally:
        session.execute(text(f"PRAGMA cache_size = {before}"))


def _add_events(session: Session, where: ColumnElement[bool], *, now: datetime, action: str, reason: str,
                detail: dict[str, Any]) -> int:
    """One event per case matching ``where``, in a single ``INSERT … SELECT``; the number of events."""
    rows = select(
        _CASES.c.id, literal(now, DateTime).label("at"), literal(ACTOR, String).label("actor"),
        literal(action, String).label("action"), _CASES.c.status.label("from_status"),
        _CASES.c.status.label("to_status"), _CASES.c.department_id, literal(reason, Text).label("reason"),
        literal(detail, JSON).label("detail"),
    ).where(where).order_by(_CASES.c.id)  # the event index by case grows in order, page after page
    cols = ["case_id", "at", "actor", "action", "from_status", "to_status", "department_id", "reason", "detail"]
    stmt = insert(_EVENTS).from_select(cols, rows).execution_options(preserve_rowcount=True)  # psycopg drops it
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def _set(session: Session, where: ColumnElement[bool], **values: Any) -> int:
    """``values`` on the cases matching ``where``, in a single ``UPDATE … WHERE``; the number of cases.

    ``updated_at`` stays: the flags are derived from due times the lake already has, and moving it would make the
    next lake export write an identical new version of every case the tick touched.
    """
    result = session.execute(update(_CASES).where(where).values(**values))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _climbed(levels: list[Level], reach: list[datetime]) -> ColumnElement[Any]:
    """The level a case reaches now: the highest it qualifies for, never lower than the one it has."""
    c = _CASES.c
    whens = [(and_(c.escalation_level < lv.level, c.due_at < r), lv.level)
             for lv, r in reversed(list(zip(levels, reach, strict=True)))]
    return case(*whens, else_=c.escalation_level) if whens else c.escalation_level


def run_tick(session: Session, desk: CaseDesk, *, now: datetime, predict_hours: float = 4.0,
             matrix: list[Level] | None = None) -> TickResult:
    """Warn, detect breaches and escalate over every open case at ``now`` (naive UTC); one audit entry."""
    # ``desk`` is unused today: the due times are already on the cases (computed by the service with its calendar)
    if not predict_hours > 0:
        raise InvalidInput(f"predict_hours must be positive, got {predict_hours}", fix="use e.g. 4")
    levels = matrix if matrix is not None else load_matrix()
    out = TickResult(now=now, predict_hours=predict_hours)
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        out.timings[name], clock = time.perf_counter() - clock, time.perf_counter()

    session.flush()
    with _prepared(session):
        _tick(session, out, levels, lap)
    for obj in list(session.identity_map.values()):  # loaded cases no longer match the rows
        if isinstance(obj, Case):
            session.expire(obj)
    out.seconds = time.perf_counter() - started
    audit.record(session, "case.tick", target_type="cases", detail=out.to_dict())
    return out


def _tick(session: Session, out: TickResult, levels: list[Level], lap: Callable[[str], None]) -> None:
    """The tick's statements: events first, each condition on the cases as they were before, then the flags."""
    now, c = out.now, _CASES.c
    running = c.status.in_(_RUNNING)
    warn = and_(running, c.due_at >= now, c.due_at <= now + timedelta(hours=out.predict_hours),
                or_(c.warned_due_at.is_(None), c.warned_due_at != c.due_at))
    out.warned = _add_events(session, warn, now=now, action="warn",
                             reason=f"超时预警 due within {out.predict_hours:g} h",
                             detail={"predict_hours": out.predict_hours})
    _set(session, warn, warned_due_at=c.due_at)
    lap("warn")
    overdue = and_(running, c.due_at < now)
    breach = and_(overdue, c.breached == false())
    late = and_(running, c.responded_at.is_(None), c.response_breached == false(), c.response_due_at < now)
    out.breached = _add_events(session, breach, now=now, action="breach", reason="超时 past the resolution due time",
                               detail={"limit": "resolution"})
    lap("breach")
    out.response_breached = _add_events(session, late, now=now, action="response_breach",
                                        reason="响应超时 past the response due time", detail={"limit": "response"})
    lap("response_breach")
    reach = [now - timedelta(hours=lv.after_hours) for lv in levels]  # due before it: the level is reached
    for lv, r in zip(levels, reach, strict=True):  # level by level: a case found long overdue gets one event each
        climb = and_(running, c.escalation_level.in_(range(lv.level)), c.due_at < r)
        out.escalated[lv.level] = _add_events(session, climb, now=now, action="escalate",
                                              reason=f"督办升级 level {lv.level}: {lv.name}", detail=lv.detail())
        lap(f"escalate-{lv.level}")
    # … then the cases, each row written once per flag
    level = _climbed(levels, reach)
    _set(session, breach, breached=True, escalation_level=level)
    _set(session, late, response_breached=True)
    for i, r in enumerate(reach):  # breached before, climbing now
        _set(session, and_(running, c.escalation_level == i, c.due_at < r), escalation_level=level)
    lap("update")
    out.suspended = int(session.scalar(select(func.count()).select_from(_CASES).where(
        or_(c.status == "suspended", and_(running, c.due_at.is_(None))))) or 0)
