"""The migrations build exactly the tables the models declare, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

import chengyun.models  # noqa: F401  (registers every table on Base.metadata)
from chengyun.accounts.audit import GENESIS
from chengyun.accounts.models import AuditHead
from chengyun.core.db import Base, get_engine, migrate, session_scope
from chengyun.core.settings import Settings


def _differences(settings: Settings) -> list:
    with get_engine(settings.db_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_migrations_match_the_models(ws: Settings) -> None:
    diff = _differences(ws)
    assert diff == [], (
        "the models and the migrations differ: add a migration (alembic revision --autogenerate)"
    )


def test_migrate_twice_changes_nothing(ws: Settings) -> None:
    migrate(ws)
    assert _differences(ws) == []


def test_the_audit_chain_starts_at_its_genesis(ws: Settings) -> None:
    with session_scope(ws) as s:
        heads = s.scalars(select(AuditHead)).all()
    assert [(h.id, h.seq, h.hash) for h in heads] == [(1, 0, GENESIS)]
