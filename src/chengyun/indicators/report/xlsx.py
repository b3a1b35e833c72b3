"""The Excel report (Excel 报表): a summary sheet, one sheet per tree level, evidence and trend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import LineChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from chengyun.indicators.report.common import (
    DASH,
    EVIDENCE_COLUMNS,
    Report,
    bi,
    build,
    fmt_date,
    fmt_time,
    level_label,
    share,
    text_width,
    unit_format,
)

HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
HEADER_FONT = Font(bold=True, color="FFFFFF")
GROUP_FILL = PatternFill("solid", fgColor="EEF3F9")
THIN = Side(style="thin", color="D9DEE5")
BORDER = Border(bottom=THIN)
SCORE = "0.00"
SHARE = "0.0%"
DELTA = "+0.00;-0.00;0.00"

# (key, header); widths follow the content, see _fit_columns.
LEVEL_COLUMNS = [
    ("id", bi("编号", "ID")),
    ("name", bi("指标", "Indicator")),
    ("name_en", bi("英文名", "English name")),
    ("parent", bi("上级指标", "Parent")),
    ("kind", bi("类型", "Kind")),
    ("weight", bi("权重", "Weight")),
    ("value", bi("数值", "Value")),
    ("unit", bi("单位", "Unit")),
    ("score", bi("得分", "Score")),
    ("max", bi("满分", "Max")),
    ("share", bi("得分率", "Share")),
    ("delta", bi("较上期", "Change")),
    ("status", bi("状态", "Status")),
    ("provenance", bi("来源类型", "Provenance")),
    ("source", bi("度量/填报", "Measure or input")),
    ("note", bi("备注", "Note")),
]


def render(view: dict[str, Any], out: Path, *, tz: str) -> Path:
    """Write the run view as an .xlsx workbook."""
    r = build(view, tz)
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    _summary(summary, r)
    for depth in range(1, r.depth + 1):
        zh, en = level_label(depth)
        _level(wb.create_sheet(bi(zh, en)), r, depth)
    _evidence(wb.create_sheet(bi("证据", "Evidence")), r)
    _trend(wb.create_sheet(bi("趋势", "Trend")), r)
    wb.save(out)
    return out


def number_format(unit: str | None) -> str:
    """An Excel number format that shows a value in its unit (ratio as percent) while keeping it a number."""
    if unit == "ratio":
        return "0.0%"
    u = unit_format(unit)
    digits = "#,##0" + ("." + "0" * u.decimals if u.decimals else "")
    return f'{digits}"{u.suffix}"' if u.suffix else digits


def _summary(ws: Worksheet, r: Report) -> None:
    ws.title = bi("汇总", "Summary")
    run, prev = r.run, r.previous
    rows: list[tuple[str, Any, str | None]] = [
        (bi("指标体系", "Pack"), f"{run['pack_title']} {run.get('pack_title_en') or ''}".strip(), None),
        (bi("指标包", "Pack id"), f"{run['pack']}@{run['pack_version']}", None),
        (bi("标准", "Standard"), run.get("standard") or DASH, None),
        (bi("地区", "Tenant"), f"{run['tenant_name']}（{run['tenant']}）", None),
        (bi("评价周期", "Period"), f"{run['period']}（{r.period_span}）", None),
        (bi("总分", "Total"), run.get("total"), SCORE),
        (bi("满分", "Max"), run.get("max_total"), SCORE),
        (bi("得分率", "Share"), share(run.get("total"), run.get("max_total")), SHARE),
        (bi("发展阶段", "Stage"), bi(*r.stage), None),
        (bi("较上期变化", "Change vs previous"), r.total_delta, DELTA),
        (bi("上期", "Previous period"), f"{prev['period']}：{prev['total']:.2f}" if prev else DASH, None),
        (bi("无数据处理", "No-data policy"), f"{bi(*r.policy[:2])}（{run.get('no_data_policy')}）", None),
        (bi("计算引擎", "Engine"), run.get("engine"), None),
        (bi("运行编号", "Run id"), run["id"], None),
        (bi("开始时间", "Started"), fmt_time(run.get("started_at"), r.tz), None),
        (bi("完成时间", "Finished"), fmt_time(run.get("finished_at"), r.tz), None),
        (bi("运行警告", "Warnings"), "\n".join(run.get("warnings") or []) or DASH, None),
    ]
    _header(ws, [bi("项目", "Item"), bi("内容", "Value")])
    for label, value, fmt in rows:
        ws.append([label, value])
        if fmt:
            ws.cell(ws.max_row, 2).number_format = fmt
    ws.append([])
    ws.append([bi("阶段划分", "Stage bands"), bi("分数区间", "Score range")])
    _style_header_row(ws, ws.max_row)
    for b in r.bands:
        ws.append([bi(b["name"], b["name_en"]) + (" ◀" if b["current"] else ""), b["range"]])
    _fit_columns(ws)
    ws.column_dimensions["B"].width = 70
    for row in ws.iter_rows(min_col=2, max_col=2):
        row[0].alignment = Alignment(wrap_text=True, vertical="top", horizontal="left")


def _level_row(r: Report, n: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": n["id"],
        "name": n["name"],
        "name_en": n.get("name_en") or "",
        "parent": r.parent_name(n),
        "kind": bi(n["kind_zh"], n["kind_en"]),
        "weight": n.get("weight"),
        "value": n.get("value"),
        "unit": n["unit_zh"] if n["kind"] != "group" else "",
        "score": n.get("score"),
        "max": n.get("max_score"),
        "share": n["share"],
        "delta": n.get("delta"),
        "status": bi(n["status_zh"], n["status_en"]),
        "provenance": bi(n["prov_zh"], n["prov_en"]),
        "source": n.get("measure") or ("人工填报 manual input" if n["kind"] == "manual" else ""),
        "note": n.get("note") or "",
    }


def _level(ws: Worksheet, r: Report, depth: int) -> None:
    _header(ws, [h for _, h in LEVEL_COLUMNS])
    keys = [k for k, _ in LEVEL_COLUMNS]
    formats = {"score": SCORE, "max": SCORE, "share": SHARE, "delta": DELTA}
    for n in r.level(depth):
        row = _level_row(r, n)
        ws.append([row[k] for k in keys])
        formats["value"] = number_format(n.get("unit"))
        for col, key in enumerate(keys, start=1):
            if key in formats:
                ws.cell(ws.max_row, col).number_format = formats[key]
            if n["kind"] == "group":
                ws.cell(ws.max_row, col).fill = GROUP_FILL
    if depth == 1:
        total, top = r.run.get("total"), r.run.get("max_total")
        ws.append(["", bi("合计", "Total"), *[""] * 6, total, top, share(total, top), r.total_delta])
        for col, fmt in ((9, SCORE), (10, SCORE), (11, SHARE), (12, DELTA)):
            ws.cell(ws.max_row, col).number_format = fmt
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
    _fit_columns(ws)


def _evidence(ws: Worksheet, r: Report) -> None:
    records = r.evidence
    part_names = list(dict.fromkeys(k for e in records for k in e["parts"]))
    # Parts get a column each (flattened), in place of the one-cell summary the Word appendix uses.
    columns = [c for c in EVIDENCE_COLUMNS if c[0] not in ("value", "parts_text")]
    _header(
        ws,
        [bi(zh, en) for _, zh, en in columns[:5]]
        + [bi("数值", "Value")]
        + [bi("组成", f"part: {p}") for p in part_names]
        + [bi(zh, en) for _, zh, en in columns[5:]],
    )
    for e in records:
        ws.append(
            [e[k] for k, _, _ in columns[:5]]
            + [e["raw_value"]]
            + [e["parts"].get(p) for p in part_names]
            + [e[k] for k, _, _ in columns[5:]]
        )
        ws.cell(ws.max_row, 6).number_format = number_format(e["unit"])
    _fit_columns(ws)


def _trend(ws: Worksheet, r: Report) -> None:
    level1 = r.level1
    _header(
        ws,
        [
            bi("周期", "Period"),
            bi("总分", "Total"),
            *[bi(n["name"], n.get("name_en") or "") for n in level1],
            bi("阶段", "Stage"),
            bi("运行编号", "Run id"),
        ],
    )
    for t in r.trend:
        scores = [(t.get("level1") or {}).get(n["id"]) for n in level1]
        ws.append([str(t["period"]), t.get("total"), *scores, t.get("stage"), t["run_id"]])
        for col in range(2, 3 + len(level1)):
            ws.cell(ws.max_row, col).number_format = SCORE
    _fit_columns(ws)
    if r.trend:
        ws.add_chart(_trend_chart(ws, len(r.trend), len(level1)), f"{get_column_letter(len(level1) + 6)}2")


def _trend_chart(ws: Worksheet, periods: int, level1: int) -> LineChart:
    chart = LineChart()
    chart.title = "总分与一级指标趋势 Total and first-level scores"
    chart.y_axis.title = "分 points"
    chart.height, chart.width = 8, 16
    data = Reference(ws, min_col=2, max_col=2 + level1, min_row=1, max_row=periods + 1)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=periods + 1))
    return chart


def _header(ws: Worksheet, headers: list[str]) -> None:
    ws.append(headers)
    _style_header_row(ws, ws.max_row)
    # Headers stay in view while scrolling: the freeze sits under the first header row.
    if ws.max_row == 1:
        ws.freeze_panes = "A2"


def _style_header_row(ws: Worksheet, row: int) -> None:
    for cell in ws[row]:
        cell.fill, cell.font, cell.border = HEADER_FILL, HEADER_FONT, BORDER
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.row_dimensions[row].height = 30


def _fit_columns(ws: Worksheet, lo: int = 8, hi: int = 48) -> None:
    widths: dict[int, int] = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is None:
                continue
            text = cell.value if isinstance(cell.value, str) else _shown(cell.value, cell.number_format)
            # Headers wrap (Chinese over English), so their longest word sets the floor, not the whole line.
            longest = max(text_width(part) for part in str(text).split(" " if cell.row == 1 else "\n"))
            widths[cell.column] = max(widths.get(cell.column, 0), longest)
    for col, w in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = min(max(w + 2, lo), hi)


def _shown(value: Any, fmt: str) -> str:
    if isinstance(value, int | float) and "%" in fmt:
        return f"{value * 100:.1f}%"
    if isinstance(value, int | float):
        return f"{value:,.2f}" + (fmt.split('"')[1] if '"' in fmt else "")
    return fmt_date(value)
