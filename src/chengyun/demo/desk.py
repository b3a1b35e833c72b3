"""The demo city's case desk (演示案件台): its history goes in through the cases domain, not around it.

The generated cases are stored as case history (``cases.history``) with their timelines; the city gets one
dispatch rule per category it sees; a few cases are then taken in live through the same intake as the API
(``service.create_case``: SLA clocks from the policy, dispatch by the rules); the SLA tick warns, flags and
escalates what is open; and the lake's ``cases`` table is written by the domain's export.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from sqlalchemy.orm import Session

from chengyun.assets.alarms import sweep_absence
from chengyun.assets.export import export_assets
from chengyun.cases import escalation, service
from chengyun.cases.export import export_cases
from chengyun.cases.history import HistoryLoader
from chengyun.cases.models import DispatchRule
from chengyun.cases.service import CaseDesk
from chengyun.core.db import utcnow
from chengyun.core.settings import Settings
from chengyun.demo import names as N
from chengyun.demo.streams import Columns

if TYPE_CHECKING:
    from chengyun.demo.generator import World

LIVE_CASES = 12  # taken in through the intake when the demo is built, so the triage and the timeline have today's
RENAMED = {"case_id": "id", "unit_id": "tenant_id"}


@dataclass
class DeskSummary:
    """What the desk did: cases stored as history, live cases, lake rows exported, the tick's changes."""

    history: int = 0
    live: int = 0
    exported: int = 0
    breached: int = 0
    escalated: int = 0
    assets_exported: int = 0
    silent: int = 0  # devices found silent by the absence sweep (offline, alarm raised)


def history_rows(columns: Columns) -> dict[str, pa.Array]:
    """A generated chunk of cases as the case desk's history columns (the lake's ``tenant`` is derived later)."""
    return {RENAMED.get(k, k): v if isinstance(v, pa.Array) else pa.array(v) for k, v in columns.items()
            if k != "tenant"}


def add_dispatch_rules(session: Session) -> int:
    """One city-wide rule per category the demo city sees: its code → the bureau that handles it (派遣规则)."""
    seen: dict[str, tuple[str, str]] = {}
    for c in N.CATEGORIES:
        seen.setdefault(c.code, (f"{N.CITY_ID}.dept.{c.department}", c.path.rsplit("/", 1)[-1]))
    for i, (code, (dept, title)) in enumerate(sorted(seen.items())):
        session.add(DispatchRule(tenant_id=N.CITY_ID, position=(i + 1) * 10, category=code, department_id=dept,
                                 enabled=True, note=title))
    session.flush()
    return len(seen)


def desk_now(w: World) -> datetime:
    """The demo's present: now, or the end of the demo's last day when it was built for an earlier day (naive UTC)."""
    return min(utcnow(), datetime(1970, 1, 1) + timedelta(seconds=w.end) - timedelta(minutes=1))


def take_live_cases(session: Session, desk: CaseDesk, w: World, now: datetime, count: int = LIVE_CASES) -> int:
    """Cases reported now through the intake (受理), dispatched by the rules; one of an unknown kind waits in
    triage (待分拨)."""
    g = w.rng(90)
    channels = ("hotline", "app", "open311", "grid")
    for i in range(count):
        d = int(g.integers(len(w.districts)))
        cat = N.CATEGORIES[int(g.integers(len(N.CATEGORIES)))]
        grid = int(g.integers(len(w.grids[d])))
        lat, lon = (float(np.round(v + g.normal(0, .003), 6)) for v in w.unit_centres[d][grid])
        other = i == count - 1
        service.create_case(session, desk, tenant_id=str(w.grids[d][grid]), channel=channels[i % len(channels)],
                            category="E07" if other else cat.code, priority="high" if i % 5 == 0 else "normal",
                            title="其他问题" if other else cat.path.rsplit("/", 1)[-1], lat=lat, lon=lon,
                            contact=f"1380000{i:04d}", source="demo",
                            created_at=now - timedelta(minutes=int(g.integers(5, 240))))
    return count


def run_desk(settings: Settings, session: Session, w: World, loader: HistoryLoader, desk: CaseDesk) -> DeskSummary:
    """After the history is loaded: rules, live intake, the SLA tick, and the export to the lake."""
    out = DeskSummary(history=loader.loaded)
    add_dispatch_rules(session)
    now = desk_now(w)
    out.live = take_live_cases(session, desk, w, now)
    tick = escalation.run_tick(session, desk, now=now)
    out.breached, out.escalated = tick.breached, sum(tick.escalated.values())
    out.exported = export_cases(settings, session, durable=False)
    out.assets_exported = export_assets(settings, session, durable=False)
    out.silent = len(sweep_absence(session, now, desk=desk).raised)
    return out


def open_loader(session: Session, desk: CaseDesk) -> HistoryLoader:
    """The bulk writer of the demo's case history."""
    return HistoryLoader(session, desk, source="demo", label="the demo city", now=utcnow())


# ---- the devices' readings go through the ingest path (接入) -------------------------------------------------


class DemoIngest:
    """The demo's readings, sent as each device's upload per chunk through an ingestor of their own (log
    ``<workspace>/wal/demo``, lake files ``part-demo-seq-…``): de-duplicated, logged durably, moved into the lake
    exactly once, like any device's."""

    FLUSH_RECORDS = 400  # device uploads per lake batch

    def __init__(self, settings: Settings) -> None:
        from chengyun.ingest.cli import quarantine_dir
        from chengyun.ingest.pipeline import Ingestor

        self.ingestor = Ingestor(settings.lake, settings.workspace / "wal" / "demo", quarantine_dir(settings),
                                 stream="demo", dedupe_records=2 * self.FLUSH_RECORDS,
                                 flush_records=self.FLUSH_RECORDS)

    def __enter__(self) -> DemoIngest:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_rest: object) -> None:
        if kind is not None:
            self.ingestor.close()
            return
        self.ingestor.flush()
        done = self.ingestor.lag()[0] == 0
        self.ingestor.close()
        if done:  # everything is in the lake: the demo's log has nothing left to guard
            shutil.rmtree(self.ingestor.wal_dir)

    def watch(self, session: Session, desk: CaseDesk, now: datetime) -> None:
        """From now on, each batch moved into the lake goes past the alarm rules and marks its devices online (in
        the demo's own session: the devices it registered are not committed yet)."""
        from chengyun.assets.alarms import evaluate_batch

        self.ingestor.flush()  # what came before is history: no alarms for it
        def rules(batch: pa.Table) -> None:
            evaluate_batch(session, batch, now, desk=desk)

        self.ingestor.listeners.append(rules)

    def add(self, columns: Columns) -> int:
        """Send one chunk of generated readings; returns how many were stored."""
        from chengyun.ingest.telemetry import Decoded, Sample

        t = pa.table({k: v.dictionary_decode() if isinstance(v, pa.DictionaryArray) else v
                      for k, v in columns.items()})
        stamps = t.column("ts").cast(pa.timestamp("us")).cast(pa.int64()).to_pylist()
        uploads: dict[tuple[str, str], list[Sample]] = {}
        for tenant, asset, metric, ts_us, value in zip(t.column("tenant").to_pylist(), t.column("asset_id").to_pylist(),
                                                       t.column("metric").to_pylist(), stamps,
                                                       t.column("value").to_pylist(), strict=True):
            uploads.setdefault((tenant, asset), []).append(Sample(tenant, asset, metric, ts_us, value))
        done = self.ingestor.accept_decoded([Decoded(readings=r) for r in uploads.values()])
        if self.ingestor.lag()[0] >= self.FLUSH_RECORDS:
            self.ingestor.flush()
        return sum(r.stored for r in done)


# ---- the devices themselves: the asset registry (设备台账) ------------------------------------------------------

# the demo's device types → the registry's kinds, and the name a device is shown by
DEVICE_KINDS = {"air-quality": ("sensor", "空气质量监测站"), "noise": ("sensor", "噪声监测点"),
                "water-level": ("sensor", "水位计"), "traffic-flow": ("sensor", "交通流量检测器"),
                "parking": ("sensor", "停车位检测器"), "camera": ("camera", "视频监控"), "gateway": ("gateway", "物联网关"),
                "smart-meter": ("meter", "智能电表")}


def register_devices(session: Session, w: World, columns: Columns) -> int:
    """Register the demo's devices in the asset registry (retired ones retired at their time), placed near the
    centre of their unit; the lake's ``assets`` table is then written by the registry's export."""
    from chengyun.assets.schemas import AssetCreate
    from chengyun.assets.service import add_asset, retire_asset

    centres = {uid: xy for d in range(len(w.districts))
               for uid, xy in zip([*w.grids[d].to_pylist(), *w.streets[d].to_pylist()], w.unit_centres[d], strict=True)}
    g = w.rng(91)
    rows = pa.table({k: v.dictionary_decode() if isinstance(v, pa.DictionaryArray) else v
                     for k, v in columns.items()}).to_pylist()
    for r in rows:
        kind, name = DEVICE_KINDS[r["asset_type"]]
        lat, lon = (float(np.round(v + g.normal(0, .002), 6)) for v in centres[r["unit_id"]])
        add_asset(session, AssetCreate.model_validate({
            "id": r["asset_id"], "tenant": r["unit_id"], "name": f"{name} {r['asset_id']}", "kind": kind,
            "department": r["department_id"], "criticality": r["criticality"], "lat": lat, "lon": lon,
            "expected_interval_s": r["expected_interval_s"], "metric_count": r["metric_count"],
            "installed_at": r["installed_at"], "operator": "临江城运科技有限公司",
            "attributes": {"type": r["asset_type"]}}))
        if r["retired_at"] is not None:
            retire_asset(session, r["asset_id"], at=r["retired_at"], reason="到期更换")
    return len(rows)
