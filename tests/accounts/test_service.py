"""Passwords, tokens and the login throttles, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import statistics
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from chengyun.accounts import access, service
from chengyun.accounts.access import LoginThrottle, Throttle, password_login
from chengyun.accounts.models import AuditEntry, Token, User
from chengyun.core.db import session_scope, utcnow
from chengyun.core.errors import Conflict, InvalidInput, NotFound, TooManyRequests, Unauthorized
from chengyun.core.settings import Settings
from tests.accounts.conftest import CITY, PRODUCTION_DUMMY_HASH

PASSWORD = "correct horse battery"
KEY = "k" * 40  # the secret key the login checks are given


def add(settings: Settings, name: str = "alice", role: str = "operator", unit: str = CITY,
        password: str | None = PASSWORD) -> str | None:
    with session_scope(settings) as s:
        _user, generated = service.add_user(s, name=name, role=role, unit_id=unit, password=password)
    return generated


def login(settings: Settings, name: str, password: str) -> service.LoginResult:
    with session_scope(settings) as s:
        return service.check_login(s, name, password, key=KEY)


def keyed(name: str) -> str:
    """The audit actor of an unknown name, worked out here from its definition: HMAC-SHA-256 under the key."""
    return "unknown:h:" + hmac.new(KEY.encode(), b"login-name:" + name.encode(), "sha256").hexdigest()[:16]


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
    assert PRODUCTION_DUMMY_HASH.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


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


def test_no_number_of_failures_locks_the_account(city: Settings) -> None:
    add(city)
    results = [login(city, "alice", f"wrong password {i}") for i in range(12)]
    assert {r.reason for r in results} == {"bad-credentials"}
    assert user_row(city, "alice").failed_logins == 12  # counted for administrators, and nothing more
    assert login(city, "alice", PASSWORD).user is not None
    row = user_row(city, "alice")
    assert row.locked_until is None and row.failed_logins == 0


def test_login_attempts_are_audited_with_their_outcome(city: Settings) -> None:
    add(city)
    login(city, "alice", "wrong password!")
    login(city, "alice", PASSWORD)
    login(city, "nobody", PASSWORD)
    with session_scope(city) as s:
        rows = [(e.actor, e.outcome, (e.detail or {}).get("reason"))
                for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "login").order_by(AuditEntry.seq))]
    assert rows == [("alice", "failed", "bad-credentials"), ("alice", "ok", None),
                    (keyed("nobody"), "failed", "bad-credentials")]


def test_a_password_typed_as_the_user_name_is_never_stored(city: Settings) -> None:
    typed = "Tr0ub4dor&3-secret"  # a password typed into the name field (it is even a valid user name)
    for _ in range(2):
        assert login(city, typed, "").reason == "bad-credentials"
    assert login(city, "Tr0ub4dor&3-other", "").reason == "bad-credentials"
    with session_scope(city) as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "login").order_by(AuditEntry.seq)))
    actors = [e.actor for e in rows]
    assert actors[0] == actors[1] == keyed(typed) and actors[2] == keyed("Tr0ub4dor&3-other") != actors[0]
    for e in rows:  # nowhere in the entry: not the actor, the target, the detail
        assert "Tr0ub4dor" not in repr((e.actor, e.target_id, e.detail, e.client))
    with session_scope(city) as s:  # an unknown name under another key hashes differently
        service.check_login(s, typed, "", key="another key, another city")
        other = s.scalars(select(AuditEntry.actor).order_by(AuditEntry.seq.desc())).first()
    assert other is not None and other.startswith("unknown:h:") and other != keyed(typed)


def test_disabled_user_is_refused_with_the_right_password(city: Settings) -> None:
    add(city)
    with session_scope(city) as s:
        service.disable_user(s, "alice")
    result = login(city, "alice", PASSWORD)
    assert (result.user, result.reason) == (None, "disabled")


def test_set_password_replaces_the_old_one_and_revokes_every_token(city: Settings) -> None:
    add(city)
    add(city, name="bob")
    with session_scope(city) as s:
        alice, bob = service.get_user(s, "alice"), service.get_user(s, "bob")
        held = [service.issue_token(s, alice, kind=k, lifetime=timedelta(hours=8))[1] for k in ("session", "access")]
        bobs = service.issue_token(s, bob, kind="session", lifetime=timedelta(hours=8))[1]
    held.append(make_token(city, days=None)[1])
    assert [resolve(city, t) for t in held] == ["alice"] * 3
    with session_scope(city) as s:
        service.set_password(s, "alice", "a brand new password")
    assert [resolve(city, t) for t in held] == [None, None, None]
    assert resolve(city, bobs) == "bob"  # only hers
    assert login(city, "alice", PASSWORD).reason == "bad-credentials"
    assert login(city, "alice", "a brand new password").user is not None
    with session_scope(city) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "user.password")).one()
    assert entry.detail == {"tokens_revoked": 3}


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
    with pytest.raises(Conflict) as err:
        add(city, role="admin")
    assert err.value.message == "the user name 'alice' is taken"


class CountingHasher(PasswordHasher):
    """The real argon2id hasher, counting its verifications."""

    def __init__(self, **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 (argon2's own name)
        self.verified += 1
        return super().verify(hash, password)


def test_every_login_path_verifies_exactly_one_hash(city: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    add(city)
    add(city, name="bob")
    with session_scope(city) as s:
        service.disable_user(s, "bob")
    counting = CountingHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(service, "HASHER", counting)
    monkeypatch.setattr(service, "_DUMMY_HASH", counting.hash("timing-equaliser"))
    counting.verified = 0
    cases = [("alice", PASSWORD, None), ("alice", "wrong password", "bad-credentials"),
             ("nobody", PASSWORD, "bad-credentials"), ("not a name", PASSWORD, "bad-credentials"),
             ("", "", "bad-credentials"), ("bob", PASSWORD, "disabled")]
    for name, password, reason in cases:
        before = counting.verified
        assert login(city, name, password).reason == reason, name
        assert counting.verified - before == 1, name


def test_unknown_and_known_names_take_comparable_time(city: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    production = PasswordHasher()  # the real cost (64 MiB, 3 passes): the dummy hash must cost what a real one does
    monkeypatch.setattr(service, "HASHER", production)
    monkeypatch.setattr(service, "_DUMMY_HASH", production.hash("timing-equaliser"))
    add(city)
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(3):
        for label, name in (("known", "alice"), ("unknown", "nobody")):
            started = time.perf_counter()
            assert login(city, name, "wrong password").reason == "bad-credentials"
            times[label].append(time.perf_counter() - started)
    known, unknown = statistics.median(times["known"]), statistics.median(times["unknown"])
    assert 1 / 3 < unknown / known < 3, times  # generous: a busy machine must not make it flaky


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
    throttle = LoginThrottle(per_client=Throttle(limit=2, window=300))
    for name in ("alice", "somebody"):  # the per-address limit counts failures whatever the name
        with session_scope(city) as s:
            failed = password_login(s, settings, throttle, client="10.0.0.9", name=name, password="nope nope nope",
                                    kind="access", key=KEY)
        assert isinstance(failed, Unauthorized)
    with session_scope(city) as s:
        blocked = password_login(s, settings, throttle, client="10.0.0.9", name="alice", password=PASSWORD,
                                 kind="access", key=KEY)
        assert isinstance(blocked, TooManyRequests) and blocked.retry_after > 0
        elsewhere = password_login(s, settings, throttle, client="10.0.0.10", name="alice", password=PASSWORD,
                                   kind="access", key=KEY)
    assert not isinstance(elsewhere, Exception)
    user, row, token = elsewhere
    assert user.name == "alice" and row.kind == "access"
    assert row.expires_at is not None and row.expires_at - row.created_at == timedelta(hours=settings.access_token_hours)
    assert resolve(city, token) == "alice"


def _attempt(settings: Settings, throttle: LoginThrottle, client: str, name: str, password: str) -> object:
    with session_scope(settings) as s:
        return password_login(s, settings, throttle, client=client, name=name, password=password, kind="session",
                              key=KEY)


def test_failures_for_one_name_from_one_address_back_off_and_lock_nothing(
    city: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(city)
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(access, "time", SimpleNamespace(monotonic=lambda: clock.now))
    settings = city.model_copy(update={"login_max_failures": 2, "login_lockout_minutes": 2})
    throttle = LoginThrottle(per_client=Throttle(limit=1000))
    pair = ("10.0.0.7", service.unknown_actor(KEY, "alice"))
    waits = []
    for _ in range(5):  # 2 free failures, then 30 s, 60 s, 120 s (the longest: 2 min), 120 s
        assert isinstance(_attempt(settings, throttle, "10.0.0.7", "alice", "bad password"), Unauthorized)
        waits.append(throttle.retry_after(*pair, free=2, longest=120))
        clock.now += waits[-1] - 1
        if waits[-1]:  # a second before the wait is over, even the right password is held back
            held = _attempt(settings, throttle, "10.0.0.7", "alice", PASSWORD)
            assert isinstance(held, TooManyRequests) and held.retry_after == 1
        clock.now += 1
    assert waits == [0, 30, 60, 120, 120]
    clock.now -= 1  # the last wait is not over yet: the same name from another address, and another name, get in
    assert not isinstance(_attempt(settings, throttle, "10.0.0.8", "alice", PASSWORD), Exception)
    add(city, name="bob")
    assert not isinstance(_attempt(settings, throttle, "10.0.0.7", "bob", PASSWORD), Exception)
    assert user_row(city, "alice").locked_until is None
    clock.now += 1
    assert not isinstance(_attempt(settings, throttle, "10.0.0.7", "alice", PASSWORD), Exception)  # waited: in
    assert throttle.retry_after(*pair, free=2, longest=120) == 0  # and the count starts again


def test_a_held_back_name_answers_the_same_whether_it_exists_or_not(city: Settings) -> None:
    add(city)
    settings = city.model_copy(update={"login_max_failures": 3})
    throttle = LoginThrottle(per_client=Throttle(limit=1000))
    answers: dict[str, list[object]] = {}
    for name in ("alice", "nobody-here"):
        answers[name] = [_attempt(settings, throttle, "10.0.0.7", name, "bad password") for _ in range(5)]
    shapes = {name: [(type(a).__name__, a.to_dict()["error"]["message"]) for a in got]  # type: ignore[attr-defined]
              for name, got in answers.items()}
    assert shapes["alice"] == shapes["nobody-here"]
    assert [kind for kind, _ in shapes["alice"]] == ["Unauthorized"] * 3 + ["TooManyRequests"] * 2
    for _, message in shapes["alice"] + shapes["nobody-here"]:
        assert "alice" not in message and "nobody" not in message
