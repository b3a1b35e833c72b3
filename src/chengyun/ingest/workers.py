"""Several MQTT subscriber processes (多进程接入) for ``chengyun ingest mqtt --workers N``.

One Python process takes about 20,000 messages/s (the GIL); N processes share the work through an MQTT 5 shared
subscription ``$share/<client id>/chengyun/+/+/telemetry``, over which the broker hands each message to one member.
Member ``i`` has a client id and a persistent session of its own (``<client id>-<i>``; member 0 keeps the plain
``<client id>``), and its own write-ahead log (``wal/telemetry-<i>``; member 0 keeps ``wal/telemetry``) whose lake
files are named ``part-telemetry-<i>-seq-…``, so members never write the same file. A broker redelivers a
message to the session it was sent to, so each member's log recognises its own redeliveries.

Changing N: a member that stops for good would keep its share of the group's messages queued in its session.
So on start, members from an earlier, larger run (a ``wal/telemetry-<i>`` with ``i >= N``) are retired first:
connect as that member, take what its session holds into its log, unsubscribe, end the session. All members
start at once, but member 0 subscribes first (with one worker: to the plain topic; with several: to the shared
one, dropping the other) and the others only once it has (the supervisor writes a line to their stdin), so no
message reaches two members while the subscriptions change.

What one member cannot see: a publisher that lost a PUBACK and publishes again sends the broker a new message,
which may go to another member; with several workers such a resend can be stored twice (one worker stores it once).

The supervisor restarts a member that dies (``kill -9``: its log and its session give back everything it had not
acknowledged) and stops them all on SIGTERM or Ctrl-C; each flushes its log into the lake on the way out.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from chengyun.core.errors import InvalidInput
from chengyun.core.settings import Settings
from chengyun.ingest.mqtt import TOPIC, MqttIngest
from chengyun.ingest.pipeline import Ingestor, _lock_dir

log = logging.getLogger(__name__)
WAL_NAME = "telemetry"
_STALE_RE = re.compile(rf"^{WAL_NAME}-(\d+)\Z")
RETIRE_QUIET_S = 2.0  # a retiring member leaves once its session has sent nothing for this long
RESTART_MAX_S = 30.0


def shared_topic(group: str) -> str:
    """The shared subscription of a group of ingest members."""
    return f"$share/{group}/{TOPIC}"


@dataclass(frozen=True)
class Member:
    """One subscriber process of ``workers``: its client id, log, lake stream and subscriptions."""

    index: int
    workers: int
    group: str  # the base client id, also the shared subscription's group name

    @property
    def client_id(self) -> str:
        """Member 0 keeps the plain client id (and its session from a one-worker run)."""
        return self.group if self.index == 0 else f"{self.group}-{self.index}"

    @property
    def wal_name(self) -> str:
        """The log's folder under ``<workspace>/wal``."""
        return WAL_NAME if self.index == 0 else f"{WAL_NAME}-{self.index}"

    @property
    def stream(self) -> str | None:
        """The lake file prefix (None: ``part-seq-…``, as one worker has always written)."""
        return None if self.index == 0 else self.wal_name

    @property
    def topic(self) -> str:
        """The plain topic with one worker, the shared subscription with several."""
        return TOPIC if self.workers == 1 else shared_topic(self.group)

    @property
    def drop_topics(self) -> list[str]:
        """The other form, unsubscribed on connect."""
        return [shared_topic(self.group)] if self.workers == 1 else [TOPIC]


@dataclass
class Options:
    """What every member runs with."""

    url: str
    threads: int = 2
    flush_records: int = 50_000
    flush_seconds: float = 2.0


@dataclass
class Status:
    """A member's (or, summed, all members') state for the live line and the supervisor."""

    connected: int = 0
    members: int = 1
    messages: int = 0
    readings: int = 0
    quarantined: int = 0
    duplicates: int = 0
    lag_records: int = 0
    lag_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def check_group(client_id: str) -> None:
    """Refuse a client id that cannot name a shared subscription group."""
    if not client_id or any(c in client_id for c in "/+#"):
        raise InvalidInput(f"client id {client_id!r} cannot name a shared subscription",
                           fix="use a --client-id without '/', '+' or '#'")


def stale_members(settings: Settings, workers: int) -> list[int]:
    """Members of an earlier run with more workers: their log folders ``wal/telemetry-<i>``, ``i >= workers``."""
    root = settings.workspace / "wal"
    found = [int(m.group(1)) for p in root.glob(f"{WAL_NAME}-*") if (m := _STALE_RE.match(p.name))]
    return sorted(i for i in found if i >= workers)


def check_free(settings: Settings, workers: int) -> None:
    """Refuse (``Conflict``, naming the process) when another ingest holds one of the members' logs."""
    for index in range(workers):
        os.close(_lock_dir(settings.workspace / "wal" / Member(index, workers, "").wal_name))


def open_member(settings: Settings, member: Member, opts: Options) -> Ingestor:
    """The member's ingestor (not started); each batch in the lake goes past the alarm rules."""
    from chengyun.assets.alarms import alarm_listener
    from chengyun.ingest.cli import quarantine_dir
    from chengyun.ingest.guard import guard_for

    return Ingestor(settings.lake, settings.workspace / "wal" / member.wal_name, quarantine_dir(settings),
                    stream=member.stream, flush_records=opts.flush_records, flush_seconds=opts.flush_seconds,
                    listeners=[alarm_listener(settings)], guard=guard_for(settings))


def status_of(ingestor: Ingestor, sub: MqttIngest) -> Status:
    """One member's status now."""
    s = ingestor.stats
    records, age = ingestor.lag()
    errors = [e for e in (s.last_error, str(sub.error) if sub.error else "") if e]
    return Status(int(sub.connected.is_set()), 1, s.messages, s.readings, s.quarantined, s.duplicates, records,
                  age, errors)


def run_member(settings: Settings, member: Member, opts: Options, stop: threading.Event,
               tick: Callable[[Status], None], go: threading.Event | None = None) -> MqttIngest:
    """Subscribe as ``member`` until ``stop`` (or a failure), calling ``tick`` each second; flush on the way out.
    With ``go``, the log is opened (and recovered) at once but the subscription waits until ``go`` is set."""
    ingestor = open_member(settings, member, opts).start()
    sub = MqttIngest(ingestor, opts.url, client_id=member.client_id, threads=opts.threads, topic=member.topic,
                     drop_topics=member.drop_topics)
    try:
        while go is not None and not go.wait(0.2) and not stop.is_set():
            tick(status_of(ingestor, sub))
        if not stop.is_set():
            sub.start()
        while not stop.wait(1.0) and not sub.failed.is_set():
            tick(status_of(ingestor, sub))
    finally:
        try:
            sub.stop()
        finally:
            ingestor.close()
    tick(status_of(ingestor, sub))
    return sub


def go_from_stdin() -> threading.Event:
    """Set once the supervisor writes a line to this member's standard input (or closes it)."""
    go = threading.Event()

    def wait() -> None:
        sys.stdin.readline()
        go.set()

    threading.Thread(target=wait, name="ingest-go", daemon=True).start()
    return go


def retire(settings: Settings, member: Member, opts: Options, stop: threading.Event,
           connect_timeout: float = 30.0) -> bool:
    """Take what a former member's session holds into its log, leave the group and end the session; False when
    the broker could not be reached (the session stays, and the next start tries again)."""
    ingestor = open_member(settings, member, opts).start()  # also moves what its log holds into the lake
    sub = MqttIngest(ingestor, opts.url, client_id=member.client_id, threads=opts.threads, topic=None,
                     drop_topics=[shared_topic(member.group), TOPIC])
    ok = False
    try:
        sub.start()
        deadline = time.monotonic() + connect_timeout
        while not sub.connected.wait(0.2) and not stop.is_set() and time.monotonic() < deadline:
            pass
        ok = sub.connected.is_set()
        while ok and sub.session_present and not stop.is_set() and not sub.failed.is_set():
            if time.monotonic() - sub.last_message >= RETIRE_QUIET_S:  # unsubscribed: nothing new comes
                break
            stop.wait(0.2)
        ok = ok and not stop.is_set() and not sub.failed.is_set()
    finally:
        try:
            sub.stop(end_session=ok)
        finally:
            ingestor.close()
    log.info("ingest: member %s retired (%s messages taken over)", member.client_id, ingestor.stats.messages)
    return ok


def retire_stale(settings: Settings, group: str, workers: int, opts: Options, stop: threading.Event) -> None:
    """Retire every member of an earlier, larger run."""
    for index in stale_members(settings, workers):
        if stop.is_set():
            return
        if not retire(settings, Member(index, index + 1, group), opts, stop):
            log.warning("ingest: could not retire %s-%d; its session may keep a share of the messages queued "
                        "until the next start", group, index)


def _die_with_parent() -> None:
    """In the child: SIGTERM it when the supervisor dies (Linux), so no member runs on unsupervised."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def member_argv(workspace: Path, member: Member, opts: Options) -> list[str]:
    """The command line of one member process."""
    return [sys.executable, "-m", "chengyun.cli.main", "ingest", "mqtt", "--member", str(member.index),
            "--workers", str(member.workers), "--client-id", member.group, "--url", opts.url,
            "--threads", str(opts.threads), "--flush-records", str(opts.flush_records),
            "--flush-seconds", str(opts.flush_seconds), "--workspace", str(workspace), "--quiet"]


class Supervisor:
    """Runs members ``0..workers-1`` as child processes, restarting any that dies, until ``stop`` is set."""

    def __init__(self, settings: Settings, group: str, workers: int, opts: Options, stop: threading.Event) -> None:
        self.settings, self.group, self.workers, self.opts, self.stop = settings, group, workers, opts, stop
        self.procs: dict[int, subprocess.Popen[str]] = {}
        self.status: dict[int, Status] = {}
        self.restarts = 0
        self._started: dict[int, float] = {}
        self._delay: dict[int, float] = {}
        self._due: dict[int, float] = {}
        self._gate_open = False  # member 0 has subscribed: the others may

    def run(self, tick: Callable[[Status], None]) -> int:
        """Start every member; let member 0 subscribe first, the others once it has; watch them; stop them all."""
        check_free(self.settings, self.workers)
        for index in range(self.workers):
            self._spawn(index)
        while not self.stop.wait(0.2) and not self.status.get(0, Status()).connected:
            self._watch()
        self._gate_open = True
        for index in range(1, self.workers):
            self._go(index)
        while not self.stop.wait(1.0):
            self._watch()
            tick(self.snapshot())
        return self._stop_all()

    def snapshot(self) -> Status:
        """All members' status summed (lag: the oldest)."""
        out = Status(members=self.workers)
        for s in self.status.values():
            out.connected += s.connected
            out.messages += s.messages
            out.readings += s.readings
            out.quarantined += s.quarantined
            out.duplicates += s.duplicates
            out.lag_records += s.lag_records
            out.lag_seconds = max(out.lag_seconds, s.lag_seconds)
            out.errors += s.errors
        return out

    def _spawn(self, index: int) -> None:
        """Start member ``index``; members after the first wait for a line on stdin before they subscribe."""
        member = Member(index, self.workers, self.group)
        proc = subprocess.Popen(member_argv(self.settings.workspace, member, self.opts), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True,
                                preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self.procs[index], self._started[index] = proc, time.monotonic()
        threading.Thread(target=self._read_status, args=(index, proc), daemon=True).start()
        if index and self._gate_open:
            self._go(index)

    def _go(self, index: int) -> None:
        """Let a waiting member subscribe."""
        stdin = self.procs[index].stdin
        assert stdin is not None
        with contextlib.suppress(OSError):  # it died meanwhile: ``_watch`` restarts it
            stdin.write("go\n")
            stdin.flush()

    def _read_status(self, index: int, proc: subprocess.Popen[str]) -> None:
        """Keep the latest status line a member prints (one JSON object a second)."""
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                self.status[index] = Status(**json.loads(line))
            except (ValueError, TypeError):
                continue

    def _watch(self) -> None:
        """Restart members that ended while nobody asked them to (backing off when they die young)."""
        now = time.monotonic()
        for index, proc in list(self.procs.items()):
            rc = proc.poll()
            if rc is None or self.stop.is_set():
                continue
            if index not in self._due:
                young = now - self._started[index] < 10
                self._delay[index] = min(self._delay.get(index, 0.5) * 2, RESTART_MAX_S) if young else 1.0
                self._due[index] = now + self._delay[index]
                log.warning("ingest: member %d (pid %d) ended with %s; restarting it in %.0f s", index, proc.pid,
                            f"signal {-rc}" if rc < 0 else f"exit code {rc}", self._delay[index])
            if now >= self._due[index]:
                del self._due[index]
                self.status.pop(index, None)
                self.restarts += 1
                self._spawn(index)

    def _stop_all(self) -> int:
        """SIGTERM every member and wait for its flush; 0 when all ended cleanly."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        rc = 0
        for proc in self.procs.values():
            try:
                rc |= proc.wait(timeout=120) != 0
            except subprocess.TimeoutExpired:
                log.error("ingest: member pid %d did not stop within 120 s; killing it (its log keeps what it "
                          "acknowledged)", proc.pid)
                proc.kill()
                proc.wait()
                rc = 1
        return int(rc)


def print_status(status: Status) -> None:
    """A member's status line for its supervisor (stdout, one JSON object)."""
    try:
        sys.stdout.write(json.dumps(asdict(status)) + "\n")
        sys.stdout.flush()
    except OSError:  # the supervisor is gone; keep ingesting until SIGTERM
        pass
