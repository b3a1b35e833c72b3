"""MQTT subscriber (MQTT 接入): device telemetry from ``chengyun/<tenant>/<asset_id>/telemetry`` into the pipeline.

MQTT 5, QoS 1, a persistent session (a stable client id, ``clean_start`` False and a session expiry), so the broker
keeps what was not acknowledged while the subscriber is down and redelivers it. The PUBACK of a message goes out
only after ``Ingestor.accept_many`` returned, i.e. once the message is in the WAL or the quarantine, synced.

Threads: an asyncio loop owns the connection (``mqtt_wire``: one read splits many packets, the PUBACKs of a batch
leave in one write) and puts each chunk's messages on a queue. A few accepting threads each take what is waiting
(up to ``batch`` messages), accept it with one WAL append and one shared fsync, then hand the packet ids back to
the loop, which acknowledges them in the order they arrived (MQTT 5 §4.6), whichever thread finished first.
Acking one message per fsync would cap the rate at the disk's fsync rate; batching plus the WAL's group commit
makes each fsync cover hundreds. The client announces a Receive Maximum (``RECEIVE_MAXIMUM`` unacknowledged
messages), which Mosquitto uses instead of its ``max_inflight_messages`` (default 20), so a batch waiting on its
fsync does not stall delivery.

Reconnects: with a backoff (1 s doubling to 30 s); after a reconnect the broker redelivers unacknowledged messages,
which the ingestor recognises as duplicates. Acknowledgements of messages taken on an earlier connection are not
sent on the new one: the redelivered copy is acknowledged instead. QoS 0 messages have no Receive Maximum, so the
loop stops reading while more than four batches wait to be accepted (TCP then holds the broker back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlparse

from chengyun.core.errors import InvalidInput
from chengyun.ingest import mqtt_wire as wire
from chengyun.ingest.pipeline import Ingestor, Message

log = logging.getLogger(__name__)

TOPIC = "chengyun/+/+/telemetry"
SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps unacknowledged messages this long while we are down
RECEIVE_MAXIMUM = 10_000  # in flight per subscriber: 0.5 s at 20,000/s covers batching and fsync latency
READ_BYTES = 256 * 1024
_TOPIC_CACHE = 100_000  # parsed topics kept (one per asset)

_Chunk = tuple[int, int, list[wire.Publish], float]  # connection, chunk seq, messages, receive time


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
    """Subscribes to device telemetry and acknowledges each message once the ingestor holds it durably.

    ``topic`` None subscribes to nothing (the session's stored subscriptions still deliver); ``drop_topics`` are
    unsubscribed on every connect (a subscription this client had in another role)."""

    def __init__(self, ingestor: Ingestor, url: str, *, client_id: str = "chengyun-ingest", threads: int = 2,
                 batch: int = 5000, topic: str | None = TOPIC, drop_topics: Sequence[str] = (),
                 session_expiry: int = SESSION_EXPIRY_S, receive_maximum: int = RECEIVE_MAXIMUM,
                 keepalive: int = 30) -> None:
        self.ingestor, self.broker, self.client_id = ingestor, parse_url(url), client_id
        self.threads, self.batch, self.topic, self.drop_topics = threads, batch, topic, list(drop_topics)
        self.session_expiry, self.receive_maximum, self.keepalive = session_expiry, receive_maximum, keepalive
        self.error: BaseException | None = None  # a failed accept or a refused subscription: stop, do not ack
        self.connected = threading.Event()  # connected and every (un)subscription answered
        self.failed = threading.Event()
        self.session_present: bool | None = None
        self.received = 0
        self.last_message = time.monotonic()  # when the last message arrived
        self._queue: queue.SimpleQueue[_Chunk | None] = queue.SimpleQueue()
        self._closing = False
        self._left = False  # a message came in while closing and was not taken: keep the session for it
        self._queued, self._accepted = 0, 0  # messages put on the queue (loop thread), accepted (workers)
        self._count_lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._loop = asyncio.new_event_loop()
        self._net = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),),
                                     name="ingest-mqtt-net", daemon=True)
        self._stopped = asyncio.Event()
        self._done = asyncio.Event()
        self._conn: _Connection | None = None
        self._gen = 0
        self._topics: dict[bytes, tuple[str, str, str]] = {}

    def start(self) -> MqttIngest:
        """Start the accepting threads and connect (in the background; ``connected`` is set once subscribed)."""
        for i in range(self.threads):
            t = threading.Thread(target=self._work, name=f"ingest-mqtt-{i}", daemon=True)
            t.start()
            self._workers.append(t)
        self._net.start()
        return self

    # -- the connection (event loop thread) ------------------------------------------------------------------

    async def _main(self) -> None:
        delay = 1.0
        while not self._closing and not self.failed.is_set():
            try:
                await self._session()
                delay = 1.0
            except (OSError, EOFError, wire.ProtocolError, TimeoutError) as exc:
                if not self._closing:
                    log.warning("MQTT %s:%s: %s; reconnecting in %.0f s", self.broker.host, self.broker.port,
                                exc or type(exc).__name__, delay)
            except Exception:  # never let the subscriber die silently: log, back off, connect again
                log.exception("MQTT connection failed; reconnecting in %.0f s", delay)
            self.connected.clear()
            if self._closing or self.failed.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)
            delay = min(delay * 2, 30.0)
        await self._done.wait()  # keep the loop running until ``_close`` has sent what is pending

    async def _session(self) -> None:
        """One connection: connect, subscribe, then read until it ends."""
        ctx = ssl.create_default_context() if self.broker.tls else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.broker.host, self.broker.port, ssl=ctx), 10)
        self._gen += 1
        conn = self._conn = _Connection(self._gen, writer)
        writer.write(wire.connect(self.client_id, keepalive=self.keepalive, clean_start=False,
                                  session_expiry=self.session_expiry, receive_maximum=self.receive_maximum,
                                  username=self.broker.username, password=self.broker.password))
        parser, ping = wire.Parser(), asyncio.create_task(self._ping(conn))
        try:
            while True:
                while self._queued - self._accepted > self.batch * 4:  # QoS 0 has no Receive Maximum: stop reading
                    await asyncio.sleep(0.005)
                data = await reader.read(READ_BYTES)
                if not data:
                    raise EOFError("the broker closed the connection")
                conn.last_read = time.monotonic()
                got = parser.feed(data)
                for kind, _flags, body in got.control:
                    self._control(conn, kind, body)
                if got.publishes:
                    self._take(conn, got.publishes)
        finally:
            ping.cancel()
            self._conn = None
            writer.close()

    def _control(self, conn: _Connection, kind: int, body: bytes) -> None:
        """Answer a packet other than PUBLISH."""
        if kind == wire.CONNACK:
            present, code = wire.connack(body)
            if code >= 0x80:
                raise wire.ProtocolError(f"connection refused: {wire.CONNACK_REASONS.get(code, hex(code))}")
            self.session_present = present
            log.info("MQTT connected as %s (session present: %s)", self.client_id, present)
            self._subscribe(conn)
        elif kind in (wire.SUBACK, wire.UNSUBACK):
            mid, codes = wire.acked(body)
            if kind == wire.SUBACK and (not codes or codes[0] >= 0x80):
                reason = f"{codes[0]:#x}" if codes else "none given"
                self.error = InvalidInput(f"the broker refused the subscription to {self.topic} (reason {reason})",
                                          fix="allow this client to subscribe to the topic in the broker's ACL")
                self.failed.set()
                raise wire.ProtocolError(str(self.error))
            conn.waiting.discard(mid)
            if not conn.waiting:
                self.connected.set()
        elif kind == wire.DISCONNECT:
            code = body[0] if body else 0
            why = "another client connected with the same client id" if code == 0x8E else f"reason {code:#x}"
            raise EOFError(f"the broker disconnected {self.client_id}: {why}")
        elif kind != wire.PINGRESP:
            raise wire.ProtocolError(f"unexpected packet type {kind}")

    def _subscribe(self, conn: _Connection) -> None:
        packets = [wire.subscribe(1, self.topic)] if self.topic else []
        packets += [wire.unsubscribe(i, t) for i, t in enumerate(self.drop_topics, 2)]
        conn.waiting = set(range(1 if self.topic else 2, len(self.drop_topics) + 2))
        conn.writer.write(b"".join(packets))
        if not conn.waiting:
            self.connected.set()

    async def _ping(self, conn: _Connection) -> None:
        """Keep the connection alive; drop it when the broker has been silent for 1.5 keepalives."""
        while True:
            await asyncio.sleep(self.keepalive / 2)
            if time.monotonic() - conn.last_read > self.keepalive * 1.5:
                log.warning("MQTT broker silent for %.0f s; reconnecting", self.keepalive * 1.5)
                conn.writer.transport.abort()
                return
            conn.writer.write(wire.PINGREQ_PACKET)

    def _take(self, conn: _Connection, publishes: list[wire.Publish]) -> None:
        self.received += len(publishes)
        self.last_message = time.monotonic()
        if self._closing:  # leave it unacknowledged: the broker redelivers it next session
            self._left = True
        else:
            conn.chunks += 1
            self._queued += len(publishes)
            self._queue.put((conn.gen, conn.chunks, publishes, time.time()))

    def _acked(self, done: list[tuple[int, int, list[int]]]) -> None:
        """Acknowledge accepted chunks, in the order they arrived."""
        conn = self._conn
        if conn is not None and (mids := conn.release(done)):
            conn.writer.write(wire.puback(mids))

    # -- accepting (worker threads) ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            items, size, stop = [first], len(first[2]), False
            while size < self.batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                items.append(nxt)
                size += len(nxt[2])
            if not self._accept(items) or stop:
                return

    def _accept(self, items: list[_Chunk]) -> bool:
        """Accept chunks and have them acknowledged; False (nothing acknowledged) when the ingestor failed."""
        messages = []
        for _gen, _chunk, publishes, at in items:
            received = datetime.fromtimestamp(at, UTC)
            for p in publishes:
                tenant, asset_id, topic = self._topic(p.topic)
                messages.append(Message("mqtt", p.payload, tenant, asset_id, received, topic))
        try:
            self.ingestor.accept_many(messages)
        except BaseException as exc:
            log.exception("ingest: accepting MQTT messages failed; nothing more is acknowledged")
            self.error = exc
            self.failed.set()
            self._loop.call_soon_threadsafe(self._abort)
            return False
        with self._count_lock:
            self._accepted += len(messages)
        done = [(gen, chunk, [p.mid for p in publishes if p.qos]) for gen, chunk, publishes, _at in items]
        self._loop.call_soon_threadsafe(self._acked, done)
        return True

    def _topic(self, raw: bytes) -> tuple[str, str, str]:
        """``(tenant, asset_id, topic)`` of a topic as received; unparsable topics give empty ids (quarantined)."""
        hit = self._topics.get(raw)
        if hit is None:
            topic = raw.decode("utf-8", "replace")
            tenant, asset_id = parse_topic(topic) or ("", "")
            if len(self._topics) >= _TOPIC_CACHE:
                self._topics.clear()
            hit = self._topics[raw] = (tenant, asset_id, topic)
        return hit

    def _abort(self) -> None:
        if self._conn is not None:
            self._conn.writer.transport.abort()
        self._stopped.set()

    # -- stopping --------------------------------------------------------------------------------------------

    def stop(self, *, end_session: bool = False) -> None:
        """Stop taking messages, accept and acknowledge what is queued, then disconnect; ``end_session`` asks the
        broker to drop the session (and its subscriptions) instead of keeping it."""
        self._closing = True
        for _ in self._workers:
            self._queue.put(None)
        for t in self._workers:
            t.join()
        with contextlib.suppress(queue.Empty):
            while True:  # a chunk queued behind the stop markers: unacknowledged, so keep the session for it
                if self._queue.get_nowait() is not None:
                    self._left = True
        if self._net.is_alive():
            asyncio.run_coroutine_threadsafe(self._close(end_session), self._loop).result(timeout=15)
            self._net.join(timeout=15)
        self._loop.close()

    async def _close(self, end_session: bool) -> None:
        """Send what is pending and DISCONNECT (on the loop, after the acks already scheduled)."""
        self._stopped.set()
        conn = self._conn
        try:
            if conn is not None:
                conn.writer.write(wire.disconnect(0 if end_session and not self._left else None))
                await asyncio.wait_for(conn.writer.drain(), 5)
                conn.writer.close()
                await asyncio.wait_for(conn.writer.wait_closed(), 5)
        except (OSError, TimeoutError):
            pass
        finally:
            self._done.set()


class _Connection:
    """The state of one connection: its number, writer, chunk numbering and acknowledgements in order."""

    def __init__(self, gen: int, writer: asyncio.StreamWriter) -> None:
        self.gen, self.writer = gen, writer
        self.last_read = time.monotonic()
        self.chunks = 0
        self.next_ack = 1
        self.ready: dict[int, list[int]] = {}
        self.waiting: set[int] = set()

    def release(self, done: list[tuple[int, int, list[int]]]) -> list[int]:
        """Take accepted chunks ``(connection, chunk, packet ids)``; the packet ids now acknowledgeable in arrival
        order (a chunk waits for every earlier one; chunks of an earlier connection are dropped)."""
        for gen, chunk, mids in done:
            if gen == self.gen:
                self.ready[chunk] = mids
        out: list[int] = []
        while self.next_ack in self.ready:
            out += self.ready.pop(self.next_ack)
            self.next_ack += 1
        return out
