"""What the case API (案件) and its Open311 GeoReport v2 face take and return.

Staff API: ``CaseBase → CaseCreate → CaseAction (the only way a case changes) → CaseRead → CaseDetail → CasePage``;
dispatch rules ``DispatchRuleBase → DispatchRuleCreate → DispatchRuleUpdate → DispatchRuleRead`` and their YAML
form ``DispatchRuleSet``. Open311: the service list, a service definition, a service request (read), the fields of
a new request and the answer to it, each in the field order of the GeoReport v2 specification.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime, timedelta
from typing import Any, Literal, Self
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chengyun.api.pagination import Page
from chengyun.cases import lifecycle
from chengyun.cases.models import Case, CaseEvent, DispatchRule
from chengyun.cases.service import Category
from chengyun.core.errors import InvalidInput
from chengyun.core.types import UtcDateTime

ChannelName = Literal["hotline", "app", "open311", "iot-alarm", "data-quality", "grid", "other"]
PriorityName = Literal["urgent", "high", "normal", "low"]
StatusName = Literal[
    "accepted", "dispatched", "in_progress", "returned", "suspended", "resolved", "followed_up", "closed",
    "cancelled",
]
ActionName = Literal[
    "dispatch", "receive", "return", "suspend", "resume", "extend", "resolve", "follow_up", "close", "reopen",
    "cancel",
]
HOURS_RE = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^\+?\d[\d -]{5,19}$")


class NoNul(BaseModel):
    """Text fields may not hold NUL characters: PostgreSQL cannot store them (a 422, not a 500)."""

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        for name, value in self:
            if any(isinstance(v, str) and "\x00" in v for v in (value if isinstance(value, list) else [value])):
                raise ValueError(f"{name}: contains a NUL character (\\x00)")
        return self


# ---- cases -----------------------------------------------------------------------------------------------------


class CaseBase(NoNul):
    """What a reporter or an operator says about the problem."""

    model_config = ConfigDict(extra="forbid")

    channel: ChannelName = Field(
        description="hotline 12345热线 | app 移动端 | open311 | iot-alarm 设备告警 | data-quality 数据质量 | grid 网格员 | other"
    )
    category: str | None = Field(None, max_length=32, description="a code, e.g. E0101 (GET /api/v1/cases/categories)")
    priority: PriorityName = "normal"
    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=4000)
    lat: float | None = Field(None, ge=-90, le=90, description="WGS-84 latitude")
    lon: float | None = Field(None, ge=-180, le=180, description="WGS-84 longitude")
    address: str | None = Field(None, max_length=300)
    attachments: list[str] | None = Field(None, max_length=20, description="references, not bytes")
    parent_id: str | None = Field(None, max_length=32)

    @field_validator("attachments")
    @classmethod
    def _short_references(cls, value: list[str] | None) -> list[str] | None:
        if value and any(len(a) > 500 for a in value):
            raise ValueError("each attachment reference is at most 500 characters")
        return value


class CaseCreate(CaseBase):
    """A new case (受理) in ``tenant``; ``contact`` is kept only as a keyed hash and a mask (138****1234)."""

    tenant: str = Field(min_length=1, max_length=64, description="the unit where the problem is")
    contact: str | None = Field(None, max_length=100, description="reporter's phone or e-mail (hashed)")
    external_id: str | None = Field(None, max_length=100, description="the id in the system it came from")


class CaseAction(NoNul):
    """One lifecycle action on a case (派遣 dispatch, 签收 receive, 退回 return, 办结 resolve, …)."""

    model_config = ConfigDict(extra="forbid")

    action: ActionName
    reason: str | None = Field(None, max_length=2000, description="to return, suspend, extend, reopen, cancel")
    department: str | None = Field(None, max_length=64, description="dispatch: the department id")
    amount: float | None = Field(None, gt=0, le=3650, description="extend: hours or working days")
    solved: bool | None = Field(None, description="follow_up: did the citizen say the problem is solved (解决)")
    satisfaction: int | None = Field(None, ge=1, le=5, description="follow_up: 5 very … 1 not satisfied")
    duplicate_of: str | None = Field(None, max_length=32, description="cancel: the original case")


class ActionRead(BaseModel):
    action: str
    name_zh: str
    name_en: str


class CaseEventRead(BaseModel):
    """One step of a case's history."""

    at: UtcDateTime
    actor: str
    action: str
    action_zh: str | None
    from_status: str | None
    to_status: str | None
    department_id: str | None
    reason: str | None
    detail: dict[str, Any] | None

    @classmethod
    def from_event(cls, ev: CaseEvent) -> CaseEventRead:
        names = lifecycle.ACTIONS.get(ev.action)
        return cls(at=ev.at, actor=ev.actor, action=ev.action, action_zh=names[0] if names else None,
                   from_status=ev.from_status, to_status=ev.to_status, department_id=ev.department_id,
                   reason=ev.reason, detail=ev.detail)


class CaseRead(BaseModel):
    """A case as lists show it (UTC times; ``hours_left`` < 0 when overdue, null while the clock stands)."""

    id: str
    tenant_id: str
    channel: str
    category: str | None
    category_name: str | None
    priority: str
    title: str | None
    description: str | None
    lat: float | None
    lon: float | None
    address: str | None
    department_id: str | None
    status: str
    status_zh: str
    status_en: str
    created_at: UtcDateTime
    response_due_at: UtcDateTime | None
    due_at: UtcDateTime | None
    hours_left: float | None
    overdue: bool
    dispatched_at: UtcDateTime | None
    responded_at: UtcDateTime | None
    resolved_at: UtcDateTime | None
    closed_at: UtcDateTime | None
    parent_id: str | None
    duplicate_of: str | None
    returned_count: int
    reopened_count: int
    escalation_level: int
    breached: bool
    updated_at: UtcDateTime

    @classmethod
    def fields_of(cls, case: Case, categories: dict[str, Category], now: datetime) -> dict[str, Any]:
        """The read fields of ``case`` at ``now`` (naive UTC)."""
        zh, en = lifecycle.STATUSES.get(case.status, (case.status, case.status))
        cat = categories.get(case.category or "")
        is_open = case.status in lifecycle.OPEN
        left = (case.due_at - now) / timedelta(hours=1) if is_open and case.due_at is not None else None
        plain = {name: getattr(case, name) for name in (
            "id", "tenant_id", "channel", "category", "priority", "title", "description", "lat", "lon", "address",
            "department_id", "status", "created_at", "response_due_at", "due_at", "dispatched_at", "responded_at",
            "resolved_at", "closed_at", "parent_id", "duplicate_of", "returned_count", "reopened_count",
            "escalation_level", "breached", "updated_at")}
        return plain | {"category_name": cat.name if cat else None, "status_zh": zh, "status_en": en,
                        "hours_left": None if left is None else round(left, 2),
                        "overdue": left is not None and left < 0}

    @classmethod
    def from_case(cls, case: Case, categories: dict[str, Category], now: datetime) -> CaseRead:
        return cls(**cls.fields_of(case, categories, now))


class CaseDetail(CaseRead):
    """One case with the masked contact, its SLA rule, every step of its history and what may be done next."""

    reporter: str | None = Field(description="the reporter's contact, masked (138****1234); never the number")
    attachments: list[Any] | None
    sla_rule: str | None
    extension: float
    solved: bool | None
    satisfaction: int | None
    history: list[CaseEventRead]
    allowed_actions: list[ActionRead]

    @classmethod
    def build(
        cls, case: Case, categories: dict[str, Category], now: datetime, events: list[CaseEvent]
    ) -> CaseDetail:
        allowed = [ActionRead(action=a, name_zh=lifecycle.ACTIONS[a][0], name_en=lifecycle.ACTIONS[a][1])
                   for a in lifecycle.allowed_actions(case.status)]
        return cls(**cls.fields_of(case, categories, now), reporter=case.reporter_masked,
                   attachments=case.attachments, sla_rule=case.sla_rule, extension=case.extension or 0.0,
                   solved=case.solved, satisfaction=case.satisfaction,
                   history=[CaseEventRead.from_event(e) for e in events], allowed_actions=allowed)


class CasePage(Page[CaseRead]):
    """One page of cases."""


class CategoryNode(BaseModel):
    """A category of the code table (分类代码表) and the categories below it."""

    code: str
    name: str
    name_en: str
    children: list[CategoryNode] = []

    @classmethod
    def tree(cls, categories: dict[str, Category]) -> list[CategoryNode]:
        """The table as a forest (parents come before children in the table)."""
        nodes = {c.code: cls(code=c.code, name=c.name, name_en=c.name_en) for c in categories.values()}
        roots: list[CategoryNode] = []
        for c in categories.values():
            (nodes[c.parent].children if c.parent in nodes else roots).append(nodes[c.code])
        return roots


# ---- dispatch rules (派遣规则) --------------------------------------------------------------------------------


class DispatchRuleBase(NoNul):
    """Where matching new cases go: the first enabled rule of the case's unit or a unit above it, by position."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field("*", min_length=1, max_length=64, description="glob over category codes: E01*, P0101, *")
    area: str | None = Field(None, max_length=64, description="only cases in this unit's subtree")
    hours: str | None = Field(None, pattern=HOURS_RE, description="local span, 08:30-17:30 (may wrap midnight)")
    department: str = Field(min_length=1, max_length=64, description="the department the cases go to")
    enabled: bool = True
    note: str | None = Field(None, max_length=200)

    @field_validator("hours")
    @classmethod
    def _non_empty_span(cls, value: str | None) -> str | None:
        if value and value[:5] == value[6:]:
            raise ValueError("the span starts and ends at the same minute, so it never matches")
        return value

    def matches_some(self, codes: list[str]) -> bool:
        """Whether the category glob matches at least one code of the table."""
        return any(fnmatch.fnmatchcase(code, self.category) for code in codes)


class DispatchRuleCreate(DispatchRuleBase):
    tenant: str = Field(min_length=1, max_length=64, description="the unit whose subtree it covers")
    position: int = Field(100, ge=0, le=1_000_000, description="lower positions are tried first")


class DispatchRuleUpdate(DispatchRuleBase):
    """The whole rule, replacing what was there (its unit stays)."""

    position: int = Field(100, ge=0, le=1_000_000)


class DispatchRuleRead(DispatchRuleCreate):
    id: int

    @classmethod
    def from_rule(cls, rule: DispatchRule) -> DispatchRuleRead:
        return cls(id=rule.id, tenant=rule.tenant_id, position=rule.position, category=rule.category,
                   area=rule.area, hours=rule.hours, department=rule.department_id, enabled=rule.enabled,
                   note=rule.note)


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


class DispatchRuleSet(BaseModel):
    """A unit's rules as YAML (``tenant: ID``, ``rules: [{category, area, hours, department, enabled, note}]``);
    the order of the list is the order they are tried in."""

    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(None, max_length=64)
    rules: list[DispatchRuleBase] = Field(default_factory=list, max_length=1000)

    @classmethod
    def from_yaml(cls, text: str) -> DispatchRuleSet:
        """Parse and validate; every problem is named by rule index and field (``rules[2].hours: …``)."""
        fix = "write `rules:` as a list of {category, department, area?, hours?, enabled?, note?}; " \
              "GET /api/v1/dispatch-rules.yaml?tenant=ID shows the current rules in this form"
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise InvalidInput(f"the dispatch rules are not valid YAML{where}: {getattr(exc, 'problem', exc)}",
                               fix="quote values that start with * or contain ': ' (e.g. category: '*')") from exc
        if not isinstance(data, dict):
            raise InvalidInput("the dispatch rules must be a mapping with a `rules:` list", fix=fix)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            details = [f"{_where(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
            problems = f"{len(details)} problem(s) in the dispatch rules"
            raise InvalidInput(problems, fix=fix, details=details) from exc

    def to_yaml(self, header: str) -> str:
        """The YAML form, with ``header`` as a comment on top (what round-trips through ``from_yaml``)."""
        rules = [r.model_dump(exclude_none=True) for r in self.rules]
        body = yaml.safe_dump({"tenant": self.tenant, "rules": rules}, allow_unicode=True, sort_keys=False)
        return "".join(f"# {line}\n" for line in header.splitlines()) + body


# ---- Open311 GeoReport v2 ------------------------------------------------------------------------------------


class Open311Service(BaseModel):
    """A service (type) a citizen may request: one category of the code table."""

    service_code: str
    service_name: str
    description: str | None
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str | None
    group: str | None


class Open311Attribute(BaseModel):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str | None
    order: int | None
    description: str | None


class Open311ServiceDefinition(BaseModel):
    """Extra fields of a service; none so far (the category says all the form asks)."""

    service_code: str
    attributes: list[Open311Attribute]


class Open311Request(BaseModel):
    """A service request as anyone may read it: no contact field at all."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str | None
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class Open311Created(BaseModel):
    """The answer to a new request (created at once, so no token)."""

    service_request_id: str
    service_notice: str | None
    account_id: str | None = None


class Open311RequestCreate(NoNul):
    """The form fields of POST requests. Names are kept only in this object: neither they nor the phone or e-mail
    as given are stored (the contact becomes a keyed hash and a mask)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    service_code: str = Field(min_length=1, max_length=32)
    lat: float | None = Field(None, ge=-90, le=90)
    long: float | None = Field(None, ge=-180, le=180)
    address_string: str | None = Field(None, max_length=300)
    address_id: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=4000)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    media_url: str | None = Field(None, max_length=500)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None and not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL_RE.match(value):
            raise ValueError("not an e-mail address")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not PHONE_RE.match(value):
            raise ValueError("not a phone number (digits, spaces, dashes, an optional leading +)")
        return value

    @field_validator("media_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        u = urlparse(value)
        if u.scheme not in ("http", "https") or not u.netloc or any(ch.isspace() for ch in value):
            raise ValueError("not an http(s) URL")
        return value

    @model_validator(mode="after")
    def _located(self) -> Open311RequestCreate:
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long: give both or neither")
        if self.lat is None and not self.address_string and not self.address_id:
            raise ValueError("a location is required: lat and long, or address_string, or address_id")
        return self

    @property
    def contact(self) -> str | None:
        """The phone, else the e-mail: what the case keeps as hash and mask."""
        return self.phone or self.email
