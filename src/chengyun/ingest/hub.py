"""The server's ingest (服务端接入): one ingestor per ``serve`` process, its own write-ahead log
(``<workspace>/wal/serve``, lake files ``part-serve-seq-…``), shared by the HTTP and NGSI-LD endpoints and, when
``mqtt_url`` is set, an MQTT subscriber. Started on first use or with the server; closed (lake flushed) on shutdown.

``chengyun ingest mqtt`` run on its own keeps separate logs (``<workspace>/wal/telemetry``, and
``wal/telemetry-<i>`` with ``--workers``), so both may run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from chengyun.core.errors import Conflict
from chengyun.core.settings import Settings
from chengyun.ingest.pipeline import Ingestor, Listener

if TYPE_CHECKING:
    from chengyun.ingest.mqtt import MqttIngest

log = logging.getLogger(__name__)
STREAM = "serve"
MQTT_CLIENT_ID = "chengyun-serve"


def stream_of(wal_name: str) -> str | None:
    """The lake file prefix a log's owner writes with: none for ``telemetry`` (one MQTT worker), else the folder's
    name (``serve``, ``demo``, ``telemetry-<i>``), so that a batch redone by someone else overwrites the same files."""
    return None if wal_name == "telemetry" else wal_name


def server_wal_dir(settings: Settings) -> Path:
    """The server's telemetry WAL: ``<workspace>/wal/serve``."""
    return settings.workspace / "wal" / STREAM


class IngestHub:
    """The server's ingestor and MQTT subscriber, made when first needed."""

    def __init__(self, settings: Settings, listeners: Sequence[Listener] = ()) -> None:
        self.settings = settings
        self.listeners = list(listeners)
        self._ingestor: Ingestor | None = None
        self._mqtt: MqttIngest | None = None
        self._lock = threading.Lock()

    def ingestor(self) -> Ingestor:
        """The started ingestor (recovering what its log holds the first time)."""
        with self._lock:
            if self._ingestor is None:
                from chengyun.ingest.cli import quarantine_dir
                from chengyun.ingest.guard import guard_for

                self._ingestor = Ingestor(self.settings.lake, server_wal_dir(self.settings),
                                          quarantine_dir(self.settings), stream=STREAM,
                                          flush_seconds=self.settings.ingest_flush_seconds,
                                          listeners=self.listeners, guard=guard_for(self.settings)).start()
            return self._ingestor

    def recover_all(self) -> int:
        """On start, before the first request: the server's own log redone into the lake (its ingestor started),
        then every other log in ``<workspace>/wal`` that no process holds (an ``ingest mqtt`` killed and not
        restarted, the demo's loader); readings moved into the lake."""
        from chengyun.ingest.cli import quarantine_dir

        try:
            rows = self.ingestor().stats.flushed_rows
        except Conflict as exc:  # another app of this process holds it (tests, an embedding): it flushes it itself
            log.warning("ingest: %s; its readings are recovered by that process", exc.message)
            rows = 0
        for folder in sorted(p for p in (self.settings.workspace / "wal").glob("*") if p.is_dir()):
            if folder == server_wal_dir(self.settings):
                continue
            try:
                with Ingestor(self.settings.lake, folder, quarantine_dir(self.settings), stream=stream_of(folder.name),
                              listeners=self.listeners) as orphan:
                    rows += orphan.recover()
            except Conflict:  # a running ingest process holds it and flushes it itself
                continue
        if rows:
            log.info("ingest: %d readings recovered from the write-ahead logs into the lake", rows)
        return rows

    def start_mqtt(self) -> None:
        """Subscribe to the configured broker (``mqtt_url``), if any."""
        if not self.settings.mqtt_url or self._mqtt is not None:
            return
        from chengyun.ingest.mqtt import MqttIngest  # the subscriber only when a broker is configured

        self._mqtt = MqttIngest(self.ingestor(), self.settings.mqtt_url, client_id=MQTT_CLIENT_ID).start()
        log.info("ingest: subscribed to %s", self.settings.mqtt_url)

    def close(self) -> None:
        """Stop the subscriber (acknowledging what it accepted), then flush the lake and release the log."""
        with self._lock:
            if self._mqtt is not None:
                self._mqtt.stop()
                self._mqtt = None
            if self._ingestor is not None:
                self._ingestor.close()
                self._ingestor = None
