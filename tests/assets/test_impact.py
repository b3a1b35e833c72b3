"""Impact analysis (影响分析) on a three-level chain, a diamond and across districts; expected sets by hand."""

from __future__ import annotations

import pytest

from chengyun.assets.graph import impact, walk, watched_measures
from chengyun.assets.service import add_dependency
from chengyun.core.db import session_scope
from chengyun.core.errors import NotFound
from chengyun.core.settings import Settings
from tests.assets.conftest import CITY, EAST, WEST, chain, make, scoped

INFRA = ["infra.asset_count", "infra.data_completeness", "infra.device_availability", "infra.online_rate",
         "infra.outage_mttr_hours"]


def test_the_measures_over_telemetry_and_assets() -> None:
    assert set(INFRA) <= set(watched_measures())
    assert "cases.ontime_closure_rate" not in watched_measures()


def test_three_level_chain(city: Settings) -> None:
    # SVC (service) → APP (application) → VM → SRV: an outage of SRV reaches all three above it
    with session_scope(city) as s:
        make(s, "SRV", "server")
        make(s, "VM", "vm")
        make(s, "APP", "application")
        make(s, "SVC", "service")
        make(s, "OTHER", "application")
        chain(s, "SVC", "APP", "VM", "SRV")
    with session_scope(city) as s:
        r = impact(s, "SRV")
    got = [(i.id, i.depth, i.path) for i in r.affected]
    assert got == [("VM", 1, ["SRV", "VM"]), ("APP", 2, ["SRV", "VM", "APP"]),
                   ("SVC", 3, ["SRV", "VM", "APP", "SVC"])]
    assert (r.applications, r.hidden) == (2, 0)  # APP and SVC
    apps = {i.id: i.measures for i in r.affected}
    assert set(INFRA) <= set(apps["APP"]) and apps["VM"] == [] and apps["SVC"] == []
    with session_scope(city) as s:
        assert [i.id for i in impact(s, "APP").affected] == ["SVC"]
        assert impact(s, "SVC").affected == []
        assert list(walk(s, "SVC", dependants=False)) == ["APP", "VM", "SRV"]  # the other way round


def test_diamond(city: Settings) -> None:
    # TOP depends on LEFT and RIGHT, both depend on BASE; TOP is reached twice but listed once, at depth 2
    with session_scope(city) as s:
        for asset_id, kind in (("BASE", "network-link"), ("LEFT", "gateway"), ("RIGHT", "server"),
                               ("TOP", "information-system"), ("TOP2", "service")):
            make(s, asset_id, kind)
        chain(s, "TOP", "LEFT", "BASE")
        chain(s, "TOP", "RIGHT", "BASE")
        chain(s, "TOP2", "TOP")
        add_dependency(s, "TOP2", "BASE")  # a shortcut: TOP2 also at depth 1
    with session_scope(city) as s:
        r = impact(s, "BASE")
    got = {i.id: (i.depth, i.path) for i in r.affected}
    assert got == {"LEFT": (1, ["BASE", "LEFT"]), "RIGHT": (1, ["BASE", "RIGHT"]), "TOP2": (1, ["BASE", "TOP2"]),
                   "TOP": (2, ["BASE", "LEFT", "TOP"])}  # of the two shortest paths, the one via the smaller id
    assert [i.id for i in r.affected] == ["LEFT", "RIGHT", "TOP2", "TOP"]
    assert r.applications == 2


def test_a_district_sees_its_own_affected_assets_and_a_count_of_the_rest(city: Settings) -> None:
    # the east's cloud host runs a VM of each district; each VM runs an application of its district
    with session_scope(city) as s:
        make(s, "CLOUD", "cloud-resource", EAST)
        make(s, "C-LINK", "network-link", CITY)
        make(s, "E-VM", "vm", EAST)
        make(s, "E-APP", "application", EAST)
        make(s, "W-VM", "vm", WEST)
        make(s, "W-APP", "application", WEST)
        make(s, "E-SVC", "service", EAST)
        chain(s, "E-APP", "E-VM", "CLOUD")
        chain(s, "W-APP", "W-VM", "CLOUD")
        chain(s, "E-SVC", "W-APP")  # an east service provided by a west application
    with scoped(city, CITY, EAST, WEST, "lj-east-port") as s:
        assert len(impact(s, "CLOUD").affected) == 5
    with scoped(city, EAST, "lj-east-port") as s:
        assert impact(s, "E-VM").hidden == 0
        with pytest.raises(NotFound, match="no asset 'C-LINK'"):
            impact(s, "C-LINK")  # the city's asset is not the east's to ask about
        r = impact(s, "CLOUD")
    assert {i.id: i.path for i in r.affected} == {"E-VM": ["CLOUD", "E-VM"], "E-APP": ["CLOUD", "E-VM", "E-APP"],
                                                   "E-SVC": ["CLOUD", "…", "…", "E-SVC"]}
    assert r.hidden == 2  # W-VM and W-APP
