"""Case handling (案件办理): intake, dispatch, the lifecycle with SLA clocks, and reading cases.

``CaseDesk`` holds what every call needs from the workspace (SLA policy, working-day calendar, category table,
the key for citizens' contact hashes, the display time zone). Every change is a ``CaseEvent`` and an audit entry.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import Engine, Select, bindparam, literal, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.exc import StaleDataError

from chengyun.accounts import audit
from chengyun.cases import lifecycle, sla
from chengyun.cases.calendar import WorkCalendar
from chengyun.cases.models import Case, CaseEvent, DispatchRule
from chengyun.core.db import utcnow
from chengyun.core.errors import Conflict, InvalidInput, NotFound
from chengyun.core.scoping import unscoped
from chengyun.core.settings import Settings
from chengyun.tenancy.models import AdminUnit, Department
from chengyun.tenancy.service import subtree

CHANNELS: dict[str, tuple[str, str]] = {
    "hotline": ("12345热线", "12345 hotline"),
    "app": ("移动端", "App"),
    "open311": ("Open311", "Open311"),
    "iot-alarm": ("设备告警", "Device alarm"),
    "data-quality": ("数据质量", "Data quality"),
    "grid": ("网格员", "Grid inspector"),
    "other": ("其他", "Other"),
}
CATEGORIES_FILE = Path(__file__).resolve().parent / "data" / "categories.yaml"
MAX_DEPTH = 16  # units above a case: city, district, street, grid and room to spare
_PHONE = re.compile(r"^\+?\d[\d -]{5,19}$")


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    name_en: str
    parent: str | None


def load_categories(path: Path | None = None) -> dict[str, Category]:
    """The category code table (分类代码表), parents before children."""
    path = path or CATEGORIES_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, Category] = {}
    for i, c in enumerate(data.get("categories") or []):
        if not isinstance(c, dict) or not c.get("code") or not c.get("name"):
            raise InvalidInput(f"{path}: categories[{i}] needs a code and a name", fix="see cases/data/categories.yaml")
        parent = c.get("parent")
        if parent and parent not in out:
            raise InvalidInput(f"{path}: categories[{i}] ({c['code']}): parent {parent!r} is not defined above it",
                               fix="list parents before their children")
        out[str(c["code"])] = Category(str(c["code"]), str(c["name"]), str(c.get("name_en") or c["name"]), parent)
    return out


@dataclass
class CaseDesk:
    """Workspace-wide configuration of case handling."""

    secret: str
    rules: list[sla.SlaRule]
    categories: dict[str, Category]
    calendar: WorkCalendar
    tz: str = "Asia/Shanghai"
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def for_settings(cls, settings: Settings) -> CaseDesk:
        folder = settings.workspace / "cases"
        policy = folder / "sla.yaml"
        cats = folder / "categories.yaml"
        return cls(secret=settings.secret(), rules=sla.load_policy(policy if policy.exists() else None),
                   categories=load_categories(cats if cats.exists() else None),
                   calendar=WorkCalendar(settings.workspace / "holidays"), tz=settings.timezone)

    def contact_hash(self, contact: str) -> str:
        """A keyed hash of a citizen's phone or id number: equal contacts match, the number is not stored."""
        norm = re.sub(r"[\s-]", "", contact)
        return hmac.new(self.secret.encode(), f"contact:{norm}".encode(), hashlib.sha256).hexdigest()


def mask_contact(contact: str) -> str:
    """138****1234 for a phone; the first and last characters for anything else."""
    norm = re.sub(r"[\s-]", "", contact)
    if _PHONE.match(contact) and len(norm) >= 7:
        return f"{norm[:3]}****{norm[-4:]}"
    return f"{norm[:1]}***{norm[-1:]}" if len(norm) > 2 else "***"


def _event(session: Session, case: Case, action: str, actor: str, *, before: str | None, reason: str | None = None,
           detail: dict[str, Any] | None = None, at: datetime | None = None) -> CaseEvent:
    ev = CaseEvent(case_id=case.id, at=at or utcnow(), actor=actor, action=action, from_status=before,
                   to_status=case.status, department_id=case.department_id, reason=reason, detail=detail)
    session.add(ev)
    case.updated_at = ev.at
    return ev


def _actor(session: Session, actor: str | None) -> str:
    return actor or session.info.get("actor") or audit.cli_actor()


def _pauses(case: Case) -> list[tuple[datetime, datetime | None]]:
    spans: list[tuple[datetime, datetime | None]] = [
        (datetime.fromisoformat(a), datetime.fromisoformat(b) if b else None) for a, b in (case.pauses or [])
    ]
    if case.paused_since is not None:
        spans.append((case.paused_since, None))
    return spans


def apply_sla(desk: CaseDesk, case: Case, tz: str | None = None) -> None:
    """(Re)compute the response and resolution due times from the rule, pauses and approved extension."""
    rule = sla.rule_for(desk.rules, case.category, case.priority)
    zone = tz or desk.tz
    pauses = _pauses(case)
    case.response_due_at = sla.due_at(case.created_at, rule.response, calendar=desk.calendar, tz=zone,
                                      pauses=pauses)
    case.due_at = sla.due_at(case.created_at, rule.resolution, calendar=desk.calendar, tz=zone, pauses=pauses,
                             extension=case.extension or 0.0)
    case.sla_rule = f"{rule.category}/{rule.priority}: {rule.response.label()}; {rule.resolution.label()}"[:100]


def _hours_match(spec: str | None, local: datetime) -> bool:
    if not spec:
        return True
    a, b = (datetime.strptime(x.strip(), "%H:%M").time() for x in spec.split("-"))
    t = local.time()
    return a <= t < b if a <= b else (t >= a or t < b)  # a span that wraps midnight


# Case handling reaches past the caller's scope in two places, on purpose: the dispatch rules of the units above a
# case apply to it, and a case may go to a department of its unit, of a unit above or of a unit below. Those reads
# lift the session's scope (``unscoped``) and never answer the caller with what they read.


def _ancestors_query() -> Select[tuple[str]]:
    """Built once (its compiled form is cached): the unit ``:unit_id`` and those above it, nearest first."""
    up = select(AdminUnit.id, AdminUnit.parent_id, literal(0).label("depth")) \
        .where(AdminUnit.id == bindparam("unit_id")).cte("up", recursive=True)
    parent = aliased(AdminUnit)
    up = up.union_all(select(parent.id, parent.parent_id, (up.c.depth + 1).label("depth"))
                      .join(up, parent.id == up.c.parent_id).where(up.c.depth < MAX_DEPTH))
    return select(up.c.id).order_by(up.c.depth)


_ANCESTORS = _ancestors_query()


def ancestors(session: Session, unit_id: str) -> list[str]:
    """The unit and every unit above it, nearest first (one recursive query; an unknown unit gives just itself)."""
    with unscoped(session):
        chain = list(session.scalars(_ANCESTORS, {"unit_id": unit_id}))
    out: list[str] = []
    for uid in chain or [unit_id]:  # a loop in the tree (a data error) stops at its first repeat
        if uid in out:
            break
        out.append(uid)
    return out


def reachable_units(session: Session, unit_id: str) -> set[str]:
    """The units whose departments may handle a case of ``unit_id``: it, those above it and those below it."""
    with unscoped(session):
        return set(ancestors(session, unit_id)) | {u.id for u in subtree(session=session, unit_id=unit_id)}


def reachable_department(session: Session, department_id: str, unit_id: str) -> Department | None:
    """The department if a case of ``unit_id`` may go to it, else None."""
    with unscoped(session):
        dept = session.get(Department, department_id)
    if dept is None:
        return None
    # at or above the unit, or below it (then the unit is above the department's)
    if dept.tenant_id in ancestors(session, unit_id) or unit_id in ancestors(session, dept.tenant_id):
        return dept
    return None


def route(session: Session, desk: CaseDesk, case: Case) -> DispatchRule | None:
    """The first enabled dispatch rule (by position) of the case's unit or an ancestor that matches it."""
    chain = ancestors(session, case.tenant_id)
    local = case.created_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(desk.tz))
    with unscoped(session):
        rules = list(session.scalars(select(DispatchRule).where(DispatchRule.tenant_id.in_(chain),
                                                                DispatchRule.enabled)
                                     .order_by(DispatchRule.position, DispatchRule.id)))
    for r in rules:
        if not fnmatch.fnmatchcase(case.category or "", r.category or "*"):
            continue
        if r.area and r.area not in chain:
            continue
        if _hours_match(r.hours, local.replace(tzinfo=None)):
            return r
    return None


def create_case(
    session: Session,
    desk: CaseDesk,
    *,
    tenant_id: str,
    channel: str,
    category: str | None = None,
    priority: str = "normal",
    title: str | None = None,
    description: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    address: str | None = None,
    contact: str | None = None,
    attachments: list[str] | None = None,
    external_id: str | None = None,
    source: str = "api",
    parent_id: str | None = None,
    created_at: datetime | None = None,
    actor: str | None = None,
    auto_dispatch: bool = True,
) -> Case:
    """Accept a case (受理): validate it, start its SLA clocks and dispatch it by the rules (else it waits in
    the triage queue, status accepted with no department)."""
    if channel not in CHANNELS:
        raise InvalidInput(f"channel: {channel!r} is not a channel", fix=f"use one of: {', '.join(CHANNELS)}")
    if priority not in sla.PRIORITIES:
        raise InvalidInput(f"priority: {priority!r} is unknown", fix=f"use one of: {', '.join(sla.PRIORITIES)}")
    if category is not None and category not in desk.categories:
        raise InvalidInput(f"category: {category!r} is not in the category table",
                           fix="use a code from GET /api/v1/cases/categories (e.g. E0101 暴露垃圾)")
    if (lat is None) != (lon is None):
        raise InvalidInput("lat/lon: give both or neither", fix="send lat and lon in WGS-84 degrees")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(f"lat/lon: ({lat}, {lon}) is not a position on Earth", fix="send WGS-84 degrees")
    if session.get(AdminUnit, tenant_id) is None:
        raise NotFound(f"tenant: no unit {tenant_id!r}", fix="see GET /api/v1/tenants")
    if parent_id is not None and session.get(Case, parent_id) is None:  # scoped: another district's is not there
        raise NotFound(f"parent_id: no case {parent_id!r} among the cases you may see",
                       fix="name a case of your own units as the main case (主案件), or leave parent_id out")
    actor = _actor(session, actor)
    case = Case(id=uuid.uuid4().hex[:16], tenant_id=tenant_id, channel=channel, source=source,
                external_id=external_id, category=category, priority=priority, title=title, description=description,
                lat=lat, lon=lon, address=address, attachments=attachments or None, parent_id=parent_id,
                status="accepted", created_at=created_at or utcnow(), extension=0.0, returned_count=0,
                reopened_count=0, escalation_level=0, breached=False, inconsistent=False)
    if contact:
        case.reporter_hash, case.reporter_masked = desk.contact_hash(contact), mask_contact(contact)
    apply_sla(desk, case)
    session.add(case)
    _event(session, case, "accept", actor, before=None, at=case.created_at,
           detail={"channel": channel, "sla": case.sla_rule})
    if auto_dispatch:
        rule = route(session, desk, case)
        if rule is not None:
            transition(session, desk, case.id, "dispatch", department_id=rule.department_id, actor="dispatch-rules",
                       reason=f"rule {rule.id}" + (f" ({rule.note})" if rule.note else ""), audit_it=False,
                       at=case.created_at)  # dispatched on intake, also when the intake time is given
    session.flush()
    audit.record(session, "case.create", target_type="case", target_id=case.id, tenant_id=tenant_id,
                 detail={"channel": channel, "category": category, "department": case.department_id})
    return case


def get_case(session: Session, case_id: str) -> Case:
    """The case (within the session's scope), else NotFound."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id!r}", fix="see GET /api/v1/cases")
    return case


def transition(
    session: Session,
    desk: CaseDesk,
    case_id: str,
    action: str,
    *,
    actor: str | None = None,
    reason: str | None = None,
    department_id: str | None = None,
    hours: float | None = None,
    solved: bool | None = None,
    satisfaction: int | None = None,
    duplicate_of: str | None = None,
    at: datetime | None = None,
    audit_it: bool = True,
) -> Case:
    """Apply a lifecycle action; illegal moves fail with the allowed ones named. Returns the case."""
    case = get_case(session, case_id)
    to = lifecycle.check(action, case.status, case.id)
    before, now, actor = case.status, at or utcnow(), _actor(session, actor)
    detail: dict[str, Any] = {}
    if action in ("return", "suspend", "cancel", "reopen", "extend") and not (reason or "").strip():
        raise InvalidInput(f"reason: a reason is required to {action} ({lifecycle.ACTIONS[action][0]})",
                           fix="say why, in a sentence")
    if action == "dispatch":
        if not department_id:
            raise InvalidInput("department: dispatch needs a department", fix="send department (a department id)")
        if reachable_department(session, department_id, case.tenant_id) is None:
            raise NotFound(f"department: no department {department_id!r} for the cases of {case.tenant_id!r}",
                           fix="choose a department of the case's unit or of a unit above or below it")
        case.department_id, case.dispatched_at = department_id, now
    elif action == "receive":
        case.responded_at = case.responded_at or now
    elif action == "return":
        case.returned_count += 1
        detail["returned_by"] = case.department_id
    elif action == "suspend":
        case.paused_since = now
    elif action == "resume":
        spans = list(case.pauses or []) + [[case.paused_since.isoformat() if case.paused_since else now.isoformat(),
                                              now.isoformat()]]
        case.pauses, case.paused_since = spans, None
        to = "in_progress" if case.responded_at else "dispatched"
    elif action == "extend":
        if hours is None or hours <= 0:
            raise InvalidInput("amount: an extension needs a positive amount in the limit's unit",
                               fix="send amount (hours or working days, as the case's resolution limit counts)")
        case.extension = (case.extension or 0.0) + float(hours)
        detail["amount"] = hours
    elif action == "resolve":
        case.resolved_at = now
    elif action == "follow_up":
        if satisfaction is not None and not 1 <= satisfaction <= 5:
            raise InvalidInput(f"satisfaction: {satisfaction} is outside 1–5", fix="5 very satisfied … 1 very dissatisfied")
        case.solved, case.satisfaction, case.followed_up_at = solved, satisfaction, now
    elif action == "close":
        case.closed_at = now
    elif action == "reopen":
        case.reopened_count += 1
        detail["was_resolved_at"] = case.resolved_at.isoformat() if case.resolved_at else None
        case.resolved_at = case.closed_at = case.followed_up_at = None
        case.solved = case.satisfaction = None  # the earlier follow-up rated a resolution that did not hold
    elif action == "cancel" and duplicate_of:
        if duplicate_of == case.id:
            raise InvalidInput("duplicate_of: a case cannot duplicate itself", fix="name the original case")
        original = get_case(session, duplicate_of)
        if original.status == "cancelled":
            raise Conflict(f"duplicate_of: case {duplicate_of} is itself cancelled",
                           fix=f"name the case it duplicates ({original.duplicate_of or 'see its history'})")
        case.duplicate_of = duplicate_of
        detail["duplicate_of"] = duplicate_of
    if to is not None:
        case.status = to
    if action in ("suspend", "resume", "extend"):  # a stopped clock has no due time until it runs again
        apply_sla(desk, case)
    _event(session, case, action, actor, before=before, reason=reason, detail=detail or None, at=now)
    try:
        session.flush()
    except StaleDataError:
        raise _changed_meanwhile(session, case_id, action) from None
    if audit_it:
        audit.record(session, f"case.{action}", target_type="case", target_id=case.id, tenant_id=case.tenant_id,
                     detail={"from": before, "to": case.status} | detail)
    return case


def _changed_meanwhile(session: Session, case_id: str, action: str) -> Conflict:
    """The 409 for an action that lost a race: another action changed the case between our read and our write.
    The current state is read on a connection of its own (this session's transaction is spoiled)."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)  # sessions are bound to the state DB's engine (core/db.py)
    with engine.connect() as conn:
        row = conn.execute(select(Case.status, Case.version).where(Case.id == case_id)).first()
    now = f"it is now {row.status} (version {row.version})" if row else "it no longer exists"
    return Conflict(f"case {case_id} was changed by another action while {action} was applied; {now}",
                    fix=f"read the case again (GET /api/v1/cases/{case_id}) and repeat the action if it still applies")


def history(session: Session, case_id: str) -> list[CaseEvent]:
    """Every step of the case, oldest first."""
    get_case(session, case_id)
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at, CaseEvent.id)))


def time_left(case: Case, now: datetime | None = None) -> timedelta | None:
    """Time until the resolution limit (negative: overdue); None while the clock stands or without a limit."""
    if case.due_at is None or case.status not in lifecycle.OPEN:
        return None
    return case.due_at - (now or utcnow())
