"""``chengyun assets …`` through the command line (``--json``), and the registry's snapshot in the lake."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from chengyun.analytics.engine import connect
from chengyun.assets.export import export_assets
from chengyun.assets.service import retire_asset
from chengyun.cli.main import app
from chengyun.core.db import migrate, session_scope
from chengyun.core.settings import Settings
from chengyun.lake.reader import read
from tests.assets.conftest import CITY, EAST, PORT, WEST, make
from tests.assets.test_import import DATA


def _workspace(tmp_path: Path) -> Settings:
    settings = Settings(workspace=tmp_path / "ws")
    migrate(settings)
    from chengyun.tenancy.service import add_department, add_unit

    with session_scope(settings) as s:
        add_unit(session=s, unit_id=CITY, name="临江市")
        add_unit(session=s, unit_id=EAST, name="东区", parent_id=CITY)
        add_unit(session=s, unit_id=PORT, name="港口街道", parent_id=EAST)
        add_unit(session=s, unit_id=WEST, name="西区", parent_id=CITY)
        add_department(session=s, department_id="water", tenant_id=CITY, name="市水务局")
        add_department(session=s, department_id="east-cg", tenant_id=EAST, name="东区城管局")
    return settings


def _run(settings: Settings, *args: str) -> dict:
    result = CliRunner().invoke(app, [*args, "--json", "--workspace", str(settings.workspace)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    out = _run(ws, "assets", "import", str(DATA), "--tenant", EAST, "--rejects", str(tmp_path / "r.csv"))
    assert (out["added"], out["updated"], out["rejected"], out["rejects"]) == (5, 0, 5, str(tmp_path / "r.csv"))
    listed = _run(ws, "assets", "list", "--tenant", PORT)
    assert ([a["id"] for a in listed["items"]], listed["total"]) == (["GW-01", "NS-01"], 2)
    assert [a["id"] for a in _run(ws, "assets", "list", "--kind", "compute")["items"]] == ["SRV-01"]
    assert [a["id"] for a in _run(ws, "assets", "list", "--department", "water")["items"]] == ["SRV-01"]
    shown = _run(ws, "assets", "show", "APP-01")
    assert (shown["name"], shown["kind_zh"], shown["asset_class"]) == ("城管应用", "应用", "application")
    assert [(d["depends_on_id"], d["kind"]) for d in shown["dependencies"]] == [("NS-01", "reads-from"),
                                                                              ("SRV-01", "runs-on")]
    assert _run(ws, "assets", "show", "NS-01")["dependants"][0]["asset_id"] == "APP-01"
    hit = _run(ws, "assets", "impact", "GW-01")
    assert [(i["id"], i["depth"]) for i in hit["affected"]] == [("NS-01", 1), ("APP-01", 2)]
    assert hit["applications"] == 1 and "infra.device_availability" in hit["measures"]
    tree = CliRunner().invoke(app, ["assets", "impact", "GW-01", "--workspace", str(ws.workspace)])
    assert tree.exit_code == 0 and "NS-01" in tree.output and "APP-01" in tree.output
    missing = CliRunner().invoke(app, ["assets", "show", "NOPE", "--workspace", str(ws.workspace)])
    assert missing.exit_code != 0


def test_export_to_the_lake(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    with session_scope(ws) as s:
        make(s, "NS-1", "sensor", PORT, department="east-cg", expected_interval_s=300, metric_count=3,
             installed_at=datetime(2024, 3, 1, 0, 0), criticality="high")
        make(s, "APP-W", "application", WEST)
    with session_scope(ws) as s:
        assert export_assets(ws, s) == 2
    with session_scope(ws) as s:
        assert export_assets(ws, s) == 0  # the lake holds these rows already
    rows = {r["asset_id"]: r for r in read(ws.lake, "assets", [EAST, WEST]).to_pylist()}
    ns = rows["NS-1"]
    assert (ns["tenant"], ns["unit_id"], ns["asset_type"], ns["department_id"], ns["criticality"]) == (
        EAST, PORT, "sensor", "east-cg", "high")  # the street's sensor in its district's partition
    assert (ns["expected_interval_s"], ns["metric_count"], ns["installed_at"], ns["retired_at"]) == (
        300, 3, datetime(2024, 3, 1), None)
    assert rows["APP-W"]["tenant"] == WEST
    with session_scope(ws) as s:
        retire_asset(s, "NS-1", at=datetime(2026, 6, 1))
        assert export_assets(ws, s) == 1  # a new version of the retired sensor
    versions = [r for r in read(ws.lake, "assets", [EAST]).to_pylist() if r["asset_id"] == "NS-1"]
    assert sorted(str(v["retired_at"]) for v in versions) == ["2026-06-01 00:00:00", "None"]
    # the first row stands since the installation, the retirement since it was recorded (today)
    since = {str(v["retired_at"]): v["version_at"] for v in versions}
    assert since["None"] == datetime(2024, 3, 1) and since["2026-06-01 00:00:00"] > datetime(2026, 6, 1)


def test_a_device_registered_today_stood_in_past_periods(tmp_path: Path) -> None:
    """Read as it stood at the end of 2024 (the version made before then), the sensor installed in March 2024
    and registered today is there."""
    ws = _workspace(tmp_path)
    with session_scope(ws) as s:
        make(s, "NS-1", "sensor", PORT, expected_interval_s=300, installed_at=datetime(2024, 3, 1))
        export_assets(ws, s)
    engine = connect(ws, "duckdb")
    try:
        stood = engine.execute(engine.asof_table("assets", [EAST], datetime(2025, 1, 1)))
    finally:
        engine.close()
    assert list(stood["asset_id"]) == ["NS-1"]
