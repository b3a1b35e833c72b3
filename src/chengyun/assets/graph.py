"""Walking the dependency graph (依赖关系): what an outage reaches (影响分析) and whether a new dependency closes
a cycle.

One recursive CTE walks every level at once. It keeps (asset, the asset it was reached from, depth) rows, distinct,
rather than whole paths, so a graph with many diamonds stays polynomial; the shortest path to each asset is put
together afterwards from those rows. The walk ignores the caller's scope (an outage of the city's cloud reaches
every district's systems); what it answers is cut back to the caller's units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, literal_column, select
from sqlalchemy.orm import Session, aliased

from chengyun.assets import kinds
from chengyun.assets.models import Asset, AssetDependency
from chengyun.assets.schemas import ImpactItem, ImpactReport
from chengyun.core.errors import NotFound
from chengyun.core.scoping import unscoped

MAX_DEPTH = 64  # dependencies are acyclic (add_dependency refuses cycles); this only bounds a corrupted graph
HIDDEN = "…"  # a hop through an asset outside the caller's units
WATCHED_TABLES = ("telemetry", "assets")


@dataclass(frozen=True)
class Reached:
    """An asset the walk reached: its depth and the shortest path from the start (the start first)."""

    depth: int
    path: tuple[str, ...]


def walk(session: Session, start: str, *, dependants: bool = True) -> dict[str, Reached]:
    """Every asset reachable from ``start``: its dependants (what depends on it, transitively) or, with
    ``dependants=False``, its dependencies. Unscoped."""
    d, d2 = AssetDependency, aliased(AssetDependency)
    src, dst = (d.depends_on_id, d.asset_id) if dependants else (d.asset_id, d.depends_on_id)
    src2, dst2 = (d2.depends_on_id, d2.asset_id) if dependants else (d2.asset_id, d2.depends_on_id)
    # literal columns, not bound parameters: PostgreSQL wants one integer type on both sides of the union
    base: Select[Any] = select(dst.label("node"), src.label("via"), literal_column("1").label("depth")).where(src == start)
    cte = base.cte("walk", recursive=True)
    step = (select(dst2.label("node"), cte.c.node.label("via"), (cte.c.depth + literal_column("1")).label("depth"))
            .join_from(cte, d2, src2 == cte.c.node).where(cte.c.depth < MAX_DEPTH))
    cte = cte.union(step)
    with unscoped(session):
        rows = session.execute(select(cte.c.node, cte.c.via, cte.c.depth)).tuples().all()
    depth: dict[str, int] = {}
    for node, _via, level in rows:
        depth[node] = min(level, depth.get(node, level))
    depth.pop(start, None)  # only on a corrupted (cyclic) graph
    pred: dict[str, str] = {}
    for node, via, level in rows:
        if node in depth and level == depth[node] and (via == start if level == 1 else depth.get(via) == level - 1):
            pred[node] = min(via, pred.get(node, via))  # the same path on every run

    paths: dict[str, tuple[str, ...]] = {start: (start,)}

    def path(node: str) -> tuple[str, ...]:
        if node not in paths:
            paths[node] = (*path(pred[node]), node)
        return paths[node]

    return {node: Reached(level, path(node)) for node, level in sorted(depth.items(), key=lambda x: (x[1], x[0]))}


def cycle_through(session: Session, asset_id: str, depends_on_id: str) -> list[str]:
    """The cycle that ``asset_id`` depending on ``depends_on_id`` would close, as the list of assets along the
    depends-on arrows (first and last the same); empty when there is none."""
    if asset_id == depends_on_id:
        return [asset_id, asset_id]
    reached = walk(session, asset_id).get(depends_on_id)  # does the target already depend on the asset?
    if reached is None:
        return []
    return [asset_id, *reversed(reached.path[1:]), asset_id]


def watched_measures() -> list[str]:
    """Measures that read the lake's telemetry or assets tables: what an outage of monitored things can move."""
    from chengyun.analytics.registry import get_registry  # loads the plugins, so only when an impact is asked

    return sorted(m.name for m in get_registry().measures.values()
                  if any(t in WATCHED_TABLES for t in m.read_tables()))


def _visible(session: Session, tenant_of: dict[str, str]) -> set[str]:
    scope = session.info.get("scope")
    if scope is None or scope.everything:
        return set(tenant_of)
    return {a for a, t in tenant_of.items() if t in scope.units}


def impact(session: Session, asset_id: str) -> ImpactReport:
    """Every asset an outage of ``asset_id`` reaches, nearest first, with the path from it; applications also
    name the measures over telemetry and the asset registry (影响分析)."""
    failed = session.get(Asset, asset_id)
    if failed is None:
        raise NotFound(f"no asset {asset_id!r}", fix="see `chengyun assets list` (or GET /api/v1/assets)")
    reached = walk(session, asset_id)
    with unscoped(session):
        found = {a.id: a for a in session.scalars(select(Asset).where(Asset.id.in_(list(reached))))} if reached else {}
    visible = _visible(session, {a.id: a.tenant_id for a in found.values()}) | {asset_id}
    measures = watched_measures()
    items: list[ImpactItem] = []
    for node, r in reached.items():
        if node not in visible:
            continue
        a = found[node]
        cls = kinds.KINDS.get(a.kind, "?")
        items.append(ImpactItem(id=a.id, name=a.name, kind=a.kind, asset_class=cls, tenant_id=a.tenant_id,
                                criticality=a.criticality, depth=r.depth,
                                path=[p if p in visible else HIDDEN for p in r.path],
                                measures=measures if cls == "application" else []))
    apps = sum(1 for i in items if i.asset_class in kinds.IMPACT_CLASSES)
    return ImpactReport(asset_id=failed.id, name=failed.name, kind=failed.kind, affected=items, applications=apps,
                        hidden=len(reached) - len(items), measures=measures if apps else [])
