"""The SLA tick over hand-built cases: warnings, breaches, response breaches and the escalation matrix, with exact
counts and events, idempotence, and the same results on SQLite and PostgreSQL (the ``ws`` fixture)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from chengyun.accounts.models import AuditEntry
from chengyun.cases import escalation
from chengyun.cases.escalation import TickResult, load_matrix, run_tick
from chengyun.cases.models import Case, CaseEvent
from chengyun.cases.service import CaseDesk
from chengyun.core.db import migrate, session_scope
from chengyun.core.errors import InvalidInput
from chengyun.core.settings import Settings
from tests.cases.casebook import ROADS, build_city, new_case

NOW = datetime(2026, 11, 26, 2, 0)  # 10:00 in Shanghai
H = timedelta(hours=1)
TICK = ("warn", "breach", "response_breach", "escalate")


def hand(s: Session, desk: CaseDesk, name: str, *, due: datetime | None, status: str = "in_progress",
         response_due: datetime | None = None, responded: bool = True, breached: bool = False,
         level: int = 0) -> str:
    """A case set by hand to the state under test; ``name`` goes in the title."""
    case = new_case(s, desk, title=name, created_at=NOW - 240 * H, auto_dispatch=False)
    case.department_id, case.status, case.due_at = ROADS, status, due
    case.response_due_at = response_due or NOW - 200 * H
    case.responded_at = NOW - 230 * H if responded else None
    case.breached, case.escalation_level = breached, level
    if status == "suspended":  # both clocks stand, as the service leaves them
        case.paused_since, case.response_due_at = NOW - 5 * H, None
    return case.id


@pytest.fixture
def world(ws: Settings) -> tuple[Settings, CaseDesk, dict[str, str]]:
    """The workspace with one case per situation the tick distinguishes, by name."""
    desk = CaseDesk.for_settings(ws)
    with session_scope(ws) as s:
        build_city(s)
        ids = {
            "soon": hand(s, desk, "soon", due=NOW + 2 * H),
            "at-now": hand(s, desk, "at-now", due=NOW),  # due this very moment: warned, not yet overdue
            "later": hand(s, desk, "later", due=NOW + 5 * H),
            "late-1h": hand(s, desk, "late-1h", due=NOW - H),
            "late-30h": hand(s, desk, "late-30h", due=NOW - 30 * H, status="dispatched"),
            "late-100h": hand(s, desk, "late-100h", due=NOW - 100 * H, status="returned"),
            "known-late": hand(s, desk, "known-late", due=NOW - 30 * H, breached=True, level=1),
            "no-answer": hand(s, desk, "no-answer", due=NOW + 10 * H, status="dispatched",
                              response_due=NOW - H, responded=False),
            "in-triage": hand(s, desk, "in-triage", due=NOW + 20 * H, status="accepted",
                              response_due=NOW + H, responded=False),
            "suspended": hand(s, desk, "suspended", due=None, status="suspended", responded=False),
            "resolved-late": hand(s, desk, "resolved-late", due=NOW - 50 * H, status="resolved", responded=False),
            "closed-soon": hand(s, desk, "closed-soon", due=NOW + H, status="closed"),
        }
    return ws, desk, ids


def tick_events(s: Session) -> dict[str, list[tuple[str, Any]]]:
    """The tick's events per case title: (action, level or None), in order."""
    rows = s.execute(select(Case.title, CaseEvent.action, CaseEvent.detail).join(Case, Case.id == CaseEvent.case_id)
                     .where(CaseEvent.action.in_(TICK)).order_by(CaseEvent.id))
    out: dict[str, list[tuple[str, Any]]] = {}
    for title, action, detail in rows:
        out.setdefault(title, []).append((action, (detail or {}).get("level")))
    return out


def snapshot(s: Session) -> dict[str, tuple[Any, ...]]:
    """Every case's tick-relevant columns, by title."""
    return {c.title or "": (c.status, c.breached, c.escalation_level, c.warned_due_at, c.due_at, c.updated_at)
            for c in s.scalars(select(Case))}


def tick(ws: Settings, desk: CaseDesk, now: datetime, **kw: Any) -> TickResult:
    with session_scope(ws) as s:
        return run_tick(s, desk, now=now, **kw)


def test_one_tick_warns_breaches_and_escalates(world: tuple[Settings, CaseDesk, dict[str, str]]) -> None:
    ws, desk, ids = world
    with session_scope(ws) as s:
        before = snapshot(s)
    result = tick(ws, desk, NOW)
    assert (result.warned, result.breached, result.response_breached) == (2, 3, 1)
    assert result.escalated == {1: 3, 2: 3, 3: 1}
    assert result.suspended == 1
    with session_scope(ws) as s:
        assert tick_events(s) == {
            "soon": [("warn", None)],
            "at-now": [("warn", None)],
            "late-1h": [("breach", None), ("escalate", 1)],
            "late-30h": [("breach", None), ("escalate", 1), ("escalate", 2)],
            "late-100h": [("breach", None), ("escalate", 1), ("escalate", 2), ("escalate", 3)],
            "known-late": [("escalate", 2)],
            "no-answer": [("response_breach", None)],
        }
        after = snapshot(s)
        levels = {t: after[t][2] for t in ("late-1h", "late-30h", "late-100h", "known-late", "soon")}
        assert levels == {"late-1h": 1, "late-30h": 2, "late-100h": 3, "known-late": 2, "soon": 0}
        assert all(after[t][1] for t in ("late-1h", "late-30h", "late-100h", "known-late"))
        assert after["soon"][3] == NOW + 2 * H and after["at-now"][3] == NOW
        for untouched in ("later", "in-triage", "suspended", "resolved-late", "closed-soon"):
            assert after[untouched] == before[untouched], untouched
        # updated_at stays, so the lake export does not write a new, identical version of every flagged case
        assert all(after[t][5] == before[t][5] for t in before)
        escalate = s.scalars(select(CaseEvent).where(CaseEvent.case_id == ids["late-30h"],
                                                     CaseEvent.action == "escalate").order_by(CaseEvent.id)).all()
        assert [e.detail for e in escalate] == [load_matrix()[0].detail(), load_matrix()[1].detail()]
        assert escalate[1].detail == {"level": 2, "name": "区级督办", "name_en": "District supervision",
                                      "after_hours": 24.0, "notify": [{"role": "supervisor", "unit": "district"}]}
        assert {(e.actor, e.at, e.department_id, e.from_status, e.to_status) for e in escalate} == \
            {("sla-tick", NOW, ROADS, "dispatched", "dispatched")}
        audits = s.scalars(select(AuditEntry).where(AuditEntry.action == "case.tick")).all()
        assert len(audits) == 1 and audits[0].detail is not None
        assert {k: audits[0].detail[k] for k in ("warned", "breached", "response_breached", "escalated")} == \
            {"warned": 2, "breached": 3, "response_breached": 1, "escalated": {"1": 3, "2": 3, "3": 1}}


def test_a_second_tick_at_the_same_time_changes_nothing(world: tuple[Settings, CaseDesk, dict[str, str]]) -> None:
    ws, desk, _ids = world
    tick(ws, desk, NOW)
    with session_scope(ws) as s:
        cases, events = snapshot(s), s.scalar(select(func.count()).select_from(CaseEvent))
    again = tick(ws, desk, NOW)
    assert again.changed == 0 and again.escalated == {1: 0, 2: 0, 3: 0}
    with session_scope(ws) as s:
        assert snapshot(s) == cases
        assert s.scalar(select(func.count()).select_from(CaseEvent)) == events
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "case.tick")) == 2


def test_later_ticks_warn_once_per_due_time_and_climb_one_level_at_a_time(
        world: tuple[Settings, CaseDesk, dict[str, str]]) -> None:
    ws, desk, ids = world
    tick(ws, desk, NOW)
    one_hour_on = tick(ws, desk, NOW + H)
    # 'later' (due NOW+5h) is now within 4 h; 'soon' is not warned again; 'at-now' is overdue now
    assert (one_hour_on.warned, one_hour_on.breached) == (1, 1)
    assert one_hour_on.escalated == {1: 1, 2: 0, 3: 0}
    with session_scope(ws) as s:  # an extension moves 'soon' to a new due time, still within the window
        s.get_one(Case, ids["soon"]).due_at = NOW + 4 * H
    moved = tick(ws, desk, NOW + 2 * H)
    assert moved.warned == 1
    day_on = tick(ws, desk, NOW + 25 * H)  # late-1h is now 26 h overdue: level 2
    assert day_on.escalated[2] >= 1
    with session_scope(ws) as s:
        events = tick_events(s)
        assert events["soon"] == [("warn", None), ("warn", None), ("breach", None), ("escalate", 1)]
        assert events["later"][0] == ("warn", None) and events["later"].count(("warn", None)) == 1
        assert events["late-1h"] == [("breach", None), ("escalate", 1), ("escalate", 2)]
        assert s.get_one(Case, ids["late-1h"]).escalation_level == 2


def test_the_tick_skips_suspended_and_finished_cases_after_resumption(
        world: tuple[Settings, CaseDesk, dict[str, str]]) -> None:
    ws, desk, ids = world
    with session_scope(ws) as s:  # resumed with a due time already past: breached and escalated on the next tick
        c = s.get_one(Case, ids["suspended"])
        c.status, c.due_at, c.paused_since = "in_progress", NOW - 2 * H, None
    result = tick(ws, desk, NOW)
    assert result.suspended == 0 and result.breached == 4
    with session_scope(ws) as s:
        assert tick_events(s)["suspended"][:2] == [("breach", None), ("escalate", 1)]
        assert "resolved-late" not in tick_events(s) and "closed-soon" not in tick_events(s)


def test_a_matrix_from_yaml(world: tuple[Settings, CaseDesk, dict[str, str]], tmp_path: Path) -> None:
    ws, desk, ids = world
    own = ws.workspace / "cases" / "escalation.yaml"
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text(
        "levels:\n"
        "  - {level: 1, name: 区级督办, after_hours: 10, notify: [{role: supervisor, unit: district}, "
        "{department: case}]}\n"
        "  - {level: 2, name: 市长督办, after_hours: 48, notify: [{role: admin, unit: city}]}\n", encoding="utf-8")
    matrix = escalation.matrix_for(ws)
    assert [lv.after_hours for lv in matrix] == [10.0, 48.0]
    result = tick(ws, desk, NOW, matrix=matrix, predict_hours=1)
    # late-1h is only 1 h overdue: no level yet; known-late (30 h, already at 1) waits for 48 h
    assert result.escalated == {1: 2, 2: 1}
    assert result.warned == 1  # only 'at-now' is due within 1 h
    with session_scope(ws) as s:
        events = tick_events(s)
        assert events["late-1h"] == [("breach", None)]
        assert events["late-100h"][1:] == [("escalate", 1), ("escalate", 2)]
        detail = s.scalars(select(CaseEvent.detail).where(CaseEvent.case_id == ids["late-30h"],
                                                          CaseEvent.action == "escalate")).one()
        assert detail["notify"] == [{"role": "supervisor", "unit": "district"}, {"department": "case"}]


@pytest.mark.parametrize(("body", "message"), [
    ("levels: []\n", "no levels"),
    ("levels:\n  - {level: 2, after_hours: 0, notify: [{role: supervisor}]}\n", "level must be 1"),
    ("levels:\n  - {level: 1, after_hours: -1, notify: [{role: supervisor}]}\n", "after_hours must be a number"),
    ("levels:\n  - {level: 1, after_hours: 24, notify: [{role: supervisor}]}\n"
     "  - {level: 2, after_hours: 12, notify: [{role: supervisor}]}\n", "less than the level before"),
    ("levels:\n  - {level: 1, after_hours: 0, notify: [{role: mayor}]}\n", "role 'mayor' is unknown"),
    ("levels:\n  - {level: 1, after_hours: 0, notify: [{role: supervisor, unit: province}]}\n", "unit 'province'"),
    ("levels:\n  - {level: 1, after_hours: 0, notify: [{unit: city}]}\n", "name a role or a department"),
    ("levels:\n  - {level: 1, after_hours: 0, notify: [{role: supervisor, email: a@b}]}\n", "an entry has role"),
    ("levels:\n  - {level: 1, after_hours: 0}\n", "notify must be a non-empty list"),
    ("levels: [\n", "cannot read the escalation matrix"),
])
def test_a_bad_matrix_is_a_clear_error(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "escalation.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        load_matrix(path)
    assert message in err.value.message and str(path) in err.value.message and err.value.fix


def test_the_shipped_matrix() -> None:
    matrix = load_matrix()
    assert [(lv.level, lv.after_hours) for lv in matrix] == [(1, 0.0), (2, 24.0), (3, 72.0)]
    assert matrix[0].notify == ({"role": "department", "department": "case"},)


def test_predict_hours_must_be_positive(world: tuple[Settings, CaseDesk, dict[str, str]]) -> None:
    ws, desk, _ids = world
    with pytest.raises(InvalidInput, match="predict_hours"):
        tick(ws, desk, NOW, predict_hours=0)


def test_the_sqlite_cache_is_restored_after_a_tick(tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path / "ws")
    migrate(settings)
    with session_scope(settings) as s:
        before = s.execute(text("PRAGMA cache_size")).scalar_one()
        run_tick(s, CaseDesk.for_settings(settings), now=NOW)
        assert s.execute(text("PRAGMA cache_size")).scalar_one() == before
