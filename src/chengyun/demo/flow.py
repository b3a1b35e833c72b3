"""The demo from end to end: generate the city, fill manual inputs, evaluate every pack for every quarter,
print the latest score trees, write reports."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from chengyun.analytics.engine import connect
from chengyun.core.db import migrate, session_scope
from chengyun.core.periods import Period
from chengyun.core.settings import Settings
from chengyun.indicators.catalog import available_packs
from chengyun.indicators.inputs import manual_nodes, set_input
from chengyun.indicators.service import evaluate, evaluate_packs

DISTRICT_PACK = "chengyun-operations"  # entirely computed from data, so it needs no district figures


@dataclass
class DemoResult:
    """What the demo produced: the city, periods, runs by (pack, period) and report files."""

    city: str
    periods: list[Period]
    runs: dict[tuple[str, str], str] = field(default_factory=dict)
    reports: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def _demo_value(seed: int, pack: str, node: str, tenant: str, index: int, count: int, lo: float, hi: float) -> float:
    """A plausible figure that improves quarter by quarter, stable for a seed (演示数据)."""
    h = int(hashlib.sha256(f"{seed}:{pack}:{node}:{tenant}".encode()).hexdigest()[:8], 16)
    base = 0.45 + (h % 1000) / 1000 * 0.25  # where this indicator starts: 45–70 % of its range
    gain = 0.02 + (h // 1000 % 100) / 100 * 0.03  # improvement per quarter
    wobble = ((h >> (index % 16)) % 7 - 3) / 200
    share = min(0.98, base + gain * index + wobble)
    return round(lo + (hi - lo) * share, 4)


def fill_manual_inputs(*, session: Session, seed: int, tenant: str, periods: list[Period]) -> int:
    """Enter the demo city's survey and statistics figures for every manual node of every pack."""
    n = 0
    for pack in available_packs().values():
        for node in manual_nodes(pack):
            spec = node.input or {}
            lo, hi = float(spec.get("min", 0)), float(spec.get("max", 1))
            for i, per in enumerate(periods):
                value = _demo_value(seed, pack.id, node.id, tenant, i, len(periods), lo, hi)
                set_input(session=session, pack_id=pack.id, node_id=node.id, tenant_id=tenant, period=per.label,
                          value=value, evidence=f"演示数据 demo figure for {spec.get('source_hint') or node.name}",
                          source_document=f"demo/{pack.id}/{node.id}/{per.label}.pdf", entered_by="demo")
                n += 1
    return n


def run_demo(*, settings: Settings, scale: str, seed: int, console: Console, today: date | None = None) -> DemoResult:
    """Build the demo workspace and evaluate it; returns what was produced."""
    from chengyun.demo.generator import generate
    from chengyun.indicators.report import render
    from chengyun.indicators.view import run_view

    migrate(settings)
    with _progress(console) as progress, session_scope(settings) as session:
        summary = generate(settings=settings, session=session, scale=scale, seed=seed, today=today, progress=progress)
        fill_manual_inputs(session=session, seed=seed, tenant=summary.city_id, periods=summary.periods)
    result = DemoResult(city=summary.city_id, periods=summary.periods, rows=dict(summary.rows))
    console.print("评价周期 periods evaluated: " + ", ".join(p.label + (" (to date)" if p.end > (today or date.today()) else "") for p in summary.periods))
    packs = list(available_packs())
    # each district too, on the operations pack, for the last two periods: the overview compares districts
    district_periods = summary.periods[-2:]
    engine = connect(settings)
    try:
        with _progress(console) as progress, session_scope(settings) as session:
            task = progress.add_task("评价 evaluating", total=len(packs) * len(summary.periods)
                                     + len(summary.districts) * len(district_periods))
            for per in summary.periods:
                progress.update(task, description=f"评价 evaluating {len(packs)} packs {per.label}")
                # the packs of one period share their measures: the union is computed once
                runs = evaluate_packs(session=session, settings=settings, engine=engine, pack_ids=packs,
                                      tenant_id=summary.city_id, period=per.clipped(today or date.today()))
                session.commit()
                for pack_id, run in zip(packs, runs, strict=True):
                    result.runs[(pack_id, per.label)] = run.id
                progress.advance(task, len(packs))
            for per in district_periods:
                for district in summary.districts:
                    progress.update(task, description=f"评价 evaluating {DISTRICT_PACK} {district} {per.label}")
                    evaluate(session=session, settings=settings, engine=engine, pack_id=DISTRICT_PACK,
                             tenant_id=district, period=per.clipped(today or date.today()))
                    session.commit()
                    progress.advance(task)
    finally:
        engine.close()
    out = settings.workspace / "reports"
    with session_scope(settings) as session:
        latest = summary.periods[-1].label
        for pack_id in packs:
            view: dict[str, Any] = run_view(session=session, run_id=result.runs[(pack_id, latest)])
            for fmt in ("html", "xlsx", "docx"):
                result.reports.append(render(view, fmt, out / f"{pack_id}-{latest}.{fmt}"))
    return result
