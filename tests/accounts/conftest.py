"""Accounts fixtures: a workspace with a small unit tree, a cheap password hasher, and the CLI run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import Result
from typer.testing import CliRunner

from chengyun.accounts import service
from chengyun.cli.main import app
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from chengyun.tenancy.service import add_unit

CITY, D1, D2, STREET = "c1", "c1.d1", "c1.d2", "c1.d1.s1"
# The production parameters (64 MiB, 3 passes) cost a quarter of a second per hash on a CI machine; the tests
# check behaviour, not cost, so they hash with the same algorithm at the smallest cost argon2 allows.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PRODUCTION_DUMMY_HASH = service._DUMMY_HASH  # as the module made it at import, before any test replaces it


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    """Hash passwords with argon2id at the smallest cost (see ``CHEAP``)."""
    monkeypatch.setattr(service, "HASHER", CHEAP)
    monkeypatch.setattr(service, "_DUMMY_HASH", CHEAP.hash("timing-equaliser"))  # unknown names cost the same
    return CHEAP


@pytest.fixture
def city(ws: Settings) -> Settings:
    """The ``ws`` workspace (SQLite, then PostgreSQL) holding a city with two districts and a street."""
    with session_scope(ws) as s:
        add_unit(session=s, unit_id=CITY, name="测试市")
        add_unit(session=s, unit_id=D1, name="一区", parent_id=CITY)
        add_unit(session=s, unit_id=D2, name="二区", parent_id=CITY)
        add_unit(session=s, unit_id=STREET, name="一街道", parent_id=D1)
    return ws


def run_cli(settings: Settings, *args: str, stdin: str | None = None) -> Result:
    """``chengyun ARGS --workspace …`` in-process, on the settings' state DB; stdout and stderr kept apart."""
    runner = CliRunner(env={"CHENGYUN_DATABASE_URL": settings.db_url, "COLUMNS": "200"})
    return runner.invoke(app, [*args, "--workspace", str(Path(settings.workspace))], input=stdin)
