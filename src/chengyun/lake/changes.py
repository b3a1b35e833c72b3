"""Change counters of the state tables the lake copies (变更计数): one row per table, raised in the same
transaction as every write to it, so that the lake's sync can tell "nothing changed" from two tiny reads.

A session gathers the tables it wrote (ORM flushes, ``insert``/``update``/``delete`` statements, and bulk paths that
call ``touch``) and, just before it commits, raises their counters in one upsert each. The upsert comes last in the
transaction, so the row lock it takes on PostgreSQL is held only for the commit and waits on nothing (no deadlock);
a transaction that commits late raises the counter late, so a sync that read the counter before it sees the change
next time. Only tables some exporter reads are counted (``tracked``).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any

from sqlalchemy import BigInteger, String, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from chengyun.core.db import Base

CHANGED = "lake_changed"  # session.info: the tables written in the current transaction
QUIET = "lake_sync"  # session.info: the lake's own bookkeeping writes (an export marking rows done) count as no change


class LakeChange(Base):
    """How many committed transactions have written a state table the lake copies."""

    __tablename__ = "lake_changes"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


def touch(session: Session, *tables: str) -> None:
    """Note that this transaction wrote ``tables`` by a path the session does not see (a bulk ``COPY``)."""
    session.info.setdefault(CHANGED, set()).update(tables)


def versions(session: Session) -> dict[str, int]:
    """Every counted table's counter."""
    return {s: int(v) for s, v in session.execute(select(LakeChange.source, LakeChange.version)).tuples()}


def tracked() -> frozenset[str]:
    """The state tables some registered exporter reads."""
    from chengyun.analytics.registry import get_registry

    return get_registry().exporter_sources()


def _after_flush(session: Session, _ctx: Any) -> None:
    names = {getattr(o, "__table__", None) for o in chain(session.new, session.dirty, session.deleted)}
    touch(session, *(t.name for t in names if t is not None))


def _do_orm_execute(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None and getattr(table, "name", None):
            touch(state.session, table.name)


def _bump(session: Session, tables: Iterable[str]) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    conn = session.connection()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for name in sorted(tables):  # one order everywhere: concurrent commits take the rows alike
        stmt = insert(LakeChange).values(source=name, version=1)
        conn.execute(stmt.on_conflict_do_update(index_elements=["source"],
                                                set_={"version": LakeChange.version + 1}))


def _before_commit(session: Session) -> None:
    if session.info.get(QUIET):
        session.info.pop(CHANGED, None)
        return
    session.flush()  # pending objects are counted by the flush, before the counters are raised
    changed = session.info.pop(CHANGED, set())
    if changed:
        hit = changed & tracked()
        if hit:
            _bump(session, hit)


def _after_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outer transaction ended (committed or rolled back): start afresh
        session.info.pop(CHANGED, None)


def install() -> None:
    """Count writes in every session (idempotent; called where the state DB engine is made)."""
    for name, fn in (("after_flush", _after_flush), ("do_orm_execute", _do_orm_execute),
                     ("before_commit", _before_commit), ("after_transaction_end", _after_transaction_end)):
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)
