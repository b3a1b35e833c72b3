"""Logging in: the OAuth2 password flow, throttles, token life, console sessions and CSRF, /auth/me, no-store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from chengyun.accounts import service
from chengyun.accounts.models import Token, User
from chengyun.api.app import create_app
from chengyun.core.db import session_scope, utcnow
from chengyun.core.settings import Settings

from .conftest import ADMIN, PASSWORD, TARGET, TENANT, bearer, build_accounts_city, login, make_user

TOKEN_RE = re.compile(r"^cy_[a-z0-9]{16}_[A-Za-z0-9_-]{20,100}$")
# Every permission, and what a citizen and an auditor hold: written out by hand (not read from the policy).
ALL_PERMISSIONS = [
    "alarms.ack",
    "alarms.read",
    "alarms.rules",
    "assets.read",
    "assets.write",
    "audit.read",
    "cases.read",
    "cases.rules",
    "cases.write",
    "console.read",
    "data.reveal",
    "datasets.read",
    "datasets.write",
    "evaluations.read",
    "evaluations.run",
    "inputs.write",
    "packs.read",
    "quality.run",
    "sharing.decide",
    "sharing.request",
    "telemetry.write",
    "tenants.read",
    "users.manage",
    "users.read",
]


@pytest.fixture
def city(tmp_path: Path) -> Settings:
    """The city's units and administrator; after three failed logins a name from one address has to wait."""
    return build_accounts_city(Settings(workspace=tmp_path / "ws", login_max_failures=3))


@pytest.fixture
def anon(city: Settings) -> Iterator[TestClient]:
    """A client without credentials."""
    with TestClient(create_app(city)) as c:
        yield c


def _token(client: TestClient, name: str, password: str) -> httpx.Response:
    return client.post("/api/v1/auth/token", data={"username": name, "password": password})


def _token_id(token: str) -> str:
    return token.split("_")[1]


# ---- the OAuth2 password flow -------------------------------------------------------------------------------


def test_password_flow_gives_a_bearer_token(anon: TestClient) -> None:
    r = _token(anon, ADMIN, PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 8 * 3600
    assert TOKEN_RE.match(body["access_token"])
    me = anon.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["name"] == ADMIN and me.json()["via"] == "bearer"


def test_the_password_flow_is_in_the_openapi_document(anon: TestClient) -> None:
    spec = anon.get("/api/v1/openapi.json").json()
    schemes = spec.get("components", {}).get("securitySchemes", {})
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert spec["paths"]["/api/v1/packs"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]


def test_wrong_password_is_401_and_says_no_more_than_an_unknown_name(anon: TestClient) -> None:
    wrong, unknown = _token(anon, ADMIN, "not-the-password"), _token(anon, "ghost", PASSWORD)
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["code"] == "unauthorized"
    assert wrong.json() == unknown.json()  # the answer does not tell which names exist


def test_missing_form_fields_are_422(anon: TestClient) -> None:
    r = anon.post("/api/v1/auth/token", data={"username": ADMIN})
    assert r.status_code == 422 and "body.password" in r.json()["error"]["message"]


def test_no_or_malformed_credentials_are_401(anon: TestClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic YWRtaW46eA=="},
        bearer("cy_0123456789abcdef_" + "x" * 43),
    ):
        r = anon.get("/api/v1/auth/me", headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", headers


# ---- lock-out and throttle -----------------------------------------------------------------------------------


def test_failures_from_one_address_do_not_lock_the_account(anon: TestClient, city: Settings) -> None:
    assert [_token(anon, ADMIN, "wrong-password").status_code for _ in range(3)] == [401, 401, 401]
    held = _token(anon, ADMIN, PASSWORD)  # this address has to wait for this name …
    assert held.status_code == 429 and held.json()["error"]["code"] == "too-many-requests"
    assert 0 < int(held.headers["retry-after"]) <= 30
    assert ADMIN not in held.text and "locked" not in held.text
    elsewhere = TestClient(anon.app, client=("10.1.2.3", 40000))  # … the administrator elsewhere is not kept out
    assert _token(elsewhere, ADMIN, PASSWORD).status_code == 200
    make_user(city, "other", "citizen", TENANT)
    assert _token(anon, "other", PASSWORD).status_code == 200  # nor another name from the same address
    with session_scope(city) as s:
        assert s.scalar(select(User.locked_until).where(User.name == ADMIN)) is None


def test_held_back_answers_are_the_same_for_unknown_names(anon: TestClient) -> None:
    def answers(name: str) -> list[tuple[int, dict, bool]]:
        out = []
        for _ in range(5):
            r = _token(anon, name, "wrong-password")
            out.append((r.status_code, r.json(), "retry-after" in r.headers))
        return out

    known, unknown = answers(ADMIN), answers("ghost")
    assert [status for status, _, _ in known] == [401, 401, 401, 429, 429]
    assert known == unknown


def test_a_success_resets_the_failure_count(anon: TestClient) -> None:
    for _ in range(3):
        assert _token(anon, ADMIN, "wrong-password").status_code == 401
        assert _token(anon, ADMIN, "wrong-password").status_code == 401
        assert _token(anon, ADMIN, PASSWORD).status_code == 200


def test_failed_logins_are_throttled_per_client(anon: TestClient) -> None:
    for i in range(20):  # Throttle(): 20 failures per client address in 5 minutes
        assert _token(anon, f"ghost{i}", "whatever").status_code == 401
    blocked = _token(anon, ADMIN, PASSWORD)
    assert blocked.status_code == 429 and 0 < int(blocked.headers["retry-after"]) <= 300
    assert "testclient" in blocked.json()["error"]["message"]
    other = TestClient(anon.app, client=("10.1.2.3", 40000))  # another address is not held back
    assert _token(other, ADMIN, PASSWORD).status_code == 200


# ---- token life ----------------------------------------------------------------------------------------------


def test_expired_token_is_401(anon: TestClient, city: Settings) -> None:
    token = login(anon, ADMIN)
    assert anon.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    with session_scope(city) as s:
        s.execute(
            update(Token)
            .where(Token.id == _token_id(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    r = anon.get("/api/v1/auth/me", headers=bearer(token))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_revoked_token_is_401(anon: TestClient, city: Settings) -> None:
    token = login(anon, ADMIN)
    with session_scope(city) as s:
        service.revoke_token(s, _token_id(token))  # as `chengyun tokens revoke` does
    assert anon.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401


def test_disabled_users_token_is_401(anon: TestClient, city: Settings) -> None:
    make_user(city, "clerk", "operator", TARGET)
    token = login(anon, "clerk")
    with session_scope(city) as s:  # disabled without revoking its tokens: the user check alone refuses them
        s.execute(update(User).where(User.name == "clerk").values(disabled=True))
    assert anon.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    r = _token(anon, "clerk", PASSWORD)
    assert r.status_code == 401 and r.json() == _token(anon, "ghost", PASSWORD).json()


def test_logout_revokes_the_token(anon: TestClient) -> None:
    token, other = login(anon, ADMIN), login(anon, ADMIN)
    assert anon.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert anon.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    assert anon.get("/api/v1/auth/me", headers=bearer(other)).status_code == 200  # only the one used


def test_machine_tokens_list_and_revoke(anon: TestClient) -> None:
    headers = bearer(login(anon, ADMIN))
    made = anon.post("/api/v1/tokens", json={"name": "ingest", "expires_days": 30}, headers=headers)
    assert made.status_code == 201 and TOKEN_RE.match(made.json()["token"])
    api = made.json()["token"]
    assert anon.get("/api/v1/auth/me", headers=bearer(api)).json()["name"] == ADMIN
    listed = {t["id"]: t for t in anon.get("/api/v1/tokens", headers=headers).json()}
    assert listed[made.json()["id"]]["kind"] == "api" and listed[made.json()["id"]]["name"] == "ingest"
    assert all("token" not in t and "secret_hash" not in t for t in listed.values())  # never the secrets
    assert anon.delete(f"/api/v1/tokens/{made.json()['id']}", headers=headers).status_code == 204
    assert anon.get("/api/v1/auth/me", headers=bearer(api)).status_code == 401
    assert anon.delete("/api/v1/tokens/0123456789abcdef", headers=headers).status_code == 404


def test_a_token_of_another_user_cannot_be_revoked(anon: TestClient, city: Settings) -> None:
    make_user(city, "clerk", "operator", TARGET)
    theirs = login(anon, "clerk")
    r = anon.delete(f"/api/v1/tokens/{_token_id(theirs)}", headers=bearer(login(anon, ADMIN)))
    assert r.status_code == 404
    assert anon.get("/api/v1/auth/me", headers=bearer(theirs)).status_code == 200


# ---- console sessions and CSRF -------------------------------------------------------------------------------


def _console_login(client: TestClient, name: str = ADMIN, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/login")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, "the login form carries a CSRF value"
    return client.post(
        "/login",
        data={"username": name, "password": password, "csrf": csrf.group(1), "next": "/overview"},
        follow_redirects=False,
    )


def test_console_login_sets_a_session_cookie(anon: TestClient) -> None:
    r = _console_login(anon)
    assert r.status_code == 303 and r.headers["location"] == "/overview"
    cookie = r.headers["set-cookie"]
    assert "cy_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    me = anon.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["via"] == "session"


def test_console_login_form_needs_its_csrf_value(anon: TestClient) -> None:
    anon.get("/login")
    r = anon.post("/login", data={"username": ADMIN, "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 403 and "cy_session" not in r.headers.get("set-cookie", "")


def test_console_login_wrong_password_shows_the_form_again(anon: TestClient) -> None:
    r = _console_login(anon, password="not-the-password")
    assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
    assert 'name="username"' in r.text and "cy_session" not in r.headers.get("set-cookie", "")


def test_session_post_without_csrf_header_is_403(anon: TestClient) -> None:
    _console_login(anon)
    r = anon.post("/api/v1/tokens", json={"name": "x"})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
    r = anon.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    page = anon.get("/overview")
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert csrf, "console pages carry the session's CSRF token"
    r = anon.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf.group(1)})
    assert r.status_code == 201, r.text
    assert anon.get("/api/v1/tokens").status_code == 200  # safe methods need no token


def test_console_logout_with_the_form_field_ends_the_session(anon: TestClient) -> None:
    _console_login(anon)
    csrf = re.search(r'name="csrf" value="([^"]+)"', anon.get("/overview").text)
    assert csrf, "the logout form carries the CSRF token"
    assert anon.post("/logout", data={}, follow_redirects=False).status_code == 403
    r = anon.post("/logout", data={"csrf": csrf.group(1)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    anon.cookies.clear()
    assert anon.get("/api/v1/auth/me").status_code == 401


def test_a_bearer_token_is_no_session_cookie(anon: TestClient) -> None:
    anon.cookies.set("cy_session", login(anon, ADMIN))
    assert anon.get("/api/v1/auth/me").status_code == 401


# ---- who am I ------------------------------------------------------------------------------------------------


def test_me_for_the_city_administrator(anon: TestClient) -> None:
    me = anon.get("/api/v1/auth/me", headers=bearer(login(anon, ADMIN))).json()
    assert me == {
        "name": ADMIN,
        "display_name": "市管理员",
        "grants": [{"role": "admin", "unit": TENANT}],
        "permissions": ALL_PERMISSIONS,
        "via": "bearer",
    }


@pytest.mark.parametrize(
    ("role", "permissions"),
    [
        ("citizen", ["packs.read"]),
        (
            "auditor",
            [
                "alarms.read",
                "assets.read",
                "audit.read",
                "cases.read",
                "console.read",
                "datasets.read",
                "evaluations.read",
                "packs.read",
                "tenants.read",
                "users.read",
            ],
        ),
        (
            "operator",
            [
                "alarms.ack",
                "alarms.read",
                "alarms.rules",
                "assets.read",
                "assets.write",
                "cases.read",
                "cases.rules",
                "cases.write",
                "console.read",
                "datasets.read",
                "datasets.write",
                "evaluations.read",
                "evaluations.run",
                "inputs.write",
                "packs.read",
                "quality.run",
                "sharing.decide",
                "sharing.request",
                "telemetry.write",
                "tenants.read",
            ],
        ),
        (
            "department",
            ["alarms.ack", "alarms.read", "assets.read", "cases.read", "cases.write", "console.read",
             "datasets.read", "datasets.write", "evaluations.read", "packs.read", "quality.run", "sharing.decide",
             "sharing.request", "tenants.read"],
        ),
    ],
)
def test_me_lists_what_a_role_may_do(
    anon: TestClient, city: Settings, role: str, permissions: list[str]
) -> None:
    make_user(city, f"a-{role}", role, TARGET)
    me = anon.get("/api/v1/auth/me", headers=bearer(login(anon, f"a-{role}"))).json()
    assert me["grants"] == [{"role": role, "unit": TARGET}] and me["permissions"] == permissions


def test_me_without_grants(anon: TestClient, city: Settings) -> None:
    make_user(city, "nobody", None, None)
    me = anon.get("/api/v1/auth/me", headers=bearer(login(anon, "nobody"))).json()
    assert me["grants"] == [] and me["permissions"] == []


# ---- self-service tokens have a longest life -----------------------------------------------------------------


def test_a_token_made_by_a_login_lasts_at_most_the_maximum(anon: TestClient) -> None:
    headers = bearer(login(anon, ADMIN))  # an 8-hour access token
    before = utcnow()
    made = anon.post("/api/v1/tokens", json={"name": "ci"}, headers=headers)
    assert made.status_code == 201, made.text
    expires = made.json()["expires_at"]
    # CHENGYUN_TOKEN_MAX_DAYS, default 90: left out, the token gets that many days
    from datetime import datetime
    delta = datetime.fromisoformat(expires).replace(tzinfo=None) - before
    assert timedelta(days=90) - timedelta(minutes=1) < delta <= timedelta(days=90, minutes=1)
    for asked in (None, 91, 3650):
        r = anon.post("/api/v1/tokens", json={"name": "forever", "expires_days": asked}, headers=headers)
        assert r.status_code == 422, asked
        error = r.json()["error"]
        assert error["message"].startswith("expires_days:") and "90 days" in error["message"]
        assert "chengyun tokens create" in error["fix"]
    assert anon.post("/api/v1/tokens", json={"expires_days": 90}, headers=headers).status_code == 201
    kinds = [t["kind"] for t in anon.get("/api/v1/tokens", headers=headers).json()]
    assert kinds.count("api") == 2  # the refused ones left nothing behind


def test_the_maximum_is_a_setting(tmp_path: Path) -> None:
    settings = build_accounts_city(Settings(workspace=tmp_path / "ws", token_max_days=7))
    with TestClient(create_app(settings)) as c:
        headers = bearer(login(c, ADMIN))
        assert c.post("/api/v1/tokens", json={"expires_days": 8}, headers=headers).status_code == 422
        made = c.post("/api/v1/tokens", json={}, headers=headers)
        assert made.status_code == 201
        with session_scope(settings) as s:
            row = s.get(Token, made.json()["id"])
            assert row is not None and row.expires_at is not None
            assert row.expires_at - row.created_at == timedelta(days=7)


def test_console_logout_revokes_the_session_itself(anon: TestClient) -> None:
    _console_login(anon)
    stolen = anon.cookies.get("cy_session")
    assert stolen and anon.get("/api/v1/auth/me").status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', anon.get("/overview").text)
    assert csrf
    assert anon.post("/logout", data={"csrf": csrf.group(1)}, follow_redirects=False).status_code == 303
    anon.cookies.clear()
    anon.cookies.set("cy_session", stolen)  # the same cookie, sent again after logging out
    assert anon.get("/api/v1/auth/me").status_code == 401


# ---- answers to a logged-in request are not stored --------------------------------------------------------------


def test_logged_in_answers_are_no_store(anon: TestClient) -> None:
    token = _token(anon, ADMIN, PASSWORD)
    assert token.headers["cache-control"] == "no-store"  # an answer carrying a credential
    headers = bearer(token.json()["access_token"])
    for path in ("/api/v1/auth/me", "/api/v1/tenants", "/api/v1/users", "/api/v1/nope"):
        assert anon.get(path, headers=headers).headers.get("cache-control") == "no-store", path
    assert anon.get("/static/css/console.css", headers=headers).headers.get("cache-control") is None
    assert anon.get("/api/v1/openapi.json").headers.get("cache-control") is None  # anonymous and public
    _console_login(anon)
    for path in ("/overview", "/api/v1/auth/me"):
        assert anon.get(path).headers.get("cache-control") == "no-store", path
    assert anon.get("/static/css/console.css").headers.get("cache-control") is None


# ---- the API documentation page ------------------------------------------------------------------------------


def test_the_docs_page_loads_nothing_from_elsewhere(anon: TestClient) -> None:
    page = anon.get("/api/v1/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    urls = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', page.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "http" not in page.text.replace("'http'", "")  # no absolute address anywhere in the page
    csp = page.headers["content-security-policy"]
    assert "http" not in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    for url in urls:  # and every asset it names is served here
        r = anon.get(url)
        assert r.status_code == 200 and len(r.content) > 1000, url
    bundle = anon.get("/static/swagger-ui-bundle.js").text
    assert re.search(r'"5\.\d+\.\d+"', bundle)  # Swagger UI 5: the first to read OpenAPI 3.1
    assert anon.get("/api/v1/openapi.json").json()["openapi"].startswith("3.1")


# ---- proxies: X-Forwarded-For only from the configured ones ---------------------------------------------------


def _login_client(settings: Settings, peer: str, forwarded: str) -> str | None:
    """The client address the audit trail records for a failed login from ``peer`` saying ``forwarded``."""
    from chengyun.accounts.models import AuditEntry

    with TestClient(create_app(settings), client=(peer, 50000)) as c:
        r = c.post("/api/v1/auth/token", data={"username": ADMIN, "password": "wrong-password"},
                   headers={"X-Forwarded-For": forwarded})
        assert r.status_code == 401
    with session_scope(settings) as s:
        return s.scalars(select(AuditEntry.client).where(AuditEntry.action == "login")
                         .order_by(AuditEntry.seq.desc())).first()


def test_forwarded_for_is_believed_only_from_the_configured_proxies(tmp_path: Path) -> None:
    plain = build_accounts_city(Settings(workspace=tmp_path / "a"))
    assert plain.forwarded_allow_ips == ""  # the default believes nobody, not even this machine
    assert _login_client(plain, "127.0.0.1", "203.0.113.7") == "127.0.0.1"
    assert _login_client(plain, "10.0.0.5", "203.0.113.7") == "10.0.0.5"
    proxied = build_accounts_city(Settings(workspace=tmp_path / "b", forwarded_allow_ips="10.0.0.5, 10.0.1.0/24"))
    assert _login_client(proxied, "10.0.0.5", "203.0.113.7") == "203.0.113.7"
    assert _login_client(proxied, "10.0.1.9", "203.0.113.8") == "203.0.113.8"
    assert _login_client(proxied, "127.0.0.1", "203.0.113.7") == "127.0.0.1"  # not named: not believed


def test_a_forged_forwarded_for_does_not_escape_the_address_throttle(anon: TestClient) -> None:
    for i in range(20):  # every failure claims another address
        r = anon.post("/api/v1/auth/token", data={"username": f"ghost{i}", "password": "x" * 10},
                      headers={"X-Forwarded-For": f"198.51.100.{i}"})
        assert r.status_code == 401
    r = anon.post("/api/v1/auth/token", data={"username": ADMIN, "password": PASSWORD},
                  headers={"X-Forwarded-For": "198.51.100.200"})
    assert r.status_code == 429 and "testclient" in r.json()["error"]["message"]


def test_a_password_typed_as_the_name_is_not_in_the_audit_trail(anon: TestClient, city: Settings) -> None:
    from chengyun.accounts.models import AuditEntry

    typed = "Xq7-harbour-2031"  # the user's password, typed into the name field by mistake
    for attempt in ("", "second try"):
        assert _token(anon, typed, attempt).status_code == 401
    with session_scope(city) as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "login")))
    assert len(rows) == 2 and rows[0].actor == rows[1].actor  # the same name, the same hash: attempts still show
    assert re.fullmatch(r"unknown:h:[0-9a-f]{16}", rows[0].actor)
    for row in rows:
        assert "harbour" not in repr((row.actor, row.target_id, row.detail))
