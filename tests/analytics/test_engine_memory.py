"""The DuckDB engine keeps to the workspace's memory limit and spills into the workspace."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from chengyun.analytics.engine import DuckDBEngine, connect
from chengyun.core.settings import Settings


def _setting(engine: DuckDBEngine, name: str) -> str:
    return str(engine.con.con.execute(f"SELECT current_setting('{name}')").fetchone()[0])


def test_default_limit_and_spill_folder(tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path)
    engine = connect(settings, "duckdb")
    assert isinstance(engine, DuckDBEngine)
    try:
        # DuckDB reports the limit in its own units: 2.5 GB = 2,500,000,000 bytes ≈ 2.3 GiB
        assert _setting(engine, "memory_limit") in ("2.3 GiB", "2.5 GB")
        assert Path(_setting(engine, "temp_directory")) == tmp_path / "tmp" / "duckdb"
    finally:
        engine.close()


@pytest.mark.slow  # about 12 s
def test_a_query_larger_than_the_limit_spills_and_answers(tmp_path: Path) -> None:
    engine = DuckDBEngine.from_settings(Settings(workspace=tmp_path, duckdb_memory_limit="512MB"), threads=1)
    try:
        # 20 M distinct 20-character keys: unlimited, this process grows by about 1.3 GB; within 512 MB DuckDB
        # must spill its hash table (too small a limit, under about 300 MB, fails instead: it is not spill-proof)
        count = engine.con.con.execute(
            "SELECT count(DISTINCT lpad(CAST(i AS VARCHAR), 20, 'x')) FROM range(20000000) t(i)"
        ).fetchone()[0]
        assert count == 20_000_000
    finally:
        engine.close()


def test_empty_limit_leaves_duckdb_default(tmp_path: Path) -> None:
    engine = DuckDBEngine.from_settings(Settings(workspace=tmp_path, duckdb_memory_limit=""))
    try:
        assert _setting(engine, "memory_limit") not in ("2.3 GiB", "2.5 GB")
    finally:
        engine.close()


@pytest.mark.parametrize("bad", ["lots", "2.5", "-1GB", "2.5 PB"])
def test_a_limit_without_unit_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValidationError, match="duckdb_memory_limit"):
        Settings(workspace=tmp_path, duckdb_memory_limit=bad)
