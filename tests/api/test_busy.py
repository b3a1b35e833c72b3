"""A state DB held by another writer longer than a request may wait answers 503 with Retry-After (never 500),
and nothing of the refused request is kept."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from chengyun.cases.models import Case
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings
from tests.cases.conftest import EAST, api, auth, case_city  # noqa: F401 (fixtures)


def test_a_locked_database_is_503_with_retry_after(api: TestClient, auth: Callable[[str], dict[str, str]],  # noqa: F811
                                                   case_city: Settings) -> None:  # noqa: F811
    headers = auth("op-east")
    with session_scope(case_city) as s:
        before = s.scalar(select(func.count()).select_from(Case))
    holder = sqlite3.connect(case_city.db_url.split("///", 1)[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the request's wait (10 s)
    try:
        r = api.post("/api/v1/cases", json={"tenant": EAST, "channel": "app", "title": "井盖缺失"}, headers=headers)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "busy" and r.json()["error"]["fix"]
    with session_scope(case_city) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == before
    again = api.post("/api/v1/cases", json={"tenant": EAST, "channel": "app", "title": "井盖缺失"}, headers=headers)
    assert again.status_code == 201, again.text
