"""NGSI-LD / FIWARE decoder (NGSI-LD 解码): entities, upsert bodies and notifications → telemetry readings (遥测).

Pure (no I/O): ``decode`` takes parsed JSON, ``decode_bytes`` the raw body; both return a ``Decoded`` report.

Accepted payloads: one entity; a list of entities (``/ngsi-ld/v1/entityOperations/upsert``); an NGSI-LD
notification (``{"type": "Notification", "notifiedAt", "data": [...]}``); an NGSI v2 notification from Orion or
an IoT Agent (``{"subscriptionId", "data": [...]}``). Attributes may be normalized (NGSI-LD ``{"type":
"Property", "value", "observedAt"}``, NGSI v2 ``{"type": "Number", "value", "metadata"}``), concise
(``{"value": ...}``) or key-values (plain values).

Names are not expanded against any @context: an attribute or type given as a full URI keeps only its last path,
fragment or colon segment (``https://smartdatamodels.org/dataModel.Environment/no2`` → ``no2``), so compacted and
expanded names of the same term meet. The entity type's short name becomes ``asset_type`` (the first type when an
entity has several).

What is a reading: each attribute whose value is a JSON number or boolean (true → 1.0, false → 0.0), except the
metadata names in ``NOT_METRICS``, names starting with ``ref`` + a capital (relationships written as key-values)
and identifiers ending in ``Id``/``ID`` (a ``laneId`` is a label, not a measurement). Text, relationships,
structured values (address, slot counts), arrays and GeoProperties are not readings and not problems. A
multi-valued attribute (a list of instances) gives one reading per numeric instance: the default instance under
the attribute's name, an instance with a ``datasetId`` under ``name@<last segment of the datasetId>``.

When (observation time, in UTC), first found wins:
1. the attribute's own ``observedAt`` (NGSI-LD) or ``metadata.TimeInstant`` (NGSI v2 / IoT Agent);
2. the entity's observation time: the first usable of ``ENTITY_TIMES`` (an interval ``a/b`` counts as its end);
3. the notification's ``notifiedAt``;
4. the ``now`` the caller passes.
A time that is present but unusable is a problem: on an attribute, that reading is put aside; on the entity, the
next entity field is tried, and when none is usable the readings that needed it are put aside (they do not move
to notifiedAt/now, which would date a 2016 observation today). A time without a zone is unusable unless the
caller passes ``assume_tz`` for that source (the Smart Data Models examples write Madrid local times without one).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple

MAX_ENTITIES = 10_000  # one upsert batch; brokers page notifications far below this
MAX_BYTES = 32 * 1024 * 1024  # refuse before parsing: json.loads holds the whole document in memory

ENTITY_TIMES = ("dateObserved", "dateObservedTo", "observedAt", "TimeInstant", "observationDateTime",
                "dateModified", "modifiedAt")
NOT_METRICS = frozenset({
    "id", "type", "scope", "datasetId", "dateCreated", "createdAt", "deletedAt", "dateObservedFrom", *ENTITY_TIMES,
    "location", "observationSpace", "operationSpace", "address", "areaServed", "name", "alternateName",
    "description", "source", "dataProvider", "owner", "seeAlso", "refDevice",
})
_NUMERIC_V2 = frozenset({"Number", "Float", "Integer", "Double"})  # NGSI v2 attribute types promising a number
_FIX_TIME = "send an ISO 8601 date-time such as 2016-03-15T11:00:00Z"
_FIX_ZONE = ("send the time with its zone (2016-03-15T11:00:00Z or +08:00), or decode this source with assume_tz "
             "set to the zone its devices use")


class Reading(NamedTuple):
    """One telemetry reading (遥测读数): an asset's metric at a UTC time."""

    asset_id: str
    asset_type: str
    metric: str
    ts: datetime
    value: float


@dataclass(frozen=True)
class EntityInfo:
    """An entity that was read (实体): its id, type's short name, point location and labels when present."""

    index: int
    id: str
    type: str
    lat: float | None = None
    lon: float | None = None
    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Problem:
    """Something put aside (问题): which entity (index in the payload, id) and attribute, why, and the fix."""

    index: int | None
    entity_id: str | None
    attribute: str | None
    reason: str
    fix: str


@dataclass
class Decoded:
    """The decoder's report: entities read, readings, and problems (nothing is raised for bad input)."""

    entities: list[EntityInfo] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Whether nothing was put aside."""
        return not self.problems

    @property
    def stats(self) -> dict[str, int]:
        """Counts of entities, readings and problems."""
        return {"entities": len(self.entities), "readings": len(self.readings), "problems": len(self.problems)}

    def flatten(self) -> list[list[Any]]:
        """Problems as rows: index, entity id, attribute, reason, fix."""
        return [[p.index, p.entity_id, p.attribute, p.reason, p.fix] for p in self.problems]


@dataclass(frozen=True)
class _Ctx:
    fallback: datetime  # notifiedAt, else now
    tz: tzinfo | None


def short_name(name: str) -> str:
    """The last path, fragment or colon segment of a URI (``https://x.org/ns#no2`` → ``no2``); else the name."""
    cut = max(name.rfind("/"), name.rfind("#"), name.rfind(":"))
    tail = name[cut + 1:] if cut >= 0 else name
    return tail or name


def parse_time(raw: Any, tz: tzinfo | None = None) -> tuple[datetime | None, str]:
    """An ISO 8601 time (or ``start/end`` interval: its end) in UTC, or None and why it is unusable."""
    text = _unwrap(raw)
    if not isinstance(text, str):
        return None, f"is {_kind(text)}, not an ISO 8601 text"
    end = text.strip().rsplit("/", 1)[-1].upper()  # RFC 3339 allows a lower-case t and z
    try:
        ts = datetime.fromisoformat(end)
    except ValueError:
        return None, f"{text!r} is not an ISO 8601 date-time"
    if ts.tzinfo is None:
        if tz is None:
            return None, f"{text!r} has no time zone"
        ts = ts.replace(tzinfo=tz)
    return ts.astimezone(UTC), ""


def decode(payload: Any, now: datetime, *, assume_tz: tzinfo | None = None,
           max_entities: int = MAX_ENTITIES) -> Decoded:
    """Readings, entities and problems from a parsed entity, entity list or notification; ``now`` must be aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware, e.g. datetime.now(UTC)")
    out = Decoded()
    entities, notified = _unpack(payload, out)
    if entities is None:
        return out
    if not entities:
        out.problems.append(Problem(None, None, None, "the payload holds no entities",
                                    "send at least one entity (an empty upsert is a client error in NGSI-LD)"))
        return out
    if len(entities) > max_entities:
        out.problems.append(Problem(None, None, None, f"{len(entities)} entities in one payload (limit {max_entities})",
                                    f"split the payload into batches of at most {max_entities} entities"))
        return out
    ctx = _Ctx(_notified_at(notified, now, assume_tz, out), assume_tz)
    for i, ent in enumerate(entities):
        _entity(i, ent, ctx, out)
    return out


def decode_bytes(raw: bytes, now: datetime, *, assume_tz: tzinfo | None = None,
                 max_entities: int = MAX_ENTITIES, max_bytes: int = MAX_BYTES) -> Decoded:
    """``decode`` of a UTF-8 JSON body; a body that cannot be parsed is one problem, to quarantine the bytes."""
    why = ""
    if len(raw) > max_bytes:
        why = f"the body is {len(raw)} bytes (limit {max_bytes})"
    else:
        try:
            return decode(json.loads(raw.decode("utf-8-sig")), now, assume_tz=assume_tz, max_entities=max_entities)
        except UnicodeDecodeError as exc:
            why = f"not UTF-8: {exc.reason} at byte {exc.start}"
        except json.JSONDecodeError as exc:
            why = f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit limit
            why = f"not usable JSON: {exc}"
        except RecursionError:
            why = "not usable JSON: nested too deeply"
    fix = "send one UTF-8 JSON entity, array of entities or notification (the raw body is kept for inspection)"
    return Decoded(problems=[Problem(None, None, None, why, fix)])


def _unpack(payload: Any, out: Decoded) -> tuple[list[Any] | None, Any]:
    """The entity list and the notifiedAt (if any), or None after recording why there is none."""
    if isinstance(payload, list):
        return payload, None
    if not isinstance(payload, dict):
        out.problems.append(Problem(None, None, None, f"the payload is {_kind(payload)}",
                                    "send an entity object, an array of entities or a notification"))
        return None, None
    if payload.get("type") != "Notification" and "subscriptionId" not in payload:
        return [payload], None
    data = payload.get("data")
    if not isinstance(data, list):
        out.problems.append(Problem(None, None, "data", f"the notification's data is {_kind(data)}",
                                    "a notification carries its entities in an array named data"))
        return None, None
    return data, payload.get("notifiedAt")


def _notified_at(raw: Any, now: datetime, tz: tzinfo | None, out: Decoded) -> datetime:
    """The notification's time, else now (an unusable notifiedAt is a problem, and now is used)."""
    if raw is None:
        return now.astimezone(UTC)
    ts, why = parse_time(raw, tz)
    if ts is None:
        out.problems.append(Problem(None, None, "notifiedAt", f"notifiedAt {why}; the decode time was used instead",
                                    _FIX_TIME))
        return now.astimezone(UTC)
    return ts


def _entity(i: int, ent: Any, ctx: _Ctx, out: Decoded) -> None:
    """Decode one entity into ``out``."""
    info = _identify(i, ent, out)
    if info is None:
        return
    attrs = _attributes(info, ent, out)
    info = _describe(info, attrs, out)
    out.entities.append(info)
    when, bad = _entity_time(attrs, ctx.tz)
    pending: list[tuple[str, float]] = []
    for name, value in attrs.items():
        if _is_metric(name):
            for metric, number, ts in _numbers(info, name, value, ctx.tz, out):
                if ts is not None:
                    out.readings.append(Reading(info.id, info.type, metric, ts, number))
                else:
                    pending.append((metric, number))
    for field_name, why in bad:
        held = ", ".join(m for m, _ in pending)
        then = f"used {when[1]} instead" if when else (f"readings put aside: {held}" if held else "no reading needed it")
        out.problems.append(Problem(i, info.id, field_name, f"{field_name} {why}; {then}",
                                    _FIX_ZONE if "time zone" in why else _FIX_TIME))
    if when is None and bad:
        return
    ts = when[0] if when else ctx.fallback
    out.readings.extend(Reading(info.id, info.type, m, ts, v) for m, v in pending)


def _identify(i: int, ent: Any, out: Decoded) -> EntityInfo | None:
    """The entity's id and type, or None after recording what is missing."""
    if not isinstance(ent, dict):
        out.problems.append(Problem(i, None, None, f"entity {i} is {_kind(ent)}",
                                    "send each entity as a JSON object with id and type"))
        return None
    eid, etype = ent.get("id", ent.get("@id")), ent.get("type", ent.get("@type"))
    if isinstance(etype, list) and etype:
        etype = etype[0]  # NGSI-LD 1.5 multi-typed entity: the first type names the asset
    ref = eid if isinstance(eid, str) and eid else None
    if ref is None:
        out.problems.append(Problem(i, None, "id", f"entity {i} has no id (got {_kind(eid)})",
                                    'give every entity an "id", a URI such as urn:ngsi-ld:<Type>:<local id>'))
    if not (isinstance(etype, str) and etype):
        out.problems.append(Problem(i, ref, "type", f"entity {i} has no type (got {_kind(etype)})",
                                    'give every entity a "type", such as AirQualityObserved'))
        return None
    return EntityInfo(i, ref, short_name(etype)) if ref else None


def _attributes(info: EntityInfo, ent: dict[str, Any], out: Decoded) -> dict[str, Any]:
    """The entity's attributes by short name (JSON-LD keywords left out); a name met twice is a problem."""
    attrs: dict[str, Any] = {}
    for key, value in ent.items():
        if key.startswith("@") or key in ("id", "type"):
            continue
        name = short_name(key)
        if name in attrs:
            out.problems.append(Problem(info.index, info.id, key, f"{key} is a second attribute named {name}",
                                        "send each attribute once, either compacted or as a full URI"))
            continue
        attrs[name] = value
    return attrs


def _describe(info: EntityInfo, attrs: dict[str, Any], out: Decoded) -> EntityInfo:
    """The entity with its point location, name and description filled in."""
    lat, lon = _point(_inner(_default_instance(attrs.get("location"))))
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        out.problems.append(Problem(info.index, info.id, "location", f"latitude {lat}, longitude {lon} is off the map",
                                    "GeoJSON puts longitude first: [lon, lat], in WGS 84 degrees"))
        lat = lon = None
    return EntityInfo(info.index, info.id, info.type, lat, lon, _text(attrs.get("name")),
                      _text(attrs.get("description")))


def _point(geo: Any) -> tuple[float | None, float | None]:
    """Latitude and longitude of a GeoJSON Point or an NGSI v2 geo:point text ("lat, lon")."""
    if isinstance(geo, dict) and geo.get("type") == "Point":
        c = geo.get("coordinates")
        if isinstance(c, list) and len(c) >= 2 and all(_is_number(x) for x in c[:2]):
            return float(c[1]), float(c[0])
    if isinstance(geo, str) and geo.count(",") == 1:
        try:
            lat, lon = (float(x) for x in geo.split(","))
        except ValueError:
            return None, None
        return lat, lon
    return None, None


def _text(attr: Any) -> str | None:
    """A name or description: plain text, a Property's text, or a LanguageProperty's zh, en or first entry."""
    attr = _default_instance(attr)
    if isinstance(attr, dict) and isinstance(attr.get("languageMap"), dict) and attr["languageMap"]:
        lm = attr["languageMap"]
        attr = lm.get("zh", lm.get("en", next(iter(lm.values()))))
    value = _inner(attr)
    return value if isinstance(value, str) else None


def _entity_time(attrs: dict[str, Any], tz: tzinfo | None) -> tuple[tuple[datetime, str] | None, list[tuple[str, str]]]:
    """The first usable entity observation time and its field, and the unusable fields met before it."""
    bad: list[tuple[str, str]] = []
    for name in ENTITY_TIMES:
        if name in attrs and attrs[name] is not None:
            ts, why = parse_time(_inner(_default_instance(attrs[name])), tz)
            if ts is not None:
                return (ts, name), bad
            bad.append((name, why))
    return None, bad


def _is_metric(name: str) -> bool:
    """Whether an attribute name can carry a reading (not metadata, a reference or an identifier)."""
    if name in NOT_METRICS or name.endswith(("Id", "ID")):
        return False
    return not (name.startswith("ref") and name[3:4].isupper())


def _numbers(info: EntityInfo, name: str, attr: Any, tz: tzinfo | None,
             out: Decoded) -> list[tuple[str, float, datetime | None]]:
    """(metric, value, own time or None) for each numeric instance of one attribute."""
    instances = attr if _is_instance_list(attr) else [attr]
    found = []
    for inst in instances:
        dataset = inst.get("datasetId") if isinstance(inst, dict) else None
        metric = f"{name}@{short_name(dataset)}" if isinstance(dataset, str) and dataset else name
        got = _number(info, metric, inst, tz, out)
        if got is not None:
            found.append((metric, *got))
    return found


def _number(info: EntityInfo, metric: str, inst: Any, tz: tzinfo | None,
            out: Decoded) -> tuple[float, datetime | None] | None:
    """One instance's value as a float and its own time, or None (not numeric, or put aside with a problem)."""
    value, why, fix = _inner(inst), "", ""
    declared = inst.get("type") if isinstance(inst, dict) else None
    if isinstance(value, str) and declared in _NUMERIC_V2:
        why = f"declared {declared} but the value is the text {value[:40]!r}"
        fix = "send the value as a JSON number (provision the IoT Agent attribute as Number)"
    elif _is_number(value):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond a double's range
            number = math.inf
        ts, when_why = parse_time(_own_time(inst), tz) if _own_time(inst) is not None else (None, "")
        if not math.isfinite(number):
            why, fix = f"the value {str(value)[:40]} is not a finite number", "send a finite number, or leave it out"
        elif when_why:
            why, fix = f"observedAt {when_why}", _FIX_ZONE if "time zone" in when_why else _FIX_TIME
        else:
            return number, ts
    if why:
        out.problems.append(Problem(info.index, info.id, metric, why, fix))
    return None


def _own_time(inst: Any) -> Any:
    """An attribute's own observation time: NGSI-LD observedAt, or NGSI v2 metadata TimeInstant/observedAt."""
    if not isinstance(inst, dict):
        return None
    if "observedAt" in inst:
        return inst["observedAt"]
    meta = inst.get("metadata")
    if isinstance(meta, dict):
        for key in ("TimeInstant", "observedAt"):
            if isinstance(meta.get(key), dict):
                return meta[key].get("value")
    return None


def _is_instance_list(attr: Any) -> bool:
    """Whether a list is a multi-valued attribute (instances with value/object), not a key-values array."""
    return isinstance(attr, list) and bool(attr) and all(
        isinstance(x, dict) and ("value" in x or "object" in x or "languageMap" in x) for x in attr)


def _default_instance(attr: Any) -> Any:
    """The instance without a datasetId of a multi-valued attribute (else its first); other values unchanged."""
    if not _is_instance_list(attr):
        return attr
    return next((x for x in attr if "datasetId" not in x), attr[0])


def _inner(attr: Any) -> Any:
    """The plain value of an attribute in any form: normalized/concise ``value``, JSON-LD ``@value``, or itself."""
    if isinstance(attr, dict) and "value" in attr:
        attr = attr["value"]
    return _unwrap(attr)


def _unwrap(value: Any) -> Any:
    """A JSON-LD value object's ``@value`` (``{"@type": "DateTime", "@value": ...}``), else the value."""
    return value["@value"] if isinstance(value, dict) and "@value" in value else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)  # bool is an int: true → 1.0, false → 0.0


def _kind(value: Any) -> str:
    """A short description of a JSON value for messages."""
    if value is None or value == "":
        return "null" if value is None else "an empty text"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a text", list: "an array",
             dict: "an object"}
    return names.get(type(value), type(value).__name__)
