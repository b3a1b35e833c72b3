"""Importing the registry: a messy GBK CSV (``data/registry-gbk.csv``), an Excel file, re-import, the rejects
file with each reason, dependencies resolved after every row is in — on SQLite and on PostgreSQL.

What the CSV holds (imported into 东区 ``lj-east``), worked out by hand:

=========  ==================================================================  =====================
row        what is wrong                                                       outcome
=========  ==================================================================  =====================
GW-01      — (its dependency LINK-01 comes later in the file)                  added
LINK-01    —                                                                   added
NS-01      —                                                                   added
APP-01     —                                                                   added
SRV-01     — (owned by the city's ``water`` department)                        added
BAD-KIND   kind ``lamp``                                                       rejected: kind
BAD-DATE   installed_at ``2024-13-45``                                         rejected: installed_at
NS-01      the same id again                                                   rejected: id
ORPHAN     depends on GHOST-9, in neither the file nor the registry            rejected: depends_on
W-01       unit ``lj-west`` is not under ``lj-east``                           rejected: unit
=========  ==================================================================  =====================
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from chengyun.assets.graph import impact
from chengyun.assets.importer import ImportReport, import_assets
from chengyun.assets.models import Asset, AssetDependency
from chengyun.core.db import session_scope
from chengyun.core.errors import InvalidInput, NotFound
from chengyun.core.settings import Settings
from tests.assets.conftest import EAST, PORT

DATA = Path(__file__).parent / "data" / "registry-gbk.csv"
EDGES = {("GW-01", "LINK-01", "connects-through"), ("NS-01", "GW-01", "connects-through"),
         ("APP-01", "SRV-01", "runs-on"), ("APP-01", "NS-01", "reads-from"), ("SRV-01", "LINK-01", "connects-through")}


def _import(settings: Settings, path: Path, rejects: Path | None = None) -> ImportReport:
    with session_scope(settings) as s:
        return import_assets(s, path, EAST, rejects_path=rejects)


def _edges(settings: Settings) -> set[tuple[str, str, str]]:
    with session_scope(settings) as s:
        return set(s.execute(select(AssetDependency.asset_id, AssetDependency.depends_on_id,
                                    AssetDependency.kind)).tuples())


def _rejects(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8-sig") as fh:
        return {r["编号"]: r["reason"] for r in csv.DictReader(fh)}


def test_the_file_is_gbk_without_a_bom() -> None:
    raw = DATA.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("gbk").startswith("编号,名称,类型")


def test_messy_csv(city: Settings, tmp_path: Path) -> None:
    r = _import(city, DATA, tmp_path / "rejects.csv")
    assert (r.read, r.added, r.updated, r.rejected, r.dependencies) == (10, 5, 0, 5, 5)
    assert r.encoding == "gb18030"
    assert r.reasons == {"kind": 1, "installed_at": 1, "id": 1, "depends_on": 1, "unit": 1}
    reasons = _rejects(tmp_path / "rejects.csv")
    assert set(reasons) == {"BAD-KIND", "BAD-DATE", "NS-01", "ORPHAN", "W-01"}
    assert reasons["BAD-KIND"].startswith("kind: 'lamp' is not a kind of asset; use one of sensor, camera")
    assert reasons["BAD-DATE"].startswith("installed_at: '2024-13-45' is not a date; write 2024-03-01")
    assert reasons["NS-01"].startswith("id: 'NS-01' appears earlier in this file (row 4)")
    assert reasons["ORPHAN"].startswith("depends_on: 'GHOST-9' is not in the registry")
    assert reasons["W-01"].startswith("unit: 'lj-west' is not lj-east or a unit below it")
    with session_scope(city) as s:
        assets = {a.id: a for a in s.scalars(select(Asset))}
    assert sorted(assets) == ["APP-01", "GW-01", "LINK-01", "NS-01", "SRV-01"]
    gw, ns, app, link = assets["GW-01"], assets["NS-01"], assets["APP-01"], assets["LINK-01"]
    assert (gw.tenant_id, gw.department_id, gw.operator, gw.lat, gw.lon, gw.criticality) == (
        PORT, "east-cg", "甲运维公司", 26.07, 119.30, "high")
    assert (gw.expected_interval_s, gw.metric_count, gw.attributes) == (600, 1, {"型号": "H3C"})
    # local dates of Asia/Shanghai, stored as UTC
    assert gw.installed_at == datetime(2024, 2, 29, 16, 0)
    assert ns.installed_at == datetime(2024, 3, 4, 16, 0)
    assert app.installed_at == datetime(2024, 1, 10, 1, 30)
    assert (link.tenant_id, link.criticality, link.expected_interval_s, link.metric_count) == (EAST, "critical",
                                                                                              None, 0)
    assert assets["SRV-01"].department_id == "water"
    assert _edges(city) == EDGES


def test_reimport_updates_and_never_duplicates(city: Settings, tmp_path: Path) -> None:
    _import(city, DATA)
    with session_scope(city) as s:
        first = {a.id: a.updated_at for a in s.scalars(select(Asset))}
    r = _import(city, DATA, tmp_path / "again.csv")
    assert (r.read, r.added, r.updated, r.unchanged, r.rejected) == (10, 0, 5, 5, 5)
    with session_scope(city) as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 5
        assert {a.id: a.updated_at for a in s.scalars(select(Asset))} == first  # nothing changed, nothing touched
    assert _edges(city) == EDGES


def test_excel_changes_and_a_cycle(city: Settings, tmp_path: Path) -> None:
    _import(city, DATA)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "name", "kind", "operator", "depends_on", "installed_at"])
    sheet.append(["APP-01", "城管应用", "application", "丙软件公司", "SRV-01", None])
    sheet.append(["CM-01", "摄像机", "camera", "甲运维公司", "GW-01", datetime(2024, 5, 1, 8, 0)])
    sheet.append(["SRV-01", "应用服务器", "server", "云公司", "APP-01", None])
    book.save(tmp_path / "changes.xlsx")
    r = _import(city, tmp_path / "changes.xlsx", tmp_path / "rejects.csv")
    assert (r.read, r.added, r.updated, r.unchanged, r.rejected) == (3, 1, 1, 0, 1)
    with (tmp_path / "rejects.csv").open(encoding="utf-8-sig") as fh:
        reasons = {row["id"]: row["reason"] for row in csv.DictReader(fh)}
    assert reasons == {"SRV-01": "depends_on: SRV-01 → APP-01 would close a cycle: SRV-01 → APP-01 → SRV-01; "
                                 "dependencies must not go round — remove one"}
    with session_scope(city) as s:
        app, cam = s.get(Asset, "APP-01"), s.get(Asset, "CM-01")
        assert app is not None and cam is not None
        assert (app.operator, app.installed_at, app.department_id) == ("丙软件公司", None, "east-cg")
        assert (cam.tenant_id, cam.installed_at) == (EAST, datetime(2024, 5, 1, 0, 0))
    # APP-01 now depends on SRV-01 only; SRV-01 (rejected) keeps its link; CM-01 connects through GW-01
    expected = EDGES - {("APP-01", "NS-01", "reads-from")} | {("CM-01", "GW-01", "connects-through")}
    assert _edges(city) == expected
    with session_scope(city) as s:
        assert [(i.id, i.path) for i in impact(s, "LINK-01").affected] == [
            ("GW-01", ["LINK-01", "GW-01"]), ("SRV-01", ["LINK-01", "SRV-01"]),
            ("APP-01", ["LINK-01", "SRV-01", "APP-01"]), ("CM-01", ["LINK-01", "GW-01", "CM-01"]),
            ("NS-01", ["LINK-01", "GW-01", "NS-01"])]


def test_a_rejected_row_takes_the_rows_that_need_it_along(city: Settings, tmp_path: Path) -> None:
    path = tmp_path / "cascade.csv"
    path.write_text("id,name,kind,depends_on\nA,a,application,B\nB,b,vm,C\nC,c,lamp,\n", encoding="utf-8")
    r = _import(city, path, tmp_path / "rejects.csv")
    assert (r.added, r.rejected) == (0, 3)
    with (tmp_path / "rejects.csv").open(encoding="utf-8-sig") as fh:
        reasons = {row["id"]: row["reason"].split(";")[0] for row in csv.DictReader(fh)}
    assert reasons == {"C": "kind: 'lamp' is not a kind of asset",
                       "B": "depends_on: 'C' is not in the registry, and in this file missing or rejected",
                       "A": "depends_on: 'B' is not in the registry, and in this file missing or rejected"}


def test_a_file_without_the_required_columns(city: Settings, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("编号,名称\nX,x\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no column for kind"):
        _import(city, path)
    with pytest.raises(NotFound, match="tenant: no unit 'nowhere'"), session_scope(city) as s:
        import_assets(s, DATA, "nowhere")
