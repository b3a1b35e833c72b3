"""What the asset registry takes and returns: ``AssetBase → AssetCreate → AssetUpdate → AssetRead → AssetPage``,
dependencies (``DependencyRead``), the impact of an outage (``ImpactItem``, ``ImpactReport``) and availability over
a period (``AvailabilityRow``, ``AvailabilityReport``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chengyun.api.pagination import Page
from chengyun.assets import kinds
from chengyun.assets.models import Asset, AssetDependency
from chengyun.core.types import FreeForm, UtcDateTime

KindName = Literal[
    "sensor", "camera", "gateway", "meter", "controller", "display", "other-device", "network-link", "server", "vm",
    "cloud-resource", "storage", "application", "information-system", "dataset", "service",
]
CriticalityName = Literal["critical", "high", "medium", "low"]
DependencyKindName = Literal["runs-on", "connects-through", "reads-from", "writes-to", "stored-on", "calls",
                             "depends-on"]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


class AssetBase(BaseModel):
    """What the registry says about an asset (台账字段)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: KindName = Field(description="device: sensor, camera, gateway, meter, controller, display, other-device; "
                                       "link: network-link; compute: server, vm, cloud-resource, storage; "
                                       "application: application, information-system; resource: dataset, service")
    department: str | None = Field(None, max_length=64, description="责任单位: the owning department's id")
    operator: str | None = Field(None, max_length=200, description="运维单位: who maintains it (free text)")
    lat: float | None = Field(None, ge=-90, le=90, description="WGS-84 latitude")
    lon: float | None = Field(None, ge=-180, le=180, description="WGS-84 longitude")
    address: str | None = Field(None, max_length=300)
    installed_at: datetime | None = Field(None, description="投运时间 (UTC unless an offset is given)")
    criticality: CriticalityName = "medium"
    expected_interval_s: int | None = Field(None, ge=1, le=31_536_000,
                                            description="seconds between reports; empty when it does not report")
    metric_count: int | None = Field(None, ge=0, le=1000, description="metrics per report (default 1 when it "
                                                                      "reports, else 0)")
    attributes: FreeForm | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> AssetBase:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon: give both or neither")
        return self


class AssetCreate(AssetBase):
    """A new asset in ``tenant`` (the unit where it is)."""

    id: str = Field(pattern=ID_PATTERN, description="1-64 letters, digits, '.', '_', ':' or '-'")
    tenant: str = Field(min_length=1, max_length=64)


class AssetUpdate(BaseModel):
    """The fields to change; fields left out stay as they are (``tenant`` moves the asset to another unit)."""

    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(None, min_length=1, max_length=64)
    name: str | None = Field(None, min_length=1, max_length=200)
    kind: KindName | None = None
    department: str | None = Field(None, max_length=64)
    operator: str | None = Field(None, max_length=200)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    address: str | None = Field(None, max_length=300)
    installed_at: datetime | None = None
    criticality: CriticalityName | None = None
    expected_interval_s: int | None = Field(None, ge=1, le=31_536_000)
    metric_count: int | None = Field(None, ge=0, le=1000)
    attributes: FreeForm | None = None


class AssetRead(BaseModel):
    """An asset as lists show it."""

    id: str
    tenant_id: str
    kind: str
    kind_zh: str
    asset_class: str
    name: str
    department_id: str | None
    operator: str | None
    lat: float | None
    lon: float | None
    address: str | None
    installed_at: UtcDateTime | None
    retired_at: UtcDateTime | None
    criticality: str
    expected_interval_s: int | None
    metric_count: int
    attributes: dict[str, Any] | None
    last_seen_at: UtcDateTime | None
    status: str
    status_zh: str
    created_at: UtcDateTime
    updated_at: UtcDateTime

    @classmethod
    def from_asset(cls, a: Asset) -> AssetRead:
        plain = {name: getattr(a, name) for name in (
            "id", "tenant_id", "kind", "name", "department_id", "operator", "lat", "lon", "address", "installed_at",
            "retired_at", "criticality", "expected_interval_s", "metric_count", "attributes", "last_seen_at",
            "status", "created_at", "updated_at")}
        return cls(**plain, kind_zh=kinds.KIND_NAMES.get(a.kind, a.kind), asset_class=kinds.KINDS.get(a.kind, "?"),
                   status_zh=kinds.STATUSES.get(a.status, a.status))


class DependencyRead(BaseModel):
    """``asset_id`` depends on ``depends_on_id`` in the way ``kind`` says."""

    asset_id: str
    depends_on_id: str
    kind: str
    kind_zh: str

    @classmethod
    def from_dependency(cls, d: AssetDependency) -> DependencyRead:
        return cls(asset_id=d.asset_id, depends_on_id=d.depends_on_id, kind=d.kind,
                   kind_zh=kinds.DEPENDENCY_KINDS.get(d.kind, d.kind))


class AssetDetail(AssetRead):
    """One asset with what it depends on and what depends on it directly."""

    dependencies: list[DependencyRead]
    dependants: list[DependencyRead]


class AssetPage(Page[AssetRead]):
    """One page of assets."""


class ImpactItem(BaseModel):
    """An asset an outage reaches: how far (``depth`` 1 = depends on the failed asset directly) and along which
    path of dependencies (the failed asset first; ``…`` for a hop outside the caller's units)."""

    id: str
    name: str
    kind: str
    asset_class: str
    tenant_id: str
    criticality: str
    depth: int
    path: list[str]
    measures: list[str] = Field(default_factory=list, description="for applications: measures over the "
                                                                   "telemetry and assets lake tables")


class ImpactReport(BaseModel):
    """What an outage of ``asset_id`` touches (影响分析): every asset that depends on it, directly or not."""

    asset_id: str
    name: str
    kind: str
    affected: list[ImpactItem]
    applications: int = Field(description="affected applications, information systems and services")
    hidden: int = Field(0, description="affected assets outside the caller's units (not listed)")
    measures: list[str] = Field(default_factory=list, description="the measures of the affected applications")


class DependencySet(BaseModel):
    """How the asset depends on the other one (``PUT …/dependencies/{other}``); by default from the other's kind."""

    model_config = ConfigDict(extra="forbid")

    kind: DependencyKindName | None = None


class AssetRetire(BaseModel):
    """When and why an asset is taken out of service (退役); the time defaults to now."""

    model_config = ConfigDict(extra="forbid")

    at: datetime | None = Field(default=None, description="UTC unless an offset is given")
    reason: str | None = Field(default=None, max_length=500)


class TelemetryPoint(BaseModel):
    """One point of a series: a reading, or a bucket's minimum, mean (``value``) and maximum from its start on."""

    ts: UtcDateTime
    value: float | None
    min: float | None = Field(default=None, description="bucketed series only")
    max: float | None = Field(default=None, description="bucketed series only")
    count: int = Field(default=1, description="readings in the bucket")


class TelemetrySeries(BaseModel):
    """The readings of one metric in the window: as they are, or bucketed when there are more than the chart
    takes (``bucketed``, ``every_s``)."""

    metric: str
    readings: int
    bucketed: bool
    every_s: int | None = None
    points: list[TelemetryPoint]


class TelemetryRead(BaseModel):
    """An asset's telemetry (遥测) in ``[since, until)``, one series per metric, at most ``max_points`` each."""

    asset_id: str
    since: UtcDateTime
    until: UtcDateTime
    max_points: int
    bucketed: bool = Field(description="true when any series was bucketed (min/avg/max per bucket)")
    every_s: int | None = Field(description="the bucket length in seconds, when bucketed")
    series: list[TelemetrySeries]


class QuarantineRead(BaseModel):
    """A payload the ingest put aside (隔离) with the reason; the raw bytes only as a short escaped preview."""

    received_at: str
    source: str
    topic: str | None
    tenant: str | None
    asset_id: str | None
    reason: str
    size: int
    preview: str = Field(description="the first bytes, non-printable ones escaped (\\n, \\x00 …)")
    truncated: bool


GroupByName = Literal["asset", "type", "department"]


class AvailabilityRow(BaseModel):
    """One group's availability (可用率), data completeness (数据完整率), outages (故障次数) and their mean time to
    repair (平均修复时长) over the period, with the counts behind each ratio."""

    key: str | None = Field(description="the asset id, kind or department id; null: assets without an owning "
                                        "department, or the whole in ``total``")
    name: str | None = Field(description="the asset's name, the kind's or the department's (Chinese)")
    assets: int = Field(description="assets expected to report that were in service during the period")
    availability: float | None = Field(description="buckets with a reading over buckets in service, 0–1 "
                                                    "(as infra.device_availability)")
    seen_buckets: int
    expected_buckets: float
    completeness: float | None = Field(description="readings over readings expected, 0–1 (as "
                                                    "infra.data_completeness)")
    readings: int
    expected_readings: float
    outages: int = Field(description="gaps between readings longer than three expected intervals")
    outage_hours: float
    mttr_hours: float | None = Field(description="mean outage hours (as infra.outage_mttr_hours); 0 with readings "
                                                 "and no outage, null without readings")


class AvailabilityReport(BaseModel):
    """Availability per asset, kind or department of a unit's subtree over a period, worst first, and the whole
    (``total``: the values of the infra measures for the same units and period)."""

    tenant: str | None = Field(description="the unit asked for (its subtree); null: every unit of the caller's")
    period: str
    start: UtcDateTime
    end: UtcDateTime = Field(description="the period's end, or now while the period is running")
    by: GroupByName
    total: AvailabilityRow
    groups: list[AvailabilityRow]
    groups_total: int = Field(description="groups before ``limit``")
    other_readings: int = Field(description="readings in the whole's completeness that belong to no group: of "
                                            "assets not in the registry's export, or without an expected interval")
