"""``chengyun ingest``: subscribe to device telemetry over MQTT, flush the WAL into the lake, list the quarantine."""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chengyun.cli.common import JsonOpt, WorkspaceOpt, console, err_console, open_workspace, print_json
from chengyun.core.settings import Settings
from chengyun.ingest.pipeline import Ingestor
from chengyun.ingest.quarantine import list_quarantine

if TYPE_CHECKING:
    from chengyun.ingest.mqtt import MqttIngest

app = typer.Typer(help="Device telemetry ingest (接入): MQTT subscriber, lake flush, quarantine.", no_args_is_help=True)


def wal_dir(settings: Settings) -> Path:
    """The telemetry WAL of a workspace: ``<workspace>/wal/telemetry``."""
    return settings.workspace / "wal" / "telemetry"


def quarantine_dir(settings: Settings) -> Path:
    """Where malformed messages are kept: ``<workspace>/quarantine``."""
    return settings.workspace / "quarantine"


def open_ingestor(settings: Settings, flush_records: int = 50_000, flush_seconds: float = 2.0) -> Ingestor:
    """The workspace's ingestor (not started); each batch in the lake goes past the alarm rules."""
    from chengyun.assets.alarms import alarm_listener

    return Ingestor(settings.lake, wal_dir(settings), quarantine_dir(settings), flush_records=flush_records,
                    flush_seconds=flush_seconds, listeners=[alarm_listener(settings)])


@app.command("mqtt")
def mqtt_cmd(
    url: Annotated[str, typer.Option("--url", help="broker URL: mqtt://host:1883 or mqtts://user:pw@host:8883")]
    = "mqtt://127.0.0.1:1883",
    client_id: Annotated[str, typer.Option("--client-id", help="stable MQTT client id: the broker keeps its "
                                           "session (unacknowledged messages) across restarts")] = "chengyun-ingest",
    workers: Annotated[int, typer.Option("--workers", min=1, help="threads accepting messages")] = 2,
    flush_records: Annotated[int, typer.Option("--flush-records", min=1, help="flush after this many WAL "
                                               "records")] = 50_000,
    flush_seconds: Annotated[float, typer.Option("--flush-seconds", min=0.05, help="flush at least this "
                                                 "often")] = 2.0,
    quiet: Annotated[bool, typer.Option("--quiet", help="no live line")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Subscribe to chengyun/+/+/telemetry (QoS 1) until SIGTERM or Ctrl-C; the lake is flushed on the way out."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with open_workspace(workspace) as (settings, _session):
        pass
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    from chengyun.ingest.mqtt import MqttIngest  # paho only for this command

    ingestor = open_ingestor(settings, flush_records, flush_seconds).start()
    sub = MqttIngest(ingestor, url, client_id=client_id, workers=workers).start()
    err_console.print(f"ingest: {url} → {settings.lake} (WAL {wal_dir(settings)}); stop with Ctrl-C")
    try:
        _watch(ingestor, sub, stop, live=not quiet and console.is_terminal)
    finally:
        sub.stop()
        ingestor.close()
    if sub.error is not None:
        err_console.print(f"[red]error:[/] accepting messages failed: {sub.error}; restart to recover from the WAL")
        raise typer.Exit(1)
    err_console.print(f"ingest stopped: {ingestor.stats.messages:,} messages, {ingestor.stats.readings:,} readings, "
                      f"{ingestor.stats.quarantined:,} quarantined; lake flushed")


def _watch(ingestor: Ingestor, sub: MqttIngest, stop: threading.Event, live: bool) -> None:
    """Wait for a signal or a failure, refreshing the live line once a second."""
    prev, prev_t = (0, 0), time.monotonic()

    def line() -> Text:
        nonlocal prev, prev_t
        s, now = ingestor.stats, time.monotonic()
        dt = max(now - prev_t, 1e-6)
        rates = ((s.messages - prev[0]) / dt, (s.readings - prev[1]) / dt)
        prev, prev_t = (s.messages, s.readings), now
        records, age = ingestor.lag()
        state = "connected" if sub.connected.is_set() else "connecting…"
        err = f" · flush error: {s.last_error}" if s.last_error else ""
        return Text(f"{state} · {rates[0]:,.0f} msg/s · {rates[1]:,.0f} readings/s · {s.messages:,} messages · "
                    f"{s.quarantined:,} quarantined · {s.duplicates:,} duplicates · lag {records:,} records "
                    f"({age:.1f} s){err}")

    if not live:
        while not stop.wait(1.0) and not sub.failed.is_set():
            pass
        return
    with Live(line(), console=console, refresh_per_second=2, transient=False) as view:
        while not stop.wait(1.0) and not sub.failed.is_set():
            view.update(line())


@app.command("flush")
def flush_cmd(workspace: WorkspaceOpt = None) -> None:
    """Move everything the telemetry WAL holds beyond its checkpoint into the lake (when no ingest is running)."""
    with open_workspace(workspace) as (settings, _session):
        pass
    with open_ingestor(settings) as ingestor:
        rows = ingestor.recover()
    console.print(f"flushed {rows:,} readings into {settings.lake / 'telemetry'}")


@app.command("quarantine")
def quarantine_cmd(
    limit: Annotated[int, typer.Option("--limit", min=1, help="at most this many, newest first")] = 50,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Messages put aside as malformed, newest first, with the reason."""
    with open_workspace(workspace) as (settings, _session):
        pass
    items = list_quarantine(quarantine_dir(settings), limit)
    if as_json:
        print_json([asdict(i) for i in items])
        return
    table = Table("received (UTC)", "source", "tenant", "asset", "bytes", "reason")
    for i in items:
        table.add_row(i.received_at[:19], i.source, i.tenant or "", i.asset_id or "", str(i.size), i.reason)
    console.print(table if items else "the quarantine is empty")
