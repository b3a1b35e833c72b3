"""What several benchmarks share: a throw-away PostgreSQL schema, a description of the machine, a server
process started for a run, and their section of RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def pg_schema(base: str, prefix: str = "bench") -> Iterator[str]:
    """A fresh PostgreSQL schema for the run (the URL it yields sets the search path), dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {name}"))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{name}"
    finally:
        from chengyun.core.db import get_engine

        get_engine.cache_clear()
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()


def hardware() -> str:
    """CPU model, cores, RAM, OS and Python."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return (f"{cpu}, {os.cpu_count()} cores, {mem / 1024**2:.1f} GiB RAM, {platform.platform()}, Python "
            f"{platform.python_version()}")


def free_port() -> int:
    """A TCP port nobody listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def listening(cmd: list[str], *, port: int, env: dict[str, str], log: Path, name: str,
              stop_timeout: float = 15) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``cmd`` (its output to ``log``), wait until it listens on ``port`` (60 s at most), yield the process,
    and stop it (SIGTERM, then kill after ``stop_timeout`` s) afterwards."""
    import socket
    import time

    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the {name} server exited with {proc.returncode} before listening (see {log})")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {name} server did not listen within 60 s") from None
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_section(results: Path, mark: str, section: str) -> None:
    """Put a section (which carries its own ``<!-- mark -->`` markers) into ``results``, re-read now: replace the
    earlier section between the same markers, else append it."""
    text = results.read_text(encoding="utf-8") if results.exists() else ""
    start, end = text.find(f"<!-- {mark} -->"), text.find(f"<!-- /{mark} -->")
    if start >= 0 and end > start:
        text = text[:start] + section + text[end + len(f"<!-- /{mark} -->") + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    results.write_text(text, encoding="utf-8")
