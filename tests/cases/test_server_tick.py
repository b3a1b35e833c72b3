"""The server runs the SLA tick by itself every ``case_tick_minutes`` (what ``chengyun cases tick`` does from cron)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from chengyun.api.app import create_app
from chengyun.cases.models import Case
from chengyun.cases.service import CaseDesk
from chengyun.core.db import migrate, session_scope, utcnow
from chengyun.core.settings import Settings

from .casebook import build_city, new_case


def test_the_server_flags_an_overdue_case_without_being_asked(tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path / "ws", case_tick_minutes=0.005)  # every 0.3 s
    migrate(settings)
    with session_scope(settings) as s:
        build_city(s)
        # created three days ago with a 24-hour limit: overdue by about two days
        case_id = new_case(s, CaseDesk.for_settings(settings), priority="urgent",
                           created_at=utcnow() - timedelta(days=3)).id
    with TestClient(create_app(settings)):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with session_scope(settings) as s:
                case = s.get(Case, case_id)
                assert case is not None
                if case.breached:
                    break
            time.sleep(0.2)
    assert case.breached and case.escalation_level >= 1


def test_a_zero_interval_leaves_the_tick_to_cron(tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path / "ws", case_tick_minutes=0)
    migrate(settings)
    with session_scope(settings) as s:
        build_city(s)
        case_id = new_case(s, CaseDesk.for_settings(settings), priority="urgent",
                           created_at=utcnow() - timedelta(days=3)).id
    with TestClient(create_app(settings)):
        time.sleep(1.0)
    with session_scope(settings) as s:
        case = s.get(Case, case_id)
        assert case is not None and not case.breached
