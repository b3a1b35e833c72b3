"""The console (控制台): server-rendered pages, Chinese first with English (``?lang=en`` remembers a cookie)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, NamedTuple
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from sqlalchemy.orm import Session

from chengyun.accounts.access import Principal, password_login, principal_for
from chengyun.accounts.policy import PERMISSIONS, ROLES
from chengyun.accounts.service import resolve_token, revoke_token
from chengyun.api.deps import (
    SESSION_COOKIE,
    OptionalPrincipalDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    client_of,
    scoped,
)
from chengyun.core.display import local_time
from chengyun.core.errors import ChengyunError, NotFound
from chengyun.core.periods import parse_period
from chengyun.indicators import catalog
from chengyun.indicators.report.common import (  # one wording for pages and reports
    KIND,
    PROVENANCE,
    STATUS,
    fmt_value,
    unit_format,
)
from chengyun.indicators.service import list_runs, run_summary
from chengyun.indicators.view import run_view
from chengyun.tenancy.service import list_units
from chengyun.web import overview

router = APIRouter(include_in_schema=False)
ConsoleRead = Annotated[Session, scoped("console.read")]
EvaluationsRead = Annotated[Session, scoped("evaluations.read")]
PacksRead = Annotated[Session, scoped("packs.read")]
LOGIN_COOKIE = "cy_login"  # pre-login CSRF value (double-submit), replaced by the session's own token
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
LANGS = ("zh", "en")



class NavItem(NamedTuple):
    """A main-menu entry, shown only to a caller who holds its permission somewhere."""

    key: str
    path: str
    zh: str
    en: str
    permission: str


# The overview, the five operation objects (五大运营对象), evaluation and contracts; sections not built yet render
# a short "coming" note.
NAV = [
    NavItem("overview", "/overview", "总览", "Overview", "console.read"),
    NavItem("infrastructure", "/assets", "基础设施", "Infrastructure", "assets.read"),  # web/assets.py
    NavItem("data", "/datasets", "数据资源", "Data resources", "datasets.read"),  # web/datasets.py
    NavItem("systems", "/cases", "信息系统", "Information systems", "cases.read"),  # web/cases.py
    NavItem("portal", "/portal", "统一门户", "Service portal", "console.read"),
    NavItem("security", "/security", "安全保障", "Security", "console.read"),
    NavItem("evaluations", "/evaluations", "评价", "Evaluation", "evaluations.read"),
    NavItem("contracts", "/contracts", "合同", "Contracts", "console.read"),
]
COMING = {
    "portal": (
        "服务事项、使用情况、好差评与主动服务。",
        "Service catalogue, usage, ratings (好差评) and proactive services.",
    ),
    "security": (
        "安全事件与处置（MTTD/MTTR）、漏洞、备份与恢复演练、等保级别。",
        "Security events and incidents (MTTD/MTTR), vulnerabilities, backup drills, 等保 level.",
    ),
    "contracts": (
        "运营模式、合同与按绩效付费。",
        "Operating models, contracts and performance-linked payment.",
    ),
}
UNITS = {
    "ratio": ("比率（%）", "ratio (%)"),
    "count": ("个数", "count"),
    "h": ("小时", "hours"),
    "per 10k": ("每万人", "per 10,000 residents"),
}
_EVIDENCE_SHOWN = {
    "measure",
    "title",
    "title_en",
    "value",
    "unit",
    "parts",
    "tables",
    "rows",
    "window",
    "engine",
    "population",
    "warnings",
    "description",
    "source",
    "evidence",
    "source_document",
    "entered_by",
    "entered_at",
}


def get_lang(request: Request) -> str:
    """zh or en: the ``lang`` query parameter, else the cookie, else Chinese."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    kept = request.cookies.get("lang")
    return kept if kept in LANGS else "zh"


Lang = Annotated[str, Depends(get_lang)]


# ---- formatting filters -------------------------------------------------------------------------------------


def fmt_num(value: float | None, digits: int = 2) -> str:
    """A number with fixed decimals, or a dash."""
    return "—" if value is None else f"{value:,.{digits}f}"


def fmt_count(value: Any) -> str:
    """A count as a whole number (34,552), other numbers with two decimals, anything else as given."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else str(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def fmt_delta(value: float | None) -> str:
    """A signed change with an arrow (▲ up, ▼ down)."""
    if value is None:
        return ""
    if abs(value) < 0.005:
        return "= 0.00"
    return f"▲ {value:.2f}" if value > 0 else f"▼ {abs(value):.2f}"


def fmt_local(iso: str | None, tz: str = "Asia/Shanghai") -> str:
    """A naive-UTC ISO timestamp shown in the display time zone."""
    return local_time(iso, tz)


def rule_text(scoring: dict[str, Any] | None, lang: str = "zh") -> str:
    """A scoring rule (计分规则) in words."""
    if not scoring:
        return "—"
    r, en = scoring, lang == "en"
    kind = r.get("rule")
    if kind == "linear":
        return (
            f"linear: 0 at {r['worst']:g}, full at {r['best']:g}"
            if en
            else f"线性：{r['worst']:g} 得 0 分，{r['best']:g} 得满分"
        )
    if kind == "target":
        return f"target {r['target']:g}" if en else f"目标值 {r['target']:g}（按达成比例得分）"
    if kind == "boolean":
        return f"yes/no, expects {'yes' if r.get('expect', True) else 'no'}" if en else "是否达标（是/否）"
    if kind == "deduction":
        return (
            f"deduction: −{r['points']:g} per {r['per']:g}, at most −{r['max']:g}"
            if en
            else f"倒扣分：每 {r['per']:g} 扣 {r['points']:g} 分，最多扣 {r['max']:g} 分"
        )
    if kind == "banded":
        key = "min" if "min" in r["bands"][0] else "max"
        sign = "≥" if key == "min" else "≤"
        bands = "; ".join(f"{sign}{b[key]:g} → {b['score'] * 100:g}%" for b in r["bands"])
        return f"bands: {bands}" if en else f"分档：{bands}"
    return str(kind)


# English pages read "10.4 h", not the reports' Chinese unit suffix ("10.4 小时")
_EN_SUFFIX = {"h": " h", "d": " d", "per 10k": " per 10k", "score": " pts"}


@pass_context
def value_filter(context: Mapping[str, Any], value: float | None, unit: str | None = None) -> str:
    """A measured value in its unit (report wording), with English unit suffixes on English pages."""
    if context.get("lang") == "en" and value is not None and unit in _EN_SUFFIX:
        u = unit_format(unit)
        return f"{value * u.scale:,.{u.decimals}f}{_EN_SUFFIX[unit]}"
    return fmt_value(value, unit)


TEMPLATES.env.filters.update(value=value_filter, num=fmt_num, count=fmt_count, delta=fmt_delta, local=fmt_local,
                             rule=rule_text)


# ---- rendering ----------------------------------------------------------------------------------------------


def _section(path: str) -> str:
    first = path.strip("/").split("/", 1)[0]
    return "evaluations" if first in ("evaluations", "packs") else first


def menu(me: Principal | None) -> list[NavItem]:
    """The main-menu entries the caller may use (none before login)."""
    return [n for n in NAV if me is not None and me.can(n.permission)]


def render(request: Request, name: str, lang: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page in the chosen language; a ``?lang=`` choice is remembered in a cookie."""
    other = "en" if lang == "zh" else "zh"
    params = {k: v for k, v in request.query_params.items() if k != "lang"} | {"lang": other}
    me: Principal | None = getattr(request.state, "principal", None)
    base = {
        "lang": lang,
        "t": (lambda zh, en: en if lang == "en" else zh),
        "nav": menu(me),
        "section": _section(request.url.path),
        "switch_url": f"{request.url.path}?{urlencode(params)}",
        "tz": request.app.state.settings.timezone,
        "STATUS": STATUS,
        "KIND": KIND,
        "UNITS": UNITS,
        "PROVENANCE": PROVENANCE,
        "ROLES": ROLES,
        "me": me,
    }
    response = TEMPLATES.TemplateResponse(request, name, base | context, status_code=status_code)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    return response


def _route_permission(request: Request) -> str | None:
    """The first permission the matched route declares with ``scoped(...)`` (the one checked first), if any."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    queue = list(dependant.dependencies) if dependant is not None else []
    while queue:
        dep = queue.pop(0)
        found = getattr(dep.call, "__permission__", None)
        if found:
            return str(found)
        queue.extend(dep.dependencies)
    return None


def _caller(request: Request) -> Principal | None:
    """The logged-in caller, also on an error raised before any dependency looked (an unknown path)."""
    if hasattr(request.state, "principal"):
        known: Principal | None = request.state.principal
        return known
    token, factory = request.cookies.get(SESSION_COOKIE), getattr(request.app.state, "session_factory", None)
    if not token or factory is None:
        return None
    try:
        with factory() as session:  # read only: nothing is committed
            found = resolve_token(session, token, kinds=("session",))
            principal = None if found is None else principal_for(
                session, found[1], found[0], via="session", secret=request.app.state.secret)
    except Exception:  # an error page must render even when the state DB is the problem
        return None
    request.state.principal = principal
    return principal


def error_page(request: Request, exc: ChengyunError) -> HTMLResponse:
    """The console's page for an error of the one hierarchy (the API answers JSON instead): what was asked for,
    what the caller holds, which roles would do and who grants them."""
    _caller(request)
    permission = _route_permission(request)
    needed = sorted(PERMISSIONS[permission], key=list(ROLES).index) if permission in PERMISSIONS else []
    return render(request, "error.html", get_lang(request), status_code=exc.status, error=exc,
                  permission=permission, needed=needed, request_id=getattr(request.state, "request_id", None))


def _label(node: dict[str, Any], lang: str) -> str:
    return node["name_en"] if lang == "en" else node["name"]


def _previous_point(view: dict[str, Any]) -> dict[str, Any] | None:
    """The trend point of the period just before the run's (环比), if it was evaluated."""
    label = parse_period(view["run"]["period"]).previous().label
    return next((p for p in view["trend"] if p["period"] == label), None)


def _bands(view: dict[str, Any]) -> list[dict[str, Any]]:
    run, stages = view["run"], view["stages"]
    top = run["max_total"] or 100.0
    out = []
    for i, s in enumerate(stages):
        end = stages[i + 1]["min"] if i + 1 < len(stages) else top
        out.append(
            s
            | {
                "end": end,
                "width": max(0.0, (end - s["min"]) / top * 100),
                "active": s["name"] == run["stage"],
            }
        )
    return out


def _charts(view: dict[str, Any], prev: dict[str, Any] | None, lang: str) -> dict[str, Any]:
    """What the radar and trend charts draw (passed to the page as JSON, drawn by static/js/evaluation.js)."""
    run, t = view["run"], (lambda zh, en: en if lang == "en" else zh)
    level1 = [n for n in view["nodes"] if n["depth"] == 1 and n["max_score"] > 0]
    before = [prev["level1"].get(n["id"]) or 0 for n in level1] if prev else [0.0] * len(level1)
    return {
        "radar": {
            # under the reweight policy a node's points differ between periods; the axis must hold both
            "indicators": [
                {"name": _label(n, lang), "max": round(max(n["max_score"], b), 2)}
                for n, b in zip(level1, before, strict=True)
            ],
            "current": [n["score"] or 0 for n in level1],
            "previous": before if prev else None,
            "labels": {
                "current": f"{t('本期', 'This period')} {run['period']}",
                "previous": f"{t('上期', 'Previous')} {prev['period']}" if prev else "",
            },
        },
        "trend": {
            "periods": [p["period"] for p in view["trend"]],
            "totals": [p["total"] for p in view["trend"]],
            "series": [
                {"name": _label(n, lang), "data": [p["level1"].get(n["id"]) for p in view["trend"]]}
                for n in level1
            ],
            "current": run["period"],
            "max": run["max_total"],
            "total_label": t("总分", "Total"),
            "stages": [
                {"name": b["name_en"] if lang == "en" else b["name"], "min": b["min"], "end": b["end"]}
                for b in _bands(view)
            ],
        },
    }


# ---- pages --------------------------------------------------------------------------------------------------


@router.get("/")
def home(me: OptionalPrincipalDep) -> RedirectResponse:
    """The console opens on the city overview (the login page first, when not logged in; the indicator packs for
    an account that may not read the console, such as a citizen's)."""
    if me is None:
        return RedirectResponse("/login", status_code=302)
    return RedirectResponse("/overview" if me.can("console.read") else "/packs", status_code=302)


def _safe_next(target: str | None) -> str:
    """Only a path on this site may follow a login (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, lang: Lang, me: OptionalPrincipalDep, next: str | None = None) -> HTMLResponse:
    """The login form (登录); a logged-in user goes straight on."""
    if me is not None:
        return RedirectResponse(_safe_next(next), status_code=303)  # type: ignore[return-value]
    return _login_form(request, lang, next, None, 200)


def _login_form(request: Request, lang: str, target: str | None, error: Any, status_code: int,
                name: str = "") -> HTMLResponse:
    import secrets

    value = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", lang, status_code=status_code, next=_safe_next(target), error=error,
                      login_csrf=value, username=name)
    settings = request.app.state.settings
    response.set_cookie(LOGIN_COOKIE, value, max_age=3600, httponly=True, samesite="strict",
                        secure=settings.cookie_secure)
    return response


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    lang: Lang,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> HTMLResponse:
    """Check the form; on success set the session cookie and go on to ``next``."""
    from chengyun.accounts.access import csrf_ok
    from chengyun.core.errors import Forbidden

    if not csrf_ok(request.cookies.get(LOGIN_COOKIE), csrf):
        err = Forbidden("the login form expired or came from another site", fix="reload the page and log in again")
        return _login_form(request, lang, next, err, 403, username)
    result = password_login(session, settings, request.app.state.throttle, client=client_of(request),
                            name=username, password=password, kind="session", key=request.app.state.secret)
    if isinstance(result, Exception):
        session.commit()  # keep the audit entry
        response = _login_form(request, lang, next, result, result.status, username)
        if hasattr(result, "retry_after"):
            response.headers["Retry-After"] = str(result.retry_after)
        return response
    _user, _row, token = result
    done = RedirectResponse(_safe_next(next), status_code=303)
    done.set_cookie(SESSION_COOKIE, token, max_age=int(settings.session_hours * 3600), httponly=True,
                        samesite="lax", secure=settings.cookie_secure, path="/")
    done.delete_cookie(LOGIN_COOKIE)
    return done  # type: ignore[return-value]


@router.post("/logout")
def logout_submit(me: PrincipalDep, session: SessionDep) -> RedirectResponse:
    """End the console session (the form carries the CSRF token) and go back to the login page."""
    session.info["actor"] = me.name
    revoke_token(session, me.token_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/overview")
def overview_page(
    request: Request,
    lang: Lang,
    me: PrincipalDep,
    console: ConsoleRead,
    evaluations: EvaluationsRead,
    unit: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The city at a glance (城市运行一张图): a panel per operation object, the latest evaluations, a district chart."""
    units = list_units(session=console)
    if not units:
        raise NotFound("no administrative unit is visible to you",
                       fix="ask an administrator to grant you a role on a unit (`chengyun users grant`)")
    chosen = overview.choose_unit(units, unit)
    panels = overview.fill_panels(sessions={"console.read": console, "evaluations.read": evaluations},
                                  principal=me, lang=lang, unit=chosen)
    chart = overview.district_chart(session=evaluations, lang=lang, selected=chosen.id)
    latest = overview.latest_view(evaluations, chosen.id)
    return render(request, "overview.html", lang, unit=chosen, units=overview.unit_choices(units, chosen),
                  panels=panels, chart=chart, latest=latest["run"] if latest else None,
                  period_note=overview.period_note(latest, lang) if latest else "")


@router.get("/evaluations")
def evaluations_page(request: Request, session: EvaluationsRead, lang: Lang) -> HTMLResponse:
    """Runs grouped by pack, newest period first; the latest run of each pack is highlighted."""
    packs = catalog.available_packs()
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in list_runs(session=session):
        groups.setdefault(run.pack_id, []).append(run_summary(run))
    titles = {
        pid: (packs[pid].title, packs[pid].title_en, packs[pid].standard) if pid in packs else (pid, pid, "")
        for pid in groups
    }
    tenants = {u.id: u.name for u in list_units(session=session)}
    return render(
        request, "evaluations.html", lang, groups=dict(sorted(groups.items())), titles=titles, tenants=tenants
    )


@router.get("/evaluations/{run_id}")
def evaluation_page(run_id: str, request: Request, session: EvaluationsRead, lang: Lang) -> HTMLResponse:
    """One run: total, stage, change, radar and trend charts, the score tree and its notes."""
    view = run_view(session=session, run_id=run_id)
    prev = _previous_point(view)
    total, before = view["run"]["total"], prev["total"] if prev else None
    parents = {n["parent_id"] for n in view["nodes"]}
    leaves = [n for n in view["nodes"] if n["id"] not in parents]
    return render(
        request,
        "evaluation.html",
        lang,
        view=view,
        run=view["run"],
        prev=prev,
        bands=_bands(view),
        total_delta=None if total is None or before is None else round(total - before, 2),
        last_day=(date.fromisoformat(view["run"]["period_end"]) - timedelta(days=1)).isoformat(),
        period_note=overview.period_note(view, lang),
        charts=_charts(view, prev, lang),
        parents=parents,
        no_data=[n for n in leaves if n["status"] == "no-data"],
        provenance=Counter(n["provenance"] for n in leaves),
    )


@router.get("/evaluations/{run_id}/nodes/{node_id}")
def evaluation_node_page(
    run_id: str, node_id: str, request: Request, session: EvaluationsRead, lang: Lang
) -> HTMLResponse:
    """One node of a run with its evidence: the measure's inputs, or the manual figure and its source."""
    view = run_view(session=session, run_id=run_id)
    by_id = {n["id"]: n for n in view["nodes"]}
    if node_id not in by_id:
        raise NotFound(
            f"run {run_id!r} has no node {node_id!r}", fix=f"open /evaluations/{run_id} and choose a node"
        )
    node = by_id[node_id]
    ancestors: list[dict[str, Any]] = []
    parent = node["parent_id"]
    while parent in by_id:
        ancestors.insert(0, by_id[parent])
        parent = by_id[parent]["parent_id"]
    extra = {k: v for k, v in node["evidence"].items() if k not in _EVIDENCE_SHOWN}
    return render(
        request,
        "node.html",
        lang,
        view=view,
        run=view["run"],
        node=node,
        ancestors=ancestors,
        children=[n for n in view["nodes"] if n["parent_id"] == node_id],
        evidence=node["evidence"],
        extra=extra,
    )


@router.get("/packs")
def packs_page(request: Request, lang: Lang, _session: PacksRead) -> HTMLResponse:
    """The installed indicator packs."""
    return render(request, "packs.html", lang, packs=list(catalog.available_packs().values()))


@router.get("/packs/{pack_id}")
def pack_page(pack_id: str, request: Request, lang: Lang, _session: PacksRead) -> HTMLResponse:
    """A pack's tree: weights, bindings, scoring rules and provenance."""
    pack = catalog.get_pack(pack_id)
    rows = []

    def walk(nodes: list[Any], depth: int) -> None:
        for n in nodes:
            rows.append({"node": n, "depth": depth})
            walk(n.children, depth + 1)

    walk(pack.nodes, 1)
    return render(request, "pack.html", lang, pack=pack, rows=rows)


def _coming(key: str) -> Any:
    def page(request: Request, lang: Lang, _session: ConsoleRead) -> HTMLResponse:
        return render(
            request, "coming.html", lang, key=key, item=next(n for n in NAV if n.key == key), about=COMING[key]
        )

    page.__name__ = f"{key}_page"
    page.__doc__ = f"The {key} section (not built yet)."
    return page


for _key in COMING:
    router.add_api_route(f"/{_key}", _coming(_key), methods=["GET"], response_class=HTMLResponse)
