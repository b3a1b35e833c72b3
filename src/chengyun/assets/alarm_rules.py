"""Alarm rules (告警规则): the shipped defaults, a unit's own rules read and replaced as YAML, and the rules in
force for an asset (``RuleBook``).

Rules belong to a unit and apply to its subtree: an asset is governed by the enabled rules of its unit and of every
unit above it; when none of those units has rules of its own, the shipped defaults (``assets/data/alarm_rules.yaml``,
stored once with no unit) apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.assets import kinds
from chengyun.assets.alarm_lifecycle import ACTOR, OPEN, AlarmChanges, close_alarm
from chengyun.assets.alarm_schemas import AlarmRuleSet
from chengyun.assets.models import Alarm, AlarmRule, AlarmState
from chengyun.core.db import utcnow
from chengyun.core.errors import InvalidInput, NotFound
from chengyun.core.scoping import unscoped
from chengyun.tenancy.models import AdminUnit

if TYPE_CHECKING:
    from chengyun.cases.service import CaseDesk

DEFAULT_RULES = Path(__file__).resolve().parent / "data" / "alarm_rules.yaml"


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
            close_alarm(session, alarm, at=now, by=ACTOR, reason="告警规则已更换 rule replaced", desk=desk,
                        out=changes)
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
