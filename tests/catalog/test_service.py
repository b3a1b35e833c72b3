"""The catalogue's services: register from files and databases, describe, search, import, quality runs with their
cases, the ranking, sharing from request to revocation, and the export the measures read — numbers by hand."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from chengyun.accounts.models import AuditEntry
from chengyun.cases.models import Case, CaseEvent
from chengyun.catalog import quality, service, sharing
from chengyun.catalog import ranking as rank
from chengyun.catalog.entry import CatalogEntry
from chengyun.catalog.models import DataAccess, Dataset, DatasetUpdate, QualityRun
from chengyun.core.db import session_scope
from chengyun.core.errors import ChengyunError, Conflict, InvalidInput, NotFound
from chengyun.core.scoping import Scope
from chengyun.core.settings import Settings

from .conftest import CITY, EAST, ENTERPRISES, RULES, WEST, credit_code, write_enterprises

ENTRY = {"code": "JC-SCJG-0001", "name": "企业登记信息", "provider": "market", "summary": "全市企业登记、变更、注销",
         "format": "CSV", "sharing_type": "有条件共享", "open_type": "不予开放", "update_cycle": "每日",
         "published": "2026-01-05", "keywords": ["企业", "信用"]}


def _add(settings: Settings, tmp_path: Path, name: str = "enterprises", **kw: object) -> str:
    path = write_enterprises(tmp_path / f"{name}.csv")
    with session_scope(settings) as s:
        ds, _ = service.add_dataset(s, settings, source=str(path), name=name, tenant=kw.pop("tenant", CITY),  # type: ignore[arg-type]
                                    provider=kw.pop("provider", "market"), **kw)  # type: ignore[arg-type]
        return ds.id


def test_add_keeps_a_snapshot_profile_and_audit(city: Settings, tmp_path: Path) -> None:
    ds_id = _add(city, tmp_path)
    with session_scope(city) as s:
        ds = s.get(Dataset, ds_id)
        assert ds is not None and ds.rows == 10 and ds.load_notes and ds.load_notes["encoding"] in ("gb18030", "gbk")
        snap = pq.read_table(ds.snapshot)
        assert snap.column("name").to_pylist()[1] == "江城港务集团"  # GB18030 decoded
        assert snap.column("capital_10k").to_pylist()[8] == -5
        cols = {c["name"]: c for c in ds.profile["columns"]}
        assert cols["name"]["nulls"] == 1 and cols["credit_code"]["distinct"] == 10
        assert cols["capital_10k"]["min"] == -5 and cols["capital_10k"]["max"] == 12000
        assert not ds.catalogued  # no code, summary or update cycle yet
        assert s.scalar(select(DatasetUpdate.rows).where(DatasetUpdate.dataset_id == ds_id)) == 10
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == ds_id)))
        assert actions == ["dataset.create"]


def test_ragged_rows_are_put_aside_with_reasons(city: Settings, tmp_path: Path) -> None:
    rows = [*ENTERPRISES[:6], (credit_code(11), "多一列公司", "2020-01-01", "", "5", "EXTRA"), *ENTERPRISES[6:]]
    rows += [(credit_code(20 + i), f"公司{i}", "2020-01-01", "", "1") for i in range(30)]  # keep rejects under 5 %
    path = write_enterprises(tmp_path / "ragged.csv", rows)
    rejects = tmp_path / "out" / "ragged.rejects.csv"
    with session_scope(city) as s:
        ds, update = service.add_dataset(s, city, source=str(path), name="ragged", tenant=CITY, rejects_path=rejects)
        assert (ds.rows, update.rejected) == (40, 1)
    text = rejects.read_text(encoding="utf-8-sig")
    assert "多一列公司" in text and "7" in text.splitlines()[1].split(",")[0]  # data row 7, the one with six fields


def test_names_are_checked_and_unique_per_unit(city: Settings, tmp_path: Path) -> None:
    _add(city, tmp_path)
    with pytest.raises(Conflict, match="exists in jc"):
        _add(city, tmp_path)
    _add(city, tmp_path, tenant=WEST, provider=None)  # the same name in another unit is another dataset
    with pytest.raises(InvalidInput, match="name"):
        _add(city, tmp_path, name="企业 登记")
    with session_scope(city) as s, pytest.raises(InvalidInput, match="several units"):
        service.get_dataset(s, "enterprises")


def test_a_database_table_is_a_source(city: Settings, tmp_path: Path) -> None:
    db = tmp_path / "src.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE permits (id INTEGER, holder TEXT, issued DATE, fee REAL)")
    con.executemany("INSERT INTO permits VALUES (?, ?, ?, ?)",
                    [(1, "张三", "2026-01-02", 10.5), (2, "李四", "2026-02-03", None), (3, "王五", None, 7.25)])
    con.commit()
    con.close()
    with session_scope(city) as s:
        ds, _ = service.add_dataset(s, city, source=f"sqlite:///{db}", table="permits", name="permits", tenant=EAST)
        assert ds.rows == 3 and ds.format == "DATABASE"
        fees = pq.read_table(ds.snapshot).column("fee").to_pylist()
        assert fees == [10.5, None, 7.25]
    with session_scope(city) as s, pytest.raises(ChengyunError, match="--table"):
        service.add_dataset(s, city, source=f"sqlite:///{db}", name="no-table", tenant=EAST)


def test_entry_makes_it_catalogued_and_searchable(city: Settings, tmp_path: Path) -> None:
    ds_id = _add(city, tmp_path)
    with session_scope(city) as s:
        ds = service.apply_entry(s, s.get(Dataset, ds_id), CatalogEntry.model_validate(ENTRY))  # type: ignore[arg-type]
        assert (ds.catalogued, ds.sharing_type, ds.open_type, ds.update_cycle) == (True, "conditional", "closed", "daily")
        assert ds.update_cycle_days == 1 and ds.published_at == datetime(2026, 1, 5)
        assert service.entry_of(ds).keywords == ["企业", "信用"]
    with session_scope(city) as s:
        assert [d.id for d in service.list_datasets(s, q="信用")[0]] == [ds_id]  # a keyword of the entry
        assert [d.id for d in service.list_datasets(s, q="登记信息")[0]] == [ds_id]  # a piece of the title
        assert service.list_datasets(s, q="交通")[1] == 0
        s.info["scope"] = Scope(frozenset({WEST}))  # a west-district user does not see the city's catalogue
        assert service.list_datasets(s)[1] == 0
        with pytest.raises(NotFound):
            service.get_by_id(s, ds_id)
    other = _add(city, tmp_path, name="copy")
    with session_scope(city) as s, pytest.raises(Conflict, match="resource code"):
        service.apply_entry(s, s.get(Dataset, other), CatalogEntry.model_validate(ENTRY))  # type: ignore[arg-type]


def test_imported_entries_add_then_update(city: Settings, shared_data: Path) -> None:
    from chengyun.catalog.cli import read_entries

    entries = read_entries(shared_data / "dcat-examples" / "ckan" / "ckan_dataset.json")
    with session_scope(city) as s:
        assert service.import_entries(s, entries, tenant=EAST) == {"added": len(entries), "updated": 0}
    with session_scope(city) as s:
        assert service.import_entries(s, entries, tenant=EAST) == {"added": 0, "updated": len(entries)}
        ds = s.scalar(select(Dataset).where(Dataset.code == entries[0].code))
        assert ds is not None and ds.title == entries[0].name and ds.rows is None  # described, not loaded


# ---- quality -------------------------------------------------------------------------------------------------

# By hand (see conftest): code-valid 2 of 10 fail (80), name-present 1 of 10 (90), capital-positive 1 of 10 (90),
# cancelled-after-founded 1 of the 2 rows with both dates (50), code-unique 0 (100). Overall: their mean, 82.
BY_HAND = {"code-valid": (10, 2), "name-present": (10, 1), "capital-positive": (10, 1),
           "cancelled-after-founded": (2, 1), "code-unique": (10, 0)}


def test_quality_run_is_kept_and_scored(city: Settings, tmp_path: Path) -> None:
    ds_id = _add(city, tmp_path)
    with session_scope(city) as s:
        ds = s.get(Dataset, ds_id)
        assert ds is not None
        quality.set_rules(s, ds, RULES)
        run, report = quality.run_quality(city, s, ds)
        got = {r.id: (r.checked, r.failed) for r in report.rules}
        assert got == BY_HAND
        assert report.score == pytest.approx(82.0) and not report.valid
        assert report.dimensions["conformity"] == pytest.approx(80.0)
        assert report.dimensions["accuracy"] == pytest.approx(95.0)  # range 90 and unique 100
        assert report.dimensions["consistency"] == pytest.approx(50.0)
        assert run.case_id is None and ds.last_score == pytest.approx(82.0)  # 82 is above the default target 80


def test_rules_must_name_existing_columns(city: Settings, tmp_path: Path) -> None:
    ds_id = _add(city, tmp_path)
    with session_scope(city) as s, pytest.raises(InvalidInput, match="founded_at"):
        quality.set_rules(s, s.get(Dataset, ds_id), {"rules": [{"id": "x", "kind": "not-null", "column": "founded_at"}]})  # type: ignore[arg-type]


def test_score_under_target_opens_one_case_for_the_provider(city: Settings, tmp_path: Path) -> None:
    ds_id = _add(city, tmp_path)
    with session_scope(city) as s:
        ds = s.get(Dataset, ds_id)
        assert ds is not None
        quality.set_rules(s, ds, RULES, target=90)
        first, _ = quality.run_quality(city, s, ds)
        second, _ = quality.run_quality(city, s, ds)
        assert first.case_id and second.case_id == first.case_id  # one open case per dataset
        case = s.get(Case, first.case_id)
        assert case is not None
        assert (case.channel, case.category, case.status, case.department_id) == ("data-quality", "E09", "dispatched",
                                                                                    "market")
        kinds = list(s.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id)))
        assert kinds.count("quality") == 1  # the second low score is added to the open case


def test_reference_rule_reads_the_other_dataset(city: Settings, tmp_path: Path) -> None:
    _add(city, tmp_path)  # the registry: codes 1–10 (3 and 7 are broken)
    licences = tmp_path / "licences.csv"
    licences.write_text("licence,credit_code\nL1," + credit_code(1) + "\nL2," + credit_code(2) + "\nL3," +
                        credit_code(99) + "\nL4,\n", encoding="utf-8")
    with session_scope(city) as s:
        ds, _ = service.add_dataset(s, city, source=str(licences), name="licences", tenant=CITY)
        rules = {"rules": [{"id": "holder-registered", "kind": "reference", "column": "credit_code",
                            "dataset": "enterprises"}]}
        _run, report = quality.run_quality(city, s, ds, rules=rules)
        assert (report.rules[0].checked, report.rules[0].failed) == (3, 1)  # code 99 is not registered; L4 has none


def test_ranking_by_department(city: Settings, tmp_path: Path) -> None:
    good = [r for i, r in enumerate(ENTERPRISES) if i not in (2, 4, 6, 8, 9)]  # the five faultless rows
    a, b = _add(city, tmp_path, name="a"), _add(city, tmp_path, name="b")
    c_path = write_enterprises(tmp_path / "c.csv", good)
    with session_scope(city) as s:
        c, _ = service.add_dataset(s, city, source=str(c_path), name="c", tenant=EAST, provider="east-data")
        for ds_id in (a, b, c.id):
            ds = s.get(Dataset, ds_id)
            assert ds is not None
            quality.set_rules(s, ds, RULES)
            quality.run_quality(city, s, ds)
        ranking = rank.ranking(s)
    assert [(r["department_id"], r["datasets"]) for r in ranking] == [("east-data", 2 - 1), ("market", 2)]
    assert ranking[0]["score"] == pytest.approx(100.0) and ranking[1]["score"] == pytest.approx(82.0)
    assert ranking[1]["invalid"] == 2 and ranking[0]["rank"] == 1


# ---- sharing -------------------------------------------------------------------------------------------------


def _shared(city: Settings, tmp_path: Path, sharing_type: str) -> str:
    ds_id = _add(city, tmp_path)
    with session_scope(city) as s:
        service.apply_entry(s, s.get(Dataset, ds_id), CatalogEntry.model_validate(ENTRY | {"sharing_type": sharing_type}))  # type: ignore[arg-type]
    return ds_id


def test_unconditional_is_granted_at_once_and_reads_are_metered(city: Settings, tmp_path: Path) -> None:
    ds_id = _shared(city, tmp_path, "无条件共享")
    with session_scope(city) as s:
        req, token = sharing.request_access(s, s.get(Dataset, ds_id), department="east-data", purpose="企业信用监管",  # type: ignore[arg-type]
                                            fields=["credit_code", "name"], scenario="信用监管", days=30)
        assert token and req.status == "granted" and req.decided_by == "auto"
        assert req.requester_tenant_id == EAST and req.expires_at == req.requested_at + timedelta(days=30)
    with session_scope(city) as s:
        req = sharing.authorise(s, token)
        page = sharing.read_rows(city, s, req, limit=4, offset=8)
        assert page["fields"] == ["credit_code", "name"] and page["total"] == 10
        assert [r["name"] for r in page["rows"]] == ["东区五金店", "西区旧货市场"]
        sharing.read_rows(city, s, req, limit=3)
    with session_scope(city) as s:
        calls = [(a.rows, a.scenario) for a in s.scalars(select(DataAccess).order_by(DataAccess.id))]
        assert calls == [(2, "信用监管"), (3, "信用监管")]


def test_conditional_waits_for_the_provider(city: Settings, tmp_path: Path) -> None:
    ds_id = _shared(city, tmp_path, "有条件共享")
    with session_scope(city) as s:
        req, token = sharing.request_access(s, s.get(Dataset, ds_id), department="west-cg", purpose="执法核查")  # type: ignore[arg-type]
        assert token is None and req.status == "pending"
        with pytest.raises(InvalidInput, match="reason"):
            sharing.decide(s, req, approve=False)
        token = sharing.decide(s, req, approve=True, note="同意", actor="provider")
        assert token and req.decided_by == "provider"
        with pytest.raises(Conflict):
            sharing.decide(s, req, approve=True)
        req_id = req.id
    with session_scope(city) as s:
        assert sharing.authorise(s, token).id == req_id
        sharing.revoke(s, sharing.get_request(s, req_id), note="用途结束")
    with session_scope(city) as s, pytest.raises(sharing.GrantRefused, match="revoked"):
        sharing.authorise(s, token)
    with session_scope(city) as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == req_id).order_by(AuditEntry.seq)))
        assert actions == ["sharing.request", "sharing.grant", "sharing.revoke"]


def test_grants_expire_and_none_cannot_be_requested(city: Settings, tmp_path: Path) -> None:
    ds_id = _shared(city, tmp_path, "无条件共享")
    t0 = datetime(2026, 1, 1)
    with session_scope(city) as s:
        _req, token = sharing.request_access(s, s.get(Dataset, ds_id), department="west-cg", purpose="核查", days=10,  # type: ignore[arg-type]
                                             at=t0)
        assert token
    with session_scope(city) as s:
        assert sharing.authorise(s, token, now=t0 + timedelta(days=9, hours=23)).status == "granted"
        with pytest.raises(sharing.GrantRefused, match="expired"):
            sharing.authorise(s, token, now=t0 + timedelta(days=10))
        assert sharing.expire_grants(s, now=t0 + timedelta(days=11)) == 1
    with session_scope(city) as s:
        ds = s.get(Dataset, ds_id)
        assert ds is not None
        ds.sharing_type = "none"
        with pytest.raises(InvalidInput, match="不予共享"):
            sharing.request_access(s, ds, department="west-cg", purpose="核查")
    with session_scope(city) as s, pytest.raises(sharing.GrantRefused, match="unknown"):
        sharing.authorise(s, "cyg_not-a-token")


def test_quality_runs_keep_their_count(city: Settings, tmp_path: Path) -> None:
    ds_id = _add(city, tmp_path)
    with session_scope(city) as s:
        ds = s.get(Dataset, ds_id)
        assert ds is not None
        for _ in range(3):
            quality.run_quality(city, s, ds, rules=RULES)
        assert len(list(s.scalars(select(QualityRun.id)))) == 3
        assert len(rank.latest_runs(s)) == 1
