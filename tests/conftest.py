"""Shared fixtures: a fresh workspace, service gates (skip outside CI, fail in CI), the demo workspace."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import pytest

from chengyun.core.db import migrate
from chengyun.core.settings import Settings

IN_CI = os.environ.get("CI", "").lower() == "true"

def _shared() -> Path:
    """The third-party test data: CHENGYUN_TEST_SHARED, else ``shared/`` beside the checkout, else /work/shared."""
    candidates = [os.environ.get("CHENGYUN_TEST_SHARED"), Path(__file__).resolve().parents[1].parent / "shared",
                  "/work/shared"]
    for c in candidates:
        if c and (Path(c) / "data").is_dir():
            return Path(c)
    return Path(__file__).resolve().parents[1].parent / "shared"


SHARED = _shared()
DEMO_TODAY = date(2026, 11, 26)


def need(condition: bool, reason: str) -> None:
    """Skip with ``reason`` when ``condition`` fails — except in CI, where a missing service is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def port_open(url: str, default_port: int) -> bool:
    """Whether something accepts TCP connections at the URL's host and port."""
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def _pg_url() -> str:
    url = os.environ.get("CHENGYUN_TEST_DATABASE_URL", "")
    need(bool(url), "CHENGYUN_TEST_DATABASE_URL is not set (PostgreSQL tests)")
    need(port_open(url, 5432), f"PostgreSQL does not answer at {url}")
    return url


@contextmanager
def pg_schema() -> Iterator[str]:
    """A URL pointing into a new, empty PostgreSQL schema, dropped afterwards."""
    from sqlalchemy import create_engine, text

    base = _pg_url()
    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {name}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{name}"
    finally:
        from chengyun.core.db import get_engine

        get_engine.cache_clear()
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A new, migrated workspace in a temporary folder; the state DB on SQLite, and again on PostgreSQL."""
    if request.param == "sqlite":
        settings = Settings(workspace=tmp_path / "ws")
        migrate(settings)
        yield settings
        return
    with pg_schema() as url:
        settings = Settings(workspace=tmp_path / "ws", database_url=url)
        migrate(settings)
        yield settings


@pytest.fixture
def shared_data() -> Path:
    """The third-party test data beside the project (skips when absent outside CI)."""
    need((SHARED / "data").is_dir(), f"../shared/data not found at {SHARED}")
    return SHARED / "data"


CHROMIUM_ARGS = [  # headless on a machine with no network beyond loopback: no background connections
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    """Path of Debian's Chromium for browser tests."""
    path = os.environ.get("CHENGYUN_TEST_CHROMIUM", "/usr/bin/chromium")
    need(os.path.exists(path), f"Chromium not found at {path} (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    """``chengyun demo --scale small --no-serve`` run as a newcomer would, once per test session: the workspace
    and what the command printed."""
    root = tmp_path_factory.mktemp("demo")
    cmd = [sys.executable, "-m", "chengyun.cli.main", "demo", "--workspace", str(root / "ws"), "--scale", "small",
           "--seed", "11", "--no-serve", "--today", DEMO_TODAY.isoformat()]
    env = {**os.environ, "COLUMNS": "120", "CHENGYUN_DATABASE_URL": ""}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    yield Settings(workspace=root / "ws"), done.stdout
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_workspace(demo_run: tuple[Settings, str]) -> Settings:
    """The small demo city, generated, evaluated for every pack and quarter, and reported."""
    return demo_run[0]


@pytest.fixture(scope="module")
def cheap_hashes() -> Iterator[None]:
    """argon2id at its lowest cost while a module builds its staff and logs them in (cost is not under test)."""
    from argon2 import PasswordHasher

    from chengyun.accounts import service

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(service, "HASHER", cheap)
        mp.setattr(service, "_DUMMY_HASH", cheap.hash("timing-equaliser"))
        yield
