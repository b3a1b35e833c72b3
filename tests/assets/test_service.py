"""Registering, changing, retiring and finding assets; dependencies and the cycles they may not close."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from chengyun.accounts.models import AuditEntry
from chengyun.assets.models import Asset
from chengyun.assets.schemas import AssetCreate, AssetUpdate
from chengyun.assets.service import (
    add_dependency,
    dependants,
    dependencies,
    get_asset,
    list_assets,
    remove_dependency,
    retire_asset,
    update_asset,
)
from chengyun.core.db import session_scope
from chengyun.core.errors import Conflict, InvalidInput, NotFound
from chengyun.core.settings import Settings
from tests.assets.conftest import CITY, EAST, PORT, WEST, chain, make, scoped


def test_add_and_get(city: Settings) -> None:
    with session_scope(city) as s:
        make(s, "CM-1", "camera", PORT, name="港口摄像机", department="east-cg", lat=26.07, lon=119.3,
             installed_at=datetime.fromisoformat("2026-03-01T08:00:00+08:00"), criticality="high")
    with session_scope(city) as s:
        a = get_asset(s, "CM-1")
        assert (a.tenant_id, a.name, a.department_id, a.criticality) == (PORT, "港口摄像机", "east-cg", "high")
        assert a.installed_at == datetime(2026, 3, 1, 0, 0)  # stored as naive UTC
        assert s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == "CM-1")).all() == ["asset.create"]


@pytest.mark.parametrize(("fields", "error", "words"), [
    ({"department": "nobody"}, NotFound, "department: no department 'nobody'"),
    ({"tenant": "nowhere"}, NotFound, "tenant: no unit 'nowhere'"),
])
def test_add_refuses_unknown_references(city: Settings, fields: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words), session_scope(city) as s:
        given = dict(fields)  # the parameter is shared by the SQLite and PostgreSQL runs
        make(s, "X-1", "sensor", given.pop("tenant", EAST), **given)


def test_add_refuses_a_taken_id_even_in_another_district(city: Settings) -> None:
    with session_scope(city) as s:
        make(s, "SAME", "sensor", WEST)
    with pytest.raises(Conflict, match="asset 'SAME' exists already"), scoped(city, EAST, PORT) as s:
        make(s, "SAME", "sensor", EAST)


def test_schema_refuses_bad_values() -> None:
    with pytest.raises(ValidationError, match="kind"):
        AssetCreate(id="L-1", name="路灯", kind="lamp", tenant=EAST)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="lat and lon"):
        AssetCreate(id="L-1", name="路灯", kind="sensor", tenant=EAST, lat=26.0)
    with pytest.raises(ValidationError, match="id"):
        AssetCreate(id="has space", name="x", kind="sensor", tenant=EAST)


def test_update_changes_only_what_is_given(city: Settings) -> None:
    with session_scope(city) as s:
        make(s, "SRV-1", "server", EAST, operator="甲公司", criticality="critical")
    with session_scope(city) as s:
        update_asset(s, "SRV-1", AssetUpdate(operator="乙公司", tenant=WEST, expected_interval_s=60))
    with session_scope(city) as s:
        a = get_asset(s, "SRV-1")
        assert (a.operator, a.tenant_id, a.criticality, a.expected_interval_s, a.metric_count) == (
            "乙公司", WEST, "critical", 60, 1)
    with pytest.raises(InvalidInput, match="lat/lon"), session_scope(city) as s:
        update_asset(s, "SRV-1", AssetUpdate(lat=26.0))


def test_retire(city: Settings) -> None:
    with session_scope(city) as s:
        make(s, "NS-1", "sensor")
        retire_asset(s, "NS-1", at=datetime(2026, 6, 30, 16, 0), reason="拆除")
    with session_scope(city) as s:
        a = get_asset(s, "NS-1")
        assert (a.status, a.retired_at) == ("retired", datetime(2026, 6, 30, 16, 0))
    with pytest.raises(Conflict, match="retired already"), session_scope(city) as s:
        retire_asset(s, "NS-1")


def test_list_filters(city: Settings) -> None:
    with session_scope(city) as s:
        make(s, "CM-1", "camera", PORT, name="港口摄像机", department="east-cg")
        make(s, "CM-2", "camera", WEST, name="西区摄像机", department="west-cg")
        make(s, "GW-1", "gateway", EAST, name="东区网关", department="east-cg")
        make(s, "SRV-1", "server", CITY, name="市政务云主机", department="water")
        make(s, "ODD-1", "sensor", EAST, name="负载100%")
        retire_asset(s, "GW-1")

    def ids(**kw: object) -> list[str]:
        with session_scope(city) as s:
            items, total = list_assets(s, **kw)  # type: ignore[arg-type]
            assert total == len(items)
            return [a.id for a in items]

    assert ids() == ["CM-1", "CM-2", "GW-1", "ODD-1", "SRV-1"]
    assert ids(tenant=EAST) == ["CM-1", "GW-1", "ODD-1"]  # the subtree: the street's camera too
    assert ids(kind="camera") == ["CM-1", "CM-2"]
    assert ids(kind="device") == ["CM-1", "CM-2", "GW-1", "ODD-1"]  # a class
    assert ids(department="east-cg") == ["CM-1", "GW-1"]
    assert ids(status="retired") == ["GW-1"]
    assert ids(q="摄像机") == ["CM-1", "CM-2"]
    assert ids(q="srv") == ["SRV-1"]  # the id, any case
    assert ids(q="%") == ["ODD-1"]  # % is text, not a wildcard
    assert ids(q="M_") == []  # nor is _
    with session_scope(city) as s:
        items, total = list_assets(s, limit=2, offset=1)
        assert ([a.id for a in items], total) == (["CM-2", "GW-1"], 5)
    with pytest.raises(InvalidInput, match="neither a kind nor a class"), session_scope(city) as s:
        list_assets(s, kind="lamp")


def test_dependencies_and_dependants(city: Settings) -> None:
    with session_scope(city) as s:
        make(s, "APP", "application")
        make(s, "VM", "vm")
        make(s, "DS", "dataset")
        add_dependency(s, "APP", "VM")
        add_dependency(s, "APP", "DS", "reads-from")
        add_dependency(s, "APP", "VM", "depends-on")  # again: the kind changes, no second row
    with session_scope(city) as s:
        assert [(d.depends_on_id, d.kind) for d in dependencies(s, "APP")] == [("DS", "reads-from"),
                                                                              ("VM", "depends-on")]
        assert [d.asset_id for d in dependants(s, "VM")] == ["APP"]
        remove_dependency(s, "APP", "VM")
        assert [d.depends_on_id for d in dependencies(s, "APP")] == ["DS"]


def test_default_dependency_kind_follows_the_target(city: Settings) -> None:
    with session_scope(city) as s:
        for asset_id, kind in (("APP", "application"), ("SRV", "server"), ("LINK", "network-link"),
                               ("DISK", "storage")):
            make(s, asset_id, kind)
        for target in ("SRV", "LINK", "DISK"):
            add_dependency(s, "APP", target)
        assert {d.depends_on_id: d.kind for d in dependencies(s, "APP")} == {
            "SRV": "runs-on", "LINK": "connects-through", "DISK": "stored-on"}


def test_unknown_assets_and_kinds_are_refused(city: Settings) -> None:
    with session_scope(city) as s:
        make(s, "APP", "application")
    with pytest.raises(NotFound, match="depends_on: no asset 'GHOST'"), session_scope(city) as s:
        add_dependency(s, "APP", "GHOST")
    with pytest.raises(NotFound, match="no asset 'GHOST'"), session_scope(city) as s:
        add_dependency(s, "GHOST", "APP")
    with session_scope(city) as s:
        make(s, "SRV", "server")
    with pytest.raises(InvalidInput, match="'powers' is not a kind of dependency"), session_scope(city) as s:
        add_dependency(s, "APP", "SRV", "powers")


def test_cycles_are_refused_naming_the_cycle(city: Settings) -> None:
    with session_scope(city) as s:
        for asset_id in ("A", "B", "C"):
            make(s, asset_id, "application")
        chain(s, "A", "B", "C")  # A → B → C
    with pytest.raises(Conflict, match="would close a cycle: C → A → B → C"), session_scope(city) as s:
        add_dependency(s, "C", "A")
    with pytest.raises(Conflict, match="cycle: B → B"), session_scope(city) as s:
        add_dependency(s, "B", "B")
    with session_scope(city) as s:  # nothing was stored by the refused ones
        assert [d.depends_on_id for d in dependencies(s, "C")] == []
        assert s.scalar(select(Asset.id).where(Asset.id == "C")) == "C"
