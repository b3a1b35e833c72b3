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
from chengyun.ingest.quarantine import list_quarantine

if TYPE_CHECKING:
    from chengyun.ingest.workers import Status

app = typer.Typer(help="Device telemetry ingest (接入): MQTT subscriber, lake flush, quarantine.", no_args_is_help=True)


def wal_dir(settings: Settings) -> Path:
    """The telemetry WAL of a workspace: ``<workspace>/wal/telemetry``."""
    return settings.workspace / "wal" / "telemetry"


def quarantine_dir(settings: Settings) -> Path:
    """Where malformed messages are kept: ``<workspace>/quarantine``."""
    return settings.workspace / "quarantine"


@app.command("mqtt")
def mqtt_cmd(
    url: Annotated[str, typer.Option("--url", help="broker URL: mqtt://host:1883 or mqtts://user:pw@host:8883")]
    = "mqtt://127.0.0.1:1883",
    client_id: Annotated[str, typer.Option("--client-id", help="stable MQTT client id: the broker keeps its "
                                           "session (unacknowledged messages) across restarts")] = "chengyun-ingest",
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="subscriber processes sharing the "
                                         "topic (MQTT 5 shared subscription), each with its own log")] = 1,
    threads: Annotated[int, typer.Option("--threads", min=1, help="threads accepting messages in each "
                                         "process")] = 2,
    flush_records: Annotated[int, typer.Option("--flush-records", min=1, help="flush after this many WAL "
                                               "records")] = 50_000,
    flush_seconds: Annotated[float, typer.Option("--flush-seconds", min=0.05, help="flush at least this "
                                                 "often")] = 2.0,
    quiet: Annotated[bool, typer.Option("--quiet", help="no live line")] = False,
    member: Annotated[int | None, typer.Option("--member", hidden=True, help="run as this member (supervisor "
                                               "use)")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Subscribe to chengyun/+/+/telemetry (QoS 1) until SIGTERM or Ctrl-C; the lake is flushed on the way out."""
    from chengyun.ingest.mqtt import parse_url  # the subscriber's modules only for this command
    from chengyun.ingest.workers import (
        Member,
        Options,
        Supervisor,
        check_group,
        go_from_stdin,
        print_status,
        retire_stale,
        run_member,
    )

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with open_workspace(workspace) as (settings, _session):
        pass
    check_group(client_id)
    parse_url(url)  # a wrong URL is said now, not by members restarting
    stop = _stop_on_signals()
    opts = Options(url, threads, flush_records, flush_seconds)
    if member is not None:  # a member process under ``Supervisor``: status lines on stdout, no live line
        go = go_from_stdin() if member else None  # the others subscribe once member 0 has
        sub = run_member(settings, Member(member, workers, client_id), opts, stop, print_status, go)
        raise typer.Exit(1 if sub.error else 0)
    retire_stale(settings, client_id, workers, opts, stop)
    err_console.print(f"ingest: {url} → {settings.lake} ({workers} worker{'s' if workers > 1 else ''}, WAL "
                      f"{wal_dir(settings)}{'-*' if workers > 1 else ''}); stop with Ctrl-C")
    line = _LiveLine(live=not quiet and console.is_terminal)
    with line:
        if workers == 1:
            sub = run_member(settings, Member(0, 1, client_id), opts, stop, line.update)
            error = str(sub.error) if sub.error else ""
        else:
            rc = Supervisor(settings, client_id, workers, opts, stop).run(line.update)
            error = "a worker did not stop cleanly (see above)" if rc else ""
    s = line.last
    if error:
        err_console.print(f"[red]error:[/] {error}; restart to recover from the WAL")
        raise typer.Exit(1)
    err_console.print(f"ingest stopped: {s.messages:,} messages, {s.readings:,} readings, {s.quarantined:,} "
                      "quarantined; lake flushed")


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or Ctrl-C."""
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


class _LiveLine:
    """The live line: rates since the last update, totals, lag; remembers the last status."""

    def __init__(self, live: bool) -> None:
        from chengyun.ingest.workers import Status

        self.live, self.last = live, Status()
        self._view: Live | None = None
        self._prev, self._prev_t = (0, 0), time.monotonic()

    def __enter__(self) -> _LiveLine:
        if self.live:
            self._view = Live(Text("connecting…"), console=console, refresh_per_second=2, transient=False)
            self._view.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._view is not None:
            self._view.__exit__(None, None, None)

    def update(self, s: Status) -> None:
        """Take a new status (once a second)."""
        now = time.monotonic()
        dt = max(now - self._prev_t, 1e-6)
        rates = ((s.messages - self._prev[0]) / dt, (s.readings - self._prev[1]) / dt)
        self._prev, self._prev_t, self.last = (s.messages, s.readings), now, s
        if self._view is None:
            return
        state = "connected" if s.connected == s.members else f"{s.connected}/{s.members} connected"
        err = f" · error: {s.errors[0]}" if s.errors else ""
        self._view.update(Text(f"{state} · {rates[0]:,.0f} msg/s · {rates[1]:,.0f} readings/s · {s.messages:,} "
                               f"messages · {s.quarantined:,} quarantined · {s.duplicates:,} duplicates · lag "
                               f"{s.lag_records:,} records ({s.lag_seconds:.1f} s){err}"))


@app.command("flush")
def flush_cmd(workspace: WorkspaceOpt = None) -> None:
    """Move everything the telemetry WALs hold beyond their checkpoints into the lake (when no ingest is running)."""
    from chengyun.ingest.workers import Member, Options, open_member, stale_members

    with open_workspace(workspace) as (settings, _session):
        pass
    rows = 0
    for index in [0, *stale_members(settings, 1)]:
        with open_member(settings, Member(index, index + 1, "flush"), Options("")) as ingestor:
            rows += ingestor.recover()
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
