"""/api/v1/tenants: the administrative units."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import TENANT


def test_list_tenants(client: TestClient) -> None:
    assert client.get("/api/v1/tenants").json() == [
        {
            "id": TENANT,
            "name": "临江测试区",
            "level": "city",
            "parent_id": None,
            "population": 120000,
            "area_km2": None,
            "timezone": "Asia/Shanghai",
        },
    ]
