"""``chengyun demo``: a whole demo city, evaluated and served, in one command."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from chengyun.cli.common import console
from chengyun.core.settings import get_settings


def demo_cmd(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="demo workspace folder")] = Path("./chengyun-demo"),
    scale: Annotated[str, typer.Option("--scale", help="small | medium | large")] = "small",
    seed: Annotated[int, typer.Option("--seed", help="random seed; the same seed gives the same city")] = 7,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="stop after writing the reports")] = False,
    port: Annotated[int, typer.Option("--port", help="port to serve on")] = 8000,
    today: Annotated[str | None, typer.Option("--today", help="pretend today is this date (YYYY-MM-DD)", hidden=True)] = None,
) -> None:
    """Generate a demo city, evaluate every pack for each quarter, write reports and serve them."""
    from chengyun.demo.flow import run_demo
    from chengyun.indicators.cli import score_tree
    from chengyun.indicators.view import run_view
    from chengyun.core.db import session_scope

    settings = get_settings(workspace)
    if (settings.workspace / "chengyun.db").exists() or (settings.workspace / "lake").exists():
        console.print(f"[yellow]{settings.workspace} exists already — remove it for a fresh demo; rebuilding into it would double the data[/]")
        raise typer.Exit(1)
    day = date.fromisoformat(today) if today else date.today()
    result = run_demo(settings=settings, scale=scale, seed=seed, console=console, today=day)
    latest = result.periods[-1].label
    with session_scope(settings) as session:
        for (pack_id, period), run_id in result.runs.items():
            if period == latest:
                console.print(score_tree(run_view(session=session, run_id=run_id), max_depth=2))
    console.print(f"\n行数 rows generated: {sum(result.rows.values()):,}")
    console.print("报告 reports:\n" + "\n".join(f"  {p}" for p in result.reports))
    if no_serve:
        return
    from chengyun.api.server import serve

    console.print("\n控制台 console: [bold]http://127.0.0.1:%d[/]  (Ctrl-C stops)" % port)
    serve(workspace=settings.workspace, host="127.0.0.1", port=port)
