"""Roles (角色) and what each may do. The one table every route's permission is checked against.

A grant gives a role on the subtree of one administrative unit. A permission is allowed on a unit when the caller
holds, on that unit or an ancestor of it, a role that the permission lists.
"""

from __future__ import annotations

ROLES: dict[str, tuple[str, str]] = {
    "admin": ("管理员", "Administrator"),
    "supervisor": ("监管", "Supervisor"),
    "operator": ("运营", "Operator"),
    "department": ("部门", "Department"),
    "auditor": ("审计", "Auditor"),
    "citizen": ("公众", "Citizen"),
}

_STAFF = frozenset({"admin", "supervisor", "operator", "department", "auditor"})
_EVERYONE = frozenset(ROLES)

PERMISSIONS: dict[str, frozenset[str]] = {
    # indicator packs are published standards: anyone logged in may read them
    "packs.read": _EVERYONE,
    # the console and the city overview
    "console.read": _STAFF,
    "tenants.read": _STAFF,
    "evaluations.read": _STAFF,
    # running an evaluation and entering its manual figures: the supervising government and the operator
    "evaluations.run": frozenset({"admin", "supervisor", "operator"}),
    "inputs.write": frozenset({"admin", "supervisor", "operator"}),
    # accounts: administrators manage, auditors may look
    "users.read": frozenset({"admin", "auditor"}),
    "users.manage": frozenset({"admin"}),
    "audit.read": frozenset({"admin", "auditor"}),
    # city cases (一网统管): staff read them; departments act on the cases of their units; citizens report and
    # follow their requests through Open311, not through this API
    "cases.read": _STAFF,
    "cases.write": frozenset({"admin", "supervisor", "operator", "department"}),
    "cases.rules": frozenset({"admin", "supervisor", "operator"}),  # dispatch rules (派遣规则)
    # infrastructure (基础设施): staff see the registry; the operator runs it; devices and systems send readings
    # with an operator's API token; the owning department (责任单位) acknowledges its assets' alarms
    "assets.read": _STAFF,
    "assets.write": frozenset({"admin", "operator"}),
    "telemetry.write": frozenset({"admin", "operator"}),
    "alarms.read": _STAFF,
    "alarms.ack": frozenset({"admin", "operator", "department"}),
    "alarms.rules": frozenset({"admin", "operator"}),
    # data resources (数据资源): staff read the catalogue; the operator and the providing departments (提供方)
    # describe, load and check their datasets; departments ask for each other's data, and the provider decides
    "datasets.read": _STAFF,
    "datasets.write": frozenset({"admin", "operator", "department"}),
    "quality.run": frozenset({"admin", "operator", "department"}),
    "sharing.request": frozenset({"admin", "operator", "department"}),
    "sharing.decide": frozenset({"admin", "operator", "department"}),
    # personal data in datasets (个人信息) is masked for every reader; seeing it in clear, with a reason and an
    # audit entry, is the administrator's alone by default (个人信息保护法: the fewest people, for a stated need)
    "data.reveal": frozenset({"admin"}),
}


def roles_with(permission: str) -> frozenset[str]:
    """The roles that hold ``permission`` (a KeyError names an unknown permission: a programming error)."""
    return PERMISSIONS[permission]


def check_role(role: str) -> str:
    """``role`` if it is one of the six, else an InvalidInput naming them."""
    from chengyun.core.errors import InvalidInput

    if role not in ROLES:
        raise InvalidInput(
            f"unknown role {role!r}",
            fix=f"use one of: {', '.join(ROLES)} ({', '.join(zh for zh, _ in ROLES.values())})",
        )
    return role
