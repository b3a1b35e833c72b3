"""Cases raised by device alarms (设备告警立案): the internal call the infrastructure domain uses.

One alarm, one case: the alarm's id is the case's external id (source ``alarm``), so a repeated call while the
alarm lasts returns the case already open. When the alarm condition ends, ``clear_alarm_case`` resolves the case
if nobody finished it yet, through legal lifecycle steps, with actor ``alarm``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengyun.cases import lifecycle
from chengyun.cases.models import Case
from chengyun.cases.service import CaseDesk, _event, create_case, transition
from chengyun.core.db import utcnow
from chengyun.core.errors import InvalidInput

ACTOR = "alarm"
SOURCE = "alarm"
CATEGORY = "E06"  # 设备告警 device alarms, in the shipped category table
SEVERITY_PRIORITY: dict[str, str] = {  # the alarm's severity → the case's priority
    "critical": "urgent",
    "urgent": "urgent",
    "major": "high",
    "high": "high",
    "minor": "normal",
    "warning": "normal",
    "medium": "normal",
    "normal": "normal",
    "low": "low",
    "info": "low",
}
CLEARED = "告警解除 alarm cleared"


def priority_for(severity: str) -> str:
    """The case priority for an alarm severity (critical → urgent, major → high, minor → normal, info → low)."""
    try:
        return SEVERITY_PRIORITY[severity.strip().lower()]
    except KeyError:
        raise InvalidInput(f"severity: {severity!r} is not an alarm severity",
                           fix=f"use one of: {', '.join(SEVERITY_PRIORITY)}") from None


def alarm_case(session: Session, *, tenant_id: str, alarm_id: str) -> Case | None:
    """The case opened for the alarm, if any."""
    return session.scalar(select(Case).where(Case.tenant_id == tenant_id, Case.source == SOURCE,
                                             Case.external_id == alarm_id))


def _current(session: Session, desk: CaseDesk, case: Case, message: str, at: datetime) -> Case:
    """The case to answer a repeated alarm with: the open one, the one it was merged into, or reopened."""
    seen = {case.id}
    while case.status == "cancelled" and case.duplicate_of and case.duplicate_of not in seen:
        target = session.get(Case, case.duplicate_of)
        if target is None:
            break
        case = target
        seen.add(case.id)
    if case.status in ("resolved", "followed_up", "closed"):  # the same alarm again: the problem is back (重开)
        transition(session, desk, case.id, "reopen", actor=ACTOR, at=at, reason=f"告警再次触发 alarm raised again: {message}")
    return case


def open_case_for_alarm(
    session: Session,
    desk: CaseDesk,
    *,
    tenant_id: str,
    asset_id: str,
    alarm_id: str,
    metric: str,
    value: float | str | None,
    message: str,
    severity: str,
    lat: float | None = None,
    lon: float | None = None,
    at: datetime | None = None,
    category: str | None = None,
) -> Case:
    """The case for a device alarm (channel iot-alarm): opened on the first call, the same case after that."""
    priority, at = priority_for(severity), at or utcnow()
    found = alarm_case(session, tenant_id=tenant_id, alarm_id=alarm_id)
    if found is not None:
        return _current(session, desk, found, message, at)
    detail = {"asset_id": asset_id, "alarm_id": alarm_id, "metric": metric, "value": value, "severity": severity}
    try:
        with session.begin_nested():  # two calls for one alarm at once: the unique key lets one case in
            case = create_case(
                session, desk, tenant_id=tenant_id, channel="iot-alarm", category=category or CATEGORY,
                priority=priority, title=f"{metric}: {message}"[:200], lat=lat, lon=lon, external_id=alarm_id,
                source=SOURCE, created_at=at, actor=ACTOR,
                description=f"设备告警 device alarm {alarm_id} on asset {asset_id}: {metric} = {value} ({severity}). "
                            f"{message}")
            _event(session, case, "alarm", ACTOR, before=case.status, at=at, reason=message, detail=detail)
            session.flush()
    except IntegrityError:
        found = alarm_case(session, tenant_id=tenant_id, alarm_id=alarm_id)
        if found is None:
            raise
        return _current(session, desk, found, message, at)
    return case


def clear_alarm_case(session: Session, desk: CaseDesk, *, tenant_id: str, alarm_id: str,
                     at: datetime | None = None) -> Case | None:
    """Resolve the alarm's case when the condition ends (告警解除); finished cases are left as they are.

    A suspended case resumes first, a dispatched one is received and then resolved. A case nobody holds (still in
    the triage queue, or returned) is cancelled instead, as there is no department to record the resolution for.
    None when no case was opened for the alarm.
    """
    case = alarm_case(session, tenant_id=tenant_id, alarm_id=alarm_id)
    if case is None or case.status not in lifecycle.OPEN:
        return case
    at = at or utcnow()
    if case.status == "suspended":
        transition(session, desk, case.id, "resume", actor=ACTOR, at=at, reason=CLEARED)
    if case.status in ("accepted", "returned"):
        return transition(session, desk, case.id, "cancel", actor=ACTOR, at=at,
                          reason=f"{CLEARED} before any department took it on")
    if case.status == "dispatched":
        transition(session, desk, case.id, "receive", actor=ACTOR, at=at, reason=CLEARED)
    return transition(session, desk, case.id, "resolve", actor=ACTOR, at=at, reason=CLEARED)
