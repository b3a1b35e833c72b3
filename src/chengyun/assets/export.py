"""The asset registry into the lake (台账入湖): the lake's ``assets`` table is a dimension, read as each asset
stood at a period's end, so every export adds a row for each asset that is new or changed since the last one.

Partitions: ``tenant`` is the asset's district (``cases.export.partition_units``), ``unit_id`` its own unit,
``asset_type`` its kind and the ``date`` the day it was installed (an asset without an installation time counts
from when it was registered). Rows the lake already holds exactly are not written again, so exporting twice adds
nothing.

``version_at`` says since when a row stands: an asset's first row stands since it was installed (registering a
device today that has run since 2023 must not leave it out of 2023's evaluations, which read the version that
stood at the period's end), every later row since the change in the registry (``updated_at``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.assets.models import Asset
from chengyun.cases.export import partition_units
from chengyun.core.settings import Settings
from chengyun.lake.reader import held
from chengyun.lake.sync import Exporter
from chengyun.lake.tables import get_table
from chengyun.lake.writer import write

TABLE = "assets"


def _row(a: Asset, partition: dict[str, str], exported: set[str]) -> dict[str, Any]:
    installed = a.installed_at or a.created_at
    return {"tenant": partition.get(a.tenant_id, a.tenant_id), "asset_id": a.id, "asset_type": a.kind,
            "department_id": a.department_id, "unit_id": a.tenant_id, "criticality": a.criticality,
            "expected_interval_s": a.expected_interval_s, "metric_count": a.metric_count,
            "installed_at": installed, "retired_at": a.retired_at,
            "version_at": a.updated_at if a.id in exported else min(installed, a.updated_at)}


def _key(row: dict[str, Any], columns: list[str]) -> tuple[Any, ...]:
    return tuple(row[c] for c in columns)


def export_assets(settings: Settings, session: Session, *, durable: bool = True) -> int:
    """Write each asset that is new or changed since the lake last saw it; returns how many rows were written.
    Run it on an unscoped session (the lake holds every unit's assets)."""
    if session.info.get("scope") is not None:
        raise RuntimeError("export_assets needs an unscoped session (the lake holds every unit's assets)")
    partition = partition_units(session)
    columns = [c for c in get_table(TABLE).columns if c != "date"]
    compared = [c for c in columns if c != "version_at"]  # a new version only when something else changed
    seen = held(settings.lake, TABLE, compared)
    exported = {key[compared.index("asset_id")] for key in seen}
    rows = [r for r in (_row(a, partition, exported) for a in session.scalars(select(Asset).order_by(Asset.id)))
            if _key(r, compared) not in seen]
    if rows:
        write(settings.lake, TABLE, {c: [r[c] for r in rows] for c in columns}, durable=durable)
    return len(rows)


EXPORTERS = (Exporter("assets", ("assets",), export_assets, "the asset registry → assets"),)
