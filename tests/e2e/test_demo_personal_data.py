"""The demo city's 人口基础信息（抽样） as the city's supervisor sees it: no identity or mobile number in clear on its
console page or in the API (its profile and its failed-rule samples used to show them); the administrator reveals
them through the page's form with a reason, and the reveal is one audit entry."""

from __future__ import annotations

import re

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from chengyun.accounts.models import AuditEntry
from chengyun.catalog.models import Dataset
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings

from .conftest import _CSRF, add_accounts, client_for, form_field

FULL_ID = re.compile(r"(?<![0-9.])[0-9]{17}[0-9X](?![0-9])")
FULL_MOBILE = re.compile(r"(?<![0-9.])1[3-9][0-9]{9}(?![0-9])")
SUPERVISOR = "e2e-supervisor"


@pytest.fixture(scope="module")
def residents(console_city: Settings) -> tuple[str, list[str], list[str]]:
    """The demo's 人口 dataset: its id, and the identity and mobile numbers its snapshot holds (read here)."""
    add_accounts(console_city, {SUPERVISOR: ("supervisor", "linjiang")})
    with session_scope(console_city) as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == "residents-sample"))
        assert ds is not None and ds.snapshot
        table = pq.read_table(ds.snapshot)
        ids = [v for v in table.column("公民身份号码").to_pylist() if v]
        phones = [str(v) for v in table.column("手机号码").to_pylist() if v]
        return ds.id, ids, phones


def _reveals(settings: Settings, ds_id: str) -> int:
    with session_scope(settings) as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.target_id == ds_id, AuditEntry.action == "dataset.reveal")) or 0)


def test_a_supervisor_sees_no_identity_or_mobile_number(city_app: TestClient,
                                                        residents: tuple[str, list[str], list[str]]) -> None:
    ds_id, ids, phones = residents
    sup = client_for(city_app, SUPERVISOR)
    for url in (f"/datasets/{ds_id}", f"/api/v1/datasets/{ds_id}/profile", f"/api/v1/datasets/{ds_id}/quality-runs",
                f"/api/v1/datasets/{ds_id}"):
        r = sup.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        assert not FULL_ID.search(r.text), (url, FULL_ID.search(r.text))
        assert not FULL_MOBILE.search(r.text), (url, FULL_MOBILE.search(r.text))
        assert not [v for v in ids + phones if v in r.text], url
    page = sup.get(f"/datasets/{ds_id}").text
    assert min(ids)[:6] + "********" + min(ids)[-4:] in page and "sample-table" in page
    before = _reveals(city_app.app.state.settings, ds_id)
    refused = sup.post(f"/datasets/{ds_id}/reveal", data={"reason": "核验", "csrf": form_field(page, _CSRF)})
    assert refused.status_code == 403 and not FULL_ID.search(refused.text)
    assert _reveals(city_app.app.state.settings, ds_id) == before  # a refused reveal is no reveal


def test_the_administrator_reveals_with_a_reason(city_app: TestClient,
                                                 residents: tuple[str, list[str], list[str]]) -> None:
    ds_id, ids, _phones = residents
    admin = client_for(city_app, "e2e-admin")
    page = admin.get(f"/datasets/{ds_id}").text
    assert 'id="reveal-form"' in page and not FULL_ID.search(page)
    before = _reveals(city_app.app.state.settings, ds_id)
    shown = admin.post(f"/datasets/{ds_id}/reveal", data={"reason": "核验举报人身份", "csrf": form_field(page, _CSRF)})
    assert shown.status_code == 200 and min(ids) in shown.text and max(ids) in shown.text
    assert _reveals(city_app.app.state.settings, ds_id) == before + 1
    assert not FULL_ID.search(admin.get(f"/datasets/{ds_id}").text)  # masked again on the next read
