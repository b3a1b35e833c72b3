"""Case history in bulk (历史案件入库): cases that already ran all or part of their course elsewhere — a city's
earlier system, or the demo city — stored with their timeline in one bulk write per batch.

Unlike ``chengyun cases import`` (a citizen-hotline export, mapped column by column, bad rows set aside), the
rows here come from a program and are checked whole: the first bad value stops the load, naming row and field.
Each case gets the events its timestamps imply (受理, 派遣, 退回 and 再派遣 when it was returned, 签收, 办结, 回访,
结案). Cases still open keep their clocks and flags unset: the next SLA tick (``chengyun cases tick``) warns,
flags and escalates them like any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import TracebackType
from typing import get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from chengyun.cases import lifecycle
from chengyun.cases.import_store import Store
from chengyun.cases.schemas import ChannelName, PriorityName
from chengyun.cases.service import CaseDesk, mask_contact
from chengyun.core.errors import InvalidInput

REQUIRED = ("id", "tenant_id", "channel", "category", "priority", "department_id", "status", "created_at")
OPTIONAL = ("title", "lat", "lon", "address", "response_due_at", "responded_at", "due_at", "resolved_at",
            "followed_up_at", "closed_at", "solved", "satisfaction", "returned_count")
DISPATCH_AFTER = timedelta(minutes=2)  # the hotline's 派遣 after 受理, when the history does not say
RETURN_REASON = "非本单位职责，退回重派"
TS = pa.timestamp("us")


def _column(rows: dict[str, pa.Array], name: str) -> pa.Array:
    col = rows[name]
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col.dictionary_decode() if isinstance(col, pa.DictionaryArray) else col


def _first_bad(ok: pa.Array) -> int | None:
    bad = pc.indices_nonzero(pc.invert(pc.fill_null(ok, False)))
    return int(bad[0].as_py()) if len(bad) else None


def _check(cols: dict[str, pa.Array], desk: CaseDesk, offset: int) -> None:
    allowed = {"status": list(lifecycle.STATUSES), "channel": list(get_args(ChannelName)),
               "priority": list(get_args(PriorityName)),
               "category": list(desk.categories)}
    for name in (n for n in REQUIRED if n != "department_id"):  # a case may wait in triage, undispatched
        if (row := _first_bad(pc.is_valid(cols[name]))) is not None:
            raise InvalidInput(f"row {offset + row}: {name} is empty", fix=f"give every case a {name}")
    for name, values in allowed.items():
        if (row := _first_bad(pc.is_in(cols[name], pa.array(values)))) is not None:
            raise InvalidInput(f"row {offset + row}: {name} {cols[name][row].as_py()!r} is not known",
                               fix=f"use one of: {', '.join(values[:20])}")


def _times(cols: dict[str, pa.Array], name: str) -> np.ndarray:
    if name not in cols or pa.types.is_null(cols[name].type):
        return np.full(len(cols["id"]), np.datetime64("NaT"), "datetime64[us]")
    return cols[name].cast(TS).to_numpy(zero_copy_only=False).astype("datetime64[us]")


def _timeline(cols: dict[str, pa.Array], dispatched: np.ndarray) -> dict[str, pa.Array]:
    """The events a case's timestamps imply, as columns for the bulk writer."""
    ids, dept = cols["id"], cols["department_id"]
    t = {n: _times(cols, n) for n in ("created_at", "responded_at", "resolved_at", "followed_up_at", "closed_at")}
    returned = pc.fill_null(pc.greater(cols["returned_count"].cast(pa.int32()), 0), False).to_numpy(
        zero_copy_only=False)
    returned &= ~np.isnat(dispatched) & ~np.isnat(t["responded_at"])
    back = dispatched + (t["responded_at"] - dispatched) // 3
    steps = [("accept", "accepted", t["created_at"], False, None),
             ("dispatch", "dispatched", dispatched, True, None),
             ("return", "returned", np.where(returned, back, np.datetime64("NaT")), False, RETURN_REASON),
             ("dispatch", "dispatched", np.where(returned, back + np.timedelta64(60, "s"), np.datetime64("NaT")),
              True, None),
             ("receive", "in_progress", t["responded_at"], True, None),
             ("resolve", "resolved", t["resolved_at"], True, None),
             ("follow_up", "followed_up", t["followed_up_at"], False, None),
             ("close", "closed", t["closed_at"], False, None)]
    parts: dict[str, list[pa.Array]] = {k: [] for k in ("case_id", "at", "action", "to_status", "department_id",
                                                        "reason")}
    for action, status, at, with_dept, reason in steps:
        keep = pa.array(~np.isnat(at))
        n = pc.sum(keep).as_py() or 0
        parts["case_id"].append(ids.filter(keep))
        parts["at"].append(pa.array(at, TS).filter(keep))
        parts["action"].append(pa.array([action] * n, pa.string()))
        parts["to_status"].append(pa.array([status] * n, pa.string()))
        parts["department_id"].append(dept.filter(keep) if with_dept else pa.nulls(n, pa.string()))
        parts["reason"].append(pa.array([reason] * n, pa.string()))
    return {k: pa.concat_arrays(v) for k, v in parts.items()}


class HistoryLoader:
    """Stores batches of historic cases (``add``) through one bulk writer; use it as a context manager."""

    def __init__(self, session: Session, desk: CaseDesk, *, source: str, label: str, now: datetime) -> None:
        self.desk, self.now, self.loaded = desk, now, 0
        self.fields = (*[f for f in REQUIRED if f != "id"], *OPTIONAL, "dispatched_at", "reporter_hash",
                       "reporter_masked", "breached", "response_breached", "inconsistent")
        self.store = Store(session, None, source, now, label, fields=self.fields, keep_ids=True)

    def __enter__(self) -> HistoryLoader:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_rest: object | TracebackType) -> None:
        if kind is None:
            self.store.flush()
        self.store.__exit__()

    def add(self, rows: dict[str, pa.Array]) -> int:
        """Check one batch (columns ``REQUIRED``, any of ``OPTIONAL`` and ``contact``) and queue it."""
        missing = [n for n in REQUIRED if n not in rows]
        if missing:
            raise InvalidInput(f"case history: columns {missing} missing", fix=f"give {', '.join(missing)}")
        n = len(rows["id"])
        cols = {name: _column(rows, name) if name in rows else pa.nulls(n)
                for name in (*REQUIRED, *OPTIONAL, "contact")}
        _check(cols, self.desk, self.loaded)
        cols.update(self._derived(cols))
        self.store.insert({n: cols[n] for n in ("id", *self.fields)},
                          _timeline(cols, _times(cols, "dispatched_at")))
        self.loaded += len(cols["id"])
        return len(cols["id"])

    def _derived(self, cols: dict[str, pa.Array]) -> dict[str, pa.Array]:
        """Dispatch time, reporter hash and mask, the breach flags of finished cases, the inconsistent flag."""
        created, now = _times(cols, "created_at"), np.datetime64(self.now, "us")
        routed = pc.fill_null(pc.and_(pc.is_valid(cols["department_id"]), pc.not_equal(cols["status"], "accepted")),
                              False)
        dispatched = np.where(routed.to_numpy(zero_copy_only=False), created + np.timedelta64(DISPATCH_AFTER),
                              np.datetime64("NaT"))
        contacts = cols["contact"].to_pylist()
        finished = pc.is_in(cols["status"], pa.array(sorted(lifecycle.FINISHED))).to_numpy(zero_copy_only=False)

        def late(done: str, due: str) -> np.ndarray:
            d, limit = _times(cols, done), _times(cols, due)
            return finished & ~np.isnat(limit) & (np.where(np.isnat(d), now, d) > limit)

        early = [created > _times(cols, n) for n in ("resolved_at", "closed_at")]
        return {"dispatched_at": pa.array(dispatched, TS),
                "reporter_hash": pa.array([self.desk.contact_hash(c) if c else None for c in contacts], pa.string()),
                "reporter_masked": pa.array([mask_contact(c) if c else None for c in contacts], pa.string()),
                "breached": pa.array(late("resolved_at", "due_at")),
                "response_breached": pa.array(late("responded_at", "response_due_at")),
                "inconsistent": pa.array(early[0] | early[1])}
