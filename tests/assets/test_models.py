"""The registry's tables: the migration builds and removes them, the unique pair holds, the scope rules apply."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from chengyun.assets.models import Asset, AssetDependency
from chengyun.core.db import get_engine, migrate, session_scope
from chengyun.core.scoping import registered
from chengyun.core.settings import Settings
from tests.assets.conftest import CITY, EAST, WEST, make, scoped


def _alembic(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrate.__code__.co_filename).resolve().parent.parent / "migrations"))
    cfg.attributes["engine"] = get_engine(settings.db_url)
    return cfg


def _tables(settings: Settings) -> set[str]:
    return set(inspect(get_engine(settings.db_url)).get_table_names())


def test_migration_down_and_up_again(ws: Settings) -> None:
    assert {"assets", "asset_dependencies"} <= _tables(ws)
    command.downgrade(_alembic(ws), "0004")
    assert not {"assets", "asset_dependencies"} & _tables(ws)
    assert "cases" in _tables(ws)  # only 0005's tables went
    migrate(ws)
    assert {"assets", "asset_dependencies"} <= _tables(ws)
    indexes = {i["name"] for i in inspect(get_engine(ws.db_url)).get_indexes("assets")}
    assert {"ix_assets_tenant_id", "ix_assets_kind", "ix_assets_department_id"} <= indexes


def test_defaults_of_a_new_asset(city: Settings) -> None:
    with session_scope(city) as s:
        make(s, "CM-1", "camera", expected_interval_s=600)
        make(s, "APP-1", "application")
    with session_scope(city) as s:
        cam, app = s.get(Asset, "CM-1"), s.get(Asset, "APP-1")
        assert cam is not None and app is not None
        assert (cam.status, cam.criticality, cam.metric_count, cam.retired_at) == ("unknown", "medium", 1, None)
        assert app.metric_count == 0  # it does not report


def test_a_pair_is_recorded_once(city: Settings) -> None:
    with session_scope(city) as s:
        make(s, "A", "application")
        make(s, "B", "server")
    with pytest.raises(IntegrityError), session_scope(city) as s:
        s.add_all([AssetDependency(asset_id="A", depends_on_id="B", kind="runs-on"),
                   AssetDependency(asset_id="A", depends_on_id="B", kind="calls")])
        s.flush()


def test_both_tables_have_scope_rules() -> None:
    assert {Asset, AssetDependency} <= set(registered())


def test_a_district_sees_only_its_assets_and_their_dependencies(city: Settings) -> None:
    with session_scope(city) as s:
        make(s, "E-APP", "application", EAST)
        make(s, "W-APP", "application", WEST)
        make(s, "C-SRV", "server", CITY)
        s.add_all([AssetDependency(asset_id="E-APP", depends_on_id="C-SRV", kind="runs-on"),
                   AssetDependency(asset_id="W-APP", depends_on_id="C-SRV", kind="runs-on")])
    with scoped(city, EAST, "lj-east-port") as s:
        assert s.scalars(select(Asset.id).order_by(Asset.id)).all() == ["E-APP"]
        assert s.scalars(select(AssetDependency.asset_id)).all() == ["E-APP"]
        assert s.get(Asset, "W-APP") is None
