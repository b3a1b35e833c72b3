"""MQTT ingest against a real broker (CHENGYUN_TEST_MQTT_URL): acks after durability, quarantine, kill -9 of the
ingest process under load losing nothing acknowledged and storing nothing twice, and the server's own subscriber."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from chengyun.core.errors import InvalidInput
from chengyun.ingest.mqtt import MqttIngest, parse_topic, parse_url
from chengyun.ingest.pipeline import Ingestor
from chengyun.ingest.quarantine import list_quarantine
from chengyun.lake.reader import read
from tests.ingest.mqtt_support import collect_acks, lake_values, publish, settle_lake, wait_subscribed

PUBLISHER = Path(__file__).with_name("mqtt_publisher.py")
T0 = 1_700_000_000


def test_topic_and_url() -> None:
    assert parse_topic("chengyun/t1/pump-7/telemetry") == ("t1", "pump-7")
    assert parse_topic("chengyun/t1/telemetry") is None
    u = parse_url("mqtts://user:p%40ss@broker.example:8884")
    assert (u.host, u.port, u.tls, u.username, u.password) == ("broker.example", 8884, True, "user", "p@ss")
    assert parse_url("mqtt://localhost").port == 1883
    with pytest.raises(InvalidInput, match="mqtt://host:1883"):
        parse_url("http://localhost")


def test_subscriber_stores_and_quarantines(tmp_path: Path, mqtt_url: str, client_id: str) -> None:
    tenant = f"t{uuid.uuid4().hex[:6]}"
    ing = Ingestor(tmp_path / "lake", tmp_path / "wal", tmp_path / "q", flush_seconds=0.2).start()
    sub = MqttIngest(ing, mqtt_url, client_id=client_id).start()
    try:
        assert sub.connected.wait(10)
        time.sleep(0.3)  # the SUBACK
        good = [(f"chengyun/{tenant}/a{i % 3}/telemetry", json.dumps({"ts": T0 + i, "values": {"v": i}}).encode())
                for i in range(300)]
        publish(mqtt_url, [*good, (f"chengyun/{tenant}/a0/telemetry", b"{broken")])
        deadline = time.monotonic() + 20
        while ing.stats.messages < 301 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.stop()
        ing.close()
    assert sub.error is None
    lake = read(tmp_path / "lake", "telemetry", [tenant])
    assert sorted(lake.column("value").to_pylist()) == [float(i) for i in range(300)]
    (item,) = list_quarantine(tmp_path / "q")
    assert (item.tenant, item.raw, item.topic) == (tenant, b"{broken", f"chengyun/{tenant}/a0/telemetry")


def _ingest(url: str, ws: Path, cid: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "chengyun.cli.main", "ingest", "mqtt", "--url", url, "--workspace", str(ws),
           "--client-id", cid, "--flush-seconds", "0.2", "--quiet"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "CHENGYUN_DATABASE_URL": ""})


def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path, mqtt_url: str, client_id: str) -> None:
    # The pace keeps what the broker queues while the ingest is down under Mosquitto's default
    # max_queued_messages (1000), beyond which the broker itself drops messages it already acknowledged (its log
    # says "Outgoing messages are being dropped"): 150/s allows 6 s for the restart, which took over 3 s on a
    # slow machine.
    tenant, ws, count = f"k{uuid.uuid4().hex[:6]}", tmp_path / "ws", 1500
    ingest = _ingest(mqtt_url, ws, client_id)
    wait_subscribed(mqtt_url, ws, ["telemetry"])  # a message published before that would reach no one
    pub = subprocess.Popen([sys.executable, str(PUBLISHER), mqtt_url, tenant, str(count), "150"],
                           stdout=subprocess.PIPE, text=True)
    acked, progress, reader = collect_acks(pub)
    while progress[0] < count // 3:
        assert pub.poll() is None, "the publisher ended early"
        time.sleep(0.01)
    ingest.send_signal(signal.SIGKILL)
    ingest.wait()
    killed_at = progress[0]
    ingest = _ingest(mqtt_url, ws, client_id)  # same client id: the broker redelivers what was not acked
    try:
        reader.join(60)
        assert pub.wait(10) == 0
        settle_lake(ws, tenant, len(acked))
    finally:
        ingest.send_signal(signal.SIGTERM)
        _out, err = ingest.communicate(timeout=30)
    assert ingest.returncode == 0, err.decode()[-2000:]
    assert killed_at < len(acked) == count  # killed midway, and every message was acknowledged in the end
    values = lake_values(ws, tenant)
    assert len(values) == len(set(values)) == len(acked)  # exactly once
    assert {int(v) for v in values} == acked


def test_the_server_subscribes_with_its_own_client(tmp_path: Path, mqtt_url: str, client_id: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from chengyun.core.settings import Settings
    from chengyun.ingest import hub as hub_module
    from chengyun.ingest.hub import IngestHub

    monkeypatch.setattr(hub_module, "MQTT_CLIENT_ID", client_id)  # not the real server's session on a shared broker
    tenant = f"s{uuid.uuid4().hex[:6]}"
    settings = Settings(workspace=tmp_path, database_url=f"sqlite:///{tmp_path / 'c.db'}", mqtt_url=mqtt_url)
    hub = IngestHub(settings)
    hub.start_mqtt()
    try:
        assert hub._mqtt is not None and hub._mqtt.connected.wait(10)
        assert hub._mqtt.client_id == client_id
        publish(mqtt_url, [(f"chengyun/{tenant}/a1/telemetry", json.dumps({"ts": T0 + i, "values": {"v": i}}).encode())
                           for i in range(20)])
        deadline = time.monotonic() + 10
        while hub.ingestor().stats.messages < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        hub.close()  # stops the subscriber, then flushes the lake
    assert sorted(read(settings.lake, "telemetry", [tenant]).column("value").to_pylist()) == [float(i) for i in range(20)]
