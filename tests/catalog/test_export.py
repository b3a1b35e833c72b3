"""The domain's export into the lake and the data measures over it, against numbers worked out by hand.

Two datasets of the east district: A (无条件共享, fully catalogued) and B (有条件共享, no summary: not catalogued).
Sharing requests in November 2026, with the days to decide::

    r1 A east-data  Nov 2, granted at once        0 d     read twice
    r2 B west-cg    Nov 3, approved Nov 5          2 d     read once
    r3 B east-data  Nov 4, refused Nov 10          6 d
    r4 B west-cg    Nov 6, pending                 —
    r5 A west-cg    Nov 7, granted at once         0 d     read once
    r6 B market     Nov 8, approved Nov 11         3 d

Median days over the five decided: [0, 0, 2, 3, 6] → 2. Fulfilment: 4 granted of 6. Reads: 4; datasets read by
two departments or more: A (east-data, west-cg) of A and B → 0.5. The quality run of A (see conftest) checks and
fails, per dimension: conformity 10/2, completeness 10/1, accuracy 20/1, consistency 2/1 → overall
100 × (1 − 5/42).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from chengyun.analytics.engine import connect
from chengyun.analytics.runner import make_context, run_measures
from chengyun.catalog import quality, service, sharing
from chengyun.catalog.entry import CatalogEntry
from chengyun.catalog.export import export_catalog
from chengyun.catalog.models import DatasetUpdate
from chengyun.core.db import session_scope
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from tests.analytics.test_measures import engine_name  # noqa: F401  (the DuckDB/Spark fixture)

from .conftest import EAST, RULES, write_enterprises

NOV = datetime(2026, 11, 1)
ENTRY = {"code": "A-1", "name": "企业登记", "provider": "east-data", "summary": "企业登记信息", "format": "CSV",
         "sharing_type": "无条件共享", "update_cycle": "每日"}


def _day(d: int, h: int = 9) -> datetime:
    return datetime(2026, 11, d, h)


def _build(settings: Settings, tmp_path: Path) -> None:
    path = write_enterprises(tmp_path / "e.csv")
    with session_scope(settings) as s:
        a, _ = service.add_dataset(s, settings, source=str(path), name="a", tenant=EAST, provider="east-data")
        b, _ = service.add_dataset(s, settings, source=str(path), name="b", tenant=EAST, provider="east-data")
        # registered on 1 November, before the month measured (not at the clock's today)
        for ds in (a, b):
            ds.created_at = ds.updated_at = _day(1, 8)
        s.execute(update(DatasetUpdate).values(updated_at=_day(1, 8)))
        service.apply_entry(s, a, CatalogEntry.model_validate(ENTRY))
        service.apply_entry(s, b, CatalogEntry.model_validate(ENTRY | {"code": "B-1", "summary": None,
                                                                      "sharing_type": "有条件共享"}))
        quality.run_quality(settings, s, a, rules=RULES, now=_day(10))

        def ask(ds: object, dept: str, day: int) -> tuple[object, str | None]:
            return sharing.request_access(s, ds, department=dept, purpose="核查", at=_day(day))  # type: ignore[arg-type]

        r1, t1 = ask(a, "east-data", 2)
        r2, _ = ask(b, "west-cg", 3)
        t2 = sharing.decide(s, r2, approve=True, at=_day(5))  # type: ignore[arg-type]
        r3, _ = ask(b, "east-data", 4)
        sharing.decide(s, r3, approve=False, note="字段超出用途", at=_day(10))  # type: ignore[arg-type]
        ask(b, "west-cg", 6)
        r5, t5 = ask(a, "west-cg", 7)
        r6, _ = ask(b, "market", 8)
        sharing.decide(s, r6, approve=True, at=_day(11))  # type: ignore[arg-type]
        for req, day in ((r1, 12), (r1, 13), (r2, 12), (r5, 14)):
            sharing.read_rows(settings, s, req, limit=5, at=_day(day))  # type: ignore[arg-type]
        assert t1 and t2 and t5


def test_export_then_measures_by_hand(city: Settings, tmp_path: Path, engine_name: str) -> None:  # noqa: F811
    _build(city, tmp_path)
    with session_scope(city) as s:
        written = export_catalog(city, s)
    assert written == {"datasets": 2, "dataset_updates": 2, "quality_results": 4, "sharing_requests": 6,
                       "data_access": 4}
    with session_scope(city) as s:
        again = export_catalog(city, s)
    assert set(again.values()) == {0}, again  # nothing twice
    eng = connect(city, engine_name)
    try:
        ctx = make_context(eng, [EAST], parse_period("2026-11"), "Asia/Shanghai", None)
        names = ["data.quality_score", "data.quality_conformity", "data.quality_completeness", "data.quality_accuracy",
                 "data.quality_consistency", "data.quality_timeliness", "data.sharing_median_days",
                 "data.sharing_fulfilment_rate", "data.reuse_rate", "data.access_calls", "data.catalog_coverage"]
        got = {k: v.value for k, v in run_measures(eng, names, ctx).items()}
    finally:
        eng.close()
    assert got["data.quality_score"] == pytest.approx(100 * (1 - 5 / 42))
    assert got["data.quality_conformity"] == pytest.approx(80.0)
    assert got["data.quality_completeness"] == pytest.approx(90.0)
    assert got["data.quality_accuracy"] == pytest.approx(95.0)
    assert got["data.quality_consistency"] == pytest.approx(50.0)
    assert got["data.quality_timeliness"] is None  # no timeliness rule ran: no data, not zero
    assert got["data.sharing_median_days"] == pytest.approx(2.0)
    assert got["data.sharing_fulfilment_rate"] == pytest.approx(4 / 6)
    assert got["data.reuse_rate"] == pytest.approx(0.5)
    assert got["data.access_calls"] == 4
    assert got["data.catalog_coverage"] == pytest.approx(0.5)


def test_a_decided_request_is_a_new_version(city: Settings, tmp_path: Path) -> None:
    """A request exported while pending, then decided: the lake holds both versions, and the period of the
    request reads the latest (granted)."""
    path = write_enterprises(tmp_path / "e.csv")
    with session_scope(city) as s:
        b, _ = service.add_dataset(s, city, source=str(path), name="b", tenant=EAST, provider="east-data")
        req, _ = sharing.request_access(s, b, department="west-cg", purpose="核查", at=datetime(2026, 10, 30))
        assert export_catalog(city, s)["sharing_requests"] == 1
        sharing.decide(s, req, approve=True, at=datetime(2026, 11, 2))
        assert export_catalog(city, s)["sharing_requests"] == 1  # the decided version
    eng = connect(city, "duckdb")
    try:
        t = eng.period_table("sharing_requests", [EAST], datetime(2026, 10, 1), datetime(2026, 11, 1))
        rows = eng.execute(t.select("request_id", "decided_at", "granted")).to_dict("records")
    finally:
        eng.close()
    assert len(rows) == 1 and rows[0]["granted"] is True  # period_table: the latest version of a fact counts


def test_period_ranking_reads_the_lake(city: Settings, tmp_path: Path) -> None:
    """The department's period score is the same ratio as data.quality_score: 100 × (1 − 5/42)."""
    from chengyun.catalog.ranking import period_ranking

    _build(city, tmp_path)
    rows = period_ranking(city, tenants=[EAST], period=parse_period("2026-11"), tz="Asia/Shanghai")
    assert [(r["department_id"], r["datasets"], r["checked"], r["failed"]) for r in rows] == [("east-data", 1, 42, 5)]
    assert rows[0]["score"] == pytest.approx(100 * (1 - 5 / 42)) and rows[0]["rank"] == 1
    assert period_ranking(city, tenants=[EAST], period=parse_period("2026-10"), tz="Asia/Shanghai") == []


def test_the_catalogue_as_it_stood(city: Settings, tmp_path: Path) -> None:
    """A dataset registered in October appears in October's catalogue even when first exported later; a change
    exported after that is a new version, which October does not see."""
    from chengyun.catalog.models import Dataset

    path = write_enterprises(tmp_path / "e.csv")
    with session_scope(city) as s:
        ds, _ = service.add_dataset(s, city, source=str(path), name="a", tenant=EAST, provider="east-data")
        ds.created_at = datetime(2026, 10, 5)
        service.apply_entry(s, ds, CatalogEntry.model_validate(ENTRY))  # catalogued now
        export_catalog(city, s)
    with session_scope(city) as s:
        got = s.get(Dataset, ds.id)
        assert got is not None
        got.summary, got.catalogued, got.updated_at = None, False, datetime(2026, 11, 20)
        assert export_catalog(city, s)["datasets"] == 1

    def coverage(period: str) -> float | None:
        eng = connect(city, "duckdb")
        try:
            ctx = make_context(eng, [EAST], parse_period(period), "Asia/Shanghai", None)
            return run_measures(eng, ["data.catalog_coverage"], ctx)["data.catalog_coverage"].value
        finally:
            eng.close()

    assert coverage("2026-10") == 1.0  # the first known version, counted from registration
    assert coverage("2026-11") == 0.0  # the later version
