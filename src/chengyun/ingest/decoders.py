"""Decoders of ingest (解码器), one per source: what a message's bytes mean. The platform's own JSON for MQTT and
HTTP, NGSI-LD / NGSI v2 entities for the FIWARE endpoints; a third party registers its own with
``register_decoder`` (the pipeline looks the source up here, so built-ins and plug-ins go the same way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from chengyun.ingest import ngsi
from chengyun.ingest.telemetry import NAME_RE, Decoded, Sample, decode_bytes, decode_lines, to_us


@dataclass(frozen=True)
class Message:
    """A received payload: where from (``mqtt``, ``http``), the raw bytes, the tenant and asset it is for (both
    None for a JSON-lines batch, whose lines name their own), when it arrived (aware) and the MQTT topic."""

    source: str
    raw: bytes
    tenant: str | None
    asset_id: str | None
    received_at: datetime
    topic: str | None = None


Decoder = Callable[["Message"], Decoded]


def decode_telemetry(msg: Message) -> Decoded:
    """The platform's own payload: one report (or a list) for the message's tenant and asset, or JSON lines."""
    if msg.tenant is None and msg.asset_id is None:
        return decode_lines(msg.raw, msg.received_at)
    return decode_bytes(msg.raw, msg.tenant or "", msg.asset_id or "", msg.received_at)


def decode_ngsi(msg: Message) -> Decoded:
    """NGSI-LD or NGSI v2 entities (an upsert body, one entity, or a notification) for the message's tenant.

    Times without a zone are read as UTC (NGSI-LD requires UTC); what the decoder puts aside quarantines the
    message, like any other source's problems."""
    out = Decoded()
    if not msg.tenant or not NAME_RE.match(msg.tenant):
        out.problems.append(ngsi.Problem(None, None, None, f"tenant {msg.tenant!r} is not a unit id",
                                         "send the NGSILD-Tenant (or Fiware-Service) header with a unit id"))
        return out
    got = ngsi.decode_bytes(msg.raw, msg.received_at, assume_tz=UTC)
    out.problems.extend(got.problems)
    out.readings.extend(Sample(msg.tenant, r.asset_id, r.metric, to_us(r.ts), r.value) for r in got.readings)
    return out


DECODERS: dict[str, Decoder] = {"mqtt": decode_telemetry, "http": decode_telemetry, "ngsi-ld": decode_ngsi}


def register_decoder(source: str, decoder: Decoder) -> None:
    """Decode messages of ``source`` with ``decoder`` (how the NGSI-LD endpoints, and third parties, plug in)."""
    DECODERS[source] = decoder


