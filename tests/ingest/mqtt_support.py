"""What the MQTT tests share: the test broker (CHENGYUN_TEST_MQTT_URL), fresh client ids whose sessions are
removed afterwards, a QoS 1 publisher that waits for every PUBACK, a reader of a publisher process's ack lines, and the
lake's values of a tenant."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from chengyun.ingest.mqtt import parse_url
from chengyun.lake.reader import read
from tests.conftest import need, port_open


@pytest.fixture
def mqtt_url() -> str:
    """The test broker: skip when CHENGYUN_TEST_MQTT_URL is unset or silent, except in CI."""
    url = os.environ.get("CHENGYUN_TEST_MQTT_URL", "")
    need(bool(url), "CHENGYUN_TEST_MQTT_URL is not set (MQTT tests need a broker, e.g. mqtt://127.0.0.1:1883)")
    need(port_open(url, 1883), f"no MQTT broker answers at {url}")
    return url


def end_session(url: str, cid: str) -> None:
    """Remove a client id's persistent session (and its subscriptions) from the broker."""
    u = parse_url(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=MQTTProtocolVersion.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    c.connect(u.host, u.port, clean_start=True, properties=props)
    c.disconnect()


@pytest.fixture
def client_id(mqtt_url: str) -> Iterator[str]:
    """A fresh subscriber client id; its persistent session is removed from the broker afterwards."""
    cid = f"test-ingest-{uuid.uuid4().hex[:8]}"
    yield cid
    end_session(mqtt_url, cid)


def publish(url: str, messages: list[tuple[str, bytes]], props: Properties | None = None) -> None:
    """Publish at QoS 1 (MQTT 5, with ``props`` on every message) and wait for every PUBACK."""
    u = parse_url(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}",
                    protocol=MQTTProtocolVersion.MQTTv5)
    c.connect(u.host, u.port)
    c.loop_start()
    infos = [c.publish(topic, body, qos=1, properties=props) for topic, body in messages]
    for info in infos:
        info.wait_for_publish(10)
    c.disconnect()
    c.loop_stop()


def session_present(url: str, cid: str) -> bool:
    """Whether the broker holds a session for ``cid`` (connecting to look ends it)."""
    u = parse_url(url)
    seen: list[bool] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=MQTTProtocolVersion.MQTTv5)
    c.on_connect = lambda _c, _u, flags, _r, _p: seen.append(flags.session_present)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    c.connect(u.host, u.port, clean_start=False, properties=props)
    c.loop_start()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    c.disconnect()
    c.loop_stop()
    assert seen, f"no CONNACK for {cid}"
    return seen[0]


def wait_subscribed(url: str, ws: Path, logs: list[str], timeout: float = 60) -> None:
    """Publish a probe (tenant ``probe``) until each named log under ``<ws>/wal`` holds a record: every ingest
    member is subscribed (a message published before that reaches no one)."""
    deadline = time.monotonic() + timeout
    while not all(any(p.stat().st_size for p in (ws / "wal" / name).glob("wal-*.log")) for name in logs):
        assert time.monotonic() < deadline, f"members {logs} did not all subscribe within {timeout} s"
        publish(url, [("chengyun/probe/p/telemetry", json.dumps({"values": {"v": 1}}).encode())])
        time.sleep(0.2)


def collect_acks(pub: subprocess.Popen[str]) -> tuple[set[int], list[int], threading.Thread]:
    """Read the publisher's ``progress``/``ack`` lines in the background."""
    acked: set[int] = set()
    progress = [0]

    def read_lines() -> None:
        assert pub.stdout is not None
        for line in pub.stdout:
            word, n = line.split()[0], line.split()[-1]
            if word == "ack":
                acked.add(int(n))
            elif word == "progress":
                progress[0] = int(n)

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    return acked, progress, reader


def lake_values(ws: Path, tenant: str) -> list[float]:
    """The telemetry values of a tenant in the workspace's lake."""
    return read(ws / "lake", "telemetry", [tenant]).column("value").to_pylist()


def settle_lake(ws: Path, tenant: str, expected: int, timeout: float = 30) -> None:
    """Wait until the lake holds ``expected`` values of the tenant, then a second more, in which a late duplicate
    would show up."""
    deadline = time.monotonic() + timeout
    while len(lake_values(ws, tenant)) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
