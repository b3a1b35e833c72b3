"""``chengyun datasets``: register, refresh, profile, describe and exchange the data resource catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from chengyun.catalog import personal, service
from chengyun.catalog.masking import mask_notes, mask_profile
from chengyun.catalog.personal import classes_of
from chengyun.catalog.schemas import DatasetRead
from chengyun.cli.common import (
    JsonOpt,
    TenantOpt,
    WorkspaceOpt,
    console,
    open_workspace,
    print_json,
    rejects_file,
)
from chengyun.core.errors import InvalidInput

app = typer.Typer(help="Data resource catalogue (政务数据资源目录): register datasets, profile, describe, exchange.",
                  no_args_is_help=True)

TenantFilter = Annotated[str | None, typer.Option("--tenant", help="the dataset's unit (when names repeat)")]
EncodingOpt = Annotated[str | None, typer.Option("--encoding", help="the file's encoding (default: detected), "
                                                 "e.g. gb18030, utf-16")]
DelimiterOpt = Annotated[str | None, typer.Option("--delimiter", help="the field separator (default: detected)")]
DateOrderOpt = Annotated[str, typer.Option("--date-order", help="auto, dmy, mdy or ymd, for dates like 03/04/2026")]
RejectShareOpt = Annotated[float, typer.Option("--max-reject-share", min=0, max=1,
                                               help="the share of rows that may be put aside before the load stops")]
SheetOpt = Annotated[str | None, typer.Option("--sheet", help="the Excel sheet (default: the first)")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="refuse the load if any row must be put aside "
                                         "(the same as --max-reject-share 0)")]


def _read_options(encoding: str | None, delimiter: str | None, date_order: str, max_reject_share: float,
                  sheet: str | None, strict: bool = False) -> dict[str, Any]:
    if strict:
        max_reject_share = 0.0
    if date_order not in ("auto", "dmy", "mdy", "ymd"):
        raise typer.BadParameter("use auto, dmy, mdy or ymd", param_hint="--date-order")
    return {"encoding": encoding, "delimiter": delimiter, "date_order": date_order,
            "max_reject_share": max_reject_share, "sheet": sheet}
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="the dataset's name (or id)")]


def _load_report(ds: Any, update: Any) -> dict[str, Any]:
    return {"dataset": DatasetRead.from_dataset(ds).model_dump(mode="json"), "rows": update.rows,
            "rejected": update.rejected, "rejects": update.rejects_file,
            "notes": mask_notes(ds.load_notes, classes_of(ds))}


def _print_load(out: dict[str, Any]) -> None:
    d = out["dataset"]
    console.print(f"[bold]{d['name']}[/] ({d['id']}, {d['tenant_id']}): [bold]{out['rows']:,}[/] rows, "
                  f"{len(d['columns'])} columns, [bold]{out['rejected']:,}[/] rows put aside", highlight=False)
    notes = out["notes"] or {}
    read = ", ".join(f"{k} {notes[k]!r}" for k in ("format", "encoding", "delimiter", "header_row", "thousands")
                     if notes.get(k) is not None)
    console.print(f"  read as: {read}", highlight=False)
    for column, fmt in (notes.get("date_formats") or {}).items():
        console.print(f"  {column}: dates {fmt}", highlight=False)
    for column, note in (notes.get("column_notes") or {}).items():
        console.print(f"  {column}: {note}", highlight=False)
    if out["rejects"]:
        console.print(f"  rows put aside, each with its reason: {out['rejects']}", highlight=False)


@app.command("add")
def add_cmd(
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="a CSV/TSV, .xlsx, .parquet or .jsonl file, or a "
                                          "SQLAlchemy URL with --table")],
    name: Annotated[str, typer.Option("--name", help="the dataset's name in its unit (letters, digits, . _ -)")],
    tenant: TenantOpt,
    provider: Annotated[str | None, typer.Option("--provider", help="the providing department's id (提供方)")] = None,
    table: Annotated[str | None, typer.Option("--table", help="the table to read, when SOURCE is a database URL")] = None,
    title: Annotated[str | None, typer.Option("--title", help="资源名称, the catalogue title (default: the name)")] = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="where rows put aside go")] = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    date_order: DateOrderOpt = "auto",
    max_reject_share: RejectShareOpt = 0.05,
    sheet: SheetOpt = None,
    strict: StrictOpt = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Register a dataset (登记): read it, keep a snapshot, profile it and enter it in the catalogue."""
    read = _read_options(encoding, delimiter, date_order, max_reject_share, sheet, strict)
    with open_workspace(workspace) as (settings, session):
        target = rejects_file(settings, Path(source), rejects) if rejects or Path(source).exists() else None
        ds, update = service.add_dataset(session, settings, source=source, name=name, tenant=tenant, provider=provider,
                                         table=table, title=title, rejects_path=target, **read)
        out = _load_report(ds, update)
    print_json(out) if as_json else _print_load(out)


@app.command("refresh")
def refresh_cmd(name: NameArg, tenant: TenantFilter = None,
                source: Annotated[str | None, typer.Option("--source", help="read this file instead")] = None,
                encoding: EncodingOpt = None, delimiter: DelimiterOpt = None, date_order: DateOrderOpt = "auto",
                max_reject_share: RejectShareOpt = 0.05, sheet: SheetOpt = None, strict: StrictOpt = False,
                as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Read the dataset's source again and keep the new snapshot (数据更新)."""
    read = _read_options(encoding, delimiter, date_order, max_reject_share, sheet, strict)
    with open_workspace(workspace) as (settings, session):
        ds = service.get_dataset(session, name, tenant=tenant)
        update = service.refresh_dataset(session, settings, ds, source=source, **read)
        out = _load_report(ds, update)
    print_json(out) if as_json else _print_load(out)


@app.command("list")
def list_cmd(
    tenant: Annotated[str | None, typer.Option("--tenant", help="a unit: its datasets and its subtree's")] = None,
    search: Annotated[str | None, typer.Option("--search", help="words of the name, title, code or summary")] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="the providing department's id")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List the catalogue's datasets (目录检索)."""
    with open_workspace(workspace) as (_settings, session):
        items, total = service.list_datasets(session, tenant=tenant, q=search, department=provider, limit=limit)
        rows = [DatasetRead.from_dataset(d).model_dump(mode="json") for d in items]
    if as_json:
        print_json({"items": rows, "total": total, "limit": limit, "offset": 0})
        return
    table = Table("name", "资源名称 title", "unit", "提供方 provider", "共享 sharing", "rows", "质量 score",
                  title=f"datasets 数据资源 ({len(rows)} of {total})")
    for r in rows:
        score = "—" if r["last_score"] is None else f"{r['last_score']:.1f}"
        table.add_row(r["name"], r["title"], r["tenant_id"], r["department_id"] or "—", r["sharing_type_zh"],
                      "—" if r["rows"] is None else f"{r['rows']:,}", score)
    console.print(table)


@app.command("show")
def show_cmd(name: NameArg, tenant: TenantFilter = None, as_json: JsonOpt = False,
             workspace: WorkspaceOpt = None) -> None:
    """One dataset: its catalogue entry, load and latest quality score."""
    with open_workspace(workspace) as (_settings, session):
        out = DatasetRead.from_dataset(service.get_dataset(session, name, tenant=tenant)).model_dump(mode="json")
    if as_json:
        print_json(out)
        return
    for key, value in out.items():
        if value not in (None, [], {}) and key != "columns":
            console.print(f"  {key}: {value}", highlight=False)
    console.print("  columns: " + ", ".join(c["name"] + (f" [{c['personal']}]" if c["personal"] else "")
                                            for c in out["columns"]), highlight=False, markup=False)


@app.command("profile")
def profile_cmd(name: NameArg, tenant: TenantFilter = None, as_json: JsonOpt = False,
                workspace: WorkspaceOpt = None) -> None:
    """Column statistics of the latest snapshot (数据画像): type, nulls, distinct, min, max."""
    with open_workspace(workspace) as (_settings, session):
        ds = service.get_dataset(session, name, tenant=tenant)
        prof = mask_profile(ds.profile, classes_of(ds))
    if as_json:
        print_json(prof)
        return
    _print_profile(ds.name, prof)


def _print_profile(name: str, prof: dict[str, Any]) -> None:
    table = Table("column", "type", "nulls", "distinct", "min", "max", "个人信息 personal",
                  title=f"{name}: {prof['rows']:,} rows")
    for c in prof["columns"]:
        kind = f"{c['personal']} ({'masked' if c['masked'] else 'in clear'})" if c["personal"] else "—"
        table.add_row(c["name"], c["type"], f"{c['nulls']:,}", f"{c['distinct']:,}", str(c.get("min") or "—")[:30],
                      str(c.get("max") or "—")[:30], kind)
    console.print(table)


@app.command("personal")
def personal_cmd(name: NameArg,
                 column: Annotated[str, typer.Argument(metavar="COLUMN", help="the column's name")],
                 kind: Annotated[str, typer.Argument(metavar="CLASS", help="resident-id, phone, name, address, email, "
                                                     "or none")],
                 tenant: TenantFilter = None, workspace: WorkspaceOpt = None) -> None:
    """Set a column's personal-data class (个人信息类别) by hand; kept across loads, audited."""
    with open_workspace(workspace) as (_settings, session):
        ds = service.get_dataset(session, name, tenant=tenant)
        col = personal.set_class(session, ds, column=column, kind=kind)
    console.print(f"{ds.name}.{column}: {col['personal'] or 'not personal 非个人信息'}", highlight=False)


@app.command("reveal")
def reveal_cmd(name: NameArg,
               reason: Annotated[str, typer.Option("--reason", help="why the values are needed (查看事由), audited")],
               column: Annotated[list[str] | None, typer.Option("--column", help="a personal column (repeat; "
                                                                "default: all of them)")] = None,
               tenant: TenantFilter = None, as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """The profile and the latest failed-rule samples with personal columns in clear (查看明文); audited."""
    from chengyun.catalog.masking import mask_report
    from chengyun.catalog.quality import latest_run

    with open_workspace(workspace) as (_settings, session):
        ds = service.get_dataset(session, name, tenant=tenant)
        columns = personal.reveal(session, ds, reason=reason, columns=column)
        classes, run = classes_of(ds), latest_run(session, ds)
        profile = mask_profile(ds.profile, classes, columns)
        report = mask_report(run.report, classes, columns) if run else None
    if as_json:
        print_json({"dataset_id": ds.id, "columns": columns, "profile": profile, "report": report})
        return
    _print_profile(ds.name, profile)
    for r in (report or {}).get("rules", []):
        for sample in r["samples"]:
            console.print(f"  {r['id']}: {sample}", highlight=False)


@app.command("describe")
def describe_cmd(name: NameArg, entry: Annotated[Path, typer.Argument(metavar="ENTRY", help="a JSON or YAML "
                 "catalogue entry: code, name, provider, summary, format, sharing_type, update_cycle, …")],
                 tenant: TenantFilter = None, as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Set the dataset's catalogue entry (编目) from a file."""
    import yaml

    try:
        data = yaml.safe_load(entry.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{entry}: cannot read the entry ({exc.__class__.__name__})",
                           fix="give a UTF-8 YAML or JSON file with the catalogue fields") from exc
    with open_workspace(workspace) as (_settings, session):
        ds = service.get_dataset(session, name, tenant=tenant)
        service.apply_entry(session, ds, service.parse_entry(data, source=str(entry)))
        out = DatasetRead.from_dataset(ds).model_dump(mode="json")
    if as_json:
        print_json(out)
    else:
        console.print(f"{out['name']}: catalogued {'yes 已编目' if out['catalogued'] else 'no 未编目 (fields missing)'}")


@app.command("import-catalog")
def import_catalog_cmd(file: Annotated[Path, typer.Argument(help="DCAT-AP JSON-LD or CKAN package JSON")],
                       tenant: TenantOpt, as_json: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Enter catalogue entries from DCAT-AP or CKAN: known codes update, others become described datasets."""
    entries = read_entries(file)
    with open_workspace(workspace) as (_settings, session):
        out = service.import_entries(session, entries, tenant=tenant)
    print_json(out) if as_json else console.print(f"{out['added']:,} added, {out['updated']:,} updated")


def read_entries(file: Path) -> list[Any]:
    """Catalogue entries of a DCAT-AP JSON-LD or CKAN JSON file, told apart by their shape."""
    from chengyun.catalog.ckan import from_ckan, json_kind
    from chengyun.catalog.dcat import from_dcat

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{file}: not a JSON document ({exc})",
                           fix="export the catalogue as DCAT-AP JSON-LD or CKAN package JSON (Turtle and RDF/XML: "
                               "convert to JSON-LD first)") from exc
    kind = json_kind(doc)
    if kind == "unknown":
        raise InvalidInput(f"{file}: neither DCAT-AP JSON-LD nor CKAN package JSON",
                           fix="export the catalogue as DCAT-AP JSON-LD or as CKAN package_show/package_search JSON")
    return from_ckan(doc) if kind == "ckan" else from_dcat(doc)


@app.command("export-catalog")
def export_catalog_cmd(
    fmt: Annotated[str, typer.Option("--format", help="dcat (DCAT-AP JSON-LD) or ckan (package list)")] = "dcat",
    tenant: Annotated[str | None, typer.Option("--tenant", help="a unit: its datasets and its subtree's")] = None,
    base_uri: Annotated[str, typer.Option("--base-uri", help="URI the dataset identifiers hang under")] =
        "https://data.example.gov.cn/dataset/",
    workspace: WorkspaceOpt = None,
) -> None:
    """Print the catalogue as DCAT-AP JSON-LD or CKAN packages (for a portal or a national catalogue)."""
    from chengyun.catalog.ckan import to_ckan
    from chengyun.catalog.dcat import to_dcat

    if fmt not in ("dcat", "ckan"):
        raise typer.BadParameter("use dcat or ckan", param_hint="--format")
    with open_workspace(workspace) as (_settings, session):
        items, _ = service.list_datasets(session, tenant=tenant, limit=100_000)
        entries = [service.entry_of(d) for d in items]
    out = to_dcat(entries, catalog_title="政务数据资源目录", base_uri=base_uri) if fmt == "dcat" else \
        [to_ckan(e) for e in entries]
    print_json(out)
