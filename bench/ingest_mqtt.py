"""MQTT ingest benchmark (MQTT 接入基准): publishers → Mosquitto → ``chengyun ingest mqtt`` → lake, end to end.

Several publisher processes (paho, QoS 1, each its own client) publish telemetry for ``--seconds`` to
``chengyun/bench/<asset>/telemetry``, each message one report of two metrics with a distinct ``ts``, and count
the PUBACKs they receive. A ``chengyun ingest mqtt`` subprocess subscribes and writes the lake. At the end the
ingest is stopped (SIGTERM: it flushes) and the lake is read back: every message acknowledged to a publisher must
be in it exactly once (zero loss, zero duplicates). Figures: acknowledged messages/s over the publishing time;
end to end, acknowledged messages over the time until the lake held them all (publishing plus drain); the ingest's
CPU while publishing (psutil, % of one core). The baseline runs in the same
invocation: the same publishers against a minimal paho subscriber at QoS 1 that only counts (auto PUBACK) — the
broker and client ceiling on this machine.

Broker: by default a private Mosquitto on a free port with ``max_inflight_messages 1000`` and
``max_queued_messages 0`` (no limit). Mosquitto's defaults (20 in flight, 1000 queued per client) drop messages it
already acknowledged to the publisher as soon as a subscriber falls 1,000 behind, which no subscriber can
prevent; a durable deployment raises them. ``--url mqtt://127.0.0.1:1883`` uses an existing broker instead.

    .venv/bin/python bench/ingest_mqtt.py                 # 60 s
    .venv/bin/python bench/ingest_mqtt.py --seconds 20 --publishers 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # `bench.common` when run as a script

from bench.common import hardware  # noqa: E402
from chengyun.lake.reader import read  # noqa: E402

TENANT = "bench"
ASSETS = 1000
MOSQUITTO_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 1000
max_queued_messages 0
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A private Mosquitto with queue limits that do not drop acknowledged messages."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = _free_port()
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


def publisher(url: str, index: int, seconds: float, window: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Publish QoS 1 reports for ``seconds`` with at most ``window`` unacknowledged; report acks and time."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{index}-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(window)
    acked = 0
    room = threading.Semaphore(window)

    def on_publish(*_args: object) -> None:
        nonlocal acked
        acked += 1
        room.release()

    client.on_publish = on_publish
    client.connect(host, int(port))
    client.loop_start()
    base_us = 1_700_000_000_000_000 + index * 10**12  # distinct ts per message: duplicates would be visible
    start, sent = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        room.acquire()
        body = {"ts": (base_us + sent) / 1e6, "values": {"temp": sent % 40, "on": sent % 2 == 0}}
        client.publish(f"chengyun/{TENANT}/a{index}-{sent % ASSETS}/telemetry", json.dumps(body), qos=1)
        sent += 1
    while acked < sent and time.perf_counter() - start < seconds + 30:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    out.put((sent, acked, elapsed))


def run_publishers(url: str, n: int, seconds: float, window: int) -> tuple[int, int, float]:
    """Sent, acknowledged, and the longest publishing time of ``n`` publisher processes."""
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    procs = [mp.Process(target=publisher, args=(url, i, seconds, window, q)) for i in range(n)]
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in results), sum(r[1] for r in results), max(r[2] for r in results)


def baseline_subscriber(url: str, ready: mp.Event, stop: mp.Event, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Count messages at QoS 1 with automatic PUBACK and nothing else."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, port = url.removeprefix("mqtt://").split(":")
    count = 0

    def on_message(*_args: object) -> None:
        nonlocal count
        count += 1

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-base-{uuid.uuid4().hex[:6]}")
    client.on_message = on_message
    client.on_connect = lambda c, *_a: (c.subscribe("chengyun/+/+/telemetry", qos=1), ready.set())
    client.connect(host, int(port))
    client.loop_start()
    stop.wait()
    last, still = count, 0
    while still < 10:  # drained: no new message for a second
        time.sleep(0.1)
        still = still + 1 if count == last else 0
        last = count
    client.disconnect()
    client.loop_stop()
    out.put(count)


def run_baseline(url: str, n: int, seconds: float, window: int) -> dict[str, float]:
    """Messages/s the broker delivers to a counting subscriber while the publishers run."""
    ready, stop, q = mp.Event(), mp.Event(), mp.Queue()  # type: ignore[var-annotated]
    sub = mp.Process(target=baseline_subscriber, args=(url, ready, stop, q))
    sub.start()
    ready.wait(10)
    sent, acked, elapsed = run_publishers(url, n, seconds, window)
    stop.set()
    received = q.get()
    sub.join()
    return {"acked": acked, "received": received, "rate": acked / elapsed, "recv_rate": received / elapsed}


def run_ingest(url: str, folder: Path, n: int, seconds: float, window: int) -> dict[str, float]:
    """End to end through ``chengyun ingest mqtt``; checks the lake against the acknowledged count."""
    ws = folder / "ws"
    cmd = [sys.executable, "-m", "chengyun.cli.main", "ingest", "mqtt", "--url", url, "--workspace", str(ws),
           "--client-id", f"bench-ingest-{uuid.uuid4().hex[:6]}", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "CHENGYUN_DATABASE_URL": ""})
    ps = psutil.Process(proc.pid)
    wal = ws / "wal" / "telemetry" / "checkpoint.json"
    for _ in range(300):
        if wal.exists():
            break
        time.sleep(0.05)
    time.sleep(1.0)  # subscribed
    cpu0, t0 = ps.cpu_times(), time.perf_counter()
    sent, acked, elapsed = run_publishers(url, n, seconds, window)
    cpu1 = ps.cpu_times()
    drained = _wait_drained(ws, acked * 2, timeout=120)
    drain = time.perf_counter() - t0 - elapsed
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    table = read(ws / "lake", "telemetry", [TENANT])
    rows = table.num_rows
    distinct = len(set(zip(table.column("asset_id").to_pylist(), table.column("metric").to_pylist(),
                           table.column("ts").cast("int64").to_pylist(), strict=True)))
    busy = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return {"acked": acked, "rows": rows, "distinct": distinct, "rate": acked / elapsed, "drain": drain,
            "e2e": acked / (elapsed + max(drain, 0.0)),
            "cpu": 100 * busy / elapsed, "ok": float(drained and rows == distinct == acked * 2),
            "rc": float(proc.returncode), "err": err.decode()[-500:] if proc.returncode else ""}  # type: ignore[dict-item]


def _wait_drained(ws: Path, rows: int, timeout: float) -> bool:
    """Wait until the WAL's checkpoint covers ``rows`` readings (two per message), at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    path = ws / "wal" / "telemetry" / "checkpoint.json"
    while time.monotonic() < deadline:
        try:
            if json.loads(path.read_text())["checkpoint"] * 2 >= rows:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return False


def main() -> None:
    """Run the baseline and the ingest against the same broker and print one markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="publishing time of each run")
    ap.add_argument("--publishers", type=int, default=3, help="publisher processes")
    ap.add_argument("--window", type=int, default=200, help="unacknowledged messages per publisher")
    ap.add_argument("--url", help="use this broker (mqtt://host:port) instead of a private Mosquitto")
    ap.add_argument("--dir", type=Path, default=BENCH / "out", help="folder for the workspace")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ingest-bench-", dir=args.dir) as tmp:
        broker = None
        url = args.url
        if url is None:
            broker, url = start_broker(Path(tmp))
        try:
            base = run_baseline(url, args.publishers, args.seconds, args.window)
            ing = run_ingest(url, Path(tmp), args.publishers, args.seconds, args.window)
        finally:
            if broker is not None:
                broker.terminate()
                broker.wait()
    print(hardware())
    print(f"\n{args.publishers} publishers × {args.seconds:.0f} s, QoS 1, window {args.window}, broker "
          f"{'private Mosquitto' if args.url is None else args.url}\n")
    print("| run | messages acknowledged | acked msg/s while publishing | end-to-end msg/s (into the lake) | "
          "in the lake | duplicates | drain after publishing | ingest CPU |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| baseline: counting subscriber | {base['acked']:,} | {base['rate']:,.0f} | – | "
          f"{base['received']:,} received | – | – | – |")
    print(f"| chengyun ingest mqtt | {ing['acked']:,} | {ing['rate']:,.0f} | {ing['e2e']:,.0f} | "
          f"{ing['rows'] // 2:,} messages | {ing['rows'] - ing['distinct']:,} | {ing['drain']:.1f} s | "
          f"{ing['cpu']:.0f} % |")
    verdict = "zero loss, zero duplicates" if ing["ok"] else "MISMATCH: the lake does not hold every acked message"
    print(f"\n{verdict}; ingest exit code {ing['rc']:.0f} {ing['err']}")
    if not ing["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
