"""A database table as a data source (库表接入), read through its SQLAlchemy URL: the declared column types map to
Arrow, a value the declared type cannot hold (SQLite keeps anything anywhere) puts its row aside, and the password
never appears in a message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from chengyun.catalog.sniff import SourceError
from chengyun.catalog.sources import Loaded, Reject, cell_text, typed_table


def _sql_arrow(sql_type: Any) -> tuple[pa.DataType, Any] | None:
    """Arrow type of a SQL column type and a converter for its values; None: infer from the values."""
    import sqlalchemy as sa

    if isinstance(sql_type, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if sql_type.timezone else None), None
    table: list[tuple[type, pa.DataType, Any]] = [
        (sa.Boolean, pa.bool_(), None),
        (sa.Integer, pa.int64(), None),
        (sa.Numeric, pa.float64(), float),
        (sa.Date, pa.date32(), None),
        (sa.String, pa.string(), None),
    ]
    return next(((arrow, conv) for base, arrow, conv in table if isinstance(sql_type, base)), None)


def _sql_column(name: str, values: list[Any], sql_type: Any, rejects: dict[int, str]) -> pa.Array:
    """One fetched column as Arrow; a value the declared type cannot hold marks its row for rejection."""
    known = _sql_arrow(sql_type)
    if known is None:  # no declared type (SQLite allows that): inferred from the values as text
        return pa.array([cell_text(v) for v in values], pa.string())
    arrow, conv = known
    try:
        return pa.array([None if v is None else conv(v) if conv else v for v in values], arrow)
    except (ValueError, TypeError, pa.ArrowInvalid, pa.ArrowTypeError):
        pass  # SQLite keeps any value in any column: find the rows that do not fit
    cells: list[Any] = []
    for i, v in enumerate(values):
        try:
            cells.append(pa.array([None if v is None else conv(v) if conv else v], arrow)[0].as_py())
        except (ValueError, TypeError, pa.ArrowInvalid, pa.ArrowTypeError):
            rejects.setdefault(i, f"has {v!r} in column {name}, which holds {arrow} values")
            cells.append(None)
    return pa.array(cells, arrow)


def _database(url: str) -> tuple[Any, str]:
    """A SQLAlchemy engine for ``url`` and the URL as shown in messages (without the password)."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise SourceError(
            f"{url!r} is not a database URL",
            fix="write it as dialect+driver://user@host/database, "
            "e.g. sqlite:///city.db or postgresql+psycopg://user@host/city",
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    if (
        parsed.get_backend_name() == "sqlite"
        and parsed.database not in (None, "", ":memory:")
        and not Path(str(parsed.database)).is_file()
    ):  # SQLite would quietly create an empty database
        raise SourceError(
            f"{shown}: the SQLite file {parsed.database} does not exist",
            fix="check the path: sqlite:///relative.db or sqlite:////absolute/path.db",
        )
    try:
        return sa.create_engine(parsed), shown
    except (ImportError, sa.exc.ArgumentError) as exc:
        raise SourceError(
            f"{shown}: no driver for {parsed.drivername} ({exc})",
            fix="install the driver, e.g. pip install 'chengyun[postgres]' for postgresql+psycopg",
        ) from None


def read_database(url: str, table: str | None) -> Loaded:
    """A database table read whole through SQLAlchemy; values its declared type cannot hold are put aside."""
    import sqlalchemy as sa

    engine, shown = _database(url)
    try:
        schema, _, name = (table or "").rpartition(".")
        inspector = sa.inspect(engine)
        known = inspector.get_table_names(schema=schema or None) + inspector.get_view_names(
            schema=schema or None
        )
        if name not in known:
            what = "needs the table to read" if not table else f"has no table {table!r}"
            raise SourceError(
                f"{shown} {what}", fix=f"pass --table with one of: {', '.join(known[:30]) or '(none)'}"
            )
        t = sa.Table(name, sa.MetaData(), autoload_with=engine, schema=schema or None)
        with engine.connect() as con:
            rows = con.execute(sa.select(t)).all()
    except sa.exc.SQLAlchemyError as exc:
        raise SourceError(
            f"{shown}: cannot read table {table}: {getattr(exc, 'orig', None) or exc}",
            fix="check the URL, the credentials and that the database answers",
        ) from None
    finally:
        engine.dispose()
    bad: dict[int, str] = {}
    arrays = {c.name: _sql_column(c.name, [r[i] for r in rows], c.type, bad) for i, c in enumerate(t.columns)}
    keep = pa.array([i not in bad for i in range(len(rows))])
    columns = {k: pa.chunked_array([v.filter(keep)]) for k, v in arrays.items()}
    notes: dict[str, object] = {"database": shown, "table": table}
    rejects = [
        Reject(i + 1, reason, json.dumps([cell_text(v) for v in rows[i]], ensure_ascii=False))
        for i, reason in sorted(bad.items())
    ]
    declared = frozenset(c.name for c in t.columns if _sql_arrow(c.type) is not None)  # text stays text
    return Loaded(typed_table(columns, notes=notes, declared=declared), "database", rejects, notes)
