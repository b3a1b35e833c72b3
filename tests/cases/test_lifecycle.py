"""The case lifecycle (案件流程) walked cell by cell: every (status, action) pair either moves the case to the
documented status and is kept as an event, or fails with a Conflict that names the actions allowed instead."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengyun.cases import lifecycle
from chengyun.cases.models import Case, CaseEvent
from chengyun.cases.service import CaseDesk, history, transition
from chengyun.core.db import migrate, session_factory
from chengyun.core.errors import Conflict, InvalidInput
from chengyun.core.settings import Settings
from tests.cases.casebook import ROADS, build_city, new_case

T0 = datetime(2026, 11, 23, 1, 0)
# how to reach each status from 受理 accepted, by legal actions
PATHS: dict[str, list[str]] = {
    "accepted": [],
    "dispatched": ["dispatch"],
    "in_progress": ["dispatch", "receive"],
    "returned": ["dispatch", "return"],
    "suspended": ["dispatch", "receive", "suspend"],
    "resolved": ["dispatch", "receive", "resolve"],
    "followed_up": ["dispatch", "receive", "resolve", "follow_up"],
    "closed": ["dispatch", "receive", "resolve", "close"],
    "cancelled": ["cancel"],
}
NEEDS_REASON = ("return", "suspend", "cancel", "reopen", "extend")


def inputs(action: str) -> dict[str, Any]:
    """What each action needs besides the case."""
    return {"dispatch": {"department_id": ROADS}, "extend": {"hours": 1}, "follow_up": {"satisfaction": 5,
                                                                                       "solved": True}
            }.get(action, {}) | ({"reason": f"测试 {action}"} if action in NEEDS_REASON else {})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, CaseDesk]:
    """One workspace for the module (SQLite): each test makes its own case in it."""
    settings = Settings(workspace=tmp_path_factory.mktemp("lifecycle") / "ws")
    migrate(settings)
    factory = session_factory(settings)
    with factory.begin() as s:
        build_city(s)
    return settings, CaseDesk.for_settings(settings)


@pytest.fixture
def db(world: tuple[Settings, CaseDesk]) -> Iterator[Session]:
    """A session that is rolled back after the test."""
    session = session_factory(world[0])()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def case_in(db: Session, desk: CaseDesk, status: str) -> Case:
    """A new case brought to ``status`` by legal actions, an hour apart."""
    case = new_case(db, desk, created_at=T0, auto_dispatch=False)
    for i, action in enumerate(PATHS[status], start=1):
        transition(db, desk, case.id, action, at=T0 + timedelta(hours=i), **inputs(action))
    assert case.status == status
    return case


def expected(status: str, action: str, responded: bool) -> str:
    """Where the table says ``action`` leads from ``status``."""
    to = lifecycle.TRANSITIONS[action][1]
    if action == "resume":
        return "in_progress" if responded else "dispatched"
    return status if to is None else to


def test_the_table_is_the_documented_one() -> None:
    # written out by hand from the lifecycle, so that an edit of TRANSITIONS is a deliberate one
    assert {s: lifecycle.allowed_actions(s) for s in lifecycle.STATUSES} == {
        "accepted": ["dispatch", "cancel"],
        "dispatched": ["receive", "return", "suspend", "extend", "cancel"],
        "in_progress": ["return", "suspend", "extend", "resolve", "cancel"],
        "returned": ["dispatch", "cancel"],
        "suspended": ["resume", "extend", "cancel"],
        "resolved": ["follow_up", "close", "reopen"],
        "followed_up": ["close", "reopen"],
        "closed": ["reopen"],
        "cancelled": [],
    }


def test_paths_cover_every_status() -> None:
    assert set(PATHS) == set(lifecycle.STATUSES) == lifecycle.OPEN | lifecycle.FINISHED


@pytest.mark.parametrize("status", list(lifecycle.STATUSES))
@pytest.mark.parametrize("action", list(lifecycle.TRANSITIONS))
def test_every_cell_of_the_transition_table(world: tuple[Settings, CaseDesk], db: Session, status: str,
                                            action: str) -> None:
    desk = world[1]
    case = case_in(db, desk, status)
    events = len(history(db, case.id))
    at = T0 + timedelta(days=1)
    allowed_from = lifecycle.TRANSITIONS[action][0]
    if status in allowed_from:
        responded = case.responded_at is not None
        transition(db, desk, case.id, action, at=at, **inputs(action))
        assert case.status == expected(status, action, responded)
        steps = history(db, case.id)
        assert len(steps) == events + 1
        last = steps[-1]
        assert (last.action, last.from_status, last.to_status, last.at) == (action, status, case.status, at)
        if action in NEEDS_REASON:
            assert last.reason == f"测试 {action}"
    else:
        with pytest.raises(Conflict) as err:
            transition(db, desk, case.id, action, at=at, **inputs(action))
        allowed = lifecycle.allowed_actions(status)
        assert f"case {case.id} is {status}" in err.value.message and action in err.value.message
        assert err.value.fix is not None
        for other in allowed:
            assert other in err.value.fix
        if not allowed:
            assert "the case is finished" in err.value.fix
        assert case.status == status
        assert len(history(db, case.id)) == events  # a refused action leaves no trace


@pytest.mark.parametrize("action", NEEDS_REASON)
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reasons_are_required(world: tuple[Settings, CaseDesk], db: Session, action: str, reason: str | None) -> None:
    desk = world[1]
    start = {"return": "dispatched", "suspend": "in_progress", "cancel": "accepted", "reopen": "resolved",
             "extend": "in_progress"}[action]
    case = case_in(db, desk, start)
    args = inputs(action) | {"reason": reason}
    with pytest.raises(InvalidInput, match="a reason is required"):
        transition(db, desk, case.id, action, **args)
    assert case.status == start


def test_reopen_clears_the_resolution_and_counts(world: tuple[Settings, CaseDesk], db: Session) -> None:
    desk = world[1]
    case = case_in(db, desk, "closed")
    resolved_at = case.resolved_at
    assert resolved_at is not None and case.closed_at is not None
    transition(db, desk, case.id, "reopen", reason="市民反映问题复发", at=T0 + timedelta(days=2))
    assert (case.status, case.resolved_at, case.followed_up_at, case.closed_at) == ("in_progress", None, None, None)
    assert case.reopened_count == 1
    assert history(db, case.id)[-1].detail == {"was_resolved_at": resolved_at.isoformat()}
    transition(db, desk, case.id, "resolve", at=T0 + timedelta(days=3))
    transition(db, desk, case.id, "follow_up", solved=False, satisfaction=2, at=T0 + timedelta(days=3, hours=1))
    transition(db, desk, case.id, "reopen", reason="回访不满意", at=T0 + timedelta(days=4))
    assert case.reopened_count == 2 and case.resolved_at is None and case.followed_up_at is None


def test_resume_returns_to_where_the_case_was(world: tuple[Settings, CaseDesk], db: Session) -> None:
    desk = world[1]
    case = case_in(db, desk, "dispatched")
    transition(db, desk, case.id, "suspend", reason="等待市民", at=T0 + timedelta(hours=5))
    transition(db, desk, case.id, "resume", at=T0 + timedelta(hours=6))
    assert case.status == "dispatched" and case.responded_at is None
    assert case.pauses == [[(T0 + timedelta(hours=5)).isoformat(), (T0 + timedelta(hours=6)).isoformat()]]


def test_every_step_is_kept(world: tuple[Settings, CaseDesk], db: Session) -> None:
    desk = world[1]
    case = case_in(db, desk, "closed")
    steps = [(e.action, e.from_status, e.to_status) for e in history(db, case.id)]
    assert steps == [("accept", None, "accepted"), ("dispatch", "accepted", "dispatched"),
                     ("receive", "dispatched", "in_progress"), ("resolve", "in_progress", "resolved"),
                     ("close", "resolved", "closed")]
    stored = db.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id))
    assert stored == len(steps)


def test_an_unknown_action_names_the_known_ones(world: tuple[Settings, CaseDesk], db: Session) -> None:
    case = case_in(db, world[1], "accepted")
    with pytest.raises(InvalidInput) as err:
        transition(db, world[1], case.id, "archive")
    assert err.value.fix is not None and all(a in err.value.fix for a in lifecycle.TRANSITIONS)
