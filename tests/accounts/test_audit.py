"""The hash-chained audit log on SQLite and PostgreSQL: it verifies after writes, `chengyun audit verify` names the
first entry that was edited, removed or re-ordered, a rolled-back write leaves no trace, concurrent writers never
fork the chain."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select, text

from chengyun.accounts import audit, service
from chengyun.accounts.models import AuditEntry, AuditHead
from chengyun.core.db import get_engine, session_factory, session_scope, transaction
from chengyun.core.settings import Settings
from tests.accounts.conftest import CITY, D1, D2, run_cli

GENESIS = "0" * 64


def writes(settings: Settings) -> int:
    """A series of audited changes, each in its own transaction; returns how many entries they make."""
    steps = [
        lambda s: service.add_user(s, name="alice", role="admin", unit_id=CITY, password="alice password"),
        lambda s: service.add_user(s, name="bob", role="department", unit_id=D1, password="bob's password"),
        lambda s: service.grant(s, name="bob", role="operator", unit_id=D2),
        lambda s: service.create_api_token(s, name="bob", label="nightly import"),
        lambda s: service.revoke_grant(s, name="bob", role="operator", unit_id=D2),
        lambda s: service.set_password(s, "alice", "a new password"),
        lambda s: service.disable_user(s, "bob"),
    ]
    for step in steps:
        with session_scope(settings) as s:
            step(s)
    return len(steps)


def sql(settings: Settings, statement: str, **params: object) -> None:
    with get_engine(settings.db_url).begin() as c:
        c.execute(text(statement), params)


def verify_cli(settings: Settings) -> tuple[int, dict, str]:
    """Exit code, --json report and the plain report of `chengyun audit verify`."""
    as_json = run_cli(settings, "audit", "verify", "--json")
    plain = run_cli(settings, "audit", "verify")
    assert as_json.exit_code == plain.exit_code
    return as_json.exit_code, json.loads(as_json.stdout), plain.stdout


def entries(settings: Settings) -> list[AuditEntry]:
    with session_scope(settings) as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def test_chain_verifies_after_a_series_of_writes(city: Settings) -> None:
    n = writes(city)
    rows = entries(city)
    assert [e.seq for e in rows] == list(range(1, n + 1))
    assert [e.action for e in rows] == ["user.add", "user.add", "user.grant", "token.create", "user.revoke",
                                        "user.password", "user.disable"]
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert all(e.actor.startswith("cli:") and e.client == "cli" for e in rows)
    code, report, plain = verify_cli(city)
    assert code == 0
    assert report == {"ok": True, "checked": n, "head_seq": n, "head_hash": rows[-1].hash, "broken_seq": None,
                      "reason": None}
    assert f"{n} entries checked" in plain and rows[-1].hash in plain


def test_an_edited_field_is_named_by_its_entry(city: Settings) -> None:
    writes(city)
    sql(city, "UPDATE audit_log SET target_id = 'mallory' WHERE seq = 3")
    code, report, plain = verify_cli(city)
    assert code == 1
    assert (report["ok"], report["broken_seq"], report["checked"]) == (False, 3, 2)
    assert "edited" in report["reason"]
    assert "entry 3" in plain


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(city: Settings) -> None:
    writes(city)
    third = entries(city)[2]
    forged = audit.entry_hash(seq=3, at=third.at, actor="someone-else", action=third.action,
                              target_type=third.target_type, target_id=third.target_id, tenant_id=third.tenant_id,
                              client=third.client, request_id=third.request_id, outcome=third.outcome,
                              detail=third.detail, prev_hash=third.prev_hash)
    sql(city, "UPDATE audit_log SET actor = 'someone-else', hash = :h WHERE seq = 3", h=forged)
    code, report, _plain = verify_cli(city)
    assert (code, report["broken_seq"]) == (1, 4)
    assert "previous-hash" in report["reason"]


def test_a_deleted_middle_entry_is_caught(city: Settings) -> None:
    writes(city)
    sql(city, "DELETE FROM audit_log WHERE seq = 4")
    code, report, plain = verify_cli(city)
    assert (code, report["broken_seq"], report["checked"]) == (1, 4, 3)
    assert "missing" in report["reason"] and "entry 4" in plain


def test_a_truncated_tail_is_caught_by_the_head(city: Settings) -> None:
    n = writes(city)
    sql(city, "DELETE FROM audit_log WHERE seq = :n", n=n)
    code, report, _plain = verify_cli(city)
    assert (code, report["broken_seq"], report["checked"], report["head_seq"]) == (1, n, n - 1, n)
    assert "removed from the end" in report["reason"]


def test_a_tail_edit_with_a_recomputed_hash_is_caught_by_the_head(city: Settings) -> None:
    n = writes(city)
    last = entries(city)[-1]
    forged = audit.entry_hash(seq=n, at=last.at, actor=last.actor, action="user.enable",
                              target_type=last.target_type, target_id=last.target_id, tenant_id=last.tenant_id,
                              client=last.client, request_id=last.request_id, outcome=last.outcome,
                              detail=last.detail, prev_hash=last.prev_hash)
    sql(city, "UPDATE audit_log SET action = 'user.enable', hash = :h WHERE seq = :n", h=forged, n=n)
    code, report, _plain = verify_cli(city)
    assert (code, report["broken_seq"]) == (1, n)


def test_swapped_hashes_are_caught(city: Settings) -> None:
    writes(city)
    rows = entries(city)
    h2, h3 = rows[1].hash, rows[2].hash
    sql(city, "UPDATE audit_log SET hash = CASE seq WHEN 2 THEN :h3 ELSE :h2 END WHERE seq IN (2, 3)", h2=h2, h3=h3)
    code, report, _plain = verify_cli(city)
    assert (code, report["broken_seq"]) == (1, 2)


def test_a_rolled_back_write_leaves_no_entry_and_no_gap(city: Settings) -> None:
    writes(city)
    with session_scope(city) as s:
        head_before = (s.get(AuditHead, 1).seq, s.get(AuditHead, 1).hash)  # type: ignore[union-attr]
    with pytest.raises(RuntimeError), session_scope(city) as s:
        service.grant(s, name="alice", role="auditor", unit_id=D1)
        raise RuntimeError("the request failed after the change")
    with session_scope(city) as s:
        head = s.get(AuditHead, 1)
        assert head is not None and (head.seq, head.hash) == head_before
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "user.grant",
                                                 AuditEntry.tenant_id == D1)) is None
        entry = audit.record(s, "note", target_type="test")
    assert entry.seq == head_before[0] + 1 and entry.prev_hash == head_before[1]
    assert verify_cli(city)[0] == 0


def test_concurrent_writers_keep_one_chain(city: Settings) -> None:
    threads_n, each = 6, 15
    factory = session_factory(city)
    start, errors = threading.Barrier(threads_n), []

    def writer(k: int) -> None:
        try:
            start.wait()
            for i in range(each):
                with transaction(factory) as s:
                    s.info["actor"] = f"writer-{k}"
                    audit.record(s, "test.write", target_id=f"{k}-{i}")
        except Exception as exc:  # reported below: a thread's exception would otherwise vanish
            errors.append(exc)

    pool = [threading.Thread(target=writer, args=(k,)) for k in range(threads_n)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not errors, errors
    rows = entries(city)
    assert [e.seq for e in rows] == list(range(1, threads_n * each + 1))
    assert sorted(e.target_id or "" for e in rows) == sorted(f"{k}-{i}" for k in range(threads_n)
                                                            for i in range(each))
    with session_scope(city) as s:
        result = audit.verify(s)
    assert result.ok and result.checked == threads_n * each, result


def test_audit_list_filters(city: Settings) -> None:
    writes(city)
    with session_scope(city) as s:
        s.info["actor"] = "carol"
        audit.record(s, "login", tenant_id=D1)
    out = json.loads(run_cli(city, "audit", "list", "--action", "user.*", "--json").stdout)
    assert out["total"] == 6 and {e["action"] for e in out["items"]} == {"user.add", "user.grant", "user.revoke",
                                                                        "user.password", "user.disable"}
    assert [e["seq"] for e in out["items"]] == sorted((e["seq"] for e in out["items"]), reverse=True)
    by_actor = json.loads(run_cli(city, "audit", "list", "--actor", "carol", "--json").stdout)
    assert [(e["action"], e["tenant_id"]) for e in by_actor["items"]] == [("login", D1)]
    by_tenant = json.loads(run_cli(city, "audit", "list", "--tenant", D2, "--json").stdout)
    assert [e["action"] for e in by_tenant["items"]] == ["user.revoke", "user.grant"]
    limited = json.loads(run_cli(city, "audit", "list", "--limit", "2", "--json").stdout)
    assert (len(limited["items"]), limited["total"]) == (2, 8)
    assert json.loads(run_cli(city, "audit", "list", "--since", "2999-01-01", "--json").stdout)["total"] == 0
    assert json.loads(run_cli(city, "audit", "list", "--until", "2000-01-01T00:00+08:00", "--json").stdout
                      )["total"] == 0
    assert json.loads(run_cli(city, "audit", "list", "--since", "2000-01-01", "--json").stdout)["total"] == 8
    table = run_cli(city, "audit", "list", "--action", "login")
    assert table.exit_code == 0 and "carol" in table.stdout
