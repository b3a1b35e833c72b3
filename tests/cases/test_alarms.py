"""Device alarms as cases (设备告警立案): one case per alarm, a repeated call returns it, clearing resolves it
through legal steps; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from chengyun.cases import alarms
from chengyun.cases.alarms import clear_alarm_case, open_case_for_alarm
from chengyun.cases.duplicates import merge
from chengyun.cases.models import Case, DispatchRule
from chengyun.cases.service import CaseDesk, history, transition
from chengyun.core.db import session_scope
from chengyun.core.errors import InvalidInput
from chengyun.core.settings import Settings
from tests.cases.casebook import CITY, D1, WATER, build_city

T0 = datetime(2026, 11, 25, 6, 0)


@pytest.fixture
def desk(ws: Settings) -> CaseDesk:
    """The city, with device alarms dispatched to the water authority by rule."""
    with session_scope(ws) as s:
        build_city(s)
        s.add(DispatchRule(tenant_id=CITY, position=10, category="E06*", department_id=WATER, enabled=True))
    return CaseDesk.for_settings(ws)


def raise_alarm(ws: Settings, desk: CaseDesk, alarm_id: str = "alm-1", **kw: Any) -> Case:
    args: dict[str, Any] = dict(tenant_id=D1, asset_id="pump-7", alarm_id=alarm_id, metric="pressure_kpa",
                                value=612.5, message="管网压力过高 pressure above 600 kPa", severity="critical",
                                lat=31.23, lon=121.47, at=T0) | kw
    with session_scope(ws) as s:
        return open_case_for_alarm(s, desk, **args)


def count(ws: Settings) -> int:
    with session_scope(ws) as s:
        return int(s.scalar(select(func.count()).select_from(Case)) or 0)


def test_an_alarm_opens_one_case(ws: Settings, desk: CaseDesk) -> None:
    case = raise_alarm(ws, desk)
    assert (case.channel, case.source, case.external_id, case.category, case.priority) == \
        ("iot-alarm", "alarm", "alm-1", "E06", "urgent")
    assert (case.status, case.department_id, case.created_at, case.lat) == ("dispatched", WATER, T0, 31.23)
    assert case.description is not None and "pump-7" in case.description and "612.5" in case.description
    with session_scope(ws) as s:
        steps = history(s, case.id)
        assert [(e.action, e.actor) for e in steps] == [("accept", "alarm"), ("dispatch", "dispatch-rules"),
                                                       ("alarm", "alarm")]
        assert steps[-1].detail == {"asset_id": "pump-7", "alarm_id": "alm-1", "metric": "pressure_kpa",
                                    "value": 612.5, "severity": "critical"}
    again = raise_alarm(ws, desk, at=T0 + timedelta(minutes=5), value=640.0)
    assert again.id == case.id and count(ws) == 1
    other = raise_alarm(ws, desk, alarm_id="alm-2", severity="minor", category="E0401")
    assert other.id != case.id and (other.priority, other.category) == ("normal", "E0401") and count(ws) == 2


@pytest.mark.parametrize(("severity", "priority"), [("critical", "urgent"), ("Major", "high"), ("minor", "normal"),
                                                    ("warning", "normal"), ("info", "low")])
def test_priority_follows_severity(severity: str, priority: str) -> None:
    assert alarms.priority_for(severity) == priority


def test_an_unknown_severity_is_refused(ws: Settings, desk: CaseDesk) -> None:
    with pytest.raises(InvalidInput) as err:
        raise_alarm(ws, desk, severity="apocalyptic")
    assert err.value.fix is not None and "critical" in err.value.fix and count(ws) == 0


def test_clearing_receives_and_resolves(ws: Settings, desk: CaseDesk) -> None:
    case = raise_alarm(ws, desk)
    cleared_at = T0 + timedelta(hours=2)
    with session_scope(ws) as s:
        done = clear_alarm_case(s, desk, tenant_id=D1, alarm_id="alm-1", at=cleared_at)
        assert done is not None and (done.id, done.status, done.resolved_at) == (case.id, "resolved", cleared_at)
    with session_scope(ws) as s:
        tail = [(e.action, e.actor, e.from_status, e.to_status) for e in history(s, case.id)][-2:]
        assert tail == [("receive", "alarm", "dispatched", "in_progress"), ("resolve", "alarm", "in_progress",
                                                                             "resolved")]
        assert all(e.reason == alarms.CLEARED for e in history(s, case.id)[-2:])
        steps = len(history(s, case.id))
    with session_scope(ws) as s:  # a finished case is left alone
        again = clear_alarm_case(s, desk, tenant_id=D1, alarm_id="alm-1", at=cleared_at + timedelta(hours=1))
        assert again is not None and again.status == "resolved" and len(history(s, case.id)) == steps
        assert clear_alarm_case(s, desk, tenant_id=D1, alarm_id="never-raised") is None


def test_clearing_a_suspended_case_resumes_it_first(ws: Settings, desk: CaseDesk) -> None:
    case = raise_alarm(ws, desk)
    with session_scope(ws) as s:
        transition(s, desk, case.id, "receive", at=T0 + timedelta(minutes=10))
        transition(s, desk, case.id, "suspend", reason="等待备件", at=T0 + timedelta(minutes=20))
    with session_scope(ws) as s:
        done = clear_alarm_case(s, desk, tenant_id=D1, alarm_id="alm-1", at=T0 + timedelta(hours=1))
        assert done is not None and done.status == "resolved"
        assert [e.action for e in history(s, case.id)][-2:] == ["resume", "resolve"]


def test_clearing_a_case_nobody_holds_cancels_it(ws: Settings, desk: CaseDesk) -> None:
    with session_scope(ws) as s:  # no rule for this tenant's category: the case waits in the triage queue
        s.execute(DispatchRule.__table__.delete())
    case = raise_alarm(ws, desk)
    assert case.status == "accepted"
    with session_scope(ws) as s:
        done = clear_alarm_case(s, desk, tenant_id=D1, alarm_id="alm-1", at=T0 + timedelta(hours=1))
        assert done is not None and done.status == "cancelled"
        assert history(s, case.id)[-1].reason == f"{alarms.CLEARED} before any department took it on"


def test_the_same_alarm_after_resolution_reopens_its_case(ws: Settings, desk: CaseDesk) -> None:
    case = raise_alarm(ws, desk)
    with session_scope(ws) as s:
        clear_alarm_case(s, desk, tenant_id=D1, alarm_id="alm-1", at=T0 + timedelta(hours=1))
    back = raise_alarm(ws, desk, at=T0 + timedelta(hours=3))
    assert (back.id, back.status, back.reopened_count) == (case.id, "in_progress", 1) and count(ws) == 1


def test_the_same_alarm_after_a_merge_returns_the_case_kept(ws: Settings, desk: CaseDesk) -> None:
    case = raise_alarm(ws, desk)
    second = raise_alarm(ws, desk, alarm_id="alm-9")
    with session_scope(ws) as s:
        merge(s, desk, case.id, second.id)
    assert raise_alarm(ws, desk).id == second.id and count(ws) == 2


def test_two_calls_at_once_still_make_one_case(ws: Settings, desk: CaseDesk, monkeypatch: pytest.MonkeyPatch) -> None:
    first = raise_alarm(ws, desk)
    real, calls = alarms.alarm_case, []

    def late_lookup(session: Any, **kw: Any) -> Case | None:  # the other call inserted after this one looked
        calls.append(kw)
        return None if len(calls) == 1 else real(session, **kw)

    monkeypatch.setattr(alarms, "alarm_case", late_lookup)
    with session_scope(ws) as s:
        again = open_case_for_alarm(s, desk, tenant_id=D1, asset_id="pump-7", alarm_id="alm-1", metric="pressure_kpa",
                                    value=650, message="still high", severity="critical", at=T0)
        assert again.id == first.id
    assert len(calls) == 2 and count(ws) == 1
