"""The display kit shows every stored instant, even one outside what the local calendar can hold, and the
console's asset pages answer 200 for assets whose last reading was stored before inputs were bounded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chengyun.api.app import create_app
from chengyun.assets.models import Asset
from chengyun.core.db import migrate, session_scope
from chengyun.core.display import local_time, to_local, utc_offset_seconds
from chengyun.core.settings import Settings
from chengyun.tenancy.service import add_unit
from tests.api.conftest import bearer, login, make_user
from tests.assets.conftest import make

FAR = datetime(9999, 12, 31, 23, 59)  # naive UTC: year 10000 in Asia/Shanghai
EARLY = datetime(1, 1, 1, 0, 0)


def test_local_time_is_total() -> None:
    assert local_time(datetime(2026, 12, 8, 2, 30), "Asia/Shanghai") == "2026-12-08 10:30"  # +8 h by hand
    assert local_time("2026-12-08T02:30:00+00:00", "Asia/Shanghai") == "2026-12-08 10:30"
    assert local_time(FAR, "Asia/Shanghai") == "9999-12-31 23:59 UTC"
    assert local_time(EARLY, "America/New_York") == "0001-01-01 00:00 UTC"
    assert local_time(EARLY, "Asia/Shanghai") == "0001-01-01 08:05"  # Shanghai's local mean time then: +8:05:43
    assert local_time(None, "Asia/Shanghai") == local_time("not a time", "Asia/Shanghai") == "—"
    assert to_local(FAR, "Asia/Shanghai") is None
    assert utc_offset_seconds(datetime(2026, 1, 1), "Asia/Shanghai") == 8 * 3600
    assert utc_offset_seconds(FAR, "Asia/Shanghai") == 0


@pytest.fixture
def odd_city(tmp_path: Path, cheap_hashes: None) -> Settings:
    settings = Settings(workspace=tmp_path / "ws")
    migrate(settings)
    with session_scope(settings) as s:
        add_unit(session=s, unit_id="c", name="临江市")
    with session_scope(settings) as s:
        make(s, "far-1", "sensor", "c", name="远未来")
        make(s, "early-1", "sensor", "c", name="远过去")
    with session_scope(settings) as s:
        for asset_id, seen in (("far-1", FAR), ("early-1", EARLY)):
            asset = s.get(Asset, asset_id)
            assert asset is not None
            asset.status, asset.last_seen_at = "online", seen
    make_user(settings, "sup", "supervisor", "c")
    return settings


def test_asset_pages_show_out_of_range_times(odd_city: Settings) -> None:
    with TestClient(create_app(odd_city)) as client:
        headers = bearer(login(client, "sup"))
        for url in ("/assets", "/assets/far-1", "/assets/early-1", "/alarms", "/"):
            r = client.get(url, headers=headers)
            assert r.status_code == 200, (url, r.status_code, r.text[:300])
        assert "9999-12-31 23:59 UTC" in client.get("/assets/far-1", headers=headers).text
