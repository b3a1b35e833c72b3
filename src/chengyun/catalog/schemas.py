"""What the data resource domain takes and returns: datasets (``DatasetCreate → DatasetRead → DatasetPage``),
quality runs (``QualityRunRead``), the ranking (``RankingRow``), sharing requests (``SharingCreate →
SharingRead → SharingPage``, ``SharingDecision``, ``GrantRead``) and usage (``UsageRow``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chengyun.api.pagination import Page
from chengyun.catalog.entry import VALUE_LABELS
from chengyun.catalog.masking import mask_report
from chengyun.catalog.models import Dataset, QualityRun, SharingRequest
from chengyun.catalog.personal import classes_of
from chengyun.core.types import FreeForm, UtcDateTime

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"


class DatasetCreate(BaseModel):
    """A new dataset described in the catalogue; its data is loaded with ``PUT /datasets/{id}/data``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="the dataset's name in its unit")
    tenant: str = Field(min_length=1, max_length=64)
    entry: FreeForm = Field(description="the catalogue entry (目录条目): code, name, provider, summary, "
                                              "format, sharing_type, open_type, update_cycle, published, …")


class ColumnRead(BaseModel):
    """One column of the latest snapshot with its personal-data class (个人信息类别: resident-id, phone, name,
    address, email; null: not personal), ``detected`` on load or set by a ``user``."""

    name: str
    type: str
    nullable: bool = True
    personal: str | None = None
    personal_by: str | None = None


class PersonalSet(BaseModel):
    """A column's personal-data class set by hand; null or ``none`` clears it (which needs ``data.reveal``)."""

    model_config = ConfigDict(extra="forbid")

    personal: str | None = Field(description="resident-id, phone, name, address, email, or none")


class RevealCreate(BaseModel):
    """Why the masked values are needed (查看事由), and which personal columns (default: all of them)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)
    columns: list[str] | None = Field(None, max_length=500)


class DatasetRead(BaseModel):
    """A dataset with its catalogue entry, its load and its latest quality score."""

    id: str
    tenant_id: str
    name: str
    code: str | None
    title: str
    department_id: str | None
    summary: str | None
    format: str | None
    sharing_type: str
    sharing_type_zh: str
    sharing_condition: str | None
    open_type: str | None
    update_cycle: str | None
    update_cycle_days: float | None
    published_at: UtcDateTime | None
    catalogued: bool
    entry: dict[str, Any] | None
    rows: int | None
    columns: list[ColumnRead]
    last_updated_at: UtcDateTime | None
    last_score: float | None
    quality_target: float
    rules: int
    created_at: UtcDateTime

    @classmethod
    def from_dataset(cls, d: Dataset) -> DatasetRead:
        """The read form of a stored dataset."""
        return cls(id=d.id, tenant_id=d.tenant_id, name=d.name, code=d.code, title=d.title,
                   department_id=d.department_id, summary=d.summary, format=d.format, sharing_type=d.sharing_type,
                   sharing_type_zh=VALUE_LABELS["sharing_type"].get(d.sharing_type, d.sharing_type),
                   sharing_condition=d.sharing_condition, open_type=d.open_type, update_cycle=d.update_cycle,
                   update_cycle_days=d.update_cycle_days, published_at=d.published_at, catalogued=d.catalogued,
                   entry=d.entry, rows=d.rows, columns=_columns(d),
                   last_updated_at=d.last_updated_at, last_score=d.last_score, quality_target=d.quality_target,
                   rules=len(d.rules or []), created_at=d.created_at)


def _columns(d: Dataset) -> list[ColumnRead]:
    classes = classes_of(d)  # also for datasets loaded before the classes were kept
    return [ColumnRead(**c | {"personal": classes.get(c["name"])}) for c in d.schema_ or []]


DatasetPage = Page[DatasetRead]


class RulesSet(BaseModel):
    """A dataset's quality rules and, optionally, its score target (below it a case goes to the owner)."""

    model_config = ConfigDict(extra="forbid")

    rules: list[FreeForm] = Field(max_length=1000, description="[{id, kind, column, …}] with kinds not-null, unique, in-set, "
                                                    "range, pattern, cn-resident-id, cn-credit-code, cn-mobile, "
                                                    "reference, compare, freshness, row-count")
    target: float | None = Field(None, ge=0, le=100)


class QualityRunCreate(BaseModel):
    """Run the stored rules (or these) on the latest snapshot."""

    model_config = ConfigDict(extra="forbid")

    engine: Literal["duckdb", "spark"] | None = None
    rules: list[FreeForm] | None = Field(None, max_length=1000)


class QualityRunRead(BaseModel):
    """One quality run and its report (``valid``, ``score``, ``dimensions``, ``rules``)."""

    id: int
    dataset_id: str
    run_at: UtcDateTime
    engine: str
    rows: int
    valid: bool
    score: float | None
    report: dict[str, Any]
    case_id: str | None

    @classmethod
    def from_run(cls, r: QualityRun, classes: Mapping[str, str],
                 reveal: Collection[str] = ()) -> QualityRunRead:
        """The read form of a stored run, its samples' personal columns masked (but the ``reveal`` ones)."""
        return cls(id=r.id, dataset_id=r.dataset_id, run_at=r.run_at, engine=r.engine, rows=r.rows, valid=r.valid,
                   score=r.score, report=mask_report(r.report, classes, reveal) or {}, case_id=r.case_id)


class RevealRead(BaseModel):
    """The dataset's profile and latest quality run with the revealed columns in clear (recorded in the audit)."""

    dataset_id: str
    columns: list[str]
    profile: dict[str, Any]
    quality_run: QualityRunRead | None


class RankingRow(BaseModel):
    """One department in the data quality ranking (数据质量排行榜)."""

    rank: int
    department_id: str | None
    department: str | None = None
    datasets: int
    score: float | None
    below_target: int
    invalid: int


class SharingCreate(BaseModel):
    """A request for a dataset (共享申请)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(min_length=1, max_length=100, description="the dataset's id (or name, with tenant)")
    tenant: str | None = Field(None, max_length=64, description="the dataset's unit, when a name is given")
    department: str = Field(min_length=1, max_length=64, description="the requesting department's id")
    purpose: str = Field(min_length=1, max_length=1000, description="用途")
    fields: list[str] | None = Field(None, max_length=500, description="the fields wanted; empty: all")
    scenario: str | None = Field(None, max_length=200, description="应用场景, counted in usage")
    days: int = Field(365, ge=1, le=1095, description="how long the grant should last")


class SharingDecision(BaseModel):
    """The provider's decision (审批)."""

    model_config = ConfigDict(extra="forbid")

    approve: bool
    note: str | None = Field(None, max_length=1000, description="required when refusing")


class SharingRevoke(BaseModel):
    """Why a grant is withdrawn (撤销理由)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=1000)


class SharingRead(BaseModel):
    """A sharing request and its grant (the token is never shown again)."""

    id: str
    dataset_id: str
    tenant_id: str
    requester_department_id: str
    requester_tenant_id: str
    fields: list[str] | None
    purpose: str
    scenario: str | None
    days: int
    status: str
    status_zh: str
    requested_at: UtcDateTime
    decided_at: UtcDateTime | None
    decided_by: str | None
    decision_note: str | None
    expires_at: UtcDateTime | None
    revoked_at: UtcDateTime | None

    @classmethod
    def from_request(cls, r: SharingRequest, status: str) -> SharingRead:
        """The read form of a stored request, with its status now."""
        from chengyun.catalog.sharing import STATUSES

        return cls(id=r.id, dataset_id=r.dataset_id, tenant_id=r.tenant_id,
                   requester_department_id=r.requester_department_id, requester_tenant_id=r.requester_tenant_id,
                   fields=r.fields, purpose=r.purpose, scenario=r.scenario, days=r.days, status=status,
                   status_zh=STATUSES[status][0], requested_at=r.requested_at, decided_at=r.decided_at,
                   decided_by=r.decided_by, decision_note=r.decision_note, expires_at=r.expires_at,
                   revoked_at=r.revoked_at)


SharingPage = Page[SharingRead]


class GrantRead(SharingRead):
    """A request just granted: the token, shown this once (send it as ``X-Grant-Token``)."""

    token: str | None = None


class SharedRows(BaseModel):
    """Rows of a shared dataset, the granted fields only."""

    dataset: str
    fields: list[str]
    total: int
    offset: int
    rows: list[dict[str, Any]]


class UsageRow(BaseModel):
    """Calls and rows served for one dataset and consumer (数据调用)."""

    dataset_id: str
    consumer_department_id: str
    scenario: str | None
    calls: int
    rows: int
