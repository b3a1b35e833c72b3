"""What several benchmarks share: a throw-away PostgreSQL schema and a description of the machine."""

from __future__ import annotations

import os
import platform
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
