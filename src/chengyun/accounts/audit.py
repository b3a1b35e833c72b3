"""The audit trail (审计日志): append-only, each entry chained to the one before by a SHA-256 hash.

Who did what to which record, when and from where. Entries are written in the same transaction as the change they
describe, so a change that rolls back leaves no entry and a committed change always has one. Entries join the chain
as their transaction commits: the single head row is updated first, which locks it (PostgreSQL row lock, SQLite write
lock) for the commit alone, so two writers never fork the chain and neither waits for the other's work.
Editing, deleting or re-ordering entries breaks the chain, and ``verify`` names the first entry that no longer fits.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from chengyun.accounts.models import AuditEntry, AuditHead
from chengyun.core.db import utcnow

GENESIS = "0" * 64
PENDING = "audit_pending"  # session.info key: entries waiting for the commit


def cli_actor() -> str:
    """The actor recorded for commands run on the server itself: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (a container without a passwd entry)
        return "cli:unknown"


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target_type: str | None,
    target_id: str | None,
    tenant_id: str | None,
    client: str | None,
    request_id: str | None,
    outcome: str,
    detail: dict[str, Any] | None,
    prev_hash: str,
) -> str:
    """SHA-256 of the entry's fields in a fixed order, as canonical JSON, with the previous hash."""
    body = [seq, at.isoformat(timespec="microseconds"), actor, action, target_type, target_id, tenant_id, client,
            request_id, outcome, detail, prev_hash]
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _hash_of(e: AuditEntry) -> str:
    return entry_hash(seq=e.seq, at=e.at, actor=e.actor, action=e.action, target_type=e.target_type,
                      target_id=e.target_id, tenant_id=e.tenant_id, client=e.client, request_id=e.request_id,
                      outcome=e.outcome, detail=e.detail, prev_hash=e.prev_hash)


def record(
    session: Session,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    tenant_id: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> AuditEntry:
    """Add an entry to ``session``'s transaction. Actor, client and request id come from ``session.info`` (set by
    the API for the caller) and default to the command line's user. The entry joins the chain when the
    transaction commits (``_append_pending``), so the head row is locked for the commit only, not for the work
    before it; a rollback drops it with the change it describes."""
    info = session.info
    actor = actor or info.get("actor") or cli_actor()
    client = info.get("client") or ("cli" if actor.startswith("cli:") else None)
    entry = AuditEntry(at=utcnow(), actor=actor[:100], action=action[:100], target_type=target_type,
                       target_id=None if target_id is None else str(target_id)[:200], tenant_id=tenant_id,
                       client=client, request_id=info.get("request_id"), outcome=outcome, detail=detail)
    info.setdefault(PENDING, []).append(entry)
    info["audited"] = True
    return entry


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    """Chain the transaction's entries on at commit: one head update for all of them (it locks the head row:
    writers never fork the chain), the entries, the new head hash."""
    pending: list[AuditEntry] = session.info.pop(PENDING, None) or []
    if not pending:
        return
    head = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + len(pending))
        .returning(AuditHead.seq, AuditHead.hash)
    ).one_or_none()
    if head is None:  # the head row is created by the migration; its absence means an edited database
        raise RuntimeError("the audit head row is missing: run `chengyun audit verify` and restore the database")
    seq, prev = int(head[0]) - len(pending), str(head[1])
    for e in pending:
        seq += 1
        e.seq, e.prev_hash = seq, prev
        e.hash = prev = _hash_of(e)
        session.add(e)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, _previous: object) -> None:
    """A rolled-back change leaves no entry."""
    session.info.pop(PENDING, None)


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found: entries checked, the head, and the first broken entry with the reason."""

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "head_seq": self.head_seq, "head_hash": self.head_hash,
                "broken_seq": self.broken_seq, "reason": self.reason}


def verify(session: Session) -> Verification:
    """Walk the whole chain in order and recompute every hash (reads in batches; memory stays flat)."""
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)

    def broken(checked: int, seq: int, reason: str) -> Verification:
        return Verification(False, checked, head_seq, head_hash, seq, reason)

    if head is None:
        return broken(0, 0, "the audit head row is missing")
    prev, expected, checked = GENESIS, 1, 0
    stmt = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=2000)
    for e in session.scalars(stmt):
        if e.seq != expected:
            return broken(checked, expected, f"entry {expected} is missing (next present is {e.seq})")
        if e.prev_hash != prev:
            return broken(checked, e.seq, "its previous-hash does not match the entry before it")
        if _hash_of(e) != e.hash:
            return broken(checked, e.seq, "its content no longer matches its hash (the entry was edited)")
        prev, expected, checked = e.hash, expected + 1, checked + 1
        session.expunge(e)
    if checked != head_seq or prev != head_hash:
        return broken(checked, checked + 1 if checked < head_seq else head_seq,
                      f"the head says {head_seq} entries ending in {head_hash[:12]}…, the log has {checked} "
                      f"ending in {prev[:12]}… (entries were removed from the end, or the head was edited)")
    return Verification(True, checked, head_seq, head_hash)


def list_entries(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    tenant: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditEntry], int]:
    """Entries matching every given filter, newest first, and how many match in all. ``action`` matches a
    prefix when it ends in ``*`` (``user.*``)."""
    stmt = select(AuditEntry)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action[:-1]) if action.endswith("*")
                          else AuditEntry.action == action)
    if tenant:
        stmt = stmt.where(AuditEntry.tenant_id == tenant)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = list(session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)))
    return items, total
