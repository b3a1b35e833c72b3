"""Keeping the lake's copies of the state tables current (入湖同步): every analytical read (an evaluation,
``measures run``, the console's and the API's figures) first calls ``ensure_fresh``.

Each domain registers its exporters through the plugin hook (``Registry.add_exporter``), naming the state tables
each one reads. ``lake.changes`` counts the committed writes to those tables; the lake keeps, in
``_sync/markers.json``, the counters each exporter had seen when it last ran. A sync reads both (one small query
and one small file); an exporter runs only when a table it reads has changed since, so when nothing changed a sync
writes nothing and costs a couple of milliseconds. Syncs of one lake take turns (a lock file), so two readers at
once never export the same rows twice.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chengyun.core.settings import Settings

ExportFn = Callable[[Settings, Any], Any]  # (settings, unscoped session) -> rows written (an int or a dict of them)


@dataclass(frozen=True)
class Exporter:
    """Copies some state tables into lake tables; runs when one of ``sources`` (state table names) changed."""

    name: str
    sources: tuple[str, ...]
    export: ExportFn
    description: str = ""


@dataclass
class SyncReport:
    """What one sync did: the exporters that ran and the rows each wrote."""

    ran: dict[str, int] = field(default_factory=dict)

    @property
    def written(self) -> int:
        """Rows written by every exporter that ran."""
        return sum(self.ran.values())


def _markers_path(settings: Settings) -> Path:
    return settings.lake / "_sync" / "markers.json"


def read_markers(settings: Settings) -> dict[str, dict[str, int]]:
    """Per exporter, the change counters of its sources when it last ran (empty for a new or wiped lake)."""
    try:
        return dict(json.loads(_markers_path(settings).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _save_markers(settings: Settings, markers: dict[str, dict[str, int]]) -> None:
    path = _markers_path(settings)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(markers, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def _turn(settings: Settings) -> Iterator[None]:
    folder = _markers_path(settings).parent
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _stale(exporters: list[Exporter], counters: dict[str, int], markers: dict[str, dict[str, int]]) -> list[Exporter]:
    def seen(e: Exporter) -> dict[str, int]:
        return {s: counters.get(s, 0) for s in e.sources}

    return [e for e in exporters if markers.get(e.name) != seen(e)]


def _rows(out: Any) -> int:
    return sum(out.values()) if isinstance(out, dict) else int(out or 0)


def mark_exported(settings: Settings) -> None:
    """Record every exporter as current without running it: for a lake whose copies were written together with
    the state DB by other means (restored from the same backup, or written by hand in a test)."""
    from chengyun.analytics.registry import get_registry
    from chengyun.core.db import session_scope
    from chengyun.lake.changes import versions

    with session_scope(settings) as s:
        counters = versions(s)
    with _turn(settings):
        _save_markers(settings, {e.name: {src: counters.get(src, 0) for src in e.sources}
                                 for e in get_registry().exporters.values()})


def ensure_fresh(settings: Settings, engine: Any = None) -> SyncReport:
    """Run every registered exporter whose state tables changed since it last ran; with ``engine``, make it list
    the lake's files again when anything was written. 同步: nothing changed, nothing written."""
    from chengyun.analytics.registry import get_registry
    from chengyun.core.db import session_scope
    from chengyun.lake.changes import QUIET, versions

    exporters = list(get_registry().exporters.values())
    with session_scope(settings) as s:
        counters = versions(s)
    report = SyncReport()
    if not _stale(exporters, counters, read_markers(settings)):
        return report
    with _turn(settings):
        markers = read_markers(settings)  # another sync may have run while this one waited
        for exp in _stale(exporters, counters, markers):
            with session_scope(settings) as s:
                s.info[QUIET] = True  # an export marking rows as exported is no change to copy
                report.ran[exp.name] = _rows(exp.export(settings, s))
            markers[exp.name] = {src: counters.get(src, 0) for src in exp.sources}
            _save_markers(settings, markers)
    if engine is not None and report.written:
        engine.refresh()
    return report
