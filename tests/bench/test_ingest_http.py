"""The HTTP ingest benchmark at toy size: both apps answer every request of every scenario, chengyun's lake holds
each reading once and the baseline's log one record a request; the bodies say what the report says they are."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from bench.ingest_http import SCENARIOS, measure, ngsi_body, render, telemetry_body

from chengyun.ingest.ngsi import decode_bytes


def test_bodies_hold_the_readings_they_claim() -> None:
    body, n = telemetry_body("bench-city.t", 50, 3)
    lines = [json.loads(line) for line in body.splitlines()]
    assert n == 100 == 2 * len(lines) and len({line["ts"] for line in lines}) == 50
    body, n = ngsi_body(100, 3)
    got = decode_bytes(body, datetime.now(UTC), assume_tz=UTC)
    assert not got.problems and len(got.readings) == n == 1000
    assert len({e["id"] for e in json.loads(body)}) == 100


def test_toy_run_stores_every_reading_once(tmp_path: Path) -> None:
    args = argparse.Namespace(seconds=1.0, clients=2)
    runs = {kind: measure(kind, tmp_path, args) for kind in ("chengyun", "baseline")}
    for kind, scenarios in runs.items():
        assert set(scenarios) == set(SCENARIOS)
        for name, r in scenarios.items():
            assert r["errors"] == {} and r["ok"] == r["requests"] > 0, (kind, name, r)
            assert r["exact"], (kind, name, r)
            assert 0 < r["p50_ms"] <= r["p95_ms"]
    chengyun = runs["chengyun"]["telemetry-100"]
    assert chengyun["stored"] == chengyun["readings"] == chengyun["reported"] > chengyun["timed_readings"] > 0
    section = render(argparse.Namespace(seconds=1.0, clients=2), runs, (0.1, 0.2))
    assert section.count("| chengyun |") == len(SCENARIOS) and "✗" not in section
