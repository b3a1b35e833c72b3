"""Case actions are atomic (乐观锁): an action taken on a stale read fails with 409 naming the current state, 20
concurrent writers on one case lose no update (the final extension is the sum of the acknowledged ones), and two
moves from one state can never both land. On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from chengyun.cases.models import Case, CaseEvent
from chengyun.cases.service import CaseDesk, get_case, transition
from chengyun.core.db import session_scope
from chengyun.core.errors import Conflict
from chengyun.core.settings import Settings
from tests.cases.casebook import ROADS, build_city, new_case

WRITERS = 20


def _race(ws: Settings, desk: CaseDesk, case_id: str, actions: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Run each action in its own thread and session, all released at once; each one's outcome."""
    gate = threading.Barrier(len(actions))
    outcomes: list[str] = [""] * len(actions)

    def run(i: int, action: str, args: dict[str, Any]) -> None:
        gate.wait()
        try:
            with session_scope(ws) as s:
                transition(s, desk, case_id, action, **args)
            outcomes[i] = "ok"
        except Conflict as exc:
            outcomes[i] = f"conflict: {exc.message}"
        except Exception as exc:  # anything else is a failure of the test
            outcomes[i] = f"error: {exc!r}"

    threads = [threading.Thread(target=run, args=(i, a, kw)) for i, (a, kw) in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_an_action_on_a_stale_read_is_refused_with_the_current_state(ws: Settings) -> None:
    desk, case_id = _fresh_in_progress(ws)
    with session_scope(ws) as stale:
        held = get_case(stale, case_id)  # read before the other writer (as a request holding the case)
        assert held.version == 3
        with session_scope(ws) as other:
            transition(other, desk, case_id, "extend", hours=1, reason="材料不全")
        with pytest.raises(Conflict, match=r"it is now in_progress \(version 4\)"):
            transition(stale, desk, case_id, "extend", hours=1, reason="再延期")
        stale.rollback()
    with session_scope(ws) as s:
        case = get_case(s, case_id)
        extends = s.scalar(select(func.count()).where(CaseEvent.case_id == case_id, CaseEvent.action == "extend"))
        assert (case.extension, extends, case.version) == (1.0, 1, 4)


def test_20_concurrent_extensions_lose_nothing(ws: Settings) -> None:
    desk, case_id = _fresh_in_progress(ws)
    outcomes = _race(ws, desk, case_id, [("extend", {"hours": 1, "reason": f"第{i}次"}) for i in range(WRITERS)])
    kinds = Counter(o.split(":")[0] for o in outcomes)
    assert set(kinds) <= {"ok", "conflict"}, outcomes
    with session_scope(ws) as s:
        case = get_case(s, case_id)
        extends = s.scalar(select(func.count()).where(CaseEvent.case_id == case_id, CaseEvent.action == "extend"))
    assert kinds["ok"] >= 1
    assert case.extension == kinds["ok"] == extends  # every acknowledged extension counted, no other


def test_resolve_and_return_cannot_both_land(ws: Settings) -> None:
    for _ in range(3):  # a few rounds: whichever wins, the other must be refused
        desk, case_id = _fresh_in_progress(ws)
        outcomes = _race(ws, desk, case_id, [("resolve", {}), ("return", {"reason": "非本部门职责"})])
        assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "ok"], outcomes
        with session_scope(ws) as s:
            case = s.get(Case, case_id)
            assert case is not None
            moves = s.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id,
                                                              CaseEvent.action.in_(["resolve", "return"]))).all()
        assert len(moves) == 1
        assert (case.status, case.resolved_at is not None) in (("resolved", True), ("returned", False))


def _fresh_in_progress(ws: Settings) -> tuple[CaseDesk, str]:
    """A new case, dispatched and received (in progress), in the test city (built on first use)."""
    desk = CaseDesk.for_settings(ws)
    with session_scope(ws) as s:
        if not _has_city(s):
            build_city(s)
    with session_scope(ws) as s:
        case = new_case(s, desk)
        transition(s, desk, case.id, "dispatch", department_id=ROADS)
        transition(s, desk, case.id, "receive")
        return desk, case.id


def _has_city(s: Any) -> bool:
    from chengyun.tenancy.models import AdminUnit

    return s.scalar(select(func.count()).select_from(AdminUnit)) > 0
