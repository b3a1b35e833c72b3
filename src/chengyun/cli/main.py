"""The ``chengyun`` command: a root group with one sub-group per domain."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.markup import escape

from chengyun.accounts.cli import audit_app, tokens_app, users_app
from chengyun.analytics.cli import app as measures_app
from chengyun.assets.alarm_cli import app as alarms_app
from chengyun.assets.cli import app as assets_app
from chengyun.cases.cli import app as cases_app
from chengyun.catalog.cli import app as datasets_app
from chengyun.catalog.quality_cli import app as quality_app
from chengyun.catalog.sharing_cli import app as sharing_app
from chengyun.cli.common import WorkspaceOpt, console, err_console, open_workspace
from chengyun.core.db import is_busy
from chengyun.core.errors import ChengyunError
from chengyun.core.files import make_private
from chengyun.demo.cli import demo_cmd
from chengyun.indicators.cli import evaluate_cmd, inputs_app, packs_app, report_cmd, runs_app
from chengyun.ingest.cli import app as ingest_app
from chengyun.lake.cli import app as lake_app
from chengyun.tenancy.cli import app as tenants_app

app = typer.Typer(
    name="chengyun",
    help="城运 chengyun — run a smart city's operation and evaluate it continuously.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False) -> None:
    """城运 chengyun — run a smart city's operation and evaluate it continuously."""
    if debug:
        os.environ["CHENGYUN_DEBUG"] = "1"


@app.command("init")
def init_cmd(workspace: WorkspaceOpt = None) -> None:
    """Create the workspace and apply state DB migrations."""
    with open_workspace(workspace) as (settings, _session):
        console.print(f"workspace ready: {settings.workspace} (state DB {settings.db_url.split('://')[0]}, lake {settings.lake})")


@app.command("serve")
def serve_cmd(host: Annotated[str, typer.Option("--host", help="address to listen on; beyond 127.0.0.1 it needs a "
                                               "strong CHENGYUN_SECRET_KEY")] = "127.0.0.1",
              port: Annotated[int, typer.Option("--port")] = 8000, workspace: WorkspaceOpt = None) -> None:
    """Serve the console and API (127.0.0.1 by default)."""
    from chengyun.api.server import serve

    serve(workspace=workspace, host=host, port=port)


app.command("demo")(demo_cmd)
app.command("evaluate")(evaluate_cmd)
app.command("report")(report_cmd)
app.add_typer(tenants_app, name="tenants")
app.add_typer(packs_app, name="packs")
app.add_typer(inputs_app, name="inputs")
app.add_typer(runs_app, name="evaluations")
app.add_typer(measures_app, name="measures")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(audit_app, name="audit")
app.add_typer(cases_app, name="cases")
app.add_typer(assets_app, name="assets")
app.add_typer(datasets_app, name="datasets")
app.add_typer(quality_app, name="quality")
app.add_typer(sharing_app, name="sharing")
app.add_typer(alarms_app, name="alarms")
app.add_typer(ingest_app, name="ingest")
app.add_typer(lake_app, name="lake")


def main() -> None:
    """Entry point: errors print their message and fix (tracebacks only with --debug) and exit 1."""
    make_private()  # everything a command writes into the workspace is its user's alone
    try:
        rc = app(standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except ChengyunError as exc:
        if os.environ.get("CHENGYUN_DEBUG") or "--debug" in sys.argv:
            raise
        err_console.print(f"[red]error:[/] {escape(exc.message)}", highlight=False)  # messages quote user input
        for d in exc.details:
            err_console.print(f"  - {d}", markup=False, highlight=False)
        if exc.fix:
            err_console.print(f"  [bold]fix:[/] {escape(exc.fix)}", highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click
        from pydantic import ValidationError
        from sqlalchemy.orm.exc import StaleDataError

        if isinstance(exc, ValidationError) and exc.title == "Settings":  # a CHENGYUN_ variable out of shape
            for e in exc.errors():
                where = "CHENGYUN_" + "_".join(str(p) for p in e["loc"]).upper()
                err_console.print(f"[red]error:[/] setting {where}: {escape(e['msg'])}", highlight=False)
            err_console.print("  [bold]fix:[/] correct the variable (see the settings table in README.md)",
                              highlight=False)
            sys.exit(1)
        if isinstance(exc, StaleDataError) or is_busy(exc):
            err_console.print("[red]error:[/] another writer changed or held the same records meanwhile; nothing "
                              "of this command was kept", highlight=False)
            err_console.print("  [bold]fix:[/] run the command again", highlight=False)
            sys.exit(1)

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
