"""Every lake table's schema, declared once (pyarrow). Times are naive UTC; ``tenant`` and ``date`` are in
every file and in the Hive path ``<table>/tenant=<id>/date=<YYYY-MM-DD>/part-<uuid>.parquet``.

Facts (readings, cases, events) are read within a period. Dimensions (registries of assets, datasets, services)
are read as they stood at the period's end: for each entity, its latest row before the end."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from chengyun.core.errors import NotFound

TS = pa.timestamp("us")
KEY = [pa.field("tenant", pa.string(), nullable=False), pa.field("date", pa.date32(), nullable=False)]


@dataclass(frozen=True)
class LakeTable:
    """A lake table: schema, the column its ``date`` partition comes from, and whether it is a dimension."""

    name: str
    schema: pa.Schema
    time_column: str
    description: str
    dimension: bool = False  # dimensions are read "as of" the period end, facts within the period
    key: str | None = None  # a dimension's entity id: a later row with the same id is a new version of it
    version_column: str | None = None  # rows that change (a case, an asset): the latest version per key counts
    optional: frozenset[str] = frozenset()  # nullable columns a writer may leave out (filled with nulls)

    @property
    def columns(self) -> list[str]:
        """Column names in schema order."""
        return list(self.schema.names)


def _table(name: str, time_column: str, description: str, fields: list[pa.Field], *, key: str | None = None,
           version_column: str | None = None, optional: tuple[str, ...] = (), dimension: bool | None = None
           ) -> LakeTable:
    """A table's declaration; a keyed table without versions is a dimension unless ``dimension`` says otherwise
    (a dimension with a ``version_column`` is read as of the period end, its latest version per key)."""
    dim = key is not None and version_column is None if dimension is None else dimension
    return LakeTable(name, pa.schema(KEY + fields), time_column, description, dimension=dim, key=key,
                     version_column=version_column, optional=frozenset(optional))


def _f(name: str, typ: pa.DataType, nullable: bool = True) -> pa.Field:
    return pa.field(name, typ, nullable=nullable)


TABLES: dict[str, LakeTable] = {
    t.name: t
    for t in [
        _table("telemetry", "ts", "device readings (遥测), one row per metric per report", [
            _f("asset_id", pa.string(), False), _f("metric", pa.string(), False),
            _f("ts", TS, False), _f("value", pa.float64()),
        ]),
        _table("assets", "installed_at", "registry snapshot of operated assets (设备/系统台账)", [
            _f("asset_id", pa.string(), False), _f("asset_type", pa.string(), False),
            _f("department_id", pa.string()), _f("unit_id", pa.string()),
            _f("criticality", pa.string()), _f("expected_interval_s", pa.int32()),
            _f("metric_count", pa.int16()), _f("installed_at", TS, False), _f("retired_at", TS),
            _f("version_at", TS),
        ], key="asset_id", version_column="version_at", optional=("version_at",), dimension=True),
        _table("cases", "created_at", "city cases (案件/工单) from every channel", [
            _f("case_id", pa.string(), False), _f("channel", pa.string(), False),
            _f("category", pa.string()), _f("priority", pa.string()), _f("department_id", pa.string()),
            _f("unit_id", pa.string()), _f("created_at", TS, False), _f("response_due_at", TS),
            _f("responded_at", TS), _f("due_at", TS), _f("resolved_at", TS), _f("closed_at", TS),
            _f("status", pa.string()), _f("solved", pa.bool_()), _f("satisfaction", pa.int8()),
            _f("returned_count", pa.int16()), _f("reopened_count", pa.int16()), _f("inconsistent", pa.bool_()),
            _f("source", pa.string()), _f("reporter_hash", pa.string()), _f("duplicate_of", pa.string()),
            _f("version_at", TS),
        ], key="case_id", version_column="version_at",
           optional=("reopened_count", "inconsistent", "source", "reporter_hash", "duplicate_of", "version_at")),
        _table("datasets", "registered_at", "data resource catalogue snapshot (政务数据资源目录)", [
            _f("dataset_id", pa.string(), False), _f("name", pa.string()), _f("department_id", pa.string()),
            _f("update_cycle_days", pa.int32()), _f("sharing_type", pa.string()), _f("open", pa.bool_()),
            _f("catalogued", pa.bool_()), _f("registered_at", TS, False), _f("version_at", TS),
        ], key="dataset_id", version_column="version_at", optional=("version_at",), dimension=True),
        _table("dataset_updates", "updated_at", "each refresh of a dataset (数据更新)", [
            _f("dataset_id", pa.string(), False), _f("updated_at", TS, False), _f("rows", pa.int64()),
        ]),
        _table("quality_results", "checked_at", "quality rule results per GB/T 36344 dimension", [
            _f("dataset_id", pa.string(), False), _f("checked_at", TS, False), _f("dimension", pa.string()),
            _f("rows_checked", pa.int64()), _f("rows_failed", pa.int64()),
        ]),
        _table("sharing_requests", "requested_at", "data sharing requests (共享申请) and their decisions", [
            _f("request_id", pa.string(), False), _f("dataset_id", pa.string()),
            _f("requester_department_id", pa.string()), _f("requested_at", TS, False),
            _f("decided_at", TS), _f("granted", pa.bool_()), _f("version_at", TS),
        ], key="request_id", version_column="version_at", optional=("version_at",)),
        _table("data_access", "ts", "reads of shared datasets through a grant (数据调用)", [
            _f("ts", TS, False), _f("dataset_id", pa.string(), False), _f("request_id", pa.string()),
            _f("consumer_department_id", pa.string()), _f("scenario", pa.string()), _f("rows", pa.int64()),
        ]),
        _table("services", "published_at", "portal service catalogue snapshot (政务服务事项)", [
            _f("service_id", pa.string(), False), _f("name", pa.string()), _f("department_id", pa.string()),
            _f("online", pa.bool_()), _f("one_stop", pa.bool_()), _f("e_license", pa.bool_()),
            _f("mobile", pa.bool_()), _f("published_at", TS, False),
        ], key="service_id"),
        _table("portal_usage", "ts", "portal usage events (访问/申办/办结)", [
            _f("service_id", pa.string()), _f("user_hash", pa.string()), _f("channel", pa.string()),
            _f("action", pa.string()), _f("ts", TS, False), _f("completed_online", pa.bool_()),
        ]),
        _table("portal_ratings", "ts", "service ratings (好差评), 1 very dissatisfied … 5 very satisfied", [
            _f("service_id", pa.string()), _f("channel", pa.string()), _f("ts", TS, False),
            _f("rating", pa.int8(), False),
        ]),
        _table("security_events", "occurred_at", "security events and incidents (安全事件)", [
            _f("event_id", pa.string(), False), _f("asset_id", pa.string()), _f("kind", pa.string()),
            _f("severity", pa.string()), _f("occurred_at", TS, False), _f("detected_at", TS),
            _f("resolved_at", TS), _f("is_incident", pa.bool_()),
        ]),
    ]
}


def get_table(name: str) -> LakeTable:
    """The declared table, or an error listing the known ones."""
    try:
        return TABLES[name]
    except KeyError:
        raise NotFound(f"lake table {name!r} is not declared", fix=f"use one of: {', '.join(sorted(TABLES))}") from None
