"""MQTT subscriber (MQTT 接入): device telemetry from ``chengyun/<tenant>/<asset_id>/telemetry`` into the pipeline.

MQTT 5, QoS 1, a persistent session (a stable client id, ``clean_start`` False and a session expiry), so the broker
keeps what was not acknowledged while the subscriber is down and redelivers it. ``manual_ack``: the PUBACK of a
message goes out only after ``Ingestor.accept_many`` returned, i.e. once the message is in the WAL or the
quarantine, synced.

Threads: paho calls ``on_message`` on its network thread, which only puts the message on a queue. A few worker
threads each take what is waiting (up to ``batch`` messages), accept it with one WAL append and one shared fsync,
then acknowledge every message of the batch. Acking one message per fsync would cap the rate at the disk's fsync
rate; batching plus the WAL's group commit makes each fsync cover hundreds. ``Client.ack`` is safe from another
thread with ``loop_start``: it appends the PUBACK to paho's outgoing deque and wakes the network thread through
its socket pair (the same path ``publish`` takes, which paho documents as thread-safe). The client's Receive
Maximum (65,535 by default in MQTT 5) lets the broker keep that many messages unacknowledged in flight, so a
batch waiting on its fsync does not stall delivery.

Reconnects: paho's loop reconnects with a backoff (``reconnect_delay_set``, 1 s doubling to 30 s); after a
reconnect the broker redelivers unacknowledged messages, which the ingestor recognises as duplicates.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from chengyun.core.errors import InvalidInput
from chengyun.ingest.pipeline import Ingestor, Message

log = logging.getLogger(__name__)

TOPIC = "chengyun/+/+/telemetry"
SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps unacknowledged messages this long while we are down


@dataclass(frozen=True)
class BrokerUrl:
    """Where the broker is: ``mqtt://[user:password@]host[:port]`` or ``mqtts://`` for TLS."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None


def parse_url(url: str) -> BrokerUrl:
    """The broker's address from an ``mqtt://`` or ``mqtts://`` URL."""
    u = urlparse(url)
    if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not u.hostname:
        raise InvalidInput(f"{url!r} is not an MQTT broker URL", fix="use mqtt://host:1883 or mqtts://host:8883")
    tls = u.scheme in ("mqtts", "ssl")
    return BrokerUrl(u.hostname, u.port or (8883 if tls else 1883), tls,
                     unquote(u.username) if u.username else None, unquote(u.password) if u.password else None)


def parse_topic(topic: str) -> tuple[str, str] | None:
    """``(tenant, asset_id)`` of ``chengyun/<tenant>/<asset_id>/telemetry``, else None."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == "chengyun" and parts[3] == "telemetry":
        return parts[1], parts[2]
    return None


class MqttIngest:
    """Subscribes to device telemetry and acknowledges each message once the ingestor holds it durably."""

    def __init__(self, ingestor: Ingestor, url: str, *, client_id: str = "chengyun-ingest", workers: int = 2,
                 batch: int = 2000, topic: str = TOPIC, session_expiry: int = SESSION_EXPIRY_S) -> None:
        self.ingestor, self.broker, self.topic = ingestor, parse_url(url), topic
        self.workers, self.batch = workers, batch
        self.error: BaseException | None = None  # a failed accept: stop, do not ack, restart recovers
        self.connected = threading.Event()
        self.failed = threading.Event()
        self._queue: queue.SimpleQueue[tuple[str, bytes, int, int, float] | None] = queue.SimpleQueue()
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._session_expiry = session_expiry
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True)
        if self.broker.username:
            self.client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            self.client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> MqttIngest:
        """Start the workers and connect (in the background; ``connected`` is set once subscribed)."""
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"ingest-mqtt-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30, clean_start=False,
                                  properties=props)
        self.client.loop_start()
        return self

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT connect to %s:%s refused: %s", self.broker.host, self.broker.port, reason)
            return
        log.info("MQTT connected (session present: %s); subscribing to %s", flags.session_present, self.topic)
        client.subscribe(self.topic, qos=1)
        self.connected.set()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.connected.clear()
        if not self._closing:
            log.warning("MQTT disconnected (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if not self._closing:  # while closing, leave it unacknowledged: the broker redelivers it next session
            self._queue.put((msg.topic, msg.payload, msg.mid, msg.qos, time.time()))

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            items, stop = [first], False
            while len(items) < self.batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                items.append(nxt)
            if not self._accept(items) or stop:
                return

    def _accept(self, items: list[tuple[str, bytes, int, int, float]]) -> bool:
        """Accept a batch and acknowledge it; False (nothing acknowledged) when the ingestor failed."""
        messages = []
        for topic, payload, _mid, _qos, at in items:
            tenant, asset_id = parse_topic(topic) or ("", "")
            messages.append(Message("mqtt", payload, tenant, asset_id, datetime.fromtimestamp(at, UTC), topic))
        try:
            self.ingestor.accept_many(messages)
        except BaseException as exc:
            log.exception("ingest: accepting MQTT messages failed; nothing more is acknowledged")
            self.error = exc
            self.failed.set()
            return False
        for _topic, _payload, mid, qos, _at in items:
            if qos:
                self.client.ack(mid, qos)
        return True

    def stop(self) -> None:
        """Stop taking messages, accept and acknowledge what is queued, then disconnect."""
        self._closing = True
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()
        deadline = time.monotonic() + 2
        while self.client.want_write() and time.monotonic() < deadline:  # let the PUBACKs go out
            time.sleep(0.01)
        self.client.disconnect()
        self.client.loop_stop()
