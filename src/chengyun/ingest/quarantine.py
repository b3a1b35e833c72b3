"""The quarantine (隔离区) of ingest: malformed messages kept durably with the reason, so nothing acknowledged is
lost and an operator can see, fix and resend what a device or system got wrong."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date
from pathlib import Path
from typing import TYPE_CHECKING

from chengyun.lake.writer import fsync_dir

if TYPE_CHECKING:
    from chengyun.ingest.pipeline import Message


@dataclass(frozen=True)
class QuarantineItem:
    """A message put aside (隔离): when and where it came from, why, and its raw bytes (base64 on disk)."""

    received_at: str
    source: str
    topic: str | None
    tenant: str | None
    asset_id: str | None
    reason: str
    size: int
    raw_b64: str = field(repr=False)

    @property
    def raw(self) -> bytes:
        """The bytes as received."""
        return base64.b64decode(self.raw_b64)


class Quarantine:
    """Append-only, durable JSON lines per UTC day: ``<dir>/quarantine-<YYYY-MM-DD>.jsonl``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()

    def put(self, items: Sequence[tuple[Message, str]]) -> None:
        """Write the messages with their reasons and return once they are synced to disk."""
        by_day: dict[date, list[str]] = {}
        for msg, reason in items:
            item = QuarantineItem(msg.received_at.astimezone(UTC).isoformat(), msg.source, msg.topic, msg.tenant,
                                  msg.asset_id, reason, len(msg.raw), base64.b64encode(msg.raw).decode())
            by_day.setdefault(msg.received_at.astimezone(UTC).date(), []).append(
                json.dumps(asdict(item), ensure_ascii=False) + "\n")
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            for day, lines in by_day.items():
                path = self.directory / f"quarantine-{day.isoformat()}.jsonl"
                new = not path.exists()
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write("".join(lines))
                    fh.flush()
                    os.fsync(fh.fileno())
                if new:
                    fsync_dir(self.directory)


def list_quarantine(directory: Path, limit: int = 100) -> list[QuarantineItem]:
    """Quarantined messages, newest first (at most ``limit``)."""
    out: list[QuarantineItem] = []
    folder = Path(directory)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("quarantine-*.jsonl"), reverse=True):
        for line in reversed(path.read_text(encoding="utf-8").splitlines()):
            try:
                out.append(QuarantineItem(**json.loads(line)))
            except (ValueError, TypeError):  # a torn last line after a crash: never acknowledged
                continue
            if len(out) >= limit:
                return out
    return out
