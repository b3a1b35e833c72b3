"""``chengyun users | tokens | audit``: accounts (账号), API tokens (访问令牌) and the audit trail (审计日志).

Every write goes through the service functions, which audit it in the same transaction (actor ``cli:<login>``).
Secrets (generated passwords, new tokens) are the only thing written to standard output by the commands that make
them, so that ``PW=$(chengyun users add …)`` and ``TOKEN=$(chengyun tokens create …)`` work.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Column, Table

from chengyun.accounts import audit, service
from chengyun.accounts.models import AuditEntry, Token, User
from chengyun.cli.common import JsonOpt, WorkspaceOpt, console, err_console, open_workspace, print_json
from chengyun.core.db import utcnow
from chengyun.core.errors import InvalidInput

users_app = typer.Typer(help="Users and their roles (用户与角色): a role is granted on a unit and its subtree.",
                        no_args_is_help=True)
tokens_app = typer.Typer(help="Machine API tokens (访问令牌); only their hashes are stored.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail (审计日志): verify it, list entries.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="user name")]
RoleOpt = Annotated[str, typer.Option("--role", help="admin, supervisor, operator, department, auditor or citizen")]
UnitOpt = Annotated[str, typer.Option("--unit", help="administrative unit id; the role covers its whole subtree")]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input (its first line)"),
]


def _stdin_password() -> str:
    """The first line of standard input, without its line ending."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InvalidInput("--password-stdin: standard input holds no password",
                           fix="pipe it in, e.g. `printf '%s\\n' \"$PW\" | chengyun users add … --password-stdin`, "
                           "or leave --password-stdin out to get a generated password")
    return password


def _print_secret(secret: str) -> None:
    """A generated secret, alone on its line on standard output."""
    sys.stdout.write(secret + "\n")
    sys.stdout.flush()


def _local(when: datetime | None, tz: str) -> str:
    """A stored (naive UTC) time as local minutes for tables; empty when unset."""
    if when is None:
        return ""
    return when.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


# ---- users --------------------------------------------------------------------------------------------------


@users_app.command("add")
def users_add(
    name: NameArg,
    role: RoleOpt,
    unit: UnitOpt,
    password_stdin: PasswordStdinOpt = False,
    display_name: Annotated[str | None, typer.Option("--display-name", help="full name shown in the console")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Add a user with one grant; prints the generated password unless --password-stdin gives one."""
    password = _stdin_password() if password_stdin else None
    with open_workspace(workspace) as (_s, session):
        _user, generated = service.add_user(session, name=name, role=role, unit_id=unit, password=password,
                                            display_name=display_name)
    err_console.print(f"added user [bold]{name}[/]: {role}@{unit}", highlight=False)
    if generated is not None:
        err_console.print("generated password (shown only now):")
        _print_secret(generated)


def _user_row(user: User, grants: list[Any], now: datetime) -> dict[str, Any]:
    locked = user.locked_until is not None and user.locked_until > now
    return {"name": user.name, "display_name": user.display_name,
            "grants": [{"role": g.role, "unit": g.unit_id} for g in grants],
            "disabled": user.disabled, "locked": locked, "locked_until": _iso(user.locked_until) if locked else None,
            "failed_logins": user.failed_logins, "created_at": _iso(user.created_at),
            "last_login_at": _iso(user.last_login_at)}


@users_app.command("list")
def users_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List users with their grants (role@unit), state and last login (the read is audited)."""
    with open_workspace(workspace) as (settings, session):
        now = utcnow()
        pairs = service.list_users(session)
        audit.record(session, "users.read", target_type="user", detail={"count": len(pairs)})
        rows = [_user_row(u, g, now) for u, g in pairs]
        last = {u.name: _local(u.last_login_at, settings.timezone) for u, _ in pairs}
        until = {u.name: _local(u.locked_until, settings.timezone) for u, _ in pairs}
    if as_json:
        print_json(rows)
        return
    table = Table(Column("用户名 name", no_wrap=True), "显示名 display name", "授权 grants", "停用 disabled", "锁定 locked",
                  "最近登录 last login", title="users 用户")
    for r in rows:
        grants = ", ".join(f"{g['role']}@{g['unit']}" for g in r["grants"]) or "—"
        table.add_row(r["name"], escape(r["display_name"] or ""), grants, "yes" if r["disabled"] else "",
                      f"until {until[r['name']]}" if r["locked"] else "", last[r["name"]])
    console.print(table)


@users_app.command("disable")
def users_disable(name: NameArg, workspace: WorkspaceOpt = None) -> None:
    """Disable a user: it can no longer log in, and its sessions and tokens are revoked."""
    with open_workspace(workspace) as (_s, session):
        service.disable_user(session, name)
    console.print(f"disabled user [bold]{name}[/]; its sessions and tokens are revoked", highlight=False)


@users_app.command("grant")
def users_grant(name: NameArg, role: RoleOpt, unit: UnitOpt, workspace: WorkspaceOpt = None) -> None:
    """Give a user a role on a unit and its subtree."""
    with open_workspace(workspace) as (_s, session):
        service.grant(session, name=name, role=role, unit_id=unit)
    console.print(f"granted [bold]{role}@{unit}[/] to {name}", highlight=False)


@users_app.command("revoke")
def users_revoke(name: NameArg, role: RoleOpt, unit: UnitOpt, workspace: WorkspaceOpt = None) -> None:
    """Take a role on a unit away from a user."""
    with open_workspace(workspace) as (_s, session):
        service.revoke_grant(session, name=name, role=role, unit_id=unit)
    console.print(f"revoked [bold]{role}@{unit}[/] from {name}", highlight=False)


@users_app.command("password")
def users_password(name: NameArg, password_stdin: PasswordStdinOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Set a new password and revoke every session and token; prints a generated one unless --password-stdin."""
    password = _stdin_password() if password_stdin else service.generate_password()
    with open_workspace(workspace) as (_s, session):
        service.set_password(session, name, password)
    err_console.print(f"new password set for [bold]{name}[/]; its sessions and tokens are revoked", highlight=False)
    if not password_stdin:
        err_console.print("generated password (shown only now):")
        _print_secret(password)


# ---- tokens -------------------------------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option("--user", help="the user the token acts as")],
    expires_days: Annotated[int, typer.Option("--expires-days", help="lifetime in days, 1–3650; 0: never expires")
                            ] = 90,
    label: Annotated[str | None, typer.Option("--name", help="what the token is for (shown in lists)")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create a machine API token and print it, alone, on standard output (it is shown only now)."""
    with open_workspace(workspace) as (_s, session):
        _row, token = service.create_api_token(session, name=user, expires_days=expires_days or None, label=label)
    _print_secret(token)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(metavar="TOKEN_ID", help="the id from `chengyun tokens list`")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Revoke a token (or a console session) by its id."""
    m = service.TOKEN_RE.match(token_id)
    token_id = m.group(1) if m else token_id  # a whole token names its id too
    with open_workspace(workspace) as (_s, session):
        service.revoke_token(session, token_id)
    console.print(f"revoked token [bold]{token_id}[/]", highlight=False)


def _token_row(t: Token, user: str, now: datetime) -> dict[str, Any]:
    live = t.revoked_at is None and (t.expires_at is None or t.expires_at > now)
    return {"id": t.id, "user": user, "kind": t.kind, "name": t.name, "created_at": _iso(t.created_at),
            "expires_at": _iso(t.expires_at), "revoked_at": _iso(t.revoked_at), "last_used_at": _iso(t.last_used_at),
            "active": live}


@tokens_app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", help="only this user's tokens")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List tokens and console sessions, newest first (never their secrets)."""
    with open_workspace(workspace) as (settings, session):
        if user:
            service.get_user(session, user)
        now, tz = utcnow(), settings.timezone
        pairs = service.list_tokens(session, user)
        rows = [_token_row(t, n, now) for t, n in pairs]
        shown = [(_local(t.created_at, tz), _local(t.expires_at, tz) or "never", _local(t.revoked_at, tz),
                  _local(t.last_used_at, tz)) for t, _ in pairs]
    if as_json:
        print_json(rows)
        return
    table = Table("用户 user", "类型 kind", "名称 name", "创建 created", "到期 expires", "吊销 revoked",
                  "最近使用 last used", title="tokens 访问令牌")
    table.columns.insert(0, Column("id", no_wrap=True, min_width=16))  # the id is what `tokens revoke` takes
    for r, (created, expires, revoked, used) in zip(rows, shown, strict=True):
        table.add_row(r["id"], r["user"], r["kind"], escape(r["name"] or ""), created, expires,
                      revoked or ("" if r["active"] else "[dim]expired[/]"), used)
    console.print(table)


# ---- audit --------------------------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Recompute the whole hash chain; exits 1 naming the first entry that no longer fits."""
    with open_workspace(workspace) as (_s, session):
        result = audit.verify(session)
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        console.print(f"[green]audit chain intact[/]: {result.checked} entries checked; "
                      f"head #{result.head_seq} {result.head_hash}", highlight=False, soft_wrap=True)
    else:
        console.print(f"[red]audit chain broken at entry {result.broken_seq}[/]: {result.reason}", highlight=False,
                      soft_wrap=True)
        console.print(f"  {result.checked} entries before it verify; the head says #{result.head_seq} "
                      f"{result.head_hash}\n  fix: entries from {result.broken_seq} on cannot be trusted; compare "
                      "the state DB with its last backup", highlight=False, soft_wrap=True)
    raise typer.Exit(int(not result.ok))


def _when(text: str | None, option: str) -> datetime | None:
    """An ISO date or time as naive UTC (a time without an offset is UTC)."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option}: {text!r} is not an ISO date or time",
                           fix="use e.g. 2026-11-26, 2026-11-26T08:00 (UTC) or 2026-11-26T16:00+08:00") from None
    return when if when.tzinfo is None else when.astimezone(UTC).replace(tzinfo=None)


def _entry_row(e: AuditEntry) -> dict[str, Any]:
    return {"seq": e.seq, "at": _iso(e.at), "actor": e.actor, "action": e.action, "target_type": e.target_type,
            "target_id": e.target_id, "tenant_id": e.tenant_id, "client": e.client, "request_id": e.request_id,
            "outcome": e.outcome, "detail": e.detail, "prev_hash": e.prev_hash, "hash": e.hash}


@audit_app.command("list")
def audit_list(
    actor: Annotated[str | None, typer.Option("--actor", help="who: a user name or cli:<login>")] = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. login, or a prefix ending in * (user.*)")
                      ] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="administrative unit id")] = None,
    since: Annotated[str | None, typer.Option("--since", help="from this ISO date/time, inclusive (UTC unless an "
                                              "offset is given)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="before this ISO date/time, exclusive")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="at most this many entries")] = 50,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List audit entries matching every filter, newest first."""
    start, end = _when(since, "--since"), _when(until, "--until")
    with open_workspace(workspace) as (settings, session):
        items, total = audit.list_entries(session, actor=actor, action=action, tenant=tenant, since=start,
                                          until=end, limit=limit)
        rows = [_entry_row(e) for e in items]
        times = [_local(e.at, settings.timezone) for e in items]
    if as_json:
        print_json({"items": rows, "total": total, "limit": limit})
        return
    table = Table("seq", "时间 at", "操作者 actor", "操作 action", "对象 target", "辖区 tenant", "结果 outcome",
                  title=f"audit 审计日志 ({len(rows)} of {total})")
    for r, at in zip(rows, times, strict=True):
        target = ":".join(str(x) for x in (r["target_type"], r["target_id"]) if x)
        outcome = r["outcome"] if r["outcome"] == "ok" else f"[yellow]{escape(r['outcome'])}[/]"
        table.add_row(str(r["seq"]), at, escape(r["actor"]), escape(r["action"]), escape(target),
                      escape(r["tenant_id"] or ""), outcome)
    console.print(table)
