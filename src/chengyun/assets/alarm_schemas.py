"""What alarms (告警) and alarm rules take and return: ``AlarmRuleBase → AlarmRuleRead``, ``AlarmRuleSet`` (a
unit's rules as YAML), ``AlarmRead → AlarmPage`` and the bodies of acknowledging and clearing."""

from __future__ import annotations

from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chengyun.api.pagination import Page
from chengyun.assets import kinds
from chengyun.assets.models import Alarm, AlarmRule
from chengyun.core.errors import InvalidInput
from chengyun.core.types import UtcDateTime

RuleType = Literal["threshold", "absence", "rate"]
OpName = Literal[">", ">=", "<", "<=", "==", "!="]
SeverityName = Literal["critical", "major", "minor", "warning"]
AlarmStatusName = Literal["raised", "acknowledged", "cleared"]
SEVERITIES: dict[str, tuple[str, str]] = {  # most severe first
    "critical": ("紧急", "Critical"), "major": ("重要", "Major"), "minor": ("次要", "Minor"), "warning": ("提示", "Warning"),
}
ALARM_STATUSES: dict[str, tuple[str, str]] = {
    "raised": ("未确认", "Raised"), "acknowledged": ("已确认", "Acknowledged"), "cleared": ("已清除", "Cleared"),
}
RULES_FIX = ("write `rules:` as a list of {kind, type, metric?, op?, value?, for_seconds?, intervals?, seconds?, "
             "severity?, open_case?, enabled?, note?}; GET /api/v1/alarm-rules.yaml?tenant=ID shows the current "
             "rules in this form")


class AlarmRuleBase(BaseModel):
    """One rule as the YAML writes it (告警规则)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field("*", max_length=32, description="an asset kind, a class (device, link …) or * for all")
    type: RuleType = Field(description="threshold: a metric beyond a limit; absence: no readings for too long; "
                                       "rate: a metric changing too fast")
    metric: str | None = Field(None, min_length=1, max_length=64, description="threshold and rate: the metric")
    op: OpName | None = Field(None, description="threshold: how the reading compares with value")
    value: float | None = Field(None, description="threshold: the limit; rate: the change per minute (absolute)")
    for_seconds: int = Field(0, ge=0, le=7 * 86400, description="threshold and rate: the condition must hold "
                                                              "this long over consecutive readings (and end as "
                                                              "long before the alarm clears)")
    intervals: float | None = Field(None, gt=0, le=10_000, description="absence: silent for this many of the "
                                                                       "asset's expected intervals")
    seconds: int | None = Field(None, ge=1, le=31_536_000, description="absence: or silent this many seconds")
    severity: SeverityName = "major"
    open_case: bool = Field(False, description="open a case (设备告警立案, category E06) with the alarm")
    enabled: bool = True
    note: str | None = Field(None, max_length=500)

    def problems(self) -> list[str]:
        """What the fields contradict, each naming the field (the YAML loader prefixes the rule index)."""
        out = []
        if self.kind != "*" and not kinds.kinds_in(self.kind):
            out.append(f"kind: {self.kind!r} is neither a kind nor a class of assets (or *)")
        if self.type == "absence":
            if (self.intervals is None) == (self.seconds is None):
                out.append("intervals: an absence rule needs intervals or seconds (one of them)")
            out += [f"{f}: not used by absence rules" for f in ("metric", "op", "value")
                    if getattr(self, f) is not None]
            return out
        if self.metric is None:
            out.append(f"metric: a {self.type} rule needs the metric it watches")
        if self.value is None:
            out.append(f"value: a {self.type} rule needs a value")
        if self.type == "threshold" and self.op is None:
            out.append("op: a threshold rule needs op (one of > >= < <= == !=)")
        if self.type == "rate" and self.op is not None:
            out.append("op: not used by rate rules (the absolute change per minute above value)")
        if self.type == "rate" and self.value is not None and self.value < 0:
            out.append("value: a rate is a change per minute ≥ 0")
        out += [f"{f}: only absence rules use it" for f in ("intervals", "seconds") if getattr(self, f) is not None]
        return out

    @classmethod
    def from_rule(cls, r: AlarmRule) -> AlarmRuleBase:
        return cls(kind=r.kind, type=r.type, metric=r.metric, op=r.op, value=r.value,  # type: ignore[arg-type]
                   for_seconds=r.for_seconds, intervals=r.intervals, seconds=r.seconds,
                   severity=r.severity, open_case=r.open_case, enabled=r.enabled, note=r.note)  # type: ignore[arg-type]


class AlarmRuleRead(AlarmRuleBase):
    """A stored rule: its id and unit (none for the shipped defaults)."""

    id: int
    tenant_id: str | None
    position: int

    @classmethod
    def from_row(cls, r: AlarmRule) -> AlarmRuleRead:
        return cls(id=r.id, tenant_id=r.tenant_id, position=r.position,
                   **AlarmRuleBase.from_rule(r).model_dump())


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


class AlarmRuleSet(BaseModel):
    """A unit's rules as YAML: ``tenant: ID`` (optional) and ``rules: [...]``, in order."""

    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(None, max_length=64)
    rules: list[AlarmRuleBase] = Field(default_factory=list, max_length=1000)

    @classmethod
    def from_yaml(cls, text: str, source: str = "the alarm rules") -> AlarmRuleSet:
        """Parse and validate; every problem is named by rule index and field (``rules[2].op: …``)."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise InvalidInput(f"{source} are not valid YAML{where}: {getattr(exc, 'problem', exc)}",
                               fix="quote values that start with * or > (e.g. kind: '*', op: '>')") from exc
        if data is None:
            data = {"rules": []}
        if not isinstance(data, dict):
            raise InvalidInput(f"{source} must be a mapping with a `rules:` list", fix=RULES_FIX)
        try:
            ruleset = cls.model_validate(data)
        except ValidationError as exc:
            details = [f"{_where(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
            raise InvalidInput(f"{len(details)} problem(s) in {source}", fix=RULES_FIX, details=details) from exc
        details = [f"rules[{i}].{p}" for i, r in enumerate(ruleset.rules) for p in r.problems()]
        if details:
            raise InvalidInput(f"{len(details)} problem(s) in {source}", fix=RULES_FIX, details=details)
        return ruleset

    def to_yaml(self, header: str) -> str:
        """The YAML form, with ``header`` as a comment on top (what round-trips through ``from_yaml``)."""
        rules = [r.model_dump(exclude_none=True, exclude_defaults=True) | {"type": r.type} for r in self.rules]
        body = yaml.safe_dump({"tenant": self.tenant, "rules": rules}, allow_unicode=True, sort_keys=False)
        return "".join(f"# {line}\n" for line in header.splitlines()) + body


class AlarmRead(BaseModel):
    """An alarm as lists show it, with the actions its status allows."""

    id: str
    asset_id: str
    tenant_id: str
    rule_id: int | None
    type: str
    metric: str | None
    status: str
    status_zh: str
    severity: str
    severity_zh: str
    raised_at: UtcDateTime
    last_at: UtcDateTime
    acknowledged_at: UtcDateTime | None
    acknowledged_by: str | None
    ack_note: str | None
    cleared_at: UtcDateTime | None
    cleared_by: str | None
    clear_reason: str | None
    last_value: float | None
    message: str
    case_id: str | None
    count: int
    actions: list[str]

    @classmethod
    def from_alarm(cls, a: Alarm) -> AlarmRead:
        from chengyun.assets.alarms import allowed_actions  # the lifecycle lives with the service

        plain = {name: getattr(a, name) for name in (
            "id", "asset_id", "tenant_id", "rule_id", "type", "metric", "status", "severity", "raised_at", "last_at",
            "acknowledged_at", "acknowledged_by", "ack_note", "cleared_at", "cleared_by", "clear_reason",
            "last_value", "message", "case_id", "count")}
        return cls(**plain, status_zh=ALARM_STATUSES.get(a.status, (a.status,))[0],
                   severity_zh=SEVERITIES.get(a.severity, (a.severity,))[0], actions=allowed_actions(a.status))


class AlarmPage(Page[AlarmRead]):
    """One page of alarms."""


class AlarmAcknowledge(BaseModel):
    """Acknowledging an alarm (确认): someone is on it."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=500)


class AlarmClear(BaseModel):
    """Clearing an alarm by hand (手动清除): why."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500)
