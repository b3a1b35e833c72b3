"""Evaluating alarm rules (告警判定): threshold and rate rules over each lake batch of readings, and the absence
sweep over the registry.

``evaluate_batch`` computes the conditions per rule on whole columns (pyarrow/numpy); only the assets with a breach,
a pending condition or an open alarm are then walked reading by reading, in time order, to apply ``for_seconds``
(the condition must hold that long over consecutive readings to raise, and be back to normal that long to clear).
What carries over between batches (the last reading, since when the current run has held) is in ``AlarmState``.
``sweep_absence`` raises and clears absence alarms in one pass over the registry (for a periodic tick or cron).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.assets.alarm_lifecycle import ACTOR, OPEN, AlarmChanges, close_alarm, raise_alarm
from chengyun.assets.alarm_rules import RuleBook, ensure_default_rules
from chengyun.assets.models import Alarm, AlarmRule, AlarmState, Asset
from chengyun.core.scoping import unscoped
from chengyun.tenancy.service import unit_chains

if TYPE_CHECKING:
    from chengyun.cases.service import CaseDesk

_CHUNK = 5000  # ids per IN list (well below SQLite's and PostgreSQL's parameter limits)
_OPS: dict[str, Callable[[Any, Any], Any]] = {">": np.greater, ">=": np.greater_equal, "<": np.less,
                                              "<=": np.less_equal, "==": np.equal, "!=": np.not_equal}


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
            alarms[asset[0]] = raise_alarm(session, rule, asset, at=at, value=value,
                                           message=_message(rule, measured), desk=desk, out=out)
            st["since"] = None
    elif breach:
        alarm.count, alarm.last_at, alarm.last_value = alarm.count + 1, at, value
        out.repeated += 1
        st["since"] = None
    else:
        st["since"] = st["since"] or at
        if at - st["since"] >= hold:
            close_alarm(session, alarm, at=at, by=ACTOR,
                        reason=f"恢复正常 back to normal: {rule.metric} = {value:.6g}", desk=desk, out=out)
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
        # a reading counts only under its asset's unit or one above it: never another district's device
        chains = unit_chains(session=session)
        pairs = pa.array([f"{t}\x1f{a[0]}" for a in assets.values() for t in chains.get(a[1], (a[1],))],
                         pa.string())
        keys = pc.binary_join_element_wise(batch["tenant"], batch["asset_id"], "\x1f")
        known = batch.filter(pc.is_in(keys, value_set=pairs))
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
                    raise_alarm(session, rule, tuple(a[:5]), at=now, value=None, message=msg, desk=desk, out=out)
                else:
                    alarm.count, alarm.last_at = alarm.count + 1, now
                    out.repeated += 1
                marks[a[0]] = "offline"
        for alarm in opened.values():  # heard from again, or no longer watched (rule gone, interval removed)
            close_alarm(session, alarm, at=now, by=ACTOR, reason="恢复上报 readings came back", desk=desk, out=out)
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
