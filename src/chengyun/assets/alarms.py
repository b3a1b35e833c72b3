"""Alarms (告警): rules per asset kind, evaluated as telemetry arrives; raised → acknowledged → cleared.

Rules (``AlarmRule``) belong to a unit and apply to its subtree: an asset is governed by the rules of its unit and
of every unit above it; when none of those units has rules of its own, the shipped defaults
(``assets/data/alarm_rules.yaml``, stored once with no unit) apply. A rule is a ``threshold`` on a metric, an
``absence`` of readings, or a ``rate`` of change.

``evaluate_batch`` runs over one lake batch of readings: the conditions are computed per rule on whole columns
(pyarrow/numpy); only the assets with a breach, a pending condition or an open alarm are then walked reading by
reading, in time order, to apply ``for_seconds`` (the condition must hold that long over consecutive readings to
raise, and be back to normal that long to clear). What carries over between batches (the last reading, since when
the current run has held) is in ``AlarmState``. ``sweep_absence`` raises and clears absence alarms in one pass
over the registry (for a periodic tick or cron). At most one alarm per (asset, rule) is not cleared: a repeat adds
to its ``count``. A rule with ``open_case`` opens a case through ``chengyun.cases.alarms`` and resolves it when
the alarm clears.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Select, case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.assets import kinds
from chengyun.assets.alarm_schemas import SEVERITIES, AlarmRuleSet
from chengyun.assets.models import Alarm, AlarmRule, AlarmState, Asset
from chengyun.core.db import session_scope, utcnow
from chengyun.core.errors import Conflict, InvalidInput, NotFound
from chengyun.core.scoping import unscoped
from chengyun.core.settings import Settings
from chengyun.tenancy.models import AdminUnit
from chengyun.tenancy.service import subtree

if TYPE_CHECKING:  # the cases domain is imported only when a case is opened or resolved
    from chengyun.cases.service import CaseDesk

log = logging.getLogger(__name__)

ACTOR = "alarm-rules"
DEFAULT_RULES = Path(__file__).resolve().parent / "data" / "alarm_rules.yaml"
ACTIONS: dict[str, tuple[str, ...]] = {"acknowledge": ("raised",), "clear": ("raised", "acknowledged")}
OPEN = ("raised", "acknowledged")
LIST_FIX = "see `chengyun alarms list` (or GET /api/v1/alarms)"
_CHUNK = 5000  # ids per IN list (well below SQLite's and PostgreSQL's parameter limits)
_OPS: dict[str, Callable[[Any, Any], Any]] = {">": np.greater, ">=": np.greater_equal, "<": np.less,
                                              "<=": np.less_equal, "==": np.equal, "!=": np.not_equal}


@dataclass
class AlarmChanges:
    """What one evaluation or sweep did: readings seen (and of unknown assets), alarms raised, repeated, cleared,
    cases opened and resolved, assets marked online or offline."""

    now: datetime
    readings: int = 0
    unknown: int = 0
    raised: list[str] = field(default_factory=list)
    repeated: int = 0
    cleared: list[str] = field(default_factory=list)
    cases_opened: list[str] = field(default_factory=list)
    cases_resolved: list[str] = field(default_factory=list)
    online: int = 0
    offline: int = 0

    @property
    def changed(self) -> bool:
        """Whether an alarm was raised or cleared (what the audit trail records)."""
        return bool(self.raised or self.cleared)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for ``--json`` and the audit entry)."""
        return {"now": self.now.isoformat(), "readings": self.readings, "unknown": self.unknown,
                "raised": self.raised, "repeated": self.repeated, "cleared": self.cleared,
                "cases_opened": self.cases_opened, "cases_resolved": self.cases_resolved, "online": self.online,
                "offline": self.offline}


def allowed_actions(status: str) -> list[str]:
    """The actions an alarm's status allows (acknowledge, clear; none once cleared)."""
    return [a for a, frm in ACTIONS.items() if status in frm]


# ---- rules (告警规则) ---------------------------------------------------------------------------------------


def load_rules(path: Path | None = None) -> AlarmRuleSet:
    """Rules from a YAML file (the shipped defaults when no path); problems name the rule index and field."""
    path = path or DEFAULT_RULES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the alarm rules ({exc})", fix="check the file path") from exc
    return AlarmRuleSet.from_yaml(text, source=f"the alarm rules in {path}")


def _rows(ruleset: AlarmRuleSet, tenant_id: str | None) -> list[AlarmRule]:
    now = utcnow()
    return [AlarmRule(tenant_id=tenant_id, position=(i + 1) * 10, created_at=now, **r.model_dump())
            for i, r in enumerate(ruleset.rules)]


def ensure_default_rules(session: Session) -> None:
    """Store the shipped rules (no unit) the first time rules are needed."""
    with unscoped(session):
        if session.scalar(select(func.count()).select_from(AlarmRule).where(AlarmRule.tenant_id.is_(None))):
            return
    session.add_all(_rows(load_rules(), None))
    session.flush()


def rules_of(session: Session, tenant_id: str | None) -> list[AlarmRule]:
    """A unit's own rules in order (``None``: the shipped defaults)."""
    where = AlarmRule.tenant_id.is_(None) if tenant_id is None else AlarmRule.tenant_id == tenant_id
    return list(session.scalars(select(AlarmRule).where(where).order_by(AlarmRule.position, AlarmRule.id)))


def replace_rules(session: Session, tenant_id: str, ruleset: AlarmRuleSet, *, actor: str | None = None,
                  desk: CaseDesk | None = None) -> list[AlarmRule]:
    """Replace a unit's rules (all or nothing): open alarms of its old rules are cleared first."""
    if session.get(AdminUnit, tenant_id) is None:
        raise NotFound(f"tenant: no unit {tenant_id!r}", fix="see `chengyun tenants list`")
    if ruleset.tenant not in (None, tenant_id):
        raise InvalidInput(f"tenant: the rules are for {ruleset.tenant!r}, not {tenant_id!r}",
                           fix="name the unit of the file, or remove `tenant:` from it")
    old = [r.id for r in rules_of(session, tenant_id)]
    now, changes = utcnow(), AlarmChanges(now=utcnow())
    with unscoped(session):
        stale = list(session.scalars(select(Alarm).where(Alarm.rule_id.in_(old), Alarm.status.in_(OPEN)))) \
            if old else []
        for alarm in stale:
            _close(session, alarm, at=now, by=ACTOR, reason="告警规则已更换 rule replaced", desk=desk, out=changes)
        session.execute(delete(AlarmState).where(AlarmState.rule_id.in_(old)))
        session.execute(update(Alarm).where(Alarm.rule_id.in_(old)).values(rule_id=None))
        session.execute(delete(AlarmRule).where(AlarmRule.id.in_(old)))
    rows = _rows(ruleset, tenant_id)
    session.add_all(rows)
    session.flush()
    audit.record(session, "alarm_rules.replace", target_type="admin_unit", target_id=tenant_id, tenant_id=tenant_id,
                 detail={"rules": len(rows), "cleared": changes.cleared}, actor=actor)
    return rows


class RuleBook:
    """The rules in force, per (unit, kind): the enabled rules of the unit and the units above it, or the
    defaults when none of those units has rules of its own."""

    def __init__(self, session: Session) -> None:
        with unscoped(session):
            self.parent = dict(session.execute(select(AdminUnit.id, AdminUnit.parent_id)).tuples().all())
            rules = list(session.scalars(select(AlarmRule).order_by(AlarmRule.position, AlarmRule.id)))
        self.by_unit: dict[str | None, list[AlarmRule]] = {}
        for r in rules:
            self.by_unit.setdefault(r.tenant_id, []).append(r)
        self._memo: dict[tuple[str, str], list[AlarmRule]] = {}

    def chain(self, unit: str) -> list[str]:
        """The unit and the units above it."""
        out: list[str] = []
        current: str | None = unit
        while current and current not in out:
            out.append(current)
            current = self.parent.get(current)
        return out

    def applicable(self, unit: str, kind: str) -> list[AlarmRule]:
        """The enabled rules for an asset of ``kind`` in ``unit``."""
        key = (unit, kind)
        if key not in self._memo:
            own = [r for u in self.chain(unit) for r in self.by_unit.get(u, [])]
            pool = own or self.by_unit.get(None, [])
            self._memo[key] = [r for r in pool if r.enabled and (r.kind == "*" or kind in kinds.kinds_in(r.kind))]
        return self._memo[key]


# ---- raising and clearing ----------------------------------------------------------------------------------


def _desk(desk: CaseDesk | None) -> CaseDesk:
    from chengyun.cases.service import CaseDesk
    from chengyun.core.settings import get_settings

    return desk if desk is not None else CaseDesk.for_settings(get_settings())


def _raise(session: Session, rule: AlarmRule, asset: tuple[Any, ...], *, at: datetime, value: float | None,
           message: str, desk: CaseDesk | None, out: AlarmChanges) -> Alarm:
    """A new alarm of ``rule`` on the asset ``(id, tenant, kind, lat, lon)``; a case when the rule says so."""
    asset_id, tenant_id, _kind, lat, lon = asset
    alarm = Alarm(id=f"alm-{uuid.uuid4().hex[:16]}", asset_id=asset_id, tenant_id=tenant_id, rule_id=rule.id,
                  type=rule.type, metric=rule.metric, status="raised", severity=rule.severity, raised_at=at,
                  last_at=at, last_value=value, message=message[:500], count=1)
    session.add(alarm)
    session.flush([alarm])
    out.raised.append(alarm.id)
    if rule.open_case:
        from chengyun.cases.alarms import CATEGORY, open_case_for_alarm

        found = open_case_for_alarm(session, _desk(desk), tenant_id=tenant_id, asset_id=asset_id, alarm_id=alarm.id,
                                    metric=rule.metric or rule.type, value=value, message=message,
                                    severity=rule.severity, lat=lat, lon=lon, at=at, category=CATEGORY)
        alarm.case_id = found.id
        out.cases_opened.append(found.id)
    return alarm


def _close(session: Session, alarm: Alarm, *, at: datetime, by: str, reason: str, desk: CaseDesk | None,
           out: AlarmChanges) -> None:
    """Clear an open alarm, and resolve its case (if any) through the cases domain."""
    alarm.status, alarm.cleared_at, alarm.cleared_by, alarm.clear_reason = "cleared", at, by[:100], reason[:500]
    out.cleared.append(alarm.id)
    if alarm.case_id:
        from chengyun.cases.alarms import clear_alarm_case

        found = clear_alarm_case(session, _desk(desk), tenant_id=alarm.tenant_id, alarm_id=alarm.id, at=at)
        if found is not None:
            out.cases_resolved.append(found.id)
    session.flush([alarm])


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def _open_alarms(session: Session, rule_id: int, asset_ids: Sequence[str]) -> dict[str, Alarm]:
    out: dict[str, Alarm] = {}
    for part in _chunks(asset_ids):
        stmt = select(Alarm).where(Alarm.rule_id == rule_id, Alarm.status.in_(OPEN), Alarm.asset_id.in_(part))
        out.update({a.asset_id: a for a in session.scalars(stmt)})
    return out


def _states(session: Session, rule_id: int, asset_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cols = (AlarmState.asset_id, AlarmState.since, AlarmState.last_ts, AlarmState.last_value)
    for part in _chunks(asset_ids):
        rows = session.execute(select(*cols).where(AlarmState.rule_id == rule_id, AlarmState.asset_id.in_(part)))
        out.update({a: {"asset_id": a, "rule_id": rule_id, "since": s, "last_ts": t, "last_value": v}
                    for a, s, t, v in rows.tuples()})
    return out


# ---- evaluating readings -----------------------------------------------------------------------------------


def _assets(session: Session, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """id → (id, tenant, kind, lat, lon, status, last_seen_at) of the registered assets among ``ids``."""
    out: dict[str, tuple[Any, ...]] = {}
    cols = (Asset.id, Asset.tenant_id, Asset.kind, Asset.lat, Asset.lon, Asset.status, Asset.last_seen_at)
    for part in _chunks(ids):
        out.update({row[0]: tuple(row) for row in session.execute(select(*cols).where(Asset.id.in_(part)))})
    return out


def _touch(session: Session, batch: pa.Table, assets: dict[str, tuple[Any, ...]], out: AlarmChanges) -> None:
    """``last_seen_at`` to the newest reading and status ``online`` (retired assets keep their status)."""
    latest = batch.group_by("asset_id").aggregate([("ts", "max")]).to_pylist()
    rows = []
    for item in latest:
        a = assets[item["asset_id"]]
        ts = item["ts_max"]
        status, seen = a[5], a[6]
        newer = seen is None or ts > seen
        if not newer and status in ("online", "retired"):
            continue
        row: dict[str, Any] = {"id": a[0], "last_seen_at": ts if newer else seen}
        if status not in ("online", "retired"):
            row["status"] = "online"
            out.online += 1
        rows.append(row)
    for status_set in (True, False):  # one executemany per set of columns
        part = [r for r in rows if ("status" in r) == status_set]
        if part:
            session.execute(update(Asset), part)


def _conditions(rule: AlarmRule, aids: np.ndarray, ts: np.ndarray, vals: np.ndarray, starts: np.ndarray,
                states: dict[str, dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Per reading: 1 breach, 0 normal, -1 unknown (a rate's first reading); and the rate (or the value)."""
    if rule.type == "threshold":
        return _OPS[rule.op or ">"](vals, rule.value).astype(np.int8), vals
    prev_v, prev_t = np.roll(vals, 1), np.roll(ts, 1).astype(np.float64)
    first = np.flatnonzero(starts)
    for i in first:
        st = states.get(aids[i])
        known = st is not None and st["last_ts"] is not None and st["last_value"] is not None
        prev_v[i] = st["last_value"] if known else np.nan  # type: ignore[index]
        prev_t[i] = _us(st["last_ts"]) if known else np.nan  # type: ignore[index]
    dt = (ts - prev_t) / 1e6
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.abs(vals - prev_v) / dt * 60.0
    cond = np.where(np.isnan(rate) | (dt <= 0), -1, (rate > (rule.value or 0.0)).astype(np.int8))
    return cond.astype(np.int8), rate


def _us(ts: datetime) -> int:
    return int((ts - datetime(1970, 1, 1)) / timedelta(microseconds=1))


def _message(rule: AlarmRule, value: float) -> str:
    if rule.type == "rate":
        return f"{rule.metric} 变化过快 changing {value:.4g}/min > {rule.value:g}/min"
    held = f", held {rule.for_seconds} s" if rule.for_seconds else ""
    return f"{rule.metric} = {value:.6g} {rule.op} {rule.value:g}{held}" + (f" · {rule.note}" if rule.note else "")


def _apply(session: Session, rule: AlarmRule, rows: pa.Table, assets: dict[str, tuple[Any, ...]],
           desk: CaseDesk | None, out: AlarmChanges) -> None:
    """One threshold or rate rule over its readings of the batch (assets in order, readings in time order)."""
    t = rows.sort_by([("asset_id", "ascending"), ("ts", "ascending")])
    aids = t["asset_id"].to_numpy(zero_copy_only=False)
    ts = t["ts"].cast(pa.int64()).to_numpy()
    vals = t["value"].to_numpy(zero_copy_only=False).astype(np.float64)
    ids = list(dict.fromkeys(aids.tolist()))
    states, alarms = _states(session, rule.id, ids), _open_alarms(session, rule.id, ids)
    seen = np.array([_us(states[a]["last_ts"]) if a in states and states[a]["last_ts"] else -2**62 for a in aids])
    keep = ts > seen  # readings not newer than the last one evaluated are late or repeated: skipped
    aids, ts, vals = aids[keep], ts[keep], vals[keep]
    if not len(aids):
        return
    starts = np.r_[True, aids[1:] != aids[:-1]]
    cond, measured = _conditions(rule, aids, ts, vals, starts, states)
    group = np.cumsum(starts) - 1
    hot = np.zeros(int(group[-1]) + 1, dtype=bool)
    np.logical_or.at(hot, group, cond == 1)
    firsts = aids[starts]
    for g, a in enumerate(firsts):  # a pending run or an open alarm needs the walk too
        hot[g] |= a in alarms or (a in states and states[a]["since"] is not None)
    new: dict[str, dict[str, Any]] = {}
    for i in np.flatnonzero(hot[group]):
        a = aids[i]
        st = states.get(a) or new.setdefault(a, {"asset_id": a, "rule_id": rule.id, "since": None,
                                                 "last_ts": None, "last_value": None})
        if cond[i] < 0:
            continue
        _step(session, rule, assets[a], st, alarms, at=datetime(1970, 1, 1) + timedelta(microseconds=int(ts[i])),
              breach=bool(cond[i]), value=float(vals[i]), measured=float(measured[i]), desk=desk, out=out)
    last = np.r_[starts[1:], True]  # the last reading of each asset carries over (rate rules need it)
    for i in np.flatnonzero(last):
        a = aids[i]
        carried = states.get(a) or new.get(a) or (new.setdefault(a, {"asset_id": a, "rule_id": rule.id, "since": None})
                                    if rule.type == "rate" else None)
        if carried is not None:
            carried["last_ts"] = datetime(1970, 1, 1) + timedelta(microseconds=int(ts[i]))
            carried["last_value"] = float(vals[i])
    if new:
        session.execute(insert(AlarmState), list(new.values()))
    present = set(firsts.tolist())
    touched = [s for a, s in states.items() if a in present]
    if touched:
        session.execute(update(AlarmState), touched)


def _step(session: Session, rule: AlarmRule, asset: tuple[Any, ...], st: dict[str, Any], alarms: dict[str, Alarm],
          *, at: datetime, breach: bool, value: float, measured: float, desk: CaseDesk | None,
          out: AlarmChanges) -> None:
    """One reading of one asset under one rule: raise after ``for_seconds`` of breach, repeat, clear after
    ``for_seconds`` back to normal. ``since``: when the current run (breach, or normal while open) began."""
    alarm, hold = alarms.get(asset[0]), timedelta(seconds=rule.for_seconds)
    if alarm is None and not breach:
        st["since"] = None
    elif alarm is None:
        st["since"] = st["since"] or at
        if at - st["since"] >= hold:
            alarms[asset[0]] = _raise(session, rule, asset, at=at, value=value, message=_message(rule, measured),
                                      desk=desk, out=out)
            st["since"] = None
    elif breach:
        alarm.count, alarm.last_at, alarm.last_value = alarm.count + 1, at, value
        out.repeated += 1
        st["since"] = None
    else:
        st["since"] = st["since"] or at
        if at - st["since"] >= hold:
            _close(session, alarm, at=at, by=ACTOR, reason=f"恢复正常 back to normal: {rule.metric} = {value:.6g}",
                   desk=desk, out=out)
            del alarms[asset[0]]
            st["since"] = None


def evaluate_batch(session: Session, batch: pa.Table, now: datetime, *, desk: CaseDesk | None = None) -> AlarmChanges:
    """Apply the threshold and rate rules to a lake batch (tenant, asset_id, metric, ts, value), update the
    assets' ``last_seen_at`` and status; unknown assets are counted, not evaluated. ``desk``: the case desk for
    rules that open cases (default: the environment's settings). One audit entry when alarms changed."""
    out = AlarmChanges(now=now, readings=batch.num_rows)
    if not batch.num_rows:
        return out
    ensure_default_rules(session)
    with unscoped(session):
        assets = _assets(session, pc.unique(batch["asset_id"]).to_pylist())
        known = batch.filter(pc.is_in(batch["asset_id"], value_set=pa.array(list(assets), pa.string())))
        out.unknown = batch.num_rows - known.num_rows
        if not known.num_rows:
            return out
        _touch(session, known, assets, out)
        book = RuleBook(session)
        wanted: dict[int, tuple[AlarmRule, list[str]]] = {}
        for a in assets.values():
            for r in book.applicable(a[1], a[2]):
                if r.type != "absence":
                    wanted.setdefault(r.id, (r, []))[1].append(a[0])
        valued = known.filter(pc.is_valid(known["value"]))
        for rule, ids in wanted.values():
            mask = pc.and_(pc.equal(valued["metric"], rule.metric),
                           pc.is_in(valued["asset_id"], value_set=pa.array(ids, pa.string())))
            rows = valued.filter(mask)
            if rows.num_rows:
                _apply(session, rule, rows, {a: assets[a][:5] for a in ids}, desk, out)
        session.flush()
    if out.changed:
        audit.record(session, "alarm.evaluate", target_type="alarms", detail=out.to_dict(), actor=ACTOR)
    return out


# ---- absence (离线) ----------------------------------------------------------------------------------------


def _absence_limits(rule: AlarmRule, intervals: np.ndarray) -> np.ndarray:
    """Seconds of silence after which the rule raises, per asset (NaN: the asset has no expected interval)."""
    if rule.seconds is not None:
        return np.full(len(intervals), float(rule.seconds))
    return intervals * float(rule.intervals or 0)


def sweep_absence(session: Session, now: datetime, *, desk: CaseDesk | None = None) -> AlarmChanges:
    """Raise absence alarms for assets silent too long (and mark them offline), clear those whose readings came
    back (and mark them online): one pass over the registry; one audit entry when alarms changed."""
    out = AlarmChanges(now=now)
    ensure_default_rules(session)
    with unscoped(session):
        book = RuleBook(session)
        cols = (Asset.id, Asset.tenant_id, Asset.kind, Asset.lat, Asset.lon, Asset.status, Asset.expected_interval_s,
                func.coalesce(Asset.last_seen_at, Asset.created_at))
        rows = session.execute(select(*cols).where(Asset.status != "retired").order_by(Asset.id)).tuples().all()
        opened = {(a.asset_id, a.rule_id): a for a in session.scalars(
            select(Alarm).where(Alarm.type == "absence", Alarm.status.in_(OPEN)))}
        status = {r[0]: r[5] for r in rows}
        key = np.array([f"{r[1]}\x1f{r[2]}" for r in rows], dtype=object)
        interval = np.array([r[6] if r[6] else np.nan for r in rows], dtype=np.float64)
        silent = np.array([(now - (r[7] or now)).total_seconds() for r in rows], dtype=np.float64)
        pairs = {(r[1], r[2]) for r in rows}
        rules = {r.id: r for u, k in pairs for r in book.applicable(u, k) if r.type == "absence"}
        marks: dict[str, str] = {}
        for rule in rules.values():
            applies = np.isin(key, [f"{u}\x1f{k}" for u, k in pairs if rule in book.applicable(u, k)])
            limit = _absence_limits(rule, interval)
            quiet = applies & ~np.isnan(limit) & (silent > limit)
            for i in np.flatnonzero(quiet).tolist():
                a = rows[i]
                alarm = opened.pop((a[0], rule.id), None)
                if alarm is None:
                    msg = f"离线 no reading for {silent[i]:.0f} s (limit {limit[i]:.0f} s)"
                    _raise(session, rule, tuple(a[:5]), at=now, value=None, message=msg, desk=desk, out=out)
                else:
                    alarm.count, alarm.last_at = alarm.count + 1, now
                    out.repeated += 1
                marks[a[0]] = "offline"
        for alarm in opened.values():  # heard from again, or no longer watched (rule gone, interval removed)
            _close(session, alarm, at=now, by=ACTOR, reason="恢复上报 readings came back", desk=desk, out=out)
            if alarm.asset_id in status and alarm.asset_id not in marks:
                marks[alarm.asset_id] = "online"
        changes = [{"id": a, "status": s} for a, s in marks.items() if status.get(a) != s]
        out.offline = sum(1 for c in changes if c["status"] == "offline")
        out.online = len(changes) - out.offline
        if changes:
            session.execute(update(Asset), changes)
        session.flush()
    if out.changed:
        audit.record(session, "alarm.sweep", target_type="alarms", detail=out.to_dict(), actor=ACTOR)
    return out


# ---- people acting on alarms ---------------------------------------------------------------------------------


def get_alarm(session: Session, alarm_id: str) -> Alarm:
    """The alarm (within the session's scope), else NotFound."""
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound(f"no alarm {alarm_id!r}", fix=LIST_FIX)
    return alarm


def _check(alarm: Alarm, action: str) -> None:
    if alarm.status in ACTIONS[action]:
        return
    possible = allowed_actions(alarm.status)
    raise Conflict(f"alarm {alarm.id} is {alarm.status}; '{action}' is only allowed from "
                   f"{', '.join(ACTIONS[action])}",
                   fix=f"from {alarm.status} the allowed actions are: "
                       f"{', '.join(possible) or 'none (the alarm is cleared)'}", details=possible)


def _actor(session: Session, actor: str | None) -> str:
    return actor or session.info.get("actor") or audit.cli_actor()


def acknowledge(session: Session, alarm_id: str, *, actor: str | None = None, note: str | None = None) -> Alarm:
    """Acknowledge a raised alarm (确认): someone is on it; it stays open until its condition ends or it is
    cleared. 409 from any other status, naming the allowed actions."""
    alarm = get_alarm(session, alarm_id)
    _check(alarm, "acknowledge")
    who = _actor(session, actor)
    alarm.status, alarm.acknowledged_at, alarm.acknowledged_by, alarm.ack_note = "acknowledged", utcnow(), who, note
    session.flush()
    audit.record(session, "alarm.acknowledge", target_type="alarm", target_id=alarm.id, tenant_id=alarm.tenant_id,
                 detail={"asset_id": alarm.asset_id, "note": note}, actor=actor)
    return alarm


def clear(session: Session, alarm_id: str, *, actor: str | None = None, reason: str | None = None,
          desk: CaseDesk | None = None) -> Alarm:
    """Clear an open alarm by hand (手动清除) and resolve its case; a condition that lasts raises a new one."""
    alarm = get_alarm(session, alarm_id)
    _check(alarm, "clear")
    out = AlarmChanges(now=utcnow())
    _close(session, alarm, at=out.now, by=_actor(session, actor), reason=reason or "手动清除 cleared by hand",
           desk=desk, out=out)
    if alarm.rule_id is not None:  # the next breach starts a new run
        session.execute(update(AlarmState).where(AlarmState.asset_id == alarm.asset_id,
                                                 AlarmState.rule_id == alarm.rule_id).values(since=None))
    audit.record(session, "alarm.clear", target_type="alarm", target_id=alarm.id, tenant_id=alarm.tenant_id,
                 detail={"asset_id": alarm.asset_id, "reason": reason, "cases_resolved": out.cases_resolved},
                 actor=actor)
    return alarm


def _severity_rank() -> Any:
    return case({s: i for i, s in enumerate(SEVERITIES)}, value=Alarm.severity, else_=len(SEVERITIES))


def alarm_query(*, session: Session, tenant: str | None = None, status: str | None = None,
                severity: str | None = None, asset: str | None = None, since: datetime | None = None,
                open_only: bool = False) -> Select[tuple[Alarm]]:
    """Alarms matching every filter, open ones first, then the most severe, then the newest."""
    stmt = select(Alarm)
    if tenant:
        stmt = stmt.where(Alarm.tenant_id.in_([u.id for u in subtree(session=session, unit_id=tenant)]))
    if status:
        stmt = stmt.where(Alarm.status == status)
    if open_only:
        stmt = stmt.where(Alarm.status.in_(OPEN))
    if severity:
        stmt = stmt.where(Alarm.severity == severity)
    if asset:
        stmt = stmt.where(Alarm.asset_id == asset)
    if since:
        stmt = stmt.where(Alarm.raised_at >= since)
    return stmt.order_by((Alarm.status == "cleared"), _severity_rank(), Alarm.raised_at.desc(), Alarm.id)


def list_alarms(session: Session, *, limit: int = 50, offset: int = 0, **filters: Any) -> tuple[list[Alarm], int]:
    """A page of ``alarm_query(**filters)`` and how many match."""
    stmt = alarm_query(session=session, **filters)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.limit(limit).offset(offset))), total


def open_by_severity(session: Session, units: Iterable[str]) -> dict[str, int]:
    """Open alarms per severity in ``units`` (most severe first; severities without alarms left out)."""
    rows = session.execute(select(Alarm.severity, func.count()).where(
        Alarm.status.in_(OPEN), Alarm.tenant_id.in_(list(units))).group_by(Alarm.severity)).tuples().all()
    found = dict(rows)
    return {s: found[s] for s in [*SEVERITIES, *sorted(set(found) - set(SEVERITIES))] if found.get(s)}


# ---- the ingest's hook ---------------------------------------------------------------------------------------


def alarm_listener(settings: Settings) -> Callable[[pa.Table], None]:
    """What the ingest calls after each lake batch: evaluate it in a session of its own and commit; a failure is
    logged, never raised (the batch is in the lake already)."""
    desks: list[CaseDesk] = []

    def listen(batch: pa.Table) -> None:
        try:
            if not desks:
                from chengyun.cases.service import CaseDesk

                desks.append(CaseDesk.for_settings(settings))
            with session_scope(settings) as session:
                changes = evaluate_batch(session, batch, utcnow(), desk=desks[0])
            if changes.changed:
                log.info("alarms: %d raised, %d cleared, %d repeated over %d readings", len(changes.raised),
                         len(changes.cleared), changes.repeated, changes.readings)
        except Exception:
            log.exception("alarm evaluation failed for a batch of %d readings (the readings are in the lake)",
                          batch.num_rows)

    return listen
