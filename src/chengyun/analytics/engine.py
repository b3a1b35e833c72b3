"""The analytics engine (DuckDB in-process by default, PySpark on request) behind one small interface.
Engine-specific code lives here and nowhere else."""

from __future__ import annotations

import itertools
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import ibis

from chengyun.core.errors import EngineUnavailable
from chengyun.core.settings import Settings
from chengyun.lake.reader import table_files
from chengyun.lake.tables import get_table

_counter = itertools.count()


class Engine:
    """Reads lake tables for a set of tenants and dates as Ibis tables, and executes Ibis expressions."""

    name = "base"

    def __init__(self, lake: Path) -> None:
        self.lake = lake
        self.con: Any = None
        self._scans: dict[tuple[str, tuple[str, ...], date | None, date | None], Any] = {}

    def _files(self, table: str, tenants: list[str], start: date | None, end: date | None) -> list[str]:
        return table_files(self.lake, table, tenants, start, end)

    def scan(self, table: str, tenants: list[str], start: date | None, end: date | None) -> Any:
        """The rows of ``table`` in the pruned partitions, as an Ibis table with the declared schema."""
        key = (table, tuple(sorted(tenants)), start, end)
        if key not in self._scans:  # lake files are immutable: one listing and one view per engine and key
            files = self._files(table, tenants, start, end)
            self._scans[key] = self._read(table, files) if files else ibis.memtable(get_table(table).schema.empty_table())
        return self._scans[key]

    def _read(self, table: str, files: list[str]) -> Any:
        raise NotImplementedError

    def refresh(self) -> None:
        """List the lake's files again at the next access (a sync wrote new ones)."""
        self._scans.clear()

    def period_table(self, table: str, tenants: list[str], start: datetime, end: datetime) -> Any:
        """Rows of a table whose time column falls in ``[start, end)`` (UTC), for the tenants."""
        spec = get_table(table)
        t = self.scan(table, tenants, start.date(), (end - timedelta(microseconds=1)).date())
        col = t[spec.time_column]
        t = t.filter(t.tenant.isin(tenants), col >= ibis.literal(start, type="timestamp"),
                     col < ibis.literal(end, type="timestamp"))
        if spec.version_column is None:
            return t
        # a fact that changes (a case is resolved after it is created): each change is a new row; the latest counts
        latest = ibis.window(group_by=spec.key, order_by=ibis.desc(spec.version_column))
        return t.mutate(_version=ibis.row_number().over(latest)).filter(lambda r: r._version == 0).drop("_version")

    def asof_table(self, table: str, tenants: list[str], end: datetime) -> Any:
        """A table as it stood before ``end`` (UTC): a dimension's latest version of each entity, or all the
        history of a fact."""
        spec = get_table(table)
        t = self.scan(table, tenants, None, end.date())
        stop = ibis.literal(end, type="timestamp")
        t = t.filter(t.tenant.isin(tenants), t[spec.time_column] < stop)
        if spec.key is None:
            return t
        if spec.dimension and spec.version_column is not None:  # a registry's version made after the end did not
            # stand at the end (a fact's history keeps every row it had: a case is counted as last seen)
            t = t.filter(t[spec.version_column].isnull() | (t[spec.version_column] < stop))
        latest = ibis.window(group_by=spec.key, order_by=ibis.desc(spec.version_column or spec.time_column))
        return t.mutate(_version=ibis.row_number().over(latest)).filter(lambda r: r._version == 0).drop("_version")

    def execute(self, expr: Any) -> Any:
        """Run an Ibis expression on this engine."""
        return self.con.execute(expr)

    def close(self) -> None:
        """Release the engine's resources."""


class DuckDBEngine(Engine):
    """DuckDB in-process: the default, no server needed."""

    name = "duckdb"

    def __init__(self, lake: Path, threads: int | None = None, *, memory_limit: str | None = None,
                 spill: Path | None = None) -> None:
        super().__init__(lake)
        self.con = ibis.duckdb.connect(threads=threads or os.cpu_count() or 2)
        self.con.raw_sql("SET parquet_metadata_cache = true")  # several queries read the same files
        # Without a limit every DuckDB database may take 80 % of RAM; with one it spills large hash tables (a
        # distinct count over 100 M keys) to disk. Its default spill folder is ``.tmp`` in the working directory.
        if memory_limit:
            self.con.raw_sql(f"SET memory_limit = '{memory_limit}'")
        if spill is not None:
            spill.mkdir(parents=True, exist_ok=True)  # DuckDB makes the last folder only
            self.con.raw_sql("SET temp_directory = '" + str(spill).replace("'", "''") + "'")

    @classmethod
    def from_settings(cls, settings: Settings, threads: int | None = None) -> DuckDBEngine:
        """An engine with the workspace's memory limit and spill folder."""
        return cls(settings.lake, threads, memory_limit=settings.duckdb_memory_limit or None,
                   spill=settings.spill_path)

    def _read(self, table: str, files: list[str]) -> Any:
        # A temporary view named in every query that reads the table, typed with the declared schema: nothing
        # is inferred, and the (long) file list is not compiled again into each query.
        name = f"{table}_{next(_counter)}"
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        self.con.raw_sql(f"CREATE TEMP VIEW {name} AS SELECT * FROM read_parquet([{listing}], hive_partitioning = false)")
        return ibis.table(ibis.Schema.from_pyarrow(get_table(table).schema), name=name)

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.con.disconnect()


class SparkEngine(Engine):
    """PySpark, local or on a cluster (``spark_master``); reads the same Parquet files unchanged."""

    name = "spark"
    _session: Any = None

    def __init__(self, lake: Path, master: str) -> None:
        super().__init__(lake)
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise EngineUnavailable("the Spark engine needs pyspark", fix="pip install 'chengyun[spark]' (and a Java 17 runtime)") from exc
        if SparkEngine._session is None:
            SparkEngine._session = (
                SparkSession.builder.master(master).appName("chengyun")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.driver.memory", os.environ.get("CHENGYUN_SPARK_DRIVER_MEMORY", "2g"))
                .getOrCreate()
            )
            SparkEngine._session.sparkContext.setLogLevel("ERROR")
        self.session = SparkEngine._session
        self.con = ibis.pyspark.connect(self.session)

    def _read(self, table: str, files: list[str]) -> Any:
        name = f"{table}_{next(_counter)}"
        self.session.read.parquet(*files).createOrReplaceTempView(name)
        return self.con.table(name)


def connect(settings: Settings, engine: str | None = None) -> Engine:
    """The engine named by ``engine`` or the settings (duckdb | spark)."""
    which = engine or settings.engine
    if which == "duckdb":
        return DuckDBEngine.from_settings(settings)
    if which == "spark":
        return SparkEngine(settings.lake, settings.spark_master)
    raise EngineUnavailable(f"engine {which!r} is not known", fix="use --engine duckdb or --engine spark")
