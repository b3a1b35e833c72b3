"""The demo city generator: the state DB tree, lake tables that fit their schemas, the span, determinism, and
trends checked independently from the Parquet files (pandas), not from the generator's own figures."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from chengyun.cases.models import Case, CaseEvent, DispatchRule
from chengyun.cases.service import load_categories
from chengyun.core.db import session_scope
from chengyun.core.errors import Conflict, InvalidInput
from chengyun.core.periods import parse_period
from chengyun.core.settings import Settings
from chengyun.demo.generator import build_world, fact_chunk, generate, months
from chengyun.demo.streams import FACTS
from chengyun.lake.reader import read
from chengyun.lake.tables import TABLES
from chengyun.tenancy.models import AdminUnit, Department

TODAY = date(2026, 11, 26)  # the demo_city fixture's (tests/demo/conftest.py)
START_UTC = datetime(2025, 9, 30, 16)  # 2025-10-01 00:00 in Asia/Shanghai
END_UTC = datetime(2026, 11, 26, 16)  # end of 2026-11-26 in Asia/Shanghai


def frame(settings: Settings, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Rows of a lake table, read straight from its Parquet files (tenant and date are inside them too)."""
    tbl = pq.read_table(settings.lake / table, columns=columns, partitioning=None)
    assert tbl.num_rows, f"no rows in {table}"
    return tbl.to_pandas()


def quarter(label: str) -> tuple[datetime, datetime]:
    """UTC bounds of a quarter of local dates."""
    return parse_period(label).bounds_utc()


# ---------------------------------------------------------------- arguments and the state DB


def test_unknown_scale_names_the_allowed_ones(ws: Settings) -> None:
    with session_scope(ws) as session, pytest.raises(InvalidInput) as err:
        generate(settings=ws, session=session, scale="huge", today=TODAY)
    assert "huge" in err.value.message
    for name in ("tiny", "small", "medium", "large"):
        assert name in (err.value.fix or "")
    with session_scope(ws) as session:
        assert session.scalars(select(AdminUnit)).first() is None


def test_a_second_city_in_the_same_workspace_is_refused(demo_city: Any) -> None:
    settings = demo_city.settings
    with session_scope(settings) as session, pytest.raises(Conflict):
        generate(settings=settings, session=session, scale="tiny", today=TODAY)


def test_administrative_tree_and_populations_add_up(demo_city: Any) -> None:
    settings, summary = demo_city.settings, demo_city.summary
    with session_scope(settings) as session:
        units = {u.id: u for u in session.scalars(select(AdminUnit))}
        departments = list(session.scalars(select(Department)))
    assert set(units) == set(summary.tenants)
    children: dict[str, list[AdminUnit]] = {}
    for u in units.values():
        if u.parent_id:
            children.setdefault(u.parent_id, []).append(u)
    levels = {lvl: [u for u in units.values() if u.level == lvl] for lvl in ("city", "district", "street", "grid")}
    assert [u.id for u in levels["city"]] == ["linjiang"] and levels["city"][0].name == "临江市"
    assert sorted(u.id for u in levels["district"]) == [f"linjiang.d{i:02d}" for i in range(1, 7)] == summary.districts
    assert all(3 <= len(children[d.id]) <= 5 for d in levels["district"])
    assert all(4 <= len(children[s.id]) <= 8 for s in levels["street"])
    assert all(u.population and u.population > 0 and u.area_km2 and u.area_km2 > 0 for u in units.values())
    for uid, kids in children.items():
        assert sum(k.population for k in kids) == units[uid].population, uid
        assert sum(k.area_km2 for k in kids) == pytest.approx(units[uid].area_km2, abs=0.02), uid
    assert 3_000_000 <= units["linjiang"].population <= 3_400_000
    assert len(departments) >= 38 and all(d.id.startswith("linjiang.dept.") for d in departments)
    names = {d.name for d in departments}
    assert {"公安局", "城市管理局", "生态环境局", "政务服务数据管理局", "应急管理局"} <= names


# ---------------------------------------------------------------- lake tables


def test_every_lake_table_has_rows_that_fit_its_schema(demo_city: Any) -> None:
    settings, summary, progress = demo_city.settings, demo_city.summary, demo_city.progress
    with session_scope(settings) as session:
        parent = {u.id: u.parent_id for u in session.scalars(select(AdminUnit))}
        departments = {d.id for d in session.scalars(select(Department))}

    def district_of(unit: str) -> str:
        while parent[unit] != "linjiang":
            unit = parent[unit]
        return unit

    for name, spec in TABLES.items():
        live = summary.cases.live if name == "cases" else 0  # taken in through the intake after the history
        assert summary.rows[name] + live == len(frame(settings, name, ["tenant"])), name
        tbl = read(settings.lake, name, summary.districts[2:3])  # the platform's reader, on one district
        assert tbl.num_rows > 0, name
        assert tbl.schema.equals(spec.schema), name
        assert set(tbl.column("tenant").to_pylist()) == {summary.districts[2]}, name
        if "unit_id" in spec.columns:
            pairs = {(t, u) for t, u in zip(tbl.column("tenant").to_pylist(), tbl.column("unit_id").to_pylist(), strict=True)}
            assert all(district_of(u) == t for t, u in pairs), name
        for col in ("department_id", "requester_department_id"):
            if col in spec.columns:
                assert set(tbl.column(col).drop_null().to_pylist()) <= departments, (name, col)
    tasks = {t.description: t for t in progress.tasks}
    assert set(tasks) == set(TABLES)
    assert all(t.completed == t.total and t.total >= 1 for t in tasks.values())


def test_span_periods_and_registries_before_and_during_it(demo_city: Any) -> None:
    settings, summary = demo_city.settings, demo_city.summary
    assert [p.label for p in summary.periods] == ["2025Q4", "2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    assert (summary.start, summary.end) == (date(2025, 10, 1), TODAY)
    for table, col in (("telemetry", "ts"), ("cases", "created_at"), ("portal_usage", "ts")):
        ts = frame(settings, table, [col])[col]
        assert ts.min() >= START_UTC and ts.max() < END_UTC, table
        assert ts.min() < START_UTC + timedelta(days=1) and ts.max() > END_UTC - timedelta(days=1), table
    for table, col in (("assets", "installed_at"), ("datasets", "registered_at"), ("services", "published_at")):
        t = frame(settings, table)[col]
        assert (t < START_UTC).any() and ((t >= START_UTC) & (t < END_UTC)).any(), table
        assert t.max() < END_UTC, table
    assets = frame(settings, "assets")
    assert assets.retired_at.notna().any() and (assets.retired_at.dropna() > START_UTC).all()
    assert assets.expected_interval_s.between(300, 3600).all() and assets.metric_count.between(1, 4).all()


def test_telemetry_respects_installation_retirement_and_intervals(demo_city: Any) -> None:
    settings = demo_city.settings
    a = frame(settings, "assets").set_index("asset_id")
    t = frame(settings, "telemetry")
    span = t.groupby("asset_id").ts.agg(["min", "max"]).join(a)
    assert (span["min"] >= span.installed_at).all()
    assert (span["max"] < span.retired_at.fillna(pd.Timestamp(END_UTC))).all()
    per_asset = t.groupby("asset_id").metric.nunique()
    assert (per_asset <= a.metric_count.reindex(per_asset.index)).all()
    reports = t.drop_duplicates(["asset_id", "ts"]).sort_values(["asset_id", "ts"])
    steps = reports.groupby("asset_id").ts.diff().dt.total_seconds() / reports.asset_id.map(a.expected_interval_s)
    assert steps.dropna().median() == pytest.approx(1.0, abs=0.05)


def test_about_one_in_a_thousand_cases_is_resolved_before_it_was_created(demo_city: Any) -> None:
    cases = frame(demo_city.settings, "cases")
    bad = (cases.resolved_at < cases.created_at).mean()
    assert 0.0004 <= bad <= 0.0025
    assert cases.case_id.is_unique
    assert set(cases.channel) == {"hotline", "app", "open311", "iot-alarm", "grid", "other", "data-quality"}
    assert set(cases.category) <= set(load_categories(None)) and cases.category.nunique() > 20
    rated = cases.satisfaction.dropna()
    assert rated.between(1, 5).all() and cases.satisfaction.isna().any() and cases.solved.isna().any()


def test_hotline_follows_office_hours_in_local_time(demo_city: Any) -> None:
    cases = frame(demo_city.settings, "cases")
    local = cases[cases.channel == "hotline"].created_at + pd.Timedelta(hours=8)
    by_hour = local.dt.hour.value_counts(normalize=True).reindex(range(24), fill_value=0)
    assert by_hour[9:12].sum() > 4 * by_hour[0:5].sum() > 0
    days = local.dt.normalize()
    per_day = days.value_counts()
    weekday = per_day[per_day.index.dayofweek < 5].mean()
    weekend = per_day[per_day.index.dayofweek >= 5].mean()
    assert weekend < 0.85 * weekday


# ---------------------------------------------------------------- determinism


def _chunks(seed: int) -> list[pa.Table]:
    w, dims = build_world(seed=seed, scale="tiny", today=TODAY)
    out = [pa.table(c) for c in dims.values()]
    out += [pa.table(fact_chunk(w, table, m, d)) for table in FACTS for m in (0, 7) for d in (0, 5)]
    return out


def test_same_seed_same_rows_and_another_seed_other_rows() -> None:
    first, again, other = _chunks(11), _chunks(11), _chunks(12)
    assert all(a.equals(b) for a, b in zip(first, again, strict=True))
    assert sum(a.equals(b) for a, b in zip(first, other, strict=True)) < len(first) // 2


def test_what_is_written_is_what_the_seed_makes(demo_city: Any) -> None:
    settings, summary = demo_city.settings, demo_city.summary
    assert demo_city.today == TODAY
    w, _dims = build_world(seed=demo_city.seed, scale="tiny", today=TODAY)
    m = 3
    c0, c1 = months(w.start, w.end)[m]
    day0 = datetime(1970, 1, 1) + timedelta(seconds=c0)
    day1 = datetime(1970, 1, 1) + timedelta(seconds=c1 - 1)
    for table in ("cases", "telemetry"):
        made = pa.table({k: v.dictionary_decode() if isinstance(v, pa.DictionaryArray) else v
                         for k, v in fact_chunk(w, table, m, 2).items()}).to_pandas()
        stored = read(settings.lake, table, [summary.districts[2]], day0.date(), day1.date()).to_pandas()
        key = TABLES[table].time_column
        cols = [c for c in made.columns if c != "tenant" and c in TABLES[table].columns]  # the lake's part
        made = made[cols].astype(str).sort_values(cols).reset_index(drop=True)
        stored = stored[cols].astype(str).sort_values(cols).reset_index(drop=True)
        assert len(made) > 0 and key in cols
        pd.testing.assert_frame_equal(made, stored)


# ---------------------------------------------------------------- trends (independent of the generator's code)


def _ontime(cases: pd.DataFrame, label: str) -> float:
    a, b = quarter(label)
    c = cases[(cases.created_at >= a) & (cases.created_at < b)]
    c = c[c.resolved_at.notna() & (c.resolved_at >= c.created_at)]
    return float((c.resolved_at <= c.due_at).mean())


def test_cases_close_on_time_more_often_later(demo_city: Any) -> None:
    cases = frame(demo_city.settings, "cases")
    assert _ontime(cases, "2025Q4") + 0.08 < _ontime(cases, "2026Q3")
    first = cases[cases.created_at < quarter("2025Q4")[1]]
    later = cases[(cases.created_at >= quarter("2026Q3")[0]) & (cases.created_at < quarter("2026Q3")[1])]
    assert first.channel.isin(["grid", "iot-alarm"]).mean() + 0.08 < later.channel.isin(["grid", "iot-alarm"]).mean()


def _availability(settings: Settings) -> pd.Series:
    """Hours with a reading over hours in service, per district, over the whole span."""
    a = frame(settings, "assets")
    t = frame(settings, "telemetry")
    seen = t.assign(h=t.ts.astype("int64") // 3_600_000_000).drop_duplicates(["asset_id", "h"])
    seen = seen.groupby("tenant").size()
    since = a.installed_at.clip(lower=pd.Timestamp(START_UTC))
    until = a.retired_at.fillna(pd.Timestamp(END_UTC)).clip(upper=pd.Timestamp(END_UTC))
    hours = ((until - since).dt.total_seconds() / 3600).clip(lower=0)
    return seen / hours.groupby(a.tenant).sum()


def test_lagging_district_devices_are_less_available_than_the_leading_ones(demo_city: Any) -> None:
    avail = _availability(demo_city.settings)
    assert 0.8 < avail["linjiang.d06"] < avail["linjiang.d01"] - 0.02 < 1.0
    assert avail.between(0.75, 1.0).all()


def test_portal_data_and_security_improve(demo_city: Any) -> None:
    settings = demo_city.settings
    usage = frame(settings, "portal_usage")
    q1, q4 = quarter("2025Q4"), quarter("2026Q3")

    def within(df: pd.DataFrame, col: str, q: tuple[datetime, datetime]) -> pd.DataFrame:
        return df[(df[col] >= q[0]) & (df[col] < q[1])]

    mobile = [within(usage, "ts", q).channel.isin(["app", "miniprogram"]).mean() for q in (q1, q4)]
    assert mobile[0] + 0.08 < mobile[1]
    events = frame(settings, "security_events")
    incidents = [within(events, "occurred_at", q).is_incident.sum() for q in (q1, q4)]
    assert incidents[0] > incidents[1] + 5
    datasets = frame(settings, "datasets")
    coverage = [datasets[datasets.registered_at < end].catalogued.mean() for end in (q1[1], pd.Timestamp(END_UTC))]
    assert coverage[0] + 0.08 < coverage[1]
    quality = frame(settings, "quality_results")
    score = [1 - (lambda q: q.rows_failed.sum() / q.rows_checked.sum())(within(quality, "checked_at", q)) for q in (q1, q4)]
    assert score[0] + 0.04 < score[1]
    assert set(quality.dimension.unique()) == {"conformity", "completeness", "accuracy", "consistency", "timeliness",
                                               "accessibility"}  # GB/T 36344's six, by the rules' keys


# ---------------------------------------------------------------- the case desk (cases go through the domain)


def test_cases_are_kept_by_the_case_desk_with_their_timelines(demo_city: Any) -> None:
    settings, summary = demo_city.settings, demo_city.summary
    lake = frame(settings, "cases").set_index("case_id")
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(Case)) == len(lake)
        closed = session.scalars(select(Case).where(Case.status == "closed", Case.inconsistent.is_(False),
                                                    Case.returned_count == 0).limit(50)).all()
        assert len(closed) == 50
        for case in closed:
            events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                     .order_by(CaseEvent.at, CaseEvent.id)).all()
            steps = [e.action for e in events]
            assert steps[:3] == ["accept", "dispatch", "receive"] and steps[-1] == "close", (case.id, steps)
            assert [e.at for e in events if e.action in ("accept", "receive", "resolve", "close")] == [
                case.created_at, case.responded_at, case.resolved_at, case.closed_at]
            row = lake.loc[case.id]  # the lake's row is the desk's case, in its district's partition
            assert row.unit_id == case.tenant_id and row.tenant == ".".join(case.tenant_id.split(".")[:2])
            assert row.closed_at == pd.Timestamp(case.closed_at) and row.category == case.category
        rules = {r.category: r.department_id for r in session.scalars(select(DispatchRule))}
        live = session.scalars(select(Case).where(Case.id.not_like("LJ%"),  # history keeps the city's ids
                                                  Case.channel != "data-quality")).all()
    assert len(live) == summary.cases.live
    for case in live:  # the intake's dispatch followed the rules; the one of no rule waits in triage (待分拨)
        assert case.department_id == rules.get(case.category or ""), case.category
    assert sum(c.department_id is None for c in live) == 1


# ---------------------------------------------------------------- data resources through the catalogue


def test_the_catalogue_and_live_datasets_go_through_the_domain(demo_city: Any) -> None:
    import csv

    from chengyun.catalog.models import DataAccess, Dataset, QualityRun, SharingRequest
    from chengyun.catalog.validators import check_credit_code

    settings = demo_city.settings
    with session_scope(settings) as s:
        datasets = list(s.scalars(select(Dataset)))
        loaded = {d.name: d for d in datasets if d.snapshot}
        runs = {r.dataset_id: r for r in s.scalars(select(QualityRun))}
        cases = list(s.scalars(select(Case).where(Case.channel == "data-quality")))
        statuses = sorted(r.status for r in s.scalars(select(SharingRequest)))
        reads = s.scalar(select(func.count()).select_from(DataAccess))
        assert len(datasets) == len(frame(settings, "datasets", ["tenant"]))  # the lake's catalogue is the export
        assert set(loaded) == {"enterprise-registry", "residents-sample", "air-quality-daily", "food-licences"}
        assert loaded["food-licences"].source_table == "food_licences"  # read through its SQLAlchemy URL
        assert set(runs) == {d.id for d in loaded.values()}
        # the registry's failing credit codes, counted with the Python check straight from the file handed over
        with open(settings.workspace / "demo-sources" / "企业登记信息.csv", encoding="gb18030", newline="") as fh:
            codes = [row["统一社会信用代码"] for row in csv.DictReader(fh)]
        bad = sum(1 for c in codes if check_credit_code(c) is not None)
        got = {r["id"]: r for r in runs[loaded["enterprise-registry"].id].report["rules"]}
        assert (got["code-valid"]["checked"], got["code-valid"]["failed"]) == (len(codes), bad) and bad > 0
        below = {d.department_id for d in loaded.values() if (d.last_score or 100) < d.quality_target}
        assert {c.department_id for c in cases} == below and len(cases) == len(below) >= 1
        assert all(c.status == "dispatched" and c.category == "E09" for c in cases)
    assert statuses == ["granted"] * 4 + ["pending"] * 2 + ["refused"]
    assert reads == 6 + 3 + 2 + 4
