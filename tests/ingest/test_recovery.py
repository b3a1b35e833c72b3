"""Recovery at start: readings acknowledged into a write-ahead log by a process that then died (no flush) are in
the lake before the restarted server answers its first request — its own log and any log no process holds."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from fastapi.testclient import TestClient

from chengyun.api.app import create_app
from chengyun.core.db import migrate
from chengyun.core.settings import Settings
from chengyun.lake.reader import read

T0 = 1_790_000_000  # 2026-09-21, epoch seconds

WRITER = textwrap.dedent("""
    import json, os, sys
    from chengyun.ingest.pipeline import Ingestor
    lake, wal, q, stream, tenant, n, T0 = *sys.argv[1:7], int(sys.argv[7])
    ing = Ingestor(lake, wal, q, stream=None if stream == "-" else stream, flush_seconds=3600).start()
    for i in range(int(n)):
        done = ing.accept("mqtt", json.dumps({"ts": T0 + i, "values": {"v": i}}).encode(), tenant, "dev-1")
        assert done.stored == 1
    os._exit(0)  # acknowledged (in the log, synced) and never flushed: as after kill -9
""")


def _die_after_accepting(ws: Path, wal: str, stream: str, tenant: str, n: int) -> None:
    args = [str(ws / "lake"), str(ws / "wal" / wal), str(ws / "quarantine"), stream, tenant, str(n), str(T0)]
    subprocess.run([sys.executable, "-c", WRITER, *args], check=True, timeout=120)


def test_the_server_recovers_every_log_before_its_first_request(tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path / "ws")
    migrate(settings)
    _die_after_accepting(settings.workspace, "serve", "serve", "t-serve", 40)
    _die_after_accepting(settings.workspace, "telemetry", "-", "t-mqtt", 25)  # `ingest mqtt`, killed
    assert not (settings.lake / "telemetry").exists()
    with TestClient(create_app(settings)):
        # no request made: startup alone has moved the logs into the lake
        served = read(settings.lake, "telemetry", ["t-serve"]).column("value").to_pylist()
        orphan = read(settings.lake, "telemetry", ["t-mqtt"]).column("value").to_pylist()
    assert sorted(served) == [float(i) for i in range(40)]
    assert sorted(orphan) == [float(i) for i in range(25)]
    names = sorted(p.name for p in (settings.lake / "telemetry").rglob("*.parquet"))
    assert any(n.startswith("part-serve-seq-") for n in names) and any(n.startswith("part-seq-") for n in names)
