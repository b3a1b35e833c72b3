"""The MQTT 5 packets the subscriber speaks: split from a byte stream however it is chunked, properties skipped,
PUBACKs of a batch in one buffer and in arrival order; and, against the real broker, PUBLISH packets carrying
properties."""

from __future__ import annotations

import json
import struct
import time
import uuid
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from chengyun.ingest import mqtt_wire as wire
from chengyun.ingest.mqtt import MqttIngest, _Connection
from chengyun.ingest.pipeline import Ingestor
from chengyun.lake.reader import read
from tests.ingest.mqtt_support import publish


def _publish_with_props(topic: bytes, payload: bytes, mid: int, props: bytes) -> bytes:
    head = struct.pack(">H", len(topic)) + topic + struct.pack(">H", mid) + wire.varint(len(props)) + props
    return bytes([0x32]) + wire.varint(len(head) + len(payload)) + head + payload


def test_varint_boundaries() -> None:
    assert [wire.varint(n) for n in (0, 127, 128, 16_383, 16_384)] == [
        b"\x00", b"\x7f", b"\x80\x01", b"\xff\x7f", b"\x80\x80\x01"]


def test_stream_split_anywhere_gives_the_same_packets() -> None:
    big = b"x" * 20_000  # a length of three bytes
    stream = (wire.publish(b"chengyun/t/a/telemetry", b'{"v":1}', 7)
              + b"\x90\x04\x00\x01\x00\x01"  # SUBACK: id 1, no properties, granted QoS 1
              + _publish_with_props(b"chengyun/t/b/telemetry", big, 8, b"\x01\x01\x26\x00\x01k\x00\x01v")
              + wire.publish(b"chengyun/t/c/telemetry", b"q0", 0, qos=0) + b"\xd0\x00")  # ... PINGRESP
    for step in (1, 2, 3, 7, 4096, len(stream)):
        parser, pubs, control = wire.Parser(), [], []
        for i in range(0, len(stream), step):
            got = parser.feed(stream[i:i + step])
            pubs += got.publishes
            control += got.control
        assert pubs == [wire.Publish(b"chengyun/t/a/telemetry", b'{"v":1}', 7, 1),
                        wire.Publish(b"chengyun/t/b/telemetry", big, 8, 1),
                        wire.Publish(b"chengyun/t/c/telemetry", b"q0", 0, 0)], step
        assert control == [(wire.SUBACK, 0, b"\x00\x01\x00\x01"), (wire.PINGRESP, 0, b"")]
        assert wire.acked(control[0][2]) == (1, [1])


def test_malformed_packets_are_refused() -> None:
    with pytest.raises(wire.ProtocolError, match="four bytes"):
        wire.Parser().feed(b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(wire.ProtocolError, match="QoS 3"):
        wire.Parser().feed(b"\x36\x05\x00\x01t\x00\x00")
    with pytest.raises(wire.ProtocolError, match="longer than the packet"):
        wire.Parser().feed(b"\x32\x06\x00\x01t\x00\x01\x09")


def test_connect_and_acks_encode_the_fields() -> None:
    pkt = wire.connect("sub-1", keepalive=30, clean_start=False, session_expiry=3600, receive_maximum=10_000,
                       username="u", password="p")
    assert pkt[0] == 0x10 and pkt[2:9] == b"\x00\x04MQTT\x05"
    assert pkt[9] == 0xC0  # user name and password, no clean start
    assert b"\x11\x00\x00\x0e\x10" in pkt and b"\x21\x27\x10" in pkt  # session expiry 3600, receive maximum
    assert pkt.endswith(b"\x00\x05sub-1\x00\x01u\x00\x01p")
    assert wire.puback([1, 258]) == b"\x40\x02\x00\x01\x40\x02\x01\x02"
    assert wire.disconnect() == b"\xe0\x00"
    assert wire.disconnect(0) == b"\xe0\x07\x00\x05\x11\x00\x00\x00\x00"
    assert wire.connack(b"\x01\x00\x00") == (True, 0)


def test_acks_leave_in_arrival_order_and_only_on_their_connection() -> None:
    conn = _Connection(2, None)  # type: ignore[arg-type]  # the ordering needs no socket
    assert conn.release([(2, 2, [21, 22]), (2, 3, [31])]) == []  # chunk 1 is still being accepted
    assert conn.release([(1, 1, [99]), (2, 1, [11])]) == [11, 21, 22, 31]  # chunk 1 of connection 1: dropped
    assert conn.release([(2, 4, [])]) == [] and conn.next_ack == 5  # QoS 0 only: nothing to send


def test_publish_with_properties_through_the_broker(tmp_path: Path, mqtt_url: str, client_id: str) -> None:
    tenant = f"p{uuid.uuid4().hex[:6]}"
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("site", "north")
    props.MessageExpiryInterval = 600
    props.ContentType = "application/json"
    ing = Ingestor(tmp_path / "lake", tmp_path / "wal", tmp_path / "q", flush_seconds=0.1).start()
    sub = MqttIngest(ing, mqtt_url, client_id=client_id).start()
    try:
        assert sub.connected.wait(10)
        publish(mqtt_url, [(f"chengyun/{tenant}/a/telemetry", json.dumps({"ts": 1_700_000_000 + i,
                                                                           "values": {"v": i}}).encode())
                           for i in range(50)], props)
        deadline = time.monotonic() + 10
        while ing.stats.messages < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.stop()
        ing.close()
    assert sorted(read(tmp_path / "lake", "telemetry", [tenant]).column("value").to_pylist()) == [
        float(i) for i in range(50)]
