"""Options and helpers shared by every ``chengyun`` sub-command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from chengyun.core.db import migrate, session_scope
from chengyun.core.settings import Settings, get_settings
from chengyun.indicators.report.common import (
    fmt_value,  # noqa: F401  (one formatter for terminal, pages, reports)
)

console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="workspace folder (or CHENGYUN_WORKSPACE; default ./chengyun-data)",
                 show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
EngineOpt = Annotated[str | None, typer.Option("--engine", help="analytics engine: duckdb or spark")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="tenant (administrative unit) id")]
PeriodOpt = Annotated[str, typer.Option("--period", help="2026, 2026Q3, 2026-07 or 2026-01-01..2026-03-31")]


def settings_for(workspace: Path | None, engine: str | None = None) -> Settings:
    """Settings with the command's --workspace and --engine applied."""
    return get_settings(workspace, engine)


@contextmanager
def open_workspace(workspace: Path | None, engine: str | None = None) -> Iterator[tuple[Settings, Session]]:
    """Settings and a session on a migrated state DB."""
    settings = settings_for(workspace, engine)
    migrate(settings)
    with session_scope(settings) as session:
        yield settings, session


def print_json(data: Any) -> None:
    """Write JSON to standard output (UTF-8, Chinese kept readable)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def rejects_file(settings: Settings, source: Path, given: Path | None) -> Path:
    """Where an import's rejected rows go: ``given``, else ``<workspace>/imports/<file>-<time>.rejects.csv``."""
    from chengyun.core.db import utcnow

    return given or settings.workspace / "imports" / f"{source.stem}-{utcnow():%Y%m%dT%H%M%S}.rejects.csv"
