"""Passwords, lock-out, tokens and the login throttle, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from chengyun.accounts import access, service
from chengyun.accounts.access import Throttle, password_login
from chengyun.accounts.models import AuditEntry, Token, User
from chengyun.core.db import session_scope, utcnow
from chengyun.core.errors import Conflict, InvalidInput, NotFound, TooManyRequests, Unauthorized
from chengyun.core.settings import Settings
from tests.accounts.conftest import CITY

PASSWORD = "correct horse battery"
LOCKOUT = timedelta(minutes=15)


def add(settings: Settings, name: str = "alice", role: str = "operator", unit: str = CITY,
        password: str | None = PASSWORD) -> str | None:
    with session_scope(settings) as s:
        _user, generated = service.add_user(s, name=name, role=role, unit_id=unit, password=password)
    return generated


def login(settings: Settings, name: str, password: str, max_failures: int = 3) -> service.LoginResult:
    with session_scope(settings) as s:
        return service.check_login(s, name, password, max_failures=max_failures, lockout=LOCKOUT)


def user_row(settings: Settings, name: str) -> User:
    with session_scope(settings) as s:
        return s.scalars(select(User).where(User.name == name)).one()


def set_user(settings: Settings, name: str, **values: object) -> None:
    with session_scope(settings) as s:
        user = s.scalars(select(User).where(User.name == name)).one()
        for k, v in values.items():
            setattr(user, k, v)


# ---- passwords ----------------------------------------------------------------------------------------------


def test_the_production_hasher_is_argon2id_with_rfc9106_parameters() -> None:
    # the dummy hash is made at import with the module's own hasher, before any test replaces it
    assert service._DUMMY_HASH.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_stored_password_is_an_argon2id_hash_of_it(city: Settings) -> None:
    add(city)
    stored = user_row(city, "alice").password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)  # checked by argon2 itself, not by the service


def test_generated_password_is_returned_once_and_works(city: Settings) -> None:
    generated = add(city, password=None)
    assert generated is not None and len(generated) == 19
    assert login(city, "alice", generated).user is not None
    assert add(city, name="bob") is None  # a given password is not echoed back


def test_short_password_is_refused(city: Settings) -> None:
    with pytest.raises(InvalidInput) as err:
        add(city, password="short")
    assert "10" in (err.value.fix or "")
    with session_scope(city) as s:
        assert s.scalar(select(User).where(User.name == "alice")) is None


def test_wrong_password_counts_failures_and_the_right_one_resets_them(city: Settings) -> None:
    add(city)
    for _ in range(2):
        result = login(city, "alice", "wrong password!")
        assert (result.user, result.reason) == (None, "bad-credentials")
    assert user_row(city, "alice").failed_logins == 2
    ok = login(city, "alice", PASSWORD)
    assert ok.user is not None and ok.user.name == "alice"
    row = user_row(city, "alice")
    assert row.failed_logins == 0 and row.last_login_at is not None


def test_account_locks_after_max_failures_and_refuses_the_right_password(city: Settings) -> None:
    add(city)
    before = utcnow()
    results = [login(city, "alice", f"wrong password {i}", max_failures=3) for i in range(3)]
    after = utcnow()
    assert [r.reason for r in results] == ["bad-credentials", "bad-credentials", "locked"]
    locked_until = user_row(city, "alice").locked_until
    assert locked_until is not None and before + LOCKOUT <= locked_until <= after + LOCKOUT
    refused = login(city, "alice", PASSWORD, max_failures=3)
    assert (refused.user, refused.reason, refused.locked_until) == (None, "locked", locked_until)
    set_user(city, "alice", locked_until=utcnow() - timedelta(seconds=1))  # the lock-out has passed
    assert login(city, "alice", PASSWORD, max_failures=3).user is not None
    row = user_row(city, "alice")
    assert row.locked_until is None and row.failed_logins == 0


def test_login_attempts_are_audited_with_their_outcome(city: Settings) -> None:
    add(city)
    login(city, "alice", "wrong password!", max_failures=2)
    login(city, "alice", "wrong password!", max_failures=2)
    login(city, "alice", PASSWORD, max_failures=2)  # locked
    login(city, "nobody", PASSWORD)
    with session_scope(city) as s:
        rows = [(e.actor, e.outcome, (e.detail or {}).get("reason"))
                for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "login").order_by(AuditEntry.seq))]
    assert rows == [("alice", "failed", "bad-credentials"), ("alice", "failed", "bad-credentials"),
                    ("alice", "denied", "locked"), ("unknown:nobody", "failed", "bad-credentials")]


def test_disabled_user_is_refused_with_the_right_password(city: Settings) -> None:
    add(city)
    with session_scope(city) as s:
        service.disable_user(s, "alice")
    result = login(city, "alice", PASSWORD)
    assert (result.user, result.reason) == (None, "disabled")


def test_set_password_replaces_the_old_one_and_unlocks(city: Settings) -> None:
    add(city)
    set_user(city, "alice", locked_until=utcnow() + timedelta(hours=1), failed_logins=2)
    with session_scope(city) as s:
        service.set_password(s, "alice", "a brand new password")
    assert login(city, "alice", PASSWORD).reason == "bad-credentials"
    assert login(city, "alice", "a brand new password").user is not None


def test_a_hash_with_old_parameters_is_upgraded_at_login(city: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    add(city)
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    monkeypatch.setattr(service, "HASHER", stronger)
    assert login(city, "alice", PASSWORD).user is not None
    assert ",t=2," in user_row(city, "alice").password_hash


def test_user_names_roles_units_and_duplicates_are_checked(city: Settings) -> None:
    for bad in ("a b", "admin\n", "-admin", "x"):
        with pytest.raises(InvalidInput):
            add(city, name=bad)
    with pytest.raises(InvalidInput):
        add(city, role="mayor")
    with pytest.raises(NotFound):
        add(city, unit="c9")
    add(city)
    with pytest.raises(Conflict):
        add(city, role="admin")


# ---- tokens -------------------------------------------------------------------------------------------------


def make_token(settings: Settings, name: str = "alice", days: int | None = 30) -> tuple[str, str]:
    with session_scope(settings) as s:
        row, token = service.create_api_token(s, name=name, expires_days=days, label="ci")
    return row.id, token


def resolve(settings: Settings, token: str, kinds: tuple[str, ...] = service.TOKEN_KINDS) -> str | None:
    with session_scope(settings) as s:
        found = service.resolve_token(s, token, kinds=kinds)
        return None if found is None else found[1].name


def test_token_resolves_and_only_its_hash_is_stored(city: Settings) -> None:
    add(city)
    token_id, token = make_token(city)
    prefix, tid, secret = token.split("_", 2)
    assert (prefix, tid) == ("cy", token_id)
    assert resolve(city, token) == "alice"
    with session_scope(city) as s:
        row = s.get(Token, token_id)
        assert row is not None and row.kind == "api" and row.name == "ci"
        assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in (row.secret_hash, row.name, row.id)
        assert row.expires_at is not None and row.expires_at - row.created_at == timedelta(days=30)
    assert resolve(city, token[:-1] + ("A" if token[-1] != "A" else "B")) is None  # one character off
    assert resolve(city, "not a token") is None
    assert resolve(city, token + "\n") is None
    assert resolve(city, token, kinds=("session",)) is None


def test_expired_token_stops_resolving(city: Settings) -> None:
    add(city)
    token_id, token = make_token(city)
    with session_scope(city) as s:
        row = s.get(Token, token_id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert resolve(city, token) is None


def test_revoked_token_and_disabled_user_stop_resolving(city: Settings) -> None:
    add(city)
    add(city, name="bob")
    token_a, token = make_token(city)
    _id, bob_token = make_token(city, "bob", days=None)
    with session_scope(city) as s:
        service.revoke_token(s, token_a)
        service.disable_user(s, "bob")
    assert resolve(city, token) is None
    assert resolve(city, bob_token) is None
    with session_scope(city) as s, pytest.raises(Conflict):
        service.create_api_token(s, name="bob")


def test_token_lifetime_out_of_range_is_refused(city: Settings) -> None:
    add(city)
    for days in (0, 3651):
        with session_scope(city) as s, pytest.raises(InvalidInput):
            service.create_api_token(s, name="alice", expires_days=days)


# ---- throttle -----------------------------------------------------------------------------------------------


def test_throttle_blocks_a_client_after_its_limit_until_the_window_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(access, "time", SimpleNamespace(monotonic=lambda: clock.now))
    throttle = Throttle(limit=3, window=60)
    for _ in range(2):
        throttle.fail("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.fail("10.0.0.1")
    clock.now += 10
    assert throttle.retry_after("10.0.0.1") == 51  # the first failure leaves the window at 1060
    assert throttle.retry_after("10.0.0.2") == 0  # per client
    clock.now += 50.5
    assert throttle.retry_after("10.0.0.1") == 0


def test_password_login_is_throttled_even_with_the_right_password(city: Settings) -> None:
    add(city)
    settings = city.model_copy(update={"login_max_failures": 100})
    throttle = Throttle(limit=2, window=300)
    for _ in range(2):
        with session_scope(city) as s:
            failed = password_login(s, settings, throttle, client="10.0.0.9", name="alice", password="nope nope nope",
                                    kind="access")
        assert isinstance(failed, Unauthorized)
    with session_scope(city) as s:
        blocked = password_login(s, settings, throttle, client="10.0.0.9", name="alice", password=PASSWORD,
                                 kind="access")
        assert isinstance(blocked, TooManyRequests) and blocked.retry_after > 0
        elsewhere = password_login(s, settings, throttle, client="10.0.0.10", name="alice", password=PASSWORD,
                                   kind="access")
    assert not isinstance(elsewhere, Exception)
    user, row, token = elsewhere
    assert user.name == "alice" and row.kind == "access"
    assert row.expires_at is not None and row.expires_at - row.created_at == timedelta(hours=settings.access_token_hours)
    assert resolve(city, token) == "alice"


def test_locked_account_answers_too_many_requests(city: Settings) -> None:
    add(city)
    settings = city.model_copy(update={"login_max_failures": 2, "login_lockout_minutes": 10})
    throttle = Throttle(limit=100)
    answers = []
    for _ in range(2):
        with session_scope(city) as s:
            answers.append(password_login(s, settings, throttle, client="c", name="alice", password="bad password",
                                          kind="session"))
    assert isinstance(answers[0], Unauthorized)
    assert isinstance(answers[1], TooManyRequests) and 590 <= answers[1].retry_after <= 600
