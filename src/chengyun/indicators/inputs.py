"""Manual inputs (人工填报) with evidence: set from the CLI, or collected through an Excel template."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengyun.accounts import audit
from chengyun.core.db import utcnow
from chengyun.core.errors import InvalidInput
from chengyun.core.periods import parse_period
from chengyun.indicators.catalog import get_pack
from chengyun.indicators.models import ManualInput
from chengyun.indicators.pack import Node, Pack
from chengyun.tenancy.service import get_unit

HEADERS = ["pack", "tenant", "period", "node_id", "名称 name", "单位 unit", "最小 min", "最大 max",
           "说明 description", "来源 source hint", "数值 value", "佐证 evidence", "来源文件 source document", "填报人 entered by"]
_VALUE, _EVIDENCE, _DOC, _BY = 10, 11, 12, 13


def manual_nodes(pack: Pack) -> list[Node]:
    """The pack's leaves that take a manual input."""
    return [n for n in pack.walk() if n.kind == "manual"]


def _check_value(pack: Pack, node: Node, value: float, where: str) -> None:
    spec = node.input or {}
    lo, hi = spec.get("min"), spec.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InvalidInput(f"{where}: value {value:g} for {pack.id}/{node.id} ({node.name}) is outside [{lo}, {hi}]",
                           fix=f"enter a value between {lo} and {hi} in unit {spec.get('unit', '')!s}")


def set_input(*, session: Session, pack_id: str, node_id: str, tenant_id: str, period: str, value: float,
              evidence: str | None = None, source_document: str | None = None, entered_by: str = "cli") -> ManualInput:
    """Record a manual figure for a pack node, tenant and period; the latest entry counts, all are kept."""
    pack = get_pack(pack_id)
    node = pack.node(node_id)
    if node.kind != "manual":
        raise InvalidInput(f"node {pack_id}/{node_id} is computed from data ({node.kind}), not entered by hand",
                           fix=f"choose one of: {', '.join(n.id for n in manual_nodes(pack))}")
    get_unit(session=session, unit_id=tenant_id)
    label = parse_period(period).label
    _check_value(pack, node, value, "input")
    row = ManualInput(pack_id=pack_id, node_id=node_id, tenant_id=tenant_id, period=label, value=float(value),
                      evidence=evidence, source_document=source_document, entered_by=entered_by, entered_at=utcnow())
    session.add(row)
    session.flush()
    audit.record(session, "input.set", target_type="manual_input", target_id=f"{pack_id}/{node_id}",
                 tenant_id=tenant_id, detail={"period": label, "value": float(value), "entered_by": entered_by})
    return row


def latest_inputs(*, session: Session, pack_id: str, tenant_id: str, period: str) -> dict[str, ManualInput]:
    """The latest manual input per node for the pack, tenant and period."""
    stmt = (select(ManualInput).where(ManualInput.pack_id == pack_id, ManualInput.tenant_id == tenant_id,
                                      ManualInput.period == period).order_by(ManualInput.entered_at, ManualInput.id))
    return {row.node_id: row for row in session.scalars(stmt)}


def write_template(*, session: Session, pack_id: str, tenant_id: str, period: str, out: Path) -> Path:
    """An Excel sheet with one row per manual node, pre-filled with the current values, to fill in and load back."""
    pack = get_pack(pack_id)
    unit = get_unit(session=session, unit_id=tenant_id)
    label = parse_period(period).label
    current = latest_inputs(session=session, pack_id=pack_id, tenant_id=tenant_id, period=label)
    wb = Workbook()
    ws = wb.active
    ws.title = "填报 inputs"
    ws.append(HEADERS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for node in manual_nodes(pack):
        spec, cur = node.input or {}, current.get(node.id)
        ws.append([pack.id, unit.id, label, node.id, node.name, spec.get("unit"), spec.get("min"), spec.get("max"),
                   spec.get("description"), spec.get("source_hint"), cur.value if cur else None,
                   cur.evidence if cur else None, cur.source_document if cur else None, None])
        for col in (_VALUE, _EVIDENCE, _DOC, _BY):
            ws.cell(row=ws.max_row, column=col + 1).fill = PatternFill("solid", fgColor="FFF2CC")
    for letter, width in zip("ABCDEFGHIJKLMN", (22, 16, 10, 14, 36, 8, 8, 8, 40, 24, 12, 40, 30, 14), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def load_template(*, session: Session, path: Path, entered_by: str = "excel") -> dict[str, int]:
    """Load a filled template; every row is checked first, and nothing is stored unless all rows are good."""
    ws = load_workbook(path, read_only=True, data_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    if not rows or [str(h) for h in rows[0][: len(HEADERS)]] != HEADERS:
        raise InvalidInput(f"{path} is not a chengyun input template (header row differs)",
                           fix="export one with `chengyun inputs template PACK --tenant ID --period P --out FILE.xlsx`")
    problems: list[str] = []
    good: list[tuple[int, tuple, float]] = []
    blank = 0
    for i, row in enumerate(rows[1:], start=2):
        if row[_VALUE] in (None, ""):
            blank += 1
            continue
        try:
            value = float(str(row[_VALUE]).replace(",", "").strip().rstrip("%")) / (100 if str(row[_VALUE]).strip().endswith("%") else 1)
        except ValueError:
            problems.append(f"{path}: row {i} ({row[3]}): value {row[_VALUE]!r} is not a number — enter a number such as 0.85")
            continue
        good.append((i, row, value))
    for i, row, value in good:
        try:
            pack = get_pack(str(row[0]))
            _check_value(pack, pack.node(str(row[3])), value, f"{path}: row {i}")
        except InvalidInput as exc:
            problems.append(exc.message + (f" — {exc.fix}" if exc.fix else ""))
    if problems:
        raise InvalidInput(f"{path}: {len(problems)} row(s) cannot be loaded; nothing was stored", details=problems,
                           fix="correct the rows listed and load the file again")
    for _i, row, value in good:
        set_input(session=session, pack_id=str(row[0]), node_id=str(row[3]), tenant_id=str(row[1]), period=str(row[2]),
                  value=value, evidence=row[_EVIDENCE], source_document=row[_DOC], entered_by=str(row[_BY] or entered_by))
    return {"loaded": len(good), "blank": blank}
