"""``chengyun ingest mqtt --workers N`` against the real broker: two member processes on a shared subscription
store every message exactly once, also when one of them is killed with -9 mid-run and restarted; a run with fewer
workers retires the members left over (their queued share is stored, their sessions end); ``ingest flush`` moves
every member's log; every option of the command is documented."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
import typer

from chengyun.core.db import migrate
from chengyun.core.errors import InvalidInput
from chengyun.core.settings import Settings
from chengyun.ingest.mqtt import TOPIC
from chengyun.ingest.wal import Wal
from chengyun.ingest.workers import (
    Member,
    Options,
    Status,
    check_group,
    retire_stale,
    run_member,
    stale_members,
)
from chengyun.lake.reader import read
from tests.ingest.mqtt_support import (
    collect_acks,
    end_session,
    lake_values,
    publish,
    session_present,
    settle_lake,
    wait_subscribed,
)

PUBLISHER = Path(__file__).with_name("mqtt_publisher.py")
ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000


def test_member_layout(tmp_path: Path) -> None:
    one, first, second = Member(0, 1, "ing"), Member(0, 2, "ing"), Member(1, 2, "ing")
    assert (one.client_id, one.wal_name, one.stream, one.topic) == ("ing", "telemetry", None, TOPIC)
    assert one.drop_topics == [f"$share/ing/{TOPIC}"]
    assert (first.client_id, first.wal_name, first.topic, first.drop_topics) == (
        "ing", "telemetry", f"$share/ing/{TOPIC}", [TOPIC])
    assert (second.client_id, second.wal_name, second.stream) == ("ing-1", "telemetry-1", "telemetry-1")
    for name in ("telemetry", "telemetry-1", "telemetry-2", "telemetry-12", "telemetry-x", "serve"):
        (tmp_path / "wal" / name).mkdir(parents=True)
    assert stale_members(Settings(workspace=tmp_path), 2) == [2, 12]
    with pytest.raises(InvalidInput, match="--client-id"):
        check_group("plant/north")


def test_every_option_of_ingest_mqtt_is_documented() -> None:
    from chengyun.cli.main import app

    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") + (ROOT / "docs" / "ingest.md").read_text(
        encoding="utf-8")
    cmd = typer.main.get_command(app).commands["ingest"].commands["mqtt"]  # type: ignore[attr-defined]
    options = [o for p in cmd.params if not getattr(p, "hidden", False) for o in p.opts if o.startswith("--")]
    assert "--workers" in options
    assert [o for o in options if o not in docs and o != "--help"] == []


def _ingest(url: str, ws: Path, cid: str, workers: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "chengyun.cli.main", "ingest", "mqtt", "--url", url, "--workspace", str(ws),
           "--client-id", cid, "--workers", str(workers), "--flush-seconds", "0.2", "--quiet"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "CHENGYUN_DATABASE_URL": ""})


def _member_pid(sup: subprocess.Popen[bytes], index: int) -> int | None:
    """The process id of the supervisor's member ``index``, if it runs."""
    for child in psutil.Process(sup.pid).children():
        try:
            argv = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "--member" in argv and argv[argv.index("--member") + 1] == str(index):
            return child.pid
    return None


def test_two_workers_store_every_message_once_through_a_kill_9(tmp_path: Path, mqtt_url: str,
                                                                client_id: str) -> None:
    # 300 messages/s: member 1's share while it is down (about 3 s) stays under Mosquitto's default
    # max_queued_messages (1000), beyond which the broker itself drops messages it already acknowledged.
    tenant, ws, count = f"w{uuid.uuid4().hex[:6]}", tmp_path / "ws", 3000
    sup = _ingest(mqtt_url, ws, client_id, workers=2)
    try:
        wait_subscribed(mqtt_url, ws, ["telemetry", "telemetry-1"])
        pub = subprocess.Popen([sys.executable, str(PUBLISHER), mqtt_url, tenant, str(count), "300"],
                               stdout=subprocess.PIPE, text=True)
        acked, progress, reader = collect_acks(pub)
        while progress[0] < count // 3:
            assert pub.poll() is None, "the publisher ended early"
            time.sleep(0.01)
        victim = _member_pid(sup, 1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        killed_at = progress[0]
        deadline = time.monotonic() + 20
        while _member_pid(sup, 1) in (None, victim):  # the supervisor starts member 1 again
            assert time.monotonic() < deadline, "member 1 was not restarted"
            time.sleep(0.1)
        assert pub.wait(60) == 0
        reader.join(10)
        settle_lake(ws, tenant, len(acked))
    finally:
        sup.send_signal(signal.SIGTERM)
        _out, err = sup.communicate(timeout=60)
        end_session(mqtt_url, f"{client_id}-1")
    assert sup.returncode == 0, err.decode()[-2000:]
    assert killed_at < len(acked) == count  # killed midway, and every message was acknowledged in the end
    values = lake_values(ws, tenant)
    assert len(values) == len(set(values)) == count  # exactly once
    assert {int(v) for v in values} == acked
    names = {p.name.split("-seq-")[0] for p in (ws / "lake").rglob("part-*.parquet")}
    assert names == {"part", "part-telemetry-1"}  # both members stored their share, each under its own name


def _start(settings: Settings, member: Member, opts: Options) -> tuple[threading.Event, threading.Thread, list[Status]]:
    """Run a member in a thread; its stop event, thread and status ticks."""
    stop, ticks = threading.Event(), []
    t = threading.Thread(target=run_member, args=(settings, member, opts, stop, ticks.append), daemon=True)
    t.start()
    deadline = time.monotonic() + 15
    while not (ticks and ticks[-1].connected):
        assert time.monotonic() < deadline, f"{member.client_id} did not subscribe"
        time.sleep(0.05)
    return stop, t, ticks


def _reports(tenant: str, first: int, n: int) -> list[tuple[str, bytes]]:
    return [(f"chengyun/{tenant}/d{i % 5}/telemetry", json.dumps({"ts": T0 + i, "values": {"v": i}}).encode())
            for i in range(first, first + n)]


def test_fewer_workers_retire_the_members_left_over(tmp_path: Path, mqtt_url: str) -> None:
    group, tenant = f"test-ret-{uuid.uuid4().hex[:8]}", f"r{uuid.uuid4().hex[:6]}"
    settings = Settings(workspace=tmp_path, database_url=f"sqlite:///{tmp_path / 'chengyun.db'}")
    migrate(settings)
    opts = Options(mqtt_url, flush_seconds=0.2)
    try:
        runs = [_start(settings, Member(i, 2, group), opts) for i in range(2)]  # a run with two workers
        for stop, t, _ticks in runs:
            stop.set()
            t.join(30)
        publish(mqtt_url, _reports(tenant, 0, 200))  # while it is down: queued in both members' sessions
        retire_stale(settings, group, 1, opts, threading.Event())  # a start with one worker retires member 1
        with Wal(tmp_path / "wal" / "telemetry-1") as wal:
            retired_share = wal.last_seq
        assert 0 < retired_share < 200
        assert not session_present(mqtt_url, f"{group}-1")
        stop, t, ticks = _start(settings, Member(0, 1, group), opts)
        publish(mqtt_url, _reports(tenant, 200, 100))  # all to member 0 now
        deadline = time.monotonic() + 20
        while len(lake_values(tmp_path, tenant)) < 300 and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        t.join(30)
    finally:
        end_session(mqtt_url, group)
        end_session(mqtt_url, f"{group}-1")
    values = lake_values(tmp_path, tenant)
    assert sorted(values) == [float(i) for i in range(300)]  # each once, whichever member took it
    assert ticks[-1].messages == 300 - retired_share
    with Wal(tmp_path / "wal" / "telemetry-1") as wal:
        assert wal.last_seq == retired_share  # nothing reached member 1 after it was retired


def test_flush_moves_every_members_log_into_the_lake(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from chengyun.cli.main import app
    from chengyun.ingest.pipeline import encode_record
    from chengyun.ingest.telemetry import Sample

    for name, value in (("telemetry", 1.0), ("telemetry-1", 2.0), ("telemetry-3", 3.0)):  # left by a crash
        with Wal(tmp_path / "wal" / name) as wal:
            wal.append_durable([encode_record([Sample("t1", "a", "v", 1_700_000_000_000_000 + int(value), value)])])
    result = CliRunner().invoke(app, ["ingest", "flush", "--workspace", str(tmp_path)],
                                env={"CHENGYUN_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    assert "flushed 3 readings" in result.output
    assert sorted(read(tmp_path / "lake", "telemetry", ["t1"]).column("value").to_pylist()) == [1.0, 2.0, 3.0]
    names = sorted(p.name.split("-seq-")[0] for p in (tmp_path / "lake").rglob("part-*.parquet"))
    assert names == ["part", "part-telemetry-1", "part-telemetry-3"]  # each log under its own stream's names
