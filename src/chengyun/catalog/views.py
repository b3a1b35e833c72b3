"""REST API of the data resource catalogue under /api/v1: datasets and their catalogue entries, data loads,
profiles, quality rules and runs, the quality ranking and the catalogue as DCAT-AP.

Reading needs ``datasets.read``, describing and loading ``datasets.write``, running rules ``quality.run``; all see
only the caller's units (a dataset elsewhere is a 404). Values of personal columns (个人信息) are masked in every
answer (``catalog/masking.py``); ``POST …/reveal`` shows them with ``data.reveal`` and a reason. Every change is audited by the service it goes through.
"""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.api.deps import SettingsDep, principal_of, scoped
from chengyun.api.pagination import PageDep
from chengyun.catalog import personal, quality, ranking, service
from chengyun.catalog.masking import mask_profile
from chengyun.catalog.models import QualityRun
from chengyun.catalog.personal import classes_of
from chengyun.catalog.schemas import (
    ColumnRead,
    DatasetCreate,
    DatasetPage,
    DatasetRead,
    PersonalSet,
    QualityRunCreate,
    QualityRunRead,
    RankingRow,
    RevealCreate,
    RevealRead,
    RulesSet,
)
from chengyun.core.errors import InvalidInput
from chengyun.core.scoping import unscoped
from chengyun.core.types import FreeForm

router = APIRouter(prefix="/api/v1", tags=["datasets 数据资源"])

DatasetsRead = Annotated[Session, scoped("datasets.read")]
DataReveal = Annotated[Session, scoped("data.reveal")]
DatasetsWrite = Annotated[Session, scoped("datasets.write")]
QualityRunSession = Annotated[Session, scoped("quality.run")]
DatasetId = Annotated[str, Path(description="dataset id", max_length=64)]
SUFFIX = {"csv": ".csv", "tsv": ".tsv", "xlsx": ".xlsx", "parquet": ".parquet", "jsonl": ".jsonl"}


@router.get("/datasets")
def list_datasets(
    session: DatasetsRead,
    page: PageDep,
    tenant: Annotated[str | None, Query(max_length=64, description="a unit: its datasets and its subtree's")] = None,
    q: Annotated[str | None, Query(max_length=100, description="words of the name, title, code or summary")] = None,
    provider: Annotated[str | None, Query(max_length=64, description="the providing department's id")] = None,
    sharing_type: Annotated[Literal["unconditional", "conditional", "none"] | None, Query()] = None,
) -> DatasetPage:
    """The catalogue (目录检索): datasets of the caller's units, searched and paginated."""
    items, total = service.list_datasets(session, tenant=tenant, q=q, department=provider, sharing_type=sharing_type,
                                         limit=page.limit, offset=page.offset)
    return DatasetPage(items=[DatasetRead.from_dataset(d) for d in items], total=total, limit=page.limit,
                       offset=page.offset)


@router.post("/datasets", status_code=status.HTTP_201_CREATED)
def create_dataset(body: DatasetCreate, session: DatasetsWrite, response: Response) -> DatasetRead:
    """Describe a new dataset in the catalogue (编目); load its data with ``PUT /datasets/{id}/data``."""
    principal_of(session).require("datasets.write", body.tenant)
    entry = service.parse_entry(body.entry)
    ds = service.create_entry(session, name=body.name, tenant=body.tenant, entry=entry)
    response.headers["Location"] = f"/api/v1/datasets/{ds.id}"
    return DatasetRead.from_dataset(ds)


@router.get("/datasets/{dataset_id}")
def get_dataset(dataset_id: DatasetId, session: DatasetsRead) -> DatasetRead:
    """One dataset with its catalogue entry, load and latest quality score."""
    return DatasetRead.from_dataset(service.get_by_id(session, dataset_id))


@router.put("/datasets/{dataset_id}/entry")
def put_entry(dataset_id: DatasetId, body: FreeForm, session: DatasetsWrite) -> DatasetRead:
    """Replace the dataset's catalogue entry (目录条目)."""
    ds = service.get_by_id(session, dataset_id)
    return DatasetRead.from_dataset(service.apply_entry(session, ds, service.parse_entry(body)))


@router.put("/datasets/{dataset_id}/data")
async def put_data(
    dataset_id: DatasetId,
    request: Request,
    session: DatasetsWrite,
    settings: SettingsDep,
    fmt: Annotated[Literal["csv", "tsv", "xlsx", "parquet", "jsonl"], Query(alias="format")] = "csv",
) -> DatasetRead:
    """Load the dataset's data from the request body (a file); rows that cannot be read are put aside."""
    ds = service.get_by_id(session, dataset_id)
    upload = settings.workspace / "uploads"
    upload.mkdir(parents=True, exist_ok=True, mode=0o700)
    size = 0
    with tempfile.NamedTemporaryFile(dir=upload, suffix=SUFFIX[fmt], delete=False) as fh:
        try:  # streamed to disk: the upload limit (api/limits.py) cuts the body off, memory holds one chunk
            async for chunk in request.stream():
                fh.write(chunk)
                size += len(chunk)
        except BaseException:
            FilePath(fh.name).unlink(missing_ok=True)
            raise
    if not size:
        FilePath(fh.name).unlink(missing_ok=True)
        raise InvalidInput("body: empty", fix="send the file as the request body, with ?format=csv|xlsx|parquet|…")
    path = FilePath(fh.name)
    try:
        service.refresh_dataset(session, settings, ds, source=str(path), keep_source=False)
    finally:
        path.unlink(missing_ok=True)
    return DatasetRead.from_dataset(ds)


@router.get("/datasets/{dataset_id}/profile")
def get_profile(dataset_id: DatasetId, session: DatasetsRead) -> dict[str, Any]:
    """Column statistics of the latest snapshot (数据画像): rows, and per column type, nulls, distinct, min, max."""
    ds = service.get_by_id(session, dataset_id)
    return mask_profile(ds.profile, classes_of(ds))


@router.get("/datasets/{dataset_id}/rules")
def get_rules(dataset_id: DatasetId, session: DatasetsRead) -> RulesSet:
    """The dataset's quality rules and score target."""
    ds = service.get_by_id(session, dataset_id)
    return RulesSet(rules=ds.rules or [], target=ds.quality_target)


@router.put("/datasets/{dataset_id}/rules")
def put_rules(dataset_id: DatasetId, body: RulesSet, session: DatasetsWrite) -> RulesSet:
    """Replace the dataset's quality rules (checked against its columns) and, if given, its target."""
    ds = service.get_by_id(session, dataset_id)
    quality.set_rules(session, ds, {"rules": body.rules}, target=body.target)
    return RulesSet(rules=ds.rules or [], target=ds.quality_target)


@router.post("/datasets/{dataset_id}/quality-runs", status_code=status.HTTP_201_CREATED)
def run_quality(dataset_id: DatasetId, session: QualityRunSession, settings: SettingsDep,
                body: QualityRunCreate | None = None) -> QualityRunRead:
    """Run the rules on the latest snapshot and keep the report; a score under target opens a case."""
    ds = service.get_by_id(session, dataset_id)
    given = body or QualityRunCreate(rules=None)
    rules = {"rules": given.rules} if given.rules is not None else None
    run, _report = quality.run_quality(settings, session, ds, rules=rules, engine=given.engine)
    return QualityRunRead.from_run(run, classes_of(ds))


@router.get("/datasets/{dataset_id}/quality-runs")
def list_quality_runs(dataset_id: DatasetId, session: DatasetsRead,
                      limit: Annotated[int, Query(ge=1, le=500)] = 20) -> list[QualityRunRead]:
    """The dataset's quality runs, newest first."""
    classes = classes_of(service.get_by_id(session, dataset_id))
    runs = session.scalars(select(QualityRun).where(QualityRun.dataset_id == dataset_id)
                           .order_by(QualityRun.run_at.desc(), QualityRun.id.desc()).limit(limit))
    return [QualityRunRead.from_run(r, classes) for r in runs]


@router.put("/datasets/{dataset_id}/columns/{column}/personal")
def put_personal(dataset_id: DatasetId, column: Annotated[str, Path(max_length=200)], body: PersonalSet,
                 session: DatasetsWrite) -> ColumnRead:
    """Set a column's personal-data class (个人信息类别) by hand; clearing one also needs ``data.reveal``."""
    ds = service.get_by_id(session, dataset_id)
    kind = personal.check_class(body.personal)
    principal_of(session).require("datasets.write", ds.tenant_id)
    if personal.lowers_protection(ds, column, kind):
        principal_of(session).require("data.reveal", ds.tenant_id)
    return ColumnRead(**personal.set_class(session, ds, column=column, kind=kind))


@router.post("/datasets/{dataset_id}/reveal")
def reveal(dataset_id: DatasetId, body: RevealCreate, session: DataReveal) -> RevealRead:
    """The profile and the latest quality run with personal columns in clear (查看明文): needs ``data.reveal``
    on the dataset's unit and a reason; each reveal is an audit entry naming the columns and the reason."""
    ds = service.get_by_id(session, dataset_id)
    principal_of(session).require("data.reveal", ds.tenant_id)
    columns = personal.reveal(session, ds, reason=body.reason, columns=body.columns)
    classes, latest = classes_of(ds), quality.latest_run(session, ds)
    return RevealRead(dataset_id=ds.id, columns=columns, profile=mask_profile(ds.profile, classes, columns),
                      quality_run=QualityRunRead.from_run(latest, classes, columns) if latest else None)


@router.get("/quality/ranking")
def quality_ranking(session: DatasetsRead,
                    tenant: Annotated[str | None, Query(max_length=64, description="a unit and its subtree")] = None
                    ) -> list[RankingRow]:
    """数据质量排行榜: departments by the mean of their datasets' latest quality scores."""
    from chengyun.tenancy.models import Department

    rows = ranking.ranking(session, tenant_ids=service.unit_ids(session, tenant) if tenant else None)
    with unscoped(session):
        names = {d.id: d.name for d in session.query(Department)}
    return [RankingRow(**r, department=names.get(r["department_id"] or "")) for r in rows]


@router.get("/catalog/dcat")
def catalog_dcat(session: DatasetsRead,
                 tenant: Annotated[str | None, Query(max_length=64, description="a unit and its subtree")] = None,
                 base_uri: Annotated[str, Query(max_length=300)] = "https://data.example.gov.cn/dataset/"
                 ) -> dict[str, Any]:
    """The caller's catalogue as a DCAT-AP JSON-LD ``dcat:Catalog``."""
    from chengyun.catalog.dcat import to_dcat

    items, _ = service.list_datasets(session, tenant=tenant, limit=100_000)
    return to_dcat([service.entry_of(d) for d in items], catalog_title="政务数据资源目录", base_uri=base_uri)
