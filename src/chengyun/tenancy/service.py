"""Administrative units and departments: add, list, and resolve a unit's subtree (辖区)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.core.errors import Conflict, InvalidInput, NotFound
from chengyun.tenancy.models import LEVELS, AdminUnit, Department

_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")


def add_unit(
    *,
    session: Session,
    unit_id: str,
    name: str,
    parent_id: str | None = None,
    level: str | None = None,
    population: int | None = None,
    area_km2: float | None = None,
    timezone: str = "Asia/Shanghai",
) -> AdminUnit:
    """Add an administrative unit under ``parent_id``; its level follows the parent's unless given."""
    if not _ID_RE.match(unit_id):
        raise InvalidInput(f"tenant id {unit_id!r} is not allowed",
                           fix="use 1-64 letters, digits, '.', '_' or '-' (e.g. 350100 or city.d01)")
    if session.get(AdminUnit, unit_id):
        raise Conflict(f"tenant {unit_id!r} exists already", fix="choose another id or use `chengyun tenants list`")
    if population is not None and population < 0:
        raise InvalidInput(f"population of {unit_id!r} is negative ({population})", fix="give a count of residents >= 0")
    parent = get_unit(session=session, unit_id=parent_id) if parent_id else None
    if level is None:
        level = LEVELS[min(LEVELS.index(parent.level) + 1, len(LEVELS) - 1)] if parent else "city"
    if level not in LEVELS:
        raise InvalidInput(f"level {level!r} is not one of {LEVELS}", fix="use city, district, street or grid")
    unit = AdminUnit(id=unit_id, name=name, level=level, parent_id=parent_id, population=population,
                     area_km2=area_km2, timezone=timezone)
    session.add(unit)
    session.flush()
    return unit


def get_unit(*, session: Session, unit_id: str) -> AdminUnit:
    """The unit, or an error that says how to list the known ones."""
    unit = session.get(AdminUnit, unit_id)
    if unit is None:
        raise NotFound(f"tenant {unit_id!r} does not exist", fix="see `chengyun tenants list`, or add it with `chengyun tenants add`")
    return unit


def list_units(*, session: Session) -> list[AdminUnit]:
    """Every unit the session may see, parents before children (a unit whose parent is out of view is a root)."""
    units = list(session.scalars(select(AdminUnit)))
    ids = {u.id for u in units}
    by_parent: dict[str | None, list[AdminUnit]] = {}
    for u in units:
        by_parent.setdefault(u.parent_id, []).append(u)
    out: list[AdminUnit] = []

    def walk(pid: str | None) -> None:
        for u in sorted(by_parent.get(pid, []), key=lambda x: x.id):
            out.append(u)
            walk(u.id)

    for root in sorted({u.parent_id for u in units if u.parent_id is not None and u.parent_id not in ids}):
        walk(root)
    walk(None)
    return out


def subtree(*, session: Session, unit_id: str) -> list[AdminUnit]:
    """The unit and every unit below it (a city includes its districts, streets and grids)."""
    root = get_unit(session=session, unit_id=unit_id)
    children: dict[str | None, list[AdminUnit]] = {}
    for u in session.scalars(select(AdminUnit)):
        children.setdefault(u.parent_id, []).append(u)
    out, stack = [], [root]
    while stack:
        u = stack.pop()
        out.append(u)
        stack.extend(children.get(u.id, []))
    return out


def subtree_population(units: list[AdminUnit]) -> int | None:
    """Population of a subtree: the sum over its leaves, else the root's own figure."""
    ids = {u.id for u in units}
    parents = {u.parent_id for u in units if u.parent_id in ids}
    leaves = [u for u in units if u.id not in parents]
    if leaves and all(u.population is not None for u in leaves):
        return sum(u.population or 0 for u in leaves)
    return units[0].population if units else None


def add_department(*, session: Session, department_id: str, tenant_id: str, name: str, kind: str = "bureau") -> Department:
    """Add a department (委办局) to a tenant."""
    get_unit(session=session, unit_id=tenant_id)
    if session.get(Department, department_id):
        raise Conflict(f"department {department_id!r} exists already", fix="choose another id")
    dept = Department(id=department_id, tenant_id=tenant_id, name=name, kind=kind)
    session.add(dept)
    session.flush()
    return dept


def list_departments(*, session: Session, tenant_ids: list[str] | None = None) -> list[Department]:
    """Departments, optionally of the given tenants."""
    stmt = select(Department).order_by(Department.id)
    if tenant_ids is not None:
        stmt = stmt.where(Department.tenant_id.in_(tenant_ids))
    return list(session.scalars(stmt))


def unit_chains(*, session: Session) -> dict[str, tuple[str, ...]]:
    """Each unit with the units above it, nearest first: ``grid → (grid, street, district, city)`` (all units,
    whoever may see them: a chain is structure, not data)."""
    from chengyun.core.scoping import unscoped

    with unscoped(session):
        parent = dict(session.execute(select(AdminUnit.id, AdminUnit.parent_id)).tuples().all())
    chains: dict[str, tuple[str, ...]] = {}
    for unit in parent:
        chain, at = [unit], parent.get(unit)
        while at is not None and at not in chain:  # a cycle cannot be stored, but a walk must end anyway
            chain.append(at)
            at = parent.get(at)
        chains[unit] = tuple(chain)
    return chains
