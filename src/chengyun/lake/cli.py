"""``chengyun lake …``: housekeeping of the Parquet lake."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.progress import Progress

from chengyun.cli.common import JsonOpt, WorkspaceOpt, console, print_json, settings_for
from chengyun.lake.compact import compact

app = typer.Typer(help="The lake (数据湖): housekeeping.", no_args_is_help=True)


@app.command("compact")
def compact_cmd(
    table: Annotated[list[str] | None, typer.Option("--table", help="only this table (repeat for more)")] = None,
    before: Annotated[str | None, typer.Option("--before", help="partitions of days before this one "
                                               "(YYYY-MM-DD; default: before yesterday, UTC)")] = None,
    min_files: Annotated[int, typer.Option("--min-files", min=2, help="merge a partition holding this many "
                                           "files or more")] = 2,
    grace: Annotated[float, typer.Option("--grace", min=0, help="seconds the replaced files stay for readers "
                                         "that listed them; the next run removes them")] = 60.0,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Merge the small files of closed partitions into one per partition; readers never count a row twice."""
    settings = settings_for(workspace)
    cutoff = date.fromisoformat(before) if before else None
    with Progress(console=console, transient=True, disable=as_json) as progress:
        task = progress.add_task("compacting partitions", total=None)
        report = compact(settings.lake, tables=table or None, before=cutoff, min_files=min_files, grace_s=grace,
                         wal_root=settings.workspace / "wal", advance=lambda: progress.advance(task))
    if as_json:
        print_json(report.to_dict())
        return
    console.print(f"合并 merged {report.partitions:,} partitions: {report.files_before:,} files → "
                  f"{report.files_after:,} ({report.rows:,} rows); removed {report.removed:,} files replaced "
                  f"earlier", highlight=False)
    for name, n in sorted(report.tables.items()):
        console.print(f"  {name}: {n:,} partitions", highlight=False)
