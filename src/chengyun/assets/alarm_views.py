"""REST API of alarms (告警) and alarm rules under /api/v1.

Reading needs ``alarms.read``; acknowledging and clearing ``alarms.ack`` (the owning department may act on its
assets' alarms); a unit's rules ``alarms.rules``. An action the alarm's status does not allow is a 409 naming the
allowed ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.api.deps import scoped
from chengyun.api.pagination import PageDep
from chengyun.assets import alarms
from chengyun.assets.alarm_schemas import (
    AlarmAcknowledge,
    AlarmClear,
    AlarmPage,
    AlarmRead,
    AlarmRuleBase,
    AlarmRuleRead,
    AlarmRuleSet,
    AlarmStatusName,
    SeverityName,
)
from chengyun.assets.models import AlarmRule
from chengyun.cases.views import YAML_MEDIA, YAML_RESPONSE, DeskDep
from chengyun.core.types import naive_utc
from chengyun.tenancy.models import AdminUnit
from chengyun.tenancy.service import get_unit

router = APIRouter(prefix="/api/v1", tags=["alarms 告警"])

AlarmsRead = Annotated[Session, scoped("alarms.read")]
AlarmsAck = Annotated[Session, scoped("alarms.ack")]
RulesSession = Annotated[Session, scoped("alarms.rules")]
AlarmId = Annotated[str, Path(description="alarm id", max_length=32)]
TenantQuery = Annotated[str, Query(min_length=1, max_length=64, description="unit id")]


@router.get("/alarms")
def list_alarms(
    session: AlarmsRead,
    page: PageDep,
    tenant: Annotated[str | None, Query(max_length=64, description="a unit: its alarms and its subtree's")] = None,
    status: Annotated[AlarmStatusName | None, Query()] = None,
    severity: Annotated[SeverityName | None, Query()] = None,
    asset: Annotated[str | None, Query(max_length=64, description="asset id")] = None,
    since: Annotated[datetime | None, Query(description="raised at or after (UTC unless with an offset)")] = None,
) -> AlarmPage:
    """Alarms of the caller's units: open ones first, then the most severe, then the newest."""
    items, total = alarms.list_alarms(session, tenant=tenant, status=status, severity=severity, asset=asset,
                                      since=naive_utc(since, "since"), limit=page.limit, offset=page.offset)
    return AlarmPage(items=[AlarmRead.from_alarm(a) for a in items], total=total, limit=page.limit,
                     offset=page.offset)


@router.get("/alarms/{alarm_id}")
def get_alarm(alarm_id: AlarmId, session: AlarmsRead) -> AlarmRead:
    """One alarm, with the actions its status allows."""
    return AlarmRead.from_alarm(alarms.get_alarm(session, alarm_id))


@router.post("/alarms/{alarm_id}/acknowledge")
def acknowledge_alarm(alarm_id: AlarmId, session: AlarmsAck,
                      body: Annotated[AlarmAcknowledge | None, Body()] = None) -> AlarmRead:
    """Acknowledge a raised alarm (确认); 409 from any other status."""
    alarm = alarms.acknowledge(session, alarm_id, note=body.note if body else None)
    return AlarmRead.from_alarm(alarm)


@router.post("/alarms/{alarm_id}/clear")
def clear_alarm(alarm_id: AlarmId, session: AlarmsAck, desk: DeskDep,
                body: Annotated[AlarmClear | None, Body()] = None) -> AlarmRead:
    """Clear an open alarm by hand (手动清除); its case, if any, is resolved. 409 once cleared."""
    alarm = alarms.clear(session, alarm_id, reason=body.reason if body else None, desk=desk)
    return AlarmRead.from_alarm(alarm)


# ---- rules (告警规则) ---------------------------------------------------------------------------------------


@router.get("/alarm-rules")
def list_alarm_rules(
    session: AlarmsRead,
    tenant: Annotated[str | None, Query(max_length=64, description="only this unit's own rules")] = None,
) -> list[AlarmRuleRead]:
    """Rules of the caller's units and the shipped defaults (``tenant_id`` null), by unit and position."""
    alarms.ensure_default_rules(session)
    rows = alarms.rules_of(session, tenant) if tenant else [
        r for u in [None, *sorted(_rule_units(session))] for r in alarms.rules_of(session, u)]
    return [AlarmRuleRead.from_row(r) for r in rows]


def _rule_units(session: Session) -> set[str]:
    return {u for u in session.scalars(select(AlarmRule.tenant_id).distinct()) if u}


def rules_yaml(session: Session, unit: AdminUnit) -> str:
    """A unit's own rules as YAML (what PUT takes back); says so when the defaults apply instead."""
    alarms.ensure_default_rules(session)
    own = alarms.rules_of(session, unit.id)
    header = (f"告警规则 alarm rules of {unit.id} ({unit.name}); they apply to its subtree, with the rules of the "
              "units above.\nPUT this file back to replace them (all or nothing).")
    if not own:
        header += ("\nThe unit has no rules of its own: where no unit above has any either, the shipped defaults "
                   "apply (GET /api/v1/alarm-rules shows them with tenant_id null).")
    ruleset = AlarmRuleSet(tenant=unit.id, rules=[AlarmRuleBase.from_rule(r) for r in own])
    return ruleset.to_yaml(header)


@router.get("/alarm-rules.yaml", response_class=Response, responses=YAML_RESPONSE)
def get_alarm_rules_yaml(tenant: TenantQuery, session: RulesSession) -> Response:
    """A unit's own rules as YAML, in order."""
    text = rules_yaml(session, get_unit(session=session, unit_id=tenant))
    return Response(text, media_type=f"{YAML_MEDIA}; charset=utf-8")


@router.put("/alarm-rules.yaml", response_class=Response, responses=YAML_RESPONSE)
def replace_alarm_rules_yaml(
    tenant: TenantQuery,
    session: RulesSession,
    desk: DeskDep,
    text: Annotated[str, Body(media_type=YAML_MEDIA, max_length=200_000, description="the rules as YAML")],
) -> Response:
    """Replace a unit's rules with the YAML given (all or nothing); problems name the rule index and field."""
    unit = get_unit(session=session, unit_id=tenant)  # 404 outside the caller's units
    alarms.replace_rules(session, unit.id, AlarmRuleSet.from_yaml(text), desk=desk)
    return Response(rules_yaml(session, unit), media_type=f"{YAML_MEDIA}; charset=utf-8")
