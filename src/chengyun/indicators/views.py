"""REST API of packs (指标体系) and evaluation runs (评价) under /api/v1."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy.orm import Session

from chengyun.analytics.engine import connect
from chengyun.api.deps import SettingsDep, principal_of, scoped
from chengyun.core.periods import parse_period
from chengyun.indicators import catalog
from chengyun.indicators.schemas import (
    EvaluationCreate,
    EvaluationPage,
    EvaluationRead,
    EvaluationResult,
    PackRead,
    PackTree,
    RunView,
)
from chengyun.indicators.service import evaluate, get_run, list_runs, run_summary
from chengyun.indicators.view import run_json, run_view

router = APIRouter(prefix="/api/v1", tags=["evaluation 评价"])

PackId = Annotated[str, Path(description="pack id", max_length=100)]
RunId = Annotated[str, Path(description="evaluation run id", max_length=40)]
PacksRead = Annotated[Session, scoped("packs.read")]
EvaluationsRead = Annotated[Session, scoped("evaluations.read")]
EvaluationsRun = Annotated[Session, scoped("evaluations.run")]
ReportFormat = Annotated[Literal["html", "xlsx", "docx"], Path(description="html, xlsx or docx")]

MEDIA = {
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
# The HTML report is self-contained (charts inlined), so it is served with its own, closed-off policy.
REPORT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:; frame-ancestors 'none'"
)


@router.get("/packs")
def list_packs(_session: PacksRead) -> list[PackRead]:
    """Every installed indicator pack."""
    return [PackRead.from_pack(p) for p in catalog.available_packs().values()]


@router.get("/packs/{pack_id}")
def get_pack(pack_id: PackId, _session: PacksRead) -> PackTree:
    """A pack with its stages and node tree (weights, bindings, scoring rules, provenance)."""
    return PackTree.from_pack(catalog.get_pack(pack_id))


@router.get("/evaluations")
def list_evaluations(
    session: EvaluationsRead,
    pack: Annotated[str | None, Query(max_length=100, description="pack id")] = None,
    tenant: Annotated[str | None, Query(max_length=64, description="tenant id")] = None,
    period: Annotated[str | None, Query(max_length=40, description="e.g. 2026Q1")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> EvaluationPage:
    """Finished evaluation runs, newest period first, filtered and paginated."""
    label = parse_period(period).label if period else None
    runs = [
        r
        for r in list_runs(session=session, pack_id=pack, tenant_id=tenant)
        if label is None or r.period == label
    ]
    items = [EvaluationRead.model_validate(run_summary(r)) for r in runs[offset : offset + limit]]
    return EvaluationPage(items=items, total=len(runs), limit=limit, offset=offset)


@router.get("/evaluations/{run_id}")
def get_evaluation(run_id: RunId, session: EvaluationsRead) -> RunView:
    """The run view: header, stages, every node with score and evidence, and the trend."""
    return RunView.model_validate(run_view(session=session, run_id=run_id))


@router.post("/evaluations", status_code=status.HTTP_201_CREATED)
def create_evaluation(
    body: EvaluationCreate, session: EvaluationsRun, settings: SettingsDep, response: Response
) -> EvaluationResult:
    """Evaluate a pack for a tenant (and its subtree) and period now; returns the stored run."""
    principal_of(session).require("evaluations.run", body.tenant)
    engine = connect(settings, body.engine)
    try:
        run = evaluate(
            session=session,
            settings=settings,
            engine=engine,
            pack_id=body.pack,
            tenant_id=body.tenant,
            period=parse_period(body.period),
        )
    finally:
        engine.close()
    response.headers["Location"] = f"/api/v1/evaluations/{run.id}"
    return EvaluationResult.model_validate(run_json(session, run))


@router.get(
    "/evaluations/{run_id}/report.{fmt}",
    response_class=Response,
    responses={200: {"content": {m.split(";")[0]: {} for m in MEDIA.values()}}},
)
def get_evaluation_report(
    run_id: RunId, fmt: ReportFormat, session: EvaluationsRead, settings: SettingsDep
) -> Response:
    """The run's report as self-contained HTML, an Excel workbook or a Word document."""
    from chengyun.indicators.report import render  # the renderers pull in openpyxl and python-docx

    run = get_run(session=session, run_id=run_id)
    view = run_view(session=session, run_id=run_id)
    with tempfile.TemporaryDirectory(prefix="chengyun-report-") as tmp:
        path = render(view, fmt, FilePath(tmp) / f"report.{fmt}", tz=settings.timezone)
        content = FilePath(path).read_bytes()
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{run.pack_id}_{run.tenant_id}_{run.period}") + f".{fmt}"
    headers = {"Content-Disposition": f'{"inline" if fmt == "html" else "attachment"}; filename="{name}"'}
    if fmt == "html":
        headers["Content-Security-Policy"] = REPORT_CSP
    return Response(content, media_type=MEDIA[fmt], headers=headers)
