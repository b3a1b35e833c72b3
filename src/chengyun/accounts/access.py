"""Who is calling and what they may see: the principal, its scope per permission, logins and CSRF."""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.accounts.models import Token, User
from chengyun.accounts.policy import PERMISSIONS, ROLES
from chengyun.accounts.service import check_login, grants_of, issue_token, unknown_actor
from chengyun.core.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from chengyun.core.scoping import Scope
from chengyun.core.settings import Settings
from chengyun.tenancy.models import AdminUnit


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its grants, expanded to the units each role covers."""

    user_id: int
    name: str
    display_name: str | None
    grants: tuple[tuple[str, str], ...]  # (role, unit_id) as granted
    by_role: Mapping[str, frozenset[str]]  # role → every unit in the granted subtrees
    all_units: frozenset[str]
    roots: frozenset[str]
    token_id: str
    via: str  # session | bearer
    csrf: str | None = None

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(r for r, _ in self.grants)

    def units(self, permission: str) -> frozenset[str]:
        """Every unit on which the caller holds ``permission``."""
        out: set[str] = set()
        for role in PERMISSIONS[permission]:
            out |= self.by_role.get(role, frozenset())
        return frozenset(out)

    def scope(self, permission: str) -> Scope:
        units = self.units(permission)
        return Scope(units, everything=units >= self.all_units, covers_root=bool(units & self.roots))

    def can(self, permission: str, unit_id: str | None = None) -> bool:
        units = self.units(permission)
        return unit_id in units if unit_id is not None else bool(units)

    def require(self, permission: str, unit_id: str | None = None) -> None:
        """Raise Forbidden unless the caller holds ``permission`` (on ``unit_id`` when given)."""
        if self.can(permission, unit_id):
            return
        if unit_id is not None and unit_id not in self.all_units and self.can(permission):
            raise NotFound(f"no administrative unit {unit_id!r}", fix="see GET /api/v1/tenants for the units you may use")
        held = ", ".join(f"{r}@{u}" for r, u in self.grants) or "no grants"
        where = f" on unit {unit_id!r}" if unit_id is not None else ""
        need = "/".join(sorted(PERMISSIONS[permission]))
        raise Forbidden(
            f"{self.name} ({held}) may not {permission}{where}",
            fix=f"this needs the role {need} on that unit or above it; an administrator can grant it "
            f"(`chengyun users grant {self.name} --role ROLE --unit UNIT`)",
        )

    def summary(self, lang: str = "zh") -> str:
        """Roles and units for the page header (管理员@lj …)."""
        return ", ".join(f"{ROLES[r][1 if lang == 'en' else 0]}@{u}" for r, u in self.grants)


def _expand(session: Session, grants: list[tuple[str, str]]) -> tuple[dict[str, frozenset[str]], frozenset[str],
                                                                     frozenset[str]]:
    children: dict[str | None, list[str]] = {}
    for uid, parent in session.execute(select(AdminUnit.id, AdminUnit.parent_id)):
        children.setdefault(parent, []).append(uid)
    all_units = frozenset(u for kids in children.values() for u in kids)
    by_role: dict[str, set[str]] = {}
    for role, unit in grants:
        stack, seen = [unit], by_role.setdefault(role, set())
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            stack.extend(children.get(u, []))
    return ({r: frozenset(u) for r, u in by_role.items()}, all_units, frozenset(children.get(None, [])))


def principal_for(session: Session, user: User, token: Token, *, via: str, secret: str) -> Principal:
    """The principal of ``user`` calling with ``token`` (grants expanded over the current unit tree)."""
    grants = [(g.role, g.unit_id) for g in grants_of(session, user.id)]
    by_role, all_units, roots = _expand(session, grants)
    csrf = csrf_token(secret, token.id) if via == "session" else None
    return Principal(user.id, user.name, user.display_name, tuple(grants), by_role, all_units, roots, token.id, via,
                     csrf)


def csrf_token(secret: str, token_id: str) -> str:
    """The CSRF token of a console session: an HMAC of the session's id, so it needs no storage."""
    return hmac.new(secret.encode(), f"csrf:{token_id}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))


# ---- failed-login throttles ----------------------------------------------------------------------------------


@dataclass
class Throttle:
    """At most ``limit`` failed logins per client address in ``window`` seconds (kept in memory)."""

    limit: int = 20
    window: float = 300.0
    _hits: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.get(client)
            if not hits:
                return 0
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            return int(hits[0] + self.window - now) + 1 if len(hits) >= self.limit else 0

    def fail(self, client: str) -> None:
        with self._lock:
            self._hits.setdefault(client, deque()).append(time.monotonic())


@dataclass
class LoginThrottle:
    """Failed logins held back per client address and per (user name, client address) pair, in memory.

    Per address: ``per_client`` (at most 20 failures in 5 minutes). Per pair: the first
    ``CHENGYUN_LOGIN_MAX_FAILURES`` failures in a row are free, then each further one doubles the wait before the
    pair may try again, from 30 s up to ``CHENGYUN_LOGIN_LOCKOUT_MINUTES``. Nothing is locked on the account itself,
    so guessing at ``admin`` from one address never keeps ``admin`` out from another, and the answer is the same
    whether the name exists or not. Pairs are keyed by a hash of the name: nothing typed is kept.
    """

    per_client: Throttle = field(default_factory=Throttle)
    first_wait: float = 30.0
    forget_after: float = 24 * 3600.0
    _pairs: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)  # failures, last failure
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, client: str, name_key: str, *, free: int, longest: float) -> int:
        """Seconds until ``client`` may try again, for this name (0: now)."""
        wait = self.per_client.retry_after(client)
        with self._lock:
            failures, last = self._pairs.get((name_key, client), (0, 0.0))
        if failures >= free:
            backoff = min(self.first_wait * 2 ** min(failures - free, 30), longest)
            left = last + backoff - time.monotonic()
            wait = max(wait, math.ceil(left) if left > 0 else 0)
        return wait

    def fail(self, client: str, name_key: str) -> None:
        """Count a failure for the address and for the pair."""
        self.per_client.fail(client)
        now = time.monotonic()
        with self._lock:
            failures, _ = self._pairs.get((name_key, client), (0, 0.0))
            self._pairs[(name_key, client)] = (failures + 1, now)
            if len(self._pairs) > 10_000:  # forget pairs quiet for a day, so the table cannot grow without end
                self._pairs = {k: v for k, v in self._pairs.items() if now - v[1] < self.forget_after}

    def succeed(self, client: str, name_key: str) -> None:
        """A good login clears the pair's failures."""
        with self._lock:
            self._pairs.pop((name_key, client), None)


def password_login(
    session: Session, settings: Settings, throttle: LoginThrottle, *, client: str, name: str, password: str,
    kind: str, key: str,
) -> tuple[User, Token, str] | TooManyRequests | Unauthorized:
    """Check a password and issue a token of ``kind`` (session or access); ``key`` is the secret key.

    Returns the error instead of raising it, so that the caller commits the audit entry before answering. Every
    refusal reads the same for a known and an unknown name.
    """
    name_key = unknown_actor(key, name or "")
    wait = throttle.retry_after(client, name_key, free=settings.login_max_failures,
                                longest=settings.login_lockout_minutes * 60)
    if wait:
        return TooManyRequests(f"too many failed logins from {client}", retry_after=wait,
                               fix=f"wait {wait} s and try again; an administrator can set a new password "
                               "(`chengyun users password NAME`)")
    result = check_login(session, name, password, key=key)
    if result.user is None:
        throttle.fail(client, name_key)
        return Unauthorized("wrong user name or password, or the account is disabled",
                            fix="check both and try again; after repeated failures from one address the next "
                            "attempt has to wait")
    throttle.succeed(client, name_key)
    hours = settings.session_hours if kind == "session" else settings.access_token_hours
    row, token = issue_token(session, result.user, kind=kind, lifetime=timedelta(hours=hours))
    return result.user, row, token


def require_login() -> Unauthorized:
    """The error for a request without valid credentials."""
    return Unauthorized(
        "not logged in, or the session or token has expired",
        fix="log in at /login, or send 'Authorization: Bearer <token>' (POST /api/v1/auth/token gives one)",
    )
