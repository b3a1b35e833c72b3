"""/api/v1/users: create, read, disable, grant and revoke — each inside the caller's own units only."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from chengyun.core.settings import Settings

from .conftest import ADMIN, CHILD, PASSWORD, SIBLING, TARGET, TENANT, bearer, login, make_user

GENERATED = re.compile(r"^[A-Za-z0-9]{4}(-[A-Za-z0-9]{4}){3}$")


@pytest.fixture
def district_admin(city_client: TestClient, accounts_city: Settings) -> Iterator[TestClient]:
    """A client of the same app logged in as the administrator of the district tc-east (not of the city)."""
    make_user(accounts_city, "east-admin", "admin", TARGET)
    with TestClient(city_client.app) as c:
        c.headers.update(bearer(login(c, "east-admin")))
        yield c


def test_create_user_returns_the_generated_password_once(city_client: TestClient) -> None:
    r = city_client.post(
        "/api/v1/users",
        json={"name": "zhang.wei", "role": "operator", "unit": TARGET, "display_name": "张伟"},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert GENERATED.match(created["password"])
    user = created["user"]
    assert user["name"] == "zhang.wei" and user["display_name"] == "张伟"
    assert user["grants"] == [{"role": "operator", "unit": TARGET}]
    assert not user["disabled"] and not user["locked"] and user["last_login_at"] is None
    assert login(city_client, "zhang.wei", created["password"])  # the password works …
    again = city_client.get("/api/v1/users/zhang.wei").json()
    assert "password" not in again and created["password"] not in str(again)  # … and is never shown again
    assert again["last_login_at"] is not None
    listed = city_client.get("/api/v1/users", params={"limit": 500}).json()
    assert created["password"] not in str(listed)


def test_create_user_with_a_chosen_password(city_client: TestClient) -> None:
    r = city_client.post(
        "/api/v1/users",
        json={"name": "li.na", "role": "auditor", "unit": TENANT, "password": "a-long-enough-one"},
    )
    assert r.status_code == 201 and r.json()["password"] is None
    assert login(city_client, "li.na", "a-long-enough-one")


def test_duplicate_user_is_409(city_client: TestClient) -> None:
    body = {"name": "wang.fang", "role": "citizen", "unit": TARGET}
    assert city_client.post("/api/v1/users", json=body).status_code == 201
    r = city_client.post("/api/v1/users", json=body | {"unit": SIBLING})
    assert (
        r.status_code == 409
        and r.json()["error"]["code"] == "conflict"
        and "wang.fang" in r.json()["error"]["message"]
    )
    assert city_client.get("/api/v1/users/wang.fang").json()["grants"] == [
        {"role": "citizen", "unit": TARGET}
    ]


def test_a_name_taken_in_a_unit_the_caller_cannot_see_is_the_same_409(
    district_admin: TestClient, city_client: TestClient, accounts_city: Settings
) -> None:
    make_user(accounts_city, "west-clerk", "operator", SIBLING)  # outside the district administrator's view
    assert district_admin.get("/api/v1/users/west-clerk").status_code == 404
    hidden = district_admin.post("/api/v1/users", json={"name": "west-clerk", "role": "citizen", "unit": TARGET})
    assert district_admin.post("/api/v1/users",
                               json={"name": "seen-one", "role": "citizen", "unit": TARGET}).status_code == 201
    seen = district_admin.post("/api/v1/users", json={"name": "seen-one", "role": "citizen", "unit": CHILD})
    assert hidden.status_code == seen.status_code == 409
    assert hidden.json()["error"]["code"] == "conflict"
    # the one error shape, word for word the answer for a name the caller can see: it tells no unit, no role
    renamed = {k: v.replace("west-clerk", "seen-one") if isinstance(v, str) else v
               for k, v in hidden.json()["error"].items()}
    assert renamed == seen.json()["error"]
    assert SIBLING not in hidden.text and "operator" not in hidden.text
    assert city_client.get("/api/v1/users/west-clerk").json()["grants"] == [{"role": "operator", "unit": SIBLING}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "role": "citizen", "unit": TARGET}, "body.name"),  # too short
        ({"name": "bad name", "role": "citizen", "unit": TARGET}, "body.name"),
        ({"name": "ok-name", "role": "mayor", "unit": TARGET}, "body.role"),
        ({"name": "ok-name", "role": "citizen", "unit": TARGET, "password": "short"}, "body.password"),
        ({"name": "ok-name", "role": "citizen"}, "body.unit"),
    ],
)
def test_invalid_user_is_422(city_client: TestClient, body: dict, field: str) -> None:
    r = city_client.post("/api/v1/users", json=body)
    assert r.status_code == 422 and field in r.json()["error"]["message"]
    assert city_client.get("/api/v1/users/ok-name").status_code == 404


def test_district_admin_creates_and_grants_inside_its_district_only(district_admin: TestClient) -> None:
    r = district_admin.post(
        "/api/v1/users", json={"name": "harbour.clerk", "role": "operator", "unit": CHILD}
    )
    assert r.status_code == 201, r.text  # the street is inside the district
    for unit in (SIBLING, TENANT):
        r = district_admin.post("/api/v1/users", json={"name": "elsewhere", "role": "operator", "unit": unit})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", unit
        assert unit in r.json()["error"]["message"]
        r = district_admin.post("/api/v1/users/harbour.clerk/grants", json={"role": "operator", "unit": unit})
        assert r.status_code == 403, unit
    r = district_admin.post("/api/v1/users/harbour.clerk/grants", json={"role": "department", "unit": TARGET})
    assert r.status_code == 201
    assert r.json()["grants"] == [{"role": "department", "unit": TARGET}, {"role": "operator", "unit": CHILD}]
    assert district_admin.get("/api/v1/users/elsewhere").status_code == 404  # nothing half-stored


def test_district_admin_cannot_see_city_users(district_admin: TestClient, accounts_city: Settings) -> None:
    make_user(accounts_city, "west-clerk", "operator", SIBLING)
    make_user(accounts_city, "harbour-clerk", "operator", CHILD)
    names = {u["name"] for u in district_admin.get("/api/v1/users", params={"limit": 500}).json()["items"]}
    assert names == {"east-admin", "harbour-clerk"}
    for name in (ADMIN, "west-clerk"):
        r = district_admin.get(f"/api/v1/users/{name}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not-found", name
        assert district_admin.post(f"/api/v1/users/{name}/disable").status_code == 404
        assert (
            district_admin.post(
                f"/api/v1/users/{name}/grants", json={"role": "citizen", "unit": TARGET}
            ).status_code
            == 404
        )
    assert district_admin.get(f"/api/v1/users/{ADMIN}").json()["error"]["message"] == district_admin.get(
        "/api/v1/users/no-such-user"
    ).json()["error"]["message"].replace("no-such-user", ADMIN)


def test_district_admin_cannot_disable_a_user_who_also_holds_grants_above_it(
    district_admin: TestClient, city_client: TestClient, accounts_city: Settings
) -> None:
    make_user(accounts_city, "city-boss", "admin", TENANT)
    assert (
        city_client.post(
            "/api/v1/users/city-boss/grants", json={"role": "citizen", "unit": TARGET}
        ).status_code
        == 201
    )
    r = district_admin.post("/api/v1/users/city-boss/disable")
    assert r.status_code == 403
    assert city_client.get("/api/v1/users/city-boss").json()["disabled"] is False


def test_auditor_reads_users_but_cannot_manage_them(city_client: TestClient, accounts_city: Settings) -> None:
    make_user(accounts_city, "inspector", "auditor", TENANT)
    headers = bearer(login(city_client, "inspector"))
    assert city_client.get(f"/api/v1/users/{ADMIN}", headers=headers).status_code == 200
    r = city_client.post(
        "/api/v1/users", json={"name": "new-one", "role": "citizen", "unit": TARGET}, headers=headers
    )
    assert r.status_code == 403 and "users.manage" in r.json()["error"]["message"]
    assert city_client.post(f"/api/v1/users/{ADMIN}/disable", headers=headers).status_code == 403


def test_disable_revokes_and_blocks_login(city_client: TestClient, accounts_city: Settings) -> None:
    make_user(accounts_city, "leaver", "operator", TARGET)
    token = login(city_client, "leaver")
    r = city_client.post("/api/v1/users/leaver/disable")
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert city_client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    r = city_client.post("/api/v1/auth/token", data={"username": "leaver", "password": PASSWORD})
    assert r.status_code == 401


def test_disable_ends_console_sessions_and_every_token(city_client: TestClient, accounts_city: Settings) -> None:
    make_user(accounts_city, "leaver", "operator", TARGET)
    with TestClient(city_client.app) as console:
        page = console.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        r = console.post("/login", data={"username": "leaver", "password": PASSWORD, "csrf": csrf.group(1)},
                         follow_redirects=False)
        assert r.status_code == 303 and console.get("/api/v1/auth/me").status_code == 200
        access = login(city_client, "leaver")
        machine = city_client.post("/api/v1/tokens", json={"name": "nightly"}, headers=bearer(access)).json()["token"]
        assert city_client.post("/api/v1/users/leaver/disable").status_code == 200
        assert console.get("/api/v1/auth/me").status_code == 401
        for token in (access, machine):
            assert city_client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    listed = city_client.get("/api/v1/users/leaver").json()
    assert listed["disabled"] is True


def test_grant_and_revoke(city_client: TestClient, accounts_city: Settings) -> None:
    make_user(accounts_city, "mover", "operator", TARGET)
    r = city_client.post("/api/v1/users/mover/grants", json={"role": "supervisor", "unit": SIBLING})
    assert r.status_code == 201
    assert {(g["role"], g["unit"]) for g in r.json()["grants"]} == {
        ("operator", TARGET),
        ("supervisor", SIBLING),
    }
    again = city_client.post("/api/v1/users/mover/grants", json={"role": "supervisor", "unit": SIBLING})
    assert again.status_code == 409
    headers = bearer(login(city_client, "mover"))
    assert "evaluations.run" in city_client.get("/api/v1/auth/me", headers=headers).json()["permissions"]
    r = city_client.delete("/api/v1/users/mover/grants", params={"role": "operator", "unit": TARGET})
    assert r.status_code == 204
    assert city_client.get("/api/v1/users/mover").json()["grants"] == [
        {"role": "supervisor", "unit": SIBLING}
    ]
    r = city_client.delete("/api/v1/users/mover/grants", params={"role": "operator", "unit": TARGET})
    assert r.status_code == 404
    assert (
        city_client.post(
            "/api/v1/users/nobody-here/grants", json={"role": "citizen", "unit": TARGET}
        ).status_code
        == 404
    )


def test_list_is_paginated_by_name(city_client: TestClient, accounts_city: Settings) -> None:
    for name in ("b-user", "c-user", "a-user"):
        make_user(accounts_city, name, "citizen", TARGET)
    page = city_client.get("/api/v1/users", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 4 and page["limit"] == 2 and page["offset"] == 1
    assert [u["name"] for u in page["items"]] == ["b-user", "c-user"]
