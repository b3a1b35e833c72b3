"""The measure registry (度量): measures, packs and lake exporters arrive through ``chengyun.plugins`` entry points, built-ins
included, so a third-party package extends chengyun exactly the way chengyun extends itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal

from chengyun.core.errors import Conflict, NotFound
from chengyun.core.periods import Period
from chengyun.lake.sync import Exporter

PartsFn = Callable[[Any, "MeasureContext"], dict[str, Any]]
CombineFn = Callable[[dict[str, float | None], "MeasureContext"], float | None]
CustomFn = Callable[["MeasureContext"], Any]


@dataclass(frozen=True)
class Input:
    """Reductions a measure needs from one lake table; inputs on the same table are computed in one scan."""

    table: str
    parts: PartsFn  # (filtered ibis table, ctx) -> {part name: ibis scalar reduction}


@dataclass(frozen=True)
class Measure:
    """A named quantity for one tenant subtree and period."""

    name: str
    title: str  # Chinese name users know
    title_en: str
    unit: str
    direction: Literal["higher", "lower"]
    description: str
    inputs: tuple[Input, ...] = ()
    combine: CombineFn | None = None
    custom: CustomFn | None = None  # for measures that need a join or a window: a one-row table of parts
    tables: tuple[str, ...] = ()
    per_capita: int | None = None  # value is divided by population and multiplied by this (e.g. 10000)

    def read_tables(self) -> tuple[str, ...]:
        """The lake tables this measure reads."""
        return self.tables or tuple(dict.fromkeys(i.table for i in self.inputs))


@dataclass
class MeasureContext:
    """What a measure may know: the tenants of the subtree, the period and its UTC bounds, the population."""

    tenants: list[str]
    period: Period
    start: datetime
    end: datetime
    population: int | None = None
    table: Callable[[str], Any] | None = None  # custom measures ask for a filtered table by name
    asof: Callable[[str], Any] | None = None  # a table with every row before the period end (all history)

    @property
    def hours(self) -> float:
        """Length of the period in hours."""
        return (self.end - self.start).total_seconds() / 3600

    @property
    def start_date(self) -> date:
        """First local date of the period."""
        return self.period.start


@dataclass
class Registry:
    """Measures by dotted name, pack folders and lake exporters, filled by plugins."""

    measures: dict[str, Measure] = field(default_factory=dict)
    pack_dirs: list[Path] = field(default_factory=list)
    exporters: dict[str, Exporter] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)

    def add_measure(self, measure: Measure) -> None:
        """Register a measure; a second one under the same name is an error."""
        if measure.name in self.measures:
            raise Conflict(f"measure {measure.name!r} is registered twice", fix="rename one of the two plugins' measures")
        self.measures[measure.name] = measure

    def add_pack_dir(self, path: Path) -> None:
        """Register a folder of ``*.yaml`` indicator packs."""
        self.pack_dirs.append(Path(path))

    def add_exporter(self, exporter: Exporter) -> None:
        """Register a lake exporter (入湖); every analytical read runs it first when its state tables changed."""
        if exporter.name in self.exporters:
            raise Conflict(f"lake exporter {exporter.name!r} is registered twice", fix="rename one of the two")
        self.exporters[exporter.name] = exporter

    def exporter_sources(self) -> frozenset[str]:
        """The state tables some exporter reads (their writes are counted, see ``lake.changes``)."""
        return frozenset(s for e in self.exporters.values() for s in e.sources)

    def get(self, name: str) -> Measure:
        """The measure, or an error listing how to see the known ones."""
        try:
            return self.measures[name]
        except KeyError:
            raise NotFound(f"measure {name!r} is not registered", fix="see `chengyun measures list`") from None


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The registry, built on first use by loading every ``chengyun.plugins`` entry point."""
    global _REGISTRY
    if _REGISTRY is None:
        reg = Registry()
        eps = sorted(entry_points(group="chengyun.plugins"), key=lambda e: (e.name != "builtin", e.name))
        if not any(e.name == "builtin" for e in eps):  # running from a source tree without installed metadata
            from chengyun import plugins

            plugins.register(reg)
            reg.plugins.append("builtin")
        for ep in eps:
            ep.load().register(reg)
            reg.plugins.append(ep.name)
        _REGISTRY = reg
    return _REGISTRY
