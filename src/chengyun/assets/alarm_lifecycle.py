"""The alarm lifecycle (告警生命周期): raised → acknowledged → cleared, by the rules or by people, with the case
a rule may open (``chengyun.cases.alarms``) resolved when its alarm clears; and the queries that list alarms.

``raise_alarm`` and ``close_alarm`` are what evaluation, the absence sweep and a rule replacement call; at most one
alarm per (asset, rule) is not cleared (a partial unique index), so a repeat adds to its ``count`` instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.assets.alarm_schemas import SEVERITIES
from chengyun.assets.models import Alarm, AlarmRule, AlarmState
from chengyun.core.db import utcnow
from chengyun.core.errors import Conflict, NotFound
from chengyun.tenancy.service import subtree

if TYPE_CHECKING:  # the cases domain is imported only when a case is opened or resolved
    from chengyun.cases.service import CaseDesk

ACTOR = "alarm-rules"
ACTIONS: dict[str, tuple[str, ...]] = {"acknowledge": ("raised",), "clear": ("raised", "acknowledged")}
OPEN = ("raised", "acknowledged")
LIST_FIX = "see `chengyun alarms list` (or GET /api/v1/alarms)"


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


# ---- raising and clearing ----------------------------------------------------------------------------------


def _desk(desk: CaseDesk | None) -> CaseDesk:
    from chengyun.cases.service import CaseDesk
    from chengyun.core.settings import get_settings

    return desk if desk is not None else CaseDesk.for_settings(get_settings())


def raise_alarm(session: Session, rule: AlarmRule, asset: tuple[Any, ...], *, at: datetime,
                value: float | None, message: str, desk: CaseDesk | None, out: AlarmChanges) -> Alarm:
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


def close_alarm(session: Session, alarm: Alarm, *, at: datetime, by: str, reason: str,
                desk: CaseDesk | None, out: AlarmChanges) -> None:
    """Clear an open alarm, and resolve its case (if any) through the cases domain."""
    alarm.status, alarm.cleared_at, alarm.cleared_by, alarm.clear_reason = "cleared", at, by[:100], reason[:500]
    out.cleared.append(alarm.id)
    if alarm.case_id:
        from chengyun.cases.alarms import clear_alarm_case

        found = clear_alarm_case(session, _desk(desk), tenant_id=alarm.tenant_id, alarm_id=alarm.id, at=at)
        if found is not None:
            out.cases_resolved.append(found.id)
    session.flush([alarm])


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
    close_alarm(session, alarm, at=out.now, by=_actor(session, actor),
                reason=reason or "手动清除 cleared by hand", desk=desk, out=out)
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
