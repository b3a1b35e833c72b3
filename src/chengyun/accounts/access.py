"""Who is calling and what they may see: the principal, its scope per permission, logins and CSRF."""

from __future__ import annotations

import hashlib
import hmac
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
from chengyun.accounts.service import check_login, grants_of, issue_token
from chengyun.core.db import utcnow
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


# ---- failed-login throttle per client ------------------------------------------------------------------------


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


def password_login(
    session: Session, settings: Settings, throttle: Throttle, *, client: str, name: str, password: str, kind: str,
) -> tuple[User, Token, str] | TooManyRequests | Unauthorized:
    """Check a password and issue a token of ``kind`` (session or access).

    Returns the error instead of raising it, so that the caller commits the failure count and the audit entry
    before answering.
    """
    wait = throttle.retry_after(client)
    if wait:
        return TooManyRequests(f"too many failed logins from {client}", retry_after=wait,
                               fix=f"wait {wait} s and try again")
    result = check_login(session, name, password, max_failures=settings.login_max_failures,
                         lockout=timedelta(minutes=settings.login_lockout_minutes))
    if result.user is None:
        throttle.fail(client)
        if result.reason == "locked" and result.locked_until is not None:
            wait = max(1, int((result.locked_until - utcnow()).total_seconds()))
            return TooManyRequests(
                f"account {name!r} is locked after {settings.login_max_failures} failed logins",
                retry_after=wait, fix=f"wait {wait // 60 + 1} min, or ask an administrator to set a new password",
            )
        return Unauthorized("wrong user name or password, or the account is disabled",
                            fix="check both and try again; after repeated failures the account is locked for "
                            f"{settings.login_lockout_minutes:g} min")
    hours = settings.session_hours if kind == "session" else settings.access_token_hours
    row, token = issue_token(session, result.user, kind=kind, lifetime=timedelta(hours=hours))
    return result.user, row, token


def require_login() -> Unauthorized:
    """The error for a request without valid credentials."""
    return Unauthorized(
        "not logged in, or the session or token has expired",
        fix="log in at /login, or send 'Authorization: Bearer <token>' (POST /api/v1/auth/token gives one)",
    )
