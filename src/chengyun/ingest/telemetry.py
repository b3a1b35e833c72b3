"""Decoder of the platform's own telemetry payload (平台遥测报文): MQTT messages and HTTP bodies → readings.

Pure (no I/O). Two forms:

* one device's report, for a tenant and asset known from outside (the MQTT topic
  ``chengyun/<tenant>/<asset_id>/telemetry`` or the HTTP request): ``{"ts": …, "values": {metric: value}}`` or a
  JSON list of those (``decode``);
* a JSON-lines batch (HTTP), each line naming its own ``{"tenant", "asset_id", "ts", "values"}``
  (``decode_lines``).

What is a reading: a JSON number (stored as float64) or boolean (true → 1.0, false → 0.0). Text and null values
are skipped and counted in ``skipped``, not problems: devices mix status words into their reports (as NGSI-LD
does), and the float column cannot hold them. NaN and ±Infinity (which Python's JSON reader lets through) and
nested objects or arrays are problems: they are never meant as readings.

Time (``ts``), always stored as naive UTC microseconds:

* an ISO 8601 text with a zone (``2026-11-26T08:00:00+08:00``, ``…Z``); without a zone it is a problem;
* a number of epoch seconds or milliseconds, told apart by magnitude: below ``1e11`` it is seconds (1e11 s is the
  year 5138), from ``1e11`` up to ``1e14`` milliseconds (1e11 ms is March 1973); a negative number or ``1e14`` and
  above (microseconds, nanoseconds) is a problem;
* missing (or null): the time the platform received the message.

All or nothing per message: one problem anywhere puts the whole message aside (``valid`` is False), so the caller
quarantines the raw bytes and a fixed resend gives exactly the readings, never half of them twice.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from chengyun.ingest.ngsi import Problem, parse_time

MAX_BYTES = 16 * 1024 * 1024  # refuse before parsing: json.loads holds the whole document in memory
MAX_REPORTS = 10_000  # reports in one list or lines in one batch
SECONDS_BELOW = 1e11  # epoch numbers below this are seconds, from it up to MILLIS_BELOW milliseconds
MILLIS_BELOW = 1e14
NAME_RE = re.compile(r"^[A-Za-z0-9._-]+\Z")  # tenants: the characters a lake path allows
_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)
_FIX_TS = ("send ts as ISO 8601 with a zone (2026-11-26T08:00:00+08:00) or epoch seconds or milliseconds, "
           "or leave it out to use the receive time")
_FIX_SHAPE = 'send {"ts": …, "values": {"metric": number}} or a JSON list of those'


class Sample(NamedTuple):
    """One telemetry reading (遥测读数) of a tenant's asset: metric, UTC time in microseconds, value."""

    tenant: str
    asset_id: str
    metric: str
    ts_us: int
    value: float

    @property
    def ts(self) -> datetime:
        """The reading's time as a naive UTC datetime."""
        return datetime.fromtimestamp(self.ts_us / 1e6, UTC).replace(tzinfo=None)


@dataclass
class Decoded:
    """The decoder's report: readings, values skipped (text, null) and problems; nothing is raised."""

    readings: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0

    @property
    def valid(self) -> bool:
        """Whether nothing was put aside."""
        return not self.problems

    @property
    def stats(self) -> dict[str, int]:
        """Counts of readings, skipped values and problems."""
        return {"readings": len(self.readings), "skipped": self.skipped, "problems": len(self.problems)}

    def reason(self) -> str:
        """The problems in one line (for the quarantine)."""
        return "; ".join(_where(p) + p.reason for p in self.problems)


def _where(p: Problem) -> str:
    parts = [f"#{p.index}" if p.index is not None else "", p.entity_id or "", p.attribute or ""]
    text = " ".join(x for x in parts if x)
    return f"{text}: " if text else ""


def epoch_us(number: float) -> tuple[int | None, str]:
    """Epoch seconds or milliseconds (by magnitude) as UTC microseconds, or None and why it is unusable."""
    if not math.isfinite(number) or number < 0:
        return None, f"{number!r} is not a usable epoch time"
    if number < SECONDS_BELOW:
        return round(number * 1_000_000), ""
    if number < MILLIS_BELOW:
        return round(number * 1_000), ""
    return None, f"{number!r} is too large for epoch seconds or milliseconds (microseconds are not accepted)"


def time_us(raw: Any, received_us: int) -> tuple[int | None, str]:
    """A report's ``ts`` (ISO 8601 with zone, epoch s or ms, or missing → receive time) in UTC microseconds."""
    if raw is None:
        return received_us, ""
    if isinstance(raw, bool):
        return None, "is a boolean, not a time"
    if isinstance(raw, int | float):
        return epoch_us(raw)
    ts, why = parse_time(raw)
    if ts is None:
        return None, why
    return (ts.replace(tzinfo=None) - _EPOCH) // _US, ""



def to_us(moment: datetime) -> int:
    """An aware datetime as UTC epoch microseconds."""
    if moment.tzinfo is None:
        raise ValueError("received_at must be timezone-aware, e.g. datetime.now(UTC)")
    return (moment.astimezone(UTC).replace(tzinfo=None) - _EPOCH) // _US


def _report(i: int | None, tenant: str, asset_id: str, rep: Any, received_us: int, out: Decoded) -> None:
    """The readings of one ``{"ts", "values"}`` object into ``out``."""
    if not isinstance(rep, dict):
        out.problems.append(Problem(i, asset_id, None, f"a report is {_kind(rep)}, not an object", _FIX_SHAPE))
        return
    values = rep.get("values")
    if not isinstance(values, dict) or not values:
        why = "has no values" if values is None or values == {} else f"values is {_kind(values)}, not an object"
        out.problems.append(Problem(i, asset_id, None, f"the report {why}", _FIX_SHAPE))
        return
    ts, why = time_us(rep.get("ts"), received_us)
    if ts is None:
        out.problems.append(Problem(i, asset_id, "ts", f"ts {why}", _FIX_TS))
        return
    for metric, value in values.items():
        if not metric:
            out.problems.append(Problem(i, asset_id, metric, "a metric has an empty name", "name every metric"))
        elif isinstance(value, bool):
            out.readings.append(Sample(tenant, asset_id, metric, ts, 1.0 if value else 0.0))
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                out.problems.append(Problem(i, asset_id, metric, f"{value!r} is not a number",
                                            "send finite numbers; leave the metric out when there is no value"))
            else:
                out.readings.append(Sample(tenant, asset_id, metric, ts, float(value)))
        elif value is None or isinstance(value, str):
            out.skipped += 1
        else:
            out.problems.append(Problem(i, asset_id, metric, f"the value is {_kind(value)}",
                                        "send a number, boolean or text per metric (one level, no nesting)"))


def _check_ids(tenant: Any, asset_id: Any) -> str:
    """Why the tenant and asset cannot name a lake row, or ''."""
    if not isinstance(tenant, str) or not NAME_RE.match(tenant):
        return f"tenant {tenant!r} is not an id of letters, digits, '.', '_' or '-'"
    if not isinstance(asset_id, str) or not asset_id:
        return f"asset_id {asset_id!r} is not a non-empty text"
    return ""


def decode(payload: Any, tenant: str, asset_id: str, received_at: datetime) -> Decoded:
    """Readings from a parsed report or list of reports of one asset; ``received_at`` must be aware."""
    received_us = to_us(received_at)
    out = Decoded()
    why = _check_ids(tenant, asset_id)
    if why:
        out.problems.append(Problem(None, None, None, why, "publish to chengyun/<tenant>/<asset_id>/telemetry"))
        return out
    if isinstance(payload, list):
        if not payload or len(payload) > MAX_REPORTS:
            out.problems.append(Problem(None, asset_id, None, f"a list of {len(payload)} reports",
                                        f"send 1 to {MAX_REPORTS} reports per message"))
            return out
        for i, rep in enumerate(payload):
            _report(i, tenant, asset_id, rep, received_us, out)
    else:
        _report(None, tenant, asset_id, payload, received_us, out)
    return out


def decode_lines(raw: bytes, received_at: datetime, *, max_bytes: int = MAX_BYTES) -> Decoded:
    """Readings from a JSON-lines body, one ``{"tenant", "asset_id", "ts", "values"}`` per line (blank lines are
    ignored); problems name the line (from 1)."""
    received_us = to_us(received_at)
    text, why = _text(raw, max_bytes)
    if text is None:
        return Decoded(problems=[Problem(None, None, None, why, "send UTF-8 JSON lines")])
    out = Decoded()
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines or len(lines) > MAX_REPORTS:
        out.problems.append(Problem(None, None, None, f"{len(lines)} lines", f"send 1 to {MAX_REPORTS} lines"))
        return out
    for n, line in lines:
        obj, why = _json(line)
        if why:
            out.problems.append(Problem(n, None, None, why, "send one JSON object per line"))
        elif not isinstance(obj, dict):
            out.problems.append(Problem(n, None, None, f"the line is {_kind(obj)}, not an object",
                                        'send {"tenant", "asset_id", "ts", "values"} per line'))
        elif why := _check_ids(obj.get("tenant"), obj.get("asset_id")):
            out.problems.append(Problem(n, None, None, why, 'name "tenant" and "asset_id" on every line'))
        else:
            _report(n, obj["tenant"], obj["asset_id"], obj, received_us, out)
    return out


def decode_bytes(raw: bytes, tenant: str, asset_id: str, received_at: datetime, *,
                 max_bytes: int = MAX_BYTES) -> Decoded:
    """``decode`` of a UTF-8 JSON body; a body that cannot be parsed is one problem, to quarantine the bytes."""
    text, why = _text(raw, max_bytes)
    if text is not None:
        payload, why = _json(text)
        if not why:
            return decode(payload, tenant, asset_id, received_at)
    return Decoded(problems=[Problem(None, asset_id, None, why, _FIX_SHAPE)])


def _text(raw: bytes, max_bytes: int) -> tuple[str | None, str]:
    if len(raw) > max_bytes:
        return None, f"the body is {len(raw)} bytes (limit {max_bytes})"
    try:
        return raw.decode("utf-8-sig"), ""
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: {exc.reason} at byte {exc.start}"


def _json(text: str) -> tuple[Any, str]:
    try:
        return json.loads(text), ""
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit limit
        return None, f"not usable JSON: {exc}"
    except RecursionError:
        return None, "not usable JSON: nested too deeply"


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a text", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)
