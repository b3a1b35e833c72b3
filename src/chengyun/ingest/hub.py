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

from chengyun.core.settings import Settings
from chengyun.ingest.pipeline import Ingestor, Listener

if TYPE_CHECKING:
    from chengyun.ingest.mqtt import MqttIngest

log = logging.getLogger(__name__)
STREAM = "serve"
MQTT_CLIENT_ID = "chengyun-serve"


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
