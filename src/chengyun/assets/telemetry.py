"""What an asset sent (遥测): its readings from the lake, bucketed for a chart, and the payloads the ingest put
aside (隔离区).

A chart takes at most ``MAX_POINTS`` points per metric. A metric with more readings in the window is bucketed:
buckets of a round length (1 s … 1 d, then whole days) aligned on the epoch, the smallest length that keeps the
window within ``MAX_POINTS`` buckets, each with the minimum, mean and maximum of its readings. The lake is read
through the analytics engine with Ibis only, so the same code runs on DuckDB and Spark.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.analytics.engine import connect
from chengyun.analytics.kit import epoch
from chengyun.assets.models import Asset
from chengyun.assets.schemas import QuarantineRead, TelemetryPoint, TelemetryRead, TelemetrySeries
from chengyun.core.errors import InvalidInput
from chengyun.core.scoping import Scope, unscoped
from chengyun.core.settings import Settings
from chengyun.ingest.quarantine import QuarantineItem, list_quarantine
from chengyun.tenancy.models import AdminUnit

MAX_POINTS = 2000  # per metric: what a line chart draws smoothly
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)  # seconds
DAY = 86400
TABLE = "telemetry"
PREVIEW_BYTES = 120  # of a quarantined payload: enough to recognise it, never the whole (it may be megabytes)
QUARANTINE_SCAN = 10_000  # newest quarantined payloads read to find the caller's
_EVERY = re.compile(r"^(\d{1,9})([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": DAY}
_EPOCH = datetime(1970, 1, 1)


def parse_every(text: str) -> int:
    """Seconds of a bucket length written ``300``, ``300s``, ``5m``, ``1h`` or ``1d``."""
    found = _EVERY.match(text.strip())
    seconds = int(found.group(1)) * _UNIT_S[found.group(2)] if found else 0
    if seconds < 1:
        raise InvalidInput(f"every: {text!r} is not a bucket length",
                           fix="write seconds (300) or a number with s, m, h or d (5m, 1h, 1d)")
    return seconds


def buckets_in(span_s: float, every_s: int) -> int:
    """How many epoch-aligned buckets of ``every_s`` a window of ``span_s`` seconds can touch."""
    return math.ceil(span_s / every_s) + 1


def bucket_length(span_s: float, max_points: int = MAX_POINTS) -> int:
    """The smallest round bucket length that fits a window of ``span_s`` seconds into ``max_points`` buckets."""
    for step in STEPS:
        if buckets_in(span_s, step) <= max_points:
            return step
    return DAY * math.ceil(span_s / DAY / (max_points - 1))


def partitions_of(session: Session, asset: Asset) -> list[str]:
    """The lake tenants an asset's readings may be filed under: its unit and every unit above it (a device
    publishes under its district, or the city's platform under the city)."""
    out: list[str] = []
    current: str | None = asset.tenant_id
    with unscoped(session):  # only to find the partitions: the answer is the asset's own readings
        while current is not None and current not in out:
            out.append(current)
            unit = session.get(AdminUnit, current)
            current = unit.parent_id if unit is not None else None
    return out


@dataclass(frozen=True)
class Window:
    """The asked window ``[since, until)`` in naive UTC, the metrics (None: all) and the bucket length asked."""

    since: datetime
    until: datetime
    metrics: tuple[str, ...] | None = None
    every_s: int | None = None

    @classmethod
    def last(cls, span: timedelta, now: datetime, **kw: Any) -> Window:
        """The window of ``span`` up to ``now``."""
        return cls(now - span, now, **kw)


def _frame_rows(frame: Any) -> list[dict[str, Any]]:
    """An engine's result (pandas) as plain rows."""
    return list(frame.to_dict("records"))


def _num(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _when(value: Any) -> datetime:
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value  # type: ignore[no-any-return]


def read_series(engine: Any, tenants: list[str], asset_id: str, window: Window,
                max_points: int = MAX_POINTS) -> TelemetryRead:
    """The asset's readings in the window, one series per metric (by name), bucketed where there are more
    than ``max_points`` readings, or everywhere when ``window.every_s`` is given."""
    span = (window.until - window.since).total_seconds()
    if span <= 0:
        raise InvalidInput("since: must be before until", fix="give since < until (UTC unless with an offset)")
    every = window.every_s or bucket_length(span, max_points)
    if window.every_s and buckets_in(span, every) > max_points:
        least = bucket_length(span, max_points)
        raise InvalidInput(f"every: {every} s makes up to {buckets_in(span, every):,} points per metric over this "
                           f"window; at most {max_points:,}", fix=f"use every={least} or more, or a shorter window")
    t = engine.period_table(TABLE, tenants, window.since, window.until)
    t = t.filter(t.asset_id == asset_id, t.value.notnull())
    if window.metrics:
        t = t.filter(t.metric.isin(list(window.metrics)))
    counts = {r["metric"]: int(r["n"]) for r in _frame_rows(engine.execute(t.group_by("metric").aggregate(n=t.count())))}
    wide = sorted(m for m, n in counts.items() if window.every_s or n > max_points)
    raw = sorted(m for m in counts if m not in wide)
    points: dict[str, list[TelemetryPoint]] = {m: [] for m in counts}
    if raw:
        r = t.filter(t.metric.isin(raw)).select("metric", "ts", "value").order_by(["metric", "ts"])
        for row in _frame_rows(engine.execute(r)):
            points[row["metric"]].append(TelemetryPoint(ts=_when(row["ts"]), value=_num(row["value"])))
    if wide:
        w = t.filter(t.metric.isin(wide))
        w = w.mutate(b=(epoch(w.ts) / float(every)).floor().cast("int64"))
        agg = (w.group_by(["metric", "b"])
               .aggregate(lo=w.value.min(), avg=w.value.mean(), hi=w.value.max(), n=w.count())
               .order_by(["metric", "b"]))
        for row in _frame_rows(engine.execute(agg)):
            points[row["metric"]].append(TelemetryPoint(
                ts=_EPOCH + timedelta(seconds=int(row["b"]) * every), value=_num(row["avg"]), min=_num(row["lo"]),
                max=_num(row["hi"]), count=int(row["n"])))
    series = [TelemetrySeries(metric=m, readings=counts[m], bucketed=m in wide, every_s=every if m in wide else None,
                              points=points[m]) for m in sorted(counts)]
    return TelemetryRead(asset_id=asset_id, since=window.since, until=window.until, max_points=max_points,
                         bucketed=bool(wide), every_s=every if wide else None, series=series)


def asset_telemetry(settings: Settings, session: Session, asset: Asset, window: Window,
                    engine_name: str | None = None) -> TelemetryRead:
    """An asset's series (``read_series``) on the workspace's engine, opened for this question and closed."""
    engine = connect(settings, engine_name)
    try:
        return read_series(engine, partitions_of(session, asset), asset.id, window)
    finally:
        engine.close()


# ---- the quarantine (隔离区) ---------------------------------------------------------------------------------


def preview(raw: bytes, size: int = PREVIEW_BYTES) -> tuple[str, bool]:
    """The first ``size`` bytes as text with everything non-printable escaped, and whether more followed."""
    text = raw[:size].decode("utf-8", errors="backslashreplace")
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return shown, len(raw) > size


def _head(item: QuarantineItem) -> bytes:
    """The first bytes of a payload (one more than the preview shows), without decoding all of it."""
    return base64.b64decode(item.raw_b64[: 4 * ((PREVIEW_BYTES + 3) // 3)])


def _visible(item: QuarantineItem, scope: Scope | None, known: set[str]) -> bool:
    """A payload for one of the caller's units; one naming no unit, or an unknown one, only for a caller whose
    scope reaches the top of the tree (the payload might belong anywhere)."""
    if scope is None or scope.everything:
        return True
    if item.tenant in known:
        return item.tenant in scope.units
    return scope.covers_root


def quarantined(directory: Path, session: Session, limit: int) -> list[QuarantineRead]:
    """The newest quarantined payloads the session's caller may see, newest first, with a short preview."""
    with unscoped(session):
        known = set(session.scalars(select(AdminUnit.id)))
    scope: Scope | None = session.info.get("scope")
    out: list[QuarantineRead] = []
    for item in _items(directory):
        if not _visible(item, scope, known):
            continue
        shown, cut = preview(_head(item))
        out.append(QuarantineRead(received_at=item.received_at, source=item.source, topic=item.topic,
                                  tenant=item.tenant, asset_id=item.asset_id, reason=item.reason, size=item.size,
                                  preview=shown, truncated=cut))
        if len(out) >= limit:
            break
    return out


def _items(directory: Path) -> Iterable[QuarantineItem]:
    return list_quarantine(directory, QUARANTINE_SCAN)
