"""MQTT ingest benchmark (MQTT 接入基准): publishers → Mosquitto → ``chengyun ingest mqtt`` → lake, end to end.

Several publisher processes (QoS 1, each its own connection) publish telemetry for ``--seconds`` to
``chengyun/bench/<asset>/telemetry``, each message one report of two metrics with a distinct ``ts``, and count
the PUBACKs the broker returns. They send at ``--rate`` messages/s in all (open loop: a message is due at
``start + i / rate`` whether or not earlier ones were answered; ``--rate 0``: as fast as each publisher's window
of unacknowledged messages allows). The publishers write MQTT packets themselves (``chengyun.ingest.mqtt_wire``),
so the load generator costs about 2 µs of CPU per message instead of paho's 30 and leaves the two cores to the
broker and the ingest; its CPU is reported.

A ``chengyun ingest mqtt --workers N`` subprocess subscribes and writes the lake. At the end the ingest is stopped
(SIGTERM: every member flushes) and the lake is read back: every message acknowledged to a publisher must be in
it exactly once (zero loss, zero duplicates). Figures: acknowledged messages/s while publishing; end to end,
acknowledged messages over the time until the lake held them all (publishing plus drain); the CPU (% of one core)
of the ingest processes, the publishers and the broker while publishing. Baseline in the same invocation: the same
publishers against a subscriber that reads the socket and acknowledges each chunk at once (same MQTT code, no log,
no lake) — what the broker and the machine allow before chengyun's durability.

Broker: by default a private Mosquitto on a free port with ``max_queued_messages 0`` (no limit), so a subscriber
that falls behind makes the broker queue, never drop. ``--url mqtt://127.0.0.1:1883`` uses an existing broker.

    .venv/bin/python bench/ingest_mqtt.py --workers 2                   # 60 s at 22,000 messages/s
    .venv/bin/python bench/ingest_mqtt.py --seconds 15 --rate 0 --no-write
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # `bench.common` when run as a script

from bench.common import free_port, hardware, write_section  # noqa: E402
from chengyun.ingest import mqtt_wire as wire  # noqa: E402
from chengyun.lake.reader import read  # noqa: E402

RESULTS = BENCH / "RESULTS.md"
MARK = "ingest-mqtt"
TENANT = "bench"
ASSETS = 1000
TARGET = 20_000
QUIET_LOAD = 1.0  # RESULTS.md only takes runs started below this 1-minute load average
BASE_US = 1_700_000_000_000_000
MOSQUITTO_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 1000
max_queued_messages 0
"""


def start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A private Mosquitto with queue limits that do not drop acknowledged messages."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(MOSQUITTO_CONF.format(port=port), encoding="utf-8")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"mqtt://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"mosquitto did not start on port {port}")


def _connect(url: str, client_id: str, *, clean: bool = True, expiry: int = 0) -> socket.socket:
    """A connected MQTT 5 socket (CONNACK read)."""
    host, port = url.removeprefix("mqtt://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(wire.connect(client_id, keepalive=60, clean_start=clean, session_expiry=expiry,
                              receive_maximum=65_535))
    parser, packets = wire.Parser(), wire.Packets()
    while not packets.control:
        packets = parser.feed(sock.recv(4096))
    return sock


def message(index: int, i: int) -> bytes:
    """Publisher ``index``'s message ``i`` (QoS 1, packet id from 1 to 65,535)."""
    body = f'{{"ts":{(BASE_US + index * 10**12 + i) / 1e6!r},"values":{{"temp":{i % 40},"on":{"true" if i % 2 else "false"}}}}}'
    return wire.publish(f"chengyun/{TENANT}/a{index}-{i % ASSETS}/telemetry".encode(), body.encode(), i % 65_535 + 1)


def publisher(url: str, index: int, rate: float, seconds: float, window: int, out: Any) -> None:
    """Publish for ``seconds`` at ``rate`` (0: window-bound) with at most ``window`` unacknowledged; report
    ``(index, sent, acked, seconds until the last PUBACK, CPU seconds)``."""
    sock = _connect(url, f"bench-pub-{index}-{uuid.uuid4().hex[:6]}")
    parser, sent, acked = wire.Parser(), 0, 0
    cpu0, start = time.process_time(), time.perf_counter()
    while True:
        now = time.perf_counter() - start
        if now < seconds:
            due = int(now * rate) if rate else sent + window
            n = min(due - sent, window - (sent - acked), 5000)
            if n > 0:
                sock.sendall(b"".join(message(index, i) for i in range(sent, sent + n)))
                sent += n
        elif acked >= sent or now > seconds + 30:
            break
        if select.select([sock], [], [], 0.002)[0]:
            acked += sum(1 for kind, _f, _b in parser.feed(sock.recv(1 << 20)).control if kind == wire.PUBACK)
    elapsed = time.perf_counter() - start
    sock.sendall(wire.disconnect())
    sock.close()
    out.put((index, sent, acked, elapsed, time.process_time() - cpu0))


def run_publishers(url: str, args: argparse.Namespace, watch: list[psutil.Process]) -> dict[str, Any]:
    """Run the publishers; what they sent and got acknowledged, and the CPU of ``watch`` meanwhile."""
    q: mp.Queue[tuple[int, int, int, float, float]] = mp.Queue()
    per = args.rate / args.publishers
    procs = [mp.Process(target=publisher, args=(url, i, per, args.seconds, args.window, q))
             for i in range(args.publishers)]
    before = [_cpu(p) for p in watch]
    for p in procs:
        p.start()
    results = sorted(q.get() for _ in procs)  # by publisher index
    after = [_cpu(p) for p in watch]
    for p in procs:
        p.join()
    elapsed = max(r[3] for r in results)
    return {"sent": [r[1] for r in results], "acked": sum(r[2] for r in results), "elapsed": elapsed,
            "pub_cpu": 100 * sum(r[4] for r in results) / elapsed,
            "cpu": [100 * (b - a) / elapsed for a, b in zip(before, after, strict=True)]}


def _cpu(proc: psutil.Process) -> float:
    """CPU seconds of a process and its descendants so far."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def counting_subscriber(url: str, ready: Any, stop: Any, out: Any) -> None:
    """Read and count messages, acknowledging each chunk as soon as it is read; nothing else."""
    sock = _connect(url, f"bench-base-{uuid.uuid4().hex[:6]}")
    sock.sendall(wire.subscribe(1, "chengyun/+/+/telemetry"))
    parser, count, quiet_since, cpu0 = wire.Parser(), 0, time.monotonic(), time.process_time()
    ready.set()
    while not stop.is_set() or time.monotonic() - quiet_since < 1.0:  # drained: nothing new for a second
        if select.select([sock], [], [], 0.1)[0]:
            got = parser.feed(sock.recv(1 << 20)).publishes
            if got:
                count += len(got)
                quiet_since = time.monotonic()
                sock.sendall(wire.puback([p.mid for p in got]))
    sock.sendall(wire.disconnect())
    sock.close()
    out.put((count, time.process_time() - cpu0))


def run_baseline(url: str, args: argparse.Namespace, broker: psutil.Process | None) -> dict[str, Any]:
    """The publishers against the counting subscriber."""
    ready, stop, q = mp.Event(), mp.Event(), mp.Queue()
    sub = mp.Process(target=counting_subscriber, args=(url, ready, stop, q))
    sub.start()
    ready.wait(10)
    time.sleep(0.3)  # the SUBACK
    t0 = time.perf_counter()
    watch = [psutil.Process(sub.pid), *([broker] if broker else [])]
    pubs = run_publishers(url, args, watch)
    stop.set()
    received, cpu = q.get()
    drain = time.perf_counter() - t0 - pubs["elapsed"] - 1.0
    sub.join()
    return {**pubs, "received": received, "drain": max(drain, 0.0), "us_per_msg": cpu / max(received, 1) * 1e6}


def wal_checkpoints(ws: Path) -> int:
    """Records in the lake over every telemetry log of the workspace (one record per stored message)."""
    total = 0
    for path in (ws / "wal").glob("telemetry*/checkpoint.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):  # being replaced right now: next time
            total += int(json.loads(path.read_text())["checkpoint"])
    return total


def start_ingest(url: str, ws: Path, workers: int, flush_seconds: float) -> subprocess.Popen[bytes]:
    """``chengyun ingest mqtt --workers N`` on a fresh workspace, once every member is subscribed: the same probe
    message (tenant ``probe``) again and again until each member's log holds it, so each stores it once."""
    cmd = [sys.executable, "-m", "chengyun.cli.main", "ingest", "mqtt", "--url", url, "--workspace", str(ws),
           "--client-id", f"bench-ingest-{uuid.uuid4().hex[:6]}", "--workers", str(workers),
           "--flush-seconds", str(flush_seconds), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "CHENGYUN_DATABASE_URL": ""})
    sock, deadline = _connect(url, f"bench-probe-{uuid.uuid4().hex[:6]}"), time.monotonic() + 60
    logs = [ws / "wal" / ("telemetry" if i == 0 else f"telemetry-{i}") for i in range(workers)]
    probe = json.dumps({"ts": int(time.time()), "values": {"v": 1}}).encode()  # one key: stored once per member
    while not all(any(p.stat().st_size for p in log.glob("wal-*.log")) for log in logs):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"the ingest did not start: {proc.communicate()[1].decode()[-2000:]}")
        sock.sendall(wire.publish(b"chengyun/probe/p/telemetry", probe, 1))
        sock.recv(16)  # its PUBACK
        time.sleep(0.1)
    sock.close()
    return proc


def run_ingest(url: str, folder: Path, args: argparse.Namespace, broker: psutil.Process | None) -> dict[str, Any]:
    """End to end through ``chengyun ingest mqtt``; checks the lake against what was acknowledged."""
    ws = folder / "ws"
    proc = start_ingest(url, ws, args.workers, args.flush_seconds)
    ingest = psutil.Process(proc.pid)
    watch = [ingest, *([broker] if broker else [])]
    cpu0 = _cpu(ingest)
    pubs = run_publishers(url, args, watch)
    t_end = time.perf_counter()
    while wal_checkpoints(ws) < args.workers + pubs["acked"] and time.perf_counter() - t_end < 300:  # + probes
        time.sleep(0.05)
    drain = time.perf_counter() - t_end
    pubs["us_per_msg"] = (_cpu(ingest) - cpu0) / max(pubs["acked"], 1) * 1e6
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    check = check_lake(ws, pubs["sent"])
    return {**pubs, **check, "drain": drain, "e2e": pubs["acked"] / (pubs["elapsed"] + drain),
            "rc": proc.returncode, "err": err.decode()[-1000:] if proc.returncode else ""}


def check_lake(ws: Path, sent: list[int]) -> dict[str, Any]:
    """Rows in the lake, distinct readings, and whether the messages stored are exactly the ones sent."""
    table = read(ws / "lake", "telemetry", [TENANT])
    distinct = table.group_by(["asset_id", "metric", "ts"]).aggregate([]).num_rows
    stamps = np.unique(table.column("ts").cast("int64").to_numpy())
    expected = np.concatenate([BASE_US + i * 10**12 + np.arange(n, dtype=np.int64) for i, n in enumerate(sent)])
    same = len(stamps) == len(expected) and bool(np.array_equal(stamps, np.sort(expected)))
    return {"rows": table.num_rows, "distinct": distinct, "exact": same and table.num_rows == distinct == 2 * len(expected)}


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def render(args: argparse.Namespace, base: dict[str, Any], ing: dict[str, Any], loads: tuple[float, float]) -> str:
    """The RESULTS.md section."""
    offered = f"{args.rate:,.0f} messages/s offered" if args.rate else "as fast as the publishers' windows allow"
    verdict = (f"**End to end: {ing['e2e']:,.0f} messages/s** (target {TARGET:,}: "
               f"{'met' if ing['e2e'] >= TARGET else 'missed'}), "
               + ("zero loss and zero duplicates: every message acknowledged to a publisher is in the lake once."
                  if ing["exact"] else "**MISMATCH: the lake does not hold exactly the acknowledged messages.**"))
    cpu = lambda r, i: f"{r['cpu'][i]:.0f} %" if len(r["cpu"]) > i else "–"  # noqa: E731
    return "\n".join([
        f"<!-- {MARK} -->", "## Telemetry ingest over MQTT", "",
        f"Run {datetime.now():%Y-%m-%d %H:%M} by `bench/ingest_mqtt.py --seconds {args.seconds:g} --rate "
        f"{args.rate:g} --workers {args.workers} --publishers {args.publishers} --window {args.window} "
        f"--flush-seconds {args.flush_seconds:g}` on {hardware()}: "
        f"{args.publishers} publisher processes (QoS 1, {offered}, at most {args.window:,} unacknowledged each, two "
        f"readings per message) → {'a private Mosquitto (`max_queued_messages 0`)' if not args.url else args.url} "
        f"→ `chengyun ingest mqtt --workers {args.workers}` (persistent MQTT 5 sessions, "
        f"{'a shared subscription, ' if args.workers > 1 else ''}PUBACK only once the write-ahead log is synced) → "
        f"lake, all on this machine. Baseline in the same run: a subscriber that only reads and acknowledges. CPU is "
        f"% of one core while publishing; µs/msg is the subscriber's CPU time (all ingest processes) from the first "
        f"publish until the lake held every message, per message. 1-minute load average {loads[0]:.2f} before, "
        f"{loads[1]:.2f} after.", "",
        "| run | acknowledged | acked msg/s | end-to-end msg/s | in the lake | duplicates | drain | subscriber CPU "
        "| subscriber µs/msg | broker CPU | publishers CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| baseline: reading subscriber | {base['acked']:,} | {base['acked'] / base['elapsed']:,.0f} | "
        f"{base['received'] / (base['elapsed'] + base['drain']):,.0f} | {base['received']:,} received | – | "
        f"{base['drain']:.1f} s | {cpu(base, 0)} | {base['us_per_msg']:.1f} | {cpu(base, 1)} | "
        f"{base['pub_cpu']:.0f} % |",
        f"| chengyun ingest mqtt --workers {args.workers} | {ing['acked']:,} | {ing['acked'] / ing['elapsed']:,.0f} "
        f"| {ing['e2e']:,.0f} | {ing['rows'] // 2:,} messages | {ing['rows'] - ing['distinct']:,} | "
        f"{ing['drain']:.1f} s | {cpu(ing, 0)} | {ing['us_per_msg']:.1f} | {cpu(ing, 1)} | {ing['pub_cpu']:.0f} % |",
        "", verdict, f"<!-- /{MARK} -->", ""])


def main(argv: list[str] | None = None) -> int:
    """Run the baseline and the ingest against the same broker; print the section, and write it when quiet."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="publishing time of each run (default 60)")
    ap.add_argument("--rate", type=float, default=22_000, help="messages/s offered in all; 0: window-bound")
    ap.add_argument("--workers", type=int, default=2, help="ingest processes (chengyun ingest mqtt --workers)")
    ap.add_argument("--publishers", type=int, default=2, help="publisher processes")
    ap.add_argument("--window", type=int, default=5000, help="unacknowledged messages per publisher")
    ap.add_argument("--flush-seconds", type=float, default=2.0, help="the ingest's lake flush interval (default 2, "
                    "as `chengyun ingest mqtt`)")
    ap.add_argument("--url", help="use this broker (mqtt://host:port) instead of a private Mosquitto")
    ap.add_argument("--dir", type=Path, default=BENCH / "out", help="folder for the workspace")
    ap.add_argument("--no-write", action="store_true", help="print the section, do not touch RESULTS.md")
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    before = load()
    with tempfile.TemporaryDirectory(prefix="ingest-bench-", dir=args.dir) as tmp:
        proc, url = (None, args.url) if args.url else start_broker(Path(tmp))
        broker = psutil.Process(proc.pid) if proc else None
        try:
            base = run_baseline(url, args, broker)
            ing = run_ingest(url, Path(tmp), args, broker)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait()
    section = render(args, base, ing, (before, load()))
    print(section)
    if ing["err"]:
        print(f"ingest exit code {ing['rc']}: {ing['err']}")
    if args.no_write:
        pass
    elif before >= QUIET_LOAD:
        print(f"not written to RESULTS.md: the load average was {before:.2f} before the run (needs < {QUIET_LOAD})")
    else:
        write_section(RESULTS, MARK, section)
    return 0 if ing["exact"] and not ing["rc"] else 1


if __name__ == "__main__":
    sys.exit(main())
