"""The Word report (Word 报告): the kind of document a government office files, Chinese first, English beside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.table import Table
from lxml import etree

from chengyun.indicators.report.common import (
    DASH,
    EVIDENCE_COLUMNS,
    MANUAL_FIELDS,
    MEASURE_FIELDS,
    Report,
    build,
    fmt_delta,
    fmt_score,
    fmt_share,
    section_number,
)

# Noto is what renders on Linux (fonts-noto-cjk); the font table names 宋体 / 黑体 as the alternates Word and WPS
# use on office machines that lack Noto, so Chinese renders either way.
SERIF = ("Noto Serif CJK SC", "宋体")
SANS = ("Noto Sans CJK SC", "黑体")
LATIN = "Times New Roman"
GREY = RGBColor(0x5F, 0x6B, 0x7A)
HEADER_SHADE = "DCE6F2"


def render(view: dict[str, Any], out: Path, *, tz: str) -> Path:
    """Write the run view as a .docx document."""
    r = build(view, tz)
    doc = Document()
    _setup(doc)
    _title(doc, r)
    _overall(doc, r)
    _level1(doc, r)
    _sections(doc, r)
    _no_data(doc, r)
    _provenance(doc, r)
    _appendix(doc, r)
    doc.save(str(out))
    return out


def _setup(doc: DocumentObject) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    # Margins of GB/T 9704 (党政机关公文格式), the layout Chinese government offices expect.
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    _font_table(doc)
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    _set_fonts(defaults, SERIF[0])
    # East Asian text tagged zh-CN gets Chinese line breaking and punctuation compression in Word and WPS.
    for lang in defaults.iter(qn("w:lang")):
        lang.set(qn("w:eastAsia"), "zh-CN")
    for name, family, size in (
        ("Normal", SERIF, 12),
        ("Title", SANS, 22),
        ("Subtitle", SERIF, 14),
        ("Heading 1", SANS, 16),
        ("Heading 2", SANS, 14),
        ("Heading 3", SANS, 12),
    ):
        style = doc.styles[name]
        _set_fonts(style.element, family[0])
        style.font.size = Pt(size)
        if name != "Normal":
            style.font.color.rgb = RGBColor(0, 0, 0)
    doc.styles["Normal"].paragraph_format.line_spacing = 1.3
    _page_number(section.footer.paragraphs[0])


def _set_fonts(element: Any, east_asia: str) -> None:
    """Name the East Asian and Latin fonts on a style (or the defaults), dropping theme fonts that override them."""
    rpr = element.find(qn("w:rPr"))
    if rpr is None:
        holder = element.find(qn("w:rPrDefault"))
        rpr = holder.find(qn("w:rPr")) if holder is not None else None
    if rpr is None:
        rpr = element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)
    for attr, value in (("w:ascii", LATIN), ("w:hAnsi", LATIN), ("w:cs", LATIN), ("w:eastAsia", east_asia)):
        fonts.set(qn(attr), value)


def _font_table(doc: DocumentObject) -> None:
    part = next(p for p in doc.part.package.iter_parts() if str(p.partname) == "/word/fontTable.xml")
    root = etree.fromstring(part.blob)
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    for (name, alt), family in ((SERIF, "roman"), (SANS, "swiss")):
        font = etree.SubElement(root, f"{w}font", {f"{w}name": name})
        etree.SubElement(font, f"{w}altName", {f"{w}val": alt})
        etree.SubElement(font, f"{w}charset", {f"{w}val": "86"})  # GB2312: tells Word the font is Chinese
        etree.SubElement(font, f"{w}family", {f"{w}val": family})
        etree.SubElement(font, f"{w}pitch", {f"{w}val": "variable"})
    # python-docx keeps unknown parts as bytes with no setter; the font table is one of them.
    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _page_number(paragraph: Any) -> None:
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.add_run("— ")
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run, text = OxmlElement("w:r"), OxmlElement("w:t")
    text.text = "1"  # shown until the reader's word processor updates the field
    run.append(text)
    field.append(run)
    paragraph._p.append(field)
    paragraph.add_run(" —")


def _bi_heading(doc: DocumentObject, zh: str, en: str, level: int) -> None:
    heading = doc.add_heading(zh, level=level)
    if en:
        run = heading.add_run(f"  {en}")
        run.font.size = Pt(10 if level > 1 else 11)
        run.font.color.rgb = GREY
        run.bold = False


def _en(paragraph: Any, text: str) -> None:
    run = paragraph.add_run(f" {text}")
    run.font.size = Pt(9.5)
    run.font.color.rgb = GREY


def _title(doc: DocumentObject, r: Report) -> None:
    run = r.run
    title = doc.add_paragraph(style="Title")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.add_run(f"{run['tenant_name']}{run['period']}{run['pack_title']}评价报告")
    sub = doc.add_paragraph(style="Subtitle")
    sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
    sub.add_run(
        f"{run.get('pack_title_en') or ''} — evaluation report, {run['tenant_name']}, {run['period']}"
    )
    meta = doc.add_paragraph()
    meta.alignment = WD_ALIGN_PARAGRAPH.CENTER
    meta.add_run(
        f"评价周期：{r.period_span}　标准：{run.get('standard') or DASH}　运行编号：{run['id']}"
    ).font.size = Pt(10)


def summary_text(r: Report) -> tuple[str, str]:
    """The summary sentence (总体得分、发展阶段、较上期变化), Chinese and English."""
    run, prev, d = r.run, r.previous, r.total_delta
    band = next((b for b in r.bands if b["current"]), None)
    band_zh = f"（{band['range']} 分）" if band else ""
    zh = (
        f"{run['tenant_name']}{run['period']}总体得分 {fmt_score(run.get('total'))} 分（满分 "
        f"{fmt_score(run.get('max_total'))} 分，得分率 {fmt_share(_share(r))}），发展阶段为{r.stage[0]}{band_zh}；"
    )
    en = f"Total {fmt_score(run.get('total'))} of {fmt_score(run.get('max_total'))}, stage {r.stage[1]}; "
    if prev is None or d is None:
        return zh + "本期为首次评价，无上期可比。", en + "first evaluation, no previous period to compare."
    verb = "上升" if d > 0 else ("下降" if d < 0 else "持平，变化")
    zh += f"较上期（{prev['period']}，{fmt_score(prev['total'])} 分）{verb} {abs(d):.2f} 分。"
    en += f"{fmt_delta(d)} against {prev['period']} ({fmt_score(prev['total'])})."
    return zh, en


def _share(r: Report) -> float | None:
    total, top = r.run.get("total"), r.run.get("max_total")
    return None if total is None or not top else total / top


def _overall(doc: DocumentObject, r: Report) -> None:
    _bi_heading(doc, f"{section_number(1)}、总体情况", "Overall result", 1)
    zh, en = summary_text(r)
    p = doc.add_paragraph(zh)
    p.paragraph_format.first_line_indent = Pt(24)
    _en(p, en)
    bands = "；".join(f"{b['name']} {b['range']}" for b in r.bands)
    p = doc.add_paragraph(f"发展阶段分档：{bands}。")
    p.paragraph_format.first_line_indent = Pt(24)
    _en(p, "Stage bands: " + "; ".join(f"{b['name_en']} {b['range']}" for b in r.bands) + ".")
    for warning in r.run.get("warnings") or []:
        doc.add_paragraph(f"运行警告 Warning：{warning}", style="List Bullet")


def _level1(doc: DocumentObject, r: Report) -> None:
    _bi_heading(doc, f"{section_number(2)}、一级指标得分", "First-level results", 1)
    rows = [
        [n["id"], n["name"], n["max_text"], n["score_text"], n["share_text"], n["delta_text"], n["status_zh"]]
        for n in r.level1
    ]
    run = r.run
    rows.append(
        [
            "",
            "合计",
            fmt_score(run.get("max_total")),
            fmt_score(run.get("total")),
            fmt_share(_share(r)),
            fmt_delta(r.total_delta),
            "",
        ]
    )
    table = _table(
        doc,
        [
            ("编号", "ID"),
            ("一级指标", "Indicator"),
            ("满分", "Max"),
            ("得分", "Score"),
            ("得分率", "Share"),
            ("较上期", "Change"),
            ("状态", "Status"),
        ],
        rows,
        numeric={2, 3, 4, 5},
    )
    for cell in table.rows[-1].cells:
        for para in cell.paragraphs:
            for run_ in para.runs:
                run_.bold = True


def _sections(doc: DocumentObject, r: Report) -> None:
    _bi_heading(doc, f"{section_number(3)}、分项指标情况", "Results by indicator", 1)
    for i, top in enumerate(r.level1, start=1):
        _bi_heading(doc, f"（{section_number(i)}）{top['name']}", top.get("name_en") or "", 2)
        p = doc.add_paragraph(
            f"得分 {top['score_text']} / {top['max_text']} 分（{top['share_text']}），"
            f"较上期 {top['delta_text']}，状态：{top['status_zh']}。"
        )
        _en(
            p,
            f"Score {top['score_text']} of {top['max_text']}, change {top['delta_text']}, {top['status_en']}.",
        )
        if top.get("note"):
            doc.add_paragraph(top["note"])
        rows = [
            [
                n["id"],
                "　" * (n["depth"] - 2) + n["name"] + ("（扣分项）" if n["deduction"] else ""),
                n["value_text"] if n["kind"] != "group" else "",
                f"{n['score_text']} / {n['max_text']}",
                n["delta_text"],
                n["status_zh"],
                n["prov_zh"],
            ]
            for n in r.descendants(top["id"])
        ]
        _table(
            doc,
            [
                ("编号", "ID"),
                ("指标", "Indicator"),
                ("数值", "Value"),
                ("得分/满分", "Score/max"),
                ("较上期", "Change"),
                ("状态", "Status"),
                ("来源", "Provenance"),
            ],
            rows,
            numeric={2, 3, 4},
        )


def _no_data(doc: DocumentObject, r: Report) -> None:
    _bi_heading(doc, f"{section_number(4)}、无数据指标及处理", "Indicators without data", 1)
    zh, en, mzh, men = r.policy
    p = doc.add_paragraph(f"本指标包的无数据处理方式为“{zh}”（{r.run.get('no_data_policy')}）：{mzh}")
    _en(p, f"No-data policy: {en}. {men}")
    if not r.no_data:
        doc.add_paragraph("本期所有指标均有数据。 Every indicator had data in this period.")
        return
    rows = [
        [n["id"], n["name"], r.parent_name(n), n["max_text"], f"{n['effect_zh']}\n{n['effect_en']}"]
        for n in r.no_data
    ]
    _table(
        doc,
        [
            ("编号", "ID"),
            ("指标", "Indicator"),
            ("所属", "Parent"),
            ("满分", "Max"),
            ("处理结果", "What the policy did"),
        ],
        rows,
        numeric={3},
    )


def _provenance(doc: DocumentObject, r: Report) -> None:
    _bi_heading(doc, f"{section_number(5)}、指标来源说明", "Provenance", 1)
    for g in r.provenance:
        p = doc.add_paragraph(style="List Bullet")
        p.add_run(f"{g['zh']}（{g['key']}）").bold = True
        p.add_run(f"：{g['meaning_zh']}")
        _en(p, g["meaning_en"])
        names = "、".join(f"{n['id']} {n['name']}" for n in g["nodes"]) or "本指标包未使用"
        p.add_run(f"\n适用指标（{len(g['nodes'])} 项）：{names}").font.size = Pt(10)
    for label, text in (
        ("指标包来源说明 Pack provenance note", r.run.get("provenance_note")),
        ("阶段划分说明 Stage bands note", r.view.get("stage_note")),
    ):
        if text:
            p = doc.add_paragraph()
            p.add_run(f"{label}：").bold = True
            p.add_run(text)


def _appendix(doc: DocumentObject, r: Report) -> None:
    doc.add_page_break()
    _bi_heading(doc, "附录　计算证据", "Appendix: evidence", 1)
    p = doc.add_paragraph(f"时间均为 {r.tz} 本地时间。")
    _en(p, f"Times are local to {r.tz}.")
    labels = {key: f"{zh} {en}" for key, zh, en in EVIDENCE_COLUMNS}
    for e in r.evidence:
        _bi_heading(doc, f"{e['id']} {e['name']}", e["source"], 3)
        fields = MANUAL_FIELDS if e["manual"] else MEASURE_FIELDS
        _key_values(doc, [(labels[key], e[key]) for key in fields])


def _key_values(doc: DocumentObject, pairs: list[tuple[str, str]]) -> None:
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in pairs:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, str(value)
        _shade(cells[0], "F2F4F7")
    _size_table(table, [Cm(4.2), Cm(11.4)], Pt(10))


def _table(
    doc: DocumentObject,
    headers: list[tuple[str, str]],
    rows: list[list[str]],
    numeric: set[int] | None = None,
) -> Table:
    table = doc.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, (zh, en) in zip(table.rows[0].cells, headers, strict=True):
        para = cell.paragraphs[0]
        para.add_run(zh).bold = True
        small = para.add_run(f"\n{en}")
        small.font.size, small.font.color.rgb = Pt(8), GREY
        _shade(cell, HEADER_SHADE)
    _repeat_header(table)
    for row in rows:
        cells = table.add_row().cells
        for i, text in enumerate(row):
            cells[i].text = str(text)
            if i in (numeric or set()):
                cells[i].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _size_table(table, None, Pt(10))
    doc.add_paragraph()
    return table


def _size_table(table: Table, widths: list[Any] | None, size: Any) -> None:
    for row in table.rows:
        for i, cell in enumerate(row.cells):
            if widths:
                cell.width = widths[i]
            for para in cell.paragraphs:
                for run in para.runs:
                    run.font.size = run.font.size or size


def _shade(cell: Any, fill: str) -> None:
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shd)


def _repeat_header(table: Table) -> None:
    # A long table that crosses a page break repeats its header row, as filed reports do.
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    table.rows[0]._tr.get_or_add_trPr().append(header)
