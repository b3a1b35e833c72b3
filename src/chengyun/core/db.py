"""State DB: the declarative base, engine and session factory, and migrations (Alembic)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from chengyun.core.settings import Settings

T = TypeVar("T")
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every state table."""

    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    """Now as a naive UTC datetime (how the state DB stores time)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL; SQLite gets WAL mode and foreign keys. Sessions count their writes to the tables the
    lake copies (``lake.changes``) from here on."""
    from chengyun.lake.changes import install

    install()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the settings' state DB (objects stay readable after commit)."""
    return sessionmaker(bind=get_engine(settings.db_url), expire_on_commit=False)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with transaction(session_factory(settings)) as session:
        yield session


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session from ``factory`` that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def migrate(settings: Settings) -> None:
    """Apply every Alembic migration to the state DB (idempotent)."""
    from alembic import command
    from alembic.config import Config

    import chengyun.models  # noqa: F401  (registers every table on Base.metadata)

    settings.workspace.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", settings.db_url.replace("%", "%%"))
    cfg.attributes["engine"] = get_engine(settings.db_url)
    command.upgrade(cfg, "head")


# What PostgreSQL (SQLSTATE) and SQLite (message) say when a writer waited for a lock too long or lost a race
_BUSY_STATES = {"40001", "40P01", "55P03", "57014"}  # serialization, deadlock, lock not available, timeout
_BUSY_WORDS = ("database is locked", "database table is locked", "database is busy")


def is_busy(exc: BaseException) -> bool:
    """Whether a database error means "held by another writer, try again" rather than a fault."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state in _BUSY_STATES or any(w in str(exc.orig).lower() for w in _BUSY_WORDS)


def retrying(work: Callable[[], T], *, attempts: int = 3, pause: float = 0.5, what: str = "work") -> T:
    """Run ``work`` (a whole transaction) again when it lost a race with another writer (a stale row version)
    or found the database busy; other errors, and the last failure, are raised."""
    import logging
    import time

    from sqlalchemy.orm.exc import StaleDataError

    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as exc:
            if attempt == attempts or not (isinstance(exc, StaleDataError) or is_busy(exc)):
                raise
            logging.getLogger(__name__).warning("%s met another writer (%s); trying again (%d of %d)",
                                                what, type(exc).__name__, attempt + 1, attempts)
            time.sleep(pause * attempt)
    raise AssertionError("unreachable")
