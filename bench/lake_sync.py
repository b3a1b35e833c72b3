"""The lake sync benchmark (入湖同步基准): what ``ensure_fresh`` costs before an analytical read, on a copy of a
demo workspace made by ``bench/evaluate.py`` — every exporter on a lake that has no markers yet (each compares the
whole state table with the lake), then a sync with nothing changed, after the first case action (once after the
demo: the cases exporter moves its watermark past the history the demo wrote to the lake itself), after the next
one (the cases exporter alone, incremental from its watermark) and after one asset edit (the registry exporter
alone, whole). Files
written are counted from the lake folder. Results go to ``bench/RESULTS.md``.

    .venv/bin/python bench/lake_sync.py --scale small
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # `bench.common` when run as a script
from bench.common import hardware, write_section  # noqa: E402

RESULTS = BENCH / "RESULTS.md"
MARK = "lake-sync"


def _files(lake: Path) -> int:
    return sum(1 for p in lake.rglob("*.parquet"))


def _timed(settings: Any, label: str, rows: list[dict[str, Any]]) -> None:
    from chengyun.lake.sync import ensure_fresh

    before = _files(settings.lake)
    t0 = time.perf_counter()
    report = ensure_fresh(settings)
    rows.append({"step": label, "seconds": time.perf_counter() - t0, "ran": report.ran,
                 "files": _files(settings.lake) - before})


def _case_action(settings: Any) -> None:
    from sqlalchemy import select

    from chengyun.cases.models import Case
    from chengyun.cases.service import CaseDesk, transition
    from chengyun.core.db import session_scope

    with session_scope(settings) as s:
        case_id = s.scalars(select(Case.id).where(Case.status == "dispatched").limit(1)).one()
        transition(s, CaseDesk.for_settings(settings), case_id, "receive", actor="bench")


def _asset_edit(settings: Any) -> None:
    from sqlalchemy import select

    from chengyun.assets.models import Asset
    from chengyun.core.db import session_scope

    with session_scope(settings) as s:
        asset = s.scalars(select(Asset).where(Asset.expected_interval_s.is_not(None)).limit(1)).one()
        asset.criticality = "high" if asset.criticality != "high" else "medium"


def measure(ws: Path) -> list[dict[str, Any]]:
    """The four steps on ``ws`` (a copy: it is changed)."""
    from chengyun.core.settings import Settings

    settings = Settings(workspace=ws)
    shutil.rmtree(settings.lake / "_sync", ignore_errors=True)
    rows: list[dict[str, Any]] = []
    _timed(settings, "first sync (no markers: every exporter compares)", rows)
    for _ in range(5):
        _timed(settings, "nothing changed", rows)
    _case_action(settings)
    _timed(settings, "after the first case action (once: the demo's watermark is moved past its history)", rows)
    _case_action(settings)
    _timed(settings, "after one case action", rows)
    _asset_edit(settings)
    _timed(settings, "after one asset edit", rows)
    return rows


def render(scale: str, rows: list[dict[str, Any]], lake_rows: int) -> str:
    """The RESULTS.md section."""
    idle = [r["seconds"] for r in rows if r["step"] == "nothing changed"]
    lines = [f"<!-- {MARK} -->", "## Lake sync before analytical reads", "",
             f"Run {datetime.now():%Y-%m-%d %H:%M} by `bench/lake_sync.py --scale {scale}` on a copy of the {scale} "
             f"demo workspace ({lake_rows / 1e6:.1f} M lake rows) on {hardware()}.", "",
             "| step | seconds | exporters that ran (rows written) | files written |", "|---|---:|---|---:|"]
    shown = [r for r in rows if r["step"] != "nothing changed"]
    shown.insert(1, {"step": f"nothing changed (best of {len(idle)}; worst {max(idle) * 1000:.1f} ms)",
                     "seconds": min(idle), "ran": {}, "files": 0})
    for r in shown:
        ran = ", ".join(f"{k} ({v:,})" for k, v in r["ran"].items()) or "none"
        lines.append(f"| {r['step']} | {r['seconds']:.3f} | {ran} | {r['files']} |")
    lines += ["", f"<!-- /{MARK} -->", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Copy the workspace, measure, write the section."""
    import json

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    args = ap.parse_args(argv)
    src = BENCH / "out" / args.scale
    if not (src / "bench.json").exists():
        raise SystemExit(f"{src} has no demo workspace: run `bench/evaluate.py --scale {args.scale}` first")
    meta = json.loads((src / "bench.json").read_text())
    with tempfile.TemporaryDirectory(prefix="chengyun-sync-", dir=BENCH / "out") as d:
        ws = Path(d) / "ws"
        shutil.copytree(src, ws, ignore=shutil.ignore_patterns("last-runs.json"))
        rows = measure(ws)
    for r in rows:
        print(f"{r['step']}: {r['seconds']:.3f} s, ran {r['ran']}, {r['files']} files")
    write_section(RESULTS, MARK, render(args.scale, rows, sum(meta["rows"].values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
