"""REST API of city cases (一网统管 案件) under /api/v1: cases, their lifecycle, categories, dispatch rules.

Reading needs ``cases.read``; creating and acting on cases ``cases.write`` (a department acts on the cases of its
units); dispatch rules ``cases.rules``. The reporter's contact is shown only masked, and every read of one case is
audited. Dispatching by rule is done by the system on the caller's behalf, so it sees the rules and departments of
the units above the caller's too (a district's case may go to a city bureau, 市级委办局).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.api.deps import principal_of, scoped
from chengyun.api.pagination import PageDep
from chengyun.cases import lifecycle, service
from chengyun.cases.models import Case, DispatchRule
from chengyun.cases.schemas import (
    CaseAction,
    CaseCreate,
    CaseDetail,
    CasePage,
    CaseRead,
    CategoryNode,
    ChannelName,
    DispatchRuleBase,
    DispatchRuleCreate,
    DispatchRuleRead,
    DispatchRuleSet,
    DispatchRuleUpdate,
    StatusName,
)
from chengyun.cases.service import CaseDesk
from chengyun.core.db import utcnow
from chengyun.core.errors import InvalidInput, NotFound
from chengyun.core.scoping import unscoped
from chengyun.core.types import naive_utc
from chengyun.tenancy.models import AdminUnit
from chengyun.tenancy.service import get_unit, subtree

router = APIRouter(prefix="/api/v1", tags=["cases 案件"])

CasesRead = Annotated[Session, scoped("cases.read")]
CasesWrite = Annotated[Session, scoped("cases.write")]
RulesSession = Annotated[Session, scoped("cases.rules")]
CaseId = Annotated[str, Path(description="case id", max_length=32)]
RuleId = Annotated[int, Path(description="dispatch rule id", ge=1, le=2**31 - 1)]
TenantQuery = Annotated[str, Query(min_length=1, max_length=64, description="unit id")]
YAML_MEDIA = "application/yaml"
RULES_FIX = "see GET /api/v1/cases/categories, GET /api/v1/tenants and GET /api/v1/departments"


def case_desk_for(app: Any) -> CaseDesk:
    """The app's case desk (SLA policy, calendar, categories), built on first use from the app's settings."""
    desk: CaseDesk | None = getattr(app.state, "case_desk", None)
    if desk is None:  # two first requests at once build it twice; both are the same, the last one is kept
        desk = app.state.case_desk = CaseDesk.for_settings(app.state.settings)
    return desk


def case_desk(request: Request) -> CaseDesk:
    """The case desk of the request's app."""
    return case_desk_for(request.app)


DeskDep = Annotated[CaseDesk, Depends(case_desk)]


# Lift the caller's scope for a step the platform takes itself (rules and departments of higher units).
acting_as_system = unscoped


def _page(session: Session, stmt: Select[tuple[Case]], desk: CaseDesk, page: PageDep) -> CasePage:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.limit(page.limit).offset(page.offset))
    now = utcnow()
    return CasePage(items=[CaseRead.from_case(c, desk.categories, now) for c in rows], total=total,
                    limit=page.limit, offset=page.offset)


def _detail(session: Session, desk: CaseDesk, case: Case) -> CaseDetail:
    return CaseDetail.build(case, desk.categories, utcnow(), service.history(session, case.id))


# ---- cases ----------------------------------------------------------------------------------------------------


@router.get("/cases")
def list_cases(
    session: CasesRead,
    desk: DeskDep,
    page: PageDep,
    tenant: Annotated[str | None, Query(max_length=64, description="a unit: its cases and its subtree's")] = None,
    status_: Annotated[StatusName | None, Query(alias="status")] = None,
    department: Annotated[str | None, Query(max_length=64, description="department id")] = None,
    category: Annotated[str | None, Query(max_length=32, description="code prefix: E01 → E0101, E0102 …")] = None,
    channel: Annotated[ChannelName | None, Query()] = None,
    overdue: Annotated[bool | None, Query(description="true: open and past the resolution limit")] = None,
    since: Annotated[datetime | None, Query(description="created at or after (UTC unless with an offset)")] = None,
    until: Annotated[datetime | None, Query(description="created before")] = None,
) -> CasePage:
    """Cases in the caller's units, newest first, filtered and paginated, with their SLA countdown."""
    stmt = select(Case)
    if tenant:
        stmt = stmt.where(Case.tenant_id.in_([u.id for u in subtree(session=session, unit_id=tenant)]))
    if status_:
        stmt = stmt.where(Case.status == status_)
    if department:
        stmt = stmt.where(Case.department_id == department)
    if category:
        stmt = stmt.where(Case.category.startswith(category, autoescape=True))
    if channel:
        stmt = stmt.where(Case.channel == channel)
    if overdue is not None:
        late = Case.status.in_(lifecycle.OPEN) & Case.due_at.is_not(None) & (Case.due_at < utcnow())
        stmt = stmt.where(late if overdue else ~late)
    if since:
        stmt = stmt.where(Case.created_at >= naive_utc(since, "since"))
    if until:
        stmt = stmt.where(Case.created_at < naive_utc(until, "until"))
    return _page(session, stmt.order_by(Case.created_at.desc(), Case.id.desc()), desk, page)


@router.get("/cases/triage")
def list_triage_cases(session: CasesRead, desk: DeskDep, page: PageDep) -> CasePage:
    """The triage queue (待分拨): accepted cases no rule dispatched, longest waiting first."""
    stmt = select(Case).where(Case.status == "accepted", Case.department_id.is_(None))
    return _page(session, stmt.order_by(Case.created_at, Case.id), desk, page)


@router.get("/cases/categories")
def list_case_categories(_session: CasesRead, desk: DeskDep) -> list[CategoryNode]:
    """The category code table (分类代码表) as a tree: 部件 components, 事件 events, 12345 request types."""
    return CategoryNode.tree(desk.categories)


@router.get("/cases/{case_id}")
def get_case(case_id: CaseId, session: CasesRead, desk: DeskDep) -> CaseDetail:
    """One case with its history and the actions it allows; the read is audited (it names a reporter)."""
    case = service.get_case(session, case_id)
    audit.record(session, "case.read", target_type="case", target_id=case.id, tenant_id=case.tenant_id)
    return _detail(session, desk, case)


@router.post("/cases", status_code=status.HTTP_201_CREATED)
def create_case(body: CaseCreate, session: CasesWrite, desk: DeskDep, response: Response) -> CaseDetail:
    """Accept a case (受理) in a unit of the caller's: its SLA clocks start and the dispatch rules route it."""
    principal_of(session).require("cases.write", body.tenant)
    case = service.create_case(session, desk, tenant_id=body.tenant, channel=body.channel, category=body.category,
                       priority=body.priority, title=body.title, description=body.description, lat=body.lat,
                       lon=body.lon, address=body.address, contact=body.contact, attachments=body.attachments,
                       external_id=body.external_id, parent_id=body.parent_id)
    response.headers["Location"] = f"/api/v1/cases/{case.id}"
    return _detail(session, desk, case)


@router.post("/cases/{case_id}/actions")
def act_on_case(case_id: CaseId, body: CaseAction, session: CasesWrite, desk: DeskDep) -> CaseDetail:
    """Apply a lifecycle action; one the case's status does not allow is a 409 naming the allowed ones."""
    case = service.get_case(session, case_id)  # 404 outside the caller's units
    if body.duplicate_of:
        service.get_case(session, body.duplicate_of)
    case = service.transition(session, desk, case.id, body.action, reason=body.reason,
                              department_id=body.department, hours=body.amount, solved=body.solved,
                              satisfaction=body.satisfaction, duplicate_of=body.duplicate_of)
    return _detail(session, desk, case)


# ---- dispatch rules (派遣规则) -------------------------------------------------------------------------------


def rule_errors(
    session: Session, desk: CaseDesk, tenant_id: str, rule: DispatchRuleBase, where: str = ""
) -> list[str]:
    """What is wrong with ``rule`` for unit ``tenant_id`` (codes, area, department), each named by field."""
    errors = []
    if not rule.matches_some(list(desk.categories)):
        errors.append(f"{where}category: {rule.category!r} matches no category code")
    if rule.area and tenant_id not in service.ancestors(session, rule.area):
        errors.append(f"{where}area: {rule.area!r} is not {tenant_id!r} or a unit below it")
    if service.reachable_department(session, rule.department, tenant_id) is None:
        errors.append(f"{where}department: no department {rule.department!r} at, above or below {tenant_id!r}")
    return errors


def _check_rule(session: Session, desk: CaseDesk, tenant_id: str, rule: DispatchRuleBase) -> None:
    if errors := rule_errors(session, desk, tenant_id, rule):
        raise InvalidInput(f"invalid dispatch rule: {'; '.join(errors)}", fix=RULES_FIX, details=errors)


def _get_rule(session: Session, rule_id: int) -> DispatchRule:
    rule = session.get(DispatchRule, rule_id)
    if rule is None:
        raise NotFound(f"no dispatch rule {rule_id}", fix="see GET /api/v1/dispatch-rules")
    return rule


def _set_fields(rule: DispatchRule, body: DispatchRuleBase) -> None:
    rule.category, rule.area, rule.hours = body.category, body.area, body.hours
    rule.department_id, rule.enabled, rule.note = body.department, body.enabled, body.note


@router.get("/dispatch-rules")
def list_dispatch_rules(
    session: RulesSession,
    tenant: Annotated[str | None, Query(max_length=64, description="only this unit's own rules")] = None,
) -> list[DispatchRuleRead]:
    """Dispatch rules of the caller's units, by unit and position (the order they are tried in)."""
    stmt = select(DispatchRule).order_by(DispatchRule.tenant_id, DispatchRule.position, DispatchRule.id)
    if tenant:
        stmt = stmt.where(DispatchRule.tenant_id == tenant)
    return [DispatchRuleRead.from_rule(r) for r in session.scalars(stmt)]


@router.post("/dispatch-rules", status_code=status.HTTP_201_CREATED)
def create_dispatch_rule(body: DispatchRuleCreate, session: RulesSession, desk: DeskDep) -> DispatchRuleRead:
    """Add a rule to a unit of the caller's."""
    principal_of(session).require("cases.rules", body.tenant)
    _check_rule(session, desk, body.tenant, body)
    rule = DispatchRule(tenant_id=body.tenant, position=body.position)
    _set_fields(rule, body)
    session.add(rule)
    session.flush()
    audit.record(session, "dispatch_rule.create", target_type="dispatch_rule", target_id=str(rule.id),
                 tenant_id=rule.tenant_id, detail=body.model_dump())
    return DispatchRuleRead.from_rule(rule)


@router.put("/dispatch-rules/{rule_id}")
def update_dispatch_rule(
    rule_id: RuleId, body: DispatchRuleUpdate, session: RulesSession, desk: DeskDep
) -> DispatchRuleRead:
    """Replace a rule (its unit stays)."""
    rule = _get_rule(session, rule_id)
    _check_rule(session, desk, rule.tenant_id, body)
    _set_fields(rule, body)
    rule.position = body.position
    session.flush()
    audit.record(session, "dispatch_rule.update", target_type="dispatch_rule", target_id=str(rule.id),
                 tenant_id=rule.tenant_id, detail=body.model_dump())
    return DispatchRuleRead.from_rule(rule)


@router.delete("/dispatch-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dispatch_rule(rule_id: RuleId, session: RulesSession) -> Response:
    """Remove a rule."""
    rule = _get_rule(session, rule_id)
    audit.record(session, "dispatch_rule.delete", target_type="dispatch_rule", target_id=str(rule.id),
                 tenant_id=rule.tenant_id, detail=DispatchRuleRead.from_rule(rule).model_dump())
    session.delete(rule)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _rules_yaml(session: Session, unit: AdminUnit) -> Response:
    rows = session.scalars(select(DispatchRule).where(DispatchRule.tenant_id == unit.id)
                           .order_by(DispatchRule.position, DispatchRule.id))
    rules = [DispatchRuleBase(category=r.category, area=r.area, hours=r.hours, department=r.department_id,
                              enabled=r.enabled, note=r.note) for r in rows]
    header = (f"派遣规则 dispatch rules of {unit.id} ({unit.name}): the first match wins, top to bottom;\n"
              "rules of the units above are tried too (by position). PUT this file back to replace them.")
    text = DispatchRuleSet(tenant=unit.id, rules=rules).to_yaml(header)
    return Response(text, media_type=f"{YAML_MEDIA}; charset=utf-8")


YAML_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {YAML_MEDIA: {"schema": {"type": "string"}}}}}


@router.get("/dispatch-rules.yaml", response_class=Response, responses=YAML_RESPONSE)
def get_dispatch_rules_yaml(tenant: TenantQuery, session: RulesSession) -> Response:
    """A unit's own rules as YAML, in the order they are tried."""
    return _rules_yaml(session, get_unit(session=session, unit_id=tenant))


@router.put("/dispatch-rules.yaml", response_class=Response, responses=YAML_RESPONSE)
def replace_dispatch_rules_yaml(
    tenant: TenantQuery,
    session: RulesSession,
    desk: DeskDep,
    text: Annotated[str, Body(media_type=YAML_MEDIA, max_length=200_000, description="the rules as YAML")],
) -> Response:
    """Replace a unit's rules with the YAML given (all or nothing); problems name the rule index and field."""
    unit = get_unit(session=session, unit_id=tenant)
    ruleset = DispatchRuleSet.from_yaml(text)
    if ruleset.tenant not in (None, unit.id):
        raise InvalidInput(f"tenant: the YAML is for {ruleset.tenant!r}, the request for {unit.id!r}",
                           fix="send ?tenant= the unit named in the file, or remove `tenant:` from the file")
    errors = [e for i, rule in enumerate(ruleset.rules)
              for e in rule_errors(session, desk, unit.id, rule, f"rules[{i}].")]
    if errors:
        raise InvalidInput(f"{len(errors)} problem(s) in the dispatch rules of {unit.id!r}", fix=RULES_FIX,
                           details=errors)
    session.execute(delete(DispatchRule).where(DispatchRule.tenant_id == unit.id))
    for i, r in enumerate(ruleset.rules):
        row = DispatchRule(tenant_id=unit.id, position=(i + 1) * 10)
        _set_fields(row, r)
        session.add(row)
    session.flush()
    audit.record(session, "dispatch_rules.replace", target_type="admin_unit", target_id=unit.id,
                 tenant_id=unit.id, detail={"rules": len(ruleset.rules)})
    return _rules_yaml(session, unit)
