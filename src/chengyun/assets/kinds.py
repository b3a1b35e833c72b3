"""The vocabulary of the asset registry (设备/系统台账): kinds grouped in classes, dependency kinds, criticality and
status.

``dataset`` and ``service`` are kinds too, in the class ``resource``: a data resource (数据资源) or a portal service
(政务服务事项) is registered as an asset only so that dependencies can point at it and an outage's impact can reach
it (a service is provided by an application; an application reads from a dataset). They do not report telemetry
(no ``expected_interval_s``); give them the id they have in the data catalogue or the service catalogue.
"""

from __future__ import annotations

# class → (Chinese, English, kinds)
CLASSES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "device": ("设备", "Device", ("sensor", "camera", "gateway", "meter", "controller", "display", "other-device")),
    "link": ("网络链路", "Network link", ("network-link",)),
    "compute": ("计算资源", "Compute", ("server", "vm", "cloud-resource", "storage")),
    "application": ("应用系统", "Application", ("application", "information-system")),
    "resource": ("数据与服务", "Data and services", ("dataset", "service")),
}
KIND_NAMES: dict[str, str] = {
    "sensor": "传感器", "camera": "摄像机", "gateway": "网关", "meter": "计量表", "controller": "控制器",
    "display": "显示屏", "other-device": "其他设备", "network-link": "网络链路", "server": "服务器", "vm": "虚拟机",
    "cloud-resource": "云资源", "storage": "存储", "application": "应用", "information-system": "信息系统",
    "dataset": "数据资源", "service": "政务服务",
}
KINDS: dict[str, str] = {kind: cls for cls, (_zh, _en, kinds) in CLASSES.items() for kind in kinds}  # kind → class

# what "A depends on B" means; the default of an imported dependency follows B's kind (``default_dependency``)
DEPENDENCY_KINDS: dict[str, str] = {
    "runs-on": "运行于",  # an application on a server, a VM on a cloud resource
    "connects-through": "经由",  # a sensor through a gateway, a gateway through a network link
    "reads-from": "读取",  # an application reads a dataset or a device's data
    "writes-to": "写入",
    "stored-on": "存储于",
    "calls": "调用",  # an application calls another; a service is provided by an application
    "depends-on": "依赖",  # none of the above
}
CRITICALITY = ("critical", "high", "medium", "low")  # 核心 / 重要 / 一般 / 低
STATUSES: dict[str, str] = {"online": "在线", "offline": "离线", "unknown": "未知", "retired": "已退役"}
IMPACT_CLASSES = ("application", "resource")  # what an outage is reported for: applications, systems, services


def class_of(kind: str) -> str:
    """The class of a kind (``camera`` → ``device``)."""
    return KINDS[kind]


def kinds_in(name: str) -> tuple[str, ...]:
    """The kinds a filter names: a class gives all its kinds, a kind itself, anything else none."""
    if name in CLASSES:
        return CLASSES[name][2]
    return (name,) if name in KINDS else ()


def default_dependency(target_kind: str) -> str:
    """How an asset most likely depends on one of ``target_kind`` (used when an import does not say)."""
    if target_kind == "storage":
        return "stored-on"
    if target_kind in ("server", "vm", "cloud-resource"):
        return "runs-on"
    if target_kind in ("network-link", "gateway"):
        return "connects-through"
    if target_kind in ("application", "information-system", "service"):
        return "calls"
    return "reads-from"  # a dataset, or a device whose data an application reads
