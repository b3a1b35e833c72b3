"""`chengyun users | tokens` from the command line: what they print, what they store, what logs in afterwards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from chengyun.accounts import service
from chengyun.accounts.models import Token
from chengyun.core.db import migrate, session_scope
from chengyun.core.settings import Settings
from tests.accounts.conftest import CITY, D1, D2, run_cli

PASSWORD = "typed on stdin 1"


@pytest.fixture
def cli_ws(tmp_path: Path) -> Settings:
    """A SQLite workspace whose units were added with `chengyun tenants add`."""
    settings = Settings(workspace=tmp_path / "ws")
    migrate(settings)
    for unit, parent in ((CITY, None), (D1, CITY), (D2, CITY)):
        args = ["tenants", "add", unit, "--name", f"unit {unit}"] + (["--parent", parent] if parent else [])
        assert run_cli(settings, *args).exit_code == 0
    return settings


def logs_in(settings: Settings, name: str, password: str) -> str | None:
    """None when the password logs in, else the reason it does not."""
    with session_scope(settings) as s:
        result = service.check_login(s, name, password, key="test-key")
        return None if result.user is not None else result.reason


def users(settings: Settings) -> dict[str, dict]:
    out = run_cli(settings, "users", "list", "--json")
    assert out.exit_code == 0, out.output
    return {u["name"]: u for u in json.loads(out.stdout)}


def real_cli(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The installed entry point in a subprocess: exit codes and error printing exactly as a user sees them."""
    env = {**os.environ, "CHENGYUN_DATABASE_URL": settings.db_url, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "chengyun.cli.main", *args, "--workspace", str(settings.workspace)],
                          input=stdin, capture_output=True, text=True, env=env, timeout=120)


def test_add_with_password_on_stdin(cli_ws: Settings) -> None:
    out = run_cli(cli_ws, "users", "add", "bob", "--role", "department", "--unit", D1, "--password-stdin",
                  "--display-name", "Bob 部门", stdin=PASSWORD + "\nsecond line is ignored\n")
    assert out.exit_code == 0, out.output
    assert out.stdout == ""  # nothing generated, nothing to print
    assert "bob" in out.stderr
    assert logs_in(cli_ws, "bob", PASSWORD) is None
    assert logs_in(cli_ws, "bob", PASSWORD + "\n") == "bad-credentials"
    bob = users(cli_ws)["bob"]
    assert bob["display_name"] == "Bob 部门"
    assert bob["grants"] == [{"role": "department", "unit": D1}]
    assert (bob["disabled"], bob["locked"]) == (False, False)


def test_add_prints_only_the_generated_password_and_it_logs_in(cli_ws: Settings) -> None:
    out = run_cli(cli_ws, "users", "add", "alice", "--role", "admin", "--unit", CITY)
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and re.fullmatch(r"(\w{4}-){3}\w{4}", lines[0])
    assert lines[0] not in out.stderr
    assert logs_in(cli_ws, "alice", lines[0]) is None
    assert users(cli_ws)["alice"]["last_login_at"] is not None


def test_list_grant_and_revoke(cli_ws: Settings) -> None:
    run_cli(cli_ws, "users", "add", "bob", "--role", "department", "--unit", D1, "--password-stdin", stdin=PASSWORD)
    run_cli(cli_ws, "users", "add", "ann", "--role", "auditor", "--unit", CITY, "--password-stdin", stdin=PASSWORD)
    assert run_cli(cli_ws, "users", "grant", "bob", "--role", "operator", "--unit", D2).exit_code == 0
    listed = users(cli_ws)
    assert list(listed) == ["ann", "bob"]
    assert listed["bob"]["grants"] == [{"role": "department", "unit": D1}, {"role": "operator", "unit": D2}]
    table = run_cli(cli_ws, "users", "list")
    assert "department@c1.d1, operator@c1.d2" in table.stdout and "auditor@c1" in table.stdout
    assert run_cli(cli_ws, "users", "revoke", "bob", "--role", "department", "--unit", D1).exit_code == 0
    assert users(cli_ws)["bob"]["grants"] == [{"role": "operator", "unit": D2}]


def test_disable_stops_logins_and_tokens(cli_ws: Settings) -> None:
    run_cli(cli_ws, "users", "add", "bob", "--role", "operator", "--unit", CITY, "--password-stdin", stdin=PASSWORD)
    token = run_cli(cli_ws, "tokens", "create", "--user", "bob").stdout.strip()
    with session_scope(cli_ws) as s:
        assert service.resolve_token(s, token) is not None
    assert run_cli(cli_ws, "users", "disable", "bob").exit_code == 0
    assert logs_in(cli_ws, "bob", PASSWORD) == "disabled"
    with session_scope(cli_ws) as s:
        assert service.resolve_token(s, token) is None
    assert users(cli_ws)["bob"]["disabled"] is True
    assert json.loads(run_cli(cli_ws, "tokens", "list", "--json").stdout)[0]["revoked_at"] is not None


def test_password_reset_ends_every_session_and_token(cli_ws: Settings) -> None:
    run_cli(cli_ws, "users", "add", "bob", "--role", "operator", "--unit", CITY, "--password-stdin", stdin=PASSWORD)
    machine = run_cli(cli_ws, "tokens", "create", "--user", "bob", "--expires-days", "0").stdout.strip()
    with session_scope(cli_ws) as s:  # a console session and an access token, as the two logins issue them
        user = service.get_user(s, "bob")
        held = [service.issue_token(s, user, kind=kind, lifetime=timedelta(hours=8))[1] for kind in ("session",
                                                                                                    "access")]
    held.append(machine)
    with session_scope(cli_ws) as s:
        assert all(service.resolve_token(s, t) is not None for t in held)
    out = run_cli(cli_ws, "users", "password", "bob")
    assert out.exit_code == 0, out.output
    new = out.stdout.strip()
    with session_scope(cli_ws) as s:
        assert [service.resolve_token(s, t) for t in held] == [None, None, None]
    assert "revoked" in out.stderr
    listed = json.loads(run_cli(cli_ws, "tokens", "list", "--user", "bob", "--json").stdout)
    assert len(listed) == 3 and all(t["revoked_at"] is not None for t in listed)
    assert logs_in(cli_ws, "bob", PASSWORD) == "bad-credentials"
    assert logs_in(cli_ws, "bob", new) is None
    assert run_cli(cli_ws, "users", "password", "bob", "--password-stdin", stdin="chosen by bob\n").stdout == ""
    assert logs_in(cli_ws, "bob", "chosen by bob") is None


def test_token_create_list_revoke(cli_ws: Settings) -> None:
    run_cli(cli_ws, "users", "add", "bob", "--role", "operator", "--unit", CITY, "--password-stdin", stdin=PASSWORD)
    out = real_cli(cli_ws, "tokens", "create", "--user", "bob", "--name", "nightly import", "--expires-days", "7")
    assert out.returncode == 0, out.stderr
    token = out.stdout.removesuffix("\n")
    assert out.stdout == token + "\n" and re.fullmatch(r"cy_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", token)
    token_id, secret = token.split("_")[1], token.split("_", 2)[2]
    with session_scope(cli_ws) as s:
        found = service.resolve_token(s, token)
        assert found is not None and found[1].name == "bob"
        row = s.get(Token, token_id)
        assert row is not None and row.expires_at is not None
        assert row.expires_at - row.created_at == timedelta(days=7)
    listed = run_cli(cli_ws, "tokens", "list", "--user", "bob", "--json")
    assert secret not in listed.stdout and secret not in run_cli(cli_ws, "tokens", "list").stdout
    [entry] = json.loads(listed.stdout)
    assert {k: entry[k] for k in ("id", "user", "kind", "name", "revoked_at", "active")} == {
        "id": token_id, "user": "bob", "kind": "api", "name": "nightly import", "revoked_at": None, "active": True}
    assert token_id in run_cli(cli_ws, "tokens", "list").stdout
    assert run_cli(cli_ws, "tokens", "revoke", token_id).exit_code == 0
    with session_scope(cli_ws) as s:
        assert service.resolve_token(s, token) is None
    assert json.loads(run_cli(cli_ws, "tokens", "list", "--json").stdout)[0]["active"] is False


def test_token_that_never_expires(cli_ws: Settings) -> None:
    run_cli(cli_ws, "users", "add", "bob", "--role", "operator", "--unit", CITY, "--password-stdin", stdin=PASSWORD)
    assert run_cli(cli_ws, "tokens", "create", "--user", "bob", "--expires-days", "0").exit_code == 0
    assert json.loads(run_cli(cli_ws, "tokens", "list", "--json").stdout)[0]["expires_at"] is None


def test_cli_writes_are_audited_as_the_cli(cli_ws: Settings) -> None:
    run_cli(cli_ws, "users", "add", "bob", "--role", "operator", "--unit", CITY, "--password-stdin", stdin=PASSWORD)
    run_cli(cli_ws, "users", "grant", "bob", "--role", "auditor", "--unit", D1)
    items = json.loads(run_cli(cli_ws, "audit", "list", "--action", "user.*", "--json").stdout)["items"]
    assert [(e["action"], e["target_id"], e["tenant_id"], e["client"]) for e in items] == [
        ("user.grant", "bob", D1, "cli"), ("user.add", "bob", CITY, "cli")]
    assert all(re.fullmatch(r"cli:\S+", e["actor"]) for e in items)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "add", "carol", "--role", "mayor", "--unit", CITY], "unknown role 'mayor'"),
        (["users", "add", "carol", "--role", "admin", "--unit", "c9"], "tenant 'c9' does not exist"),
        (["users", "add", "bob", "--role", "admin", "--unit", CITY], "the user name 'bob' is taken"),
        (["users", "add", "[/x]", "--role", "admin", "--unit", CITY], "user name '[/x]' is not allowed"),
        (["tokens", "create", "--user", "nobody"], "no user 'nobody'"),
        (["tokens", "revoke", "0123456789abcdef"], "no token '0123456789abcdef'"),
    ],
)
def test_errors_say_what_and_how_to_fix_and_exit_1(cli_ws: Settings, args: list[str], message: str) -> None:
    run_cli(cli_ws, "users", "add", "bob", "--role", "operator", "--unit", CITY, "--password-stdin", stdin=PASSWORD)
    out = real_cli(cli_ws, *args)
    assert out.returncode == 1
    assert f"error: {message}" in out.stderr and "fix:" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_empty_stdin_password_is_an_error(cli_ws: Settings) -> None:
    out = real_cli(cli_ws, "users", "add", "carol", "--role", "admin", "--unit", CITY, "--password-stdin", stdin="")
    assert out.returncode == 1 and "--password-stdin" in out.stderr
    assert "carol" not in users(cli_ws)
