"""``chengyun demo``: a whole demo city, evaluated and served, in one command."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from chengyun.cli.common import console
from chengyun.core.errors import Conflict
from chengyun.core.settings import Settings, get_settings
from chengyun.demo.users import USERS_FILE, ensure_demo_users, users_table

MARKER = "demo.json"


def _show(settings: Settings, runs: list[str], reports: list[str], rows: int) -> None:
    from chengyun.core.db import session_scope
    from chengyun.indicators.cli import score_tree
    from chengyun.indicators.view import run_view

    with session_scope(settings) as session:
        for run_id in runs:
            console.print(score_tree(run_view(session=session, run_id=run_id), max_depth=2))
    console.print(f"\n行数 rows in the lake: {rows:,}")
    console.print("报告 reports:\n" + "\n".join(f"  {p}" for p in reports))


def _build(settings: Settings, scale: str, seed: int, day: date) -> dict:
    from chengyun.demo.flow import run_demo

    result = run_demo(settings=settings, scale=scale, seed=seed, console=console, today=day)
    latest = result.periods[-1].label
    info = {"scale": scale, "seed": seed, "today": day.isoformat(), "city": result.city,
            "periods": [p.label for p in result.periods],
            "latest_runs": [rid for (_pack, per), rid in result.runs.items() if per == latest],
            "reports": [str(p) for p in result.reports], "rows": sum(result.rows.values())}
    ensure_demo_users(settings)  # before the marker: a finished demo always has its accounts
    (settings.workspace / MARKER).write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return info


def _show_accounts(settings: Settings, port: int, serving: bool) -> None:
    """The demo accounts and where to log in with them."""
    console.print()
    console.print(users_table(ensure_demo_users(settings)))
    console.print(f"账号保存在 kept in {settings.workspace / USERS_FILE} (readable by you only)", highlight=False)
    url = f"http://127.0.0.1:{port}/login"
    if serving:
        console.print(f"\n控制台 console: [bold]{url}[/]  (Ctrl-C stops)")
    else:
        console.print(f"\n控制台 console: `chengyun serve --workspace {settings.workspace} --port {port}`, then {url}",
                      highlight=False)


def demo_cmd(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="demo workspace folder")] = Path("./chengyun-demo"),
    scale: Annotated[str, typer.Option("--scale", help="small | medium | large")] = "small",
    seed: Annotated[int, typer.Option("--seed", help="random seed; the same seed gives the same city")] = 7,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="stop after writing the reports")] = False,
    port: Annotated[int, typer.Option("--port", help="port to serve on")] = 8000,
    today: Annotated[str | None, typer.Option("--today", help="pretend today is this date (YYYY-MM-DD)", hidden=True)] = None,
) -> None:
    """Generate a demo city, evaluate every pack for each quarter, write reports and serve them."""
    settings = get_settings(workspace)
    marker = settings.workspace / MARKER
    day = date.fromisoformat(today) if today else date.today()
    if marker.exists():
        info = json.loads(marker.read_text(encoding="utf-8"))
        if (info["scale"], info["seed"]) != (scale, seed):
            raise Conflict(f"{settings.workspace} holds a demo of scale {info['scale']} seed {info['seed']}",
                           fix=f"remove {settings.workspace} or pass --workspace to build scale {scale} seed {seed} elsewhere")
        console.print(f"[cyan]使用已有演示工作区 using the existing demo in {settings.workspace} "
                      f"(built {info['today']}; remove the folder to rebuild)[/]")
    elif settings.workspace.exists() and any(settings.workspace.iterdir()):
        raise Conflict(f"{settings.workspace} exists and is not a finished demo workspace",
                       fix=f"remove {settings.workspace} (an interrupted demo leaves it half built) or pass another --workspace")
    else:
        info = _build(settings, scale, seed, day)
    _show(settings, info["latest_runs"], info["reports"], info["rows"])
    _show_accounts(settings, port, serving=not no_serve)
    if no_serve:
        return
    from chengyun.api.server import serve

    serve(workspace=settings.workspace, host="127.0.0.1", port=port)
