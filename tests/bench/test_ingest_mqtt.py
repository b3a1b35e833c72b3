"""The MQTT ingest benchmark at toy size: a private Mosquitto, the counting baseline and ``chengyun ingest mqtt
--workers 2`` for a second each; the run passes only when the lake holds exactly the acknowledged messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import ingest_mqtt
from tests.conftest import need


def test_toy_run_stores_exactly_the_acknowledged_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need(bool(shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()), "mosquitto is not installed")
    rc = ingest_mqtt.main(["--seconds", "1", "--rate", "2000", "--workers", "2", "--publishers", "2",
                           "--flush-seconds", "0.5", "--dir", str(tmp_path), "--no-write"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "zero loss and zero duplicates" in out and "| chengyun ingest mqtt --workers 2 |" in out
