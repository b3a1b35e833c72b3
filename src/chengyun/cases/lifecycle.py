"""The case lifecycle (案件流程): which action may move a case from which status, and to where.

受理 accepted → 派遣 dispatched → 处置 in_progress → 办结 resolved → 回访 followed_up → 结案 closed, with 退回 returned,
挂起 suspended (the clock stops, also while waiting for the citizen), 重开 reopened, 作废 cancelled and 延期 extension
(approved; adds time without changing the status).
"""

from __future__ import annotations

from chengyun.core.errors import Conflict, InvalidInput

STATUSES: dict[str, tuple[str, str]] = {
    "accepted": ("受理", "Accepted"),
    "dispatched": ("派遣", "Dispatched"),
    "in_progress": ("处置", "In progress"),
    "returned": ("退回", "Returned"),
    "suspended": ("挂起", "Suspended"),
    "resolved": ("办结", "Resolved"),
    "followed_up": ("回访", "Followed up"),
    "closed": ("结案", "Closed"),
    "cancelled": ("作废", "Cancelled"),
}
OPEN = frozenset({"accepted", "dispatched", "in_progress", "returned", "suspended"})
FINISHED = frozenset({"resolved", "followed_up", "closed", "cancelled"})

# action → (statuses it may start from, status it leads to; None: unchanged or decided by the action)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "dispatch": (frozenset({"accepted", "returned"}), "dispatched"),
    "receive": (frozenset({"dispatched"}), "in_progress"),  # 签收: the department answers (response)
    "return": (frozenset({"dispatched", "in_progress"}), "returned"),
    "suspend": (frozenset({"dispatched", "in_progress"}), "suspended"),
    "resume": (frozenset({"suspended"}), None),  # back to dispatched or in_progress
    "extend": (frozenset({"dispatched", "in_progress", "suspended"}), None),
    "resolve": (frozenset({"in_progress"}), "resolved"),
    "follow_up": (frozenset({"resolved"}), "followed_up"),
    "close": (frozenset({"resolved", "followed_up"}), "closed"),
    "reopen": (frozenset({"resolved", "followed_up", "closed"}), "in_progress"),
    "cancel": (frozenset({"accepted", "dispatched", "returned", "suspended", "in_progress"}), "cancelled"),
}
ACTIONS: dict[str, tuple[str, str]] = {
    "dispatch": ("派遣", "Dispatch"),
    "receive": ("签收", "Receive"),
    "return": ("退回", "Return"),
    "suspend": ("挂起", "Suspend"),
    "resume": ("恢复", "Resume"),
    "extend": ("延期", "Extend"),
    "resolve": ("办结", "Resolve"),
    "follow_up": ("回访", "Follow up"),
    "close": ("结案", "Close"),
    "reopen": ("重开", "Reopen"),
    "cancel": ("作废", "Cancel"),
}


def check(action: str, status: str, case_id: str) -> str | None:
    """The status ``action`` leads to from ``status``; a clear error when the action is unknown or not allowed."""
    if action not in TRANSITIONS:
        raise InvalidInput(f"unknown case action {action!r}", fix=f"use one of: {', '.join(TRANSITIONS)}")
    allowed_from, to = TRANSITIONS[action]
    if status not in allowed_from:
        possible = [a for a, (src, _t) in TRANSITIONS.items() if status in src]
        zh = STATUSES.get(status, (status, status))[0]
        raise Conflict(
            f"case {case_id} is {status} ({zh}); '{action}' ({ACTIONS[action][0]}) is only allowed from "
            f"{', '.join(sorted(allowed_from))}",
            fix=f"from {status} the allowed actions are: {', '.join(possible) or 'none (the case is finished)'}",
        )
    return to


def allowed_actions(status: str) -> list[str]:
    """The actions a case in ``status`` accepts (for buttons in the console)."""
    return [a for a, (src, _t) in TRANSITIONS.items() if status in src]
