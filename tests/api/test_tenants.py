"""/api/v1/tenants: the administrative units."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import CHILD, SIBLING, TARGET, TENANT


def _unit(uid: str, name: str, level: str, parent: str | None, population: int | None = None) -> dict:
    return {
        "id": uid,
        "name": name,
        "level": level,
        "parent_id": parent,
        "population": population,
        "area_km2": None,
        "timezone": "Asia/Shanghai",
    }


def test_list_tenants(client: TestClient) -> None:
    # the city administrator sees the whole tree, parents before children
    assert client.get("/api/v1/tenants").json() == [
        _unit(TENANT, "临江测试区", "city", None, 120000),
        _unit(TARGET, "临江东区", "district", TENANT),
        _unit(CHILD, "港口街道", "street", TARGET),
        _unit(SIBLING, "临江西区", "district", TENANT),
    ]
