"""Types shared by the API schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, PlainSerializer

MAX_KEYS = 200  # keys of one free-form object (attributes, a catalogue entry)


def _utc_iso(value: datetime) -> str:
    """A stored (naive UTC) or aware time as ISO 8601 in UTC with a ``Z``."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")


# The state DB keeps naive UTC; answers say so explicitly, as the OpenAPI ``date-time`` format requires.
UtcDateTime = Annotated[datetime, PlainSerializer(_utc_iso, return_type=str, when_used="json")]


def naive_utc(ts: datetime | None, name: str) -> datetime | None:
    """A time from a request as the naive UTC the state DB stores (a time without an offset is taken as UTC);
    ``name`` names the field when the time cannot be expressed in UTC."""
    if ts is None or ts.tzinfo is None:
        return ts
    try:
        return ts.astimezone(UTC).replace(tzinfo=None)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00
        from chengyun.core.errors import InvalidInput

        raise InvalidInput(f"{name}: {ts.isoformat()} is out of range", fix="give a year from 2 to 9998") from exc


def _few_keys(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(value) > MAX_KEYS:
        raise ValueError(f"has {len(value):,} keys; at most {MAX_KEYS} are kept — put bulky data in a dataset")
    return value


# A free-form JSON object from a request, bounded in its number of keys (the body limit bounds its size).
FreeForm = Annotated[dict[str, Any], AfterValidator(_few_keys)]
