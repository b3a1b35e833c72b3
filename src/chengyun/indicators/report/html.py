"""The HTML report (网页报告): one self-contained file with ECharts inlined, readable offline and printable."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from chengyun.indicators.report import common
from chengyun.indicators.report.common import DASH, Report, build, shorten

# Canvas text does not inherit CSS, so charts name the same CJK-capable fonts as the page.
FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif'


def render(view: dict[str, Any], out: Path, *, tz: str) -> Path:
    """Write the run view as a single HTML file."""
    report = build(view, tz)
    page = (
        _environment()
        .get_template("report.html.j2")
        .render(
            r=report,
            charts=chart_data(report),
            echarts=_echarts(),
            font=Markup(FONT),
            dash=DASH,
            fmt_time=lambda x: common.fmt_time(x, tz),
        )
    )
    out.write_text(page, encoding="utf-8")
    return out


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Strict undefined: a misspelt field in the template fails the tests instead of printing nothing.
    env = Environment(
        loader=PackageLoader("chengyun.indicators.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    for name in ("fmt_score", "fmt_delta", "delta_class", "fmt_share", "share"):
        env.globals[name] = getattr(common, name)
    return env


@lru_cache(maxsize=1)
def _echarts() -> Markup:
    """The vendored ECharts build, to inline so the report needs no network."""
    text = (files("chengyun.web") / "static" / "vendor" / "echarts.min.js").read_text(encoding="utf-8")
    # A literal "</script" inside the library would end the inline <script> element early.
    return Markup(text.replace("</script", "<\\/script"))


def chart_data(r: Report) -> dict[str, Any]:
    """Everything the three charts plot, as plain JSON-ready values."""
    return {"font": FONT, "radar": _radar(r), "bars": _bars(r), "trend": _trend(r)}


def _radar(r: Report) -> dict[str, Any]:
    # Shares, not points: first-level nodes have different maxima, and a radar compares like with like.
    return {
        "indicators": [
            {"name": f"{n['name']}\n{n.get('name_en') or ''}".strip(), "max": 100} for n in r.level1
        ],
        "values": [round(max(n["share"] or 0.0, 0.0) * 100, 1) for n in r.level1],
        "labels": [f"{n['name']}: {n['score_text']} / {n['max_text']} ({n['share_text']})" for n in r.level1],
    }


def _bars(r: Report) -> dict[str, Any]:
    leaves = r.leaves
    return {
        # The id stays whole after a long name is cut, so every bar can be found in the table.
        "names": [f"{shorten(n['name'], 30)}  {n['id']}" for n in leaves],
        "full": [f"{n['id']} {n['name']}" for n in leaves],
        "scores": [n.get("score") or 0.0 for n in leaves],
        "maxes": [n.get("max_score") or 0.0 for n in leaves],
        "labels": [n["status_zh"] if n.get("status") == "no-data" else n["score_text"] for n in leaves],
        "deduction": [n["deduction"] for n in leaves],
    }


def _pct(score: float | None, top: float | None) -> float | None:
    return None if score is None or not top else round(100 * score / top, 1)


def _trend(r: Report) -> dict[str, Any]:
    # Shares of each maximum: first-level maxima differ (37 points against 4), so in points the small nodes
    # crowd the bottom; on a 100-point pack the total's share reads the same as its points.
    trend, top = r.trend, r.run.get("max_total") or 100
    points = [[(t.get("level1") or {}).get(n["id"]) for t in trend] for n in r.level1]
    return {
        "periods": [str(t["period"]) for t in trend],
        "total": [_pct(t.get("total"), top) for t in trend],
        "total_points": [t.get("total") for t in trend],
        "series": [
            {"name": n["name"], "data": [_pct(p, n.get("max_score")) for p in pts], "points": pts}
            for n, pts in zip(r.level1, points, strict=True)
        ],
        "bands": [
            {"name": b["name"], "min": _pct(b["min"], top), "max": _pct(b["max"], top)} for b in r.bands
        ],
    }
