"""A third-party package extends chengyun through the ``chengyun.plugins`` entry point, like the built-ins do."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from chengyun.analytics import registry as registry_mod
from chengyun.indicators import catalog

PLUGIN = '''
from pathlib import Path
from chengyun.analytics.kit import ratio
from chengyun.analytics.registry import Input, Measure


def register(registry):
    registry.add_measure(Measure(
        name="water.night_case_share", title="夜间案件占比", title_en="Night case share", unit="ratio",
        direction="lower", description="Share of cases created at night.",
        inputs=(Input("cases", lambda t, c: {"night": t.count(where=t.created_at.hour() >= 14), "n": t.count()}),),
        combine=ratio("night", "n")))
    registry.add_pack_dir(Path(__file__).parent / "packs")
'''

PACK = '''
id: water-ops
version: "1"
title: 水务运营
scale: 100
stages: {bands: [{name: 起步, min: 0}]}
nodes:
  - {id: W1, name: 夜间案件, weight: 100, measure: water.night_case_share, scoring: {rule: linear, worst: 0.5, best: 0.1}}
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pkg = tmp_path / "water_chengyun"
    (pkg / "packs").mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    (pkg / "packs" / "water-ops.yaml").write_text(PACK, encoding="utf-8")
    info = tmp_path / "water_chengyun-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: water-chengyun\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[chengyun.plugins]\nwater = water_chengyun\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry_mod, "_REGISTRY", None)
    monkeypatch.setattr(catalog, "_CACHE", None)
    yield
    sys.modules.pop("water_chengyun", None)
    registry_mod._REGISTRY = None
    catalog._CACHE = None


def test_entry_point_plugin_adds_measures_and_packs(plugin: None) -> None:
    reg = registry_mod.get_registry()
    assert reg.plugins[0] == "builtin" and "water" in reg.plugins
    assert "water.night_case_share" in reg.measures
    assert "cases.ontime_closure_rate" in reg.measures  # built-ins arrive the same way
    pack = catalog.get_pack("water-ops")
    assert pack.node("W1").measure == "water.night_case_share"
    assert {"chengyun-operations", "cn-smartcity-2016", "cn-smartcity-2018"} <= set(catalog.available_packs())


def test_duplicate_measure_names_are_refused(plugin: None) -> None:
    from chengyun.core.errors import Conflict

    reg = registry_mod.get_registry()
    with pytest.raises(Conflict, match="registered twice"):
        reg.add_measure(reg.get("water.night_case_share"))
