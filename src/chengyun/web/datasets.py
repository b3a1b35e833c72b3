"""Console pages of the data resources (数据资源): the catalogue with search and filters (目录, /datasets), one
dataset with its catalogue entry, load, profile, latest quality report, score history, quality case, sharing
requests and usage (/datasets/{id}), and the overview's data panel (数据质量排行榜).

Pages read with ``datasets.read`` through the same services as the REST API (``catalog/views.py``); the sharing
inbox and its forms are ``web/sharing.py``. Personal columns (个人信息) are masked on every page through
``catalog/masking.py``; the reveal form (``data.reveal`` and a reason) shows them once, audited.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengyun.accounts.access import Principal
from chengyun.api.deps import principal_of, scoped
from chengyun.cases import lifecycle
from chengyun.cases.models import Case
from chengyun.catalog import personal, ranking, service
from chengyun.catalog.entry import LABELS, VALUE_LABELS
from chengyun.catalog.masking import class_label, mask_notes, mask_profile, mask_report
from chengyun.catalog.models import Dataset, DatasetUpdate, QualityRun, SharingRequest
from chengyun.catalog.personal import REASON_MAX, classes_of
from chengyun.catalog.rules import DIMENSIONS
from chengyun.catalog.sharing import STATUSES, status_of
from chengyun.catalog.usage import usage
from chengyun.core.errors import ChengyunError, InvalidInput
from chengyun.tenancy.models import AdminUnit
from chengyun.tenancy.service import list_units, subtree
from chengyun.web.assets import department_names, local
from chengyun.web.overview import choose_unit, object_panel, register_panel, unit_choices
from chengyun.web.pages import Lang, render

router = APIRouter(include_in_schema=False)
DatasetsRead = Annotated[Session, scoped("datasets.read")]
DataReveal = Annotated[Session, scoped("data.reveal")]
DatasetId = Annotated[str, Path(max_length=64)]
SECTION = "data"  # the nav's 数据资源
PAGE_SIZE = 25
RUNS_SHOWN = 30  # the score history draws the latest runs
LISTED = 20  # refreshes and sharing requests shown on a dataset's page
SAMPLES_SHOWN = 5  # sample rows of a failing rule
BEST_SHOWN, WORST_SHOWN = 5, 3  # the overview's ranking: the best departments and the worst (红黑榜)

# English beside the catalogue's Chinese wording (``catalog.entry.LABELS`` and ``VALUE_LABELS``)
LABELS_EN = {"code": "Resource code", "name": "Resource name", "provider": "Provider", "summary": "Summary",
             "format": "Format", "sharing_type": "Sharing type", "sharing_condition": "Sharing condition",
             "open_type": "Opening type", "update_cycle": "Update cycle", "published": "Published",
             "related_services": "Related services", "keywords": "Keywords", "themes": "Themes",
             "landing_page": "Landing page", "distributions": "Distributions"}
VALUE_LABELS_EN = {
    "sharing_type": {"unconditional": "Unconditional", "conditional": "Conditional", "none": "Not shared"},
    "open_type": {"open": "Open", "conditional": "Open on conditions", "closed": "Not open"},
    "update_cycle": {"realtime": "Real-time", "daily": "Daily", "weekly": "Weekly", "monthly": "Monthly",
                     "quarterly": "Quarterly", "semiannual": "Half-yearly", "yearly": "Yearly",
                     "irregular": "Irregular"},
}
DIMENSIONS_EN = {"conformity": "Conformity", "completeness": "Completeness", "accuracy": "Accuracy",
                 "consistency": "Consistency", "timeliness": "Timeliness", "accessibility": "Accessibility"}
COLUMN_TYPES = {"integer": ("整数", "integer"), "float": ("小数", "decimal"), "boolean": ("布尔", "boolean"),
                "date": ("日期", "date"), "timestamp": ("时间", "timestamp"), "string": ("文本", "text")}


def field_label(field: str, lang: str) -> str:
    """A catalogue field's name: 资源代码 (Resource code)."""
    return LABELS_EN.get(field, field) if lang == "en" else LABELS.get(field, field)


def value_text(field: str, value: str | None, lang: str) -> str:
    """A coded value in words: conditional → 有条件共享 (Conditional); — when missing."""
    if not value:
        return "—"
    table = VALUE_LABELS_EN if lang == "en" else VALUE_LABELS
    return table.get(field, {}).get(value, value)


def dimension_text(key: str, lang: str) -> str:
    """A GB/T 36344 dimension's name: completeness → 完整性 (Completeness)."""
    return DIMENSIONS_EN.get(key, key) if lang == "en" else DIMENSIONS.get(key, key)


def grade(score: float | None, target: float) -> str:
    """How a score stands against its dataset's target: ok, low (under it) or none (not checked)."""
    if score is None:
        return "none"
    return "ok" if score >= target else "low"


def web_link(url: str | None) -> str | None:
    """A link only to the web (never ``javascript:`` or a local path from an imported catalogue)."""
    return url if url and url.lower().startswith(("http://", "https://")) else None


def provider_name(ds: Dataset, names: dict[str, str]) -> str | None:
    """The providing department's name, or the publisher an imported entry names."""
    if ds.department_id:
        return names.get(ds.department_id, ds.department_id)
    return (ds.entry or {}).get("provider_name")


def catalogue_counts(session: Session, where: list[Any]) -> dict[str, Any]:
    """Datasets, how many are catalogued (目录编制率) and their mean latest quality score, within ``where``."""
    d = Dataset
    stmt = select(func.count(), func.count().filter(d.catalogued.is_(True)), func.avg(d.last_score),
                  func.count(d.last_score)).where(d.retired_at.is_(None), *where)
    total, catalogued, mean, scored = session.execute(stmt).one()
    return {"datasets": total or 0, "catalogued": catalogued or 0, "coverage": catalogued / total if total else None,
            "mean_score": mean, "scored": scored or 0}


# ---- the catalogue (资源目录) -----------------------------------------------------------------------------------


def _row(ds: Dataset, names: dict[str, str], lang: str, tz: str) -> dict[str, Any]:
    return {"id": ds.id, "title": ds.title, "name": ds.name, "code": ds.code, "provider": provider_name(ds, names),
            "sharing_type": ds.sharing_type, "sharing": value_text("sharing_type", ds.sharing_type, lang),
            "cycle": value_text("update_cycle", ds.update_cycle, lang), "rows": ds.rows, "score": ds.last_score,
            "target": ds.quality_target, "grade": grade(ds.last_score, ds.quality_target),
            "updated": local(ds.last_updated_at, tz), "catalogued": ds.catalogued}


def _unit_options(units: list[AdminUnit], chosen: AdminUnit | None) -> list[dict[str, Any]]:
    """The unit filter's options, none selected when every visible unit is shown."""
    if not units:
        return []
    return [u | {"selected": chosen is not None and u["selected"]} for u in unit_choices(units, chosen or units[0])]


@router.get("/datasets")
def datasets_page(
    request: Request,
    lang: Lang,
    session: DatasetsRead,
    q: Annotated[str, Query(max_length=100)] = "",
    unit: Annotated[str, Query(max_length=64)] = "",
    department: Annotated[str, Query(max_length=64)] = "",
    sharing_type: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """The catalogue of the caller's units (资源目录): search, filters, counts and a page of datasets."""
    if sharing_type and sharing_type not in VALUE_LABELS["sharing_type"]:
        raise InvalidInput(f"sharing_type: {sharing_type!r} is not a sharing type",
                           fix=f"use one of {', '.join(VALUE_LABELS['sharing_type'])}")
    tz = request.app.state.settings.timezone
    units = list_units(session=session)
    chosen = choose_unit(units, unit) if unit else None
    items, total = service.list_datasets(session, tenant=unit or None, q=q.strip() or None,
                                         department=department or None, sharing_type=sharing_type or None,
                                         limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    within = [Dataset.tenant_id.in_(service.unit_ids(session, unit))] if unit else []
    providers = set(session.scalars(select(Dataset.department_id).distinct().where(
        Dataset.retired_at.is_(None), Dataset.department_id.is_not(None), *within)))
    names = department_names(session, {d for d in providers if d} | {d.department_id for d in items if d.department_id})
    filters = {"q": q, "unit": unit, "department": department, "sharing_type": sharing_type}
    kept = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-total // PAGE_SIZE))
    return render(
        request, "datasets/list.html", lang, section=SECTION, counts=catalogue_counts(session, within),
        rows=[_row(d, names, lang, tz) for d in items], total=total, page=page, pages=pages, filters=filters,
        units=_unit_options(units, chosen), departments=sorted(((i, names.get(i, i)) for i in providers if i),
                                                               key=lambda kv: kv[1]),
        sharing_types=[(k, value_text("sharing_type", k, lang)) for k in VALUE_LABELS["sharing_type"]],
        prev_url=f"/datasets?{urlencode(kept | {'page': page - 1})}" if page > 1 else None,
        next_url=f"/datasets?{urlencode(kept | {'page': page + 1})}" if page < pages else None,
    )


# ---- one dataset (资源详情) ------------------------------------------------------------------------------------


def entry_rows(ds: Dataset, names: dict[str, str], lang: str) -> list[dict[str, Any]]:
    """Every field of the catalogue entry with its label, in the catalogue's order (lists joined, links only to
    the web)."""
    entry = service.entry_of(ds).model_dump(mode="json")
    entry["provider"] = provider_name(ds, names)
    sep = ", " if lang == "en" else "、"
    out = []
    for field in LABELS:
        value = entry.get(field)
        row: dict[str, Any] = {"field": field, "label": field_label(field, lang), "link": None, "parts": None}
        if field in VALUE_LABELS:
            row["text"] = value_text(field, value, lang)
        elif field == "distributions":
            row["parts"] = [{"title": d.get("title") or d.get("format") or d.get("media_type") or "—",
                             "format": d.get("format") or d.get("media_type"),
                             "link": web_link(d.get("download_url") or d.get("access_url"))} for d in value or []]
            row["text"] = "—" if not value else ""
        elif isinstance(value, list):
            row["text"] = sep.join(value) or "—"
        else:
            row["text"] = value or "—"
            row["link"] = web_link(value) if field == "landing_page" else None
        out.append(row)
    return out


def profile_rows(ds: Dataset, lang: str, reveal: Collection[str] = ()) -> list[dict[str, Any]]:
    """The snapshot's column statistics (数据画像) as table rows, personal columns masked but the ``reveal`` ones;
    sparsity is the share of nulls."""
    def shown(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:,.4g}"
        return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)

    profile = mask_profile(ds.profile, classes_of(ds), reveal)
    return [{"name": c["name"], "type": COLUMN_TYPES.get(c["type"], (c["type"], c["type"]))[lang == "en"],
             "nulls": c["nulls"], "distinct": c["distinct"], "min": shown(c.get("min")), "max": shown(c.get("max")),
             "sparsity": c.get("sparsity"), "personal": c["personal"], "masked": c["masked"],
             "personal_text": class_label(c["personal"], lang)} for c in profile["columns"]]


def rule_rows(report: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The report's rules with their dimension in words and, for failing ones, a few sample rows as a table."""
    out = []
    for r in report.get("rules", []):
        samples = (r.get("samples") or [])[:SAMPLES_SHOWN] if r.get("failed") else []
        columns = list(dict.fromkeys(k for s in samples for k in s))
        out.append(r | {"dimension_text": dimension_text(r.get("dimension", ""), lang),
                        "sample_columns": columns, "sample_rows": [[s.get(c) for c in columns] for s in samples]})
    return out


def _charts(ds: Dataset, report: dict[str, Any] | None, runs: list[QualityRun], lang: str,
            tz: str) -> dict[str, Any]:
    """What static/js/datasets.js draws: the six dimensions' scores and the score of each past run."""
    def t(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    dims = (report or {}).get("dimensions", {})
    history = sorted(runs, key=lambda r: (r.run_at, r.id))
    return {
        "target": ds.quality_target, "target_label": t("目标", "Target"),
        "dimensions": {"names": [dimension_text(k, lang) for k in DIMENSIONS],
                       "scores": [None if dims.get(k) is None else round(dims[k], 2) for k in DIMENSIONS],
                       "label": t("维度得分", "Dimension score"), "none": t("未检测", "not checked")},
        "history": {"times": [local(r.run_at, tz) for r in history],
                    "scores": [None if r.score is None else round(r.score, 2) for r in history],
                    "label": t("质量得分", "Quality score")},
    }


def quality_case(session: Session, ds: Dataset) -> Case | None:
    """The case the dataset's latest low score opened or added to (the one open at a time), if it is known."""
    case_id = session.scalar(select(QualityRun.case_id).where(QualityRun.dataset_id == ds.id,
                                                              QualityRun.case_id.is_not(None))
                             .order_by(QualityRun.id.desc()).limit(1))
    return session.get(Case, case_id) if case_id else None


def _requests(session: Session, ds: Dataset, lang: str, tz: str) -> list[dict[str, Any]]:
    """The dataset's sharing requests, newest first, with the requesting departments' names."""
    reqs = list(session.scalars(select(SharingRequest).where(SharingRequest.dataset_id == ds.id)
                                .order_by(SharingRequest.requested_at.desc()).limit(LISTED)))
    names = department_names(session, {r.requester_department_id for r in reqs})
    out = []
    for r in reqs:
        state = status_of(r)
        out.append({"id": r.id, "department": names.get(r.requester_department_id, r.requester_department_id),
                    "purpose": r.purpose, "scenario": r.scenario, "fields": r.fields, "days": r.days,
                    "status": state, "status_text": STATUSES[state][lang == "en"],
                    "requested": local(r.requested_at, tz), "expires": local(r.expires_at, tz)})
    return out


def _usage(session: Session, ds: Dataset) -> list[dict[str, Any]]:
    """Calls and rows served per consumer and scenario (数据调用), with the consumers' names."""
    rows = usage(session, dataset_id=ds.id)["rows"]
    names = department_names(session, {r["consumer_department_id"] for r in rows})
    return [r | {"consumer": names.get(r["consumer_department_id"], r["consumer_department_id"])} for r in rows]


@router.get("/datasets/{dataset_id}")
def dataset_page(dataset_id: DatasetId, request: Request, lang: Lang, session: DatasetsRead) -> HTMLResponse:
    """One dataset: entry, load, profile, the latest quality report with its charts, the open quality case, its
    sharing requests and usage; personal columns masked."""
    return _dataset_view(request, lang, session, service.get_by_id(session, dataset_id))


@router.post("/datasets/{dataset_id}/reveal")
def reveal_submit(
    dataset_id: DatasetId,
    request: Request,
    lang: Lang,
    session: DataReveal,
    reason: Annotated[str, Form(max_length=REASON_MAX)] = "",
) -> HTMLResponse:
    """The dataset's page with its personal columns in clear (查看明文), for ``data.reveal`` with a reason (the
    form carries the CSRF token); the reveal is an audit entry. A refused reveal shows the page masked."""
    ds = service.get_by_id(session, dataset_id)
    principal_of(session).require("data.reveal", ds.tenant_id)
    try:
        columns = personal.reveal(session, ds, reason=reason)
    except ChengyunError as exc:
        return _dataset_view(request, lang, session, ds, error=exc, status_code=exc.status)
    return _dataset_view(request, lang, session, ds, reveal=columns, reason=reason.strip())


def _dataset_view(request: Request, lang: str, session: Session, ds: Dataset, *, reveal: Collection[str] = (),
                  reason: str = "", error: ChengyunError | None = None, status_code: int = 200) -> HTMLResponse:
    """The dataset's page, ``reveal`` columns in clear and every other personal column masked."""
    tz = request.app.state.settings.timezone
    classes = classes_of(ds)
    names = department_names(session, {ds.department_id} if ds.department_id else set())
    runs = list(session.scalars(select(QualityRun).where(QualityRun.dataset_id == ds.id)
                                .order_by(QualityRun.id.desc()).limit(RUNS_SHOWN)))
    latest = runs[0] if runs else None
    report = latest.report if latest else None
    updates = list(session.scalars(select(DatasetUpdate).where(DatasetUpdate.dataset_id == ds.id)
                                   .order_by(DatasetUpdate.updated_at.desc(), DatasetUpdate.id.desc()).limit(LISTED)))
    case = quality_case(session, ds)
    unit_name = session.scalar(select(AdminUnit.name).where(AdminUnit.id == ds.tenant_id))
    return render(
        request, "datasets/dataset.html", lang, status_code=status_code, section=SECTION, ds=ds,
        unit_name=unit_name or ds.tenant_id, revealed=list(reveal), reveal_reason=reason, reveal_error=error,
        can_reveal=bool(classes) and principal_of(session).can("data.reveal", ds.tenant_id),
        provider=provider_name(ds, names), entry=entry_rows(ds, names, lang),
        sharing=value_text("sharing_type", ds.sharing_type, lang), updates=updates,
        update_times=[local(u.updated_at, tz) for u in updates], last_updated=local(ds.last_updated_at, tz),
        notes=mask_notes(ds.load_notes, classes), columns=profile_rows(ds, lang, reveal), latest=latest,
        run_at=local(latest.run_at, tz) if latest else "", report=report, grade=grade(ds.last_score, ds.quality_target),
        rules=rule_rows(mask_report(report, classes, reveal) or {}, lang) if report else [],
        dimensions=[(dimension_text(k, lang), (report or {}).get("dimensions", {}).get(k)) for k in DIMENSIONS],
        history=[(local(r.run_at, tz), r) for r in runs], charts=_charts(ds, report, runs, lang, tz),
        case=case, case_open=case is not None and case.status in lifecycle.OPEN,
        case_status=lifecycle.STATUSES.get(case.status, (case.status, case.status))[lang == "en"] if case else "",
        requests=_requests(session, ds, lang, tz), consumers=_usage(session, ds),
    )


# ---- the overview's data panel (数据资源：目录与质量) ------------------------------------------------------------


def ranking_rows(session: Session, units: set[str]) -> list[dict[str, Any]]:
    """数据质量排行榜 of the units: the best departments and the worst ones, with a gap flag between them."""
    rows = [r for r in ranking.ranking(session, tenant_ids=sorted(units)) if r["score"] is not None]
    names = department_names(session, {r["department_id"] for r in rows if r["department_id"]})
    shown = rows[:BEST_SHOWN] + rows[BEST_SHOWN:][-WORST_SHOWN:]
    out: list[dict[str, Any]] = []
    for r in shown:
        out.append(r | {"name": names.get(r["department_id"] or "", r["department_id"]),
                        "gap": bool(out) and r["rank"] != out[-1]["rank"] + 1})
    return out


def live_data(session: Session, principal: Principal, unit: AdminUnit) -> dict[str, Any] | None:
    """Datasets of the unit's subtree, catalogue coverage, mean score, pending sharing requests and the quality
    ranking (called by the panel); None when the caller may not read datasets there, ``empty`` without any."""
    units = {u.id for u in subtree(session=session, unit_id=unit.id)} & principal.units("datasets.read")
    if not units:
        return None
    counts = catalogue_counts(session, [Dataset.tenant_id.in_(units)])
    pending = session.scalar(select(func.count()).select_from(SharingRequest).where(
        SharingRequest.tenant_id.in_(units), SharingRequest.status == "pending")) or 0
    return {"counts": counts, "pending": pending, "empty": not counts["datasets"],
            "ranking": ranking_rows(session, units) if counts["scored"] else [],
            "sharing": principal.can("sharing.request")}


_EVALUATED = object_panel("L2")


def data_panel(session: Session, principal: Principal, lang: str, *, unit: AdminUnit) -> dict[str, Any]:
    """The data object's evaluation (L2) as before, with the unit's catalogue and quality ranking below it."""
    data = _EVALUATED(session, principal, lang, unit=unit)
    live = live_data(session, principal, unit)
    if live is None:
        return data
    return data | {"empty": False, "evaluated": not data.get("empty"), "template": "datasets/panel.html",
                   "datasets": live, "href": data.get("href")}


# the same key, titles and permission as the built-in panel: it keeps its place and its evaluation part
register_panel("data", "数据资源", "Data resources", data_panel)
