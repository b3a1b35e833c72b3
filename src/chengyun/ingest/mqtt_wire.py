"""MQTT 5 on the wire (MQTT 报文), the part a QoS 1 subscriber needs: CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBACK,
PINGREQ and DISCONNECT to send; CONNACK, SUBACK, UNSUBACK, PUBLISH, PINGRESP and DISCONNECT to read.

Why not paho's client: it reads each packet with three ``recv`` calls (command byte, length bytes, body) and
writes each PUBACK with its own ``send`` plus a wake-up byte to its loop thread, about 30 µs of Python per message
— more than the rest of ingest (decode, log, lake) costs. ``Parser.feed`` splits every packet in one chunk read
from the socket in a tight loop, and ``puback`` packets of a batch go out in one write. Packets and their fields
follow MQTT 5.0 (OASIS standard, 2019), sections 2 and 3.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT, AUTH = 12, 13, 14, 15
PINGREQ_PACKET = b"\xc0\x00"
MAX_PACKET = 256 * 2**20  # the largest packet the broker may send us (Maximum Packet Size)
_SESSION_EXPIRY, _RECEIVE_MAXIMUM, _MAXIMUM_PACKET_SIZE = 0x11, 0x21, 0x27
_U16, _U32 = struct.Struct(">H"), struct.Struct(">I")
CONNACK_REASONS = {0x80: "unspecified error", 0x84: "unsupported protocol version", 0x85: "client id not valid",
                   0x86: "bad user name or password", 0x87: "not authorized", 0x88: "server unavailable",
                   0x89: "server busy", 0x8A: "banned", 0x8C: "bad authentication method"}


class ProtocolError(Exception):
    """The broker sent something this subscriber cannot take (malformed, or a packet it must not send)."""


class Publish(NamedTuple):
    """A received PUBLISH: topic (raw bytes), payload, packet id (0 for QoS 0) and QoS."""

    topic: bytes
    payload: bytes
    mid: int
    qos: int


@dataclass
class Packets:
    """What one chunk completed: PUBLISH packets, and every other packet as ``(type, flags, body)``."""

    publishes: list[Publish] = field(default_factory=list)
    control: list[tuple[int, int, bytes]] = field(default_factory=list)


def varint(n: int) -> bytes:
    """A Variable Byte Integer (lengths; at most 268,435,455)."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _str(text: str) -> bytes:
    raw = text.encode()
    return _U16.pack(len(raw)) + raw


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + varint(len(body)) + body


def connect(client_id: str, *, keepalive: int, clean_start: bool, session_expiry: int, receive_maximum: int,
            username: str | None = None, password: str | None = None) -> bytes:
    """CONNECT for MQTT 5 with a session expiry, a Receive Maximum (how many QoS 1 messages the broker may have
    unacknowledged with us; Mosquitto takes it instead of its ``max_inflight_messages``) and a packet size cap."""
    flags = (0x02 if clean_start else 0) | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    props = (bytes([_SESSION_EXPIRY]) + _U32.pack(session_expiry) + bytes([_RECEIVE_MAXIMUM])
             + _U16.pack(receive_maximum) + bytes([_MAXIMUM_PACKET_SIZE]) + _U32.pack(MAX_PACKET))
    body = _str("MQTT") + bytes([5, flags]) + _U16.pack(keepalive) + varint(len(props)) + props + _str(client_id)
    if username is not None:
        body += _str(username)
    if password is not None:
        body += _str(password)
    return _packet(CONNECT, 0, body)


def subscribe(mid: int, topic: str, qos: int = 1) -> bytes:
    """SUBSCRIBE to one topic filter at ``qos`` (no options: retained messages are sent as usual)."""
    return _packet(SUBSCRIBE, 0x02, _U16.pack(mid) + b"\x00" + _str(topic) + bytes([qos]))


def unsubscribe(mid: int, topic: str) -> bytes:
    """UNSUBSCRIBE from one topic filter."""
    return _packet(UNSUBSCRIBE, 0x02, _U16.pack(mid) + b"\x00" + _str(topic))


def publish(topic: bytes, payload: bytes, mid: int, qos: int = 1) -> bytes:
    """PUBLISH (no properties); the benchmark's and tests' publishers send these."""
    head = _U16.pack(len(topic)) + topic + (_U16.pack(mid) if qos else b"") + b"\x00"
    return bytes([PUBLISH << 4 | qos << 1]) + varint(len(head) + len(payload)) + head + payload


def puback(mids: list[int]) -> bytes:
    """PUBACKs (success, no properties: the 4-byte form) for every packet id, in order, as one buffer."""
    return b"".join(b"\x40\x02" + _U16.pack(mid) for mid in mids)


def disconnect(session_expiry: int | None = None) -> bytes:
    """DISCONNECT (normal); ``session_expiry`` 0 asks the broker to drop the session now."""
    if session_expiry is None:
        return b"\xe0\x00"
    props = bytes([_SESSION_EXPIRY]) + _U32.pack(session_expiry)
    return _packet(DISCONNECT, 0, b"\x00" + varint(len(props)) + props)


def connack(body: bytes) -> tuple[bool, int]:
    """``(session present, reason code)`` of a CONNACK body."""
    if len(body) < 2:
        raise ProtocolError(f"CONNACK of {len(body)} bytes")
    return bool(body[0] & 1), body[1]


def acked(body: bytes) -> tuple[int, list[int]]:
    """``(packet id, reason codes)`` of a SUBACK or UNSUBACK body."""
    if len(body) < 3:
        raise ProtocolError(f"SUBACK/UNSUBACK of {len(body)} bytes")
    props, pos = _read_varint(body, 2)
    return _U16.unpack_from(body)[0], list(body[pos + props:])


def _read_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    """``(value, position after it)`` of the Variable Byte Integer at ``pos``; (-1, pos) when incomplete."""
    value, shift = 0, 0
    for i in range(pos, min(pos + 4, len(buf))):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    if len(buf) - pos >= 4:
        raise ProtocolError("a length longer than four bytes")
    return -1, pos


class Parser:
    """Splits the byte stream from the broker into packets; keeps an incomplete tail for the next chunk."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Packets:
        """The packets ``data`` completes (with what was left over before)."""
        buf = self._buf
        buf += data
        out, pos, end_all = Packets(), 0, len(buf)
        publishes = out.publishes
        while end_all - pos >= 2:
            head = buf[pos]
            length = buf[pos + 1]
            start = pos + 2
            if length & 0x80:
                length, start = _read_varint(buf, pos + 1)
                if length < 0:
                    break
            end = start + length
            if end > end_all:
                break
            if head >> 4 == PUBLISH:
                publishes.append(_publish(buf, head, start, end))
            else:
                out.control.append((head >> 4, head & 0x0F, bytes(buf[start:end])))
            pos = end
        del buf[:pos]
        return out


def _publish(buf: bytearray, head: int, start: int, end: int) -> Publish:
    """The PUBLISH whose variable header starts at ``start``."""
    qos = (head >> 1) & 3
    if qos == 3:
        raise ProtocolError("PUBLISH with QoS 3")
    tlen = buf[start] << 8 | buf[start + 1]
    pos = start + 2 + tlen
    topic = bytes(buf[start + 2:pos])
    mid = 0
    if qos:
        mid = buf[pos] << 8 | buf[pos + 1]
        pos += 2
    props = buf[pos]
    if props & 0x80:
        props, pos = _read_varint(buf, pos)
    else:
        pos += 1
    pos += props
    if pos > end:
        raise ProtocolError("PUBLISH header longer than the packet")
    return Publish(topic, bytes(buf[pos:end]), mid, qos)
