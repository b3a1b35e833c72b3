"""Tenant isolation in one place (数据隔离): every ORM query of a scoped session sees only the caller's units.

A request's session carries a ``Scope`` in ``session.info["scope"]``. A ``do_orm_execute`` hook adds, to every
SELECT, the row criteria each domain registered for its tables with ``scope_rule``, so that no route, service or
page can forget them. Sessions without a scope (the command line, background work) see everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria


@dataclass(frozen=True)
class Scope:
    """The administrative units a caller may see for one permission.

    ``everything``: the units are the whole tree (no criteria needed); ``covers_root``: a top-level unit is
    included, so records that belong to no unit (logins, accounts without grants) are visible too.
    """

    units: frozenset[str]
    everything: bool = False
    covers_root: bool = False

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.units))


Rule = Callable[[Any, Scope], Any]
_RULES: dict[type, Rule] = {}


def scope_rule(entity: type, rule: Rule) -> None:
    """Register the row criteria for ``entity``: ``rule(entity, scope)`` returns a SQL boolean expression."""
    _RULES[entity] = rule


def registered() -> dict[type, Rule]:
    """The entities with a scope rule (a test checks every table with a tenant is among them)."""
    return dict(_RULES)


@contextmanager
def unscoped(session: Session) -> Iterator[Session]:
    """Lift the session's scope for a check that must see beyond the caller's units (never to answer with it)."""
    scope = session.info.pop("scope", None)
    try:
        yield session
    finally:
        if scope is not None:
            session.info["scope"] = scope


@event.listens_for(Session, "do_orm_execute")
def _apply_scope(state: ORMExecuteState) -> None:
    scope: Scope | None = state.session.info.get("scope")
    if scope is None or scope.everything or not state.is_select:
        return
    if state.is_column_load or state.is_relationship_load:
        return  # loads of an object already admitted by a scoped query
    state.statement = state.statement.options(
        *(with_loader_criteria(entity, rule(entity, scope), include_aliases=True) for entity, rule in _RULES.items())
    )
