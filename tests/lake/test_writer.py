"""The lake writer: Hive partitions, schema checks naming the column, atomic files, reads back exactly."""

from __future__ import annotations

import os
from datetime import datetime as D
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from chengyun.core.errors import InvalidInput
from chengyun.lake.reader import read, table_files
from chengyun.lake.writer import write


def rows(n: int, tenant: str = "c.d1") -> dict:
    return {"tenant": [tenant] * n, "asset_id": [f"a{i % 3}" for i in range(n)], "metric": ["pm25"] * n,
            "ts": [D(2026, 7, 1 + i % 3, 23, 30) for i in range(n)], "value": [float(i) for i in range(n)]}


def test_partitions_by_tenant_and_utc_date(tmp_path: Path) -> None:
    files = write(tmp_path, "telemetry", rows(9))
    assert len(files) == 3
    assert sorted(p.parent.name for p in files) == ["date=2026-07-01", "date=2026-07-02", "date=2026-07-03"]
    assert all(p.parent.parent.name == "tenant=c.d1" for p in files)
    back = read(tmp_path, "telemetry", ["c.d1"])
    assert sorted(back.column("value").to_pylist()) == [float(i) for i in range(9)]


def test_pruning_by_tenant_and_date(tmp_path: Path) -> None:
    write(tmp_path, "telemetry", rows(9))
    write(tmp_path, "telemetry", rows(4, tenant="c.d2"))
    from datetime import date

    assert len(table_files(tmp_path, "telemetry", ["c.d1"], date(2026, 7, 2), date(2026, 7, 2))) == 1
    assert len(table_files(tmp_path, "telemetry", ["c.d2"], None, None)) == 3
    assert read(tmp_path, "telemetry", ["nobody"]).num_rows == 0


def test_files_are_immutable_and_never_overwritten(tmp_path: Path) -> None:
    first = write(tmp_path, "telemetry", rows(3))
    second = write(tmp_path, "telemetry", rows(3))
    assert not set(first) & set(second)
    assert read(tmp_path, "telemetry", ["c.d1"]).num_rows == 6
    assert not [f for _, _, fs in os.walk(tmp_path) for f in fs if f.endswith(".tmp")]


def test_half_written_temp_files_are_invisible(tmp_path: Path) -> None:
    write(tmp_path, "telemetry", rows(3))
    folder = next((tmp_path / "telemetry" / "tenant=c.d1").iterdir())
    (folder / ".part-x.parquet.1234.tmp").write_bytes(b"PAR1 half")
    assert read(tmp_path, "telemetry", ["c.d1"]).num_rows == 3


def test_schema_errors_name_the_column(tmp_path: Path) -> None:
    bad = rows(2)
    bad["value"] = ["high", "low"]
    with pytest.raises(InvalidInput, match="column 'value' cannot be read as double"):
        write(tmp_path, "telemetry", bad)
    missing = rows(2)
    del missing["metric"]
    with pytest.raises(InvalidInput, match=r"missing columns \['metric'\]"):
        write(tmp_path, "telemetry", missing)
    empty_required = rows(2)
    empty_required["asset_id"] = [None, "a"]
    with pytest.raises(InvalidInput, match="'asset_id' has 1 empty values"):
        write(tmp_path, "telemetry", empty_required)
    with pytest.raises(InvalidInput, match="not allowed in a lake path"):
        write(tmp_path, "telemetry", rows(1, tenant="../etc"))
    assert not (tmp_path / "telemetry").exists()


def test_file_has_declared_schema(tmp_path: Path) -> None:
    from chengyun.lake.tables import get_table

    f = write(tmp_path, "telemetry", rows(1))[0]
    assert pq.read_schema(f).remove_metadata() == get_table("telemetry").schema
