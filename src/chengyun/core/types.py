"""Types shared by the API schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer


def _utc_iso(value: datetime) -> str:
    """A stored (naive UTC) or aware time as ISO 8601 in UTC with a ``Z``."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")


# The state DB keeps naive UTC; answers say so explicitly, as the OpenAPI ``date-time`` format requires.
UtcDateTime = Annotated[datetime, PlainSerializer(_utc_iso, return_type=str, when_used="json")]
