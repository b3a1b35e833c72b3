"""The ingest guard (接入检查): one rule for every path a reading comes in by (HTTP, NGSI-LD, MQTT, files).

After a message is decoded and before anything of it is logged, the guard puts the whole message aside (the
quarantine, with the reason) when one of its readings

* names an asset registered under another unit than the reading's own or one above it (a district cannot
  write, nor raise alarms on, another district's devices by naming them under its own unit; a district may
  report its grids' devices under the district, which keeps the lake's partitions few);
* is dated more than ``max_future`` after the message was received (a device clock years ahead would keep the
  device "online" until then and open lake partitions in year 9999), or before ``earliest``;
* has a metric name that is empty, too long, or holds control characters (NUL cannot be stored in PostgreSQL
  and breaks the lake's readers).

Synchronous paths (HTTP) also check the caller's reach over the registered unit of every asset they name, before
the guard, and answer 403 naming the asset; the guard is what protects MQTT, where the sender is not known.
The registry is read through ``Owners``: a map of asset → unit chain reloaded at most every ``ttl`` seconds, so the
hot path costs a dictionary look-up per asset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.assets.models import Asset
from chengyun.core.db import session_scope
from chengyun.core.scoping import unscoped
from chengyun.core.settings import Settings
from chengyun.ingest.ngsi import Problem
from chengyun.ingest.telemetry import Decoded, to_us
from chengyun.tenancy.service import unit_chains

log = logging.getLogger(__name__)
Chain = tuple[str, ...]  # an asset's unit and the units above it, nearest first
MAX_METRIC = 128  # characters of a metric name
_FIX_TIME = ("set the device's clock (NTP) and send ts as the time of the measurement; "
             "readings far in the future or before {earliest} are not accepted")
_FIX_METRIC = "name metrics with printable characters, at most 128 (e.g. pm25, temperature)"


class Owners:
    """The unit each registered asset belongs to (资产归属), from the state DB, cached for ``ttl`` seconds."""

    def __init__(self, load: Callable[[], Mapping[str, Chain]], ttl: float = 5.0) -> None:
        self._load, self.ttl = load, ttl
        self._map: Mapping[str, Chain] = {}
        self._at = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> Mapping[str, Chain]:
        """The asset → unit map, reloaded when older than ``ttl``."""
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                try:
                    self._map = self._load()
                except Exception as exc:  # the state DB away for a moment must not stop ingest: last map
                    log.warning("ingest: could not read the asset registry (%s); using the map read before", exc)
                self._at = time.monotonic()
            return self._map

    def forget(self) -> None:
        """Reload on the next look-up (after an asset was registered or moved)."""
        with self._lock:
            self._at = float("-inf")


@dataclass
class Guard:
    """Bounds on readings' times and metric names, and the registry's owners of assets (None: not checked)."""

    max_future: timedelta = timedelta(minutes=5)
    earliest: date = date(2000, 1, 1)
    owners: Owners | None = None
    _floor_us: int = field(init=False)

    def __post_init__(self) -> None:
        self._floor_us = to_us(datetime(self.earliest.year, self.earliest.month, self.earliest.day, tzinfo=UTC))

    def check(self, decoded: Decoded, received_at: datetime, owners: Mapping[str, Chain] | None = None) -> None:
        """Add a problem to ``decoded`` for each reading outside the rules; ``owners`` overrides the cached map
        (a synchronous path that has just read the registry)."""
        if not decoded.readings:
            return
        if owners is None and self.owners is not None:
            owners = self.owners.current()
        ceiling = to_us(received_at + self.max_future)
        seen: set[tuple[str, str]] = set()
        for r in decoded.readings:
            if not self._floor_us <= r.ts_us <= ceiling:
                decoded.problems.append(self._time_problem(r.asset_id, r.metric, r.ts_us, received_at))
            if not _metric_ok(r.metric):
                decoded.problems.append(Problem(None, r.asset_id, None, f"metric name {r.metric[:40]!r} is empty, "
                                                f"longer than {MAX_METRIC} or holds control characters", _FIX_METRIC))
            if owners is not None and (r.tenant, r.asset_id) not in seen:
                seen.add((r.tenant, r.asset_id))
                chain = owners.get(r.asset_id)
                if chain is not None and r.tenant not in chain:
                    decoded.problems.append(Problem(
                        None, r.asset_id, None, f"asset {r.asset_id} is registered under unit {chain[0]}, not "
                        f"{r.tenant} nor a unit above it", f"send readings of {r.asset_id} under unit {chain[0]} "
                        "(or its district or city), or move the asset first (`chengyun assets update`)"))
        if decoded.problems:
            decoded.readings.clear()

    def _time_problem(self, asset_id: str, metric: str, ts_us: int, received_at: datetime) -> Problem:
        when = _iso(ts_us)
        if ts_us < self._floor_us:
            why = f"ts {when} is before {self.earliest.isoformat()}"
        else:
            why = f"ts {when} is more than {_span(self.max_future)} after it was received ({_iso(to_us(received_at))})"
        return Problem(None, asset_id, metric, why, _FIX_TIME.format(earliest=self.earliest.isoformat()))


def _metric_ok(name: str) -> bool:
    return 0 < len(name) <= MAX_METRIC and name.isprintable()


def _iso(ts_us: int) -> str:
    """A microsecond time as ISO text, for any value (years outside 1..9999 are shown as a number)."""
    try:
        return (datetime(1970, 1, 1) + timedelta(microseconds=ts_us)).isoformat(timespec="seconds") + "Z"
    except OverflowError:
        return f"{ts_us} µs since 1970"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def registry_owners(settings: Settings) -> Callable[[], Mapping[str, Chain]]:
    """A loader of asset → unit for ``Owners``, reading the settings' state DB."""

    def load() -> Mapping[str, Chain]:
        with session_scope(settings) as session:
            chains = unit_chains(session=session)
            with unscoped(session):
                rows = session.execute(select(Asset.id, Asset.tenant_id)).tuples().all()
        return {a: chains.get(unit, (unit,)) for a, unit in rows}

    return load


def owners_of(session: Session, asset_ids: Iterable[str]) -> dict[str, Chain]:
    """asset → unit chain of the registered assets among ``asset_ids``, read now (for a synchronous path)."""
    ids = sorted(set(asset_ids))
    out: dict[str, str] = {}
    with unscoped(session):  # the registry's owner, whoever may see the asset
        for i in range(0, len(ids), 500):
            rows = session.execute(select(Asset.id, Asset.tenant_id).where(Asset.id.in_(ids[i:i + 500])))
            out.update(rows.tuples().all())
    if not out:
        return {}
    chains = unit_chains(session=session)
    return {a: chains.get(unit, (unit,)) for a, unit in out.items()}


def guard_for(settings: Settings) -> Guard:
    """The guard the settings describe, reading owners from the settings' state DB."""
    return Guard(max_future=timedelta(seconds=settings.ingest_max_future_seconds),
                 earliest=settings.ingest_earliest, owners=Owners(registry_owners(settings)))
