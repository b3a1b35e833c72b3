"""What every report format shares (评价报告公共部分): labels, value formatting, stages, deltas and the report model."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from chengyun.core import display
from chengyun.core.display import as_instant

DASH = "—"

STATUS = {"ok": ("正常", "OK"), "no-data": ("无数据", "No data"), "partial": ("部分缺数", "Partial data")}
KIND = {
    "group": ("指标组", "Group"),
    "measure": ("度量计算", "Measure"),
    "manual": ("人工填报", "Manual input"),
}
POLICY = {
    "zero": (
        "计零分",
        "Scored zero",
        "无数据的指标按 0 分计入，其分值不转给其他指标。",
        "A node without data scores 0; its points are not given to any other node.",
    ),
    "reweight": (
        "权重再分配",
        "Reweighted",
        "无数据的指标不计分，其分值按权重比例分给有数据的同级指标。",
        "A node without data is left out; its points go to its siblings that have data, pro rata.",
    ),
}
PROVENANCE = {
    "verbatim": (
        "原文照录",
        "Verbatim",
        "名称、权重和规则与官方文件原文逐字一致。",
        "Name, weight and rule are copied word for word from the official document.",
    ),
    "transcribed": (
        "转录",
        "Transcribed",
        "取自对官方文件的二次转录（如地方通知中的转载表格），未与原件逐字核对。",
        "Taken from a transcription of the official document, not checked against the original.",
    ),
    "reported": (
        "公开报道",
        "Reported",
        "取自新闻报道或官方解读，而非指标原表。",
        "Known from press reports or official summaries, not from the indicator table itself.",
    ),
    "reconstruction": (
        "推断重构",
        "Reconstruction",
        "官方数值未公开，由指标包作者依据标准结构推断。",
        "The official figure is not public; the pack's authors reconstructed it from the standard.",
    ),
    "practice": (
        "实践做法",
        "Practice",
        "采用地方评估中的常见做法，无官方出处。",
        "Follows common practice in local evaluations; no official source.",
    ),
}


class UnitFormat(NamedTuple):
    """How a unit reads: Chinese and English label, display scale, decimals and suffix."""

    zh: str
    en: str
    scale: float
    decimals: int
    suffix: str


# A unit a measure declares that is missing here still renders, as the plain number followed by the unit.
UNITS = {
    "ratio": UnitFormat("比率", "ratio", 100.0, 1, "%"),
    "h": UnitFormat("小时", "hours", 1.0, 1, " 小时"),
    "d": UnitFormat("天", "days", 1.0, 1, " 天"),
    "count": UnitFormat("个", "count", 1.0, 0, ""),
    "per 10k": UnitFormat("每万人", "per 10,000 residents", 1.0, 1, " /万人"),
    "score": UnitFormat("分", "points", 1.0, 1, " 分"),
}

# Columns of the evidence tables (证据), shared by the Excel sheet and the Word appendix.
EVIDENCE_COLUMNS = [
    ("id", "编号", "ID"),
    ("name", "指标", "Indicator"),
    ("source", "来源", "Source"),
    ("measure", "度量", "Measure"),
    ("title", "度量名称", "Measure title"),
    ("value", "数值", "Value"),
    ("parts_text", "组成", "Parts"),
    ("tables", "数据表", "Tables read"),
    ("window", "数据时间窗", "Data window"),
    ("rows", "扫描行数", "Rows scanned"),
    ("engine", "计算引擎", "Engine"),
    ("population", "常住人口", "Population"),
    ("warnings", "警告", "Warnings"),
    ("evidence", "证明材料", "Evidence"),
    ("source_document", "来源文件", "Source document"),
    ("entered_by", "填报人", "Entered by"),
    ("entered_at", "填报时间", "Entered at"),
    ("description", "说明", "Description"),
]
# Which of those fields a measure's evidence has, and which a manual input's.
MEASURE_FIELDS = (
    "title",
    "measure",
    "value",
    "parts_text",
    "tables",
    "window",
    "rows",
    "engine",
    "population",
    "warnings",
    "description",
)
MANUAL_FIELDS = ("value", "evidence", "source_document", "entered_by", "entered_at")


def bi(zh: str, en: str) -> str:
    """A bilingual label, Chinese first."""
    return f"{zh} {en}" if en else zh


def unit_format(unit: str | None) -> UnitFormat:
    """The display rule of a unit; unknown units show the number and the unit as given."""
    if unit in UNITS:
        return UNITS[unit]
    return UnitFormat(unit or "", unit or "", 1.0, 2, f" {unit}" if unit else "")


def fmt_number(x: float | None, decimals: int = 2) -> str:
    """A number with thousands separators, or a dash when missing."""
    return DASH if x is None else f"{x:,.{decimals}f}"


def fmt_value(value: float | None, unit: str | None = None) -> str:
    """A measured value in its unit: ratio as percent with one decimal, hours, days, per 10,000 …"""
    if value is None:
        return DASH
    u = unit_format(unit)
    return f"{value * u.scale:,.{u.decimals}f}{u.suffix}"


def fmt_score(x: float | None) -> str:
    """Points with two decimals (how evaluation results are published)."""
    return fmt_number(x, 2)


def share(score: float | None, max_score: float | None) -> float | None:
    """Score as a share of its maximum; None for deduction items, which have no maximum."""
    if score is None or not max_score:
        return None
    return score / max_score


def fmt_share(x: float | None) -> str:
    """A share as a percent with one decimal."""
    return DASH if x is None else f"{x * 100:.1f}%"


def fmt_delta(delta: float | None) -> str:
    """Change against the previous period with an arrow; a dash when there is no previous run."""
    if delta is None:
        return DASH
    if round(delta, 2) == 0:
        return "＝ 0.00"
    return f"▲ +{delta:.2f}" if delta > 0 else f"▼ −{abs(delta):.2f}"


def delta_class(delta: float | None) -> str:
    """A CSS-friendly direction of a change: up, down, flat or none."""
    if delta is None:
        return "none"
    if round(delta, 2) == 0:
        return "flat"
    return "up" if delta > 0 else "down"


_DIGITS = "一二三四五六七八九十"


def level_label(depth: int) -> tuple[str, str]:
    """The name of a tree level: 一级指标 Level 1, 二级指标 Level 2 …"""
    zh = _DIGITS[depth - 1] if 1 <= depth <= 10 else str(depth)
    return f"{zh}级指标", f"Level {depth}"


def section_number(i: int) -> str:
    """Chinese ordinal for numbered sections: 一, 二 … 十, then digits."""
    return _DIGITS[i - 1] if 1 <= i <= 10 else str(i)


def to_local(x: Any, tz: str) -> datetime | None:
    """A stored instant in the display zone; naive values are UTC because the state DB and the lake store UTC."""
    return display.to_local(x, tz)


def fmt_time(x: Any, tz: str) -> str:
    """An instant as local minutes, e.g. 2026-01-06 10:00."""
    return DASH if as_instant(x) is None else display.local_time(x, tz)


def as_date(x: Any) -> date | None:
    """A calendar date from a date, a datetime or an ISO string; None when it is none of these."""
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    try:
        return date.fromisoformat(str(x)[:10])
    except ValueError:
        return None


def fmt_date(x: Any) -> str:
    """A calendar date (period bounds are local dates, not instants)."""
    d = as_date(x)
    return d.isoformat() if d else (str(x) if x else DASH)


def fmt_last_day(end: Any) -> str:
    """The last day of a period whose stored end is exclusive (periods are half-open, see core/periods.py)."""
    d = as_date(end)
    return (d - timedelta(days=1)).isoformat() if d else (str(end) if end else DASH)


def text_width(text: str) -> int:
    """Display width of a string: wide (CJK) characters count twice, as Excel and browsers draw them."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` display columns with an ellipsis."""
    if text_width(text) <= width:
        return text
    out = ""
    for ch in text:
        if text_width(out + ch) > width - 1:
            break
        out += ch
    return out + "…"


def fmt_parts(parts: dict[str, Any] | None) -> str:
    """Measure parts (numerator, denominator …) as ``name = value`` pairs."""
    return "; ".join(f"{k} = {fmt_plain(v)}" for k, v in (parts or {}).items())


def fmt_plain(v: Any) -> str:
    """A raw number without trailing zeros, or a dash."""
    if v is None:
        return DASH
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".")
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def stage_bands(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The pack's stage bands with their upper bounds and the run's band marked."""
    run = view["run"]
    stages = sorted(view.get("stages") or [], key=lambda s: s["min"])
    top = run.get("max_total") or 100.0
    bands = []
    for i, s in enumerate(stages):
        upper = stages[i + 1]["min"] if i + 1 < len(stages) else top
        bands.append(
            {
                "name": s["name"],
                "name_en": s.get("name_en") or "",
                "min": s["min"],
                "max": upper,
                "range": f"{s['min']:g} – {upper:g}",
                "current": s["name"] == run.get("stage"),
            }
        )
    return bands


def previous_entry(view: dict[str, Any]) -> dict[str, Any] | None:
    """The trend entry of the period before the run's (环比基准), if any."""
    run, trend = view["run"], view.get("trend") or []
    ids = [t["run_id"] for t in trend]
    if run["id"] in ids:
        i = ids.index(run["id"])
        return trend[i - 1] if i > 0 else None
    # The run is not in its trend (an ad hoc view): the latest earlier period stands in.
    earlier = [t for t in trend if str(t["period"]) < str(run["period"])]
    return earlier[-1] if earlier else None


def evidence_record(node: dict[str, Any], tz: str) -> dict[str, Any]:
    """One measure or manual node's evidence as display strings keyed like ``EVIDENCE_COLUMNS``."""
    ev = node.get("evidence") or {}
    manual = node["kind"] == "manual" or ev.get("source") == "manual"
    window = ev.get("window") or []
    rows = ev.get("rows") or {}
    value = ev.get("value", node.get("value"))
    return {
        "id": node["id"],
        "name": node["name"],
        "manual": manual,
        "source": bi(*KIND["manual" if manual else "measure"]),
        "measure": ev.get("measure") or node.get("measure") or DASH,
        "title": ev.get("title") or DASH,
        "value": fmt_value(value, node.get("unit")),
        "raw_value": value,
        "unit": node.get("unit"),
        "parts": ev.get("parts") or {},
        "parts_text": fmt_parts(ev.get("parts")) or DASH,
        "parts_list": [(k, fmt_plain(v)) for k, v in (ev.get("parts") or {}).items()],
        "tables": ", ".join(ev.get("tables") or []) or DASH,
        "window": " – ".join(fmt_time(w, tz) for w in window) if window else DASH,
        "rows": "; ".join(f"{t}: {fmt_plain(n)}" for t, n in rows.items()) or DASH,
        "rows_total": sum(n for n in rows.values() if n is not None) if rows else None,
        "engine": ev.get("engine") or DASH,
        "population": fmt_plain(ev.get("population")),
        "warnings": "; ".join(ev.get("warnings") or []) or DASH,
        "evidence": ev.get("evidence") or DASH,
        "source_document": ev.get("source_document") or DASH,
        "entered_by": ev.get("entered_by") or DASH,
        "entered_at": fmt_time(ev.get("entered_at"), tz),
        "description": ev.get("description") or DASH,
    }


def enrich(node: dict[str, Any]) -> dict[str, Any]:
    """A node with every figure and label formatted once for all formats."""
    n = dict(node)
    sh = share(node.get("score"), node.get("max_score"))
    status = STATUS.get(node.get("status") or "", (node.get("status") or DASH, ""))
    kind = KIND.get(node["kind"], (node["kind"], ""))
    prov = PROVENANCE.get(node.get("provenance") or "", (node.get("provenance") or DASH, "", "", ""))
    n.update(
        value_text=fmt_value(node.get("value"), node.get("unit")),
        score_text=fmt_score(node.get("score")),
        max_text=fmt_score(node.get("max_score")),
        share=sh,
        share_text=fmt_share(sh),
        weight_text=fmt_plain(node.get("weight")),
        delta_text=fmt_delta(node.get("delta")),
        delta_class=delta_class(node.get("delta")),
        status_zh=status[0],
        status_en=status[1],
        kind_zh=kind[0],
        kind_en=kind[1],
        prov_zh=prov[0],
        prov_en=prov[1],
        unit_zh=unit_format(node.get("unit")).zh if node.get("unit") else DASH,
        deduction=(node.get("scoring") or {}).get("rule") == "deduction",
    )
    return n


@dataclass
class Report:
    """A run view prepared for rendering: the tree indexed and every figure formatted once."""

    view: dict[str, Any]
    tz: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    children: dict[str | None, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def run(self) -> dict[str, Any]:
        """The run's own fields."""
        return self.view["run"]

    @property
    def level1(self) -> list[dict[str, Any]]:
        """First-level nodes (一级指标) in pack order."""
        return self.children.get(None, [])

    @property
    def depth(self) -> int:
        """How deep the tree goes."""
        return max((n["depth"] for n in self.nodes), default=0)

    def level(self, depth: int) -> list[dict[str, Any]]:
        """Nodes at one depth, in pre-order."""
        return [n for n in self.nodes if n["depth"] == depth]

    def descendants(self, node_id: str) -> list[dict[str, Any]]:
        """Every node under ``node_id``, in pre-order."""
        out: list[dict[str, Any]] = []
        for child in self.children.get(node_id, []):
            out += [child, *self.descendants(child["id"])]
        return out

    def parent_name(self, node: dict[str, Any]) -> str:
        """The name of a node's parent, or a dash at the top."""
        parent = next((p for p in self.nodes if p["id"] == node.get("parent_id")), None)
        return parent["name"] if parent else DASH

    @property
    def leaves(self) -> list[dict[str, Any]]:
        """Nodes that carry a value (measures and manual inputs)."""
        return [n for n in self.nodes if n["kind"] != "group"]

    @property
    def stage(self) -> tuple[str, str]:
        """The run's stage, Chinese and English."""
        return self.run.get("stage") or DASH, self.run.get("stage_en") or ""

    @property
    def bands(self) -> list[dict[str, Any]]:
        """Stage bands with the current one marked."""
        return stage_bands(self.view)

    @property
    def previous(self) -> dict[str, Any] | None:
        """The previous period's trend entry."""
        return previous_entry(self.view)

    @property
    def total_delta(self) -> float | None:
        """Total minus the previous period's total."""
        prev, total = self.previous, self.run.get("total")
        if prev is None or prev.get("total") is None or total is None:
            return None
        # Rounding drops float noise (2.449999…) that would otherwise leak into Excel cells.
        return round(total - prev["total"], 6)

    @property
    def policy(self) -> tuple[str, str, str, str]:
        """The pack's no-data policy: label and meaning, Chinese and English."""
        key = self.run.get("no_data_policy") or "zero"
        return POLICY.get(key, (key, key, "", ""))

    @property
    def no_data(self) -> list[dict[str, Any]]:
        """No-data nodes not already covered by a no-data parent, each with what the policy did to it."""
        ids = {n["id"] for n in self.nodes if n.get("status") == "no-data"}
        out = []
        for n in self.nodes:
            if n["id"] in ids and n.get("parent_id") not in ids:
                zh, en = self._no_data_effect(n)
                out.append({**n, "effect_zh": zh, "effect_en": en})
        return out

    def _no_data_effect(self, node: dict[str, Any]) -> tuple[str, str]:
        if self.run.get("no_data_policy") == "reweight":
            sibs = [
                s
                for s in self.children.get(node.get("parent_id"), [])
                if s["id"] != node["id"] and s.get("status") != "no-data" and s.get("weight")
            ]
            zh_names = "、".join(s["name"] for s in sibs) or "无"
            en_ids = ", ".join(s["id"] for s in sibs) or "none"
            return (
                f"不计分；其权重 {node['weight_text']} 按比例分给同级指标：{zh_names}。",
                f"Left out; its weight {node['weight_text']} went to its siblings pro rata: {en_ids}.",
            )
        return (
            f"按 0 分计入，失去满分 {node['max_text']} 分。",
            f"Scored 0, losing its {node['max_text']} points.",
        )

    @property
    def provenance(self) -> list[dict[str, Any]]:
        """Every provenance kind with its meaning and the nodes flagged with it (unknown kinds in use last)."""
        keys = list(PROVENANCE) + sorted({n.get("provenance") or DASH for n in self.nodes} - set(PROVENANCE))
        groups = []
        for key in keys:
            zh, en, mzh, men = PROVENANCE.get(key, (key, "", "", ""))
            groups.append(
                {
                    "key": key,
                    "zh": zh,
                    "en": en,
                    "meaning_zh": mzh,
                    "meaning_en": men,
                    "nodes": [n for n in self.nodes if (n.get("provenance") or DASH) == key],
                }
            )
        return groups

    @property
    def evidence(self) -> list[dict[str, Any]]:
        """Evidence records of every measure and manual node, in pack order."""
        return [evidence_record(n, self.tz) for n in self.leaves]

    @property
    def trend(self) -> list[dict[str, Any]]:
        """Trend entries by period, the run's own marked."""
        return [{**t, "current": t["run_id"] == self.run["id"]} for t in self.view.get("trend") or []]

    @property
    def period_span(self) -> str:
        """The period's first and last day."""
        return f"{fmt_date(self.run.get('period_start'))} 至 {fmt_last_day(self.run.get('period_end'))}"


def build(view: dict[str, Any], tz: str) -> Report:
    """Prepare a run view (see docs/dev/contracts.md, "Run view") for the renderers."""
    nodes = [enrich(n) for n in view.get("nodes") or []]
    children: dict[str | None, list[dict[str, Any]]] = {}
    for n in nodes:
        children.setdefault(n.get("parent_id"), []).append(n)
    for siblings in children.values():
        siblings.sort(key=lambda n: n.get("position") or 0)
    return Report(view=view, tz=tz, nodes=nodes, children=children)
