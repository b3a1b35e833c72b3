"""Request limits come before anything else: an oversized body is refused with 413 before it is read, parsed or
authenticated — by its Content-Length, or as it arrives when it has none — on a real server whose memory stays
flat; free-form objects have a bounded number of keys; uploads stream to disk under their own limit."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest
from bench.common import free_port, listening
from fastapi.testclient import TestClient

from chengyun.api.app import create_app
from chengyun.api.limits import body_limit
from chengyun.core.settings import Settings
from chengyun.core.types import MAX_KEYS
from tests.api.conftest import ADMIN, TENANT, bearer, build_accounts_city, login

MiB = 2**20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, int]:  # type: ignore[misc]
    ws, port = tmp_path_factory.mktemp("limits") / "ws", free_port()
    cmd = [sys.executable, "-m", "chengyun.cli.main", "serve", "--workspace", str(ws), "--port", str(port)]
    env = {**os.environ, "CHENGYUN_DATABASE_URL": "", "CHENGYUN_CASE_TICK_MINUTES": "0",
           "CHENGYUN_ALARM_SWEEP_MINUTES": "0"}
    with listening(cmd, port=port, env=env, log=ws.parent / "serve.log", name="chengyun") as proc:
        yield port, proc.pid


def _exchange(port: int, head: str, chunks: int, chunk: bytes, *, chunked: bool) -> tuple[str, int, float]:
    """Send ``head`` and up to ``chunks`` chunks until the server answers; its status line, bytes sent, seconds."""
    started = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head.encode())
        s.settimeout(0.0)
        answer = b""
        for _ in range(chunks):
            try:
                answer += s.recv(65536)
            except BlockingIOError:
                pass
            except ConnectionError:
                break
            if answer:
                break
            piece = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") if chunked else chunk
            try:
                s.sendall(piece)
            except (BlockingIOError, ConnectionError):
                break
            sent += len(chunk)
        s.settimeout(10)
        try:
            while b"\r\n" not in answer:
                more = s.recv(65536)
                if not more:
                    break
                answer += more
        except ConnectionError:
            pass
    return answer.split(b"\r\n", 1)[0].decode(), sent, time.monotonic() - started


def test_an_anonymous_oversized_body_is_refused_at_once(server: tuple[int, int]) -> None:
    port, pid = server
    rss = psutil.Process(pid).memory_info().rss
    head = ("POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {74 * MiB}\r\n\r\n")
    status, _sent, seconds = _exchange(port, head, 40, b"[" * 65536, chunked=False)
    assert status.startswith("HTTP/1.1 413"), status
    assert seconds < 5
    grown = psutil.Process(pid).memory_info().rss - rss
    assert grown < 40 * MiB, f"the server grew by {grown / MiB:.0f} MiB"


def test_a_body_without_a_length_is_cut_off_at_the_limit(server: tuple[int, int]) -> None:
    port, pid = server
    rss = psutil.Process(pid).memory_info().rss
    head = ("POST /api/v1/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded"
            "\r\nTransfer-Encoding: chunked\r\n\r\n")
    status, sent, _seconds = _exchange(port, head, 1200, b"a" * 65536, chunked=True)  # up to 75 MiB
    assert status.startswith("HTTP/1.1 413"), status
    assert sent < 16 * MiB, f"{sent / MiB:.0f} MiB went in before the refusal"
    grown = psutil.Process(pid).memory_info().rss - rss
    assert grown < 40 * MiB, f"the server grew by {grown / MiB:.0f} MiB"


def test_limits_per_route_family() -> None:
    settings = Settings(workspace=Path("/nonexistent"), max_body_kb=64, upload_max_mb=3)
    assert body_limit("/api/v1/cases", settings)[0] == 64 * 1024
    assert body_limit("/api/v1/datasets/ds-1/data", settings)[0] == 3 * MiB
    assert body_limit("/api/v1/telemetry", settings)[0] == 16 * MiB
    assert body_limit("/ngsi-ld/v1/notify", settings)[0] == 16 * MiB


@pytest.fixture(scope="module")
def small_limits(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> tuple[TestClient, str]:  # type: ignore[misc]
    settings = build_accounts_city(Settings(workspace=tmp_path_factory.mktemp("small") / "ws", upload_max_mb=1))
    with TestClient(create_app(settings)) as client:
        yield client, login(client, ADMIN)


def test_an_upload_over_its_limit_is_413_naming_the_setting(small_limits: tuple[TestClient, str]) -> None:
    client, token = small_limits
    r = client.put("/api/v1/datasets/none/data?format=csv", content=b"a,b\n" * (MiB // 2), headers=bearer(token))
    assert r.status_code == 413, r.text
    assert "CHENGYUN_UPLOAD_MAX_MB" in r.json()["error"]["fix"]


def test_a_free_form_object_has_a_bounded_number_of_keys(small_limits: tuple[TestClient, str]) -> None:
    client, token = small_limits
    attributes = {f"k{i}": i for i in range(MAX_KEYS + 1)}
    r = client.post("/api/v1/assets", json={"id": "a-1", "tenant": TENANT, "name": "x", "kind": "sensor",
                                             "attributes": attributes}, headers=bearer(token))
    assert r.status_code == 422, r.text
    assert "attributes" in " ".join(r.json()["error"]["details"])
