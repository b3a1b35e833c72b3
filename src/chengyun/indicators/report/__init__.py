"""Evaluation reports (评价报告): a run view rendered as a self-contained HTML page, an Excel workbook or a Word file."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from chengyun.core.errors import InvalidInput

# Each format lives in the module of the same name; they are imported on first use so that the CLI does not pay
# for openpyxl and python-docx when it only writes HTML.
FORMATS = ("html", "xlsx", "docx")


def render(view: dict[str, Any], fmt: str, out: Path, *, tz: str | None = None) -> Path:
    """Write ``view`` as a ``fmt`` report to ``out`` (a file, or an existing folder to name it in); return the path."""
    key = fmt.lower().lstrip(".")
    if key not in FORMATS:
        raise InvalidInput(
            f"unknown report format {fmt!r}; allowed formats: {', '.join(FORMATS)}",
            fix=f"pass one of: {', '.join(FORMATS)}",
        )
    out = Path(out)
    if out.is_dir():
        out = out / f"{view['run']['id']}.{key}"
    out.parent.mkdir(parents=True, exist_ok=True)
    if tz is None:
        from chengyun.core.settings import get_settings

        tz = get_settings().timezone
    renderer = import_module(f"{__name__}.{key}")
    path: Path = renderer.render(view, out, tz=tz)
    return path
