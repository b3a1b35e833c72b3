"""`chengyun serve` refuses to listen beyond loopback without a strong secret key, and never logs the key."""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chengyun.api import server
from chengyun.api.server import check_bind
from chengyun.core.errors import ChengyunError
from chengyun.core.settings import Settings

GOOD = secrets.token_urlsafe(48)


def settings_with(tmp_path: Path, secret: str | None = None, cookie_secure: bool = False) -> Settings:
    return Settings(workspace=tmp_path / "ws", secret_key=secret, cookie_secure=cookie_secure)


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record ``configure_logging`` calls instead of adding a stderr handler that would outlive the test."""
    import chengyun.core.logging

    calls: list[bool] = []
    monkeypatch.setattr(chengyun.core.logging, "configure_logging", lambda *a, **k: calls.append(True))
    return calls


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Everything the ``chengyun`` loggers write while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("chengyun")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org", ""])
def test_beyond_loopback_without_a_secret_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(ChengyunError) as err:
        check_bind(settings_with(tmp_path), host)
    assert "CHENGYUN_SECRET_KEY" in err.value.message and "not set" in err.value.message
    assert "secrets.token_urlsafe(48)" in (err.value.fix or "")


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("Zq8-p2Lx", "shorter than 32"),
        ("x" * 31, "shorter than 32"),
        ("please-change-me-before-going-live-2026", "placeholder"),
        ("my-app-secret-key-for-production-use-01", "placeholder"),
        ("DEFAULT_KEY_0123456789_0123456789_01234", "placeholder"),
        ("an-example-key-an-example-key-an-example", "placeholder"),
        ("abababababababababababababababababababab", "placeholder"),
    ],
)
def test_weak_secrets_are_refused_without_being_quoted(tmp_path: Path, secret: str, why: str) -> None:
    with pytest.raises(ChengyunError) as err:
        check_bind(settings_with(tmp_path, secret), "0.0.0.0")
    assert "CHENGYUN_SECRET_KEY" in err.value.message and why in err.value.message
    assert secret not in str(err.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_secret(tmp_path: Path, host: str, log_text: io.StringIO) -> None:
    assert check_bind(settings_with(tmp_path), host) == []
    assert log_text.getvalue() == ""


def test_beyond_loopback_with_a_good_secret_warns_about_plain_http_cookies(tmp_path: Path,
                                                                        log_text: io.StringIO) -> None:
    warnings = check_bind(settings_with(tmp_path, GOOD), "0.0.0.0")
    assert len(warnings) == 1 and "CHENGYUN_COOKIE_SECURE" in warnings[0]
    assert "CHENGYUN_COOKIE_SECURE" in log_text.getvalue()
    assert check_bind(settings_with(tmp_path, GOOD, cookie_secure=True), "10.0.0.5") == []


def test_serve_checks_before_starting_and_never_logs_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_text: io.StringIO, capfd: pytest.CaptureFixture[str],
    configured: list[bool],
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.delenv("CHENGYUN_SECRET_KEY", raising=False)
    monkeypatch.delenv("CHENGYUN_COOKIE_SECURE", raising=False)
    with pytest.raises(ChengyunError):
        server.serve(workspace=tmp_path / "ws", host="0.0.0.0", port=8123)
    assert calls == [] and configured  # logging is set up before the check, so its warnings show

    monkeypatch.setenv("CHENGYUN_SECRET_KEY", GOOD)
    server.serve(workspace=tmp_path / "ws", host="0.0.0.0", port=8123)
    assert len(calls) == 1
    assert {k: calls[0][k] for k in ("host", "port", "access_log")} == {"host": "0.0.0.0", "port": 8123,
                                                                       "access_log": False}
    logged = log_text.getvalue()
    assert "CHENGYUN_COOKIE_SECURE" in logged
    assert GOOD not in logged and GOOD not in "".join(capfd.readouterr())


def test_serve_on_loopback_starts_without_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  configured: list[bool]) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.delenv("CHENGYUN_SECRET_KEY", raising=False)
    server.serve(workspace=tmp_path / "ws", port=8124)
    assert calls and calls[0]["host"] == "127.0.0.1"
    assert (tmp_path / "ws" / "secret.key").stat().st_mode & 0o777 == 0o600  # generated for this workspace only


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_served_app_believes_no_forwarded_for_from_loopback_by_default(tmp_path: Path) -> None:
    """uvicorn on its own believes X-Forwarded-For from 127.0.0.1: anyone on the machine (or a local proxy that
    passes the header through) could pick the address the throttles and the audit trail see."""
    import os
    import subprocess
    import sys
    import time

    import httpx
    from sqlalchemy import select

    from chengyun.accounts.models import AuditEntry
    from chengyun.core.db import session_scope

    settings = Settings(workspace=tmp_path / "ws")
    port = _free_port()
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("CHENGYUN_FORWARDED_ALLOW_IPS", None)
    env.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own variable: not what decides
    code = f"from chengyun.api.server import serve; serve(workspace={str(settings.workspace)!r}, port={port})"
    server = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/token",
                               data={"username": "someone", "password": "wrong password"},
                               headers={"X-Forwarded-For": "203.0.113.7"}, timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        assert r.status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=30)
    with session_scope(settings) as s:
        clients = list(s.scalars(select(AuditEntry.client).where(AuditEntry.action == "login")))
    assert clients == ["127.0.0.1"]


@pytest.mark.parametrize("value", ["10.0.0.999", "proxy.internal", "10.0.0.5,,10.0.1.0/33"])
def test_a_misspelt_proxy_address_is_refused_naming_the_setting(tmp_path: Path, value: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        Settings(workspace=tmp_path / "ws", forwarded_allow_ips=value)
    assert "CHENGYUN_FORWARDED_ALLOW_IPS" in str(err.value) and "10.0.0.0/24" in str(err.value)


def test_proxy_addresses_and_networks_are_accepted(tmp_path: Path) -> None:
    for value in ("", "127.0.0.1", "10.0.0.5, 10.0.1.0/24", "::1,fd00::/8", "*"):
        assert Settings(workspace=tmp_path / "ws", forwarded_allow_ips=value).forwarded_allow_ips == value
