"""Users, grants and tokens: create, list, disable, grant; password and token checks.

Passwords are stored as argon2id hashes. Tokens (console sessions, access tokens, machine API tokens) look like
``cy_<id>_<secret>``: the id is public (it names the token in lists and in ``tokens revoke``), the secret is
stored only as its SHA-256, which is enough for a random 256-bit secret and keeps each request cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.accounts.models import Grant, Token, User
from chengyun.accounts.policy import ROLES, check_role
from chengyun.core.db import utcnow
from chengyun.core.errors import Conflict, InvalidInput, NotFound
from chengyun.core.scoping import unscoped
from chengyun.tenancy.service import get_unit

HASHER = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
_DUMMY_HASH = HASHER.hash("timing-equaliser")
# \Z, not $: "$" also matches before a final newline, which would let "admin\n" in as a user name
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}\Z")
TOKEN_RE = re.compile(r"^cy_([a-z0-9]{16})_([A-Za-z0-9_-]{20,100})\Z")
MIN_PASSWORD = 10
TOKEN_KINDS = ("session", "access", "api")


def generate_password() -> str:
    """A random password people can type: 4 groups of 4 letters and digits (about 95 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: too short ({len(password)} characters)",
                           fix=f"use at least {MIN_PASSWORD} characters, or leave it out to get a generated one")
    if len(password) > 200:
        raise InvalidInput("password: longer than 200 characters", fix="use a shorter password")
    return password


def get_user(session: Session, name: str) -> User:
    """The user called ``name``, else NotFound."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user {name!r}", fix="see `chengyun users list`")
    return user


def add_user(
    session: Session, *, name: str, role: str, unit_id: str, password: str | None = None,
    display_name: str | None = None,
) -> tuple[User, str | None]:
    """Create a user with one grant; returns the user and the generated password (None when one was given)."""
    if not NAME_RE.match(name):
        raise InvalidInput(f"user name {name!r} is not allowed",
                           fix="use 2–64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    check_role(role)
    get_unit(session=session, unit_id=unit_id)
    taken = Conflict(f"the user name {name!r} is taken",
                     fix="choose another name (user names are unique across every unit, also those you cannot see)")
    with unscoped(session):  # names are unique city-wide: a user in a unit the caller cannot see takes it too
        if session.scalar(select(User.id).where(User.name == name)) is not None:
            raise taken
    chosen = password if password is not None else generate_password()
    generated = None if password is not None else chosen
    user = User(name=name, display_name=display_name, password_hash=HASHER.hash(_check_password(chosen)))
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # the same name created by a concurrent request since the check
        raise taken from None
    session.add(Grant(user_id=user.id, role=role, unit_id=unit_id))
    session.flush()
    audit.record(session, "user.add", target_type="user", target_id=name, tenant_id=unit_id,
                 detail={"role": role, "unit": unit_id})
    return user, generated


def grant(session: Session, *, name: str, role: str, unit_id: str) -> Grant:
    """Give ``name`` the role on the unit's subtree (a grant that exists already is a Conflict)."""
    user = get_user(session, name)
    check_role(role)
    get_unit(session=session, unit_id=unit_id)
    exists = session.scalar(select(Grant).where(Grant.user_id == user.id, Grant.role == role,
                                                Grant.unit_id == unit_id))
    if exists is not None:
        raise Conflict(f"{name} already has {role} on {unit_id}", fix="nothing to do")
    g = Grant(user_id=user.id, role=role, unit_id=unit_id)
    session.add(g)
    session.flush()
    audit.record(session, "user.grant", target_type="user", target_id=name, tenant_id=unit_id,
                 detail={"role": role, "unit": unit_id})
    return g


def revoke_grant(session: Session, *, name: str, role: str, unit_id: str) -> None:
    """Take the role on the unit away from ``name``."""
    user = get_user(session, name)
    g = session.scalar(select(Grant).where(Grant.user_id == user.id, Grant.role == role, Grant.unit_id == unit_id))
    if g is None:
        raise NotFound(f"{name} has no {role} grant on {unit_id}", fix="see `chengyun users list`")
    session.delete(g)
    session.flush()
    audit.record(session, "user.revoke", target_type="user", target_id=name, tenant_id=unit_id,
                 detail={"role": role, "unit": unit_id})


def _revoke_all(session: Session, user: User) -> int:
    """Revoke every live session and token of ``user``; returns how many."""
    now, count = utcnow(), 0
    for t in session.scalars(select(Token).where(Token.user_id == user.id, Token.revoked_at.is_(None))):
        t.revoked_at, count = now, count + 1
    return count


def disable_user(session: Session, name: str) -> User:
    """Disable ``name``: it can no longer log in, and its sessions and tokens are revoked."""
    user = get_user(session, name)
    user.disabled = True
    revoked = _revoke_all(session, user)
    session.flush()
    audit.record(session, "user.disable", target_type="user", target_id=name, detail={"tokens_revoked": revoked})
    return user


def set_password(session: Session, name: str, password: str) -> None:
    """Replace ``name``'s password and revoke its sessions and tokens (whoever held them must log in anew)."""
    user = get_user(session, name)
    user.password_hash = HASHER.hash(_check_password(password))
    user.failed_logins, user.locked_until = 0, None
    revoked = _revoke_all(session, user)
    session.flush()
    audit.record(session, "user.password", target_type="user", target_id=name, detail={"tokens_revoked": revoked})


def grants_of(session: Session, user_id: int) -> list[Grant]:
    """A user's grants, in a stable order."""
    return list(session.scalars(select(Grant).where(Grant.user_id == user_id).order_by(Grant.unit_id, Grant.role)))


def list_users(session: Session) -> list[tuple[User, list[Grant]]]:
    """Every user with its grants, by name."""
    users = list(session.scalars(select(User).order_by(User.name)))
    by_user: dict[int, list[Grant]] = {}
    for g in session.scalars(select(Grant).order_by(Grant.unit_id, Grant.role)):
        by_user.setdefault(g.user_id, []).append(g)
    return [(u, by_user.get(u.id, [])) for u in users]


# ---- tokens -------------------------------------------------------------------------------------------------


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(
    session: Session, user: User, *, kind: str, lifetime: timedelta | None, name: str | None = None,
) -> tuple[Token, str]:
    """A new token for ``user``; returns the row and the token string (shown once, never stored)."""
    assert kind in TOKEN_KINDS
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = Token(id=token_id, user_id=user.id, kind=kind, secret_hash=_digest(secret), name=name, created_at=now,
                expires_at=None if lifetime is None else now + lifetime)
    session.add(row)
    session.flush()
    return row, f"cy_{token_id}_{secret}"


def create_api_token(session: Session, *, name: str, expires_days: int | None = 90, label: str | None = None,
                     max_days: int | None = None) -> tuple[Token, str]:
    """A long-lived machine token for user ``name`` (``expires_days`` None: never expires).

    ``max_days`` bounds a token a logged-in user makes for themself (CHENGYUN_TOKEN_MAX_DAYS): a short login must
    not turn into a credential that outlives it by years, or forever.
    """
    if expires_days is not None and not 1 <= expires_days <= 3650:
        raise InvalidInput(f"expires-days: {expires_days} is out of range", fix="use 1 to 3650 days")
    if max_days is not None and (expires_days is None or expires_days > max_days):
        asked = "no expiry" if expires_days is None else f"{expires_days} days"
        raise InvalidInput(f"expires_days: {asked} asked, but a token you make for yourself lasts at most "
                           f"{max_days} days (CHENGYUN_TOKEN_MAX_DAYS)",
                           fix=f"ask for 1 to {max_days} days, or leave expires_days out to get {max_days}; a "
                           "longer-lived machine token is made on the server with `chengyun tokens create`")
    user = get_user(session, name)
    if user.disabled:
        raise Conflict(f"user {name!r} is disabled", fix="tokens can only be made for enabled users")
    row, token = issue_token(session, user, kind="api", name=label,
                             lifetime=None if expires_days is None else timedelta(days=expires_days))
    audit.record(session, "token.create", target_type="token", target_id=row.id,
                 detail={"user": name, "expires_at": None if row.expires_at is None else row.expires_at.isoformat()})
    return row, token


def revoke_token(session: Session, token_id: str) -> Token:
    """Revoke a token by its id (revoking it twice is harmless)."""
    row = session.get(Token, token_id)
    if row is None:
        raise NotFound(f"no token {token_id!r}", fix="the id is the part after 'cy_' and before the next '_'; "
                       "see `chengyun tokens list`")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
        audit.record(session, "token.revoke", target_type="token", target_id=token_id, detail={"kind": row.kind})
    return row


def list_tokens(session: Session, user_name: str | None = None) -> list[tuple[Token, str]]:
    """Tokens with their user's name (sessions and access tokens included), newest first."""
    stmt = select(Token, User.name).join(User, User.id == Token.user_id).order_by(Token.created_at.desc())
    if user_name:
        stmt = stmt.where(User.name == user_name)
    return [(t, n) for t, n in session.execute(stmt)]


def resolve_token(session: Session, token: str, *, kinds: tuple[str, ...] = TOKEN_KINDS) -> tuple[Token, User] | None:
    """The live token and its enabled user for a token string, else None (wrong, expired, revoked, disabled)."""
    m = TOKEN_RE.match(token or "")
    if not m:
        return None
    found = session.execute(select(Token, User).join(User, User.id == Token.user_id)
                            .where(Token.id == m.group(1))).first()  # one round trip for both
    if found is None:
        return None
    row, user = found[0], found[1]
    if row.kind not in kinds or not hmac.compare_digest(row.secret_hash, _digest(m.group(2))):
        return None
    now = utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if user.disabled:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):  # one write per 5 min at most
        row.last_used_at = now
    return row, user


# ---- password login -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a password check: the user when it succeeded, else why not."""

    user: User | None
    reason: str | None = None  # bad-credentials | disabled


def unknown_actor(key: str, name: str) -> str:
    """How the audit log names a login attempt for a name that is no user: a keyed hash, never the name as typed
    (people type their password into the name field). The same name always gives the same hash."""
    digest = hmac.new(key.encode(), f"login-name:{name}".encode(), hashlib.sha256).hexdigest()
    return f"unknown:h:{digest[:16]}"


def check_login(session: Session, name: str, password: str, *, key: str) -> LoginResult:
    """Check a password and audit the attempt (``key``: the secret key, for naming unknown names in the audit log).

    Every attempt verifies exactly one argon2 hash (a dummy one for unknown names) and a failure says only
    "bad-credentials", so neither the answer nor its timing tells which names exist. Throttling is the caller's
    (``access.password_login``): there is no lock on the account that anyone could trigger.
    """
    user = session.scalar(select(User).where(User.name == name)) if NAME_RE.match(name or "") else None
    try:
        HASHER.verify(_DUMMY_HASH if user is None else user.password_hash, password or "")
        good = user is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        good = False
    if user is None or not good:
        if user is not None:
            user.failed_logins += 1  # shown to administrators (`users list --json`); it locks nothing
        actor = unknown_actor(key, name or "") if user is None else user.name
        audit.record(session, "login", outcome="failed", actor=actor, detail={"reason": "bad-credentials"})
        return LoginResult(None, "bad-credentials")
    if user.disabled:
        audit.record(session, "login", outcome="denied", actor=user.name, detail={"reason": "disabled"})
        return LoginResult(None, "disabled")
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, utcnow()
    audit.record(session, "login", actor=user.name)
    return LoginResult(user)


def role_label(role: str, lang: str = "zh") -> str:
    """A role's name in the chosen language."""
    zh, en = ROLES.get(role, (role, role))
    return en if lang == "en" else zh
