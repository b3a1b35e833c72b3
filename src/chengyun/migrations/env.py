"""Alembic environment: runs migrations on the engine the caller passes in (or the configured URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import chengyun.models  # noqa: F401
from chengyun.core.db import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Run migrations online; SQLite uses batch mode so that ALTERs work."""
    engine = config.attributes.get("engine") or create_engine(str(config.get_main_option("sqlalchemy.url")))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run()
